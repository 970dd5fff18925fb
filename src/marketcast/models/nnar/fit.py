"""``nnetar``: scaling, order, the networks' fit, and the fitted model's forecasts and simulated intervals."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from marketcast.errors import DataError, ModelError
from marketcast.models.base import IntervalForecast, check_levels
from marketcast.models.nnar.network import _Net, fit_nnets, nnet_outputs
from marketcast.models.nnar.order import lag_matrix, nnetar_order, nnetar_size

__all__ = ["NNARFit", "nnetar", "nnetar_forecast", "nnetar_simulate", "nnetar_intervals"]

logger = logging.getLogger("marketcast.models.nnar")


@dataclass
@dataclass
class NNARFit:
    """A fitted NNAR(p, size): what ``nnetar`` returns, on the scaled series.

    Attributes
    ----------
    p, size : int
        Lags and hidden units.
    center, scale : float
        The series was modelled as ``(x - center) / scale``.
    weights : ndarray, shape (repeats, n_weights)
        The networks, in nnet's weight order.
    tail : ndarray, shape (p,)
        The last ``p`` scaled values, oldest first: where forecasts start.
    residuals : ndarray, shape (n - p,)
        Scaled in-sample one-step residuals (``residuals(fit) / scale`` in R).
    fmin, fail : ndarray, shape (repeats,)
        Final sum of squares and ``vmmin`` failure code of each network.
    """

    p: int
    size: int
    center: float
    scale: float
    weights: np.ndarray
    tail: np.ndarray
    residuals: np.ndarray
    fmin: np.ndarray
    fail: np.ndarray

    @property
    def repeats(self) -> int:
        return int(self.weights.shape[0])

    def rmse(self) -> float:
        """In-sample RMSE on the original scale (``accuracy(fit)``; the NN RMSE column of Table V)."""
        return float(np.sqrt(np.mean(self.residuals**2)) * self.scale)

    def scaled_tail(self, history: np.ndarray | None) -> np.ndarray:
        """The last ``p`` values of ``history`` (original scale) on the model's scale, or :attr:`tail`."""
        if history is None:
            return self.tail
        h = np.asarray(history, dtype=np.float64).ravel()
        if h.size < self.p or not np.isfinite(h[-self.p :]).all():
            raise DataError(f"nnar: need the last {self.p} finite values to forecast, got {h.size}")
        return (h[-self.p :] - self.center) / self.scale


def nnetar(
    y: np.ndarray,
    p: int | None = None,
    size: int | None = None,
    *,
    repeats: int = 20,
    maxit: int = 100,
    decay: float = 0.0,
    rng: np.random.Generator | int | None = None,
    scale_inputs: bool = True,
) -> NNARFit:
    """Fit R's ``nnetar(y, p, size, repeats, decay=, maxit=)`` to a non-seasonal series.

    See the module docstring for the steps. ``rng`` draws the initial weights (a Generator, a
    seed, or None for fresh entropy).
    """
    x = np.asarray(y, dtype=np.float64).ravel()
    n = x.size
    if n < 3:
        raise DataError(f"nnar: {n} values, not enough data to fit a model (need at least 3)")
    if not np.isfinite(x).all():
        raise DataError("nnar: the series has missing or infinite values")
    constant = bool(np.all(x == x[0]))
    if scale_inputs and not constant:
        center, scale = float(x.mean()), float(x.std(ddof=1))
    else:  # nnetar does not scale constant data (and fits p = 1)
        center, scale = 0.0, 1.0
    xs = (x - center) / scale
    if p is None:
        p = 1 if constant else nnetar_order(xs)
    p = int(p)
    if p < 1:
        raise ModelError(f"nnar: p must be at least 1, got {p}")
    if p >= n:
        logger.warning("nnar: reducing number of lagged inputs from %d to %d due to short series", p, n - 1)
        p = n - 1
    size = nnetar_size(p) if size is None else int(size)
    if size < 1:
        raise ModelError(f"nnar: size must be at least 1, got {size}")
    if repeats < 1:
        raise ModelError(f"nnar: repeats must be at least 1, got {repeats}")
    lags, target = lag_matrix(xs, p)
    res = fit_nnets(lags, target, size, repeats=repeats, rng=rng, maxit=maxit, decay=decay)
    fitted = nnet_outputs(res.x, lags, size).mean(axis=0)
    return NNARFit(
        p=p,
        size=size,
        center=center,
        scale=scale,
        weights=res.x,
        tail=xs[n - p :].copy(),
        residuals=target - fitted,
        fmin=np.asarray(res.fmin),
        fail=np.asarray(res.fail),
    )


def _step_means(net: _Net, weights: np.ndarray, state: np.ndarray, horizon: int, innov: np.ndarray | None):
    """Recursive forecasting on the scaled series: ``state`` is (paths, p), newest lag first."""
    paths = state.shape[0]
    out = np.empty((paths, horizon))
    for h in range(horizon):
        net.set_inputs(state)
        value = net.outputs(weights).mean(axis=0)  # average of the networks
        if innov is not None:
            value += innov[:, h]
        out[:, h] = value
        if net.p > 1:
            state[:, 1:] = state[:, :-1].copy()
        state[:, 0] = value
    return out


def _recursive(fit: NNARFit, start: np.ndarray, horizon: int, innov: np.ndarray | None, paths: int) -> np.ndarray:
    state = np.tile(start[::-1], (paths, 1))  # newest first: lag 1, ..., lag p
    net = _Net(state, None, fit.size, max_nets=fit.repeats)
    return _step_means(net, fit.weights, state, horizon, innov)


def nnetar_forecast(fit: NNARFit, horizon: int, history: np.ndarray | None = None) -> np.ndarray:
    """Point forecasts ``forecast(fit, h)$mean``: averaged networks, recursive, unscaled.

    ``history`` (original scale) replaces the fitted series' end, as ``nnetar(y, model=fit)``
    applies a fitted model to new data.
    """
    if int(horizon) < 1:
        raise ModelError(f"horizon must be at least 1, got {horizon}")
    z = _recursive(fit, fit.scaled_tail(history), int(horizon), None, 1)[0]
    return z * fit.scale + fit.center


def nnetar_simulate(
    fit: NNARFit,
    horizon: int,
    npaths: int = 1000,
    *,
    rng: np.random.Generator | int | None = None,
    bootstrap: bool = False,
    history: np.ndarray | None = None,
) -> np.ndarray:
    """Future sample paths like ``simulate.nnetar(future=TRUE)``, all paths at once: ``(npaths, horizon)``.

    Each step is the networks' average plus an innovation: normal with the standard deviation
    (``ddof=1``) of the scaled residuals, or, with ``bootstrap``, a residual minus their mean
    drawn with replacement.
    """
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    horizon, npaths = int(horizon), int(npaths)
    res = fit.residuals
    if bootstrap:
        pool = res - res.mean()
        innov = gen.choice(pool, size=(npaths, horizon), replace=True)
    else:
        sd = float(res.std(ddof=1)) if res.size > 1 else 0.0
        innov = gen.normal(0.0, sd, size=(npaths, horizon))
    z = _recursive(fit, fit.scaled_tail(history), horizon, innov, npaths)
    return z * fit.scale + fit.center


def nnetar_intervals(
    fit: NNARFit,
    horizon: int,
    levels=(0.8, 0.95),
    npaths: int = 1000,
    *,
    rng: np.random.Generator | int | None = None,
    bootstrap: bool = False,
    history: np.ndarray | None = None,
) -> IntervalForecast:
    """``forecast(fit, h, PI=TRUE, level=, npaths=, bootstrap=)``: point forecasts and simulated intervals.

    The bounds of level :math:`L` are the quantiles :math:`(1 \\mp L)/2` of the simulated
    paths at each step, of R's type 8 (NumPy's ``median_unbiased``), as ``forecast.nnetar``.
    ``extra["sd"]`` is the standard deviation of the paths.
    """
    levels = check_levels(levels)
    point = nnetar_forecast(fit, horizon, history)
    sim = nnetar_simulate(fit, horizon, npaths, rng=rng, bootstrap=bootstrap, history=history)
    probs = np.concatenate([[0.5 - lv / 2 for lv in levels], [0.5 + lv / 2 for lv in levels]])
    q = np.quantile(sim, probs, axis=0, method="median_unbiased")
    nl = len(levels)
    lower = {lv: q[i] for i, lv in enumerate(levels)}
    upper = {lv: q[nl + i] for i, lv in enumerate(levels)}
    return IntervalForecast(point=point, lower=lower, upper=upper, extra={"sd": sim.std(axis=0, ddof=1)})
