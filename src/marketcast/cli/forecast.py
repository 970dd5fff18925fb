"""``marketcast forecast`` and ``marketcast train``: options in, :func:`marketcast.api.forecast` / ``train`` out."""

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

EpochsOption = typer.Option(None, "--epochs", help="Training epochs of neural models.")
TrainFrom = typer.Option(
    None, "--train-from", formats=["%Y-%m-%d"], help="First row the model fits on (default: the first)."
)
TrainTo = typer.Option(
    None,
    "--train-to",
    formats=["%Y-%m-%d"],
    help="Last row the model fits on; the forecast origin (default: the last).",
)
LevelsOption = typer.Option(None, "--levels", help="Central interval levels, e.g. 0.9,0.95,0.99.")
CalibrationOption = typer.Option(
    20, "--calibration-windows", help="Backtest windows that calibrate conformal intervals."
)


def parse_levels(text: str | None) -> tuple[float, ...] | None:
    from marketcast.errors import ModelError
    from marketcast.models.base import check_levels

    if text is None:
        return None
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ModelError(f"--levels expects numbers like 0.9,0.95, got '{text}'") from None
    return check_levels(values)


@app.command("forecast")
def forecast(
    ctx: typer.Context,
    data: str | None = typer.Argument(
        None, help="Price file or SOURCE:SYMBOL (optional with --load: then the model's own data)."
    ),
    model: str | None = typer.Option(None, "--model", "-m", help="Model name (see `marketcast models`)."),
    horizon: int = typer.Option(5, "--horizon", "-H", help="Business days to forecast after the origin."),
    levels: str | None = LevelsOption,
    train_from: datetime | None = TrainFrom,
    train_to: datetime | None = TrainTo,
    seed: int | None = SeedOption,
    epochs: int | None = EpochsOption,
    param: list[str] | None = ParamOption,
    load: Path | None = typer.Option(None, "--load", help="Forecast with a model saved by `marketcast train --save`."),
    calibration_windows: int = CalibrationOption,
    column: str | None = ColumnOption,
    adjust_splits: bool = AdjustOption,
    split: list[str] | None = SplitOption,
    out: Path | None = OutOption,
) -> None:
    """Forecast HORIZON business days after the last training row, with intervals at LEVELS."""
    from marketcast import api

    out = check_out(out)
    lv = parse_levels(levels)
    quiet = is_quiet(ctx)
    with notes(quiet):
        frame = api.forecast(
            data,
            model=model,
            horizon=horizon,
            levels=lv,
            train_from=train_from,
            train_to=train_to,
            params=parse_params(param, seed, epochs) or None,
            load=load,
            calibration_windows=calibration_windows,
            column=column,
            adjust_splits=split_setting(adjust_splits, split),
            progress=bars(quiet),
        )
    title = f"{frame.attrs['model']} forecast from {frame.attrs['origin']} ({horizon} business days)"
    caption = "Point forecasts and central intervals; the model saw no row after the origin."
    write_or_print(frame, out, title=title, caption=caption, quiet=quiet)


@app.command("train")
def train(
    ctx: typer.Context,
    data: str = typer.Argument(..., help="Price file or SOURCE:SYMBOL."),
    model: str | None = typer.Option(None, "--model", "-m", help="Model name (see `marketcast models`)."),
    save: Path = typer.Option(..., "--save", help="Directory to save the fitted model to (safetensors + JSON)."),
    load: Path | None = typer.Option(None, "--load", help="Start from this saved model (with --fine-tune)."),
    fine_tune: bool = typer.Option(False, "--fine-tune", help="Continue training the --load model's weights on DATA."),
    levels: str | None = LevelsOption,
    horizon: int = typer.Option(21, "--horizon", "-H", help="Longest horizon conformal intervals are calibrated for."),
    train_from: datetime | None = TrainFrom,
    train_to: datetime | None = TrainTo,
    seed: int | None = SeedOption,
    epochs: int | None = EpochsOption,
    param: list[str] | None = ParamOption,
    calibration_windows: int = CalibrationOption,
    column: str | None = ColumnOption,
    adjust_splits: bool = AdjustOption,
    split: list[str] | None = SplitOption,
) -> None:
    """Fit a model on DATA and save it; with --load --fine-tune, train a saved model further."""
    from marketcast import api
    from marketcast.fitting import training_metrics

    quiet = is_quiet(ctx)
    with notes(quiet):
        fitted = api.train(
            data,
            model=model,
            save=save,
            load=load,
            fine_tune=fine_tune,
            levels=parse_levels(levels),
            horizon=horizon,
            train_from=train_from,
            train_to=train_to,
            params=parse_params(param, seed, epochs) or None,
            calibration_windows=calibration_windows,
            column=column,
            adjust_splits=split_setting(adjust_splits, split),
            progress=bars(quiet),
        )
    if not quiet:
        metrics = training_metrics(fitted)
        loss = ", ".join(f"{k} {v:.5g}" for k, v in metrics.items())
        typer.echo(
            f"trained {fitted.name} on {fitted.n_obs_} rows {fitted.first_date_.date()}..{fitted.last_date_.date()}"
            f"{'; ' + loss if loss else ''}; saved to {save}"
        )
