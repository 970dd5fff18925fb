"""Prophet adapters: price forecasts (VIX paper II.C) and volatility forecasts (Algorithm 3).

Prophet (Taylor & Letham, 2018) fits :math:`y(t) = g(t) + s(t) + h(t) + \\epsilon_t` (eq. 2 of the
VIX paper): a piecewise-linear trend with changepoints, Fourier seasonalities and holidays, by
MAP estimation in Stan (L-BFGS for 100 or more points). Two adapters:

* :class:`ProphetForecaster` fits the date-indexed closes and forecasts the next business days,
  with prediction intervals at any levels from Prophet's posterior predictive samples.
* :class:`ProphetVolatility` fits, window by window, the sample volatilities :math:`Z_t` dated by
  their returns, and forecasts one business day ahead: the PVF column of Table V.

Notes for a later reader
------------------------
* Future dates are business days (:func:`pandas.bdate_range`): Prophet's
  ``make_future_dataframe`` is daily by default and would forecast Saturday after a Friday.
* Prophet draws its uncertainty samples from NumPy's *global* generator. Sampling here saves the
  global state, seeds it with ``seed`` and restores it afterwards, so callers see no change.
* The MAP fit is deterministic (Stan's L-BFGS from Prophet's fixed initial values), but the
  optimum is flat: starting from the previous window's parameters (``fit(init=...)``) or using
  Newton changes a VIX volatility forecast by up to 3e-3 (3%). Each window is therefore fitted
  from Prophet's own start, as in the paper; warm starts are not used.
* prophet (and cmdstanpy) are imported inside the functions, never at module import.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd

from marketcast.errors import ModelError
from marketcast.models.base import (
    Capabilities,
    Forecaster,
    IntervalForecast,
    VolatilityForecast,
    VolatilityModel,
    check_is_fitted,
)

__all__ = [
    "ProphetForecaster",
    "ProphetVolatility",
    "business_days_after",
    "fit_prophet",
    "point_forecast",
    "MIN_VOLATILITY",
]

#: Floor of a Prophet volatility forecast. Prophet's curve can cross zero (Table V, day 10, shows
#: a PVF of 0.018 where the others are near 0.05), and VaR/CVaR need a positive volatility.
MIN_VOLATILITY = 1e-8

_GROWTHS = ("linear", "flat")  # logistic growth needs a capacity column that a price series lacks
_MODES = ("additive", "multiplicative")


def business_days_after(last, horizon: int) -> pd.DatetimeIndex:
    """The ``horizon`` business days (Mon-Fri) after the date ``last``."""
    start = pd.Timestamp(last).normalize() + pd.offsets.BDay(1)
    return pd.bdate_range(start, periods=int(horizon), name="date")


@contextmanager
def _quiet_stan(level: int = logging.WARNING) -> Iterator[None]:
    """Raise the ``cmdstanpy`` and ``prophet`` loggers to ``level`` for the call, then restore them.

    cmdstanpy installs its own INFO handler (and resets its logger to DEBUG) the first time it
    logs, so its logger is created first; otherwise the level set here would be overwritten.
    """
    try:
        from cmdstanpy.utils import get_logger

        get_logger()
    except ImportError:  # pragma: no cover - prophet always brings cmdstanpy
        pass
    loggers = [logging.getLogger(name) for name in ("cmdstanpy", "prophet")]
    saved = [lg.level for lg in loggers]
    for lg in loggers:
        if lg.getEffectiveLevel() < level:
            lg.setLevel(level)
    try:
        yield
    finally:
        for lg, old in zip(loggers, saved):
            lg.setLevel(old)


@contextmanager
def _seeded_global_numpy(seed: int | None) -> Iterator[None]:
    """Seed NumPy's global generator for the block and put its previous state back afterwards.

    Prophet samples with ``np.random.*``; this is the only way to make its draws reproducible
    without leaving global state changed. ``seed=None`` draws a fresh seed from the OS.
    """
    state = np.random.get_state()
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0])
    np.random.seed(int(seed))
    try:
        yield
    finally:
        np.random.set_state(state)


def _check_settings(growth: str, seasonality_mode: str, changepoint_prior_scale: float) -> None:
    if growth not in _GROWTHS:
        raise ModelError(f"prophet: growth must be one of {', '.join(_GROWTHS)}, got '{growth}'")
    if seasonality_mode not in _MODES:
        raise ModelError(f"prophet: seasonality_mode must be one of {', '.join(_MODES)}, got '{seasonality_mode}'")
    if not float(changepoint_prior_scale) > 0:
        raise ModelError(f"prophet: changepoint_prior_scale must be positive, got {changepoint_prior_scale}")


def fit_prophet(
    dates,
    values: np.ndarray,
    settings: dict[str, Any],
    *,
    algorithm: str | None = None,
    seed: int | None = None,
):
    """Fit a ``prophet.Prophet(**settings)`` to ``values`` dated by ``dates``; returns the model.

    ``algorithm`` (``"LBFGS"``, ``"Newton"``, ``"BFGS"``) overrides Prophet's choice (Newton below
    100 points, L-BFGS otherwise); ``seed`` goes to Stan, which does not use it for an
    optimisation from given initial values but records it. Logging of cmdstanpy and prophet is
    held at WARNING during the fit, and Stan's temporary output files are removed afterwards.
    """
    from prophet import Prophet

    frame = pd.DataFrame({"ds": pd.DatetimeIndex(dates), "y": np.asarray(values, dtype=np.float64)})
    kwargs: dict[str, Any] = {}
    if algorithm is not None:
        kwargs["algorithm"] = algorithm
    if seed is not None:
        kwargs["seed"] = int(seed)
    with _quiet_stan():
        model = Prophet(**settings)
        try:
            model.fit(frame, **kwargs)
        except RuntimeError as exc:  # cmdstan failed, even after Prophet's fallback to Newton
            raise ModelError(f"prophet: Stan optimisation failed: {exc}") from None
        except ValueError as exc:  # Prophet's own input checks
            raise ModelError(f"prophet: {exc}") from None
        finally:
            backend = getattr(model, "stan_backend", None)
            if backend is not None and hasattr(backend, "cleanup"):
                backend.cleanup()
    return model


def point_forecast(model, dates) -> np.ndarray:
    """Prophet's ``yhat`` at ``dates``, without drawing uncertainty samples (no random numbers)."""
    saved = model.uncertainty_samples
    model.uncertainty_samples = 0
    try:
        out = model.predict(pd.DataFrame({"ds": pd.DatetimeIndex(dates)}))
    finally:
        model.uncertainty_samples = saved
    return out["yhat"].to_numpy(dtype=np.float64)


def _last_fitted_date(model) -> pd.Timestamp:
    return pd.Timestamp(model.history["ds"].iloc[-1])


class ProphetForecaster(Forecaster):
    """Prophet on the closes (VIX paper, section II.C), with Prophet's defaults as the paper used them.

    Parameters
    ----------
    growth : {"linear", "flat"}
        Trend :math:`g(t)`; Prophet's logistic growth needs a capacity and is not offered.
    yearly_seasonality, weekly_seasonality : "auto", bool or int
        Prophet's switches (``"auto"``: yearly from two years of history, weekly when the data
        are daily); an int sets the Fourier order.
    daily_seasonality : "auto", bool or int
        Off: daily closes have no intraday cycle.
    changepoint_prior_scale : float
        Flexibility of the trend (Prophet's 0.05).
    seasonality_mode : {"additive", "multiplicative"}
    uncertainty_samples : int
        Posterior predictive draws behind :meth:`predict_interval` (Prophet's 1000); 0 disables
        intervals.
    algorithm : str, optional
        Stan optimiser; ``None`` keeps Prophet's choice (L-BFGS for 100 points or more).
    seed : int, optional
        Seeds the uncertainty draws (through NumPy's global generator, restored afterwards);
        the same seed gives the same intervals.

    Forecasts are for the business days after the last date (not calendar days), and are not
    recursive: Prophet evaluates its curve at the future dates.
    """

    name = "prophet"
    capabilities = Capabilities(recursive=False, stochastic=True, native_intervals=True)

    def __init__(
        self,
        growth: str = "linear",
        yearly_seasonality: str | bool | int = "auto",
        weekly_seasonality: str | bool | int = "auto",
        daily_seasonality: str | bool | int = False,
        changepoint_prior_scale: float = 0.05,
        seasonality_mode: str = "additive",
        uncertainty_samples: int = 1000,
        algorithm: str | None = None,
        seed: int | None = 0,
    ):
        self.growth = growth
        self.yearly_seasonality = yearly_seasonality
        self.weekly_seasonality = weekly_seasonality
        self.daily_seasonality = daily_seasonality
        self.changepoint_prior_scale = changepoint_prior_scale
        self.seasonality_mode = seasonality_mode
        self.uncertainty_samples = uncertainty_samples
        self.algorithm = algorithm
        self.seed = seed

    def min_history(self, horizon: int = 1) -> int:
        return 2  # Prophet refuses fewer than two rows

    def _settings(self) -> dict[str, Any]:
        _check_settings(self.growth, self.seasonality_mode, self.changepoint_prior_scale)
        if int(self.uncertainty_samples) < 0:
            raise ModelError(f"prophet: uncertainty_samples must be >= 0, got {self.uncertainty_samples}")
        return {
            "growth": self.growth,
            "yearly_seasonality": self.yearly_seasonality,
            "weekly_seasonality": self.weekly_seasonality,
            "daily_seasonality": self.daily_seasonality,
            "changepoint_prior_scale": float(self.changepoint_prior_scale),
            "seasonality_mode": self.seasonality_mode,
            "uncertainty_samples": int(self.uncertainty_samples),
        }

    def _fit(self, y: pd.Series) -> None:
        self.model_ = fit_prophet(y.index, y.to_numpy(), self._settings(), algorithm=self.algorithm, seed=self.seed)

    def forecast_dates(self, horizon: int) -> pd.DatetimeIndex:
        """Dates of the next ``horizon`` forecasts: business days after the last fitted date."""
        check_is_fitted(self, ("model_",), what="forecast_dates()")
        return business_days_after(_last_fitted_date(self.model_), horizon)

    def _predict(self, horizon: int) -> np.ndarray:
        return point_forecast(self.model_, self.forecast_dates(horizon))

    def _predict_interval(self, horizon: int, levels: tuple[float, ...]) -> IntervalForecast:
        if not self.model_.uncertainty_samples:
            raise ModelError("prophet: uncertainty_samples=0 gives no intervals")
        dates = self.forecast_dates(horizon)
        point = point_forecast(self.model_, dates)
        with _seeded_global_numpy(self.seed):
            draws = self.model_.predictive_samples(pd.DataFrame({"ds": dates}))["yhat"]  # (horizon, samples)
        lower, upper = {}, {}
        for level in levels:
            lo, hi = np.quantile(draws, [(1.0 - level) / 2.0, (1.0 + level) / 2.0], axis=1)
            lower[level], upper[level] = lo, hi
        return IntervalForecast(point, lower, upper)

    # --- persistence: Prophet's own JSON format (prophet.serialize), no pickle, no arrays ---

    def _get_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        from prophet.serialize import model_to_json

        meta = {
            "files": {"prophet.json": model_to_json(self.model_)},  # Prophet's own JSON format
            "n_obs": int(self.n_obs_),
            "first_date": pd.Timestamp(self.first_date_).isoformat(),
            "last_date": pd.Timestamp(self.last_date_).isoformat(),
        }
        return {}, meta

    def _set_state(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        from prophet.serialize import model_from_json

        self.model_ = model_from_json(meta["files"]["prophet.json"])
        self.n_obs_ = int(meta.get("n_obs", len(self.model_.history)))
        self.first_date_ = pd.Timestamp(meta.get("first_date", self.model_.history["ds"].iloc[0]))
        self.last_date_ = pd.Timestamp(meta.get("last_date", _last_fitted_date(self.model_)))


class ProphetVolatility(VolatilityModel):
    """Prophet volatility forecasts (PVF): Algorithm 3 of the VIX paper.

    For each window, Prophet is fitted to the sample volatilities :math:`Z_t` dated by their
    returns, and its curve one business day after the window's last date is the forecast. Each
    window is fitted independently from Prophet's default start. Only the point forecast is
    needed, so no uncertainty samples are drawn (``uncertainty_samples=0``): 0.08-0.12 s per
    504-value window on a shared 2-core machine (median), against the paper's 1.3 s in R.

    A forecast below :data:`MIN_VOLATILITY` (Prophet's curve can dip below zero) is clipped to
    it; Prophet's own value is kept in the ``yhat`` column.

    Parameters are those of :class:`ProphetForecaster`, without the sampling ones.
    """

    capabilities = Capabilities(split_safe=True, window_parallel=True)  # each window fitted on its own, ~0.1 s

    name = "prophet"

    def __init__(
        self,
        growth: str = "linear",
        yearly_seasonality: str | bool | int = "auto",
        weekly_seasonality: str | bool | int = "auto",
        daily_seasonality: str | bool | int = False,
        changepoint_prior_scale: float = 0.05,
        seasonality_mode: str = "additive",
        algorithm: str | None = None,
    ):
        self.growth = growth
        self.yearly_seasonality = yearly_seasonality
        self.weekly_seasonality = weekly_seasonality
        self.daily_seasonality = daily_seasonality
        self.changepoint_prior_scale = changepoint_prior_scale
        self.seasonality_mode = seasonality_mode
        self.algorithm = algorithm

    def _settings(self) -> dict[str, Any]:
        _check_settings(self.growth, self.seasonality_mode, self.changepoint_prior_scale)
        return {
            "growth": self.growth,
            "yearly_seasonality": self.yearly_seasonality,
            "weekly_seasonality": self.weekly_seasonality,
            "daily_seasonality": self.daily_seasonality,
            "changepoint_prior_scale": float(self.changepoint_prior_scale),
            "seasonality_mode": self.seasonality_mode,
            "uncertainty_samples": 0,
        }

    def forecast_windows(self, returns, stats, dates=None) -> VolatilityForecast:
        z = np.atleast_2d(np.asarray(stats.z, dtype=np.float64))
        n, width = z.shape
        if width < 2:
            raise ModelError(f"prophet: a window of {width} values is too short")
        if dates is None:
            dates = np.broadcast_to(pd.bdate_range("2000-01-03", periods=width).to_numpy(), (n, width))
        settings = self._settings()
        yhat = np.empty(n)
        rmse = np.empty(n)
        for i in range(n):
            window_dates = pd.DatetimeIndex(dates[i])
            model = fit_prophet(window_dates, z[i], settings, algorithm=self.algorithm)
            # One predict call for the fitted curve and the next day: the in-sample RMSE is the
            # RMSE column of Table V.
            curve = point_forecast(model, window_dates.append(business_days_after(window_dates[-1], 1)))
            yhat[i] = curve[-1]
            rmse[i] = float(np.sqrt(np.mean((z[i] - curve[:-1]) ** 2)))
        # Keep Prophet's value, but a volatility must be positive for VaR/CVaR: clip only a
        # negative (or zero) forecast, to a tiny positive number.
        volatility = np.where(yhat > MIN_VOLATILITY, yhat, MIN_VOLATILITY)
        return VolatilityForecast(volatility, {"yhat": yhat, "rmse": rmse})
