r"""Prediction intervals for any point forecaster, from its own out-of-sample errors (conformal).

:class:`ConformalForecaster` wraps a model without a predictive distribution. At fit time it
backtests the model on the end of the training history: ``calibration_windows`` rolling
origins, ``step`` rows apart, each a fresh clone fitted on every row before the origin and asked
for ``max_horizon`` steps. The absolute errors at each step :math:`h` give the interval

.. math:: \hat y_{n+h} \pm q_h, \qquad q_h = |e|_{(\lceil (m+1)\,\ell \rceil)}

the split-conformal quantile of the :math:`m` calibration errors at step :math:`h` for level
:math:`\ell` (Vovk et al. 2005; Lei et al. 2018), which covers with probability at least
:math:`\ell` when errors are exchangeable. With fewer than :math:`1/(1-\ell) - 1` windows the
quantile is the largest error, and ``coverage_guaranteed`` says so.

For a positive series (prices) the errors are taken on the log scale,
:math:`e = \log y - \log \hat y`, and the interval is :math:`[\hat y e^{-q_h}, \hat y e^{q_h}]`:
it stays positive and scales with the price level, as price errors do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from marketcast.errors import DataError, ModelError
from marketcast.models.base import Capabilities, Forecaster, IntervalForecast

__all__ = [
    "ConformalForecaster",
    "CALIBRATION_WINDOWS",
    "Calibration",
    "coverage_note",
    "windows_needed",
    "calibrate",
    "conformal_interval",
    "conformal_quantile",
]


def conformal_quantile(abs_errors: np.ndarray, level: float) -> float:
    """The split-conformal quantile: the ceil((m+1) level)-th smallest of ``m`` absolute errors."""
    e = np.sort(np.asarray(abs_errors, dtype=np.float64))
    m = e.size
    if m == 0:
        raise ModelError("no calibration errors")
    k = math.ceil((m + 1) * level)
    return float(e[min(k, m) - 1])


#: Calibration windows of conformal intervals by default (``--calibration-windows``).
CALIBRATION_WINDOWS = 20


def windows_needed(level: float) -> int:
    """Fewest calibration windows for which the conformal quantile at ``level`` is guaranteed."""
    return math.ceil(1.0 / (1.0 - level) - 1.0)


def coverage_note(windows: int, levels) -> str | None:
    """Why conformal intervals at some of ``levels`` may cover less than their level, or None."""
    short = [level for level in levels or () if windows < windows_needed(level)]
    if not short:
        return None
    return (
        f"{windows} calibration windows are too few for conformal "
        f"{', '.join(f'{v:.0%}' for v in short)} intervals (each is the widest calibration error, so "
        f"its coverage can fall short of the level); use --calibration-windows {windows_needed(max(short))} or more"
    )


@dataclass(frozen=True)
class Calibration:
    """Out-of-sample errors of a model at each step (rows: calibration windows; columns: steps)."""

    errors: np.ndarray
    origins: pd.DatetimeIndex
    log_scale: bool


def calibrate(
    model: Forecaster, y: pd.Series, *, windows: int = 20, horizon: int = 21, step: int | None = None, progress=None
) -> Calibration:
    """Backtest ``model`` on the end of ``y``: ``windows`` origins ``step`` rows apart (default ``horizon``).

    Each origin fits a fresh clone on every row before it and forecasts ``horizon`` steps; the
    errors are on the log scale when the series and the forecasts are positive.
    """
    H, m = int(horizon), int(windows)
    step = int(step or H)
    if H < 1 or m < 1 or step < 1:
        raise ModelError("conformal: calibration_windows, max_horizon and step must be at least 1")
    n = len(y)
    origins = [n - H - k * step for k in range(m)][::-1]
    if origins[0] < model.min_history():
        need = model.min_history() + H + (m - 1) * step
        raise DataError(
            f"{y.attrs.get('source', 'series')}: {n} rows are too few for {m} calibration windows of "
            f"{H} steps for {model.name} (need {need})"
        )
    values = y.to_numpy()
    actual = np.empty((m, H))
    preds = np.empty((m, H))
    for i, origin in enumerate(origins):
        preds[i] = model.clone().fit(y.iloc[:origin], progress=progress).predict(H)
        actual[i] = values[origin : origin + H]
    log_scale = bool((values > 0).all() and (preds > 0).all())
    errors = np.log(actual / preds) if log_scale else actual - preds
    return Calibration(errors, y.index[origins], log_scale)


def conformal_interval(
    point: np.ndarray, errors: np.ndarray, log_scale: bool, levels: tuple[float, ...]
) -> IntervalForecast:
    """Intervals around ``point`` from calibration ``errors`` (see the module docstring)."""
    horizon = len(point)
    abs_err = np.abs(errors[:, :horizon])
    lower, upper = {}, {}
    for lv in levels:
        q = np.array([conformal_quantile(abs_err[:, h], lv) for h in range(horizon)])
        if log_scale:
            a, b = point * np.exp(-q), point * np.exp(q)
            lower[lv], upper[lv] = np.minimum(a, b), np.maximum(a, b)
        else:
            lower[lv], upper[lv] = point - q, point + q
    return IntervalForecast(point, lower, upper)


class ConformalForecaster(Forecaster):
    """Conformal prediction intervals around any :class:`~marketcast.models.base.Forecaster`.

    Parameters
    ----------
    model : Forecaster
        The point model; cloned for every calibration fit and for the final fit.
    calibration_windows : int
        Number of rolling origins in the calibration backtest.
    max_horizon : int
        Longest horizon intervals are calibrated for.
    step : int, optional
        Rows between calibration origins (default: ``max_horizon``, so test sets do not overlap).
    """

    def __init__(
        self, model: Forecaster, calibration_windows: int = 20, max_horizon: int = 21, step: int | None = None
    ):
        self.model = model
        self.calibration_windows = calibration_windows
        self.max_horizon = max_horizon
        self.step = step

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.model.name

    @property
    def capabilities(self) -> Capabilities:  # type: ignore[override]
        return replace(self.model.capabilities, native_intervals=True)

    def _what(self) -> str:
        return (
            f"{self.model.name} with conformal intervals ({self.calibration_windows} calibration windows "
            f"of {self.max_horizon} steps)"
        )

    def min_history(self, horizon: int = 1) -> int:
        step = self.step or self.max_horizon
        return self.model.min_history() + self.max_horizon + (self.calibration_windows - 1) * step

    def progress_units(self) -> int:
        return (self.calibration_windows + 1) * max(1, self.model.progress_units())

    def _fit(self, y: pd.Series) -> None:
        cal = calibrate(
            self.model,
            y,
            windows=int(self.calibration_windows),
            horizon=int(self.max_horizon),
            step=self.step,
            progress=self._progress,
        )
        self.log_scale_ = cal.log_scale
        self.calibration_errors_ = cal.errors
        self.calibration_origins_ = cal.origins
        self.model_ = self.model.clone().fit(y, progress=self._progress)

    def _predict(self, horizon: int) -> np.ndarray:
        return self.model_.predict(horizon)

    def _condition(self, y: pd.Series) -> None:
        # The calibration errors stay: they describe the model, not the series it starts from.
        self.model_.condition(y)

    windows_needed = staticmethod(windows_needed)

    def coverage_guaranteed(self, level: float) -> bool:
        return self.calibration_windows >= windows_needed(level)

    def _predict_interval(self, horizon: int, levels: tuple[float, ...]) -> IntervalForecast:
        if horizon > self.calibration_errors_.shape[1]:
            raise ModelError(
                f"{self.name}: intervals were calibrated up to {self.calibration_errors_.shape[1]} steps, not {horizon}"
            )
        return conformal_interval(self.model_.predict(horizon), self.calibration_errors_, self.log_scale_, levels)

    def _get_state(self):
        arrays, meta = self.model_._get_state()
        arrays = {f"model.{k}": v for k, v in arrays.items()}
        arrays["calibration_errors"] = self.calibration_errors_
        return arrays, {"model": meta, "model_n_obs": self.model_.n_obs_, "log_scale": self.log_scale_}

    def _set_state(self, arrays, meta) -> None:
        self.model_ = self.model.clone()
        self.model_._set_state({k[6:]: v for k, v in arrays.items() if k.startswith("model.")}, meta["model"])
        self.model_.n_obs_ = int(meta["model_n_obs"])
        self.calibration_errors_ = np.asarray(arrays["calibration_errors"])
        self.log_scale_ = bool(meta["log_scale"])
