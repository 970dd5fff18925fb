"""``marketcast forecast`` and ``marketcast train``: fit a model, forecast, save and reload it."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer

from marketcast.cli._app import app
from marketcast.cli._common import (AdjustOption, ColumnOption, OutOption, ParamOption, SeedOption, check_out, is_quiet,
                                    load_input, parse_params, progress, write_or_print)

EpochsOption = typer.Option(None, "--epochs", help="Training epochs of neural models.")
TrainFrom = typer.Option(None, "--train-from", formats=["%Y-%m-%d"], help="First row the model fits on (default: the first).")
TrainTo = typer.Option(None, "--train-to", formats=["%Y-%m-%d"], help="Last row the model fits on; the forecast origin (default: the last).")
LevelsOption = typer.Option(None, "--levels", help="Central interval levels, e.g. 0.9,0.95,0.99.")
CalibrationOption = typer.Option(20, "--calibration-windows", help="Backtest windows that calibrate conformal intervals.")


def _is_training_data(manifest: dict, rows) -> bool:
    """True when ``rows`` are exactly the rows the saved model was trained on (same checksum).

    Then the model forecasts from its saved state, which every model can, and need not be
    conditioned on new data, which Prophet and the two-LSTM model cannot be.
    """
    from marketcast.persistence import data_checksum

    return manifest.get("training", {}).get("checksum") == data_checksum(rows)


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


def training_rows(prices, start, end):
    from marketcast.data.series import source_of
    from marketcast.errors import DataError

    rows = prices.loc[start:end] if (start or end) else prices
    if len(rows) == 0:
        raise DataError(f"{source_of(prices)}: no rows between {start.date() if start else 'the start'} and "
                        f"{end.date() if end else 'the end'}")
    rows = rows.copy()
    rows.attrs = dict(prices.attrs)
    return rows


def build_model(name: str, params: dict, levels, calibration_windows: int, horizon: int):
    from marketcast.errors import ModelError
    from marketcast.models.registry import configured_model

    model, used = configured_model(name, "price", params)
    unknown = set(params) - used - ({"seed"} if not model.stochastic else set())  # a seed means nothing to SMA
    if unknown:
        raise ModelError(f"{model.name}: unknown parameter(s) {', '.join(sorted(unknown))} "
                         f"(valid: {', '.join(model._param_names())})")
    if levels and not model.has_native_intervals:
        from marketcast.intervals import ConformalForecaster

        model = ConformalForecaster(model, calibration_windows=calibration_windows, max_horizon=horizon)
    return model


def training_metrics(model) -> dict:
    """The losses of the epoch whose weights the model keeps (the best one under early stopping)."""
    history = getattr(model, "history_", None) or {}
    if not history.get("loss"):  # several networks (two-LSTM): the last epoch of each curve
        return {k: v[-1] for k, v in history.items() if isinstance(v, list) and v}
    epoch = int(getattr(model, "best_epoch_", len(history["loss"]) - 1))
    return {"epoch": epoch + 1, **{k: v[epoch] for k, v in history.items() if isinstance(v, list) and len(v) > epoch}}


def fit_with_progress(model, rows, quiet: bool):
    with progress(f"training {model.name}", model.progress_units(), quiet) as tick:
        return model.fit(rows, progress=tick)


def forecast_frame(model, horizon: int, levels, prices):
    import pandas as pd

    origin = model.last_date_
    dates = pd.bdate_range(origin + pd.offsets.BDay(1), periods=horizon, name="date")
    if levels:
        frame = model.predict_interval(horizon, levels).to_frame(dates)
    else:
        frame = pd.DataFrame({"point": model.predict(horizon)}, index=dates)
    frame.insert(0, "model", model.name)
    if prices is not None:
        frame["actual"] = prices.reindex(dates).to_numpy()
    return frame.reset_index()


@app.command("forecast")
def forecast(
    ctx: typer.Context,
    data: str | None = typer.Argument(None, help="Price file or SOURCE:SYMBOL (optional with --load: then the model's own data)."),
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
    out: Path | None = OutOption,
) -> None:
    """Forecast HORIZON business days after the last training row, with intervals at LEVELS."""
    from marketcast.errors import ModelError

    out = check_out(out)
    lv = parse_levels(levels)
    quiet = is_quiet(ctx)
    if horizon < 1:
        raise ModelError(f"--horizon must be at least 1, got {horizon}")
    prices = load_input(data, column, adjust_splits, quiet=quiet) if data is not None else None
    if load is not None:
        if model is not None or param or seed is not None or epochs is not None:
            raise ModelError("--load uses the saved model as it is: drop --model/--param/--seed/--epochs")
        from marketcast.persistence import load_model

        fitted = load_model(load)
        if prices is not None:
            rows = training_rows(prices, train_from, train_to)
            if not _is_training_data(fitted.manifest_, rows):
                fitted.condition(rows)
        if lv and not fitted.has_native_intervals:
            raise ModelError(f"{fitted.name}: this saved model has no prediction intervals; "
                             "train it with --levels to calibrate conformal intervals")
    else:
        if model is None or prices is None:
            raise ModelError("give DATA and --model, or --load DIR")
        fitted = build_model(model, parse_params(param, seed, epochs), lv, calibration_windows, horizon)
        fit_with_progress(fitted, training_rows(prices, train_from, train_to), quiet)
    if lv and hasattr(fitted, "coverage_guaranteed") and not quiet:
        short = [level for level in lv if not fitted.coverage_guaranteed(level)]
        if short:
            need = fitted.windows_needed(max(short))
            typer.echo(f"note: {fitted.calibration_windows} calibration windows are too few for conformal "
                       f"{', '.join(f'{v:.0%}' for v in short)} intervals (each is the widest calibration error, so "
                       f"its coverage can fall short of the level); use --calibration-windows {need} or more", err=True)
    frame = forecast_frame(fitted, horizon, lv, prices)
    title = f"{fitted.name} forecast from {fitted.last_date_.date()} ({horizon} business days)"
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
) -> None:
    """Fit a model on DATA and save it; with --load --fine-tune, train a saved model further."""
    from marketcast.errors import ModelError
    from marketcast.persistence import load_model, save_model

    quiet = is_quiet(ctx)
    pretrained: list[dict] = []
    lv = parse_levels(levels)
    prices = load_input(data, column, adjust_splits, quiet=quiet)
    rows = training_rows(prices, train_from, train_to)
    if fine_tune:
        if load is None:
            raise ModelError("--fine-tune needs --load DIR")
        fitted = load_model(load)
        before = fitted.manifest_
        pretrained = [*before.get("pretrained", []), before.get("training", {})]
        if "warm_start" not in fitted.get_params():
            raise ModelError(f"{fitted.name}: fine-tuning needs a neural model")
        fitted.set_params(warm_start=True, **parse_params(param, seed, epochs))
    elif load is not None:
        raise ModelError("--load with train needs --fine-tune")
    else:
        if model is None:
            raise ModelError("give --model NAME (or --load DIR --fine-tune)")
        fitted = build_model(model, parse_params(param, seed, epochs), lv, calibration_windows, horizon)
    fit_with_progress(fitted, rows, quiet)
    metrics = training_metrics(fitted)
    path = save_model(fitted, save, data=rows, metrics=metrics, pretrained=pretrained)
    if not quiet:
        loss = ", ".join(f"{k} {v:.5g}" for k, v in metrics.items())
        typer.echo(f"trained {fitted.name} on {len(rows)} rows {rows.index[0].date()}..{rows.index[-1].date()}"
                   f"{'; ' + loss if loss else ''}; saved to {path}")
