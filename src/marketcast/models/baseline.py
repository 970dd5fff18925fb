"""Baselines: the naive random walk and the simple moving average of the VIX paper (II.A)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from marketcast.errors import DataError, ModelError
from marketcast.models.base import Forecaster

__all__ = ["Naive", "SMA", "sma_forecast"]


class Naive(Forecaster):
    """Random walk: every future value equals the last observed one.

    The benchmark any price model must beat: under a martingale it is the optimal forecast.
    """

    name = "naive"

    def _fit(self, y: pd.Series) -> None:
        self.last_ = float(y.iloc[-1])

    def _predict(self, horizon: int) -> np.ndarray:
        return np.full(horizon, self.last_)

    def _condition(self, y: pd.Series) -> None:
        self._fit(y)

    def _get_state(self):
        return {"last": np.array([self.last_])}, {}

    def _set_state(self, arrays, meta) -> None:
        self.last_ = float(arrays["last"][0])


def sma_forecast(history: np.ndarray, window: int, horizon: int) -> np.ndarray:
    r"""Recursive simple-moving-average forecasts (VIX paper, section II.A).

    .. math:: \hat P_{n+1} = \frac1D \sum_{i=n-D+1}^{n} P_i

    and each later step averages the last ``window`` values with the earlier forecasts
    appended. Done in closed form on a buffer: :math:`O(\text{window} + \text{horizon})`.
    """
    buf = np.empty(window + horizon)
    buf[:window] = np.asarray(history, dtype=np.float64)[-window:]
    total = buf[:window].sum()
    for h in range(horizon):
        f = total / window
        buf[window + h] = f
        total += f - buf[h]
    return buf[window:]


class SMA(Forecaster):
    """Simple moving average, applied recursively for multi-step forecasts (VIX paper, II.A).

    Parameters
    ----------
    window : int, optional
        Number of past values averaged, :math:`D` in the paper. By default it equals the
        forecast horizon, as in the paper (21-day forecasts average 21 days, 5-day ones 5).
    """

    name = "sma"

    def __init__(self, window: int | None = None):
        self.window = window

    def min_history(self, horizon: int = 1) -> int:
        return self.window or horizon

    def _fit(self, y: pd.Series) -> None:
        if self.window is not None and self.window < 1:
            raise ModelError(f"sma: window must be at least 1, got {self.window}")
        self.values_ = y.to_numpy(dtype=np.float64).copy()
        self.source_ = str(y.attrs.get("source", "series"))

    def _predict(self, horizon: int) -> np.ndarray:
        window = self.window or horizon
        if len(self.values_) < window:
            raise DataError(
                f"{getattr(self, 'source_', 'sma')}: {len(self.values_)} rows, but sma with a window of "
                f"{window} needs at least {window}"
            )
        return sma_forecast(self.values_, window, horizon)

    def _condition(self, y: pd.Series) -> None:
        self._fit(y)

    def _get_state(self):
        # The tail long enough for any horizon up to a year of days (the window defaults to it).
        keep = max(self.window or 0, 260)
        return {"history": self.values_[-keep:]}, {}

    def _set_state(self, arrays, meta) -> None:
        self.values_ = np.asarray(arrays["history"], dtype=np.float64)
