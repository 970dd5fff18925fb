"""The NNAR models: :class:`NNARForecaster` (prices) and :class:`NNARVolatility` (the VIX paper's NVF)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, cast

import numpy as np
import pandas as pd

from marketcast.errors import ModelError
from marketcast.models.base import Capabilities, Forecaster, IntervalForecast, VolatilityForecast, VolatilityModel
from marketcast.models.nnar.fit import NNARFit, nnetar, nnetar_forecast, nnetar_intervals, nnetar_simulate
from marketcast.models.nnar.network import n_weights

__all__ = ["VOLATILITY_FLOOR", "NNARForecaster", "NNARVolatility"]

#: Volatility forecasts are clipped from below at this value (see NNARVolatility).
VOLATILITY_FLOOR = 1e-12


def _check_hyper(model) -> None:
    if model.p is not None and int(model.p) < 1:
        raise ModelError(f"nnar: p must be at least 1 (or None for automatic), got {model.p}")
    if model.size is not None and int(model.size) < 1:
        raise ModelError(f"nnar: size must be at least 1 (or None for automatic), got {model.size}")
    if int(model.repeats) < 1:
        raise ModelError(f"nnar: repeats must be at least 1, got {model.repeats}")
    if int(model.maxit) < 0:
        raise ModelError(f"nnar: maxit must be >= 0, got {model.maxit}")
    if float(model.decay) < 0:
        raise ModelError(f"nnar: decay must be >= 0, got {model.decay}")
    if int(getattr(model, "npaths", 2)) < 2:
        raise ModelError(f"nnar: npaths must be at least 2, got {model.npaths}")


def _entropy(seed) -> int:
    """A seed as given, or fresh entropy for None (stored so that a fit can be reproduced)."""
    if seed is None:
        return cast(int, np.random.SeedSequence().entropy)  # an int when drawn, not given
    if isinstance(seed, (int, np.integer)) and int(seed) >= 0:
        return int(seed)
    raise ModelError(f"nnar: seed must be a non-negative integer or None, got {seed!r}")


class NNARForecaster(Forecaster):
    """NNAR(p, size) price forecaster: a port of R's ``forecast::nnetar`` (see the module docstring).

    Parameters
    ----------
    p : int, optional
        Lags used as inputs; by default the AIC order of a Yule-Walker AR fit (at least 1).
    size : int, optional
        Hidden units; by default ``round((p + 1) / 2)``.
    repeats : int
        Networks averaged (20).
    maxit : int
        BFGS iterations per network (nnet's 100).
    decay : float
        Weight decay (0).
    bootstrap : bool
        Intervals from resampled residuals instead of normal innovations.
    npaths : int
        Simulated paths for the intervals (1000).
    seed : int or None
        Initial weights come from ``numpy.random.default_rng(seed)``; the interval simulations
        from the first child of ``SeedSequence(seed)``. None draws fresh entropy at fit time and
        keeps it in ``seed_``.
    """

    name = "nnar"
    capabilities = Capabilities(recursive=True, stochastic=True, native_intervals=True)

    def __init__(
        self,
        p: int | None = None,
        size: int | None = None,
        repeats: int = 20,
        maxit: int = 100,
        decay: float = 0.0,
        bootstrap: bool = False,
        npaths: int = 1000,
        seed: int | None = 0,
    ):
        self.p = p
        self.size = size
        self.repeats = repeats
        self.maxit = maxit
        self.decay = decay
        self.bootstrap = bootstrap
        self.npaths = npaths
        self.seed = seed

    def min_history(self, horizon: int = 1) -> int:
        return max(3, int(self.p) + 2) if self.p is not None else 3

    def _fit(self, y: pd.Series) -> None:
        _check_hyper(self)
        self.seed_ = _entropy(self.seed)
        self.fit_ = nnetar(
            y.to_numpy(dtype=np.float64),
            self.p,
            self.size,
            repeats=int(self.repeats),
            maxit=int(self.maxit),
            decay=float(self.decay),
            rng=np.random.default_rng(self.seed_),
        )
        self.p_ = self.fit_.p
        self.size_ = self.fit_.size

    def _predict(self, horizon: int) -> np.ndarray:
        return nnetar_forecast(self.fit_, horizon)

    def _condition(self, y: pd.Series) -> None:
        # The networks and their scaling stay; only the lags they start from are the new series'.
        self.fit_ = replace(self.fit_, tail=self.fit_.scaled_tail(y.to_numpy(dtype=np.float64)))

    def _simulation_rng(self) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence(self.seed_).spawn(1)[0])

    def _predict_interval(self, horizon: int, levels: tuple[float, ...]) -> IntervalForecast:
        return nnetar_intervals(
            self.fit_, horizon, levels, int(self.npaths), rng=self._simulation_rng(), bootstrap=bool(self.bootstrap)
        )

    def simulate(self, horizon: int, npaths: int | None = None) -> np.ndarray:
        """Future sample paths, shape ``(npaths, horizon)`` (``simulate.nnetar``)."""
        self.predict(1)  # raises NotFittedError when not fitted
        return nnetar_simulate(
            self.fit_, horizon, int(npaths or self.npaths), rng=self._simulation_rng(), bootstrap=bool(self.bootstrap)
        )

    def _get_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        f = self.fit_
        arrays = {"weights": f.weights, "tail": f.tail, "residuals": f.residuals, "fmin": f.fmin, "fail": f.fail}
        meta = {"p": f.p, "size": f.size, "center": f.center, "scale": f.scale, "seed": self.seed_}
        return arrays, meta

    def _set_state(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        f64 = lambda key: np.array(arrays[key], dtype=np.float64)  # noqa: E731
        self.fit_ = NNARFit(
            p=int(meta["p"]),
            size=int(meta["size"]),
            center=float(meta["center"]),
            scale=float(meta["scale"]),
            weights=f64("weights"),
            tail=f64("tail"),
            residuals=f64("residuals"),
            fmin=f64("fmin"),
            fail=np.array(arrays["fail"], dtype=int),
        )
        if self.fit_.weights.shape != (self.fit_.weights.shape[0], n_weights(self.fit_.p, self.fit_.size)):
            raise ModelError("nnar: saved weights do not match p and size")
        self.seed_ = int(meta["seed"])
        self.p_ = self.fit_.p
        self.size_ = self.fit_.size


def _window_seeds(seed: int, m: int, dates) -> list[np.random.SeedSequence]:
    """Independent, reproducible seeds for ``m`` windows.

    With dates, a window's seed is keyed by the date of its last return, so a day's forecast is
    the same whether it is computed alone or inside any rolling run; without dates, by position.
    """
    if dates is None:
        return np.random.SeedSequence(seed).spawn(m)
    last = pd.DatetimeIndex(np.asarray(dates)[:, -1])
    return [np.random.SeedSequence(seed, spawn_key=(int(d.toordinal()),)) for d in last]


class NNARVolatility(VolatilityModel):
    """Neuro volatility forecasts (NVF): ``nnetar`` on each window's sample volatilities.

    Algorithm 2 of the VIX paper: fit NNAR to :math:`Z_1..Z_k` (:func:`marketcast.stats.sample_volatility`)
    and return its one-step forecast. ``extra`` carries each window's ``p``, ``size`` and the
    in-sample ``rmse`` (Table V's NN RMSE column). Hyper-parameters as :class:`NNARForecaster`,
    less the interval simulation's (one-step point forecasts need none). Each window draws its weights from its own seed derived from ``seed``:
    ``SeedSequence(seed, spawn_key=(d,))`` with ``d`` the proleptic ordinal of the date of the
    window's last return, or ``SeedSequence(seed).spawn(n)`` by position when no dates are
    given. Windows are independent, and a day's forecast is the same whether it is computed
    alone (:meth:`fit`) or inside any rolling run.
    """

    capabilities = Capabilities(
        stochastic=True, split_safe=True, window_parallel=True
    )  # each window on its own, ~0.2 s

    name = "nnar"

    def __init__(
        self,
        p: int | None = None,
        size: int | None = None,
        repeats: int = 20,
        maxit: int = 100,
        decay: float = 0.0,
        seed: int | None = 0,
    ):
        self.p = p
        self.size = size
        self.repeats = repeats
        self.maxit = maxit
        self.decay = decay
        self.seed = seed

    def forecast_windows(self, returns, stats, dates=None) -> VolatilityForecast:
        _check_hyper(self)
        z = np.atleast_2d(np.asarray(stats.z, dtype=np.float64))
        m = z.shape[0]
        seeds = _window_seeds(_entropy(self.seed), m, dates)
        vol = np.empty(m)
        p = np.empty(m, dtype=int)
        size = np.empty(m, dtype=int)
        rmse = np.empty(m)
        for i in range(m):
            fit = nnetar(
                z[i],
                self.p,
                self.size,
                repeats=int(self.repeats),
                maxit=int(self.maxit),
                decay=float(self.decay),
                rng=np.random.default_rng(seeds[i]),
            )
            vol[i] = nnetar_forecast(fit, 1)[0]
            p[i], size[i], rmse[i] = fit.p, fit.size, fit.rmse()
        # A neural net is not constrained to positive outputs; a negative volatility would make
        # VaR and CVaR meaningless, so such forecasts are clipped to a tiny positive value.
        np.maximum(vol, VOLATILITY_FLOOR, out=vol)
        return VolatilityForecast(vol, {"p": p, "size": size, "rmse": rmse})
