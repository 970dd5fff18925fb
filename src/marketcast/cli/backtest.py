"""``marketcast backtest``: rolling-origin backtests of point forecasters."""

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


@app.command("backtest")
def backtest(
    ctx: typer.Context,
    data: str = typer.Argument(..., help="Price file, or SOURCE:SYMBOL fetched into the store."),
    models: str = typer.Option("sma,naive", "--models", "-m", help="Comma-separated price models."),
    window: int = typer.Option(504, "--window", "-w", help="Rows per slice (training rows + horizon)."),
    horizon: int = typer.Option(21, "--horizon", "-H", help="Days forecast (and held out) at the end of each slice."),
    start: datetime | None = typer.Option(
        None, "--start", formats=["%Y-%m-%d"], help="First date of slice 1 (default: the first row)."
    ),
    step: int | None = typer.Option(None, "--step", help="Rows between slice starts (default: the horizon)."),
    slices: int | None = typer.Option(None, "--slices", help="Number of slices (default: as many as fit)."),
    seed: int | None = SeedOption,
    param: list[str] | None = ParamOption,
    column: str | None = ColumnOption,
    adjust_splits: bool = AdjustOption,
    split: list[str] | None = SplitOption,
    out: Path | None = OutOption,
) -> None:
    """Per-slice RMSE and MAE of each model, with their mean and SD across slices (Tables II-III)."""
    import pandas as pd

    from marketcast import api
    from marketcast.backtest import SCORE_COLUMNS

    out = check_out(out)
    quiet = is_quiet(ctx)
    with notes(quiet):
        scores = api.backtest(
            data,
            models=models,
            window=window,
            horizon=horizon,
            start=start,
            step=step,
            slices=slices,
            params=parse_params(param, seed, None),
            column=column,
            adjust_splits=split_setting(adjust_splits, split),
            progress=bars(quiet),
        )
    if out is not None:
        write_or_print(scores, out, title="", quiet=quiet)
        return
    stats = api.backtest_summary(scores).rename(columns={"stat": "slice"})[["slice", "model", "horizon", "rmse", "mae"]]
    table = pd.concat([scores[SCORE_COLUMNS].astype({"slice": str}), stats], ignore_index=True)
    caption = (
        "Chronological, leakage-free evaluation: each model is fitted only on the rows before its slice's horizon."
    )
    write_or_print(
        table,
        None,
        title=f"Backtest: {scores.attrs.get('source')} ({scores['slice'].nunique()} slices "
        f"of {window} rows, horizon {horizon})",
        caption=caption,
    )
