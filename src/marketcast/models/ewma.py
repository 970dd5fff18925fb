r"""Data-driven EWMA volatility forecasts (DD-EWMA): Algorithm 1 of the VIX paper.

The sample volatilities :math:`Z_t` (:func:`marketcast.stats.sample_volatility`) are smoothed by

.. math:: S_t = \alpha Z_t + (1 - \alpha) S_{t-1}, \qquad S_0 = \bar Z_{1..l}     \qquad (6)

for every :math:`\alpha` on the grid 0.01, 0.02, ..., 0.30; the :math:`\alpha` with the smallest
one-step forecast error sum of squares :math:`\sum_{t=l+1}^{k}(Z_t - S_{t-1})^2` wins and its
last value :math:`S_k` is the one-day-ahead volatility forecast (DDVF). :math:`l` is the first
tenth of the window. Following Thavaneswaran, Paseka & Frank (2020).

:func:`dd_ewma` runs the recursion itself, all alphas of a step at once, in C
(``_ddewma_kernel.c``: one pass over each window, about 2-5 microseconds) or, where the
extension is not built (a warning says so) or ``MARKETCAST_DDEWMA_KERNEL=numpy`` or
``MARKETCAST_KERNELS=off`` is set, in NumPy across all windows
and alphas (:func:`_smooth_numpy`, the reference: the same operations in the same order, so the
same bits). :func:`ewma_paths` gives the whole paths in closed form,
:math:`S_{c+j} = (1-\alpha)^j \bigl(S_c + \alpha \sum_{i=1}^{j} (1-\alpha)^{-i} Z_{c+i}\bigr)`,
in chunks short enough that :math:`(1-\alpha)^{-j}` stays far from overflow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from marketcast.errors import ModelError
from marketcast.models import _kernels
from marketcast.models.base import Capabilities, VolatilityForecast, VolatilityModel

__all__ = ["ALPHA_GRID", "ewma_paths", "dd_ewma", "DDEWMAFit", "DDEWMA", "KERNEL_SWITCH", "kernel_in_use"]


#: ``MARKETCAST_DDEWMA_KERNEL=numpy`` (or ``MARKETCAST_KERNELS=off``) runs NumPy instead of the C kernel.
KERNEL_SWITCH = "MARKETCAST_DDEWMA_KERNEL"

#: The paper's grid: 0.01 to 0.30 by 0.01.
ALPHA_GRID = np.round(np.arange(1, 31) / 100.0, 2)


def ewma_paths(z: np.ndarray, alphas: np.ndarray, s0: np.ndarray) -> np.ndarray:
    """Smoothed values :math:`S_1..S_k` of eq. (6) for every window and alpha.

    Parameters
    ----------
    z : ndarray, shape (m, k)
        Sample volatilities of ``m`` windows.
    alphas : ndarray, shape (a,)
        Smoothing constants in (0, 1).
    s0 : ndarray, shape (m,)
        Initial values :math:`S_0`.

    Returns
    -------
    ndarray, shape (m, a, k)
        ``out[..., j - 1]`` is :math:`S_j`.
    """
    z = np.atleast_2d(np.asarray(z, dtype=np.float64))
    alphas = np.asarray(alphas, dtype=np.float64)
    s0 = np.asarray(s0, dtype=np.float64).reshape(-1)
    m, k = z.shape
    log_decay = np.log1p(-alphas)[:, None]
    # Longest chunk with decay**-chunk <= 1e150, so the cumulative sums keep full precision.
    chunk = int(min(k, max(1, 150.0 * np.log(10.0) / -log_decay.min())))
    steps = np.arange(1, chunk + 1)
    powers = np.exp(log_decay * steps)  # (a, chunk): (1 - alpha)^j
    inverse = np.exp(-log_decay * steps)
    out = np.empty((m, alphas.size, k))
    start_value = np.broadcast_to(s0[:, None, None], (m, alphas.size, 1))
    for first in range(0, k, chunk):
        n = min(chunk, k - first)
        buf = out[:, :, first : first + n]
        np.multiply(z[:, None, first : first + n], inverse[:, :n], out=buf)
        np.cumsum(buf, axis=-1, out=buf)
        buf *= alphas[:, None]
        buf += start_value
        buf *= powers[:, :n]
        start_value = buf[:, :, n - 1 : n]
    return out


KERNEL = "_ddewma_kernel"


def _kernel():
    fallback = "window statistics and smoothing run in NumPy (the same digits, slower)"
    return _kernels.kernel_or_fallback(KERNEL, "dd-ewma", fallback, __name__)


def kernel_in_use() -> str:
    """``"c"`` where DD-EWMA smooths through ``_ddewma_kernel``, ``"numpy"`` otherwise."""
    return "numpy" if _kernel() is None else "c"


def _smooth_numpy(z: np.ndarray, s0: np.ndarray, alphas: np.ndarray, oma: np.ndarray, l: int):
    """FESS (eq. 6 errors, t = l+1..k) and last value :math:`S_k` of every window and alpha.

    The recursion step by step, vectorised across windows and alphas: the reference of
    ``_ddewma_kernel.c`` (same operations, same order, no fused multiply-add).
    """
    m, k = z.shape
    s = np.repeat(s0[:, None], alphas.size, axis=1)
    fess = np.zeros_like(s)
    e = np.empty_like(s)
    tmp = np.empty_like(s)
    zt = np.ascontiguousarray(z.T)
    for t in range(k):
        col = zt[t][:, None]
        if t >= l:
            np.subtract(col, s, out=e)
            np.multiply(e, e, out=e)
            fess += e
        np.multiply(alphas, col, out=tmp)  # alpha * z_t + (1 - alpha) * S_{t-1}
        s *= oma
        s += tmp
    return fess, s


def _smooth(z: np.ndarray, s0: np.ndarray, alphas: np.ndarray, l: int):
    oma = 1.0 - alphas
    kernel = _kernel()
    if kernel is None or alphas.size > 256:
        return _smooth_numpy(z, s0, alphas, oma, l)
    m, k = z.shape
    z = np.ascontiguousarray(z, dtype=np.float64)
    s0 = np.ascontiguousarray(s0, dtype=np.float64)
    alphas = np.ascontiguousarray(alphas)
    fess = np.empty((m, alphas.size))
    last = np.empty((m, alphas.size))
    kernel.smooth(
        m,
        k,
        alphas.size,
        l,
        z.ctypes.data,
        s0.ctypes.data,
        alphas.ctypes.data,
        oma.ctypes.data,
        fess.ctypes.data,
        last.ctypes.data,
    )
    return fess, last


@dataclass(frozen=True)
class DDEWMAFit:
    """DD-EWMA result per window: chosen alpha, one-step forecast and in-sample RMSE."""

    alpha: np.ndarray
    volatility: np.ndarray
    rmse: np.ndarray
    fess: np.ndarray  # (m, len(alphas)): forecast error sum of squares for every alpha


def dd_ewma(z: np.ndarray, alphas: np.ndarray = ALPHA_GRID, init_fraction: float = 0.1) -> DDEWMAFit:
    """Algorithm 1 of the VIX paper on one window (``z`` of shape ``(k,)``) or many (``(m, k)``).

    ``rmse`` is :math:`\\sqrt{FESS_{min}/(k - l)}`, the RMSE column of Table V.
    """
    z = np.atleast_2d(np.asarray(z, dtype=np.float64))
    k = z.shape[-1]
    l = max(1, int(k * init_fraction))
    if k <= l:
        raise ModelError(f"dd-ewma: a window of {k} values is too short (needs more than {l})")
    alphas = np.asarray(alphas, dtype=np.float64)
    # The forecast of Z_t (t = l+1..k, 1-based) is S_{t-1}; S_0 is the mean of the first l.
    fess, last = _smooth(z, z[:, :l].mean(axis=-1), alphas, l)
    best = fess.argmin(axis=-1)  # the first smallest, as Algorithm 1's strict "<"
    rows = np.arange(z.shape[0])
    return DDEWMAFit(
        alpha=alphas[best],
        volatility=last[rows, best],
        rmse=np.sqrt(fess[rows, best] / (k - l)),
        fess=fess,
    )


class DDEWMA(VolatilityModel):
    """Data-driven EWMA volatility forecasts (Algorithm 1 of the VIX paper).

    Parameters
    ----------
    alphas : sequence of float
        Grid of smoothing constants searched; the paper's 0.01..0.30 by default.
    init_fraction : float
        Share of the window whose mean starts the recursion (the paper's first tenth).
    """

    name = "dd-ewma"
    # Windows are independent and the recursion is cheap (C): safe to split, not worth it.
    capabilities = Capabilities(split_safe=True)  # vectorised across windows: nothing to gain from processes

    def __init__(self, alphas=tuple(ALPHA_GRID), init_fraction: float = 0.1):
        self.alphas = alphas
        self.init_fraction = init_fraction

    def forecast_windows(self, returns, stats, dates=None) -> VolatilityForecast:
        alphas = np.asarray(self.alphas, dtype=np.float64)
        if alphas.size == 0 or (alphas <= 0).any() or (alphas >= 1).any():
            raise ModelError("dd-ewma: every alpha must lie in (0, 1)")
        if not 0 < self.init_fraction < 1:
            raise ModelError("dd-ewma: init_fraction must lie in (0, 1)")
        res = dd_ewma(stats.z, alphas, self.init_fraction)  # memory: windows x alphas, no paths
        return VolatilityForecast(res.volatility, {"alpha": res.alpha, "rmse": res.rmse})
