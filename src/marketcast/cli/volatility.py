"""``marketcast volatility``: rolling one-day-ahead volatility, VaR, CVaR and MAD."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer

from marketcast.cli._app import app
from marketcast.cli._common import (AdjustOption, ColumnOption, OutOption, ParamOption, SeedOption, check_out, is_quiet,
                                    load_input, parse_params, progress, write_or_print)


@app.command("volatility")
def volatility(
    ctx: typer.Context,
    data: str = typer.Argument(..., help="Price file, or SOURCE:SYMBOL fetched into the store."),
    window: int = typer.Option(504, "--window", "-w", help="Log returns per forecast window."),
    start: datetime | None = typer.Option(None, "--from", formats=["%Y-%m-%d"], help="First day to forecast (default: the next business day only; with --to, the first day with a full window)."),
    end: datetime | None = typer.Option(None, "--to", formats=["%Y-%m-%d"], help="Last day to forecast."),
    models: str = typer.Option("dd-ewma", "--models", "-m", help="Comma-separated volatility models."),
    tail: float = typer.Option(0.05, "--tail", help="Tail probability p of VaR and CVaR."),
    notional: float = typer.Option(1000.0, "--notional", help="Position size for VaR and CVaR."),
    jobs: int | None = typer.Option(None, "--jobs", "-j", help="Processes for NNAR/Prophet over many windows (default: all cores)."),
    seed: int | None = SeedOption,
    param: list[str] | None = ParamOption,
    column: str | None = ColumnOption,
    adjust_splits: bool = AdjustOption,
    out: Path | None = OutOption,
) -> None:
    """One-day-ahead volatility and risk (VaR, CVaR, MAD) for each day, from the preceding WINDOW returns."""
    from marketcast.models.registry import configured_models, parse_model_list
    from marketcast.volatility import VOLATILITY_COLUMNS, rolling_volatility

    from marketcast.models.params import check_jobs

    out = check_out(out)
    jobs = check_jobs(jobs)
    names = parse_model_list(models)
    instances = configured_models(names, "volatility", parse_params(param, seed, None))
    quiet = is_quiet(ctx)
    prices = load_input(data, column, adjust_splits, quiet=quiet)
    with progress("volatility models", len(names), quiet) as tick:
        frame = rolling_volatility(prices, window=window, start=start, end=end, models=instances, tail=tail,
                                   notional=notional, progress=tick, n_jobs=jobs)
    title = (f"One-day-ahead volatility and risk: {prices.attrs.get('source')} "
             f"(window {window}, tail {tail:g}, notional {notional:g})")
    caption = "Each forecast uses only the returns up to the day before it (no look-ahead)."
    write_or_print(frame, out, title=title, caption=caption, quiet=quiet,
                   columns=VOLATILITY_COLUMNS[:8] + ["abs_return", "alpha"])
