"""``marketcast volatility``: rolling one-day-ahead volatility, VaR, CVaR and MAD."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer

from marketcast.cli._app import app
from marketcast.cli._common import (
    AdjustOption,
    ColumnOption,
    OutOption,
    ParamOption,
    SeedOption,
    SplitOption,
    bars,
    check_out,
    is_quiet,
    notes,
    parse_params,
    split_setting,
    write_or_print,
)


@app.command("volatility")
def volatility(
    ctx: typer.Context,
    data: str = typer.Argument(..., help="Price file, or SOURCE:SYMBOL fetched into the store."),
    window: int = typer.Option(504, "--window", "-w", help="Log returns per forecast window."),
    start: datetime | None = typer.Option(
        None,
        "--from",
        formats=["%Y-%m-%d"],
        help="First day to forecast (default: the next business day only; with --to, the first day with a full window).",
    ),
    end: datetime | None = typer.Option(None, "--to", formats=["%Y-%m-%d"], help="Last day to forecast."),
    models: str = typer.Option("dd-ewma", "--models", "-m", help="Comma-separated volatility models."),
    tail: float = typer.Option(0.05, "--tail", help="Tail probability p of VaR and CVaR."),
    notional: float = typer.Option(1000.0, "--notional", help="Position size for VaR and CVaR."),
    refit_every: int = typer.Option(
        1,
        "--refit-every",
        help="Refit GARCH-type models every K days, filtering with fixed parameters in between (1: daily).",
    ),
    jobs: int | None = typer.Option(
        None, "--jobs", "-j", help="Processes for NNAR/Prophet over many windows (default: all cores)."
    ),
    seed: int | None = SeedOption,
    param: list[str] | None = ParamOption,
    column: str | None = ColumnOption,
    adjust_splits: bool = AdjustOption,
    split: list[str] | None = SplitOption,
    out: Path | None = OutOption,
) -> None:
    """One-day-ahead volatility and risk (VaR, CVaR, MAD) for each day, from the preceding WINDOW returns."""
    from marketcast import api
    from marketcast.volatility import VOLATILITY_COLUMNS

    out = check_out(out)
    quiet = is_quiet(ctx)
    with notes(quiet):
        frame = api.volatility(
            data,
            models=models,
            window=window,
            start=start,
            end=end,
            tail=tail,
            notional=notional,
            jobs=jobs,
            params=parse_params(param, seed, None),
            column=column,
            adjust_splits=split_setting(adjust_splits, split),
            progress=bars(quiet),
            refit_every=refit_every,
        )
    title = (
        f"One-day-ahead volatility and risk: {frame.attrs.get('source')} "
        f"(window {window}, tail {tail:g}, notional {notional:g})"
    )
    caption = "Each forecast uses only the returns up to the day before it (no look-ahead)."
    write_or_print(
        frame, out, title=title, caption=caption, quiet=quiet, columns=VOLATILITY_COLUMNS[:8] + ["abs_return", "alpha"]
    )
