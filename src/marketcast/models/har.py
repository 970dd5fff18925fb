r"""Heterogeneous autoregression (HAR) of log prices: the VIX literature's standard benchmark.

Corsi's HAR model (2009) regresses tomorrow's value on today's, on the average of the last week
and on the average of the last month,

.. math::

    x_{t+1} = c + \beta_d\, x_t + \beta_w\, \frac15 \sum_{i=0}^{4} x_{t-i}
              + \beta_m\, \frac1{22} \sum_{i=0}^{21} x_{t-i} + \varepsilon_{t+1},
    \qquad \varepsilon_t \sim N(0, \sigma^2),

with :math:`x_t = \log P_t`. Applied to the log VIX it captures the index's long memory and its
mean reversion, which a random walk (and an SMA of the last D days) cannot; Fernandes, Medeiros
and Scharth (2014, "Modeling and predicting the CBOE market volatility index", J. Banking &
Finance 40) found it hard to beat. The VIX paper does not use it: marketcast adds it as a
transparent linear benchmark beside the paper's models.

The model is fitted by least squares (``arch``'s :class:`~arch.univariate.HARX`, Gaussian
likelihood with constant variance). Multi-step forecasts iterate the recursion (``arch``'s
analytic forecasts); :math:`\mu_h` and :math:`v_h`, the mean and variance of :math:`x_{n+h}`
given the history, include the propagated shocks. The price forecast is the conditional median
:math:`\exp(\mu_h)` (``point="median"``, the default) or the conditional mean
:math:`\exp(\mu_h + v_h/2)` (``point="mean"``); the central intervals at level :math:`1-a` are
:math:`\exp(\mu_h \pm z_{1-a/2}\sqrt{v_h})`, the log-normal quantiles.

References
----------
F. Corsi, "A simple approximate long-memory model of realized volatility", Journal of Financial
Econometrics 7(2), 2009, 174-196.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from marketcast.errors import DataError, ModelError
from marketcast.models.base import Capabilities, Forecaster, IntervalForecast

__all__ = ["HARForecaster"]

_POINTS = ("median", "mean")


class HARForecaster(Forecaster):
    """HAR(1, 5, 22) on log prices, fitted by least squares; recursive multi-step forecasts.

    Parameters
    ----------
    lags : sequence of int, optional
        Lengths of the averaged blocks of past values (Corsi: a day, a week, a month).
    log : bool, optional
        Model the log of the series (default; needs positive values) or the series itself.
    point : {"median", "mean"}, optional
        Which point forecast to report for a log model: the conditional median
        :math:`\\exp(\\mu_h)` or the conditional mean :math:`\\exp(\\mu_h + v_h/2)`.

    Attributes
    ----------
    params_ : ndarray
        Constant, the block coefficients (one per lag) and the residual variance
        :math:`\\sigma^2`, in ``arch``'s order (``param_names_``).
    tail_ : ndarray
        The last values (on the model's scale) that the next forecasts start from.
    """

    name = "har"
    capabilities = Capabilities(recursive=True, native_intervals=True)

    def __init__(self, lags: tuple[int, ...] = (1, 5, 22), log: bool = True, point: str = "median"):
        self.lags = lags
        self.log = log
        self.point = point

    def _lags(self) -> list[int]:
        lags = sorted({int(x) for x in self.lags})
        if not lags or lags[0] < 1:
            raise ModelError(f"har: lags must be positive integers, got {list(self.lags)}")
        return lags

    def min_history(self, horizon: int = 1) -> int:
        # The longest block plus enough rows to estimate the coefficients with some precision.
        return max(self._lags()) + 10 * (len(self._lags()) + 1)

    def _tail_length(self) -> int:
        # arch builds the lag matrix from the stored values and needs more rows than the longest lag.
        return 2 * max(self._lags())

    def _scale(self, y: pd.Series) -> np.ndarray:
        values = y.to_numpy(dtype=np.float64)
        if not self.log:
            return values
        if (values <= 0).any():
            bad = y.index[np.argmax(values <= 0)]
            raise DataError(
                f"{y.attrs.get('source', 'series')}: har with log=True needs positive values, "
                f"got {values[values <= 0][0]:g} on {bad.date()}"
            )
        return np.log(values)

    def _fit(self, y: pd.Series) -> None:
        from arch.univariate import HARX

        if self.point not in _POINTS:
            raise ModelError(f"har: point must be one of {', '.join(_POINTS)}, got '{self.point}'")
        x = self._scale(y)
        # Constant variance and normal errors: arch solves this by least squares, in closed form,
        # so its optimiser-scale warning does not apply (rescale=False silences it).
        res = HARX(x, lags=self._lags(), rescale=False).fit(disp="off")
        self.params_ = res.params.to_numpy(dtype=np.float64)
        self.param_names_ = [str(n) for n in res.params.index]
        self.tail_ = x[-self._tail_length() :].copy()

    def _moments(self, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance of the next ``horizon`` values on the model's scale (log or level)."""
        from arch.univariate import HARX

        # The fitted parameters applied to the stored tail: the same forecasts as the fit's own,
        # and what a reloaded or re-conditioned model starts from.
        fixed = HARX(self.tail_, lags=self._lags(), rescale=False).fix(self.params_)
        f = fixed.forecast(horizon=horizon, reindex=False)
        return f.mean.to_numpy()[-1], f.variance.to_numpy()[-1]

    def _predict(self, horizon: int) -> np.ndarray:
        mu, var = self._moments(horizon)
        if not self.log:
            return mu
        return np.exp(mu + var / 2.0) if self.point == "mean" else np.exp(mu)

    def _predict_interval(self, horizon: int, levels: tuple[float, ...]) -> IntervalForecast:
        mu, var = self._moments(horizon)
        sd = np.sqrt(var)
        back = np.exp if self.log else (lambda v: v)
        lower, upper = {}, {}
        for level in levels:
            z = stats.norm.ppf(0.5 + level / 2.0)
            lower[level], upper[level] = back(mu - z * sd), back(mu + z * sd)
        return IntervalForecast(
            point=self._predict(horizon), lower=lower, upper=upper, extra={"log_sd" if self.log else "sd": sd}
        )

    def _condition(self, y: pd.Series) -> None:
        self.tail_ = self._scale(y)[-self._tail_length() :].copy()

    def _get_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        return {"params": self.params_, "tail": self.tail_}, {"param_names": self.param_names_}

    def _set_state(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        self.params_ = np.asarray(arrays["params"], dtype=np.float64)
        self.tail_ = np.asarray(arrays["tail"], dtype=np.float64)
        self.param_names_ = list(meta.get("param_names", []))
