"""Price forecasts and training: ``forecast``, ``train``."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from marketcast._api.common import ProgressFactory, _levels, _params, _progress
from marketcast._api.data import _prices
from marketcast._api.models import load_model
from marketcast.errors import MarketcastWarning, ModelError

if TYPE_CHECKING:
    import pandas as pd

    from marketcast.models.base import Forecaster


def _price_model(model, params: dict, levels, calibration_windows: int, horizon: int) -> Forecaster:
    """A model to fit: by name from the registry, or a clone of the caller's own with ``params`` set."""
    from marketcast.fitting import price_model
    from marketcast.models.base import Forecaster

    if isinstance(model, str):
        return price_model(model, params, levels=levels, calibration_windows=calibration_windows, horizon=horizon)
    if not isinstance(model, Forecaster):
        raise ModelError(f"model must be a price model name or a Forecaster, not {type(model).__name__}")
    out = model.clone()
    out.set_params(**({k: v for k, v in params.items() if k != "seed"} if not out.stochastic else params))
    if levels and not out.has_native_intervals:
        from marketcast.intervals import ConformalForecaster

        out = ConformalForecaster(out, calibration_windows=calibration_windows, max_horizon=horizon)
    return out


def _fit(model: Forecaster, rows: pd.Series, progress: ProgressFactory | None) -> Forecaster:
    with _progress(progress, f"training {model.name}", model.progress_units()) as tick:
        return model.fit(rows, progress=tick)


def forecast(
    data=None,
    *,
    model: str | Forecaster | None = None,
    horizon: int = 5,
    levels=None,
    train_from=None,
    train_to=None,
    seed: int | None = None,
    epochs: int | None = None,
    params: dict | None = None,
    load=None,
    calibration_windows: int = 20,
    column: str | None = None,
    adjust_splits: bool | Sequence[str] = False,
    progress: ProgressFactory | None = None,
) -> pd.DataFrame:
    """Fit a model and forecast ``horizon`` business days after the origin (``marketcast forecast``).

    Parameters
    ----------
    data : Series, str or Path, optional
        Prices, or what :func:`load_prices` reads. Optional with ``load``.
    model : str or Forecaster
        A registered price model name, or a model of one's own (it is cloned, not changed).
    horizon : int
        Business days to forecast.
    levels : sequence of float, optional
        Central interval levels, e.g. ``(0.9, 0.95)``. Models without a predictive distribution
        get conformal intervals from ``calibration_windows`` backtest windows of their own.
    train_from, train_to : date-like, optional
        First and last row the model fits on; ``train_to`` is the forecast origin.
    seed, epochs, params :
        Hyper-parameters (``--seed``, ``--epochs``, ``-p``).
    load : str, Path or Forecaster, optional
        A saved model (its directory, or the model :func:`load_model` returned) to forecast with
        instead of fitting one. Given ``data``, it forecasts from the end of the rows
        ``train_from .. train_to``: from its saved state when those are the rows it was trained
        on, else with its parameters on the new rows' latest inputs.
    column, adjust_splits :
        As in :func:`load_prices`.
    progress : callable, optional
        A :data:`ProgressFactory`; units are the training's (epochs of a network).

    Returns
    -------
    DataFrame
        ``date, model, point``, then ``lower_90, upper_90, ...`` per level (and ``sigma_e`` for
        the two-LSTM model), then ``actual`` where ``data`` has the price; ``attrs["origin"]`` is
        the last row the model saw (ISO date).

    Warns
    -----
    MarketcastWarning
        When too few calibration windows let a conformal interval's coverage fall short of its
        level.
    """
    from marketcast.fitting import condition_on, coverage_shortfall, training_rows

    if int(horizon) < 1:
        raise ModelError(f"--horizon must be at least 1, got {horizon}")
    lv = _levels(levels)
    prices = _prices(data, column, adjust_splits) if data is not None else None
    if load is not None:
        if model is not None or params or seed is not None or epochs is not None:
            raise ModelError("--load uses the saved model as it is: drop --model/--param/--seed/--epochs")
        fitted = load_model(load) if isinstance(load, str | Path) else load
        if prices is not None:
            condition_on(fitted, training_rows(prices, train_from, train_to))
        if lv and not fitted.has_native_intervals:
            raise ModelError(
                f"{fitted.name}: this saved model has no prediction intervals; "
                "train it with --levels to calibrate conformal intervals"
            )
    else:
        if model is None or prices is None:
            raise ModelError("give DATA and --model, or --load DIR")
        fitted = _price_model(model, _params(params, seed, epochs), lv, calibration_windows, int(horizon))
        _fit(fitted, training_rows(prices, train_from, train_to), progress)
    note = coverage_shortfall(fitted, lv)
    if note:
        warnings.warn(note, MarketcastWarning, stacklevel=2)
    frame = fitted.predict_frame(int(horizon), lv)
    if prices is not None:
        frame["actual"] = prices.reindex(frame["date"]).to_numpy()
    return frame


def train(
    data,
    *,
    model: str | Forecaster | None = None,
    save=None,
    load=None,
    fine_tune: bool = False,
    levels=None,
    horizon: int = 21,
    train_from=None,
    train_to=None,
    seed: int | None = None,
    epochs: int | None = None,
    params: dict | None = None,
    calibration_windows: int = 20,
    column: str | None = None,
    adjust_splits: bool | Sequence[str] = False,
    progress: ProgressFactory | None = None,
) -> Forecaster:
    """Fit a model and save it; with ``load`` and ``fine_tune``, train a saved one further (``marketcast train``).

    Parameters
    ----------
    data : Series, str or Path
        Prices, or what :func:`load_prices` reads.
    model : str or Forecaster, optional
        As in :func:`forecast`.
    save : str or Path, optional
        Directory to save the fitted model to. Its manifest records the training rows'
        checksum, the kept epoch's losses and, after fine-tuning, every earlier training run.
    load : str, Path or Forecaster, optional
        With ``fine_tune``: the saved model (or :func:`load_model`'s result) whose weights
        training continues from (Stock-X section IV.C).
    fine_tune : bool
        Continue training ``load``'s network on ``data``; ``params`` (e.g. ``epochs``) apply.
    levels, horizon, calibration_windows :
        Conformal intervals for models without their own, calibrated up to ``horizon`` steps.
    train_from, train_to, seed, epochs, params, column, adjust_splits, progress :
        As in :func:`forecast`.

    Returns
    -------
    Forecaster
        The fitted model; ``n_obs_``, ``first_date_`` and ``last_date_`` say which rows it saw.
    """
    from marketcast.fitting import training_metrics, training_rows

    lv = _levels(levels)
    rows = training_rows(_prices(data, column, adjust_splits), train_from, train_to)
    pretrained: list[dict] = []
    if fine_tune:
        if load is None:
            raise ModelError("--fine-tune needs --load DIR")
        fitted = load_model(load) if isinstance(load, str | Path) else load
        before = getattr(fitted, "manifest_", {})
        pretrained = [*before.get("pretrained", []), before.get("training", {})]
        if "warm_start" not in fitted.get_params():
            raise ModelError(f"{fitted.name}: fine-tuning needs a neural model")
        fitted.set_params(warm_start=True, **_params(params, seed, epochs))
    elif load is not None:
        raise ModelError("--load with train needs --fine-tune")
    else:
        if model is None:
            raise ModelError("give --model NAME (or --load DIR --fine-tune)")
        fitted = _price_model(model, _params(params, seed, epochs), lv, calibration_windows, int(horizon))
    _fit(fitted, rows, progress)
    if save is not None:
        from marketcast.persistence import save_model as _save

        _save(fitted, save, data=rows, metrics=training_metrics(fitted), pretrained=pretrained)
    return fitted
