r"""Neural network autoregression: a NumPy port of R's ``forecast::nnetar`` (non-seasonal).

The VIX paper (Thavaneswaran et al., section III.B, Algorithm 2) fits ``nnetar`` to the sample
volatilities :math:`Z_t` of each 504-return window and takes its one-step forecast as the neuro
volatility forecast (NVF, Table V). This module reproduces what ``nnetar`` and
``forecast.nnetar`` do, step by step (Hyndman & Athanasopoulos, *Forecasting: Principles and
Practice*, 3rd ed., section 12.4 "Neural network models"; the R sources of ``forecast`` and
of Venables & Ripley's ``nnet``):

1. **Scaling** (``scale.inputs=TRUE``): the series is centred by its mean and divided by its
   standard deviation (``ddof=1``); targets and lags are on that scale.
2. **Order** (:func:`nnetar_order`): ``p`` is the order of the AR model that
   ``ar(x)`` picks: Yule-Walker with AIC, ``order.max = min(N-1, floor(10 log10 N))``
   (:func:`ar_yule_walker`, a port of ``stats::ar.yw`` and its Levinson-Durbin routine
   ``eureka.f``); at least 1. ``size = round((p + 1) / 2)`` hidden units, rounding halves to
   even as R does (:func:`nnetar_size`).
3. **Networks** (:func:`fit_nnets`): ``repeats = 20`` networks with ``p`` inputs (lags 1..p),
   one hidden layer of ``size`` logistic units (nnet's sigmoid, flat beyond :math:`\pm 15`), a
   linear output, no skip layer, initial weights uniform on :math:`[-0.7, 0.7]` (``rang``), each
   fitted by minimising the sum of squared errors (plus ``decay`` times the squared weights)
   with BFGS (:func:`vmmin`, a port of R's ``vmmin`` from ``src/appl/optim.c`` with nnet's
   settings ``maxit=100, abstol=1e-4, reltol=1e-8``) and the analytic gradient of
   :func:`nnet_sse` (nnet's ``fpass``/``bpass``).
4. **Forecasts** (:func:`nnetar_forecast`): the average of the 20 networks' outputs, unscaled;
   multi-step forecasts are recursive, each forecast fed back as the newest lag.
5. **Intervals** (:func:`nnetar_intervals`): like ``forecast.nnetar(PI=TRUE)``: ``npaths``
   future paths (:func:`nnetar_simulate`) with normal innovations of the residual standard
   deviation (or resampled centred residuals, ``bootstrap=True``), quantiles of type 8.

What differs from R
-------------------
* Random numbers come from NumPy (``numpy.random.default_rng``), not R's Mersenne-Twister,
  so single networks (and the simulated paths) differ from R's; the distribution of the
  averaged forecast over seeds is the same.
* The 20 BFGS runs are executed in lockstep, vectorised across networks (one batched forward
  and backward pass per line-search step, for the networks that need one). Lockstep changes
  nothing: every network follows its own ``vmmin`` path and ends where a run on it alone
  ends. Against the C code only the floating-point summation order differs (same steps, same
  counts); on the non-convex objective such rounding differences can grow over 100
  iterations, so single weights match R's arithmetic approximately, not bit for bit.
* The networks' forward and backward passes run in C (``_nnet_kernel.c``: each hidden unit's
  row computed, squashed and used while it is in cache, about a third faster per forecast
  than the NumPy passes of :class:`_Net`, which remain as its reference and fallback;
  ``MARKETCAST_NNET_KERNEL=numpy`` selects them). The two agree to about 1e-15.
* The inverse-Hessian update keeps the full symmetric matrix rather than R's lower triangle,
  written so that it stays exactly symmetric.
* nnet refuses networks with more than ``MaxNWts = 1000`` weights; this port does not.
* Missing values are not interpolated (``na.interp``): the series must be finite.

The numeric core is plain functions; :class:`NNARForecaster` (prices) and
:class:`NNARVolatility` (Algorithm 2 of the VIX paper) are thin wrappers.
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass, replace
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from marketcast.errors import DataError, ModelError
from marketcast.models.base import (
    Forecaster,
    IntervalForecast,
    VolatilityForecast,
    VolatilityModel,
    check_levels,
)

__all__ = [
    "eureka",
    "ARFit",
    "ar_yule_walker",
    "nnetar_order",
    "nnetar_size",
    "lag_matrix",
    "n_weights",
    "nnet_outputs",
    "nnet_sse",
    "VmminResult",
    "vmmin",
    "fit_nnets",
    "NNARFit",
    "nnetar",
    "nnetar_forecast",
    "nnetar_simulate",
    "nnetar_intervals",
    "NNARForecaster",
    "NNARVolatility",
]

logger = logging.getLogger(__name__)

#: nnet's defaults, as ``nnetar`` leaves them: initial weights on [-rang, rang], BFGS tolerances.
RANG = 0.7
ABSTOL = 1.0e-4
RELTOL = 1.0e-8

# vmmin's constants (R src/appl/optim.c).
_STEPREDN = 0.2
_ACCTOL = 1.0e-4
_RELTEST = 10.0

#: Volatility forecasts are clipped from below at this value (see NNARVolatility).
VOLATILITY_FLOOR = 1e-12


if hasattr(np, "vecdot"):  # NumPy >= 2.0: a ufunc, several times faster than einsum here
    _rowdot = np.vecdot
else:  # pragma: no cover

    def _rowdot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Row-wise dot products of two ``(k, n)`` arrays."""
        return np.einsum("ki,ki->k", a, b)


# --------------------------------------------------------------------------------------------
# Order selection: stats::ar.yw with AIC
# --------------------------------------------------------------------------------------------


def eureka(r: np.ndarray, order_max: int) -> tuple[np.ndarray, np.ndarray]:
    """Levinson-Durbin solution of the Yule-Walker equations for orders 1..``order_max``.

    A line-by-line port of R's ``eureka.f`` (B. D. Ripley, 1977), called by ``ar.yw`` with the
    autocovariances as both ``r`` and ``g``.

    Parameters
    ----------
    r : ndarray, shape (order_max + 1,)
        Autocovariances :math:`r_0, \\dots, r_{order\\_max}`.
    order_max : int
        Highest order.

    Returns
    -------
    coefs : ndarray, shape (order_max, order_max)
        Row ``k - 1`` holds the AR(k) coefficients in its first ``k`` entries; the diagonal is the
        partial autocorrelation function.
    var : ndarray, shape (order_max,)
        Innovation variances :math:`r_0 \\prod_{j \\le k} (1 - \\phi_{jj}^2)` of the AR(k) fits.
    """
    r = np.asarray(r, dtype=np.float64)
    lr = int(order_max)
    if lr < 1 or r.size < lr + 1:
        raise ModelError(f"eureka: need order_max >= 1 and {lr + 1} autocovariances, got {r.size}")
    g = r
    f = np.zeros((lr, lr))
    var = np.zeros(lr)
    a = np.zeros(lr)
    # Fortran's 1-based a(i), f(i, j), r(i) are a[i-1], f[i-1, j-1], r[i-1] here.
    v = r[0]
    d = r[1]
    a[0] = 1.0
    f[0, 0] = g[1] / v
    q = f[0, 0] * r[1]
    var[0] = (1 - f[0, 0] * f[0, 0]) * r[0]
    if lr == 1:
        return f, var
    for l in range(2, lr + 1):
        a[l - 1] = -d / v
        if l > 2:
            l1 = (l - 2) // 2
            l2 = l1 + 1
            for j in range(2, l2 + 1):
                hold = a[j - 1]
                k = l - j + 1
                a[j - 1] = a[j - 1] + a[l - 1] * a[k - 1]
                a[k - 1] = a[k - 1] + a[l - 1] * hold
            if 2 * l1 != l - 2:
                a[l2] = a[l2] * (1.0 + a[l - 1])
        v = v + a[l - 1] * d
        f[l - 1, l - 1] = (g[l] - q) / v
        for j in range(1, l):
            f[l - 1, j - 1] = f[l - 2, j - 1] + f[l - 1, l - 1] * a[l - j]
        # the innovations variance
        var[l - 1] = var[l - 2] * (1 - f[l - 1, l - 1] * f[l - 1, l - 1])
        if l == lr:
            return f, var
        d = 0.0
        q = 0.0
        for i in range(1, l + 1):
            k = l - i + 2
            d = d + a[i - 1] * r[k - 1]
            q = q + f[l - 1, i - 1] * r[k - 1]
    return f, var


@dataclass(frozen=True)
class ARFit:
    """An AR model fitted by Yule-Walker (the fields of R's ``ar`` object that matter here).

    ``aic`` holds R's AIC differences from the minimum for orders 0..``order_max``;
    ``var_pred`` is the innovation variance of the chosen order with R's
    :math:`N / (N - (p + 1))` correction.
    """

    order: int
    ar: np.ndarray
    var_pred: float
    x_mean: float
    aic: np.ndarray
    order_max: int


def ar_yule_walker(x: np.ndarray, order_max: int | None = None, aic: bool = True) -> ARFit:
    r"""Port of R's ``ar.yw`` (univariate, ``demean=TRUE``): AR order by AIC, Yule-Walker fit.

    The series is demeaned, the biased autocovariances :math:`r_k = \frac1N\sum_t x_t x_{t+k}`
    go through :func:`eureka`, and, as in R,

    .. math:: \mathrm{AIC}_k = N \log \hat\sigma^2_k + 2k + 2, \qquad
              \hat\sigma^2_k = r_0 \prod_{j \le k} (1 - \phi_{jj}^2),

    minimised over :math:`k = 0..\text{order\_max}` with
    ``order_max = min(N - 1, floor(10 log10 N))``. R applies the small-sample factor
    :math:`N/(N - (k+1))` only to the chosen order's ``var.pred``, after the selection, and so
    does this port.
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    n = x.size
    if n < 2 or not np.isfinite(x).all():
        raise DataError(f"ar: need at least 2 finite values, got {n}")
    x_mean = float(x.mean())
    xc = x - x_mean
    if order_max is None:
        order_max = min(n - 1, int(np.floor(10.0 * np.log10(n))))
    order_max = int(np.floor(order_max))
    if order_max < 1:
        raise ModelError("ar: 'order.max' must be >= 1")
    if order_max >= n:
        raise ModelError("ar: 'order.max' must be < 'n.obs'")
    r = np.array([xc[: n - k] @ xc[k:] for k in range(order_max + 1)]) / n
    if r[0] == 0:
        raise DataError("ar: zero-variance series")
    coefs, var = eureka(r, order_max)
    var_pred = np.concatenate(([r[0]], var))
    with np.errstate(divide="ignore", invalid="ignore"):
        xaic = n * np.log(var_pred) + 2.0 * np.arange(order_max + 1) + 2.0
    clean = np.where(np.isnan(xaic), np.inf, xaic)
    # R takes the order where xaic == min(xaic) (the first one here, should two tie).
    order = int(np.argmin(clean)) if aic else order_max
    maic = clean.min()
    rel = xaic - maic if np.isfinite(maic) else np.where(xaic == maic, 0.0, np.inf)
    ar = coefs[order - 1, :order].copy() if order else np.empty(0)
    vp = float(var_pred[order] * n / (n - (order + 1)))
    return ARFit(order=order, ar=ar, var_pred=vp, x_mean=x_mean, aic=rel, order_max=order_max)


def nnetar_order(x: np.ndarray) -> int:
    """nnetar's default ``p`` for a non-seasonal series: ``max(length(ar(x)$ar), 1)``, below N."""
    x = np.asarray(x, dtype=np.float64)
    p = max(ar_yule_walker(x).order, 1)
    return min(p, x.size - 1)


def nnetar_size(p: int) -> int:
    """nnetar's default number of hidden units, ``round((p + 1) / 2)``.

    R rounds halves to even (IEC 60559): ``round(1.5) == 2`` but ``round(2.5) == 2``, so
    p = 1, 2, 3, 4, 5 give 1, 2, 2, 2, 3. Python's :func:`round` does the same.
    """
    return max(1, int(round((int(p) + 1) / 2)))


def lag_matrix(x: np.ndarray, p: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and targets of an NNAR(p): row t is :math:`(x_{t-1}, \\dots, x_{t-p})`, target :math:`x_t`.

    As nnetar's ``lags.X``: column ``i`` is lag ``i + 1``; ``len(x) - p`` rows.
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.size
    if not 1 <= p < n:
        raise ModelError(f"nnar: p = {p} lags need a longer series than {n} values")
    windows = np.lib.stride_tricks.sliding_window_view(x[:-1], p)  # (n - p, p), oldest first
    return np.ascontiguousarray(windows[:, ::-1]), x[p:].copy()


# --------------------------------------------------------------------------------------------
# The networks: nnet's fpass/bpass, batched over networks
# --------------------------------------------------------------------------------------------


def n_weights(p: int, size: int) -> int:
    """Weights of a p-size-1 network with linear output, no skip layer: ``size*(p+1) + size + 1``."""
    return int(size) * (int(p) + 1) + int(size) + 1


@functools.lru_cache(maxsize=1)
def _nnet_kernel_module():
    try:
        from marketcast.models import _nnet_kernel
    except ImportError:  # built without a C compiler: the NumPy passes serve
        return None
    return _nnet_kernel


def _nnet_kernel():
    """The C passes of :class:`_Net` (``_nnet_kernel.c``), unless absent or ``MARKETCAST_NNET_KERNEL=numpy``."""
    if os.environ.get("MARKETCAST_NNET_KERNEL", "").strip().lower() == "numpy":
        return None
    return _nnet_kernel_module()


class _Net:
    """Forward and backward passes of ``m`` networks on one data set, with reusable buffers.

    Weights are in nnet's order (by destination unit): for each hidden unit its bias and the
    ``p`` input weights, then the output unit's bias and the ``size`` hidden weights. Shapes:
    ``w`` is ``(m, n_weights)``, inputs ``x`` are ``(N, p)``. Calling the object gives nnet's
    objective and gradient for every row of ``w`` (``fminfn``/``fmingr``, i.e. ``fpass`` and
    ``bpass`` summed over the training rows).
    """

    def __init__(self, x: np.ndarray, y: np.ndarray | None, size: int, decay: float = 0.0, max_nets: int = 1):
        x = np.asarray(x, dtype=np.float64)
        n, p = x.shape
        self.p, self.size, self.n = p, int(size), n
        self.nh = self.size * (p + 1)
        self.nw = self.nh + self.size + 1
        self.x1 = np.empty((n, p + 1))  # [1, x]: the bias unit is unit 0 in nnet
        self.x1[:, 0] = 1.0
        self.x1[:, 1:] = x
        self.x1t = np.ascontiguousarray(self.x1.T)
        self.y = None if y is None else np.asarray(y, dtype=np.float64)
        self.decay = float(decay)
        self._alloc(max(1, int(max_nets)))

    def _alloc(self, m: int) -> None:
        self.cap = m
        self._a = np.empty((m, self.size, self.n))
        self._d = np.empty_like(self._a)
        self._out = np.empty((m, 1, self.n))
        self._gw1 = np.empty((m, self.size, self.p + 1))
        self._gw2 = np.empty((m, self.size, 1))

    def set_inputs(self, x: np.ndarray) -> None:
        """Replace the inputs by ``x`` of the same shape (the recursive forecasts)."""
        self.x1[:, 1:] = x
        self.x1t[1:, :] = x.T

    def _forward(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Hidden activations ``(m, size, N)`` and outputs ``(m, N)``: views of the buffers."""
        m = w.shape[0]
        if m > self.cap:
            self._alloc(m)
        size, n = self.size, self.n
        a, out = self._a[:m], self._out[:m]
        # a = -(inputs of the hidden units), one matrix product for all networks; negating
        # the weights first is exact.
        w1 = np.negative(w[:, : self.nh]).reshape(m * size, self.p + 1)
        np.matmul(w1, self.x1t, out=a.reshape(m * size, n))
        # nnet's sigmoid: 1/(1 + exp(-z)), but exactly 0 for z < -15 and 1 for z > 15. Dividing
        # -z by the indicator of |z| <= 15 sends the saturated units to -z = +-inf, where the
        # formula gives exactly 0 and 1 (and the rest is divided by 1, exactly).
        inside = self._d[:m]
        np.abs(a, out=inside)
        np.less_equal(inside, 15.0, out=inside)
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            np.divide(a, inside, out=a)
            np.exp(a, out=a)
        a += 1.0
        np.divide(1.0, a, out=a)
        np.matmul(w[:, None, self.nh + 1 :], a, out=out)  # the linear output unit
        out += w[:, self.nh, None, None]
        return a, out[:, 0, :]

    def outputs(self, w: np.ndarray) -> np.ndarray:
        """Network outputs, shape ``(m, N)`` (a view of a buffer that the next call overwrites)."""
        kernel = _nnet_kernel()
        if kernel is None:
            return self._forward(w)[1]
        w = self._weights(w)
        out = self._out[: w.shape[0], 0, :]
        kernel.outputs(w.shape[0], self.size, self.p, self.n, w.ctypes.data, self.x1t.ctypes.data,
                       self._a.ctypes.data, out.ctypes.data)
        return out

    def _weights(self, w: np.ndarray) -> np.ndarray:
        """``w`` as the C kernel reads it (C-contiguous float64), with the buffers grown to fit."""
        w = np.ascontiguousarray(w, dtype=np.float64)
        if w.shape[0] > self.cap:
            self._alloc(w.shape[0])
        return w

    def __call__(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sum of squared errors (plus decay) and its gradient for each row of ``w``."""
        kernel = _nnet_kernel()
        if kernel is not None:  # the same sums in one pass per hidden unit (_nnet_kernel.c)
            w = self._weights(w)
            m = w.shape[0]
            f, grad = np.empty(m), np.empty((m, self.nw))
            kernel.sse(m, self.size, self.p, self.n, w.ctypes.data, self.x1t.ctypes.data, self.y.ctypes.data,
                       self._a.ctypes.data, self._out.ctypes.data, f.ctypes.data, grad.ctypes.data)
        else:
            f, grad = self._sse_numpy(w)
        if self.decay:
            f += self.decay * np.einsum("kw,kw->k", w, w)
            grad += (2.0 * self.decay) * w
        return f, grad

    def _sse_numpy(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`__call__` without decay, in NumPy: the reference of the C kernel, and its fallback."""
        m = w.shape[0]
        size = self.size
        a, e = self._forward(w)
        e -= self.y  # residuals, in place in the output buffer
        f = _rowdot(e, e)
        e *= 2.0  # dE/d(output) = 2 (output - target)
        grad = np.empty((m, self.nw))
        grad[:, self.nh] = e.sum(axis=1)  # output bias
        gw2 = self._gw2[:m]
        np.matmul(a, e[:, :, None], out=gw2)  # hidden -> output weights
        grad[:, self.nh + 1 :] = gw2[:, :, 0]
        # Hidden units: delta = dE/d(output) * w_out * a (1 - a); gradient = delta * (1, x).
        d = self._d[:m]
        np.subtract(1.0, a, out=d)
        d *= a
        d *= e[:, None, :]
        gw1 = self._gw1[:m]
        np.matmul(d.reshape(m * size, self.n), self.x1, out=gw1.reshape(m * size, self.p + 1))
        gw1 *= w[:, self.nh + 1 :, None]
        grad[:, : self.nh] = gw1.reshape(m, self.nh)
        return f, grad


def nnet_outputs(weights: np.ndarray, x: np.ndarray, size: int) -> np.ndarray:
    """Outputs of networks ``weights`` (shape ``(k, n_weights)``) on inputs ``x`` (``(N, p)``): ``(k, N)``."""
    w = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    return _Net(np.atleast_2d(x), None, size, max_nets=w.shape[0]).outputs(w).copy()


def nnet_sse(weights: np.ndarray, x: np.ndarray, y: np.ndarray, size: int, decay: float = 0.0):
    r"""nnet's least-squares objective and its analytic gradient (``fminfn`` and ``fmingr``).

    .. math:: E(w) = \sum_t \bigl(y_t - \hat y_t(w)\bigr)^2 + \lambda \sum_i w_i^2

    for networks with one logistic hidden layer and a linear output. ``weights`` may be one
    vector or a stack ``(k, n_weights)``; returns ``(f, grad)`` of matching shapes.
    """
    w = np.asarray(weights, dtype=np.float64)
    single = w.ndim == 1
    w2 = np.atleast_2d(w)
    f, g = _Net(np.atleast_2d(x), y, size, decay, max_nets=w2.shape[0])(w2)
    return (float(f[0]), g[0]) if single else (f, g)


# --------------------------------------------------------------------------------------------
# vmmin: R's BFGS, run for a batch of problems in lockstep
# --------------------------------------------------------------------------------------------


@dataclass
class VmminResult:
    """Result of :func:`vmmin`, one entry per problem of the batch.

    ``fail`` is R's ``ifail`` (and nnet's ``convergence``): 1 when ``maxit`` iterations were
    used, else 0. ``iterations`` counts gradient evaluations as R's ``iter`` does.
    """

    x: np.ndarray
    fmin: np.ndarray
    fail: np.ndarray
    iterations: np.ndarray
    fncount: np.ndarray
    grcount: np.ndarray


def vmmin(
    fg: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    x0: np.ndarray,
    *,
    maxit: int = 100,
    abstol: float = ABSTOL,
    reltol: float = RELTOL,
) -> VmminResult:
    """Port of R's ``vmmin`` (``src/appl/optim.c``: J. C. Nash's Pascal code from *Compact
    Numerical Methods for Computers*, 2nd ed., 1990, re-crafted by B. D. Ripley), minimising a
    batch of problems at once.

    Each problem (row of ``x0``) follows R's algorithm exactly: a variable-metric (BFGS) update
    of an inverse Hessian approximation ``B``; search direction :math:`t = -Bg`; backtracking
    from step 1 by factors ``stepredn = 0.2`` until the Armijo condition
    :math:`f \\le f_{min} + \\text{acctol}\\, s\\, g^\\top t` (``acctol = 1e-4``) holds or no
    coordinate changes (``reltest = 10``: :math:`10 + x_i = 10 + x_i'`); ``B`` reset to the
    identity after an uphill direction, a failed curvature test :math:`D_1 \\le 0`, a stall or
    every :math:`2n` gradients; stop when ``f <= abstol``, when the relative change is at most
    ``reltol`` right after a reset, or after ``maxit`` iterations. R's defaults for ``optim``
    are ``abstol=-inf, reltol=1.49e-8``; nnet (and so these defaults) uses 1e-4 and 1e-8.

    The problems run in lockstep: each pass evaluates, in one call of ``fg``, every problem
    whose line search needs a new point. ``fg(x)`` takes ``(m, n)`` points and returns
    ``(f, grad)`` of shapes ``(m,)`` and ``(m, n)``; R evaluates the gradient only at
    accepted points, which gives the same numbers (``fg`` may compute both at once).

    Parameters
    ----------
    fg : callable
        Objective and gradient, vectorised over rows.
    x0 : ndarray, shape (n,) or (k, n)
        Starting points.
    maxit, abstol, reltol
        As in R.

    Returns
    -------
    VmminResult
        For a 1-D ``x0`` the fields are scalars (and ``x`` a vector).
    """
    b = np.array(x0, dtype=np.float64, copy=True)
    single = b.ndim == 1
    b = np.atleast_2d(b)
    k, n = b.shape

    def pack(fmin, fail, it, fnc, grc) -> VmminResult:
        if single:
            return VmminResult(b[0], float(fmin[0]), int(fail[0]), int(it[0]), int(fnc[0]), int(grc[0]))
        return VmminResult(b, fmin, fail, it, fnc, grc)

    if maxit <= 0:
        f0, _ = fg(b)
        zero = np.zeros(k, dtype=int)
        return pack(np.asarray(f0, dtype=np.float64).copy(), zero, zero, zero, zero)

    f_all, g_all = fg(b)
    f = np.array(f_all, dtype=np.float64)  # the last value computed, per problem (R's f)
    g = np.array(g_all, dtype=np.float64)  # the gradient at the last accepted point
    if not np.isfinite(f).all():
        raise ModelError("initial value in 'vmmin' is not finite")
    fmin = f.copy()
    funcount = np.ones(k, dtype=np.int64)
    gradcount = np.ones(k, dtype=np.int64)
    iters = np.ones(k, dtype=np.int64)
    ilast = gradcount.copy()
    B = np.empty((k, n, n))  # inverse Hessian approximations
    X = np.empty((k, n))  # the point a line search starts from
    c = np.empty((k, n))  # the gradient there
    t = np.empty((k, n))  # search directions
    step = np.ones(k)
    gradproj = np.zeros(k)
    searching = np.zeros(k, dtype=bool)
    eye = np.eye(n)

    def bottom(idx: np.ndarray, count_n: np.ndarray) -> np.ndarray:
        """The end of R's do-while body for problems ``idx``: which of them loop again."""
        go = iters[idx] < maxit
        idx, count_n = idx[go], count_n[go]
        gc = gradcount[idx]
        restart = gc - ilast[idx] > 2 * n  # periodic restart
        ilast[idx[restart]] = gc[restart]
        return idx[~count_n | (ilast[idx] != gc)]

    def top(idx: np.ndarray) -> None:
        """The start of R's do-while body: a new search direction for problems ``idx``."""
        while idx.size:
            reset = idx[ilast[idx] == gradcount[idx]]
            if reset.size:
                B[reset] = eye
            X[idx] = b[idx]
            gi = g[idx]
            c[idx] = gi
            ti = np.matmul(B[idx], gi[:, :, None])[:, :, 0]
            np.negative(ti, out=ti)
            t[idx] = ti
            gp = _rowdot(ti, gi)
            gradproj[idx] = gp
            down = gp < 0.0
            step[idx[down]] = 1.0
            searching[idx[down]] = True
            up = idx[~down]
            if not up.size:
                return
            # Uphill: stop if B was just reset, otherwise reset it and try again.
            just_reset = ilast[up] == gradcount[up]
            again = up[~just_reset]
            ilast[again] = gradcount[again]
            idx = bottom(up, just_reset)

    top(np.arange(k))
    while True:
        sidx = np.flatnonzero(searching)
        if not sidx.size:
            break
        # One step of every running line search: b = X + steplength * t.
        xs = X[sidx]
        trial = t[sidx]
        trial *= step[sidx, None]
        trial += xs
        b[sidx] = trial
        xs += _RELTEST
        unchanged = np.count_nonzero(xs == trial + _RELTEST, axis=1) == n
        moved = sidx[~unchanged]
        ended = sidx[unchanged]
        if moved.size:
            fv, gv = fg(trial[~unchanged])
            f[moved] = fv
            funcount[moved] += 1
            ok = np.isfinite(fv) & (fv <= fmin[moved] + gradproj[moved] * step[moved] * _ACCTOL)
            step[moved[~ok]] *= _STEPREDN
            if ok.any():
                ended = np.concatenate((moved[ok], ended))
                gnew = gv[ok]
            else:
                gnew = None
            count_n = np.zeros(ended.size, dtype=bool)
            count_n[ok.sum():] = True
        else:
            gnew = None
            count_n = np.ones(ended.size, dtype=bool)
        if not ended.size:
            continue
        searching[ended] = False
        # Stop if the value is small or its relative change low (R then sets count = n).
        fe, fm = f[ended], fmin[ended]
        enough = (fe > abstol) & (np.abs(fe - fm) > reltol * (np.abs(fm) + reltol))
        count_n |= ~enough
        fmin[ended] = np.where(enough, fm, fe)
        progress = ~count_n
        if progress.any():
            # Accepted points (first in `ended`): new gradient and BFGS update of B.
            idx = ended[progress]
            gi = gnew[progress[: gnew.shape[0]]]
            fmin[idx] = f[idx]
            gradcount[idx] += 1
            iters[idx] += 1
            ti = t[idx]
            ti *= step[idx, None]
            ci = gi - c[idx]
            g[idx] = gi
            d1 = _rowdot(ti, ci)
            upd = d1 > 0.0
            if upd.any():
                u, tu, cu, du = idx[upd], ti[upd], ci[upd], d1[upd]
                Bu = B[u]
                bc = np.matmul(Bu, cu[:, :, None])[:, :, 0]  # R's X = B c
                d2 = 1.0 + _rowdot(bc, cu) / du
                xt = bc[:, :, None] * tu[:, None, :]
                xt += xt.transpose(0, 2, 1)  # X t' + t X', exactly symmetric
                tt = tu[:, :, None] * tu[:, None, :]
                tt *= d2[:, None, None]
                tt -= xt
                tt /= du[:, None, None]
                Bu += tt
                B[u] = Bu
            ilast[idx[~upd]] = gradcount[idx[~upd]]  # D1 <= 0: reset next time
        # No progress: reset B and go on, unless it was just reset.
        stall = count_n & (ilast[ended] < gradcount[ended])
        count_n &= ~stall
        ilast[ended[stall]] = gradcount[ended[stall]]
        top(bottom(ended, count_n))

    fail = (iters >= maxit).astype(np.int64)
    return pack(fmin, fail, iters, funcount, gradcount)


def fit_nnets(
    x: np.ndarray,
    y: np.ndarray,
    size: int,
    *,
    repeats: int = 20,
    rng: np.random.Generator | int | None = None,
    maxit: int = 100,
    decay: float = 0.0,
    rang: float = RANG,
    abstol: float = ABSTOL,
    reltol: float = RELTOL,
    init: np.ndarray | None = None,
) -> VmminResult:
    """Fit ``repeats`` networks ``nnet(x, y, size, linout=TRUE)`` from random starts, in lockstep.

    Initial weights are uniform on ``[-rang, rang]`` (``runif(nwts, -rang, rang)`` in nnet),
    one row per network drawn in order from ``rng``, unless ``init`` gives them. Returns the
    :class:`VmminResult` whose ``x`` holds the fitted weights, shape ``(repeats, n_weights)``.
    """
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    y = np.asarray(y, dtype=np.float64)
    nw = n_weights(x.shape[1], size)
    if init is None:
        gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        init = gen.uniform(-rang, rang, size=(int(repeats), nw)) if rang > 0 else np.zeros((int(repeats), nw))
    init = np.atleast_2d(np.asarray(init, dtype=np.float64))
    if init.shape[1] != nw:
        raise ModelError(f"nnar: initial weights of length {init.shape[1]}, a {x.shape[1]}-{size}-1 network has {nw}")
    net = _Net(x, y, size, decay, max_nets=init.shape[0])
    return vmmin(net, init, maxit=maxit, abstol=abstol, reltol=reltol)


# --------------------------------------------------------------------------------------------
# nnetar, its forecasts and simulated intervals
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------


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
        return int(np.random.SeedSequence().entropy)
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
    stochastic = True

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

    split_safe = parallel_windows = True  # each window is fitted on its own, in about 0.2 s

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
