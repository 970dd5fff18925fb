"""``marketcast backtest``: rolling-origin backtests of point forecasters."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer

from marketcast.cli._app import app
from marketcast.cli._common import (AdjustOption, ColumnOption, OutOption, ParamOption, SeedOption, check_out, is_quiet,
                                    load_input, parse_params, progress, write_or_print)


@app.command("backtest")
def backtest(
    ctx: typer.Context,
    data: str = typer.Argument(..., help="Price file, or SOURCE:SYMBOL fetched into the store."),
    models: str = typer.Option("sma,naive", "--models", "-m", help="Comma-separated price models."),
    window: int = typer.Option(504, "--window", "-w", help="Rows per slice (training rows + horizon)."),
    horizon: int = typer.Option(21, "--horizon", "-H", help="Days forecast (and held out) at the end of each slice."),
    start: datetime | None = typer.Option(None, "--start", formats=["%Y-%m-%d"], help="First date of slice 1 (default: the first row)."),
    step: int | None = typer.Option(None, "--step", help="Rows between slice starts (default: the horizon)."),
    slices: int | None = typer.Option(None, "--slices", help="Number of slices (default: as many as fit)."),
    seed: int | None = SeedOption,
    param: list[str] | None = ParamOption,
    column: str | None = ColumnOption,
    adjust_splits: bool = AdjustOption,
    out: Path | None = OutOption,
) -> None:
    """Per-slice RMSE and MAE of each model, with their mean and SD across slices (Tables II-III)."""
    from marketcast.backtest import SCORE_COLUMNS, backtest as run_backtest, rolling_origins
    from marketcast.models.registry import configured_models, parse_model_list

    out = check_out(out)
    names = parse_model_list(models)
    instances = configured_models(names, "price", parse_params(param, seed, None))
    quiet = is_quiet(ctx)
    prices = load_input(data, column, adjust_splits, quiet=quiet)
    n = len(rolling_origins(prices.index, window=window, horizon=horizon, start=start, step=step, slices=slices,
                            source=str(prices.attrs.get("source"))))
    with progress("backtest fits", n * len(names), quiet) as tick:
        result = run_backtest(prices, instances, window=window, horizon=horizon, start=start, step=step,
                              slices=slices, progress=tick)
    caption = ("Chronological, leakage-free evaluation: each model is fitted only on the rows before "
               "its slice's horizon.")
    if out is not None:
        write_or_print(result.scores, out, title="", quiet=quiet)
        return
    summary = result.summary()
    table = result.scores[SCORE_COLUMNS].copy()
    import pandas as pd

    stats = summary.rename(columns={"stat": "slice"})[["slice", "model", "horizon", "rmse", "mae"]]
    table = pd.concat([table.astype({"slice": str}), stats], ignore_index=True)
    write_or_print(table, None, title=f"Backtest: {prices.attrs.get('source')} ({n} slices of {window} rows, "
                   f"horizon {horizon})", caption=caption)
