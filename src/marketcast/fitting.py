"""Building, fitting and re-using price models: the policies behind ``forecast`` and ``train``.

* :func:`price_model` builds a registered model from hyper-parameters, checking that every
  parameter is one the model (or an ensemble's member) takes, and wraps a model without a
  predictive distribution in conformal intervals when interval levels are asked for.
* :func:`training_rows` cuts the rows a model fits on (``train_from`` .. ``train_to``).
* :func:`condition_on` is the policy for a loaded model given new data: forecast from its saved
  state when the data are the rows it was trained on, else from the end of the new data.
* :func:`training_metrics` gives the losses of the epoch whose weights a network keeps.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from marketcast.data.series import source_of
from marketcast.errors import DataError, ModelError
from marketcast.models.base import Forecaster, check_levels

__all__ = ["price_model", "training_rows", "condition_on", "is_training_data", "training_metrics", "coverage_shortfall"]


def price_model(
    name: str, params: dict[str, Any] | None = None, *, levels=None, calibration_windows: int = 20, horizon: int = 21
) -> Forecaster:
    """An unfitted price model by registry name, with conformal intervals where it needs them.

    Parameters
    ----------
    name : str
        A registered price model (``marketcast models``), or ``ensemble(a,b,...)``.
    params : dict, optional
        Hyper-parameters. An ensemble passes those it does not take on to its members; ``seed``
        is ignored by models that draw no random numbers. Any other key no model takes is a
        :class:`~marketcast.errors.ModelError`.
    levels : sequence of float, optional
        Interval levels the model will be asked for. A model without native intervals is then
        wrapped in :class:`~marketcast.intervals.ConformalForecaster`.
    calibration_windows, horizon : int
        The conformal wrapper's calibration backtest: windows and longest horizon.
    """
    from marketcast.models.registry import configured_model

    params = dict(params or {})
    model, used = configured_model(name, "price", params)
    unknown = set(params) - used - ({"seed"} if not model.stochastic else set())  # a seed means nothing to SMA
    if unknown:
        raise ModelError(
            f"{model.name}: unknown parameter(s) {', '.join(sorted(unknown))} "
            f"(valid: {', '.join(model._param_names())})"
        )
    if levels and not model.has_native_intervals:
        from marketcast.intervals import ConformalForecaster

        check_levels(levels)
        model = ConformalForecaster(model, calibration_windows=calibration_windows, max_horizon=horizon)
    return model


def _day(value) -> pd.Timestamp | None:
    if value is None:
        return None
    try:
        return pd.Timestamp(value)
    except (ValueError, TypeError):
        raise DataError(f"'{value}' is not a date (use YYYY-MM-DD)") from None


def training_rows(prices: pd.Series, train_from=None, train_to=None) -> pd.Series:
    """The rows of ``prices`` from ``train_from`` to ``train_to`` (inclusive), a copy with its attrs."""
    start, end = _day(train_from), _day(train_to)
    rows = prices.loc[start:end] if (start is not None or end is not None) else prices
    if len(rows) == 0:
        raise DataError(
            f"{source_of(prices)}: no rows between {start.date() if start is not None else 'the start'} "
            f"and {end.date() if end is not None else 'the end'}"
        )
    rows = rows.copy()
    rows.attrs = dict(prices.attrs)
    return rows


def is_training_data(model: Forecaster, rows: pd.Series) -> bool:
    """True when ``rows`` are exactly the rows a saved ``model`` was trained on (same checksum)."""
    from marketcast.persistence import data_checksum

    manifest = getattr(model, "manifest_", None) or {}
    return manifest.get("training", {}).get("checksum") == data_checksum(rows)


def condition_on(model: Forecaster, rows: pd.Series) -> Forecaster:
    """Make a fitted (typically loaded) ``model`` forecast from the end of ``rows``.

    When ``rows`` are the rows the model was trained on, its saved state already ends there,
    which every model can forecast from (Prophet and the two-LSTM model cannot be conditioned on
    other data). Otherwise the model keeps its parameters and takes its inputs from the end of
    ``rows``: a network trained on one stock forecasts another.
    """
    if not is_training_data(model, rows):
        model.condition(rows)
    return model


def training_metrics(model: Forecaster) -> dict[str, float]:
    """The losses of the epoch whose weights the model keeps (the best one under early stopping).

    Empty for models without a training history; for several networks (two-LSTM) the last epoch
    of each curve.
    """
    history = getattr(model, "history_", None) or {}
    if not history.get("loss"):
        return {k: v[-1] for k, v in history.items() if isinstance(v, list) and v}
    epoch = int(getattr(model, "best_epoch_", len(history["loss"]) - 1))
    return {"epoch": epoch + 1, **{k: v[epoch] for k, v in history.items() if isinstance(v, list) and len(v) > epoch}}


def coverage_shortfall(model: Forecaster, levels) -> str | None:
    """Why a conformal model's intervals at some of ``levels`` may cover less than their level, or None."""
    from marketcast.intervals import ConformalForecaster, coverage_note

    if not levels or not isinstance(model, ConformalForecaster):
        return None
    return coverage_note(model.calibration_windows, levels)
