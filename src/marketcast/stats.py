"""Returns, sign correlation, data-driven t degrees of freedom and sample volatilities.

Pure NumPy/SciPy functions, vectorised along the last axis so that a stack of rolling windows
(shape ``(n_windows, window)``) is handled in one call.

Reference: A. Thavaneswaran, R. K. Thulasiram, Y. Liang, S. Das, J. Bhanushali, "Intelligent
Probabilistic Forecasts of VIX and its Volatility using Machine Learning Methods" (the VIX
paper), sections II.D and III; and Thavaneswaran, Paseka & Frank (2020), "Generalized value at
risk forecasting", Comm. Statist. Theory Methods 49(20).
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
from scipy import special

__all__ = [
    "log_returns",
    "sign_correlation",
    "t_dof_from_sign_correlation",
    "NORMAL_SIGN_CORRELATION",
    "cdf_at_mean",
    "sample_volatility",
    "WindowStats",
    "window_stats",
]

#: Sign correlation of a normal variable, sqrt(2/pi) = 0.7979; a t variable has less.
NORMAL_SIGN_CORRELATION = float(np.sqrt(2.0 / np.pi))


def log_returns(prices: pd.Series | np.ndarray) -> pd.Series | np.ndarray:
    r"""Log returns :math:`r_t = \log P_t - \log P_{t-1}` (VIX paper, section III).

    A Series keeps its index: the return of day *t* is dated *t*, and the first day is dropped.
    """
    if isinstance(prices, pd.Series):
        out = np.log(prices).diff().iloc[1:]
        out.attrs = dict(prices.attrs)
        return out
    p = np.asarray(prices, dtype=np.float64)
    return np.diff(np.log(p), axis=-1)


def sign_correlation(x: np.ndarray, axis: int = -1) -> np.ndarray | float:
    r"""Sample sign correlation :math:`\hat\rho = \mathrm{Corr}(x_t - \bar x, \mathrm{sign}(x_t - \bar x))`.

    Eq. (3) of the VIX paper. For a normal variable it is :math:`\sqrt{2/\pi} = 0.7979`; heavier
    tails give less. Computed as the Pearson correlation of the centred values and their signs.
    """
    x = np.moveaxis(np.asarray(x, dtype=np.float64), axis, -1)
    c = x - x.mean(axis=-1, keepdims=True)
    s = np.sign(c)
    sc = s - s.mean(axis=-1, keepdims=True)
    num = (c * sc).sum(axis=-1)
    den = np.sqrt((c * c).sum(axis=-1) * (sc * sc).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = num / den
    return rho if np.ndim(rho) else float(rho)


def _rho_of_dof(nu: np.ndarray) -> np.ndarray:
    """Sign correlation of a Student t with ``nu`` > 2 degrees of freedom: eq. (4) solved for rho."""
    return 2.0 * np.sqrt(nu - 2.0) / ((nu - 1.0) * special.beta(nu / 2.0, 0.5))


def t_dof_from_sign_correlation(rho: np.ndarray | float) -> np.ndarray | float:
    r"""Student-t degrees of freedom :math:`\nu` whose sign correlation is ``rho``.

    Solves eq. (4) of the VIX paper,

    .. math:: 2\sqrt{\nu - 2} = (\nu - 1)\,\hat\rho\,B\!\left(\tfrac{\nu}{2}, \tfrac12\right),

    for :math:`\nu > 2` (a t with finite variance). The sign correlation of the t rises from 0
    (at :math:`\nu \to 2`) to :math:`\sqrt{2/\pi}` (the normal, :math:`\nu \to \infty`), so a
    ``rho`` at or above :data:`NORMAL_SIGN_CORRELATION` returns ``inf``: use the normal.

    Solved to machine precision by a vectorised, bracket-safeguarded Newton iteration in
    :math:`u = \log(\nu - 2)`, where the equation is smooth and monotone. A root finder at R's
    default ``uniroot`` tolerance (1.2e-4) can differ from this one in the fifth decimal, which
    explains the three Table VI cells whose last printed digit differs from ours.
    """
    r = np.asarray(rho, dtype=np.float64)
    out = np.full(r.shape, np.nan)
    normal = r >= NORMAL_SIGN_CORRELATION
    out[normal] = np.inf
    solve = (r > 0) & ~normal & np.isfinite(r)
    if solve.any():
        out[solve] = _solve_dof(r[solve])
    return out if out.ndim else float(out)


@functools.lru_cache(maxsize=1)
def _dof_table() -> tuple[np.ndarray, np.ndarray]:
    u = np.linspace(-30.0, 30.0, 601)
    return u, np.log(_rho_of_dof(2.0 + np.exp(u)))


def _solve_dof(target: np.ndarray) -> np.ndarray:
    log_target = np.log(target)
    # log rho(u) rises monotonically from -inf (u -> -inf) to log sqrt(2/pi) (u -> +inf).
    lo = np.full(target.shape, -60.0)
    hi = np.full(target.shape, 60.0)
    grid_u, grid_log_rho = _dof_table()
    u = np.interp(log_target, grid_log_rho, grid_u)  # a start two Newton steps from the root
    for _ in range(100):
        nu = 2.0 + np.exp(u)
        g = np.log(_rho_of_dof(nu)) - log_target
        # d/dnu log rho = 1/(2(nu-2)) - 1/(nu-1) - (psi(nu/2) - psi(nu/2 + 1/2))/2; times dnu/du.
        dg = (
            0.5 / (nu - 2.0) - 1.0 / (nu - 1.0) - 0.5 * (special.digamma(nu / 2.0) - special.digamma(nu / 2.0 + 0.5))
        ) * (nu - 2.0)
        lo = np.where(g < 0, u, lo)
        hi = np.where(g > 0, u, hi)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = g / dg
        new = u - step
        bad = ~np.isfinite(new) | (new <= lo) | (new >= hi)
        new = np.where(bad, 0.5 * (lo + hi), new)
        done = np.abs(new - u) <= 1e-14 * np.maximum(1.0, np.abs(u))
        u = new
        if done.all():
            break
    nu = 2.0 + np.exp(u)
    nu[u >= 59.0] = np.inf  # at the top of the bracket: indistinguishable from the normal
    return nu


def cdf_at_mean(x: np.ndarray, axis: int = -1) -> np.ndarray | float:
    r"""Empirical cdf of ``x`` at its sample mean, :math:`F(\bar x) = \#\{x_t \le \bar x\}/n`."""
    x = np.moveaxis(np.asarray(x, dtype=np.float64), axis, -1)
    f = (x <= x.mean(axis=-1, keepdims=True)).mean(axis=-1)
    return f if np.ndim(f) else float(f)


def sample_volatility(
    x: np.ndarray,
    rho: np.ndarray | float | None = None,
    axis: int = -1,
    *,
    mean: np.ndarray | float | None = None,
    cdf_mean: np.ndarray | float | None = None,
) -> np.ndarray:
    r"""Sample volatilities :math:`Z_t` of a return (or forecast error) series.

    .. math:: Z_t = \frac{|x_t - \bar x|}{2\hat\rho\sqrt{F(\bar x)\,(1 - F(\bar x))}}

    with :math:`F` the empirical cdf (VIX paper, section II.D and III). The paper prints the
    denominator without the square root; only the square-root form reproduces its Tables V-VII,
    and it is the one that makes :math:`E Z_t = \sigma` (for a symmetric law,
    :math:`F(\bar x) = 1/2` and the denominator is :math:`\hat\rho`, the known
    :math:`E|x - \mu| = \rho\sigma`).

    ``rho``, ``mean`` and ``cdf_mean`` default to those of ``x``; give them to apply another
    sample's law (e.g. the training errors') to new values.
    """
    x = np.moveaxis(np.asarray(x, dtype=np.float64), axis, -1)
    rho = sign_correlation(x) if rho is None else np.asarray(rho, dtype=np.float64)
    f = np.asarray(cdf_at_mean(x) if cdf_mean is None else cdf_mean, dtype=np.float64)
    centre = x.mean(axis=-1, keepdims=True) if mean is None else np.expand_dims(np.asarray(mean, dtype=np.float64), -1)
    c = np.abs(x - centre)
    den = 2.0 * np.asarray(rho) * np.sqrt(f * (1.0 - f))
    return np.moveaxis(c / np.expand_dims(den, -1), -1, axis)


class WindowStats:
    """Per-window statistics shared by every volatility model (arrays over windows).

    Attributes
    ----------
    mean, rho, cdf_mean, dof : ndarray
        Sample mean, sign correlation (eq. 3), :math:`F(\\bar r)` and t degrees of freedom
        (eq. 4, ``inf`` for the normal).
    z : ndarray
        Sample volatilities :math:`Z_t` of each window, shape ``(n_windows, window)``. Where the
        statistics were made by :func:`window_stats_by_block`, computed when first asked for
        (of the windows kept), so that a long rolling run holds ``z`` of one block at a time.
    """

    __slots__ = ("mean", "rho", "cdf_mean", "dof", "_z", "_windows")

    def __init__(self, mean, rho, cdf_mean, dof, z=None, windows=None):
        if z is None and windows is None:
            raise ValueError("WindowStats needs z or the windows to compute it from")
        self.mean, self.rho, self.cdf_mean, self.dof = mean, rho, cdf_mean, dof
        self._z, self._windows = z, windows

    @property
    def z(self) -> np.ndarray:
        if self._z is None:
            self._z = window_stats(self._windows).z  # the same pass per window: the same bits
        return self._z

    def take(self, rows: np.ndarray | slice) -> WindowStats:
        """The statistics of the windows at positions ``rows``."""
        z = None if self._z is None else self._z[rows]
        windows = None if self._windows is None else self._windows[rows]
        return WindowStats(self.mean[rows], self.rho[rows], self.cdf_mean[rows], self.dof[rows], z, windows)


#: Windows whose ``z`` a rolling run holds at once (:func:`window_stats_by_block`): 4096 x 504 x 8 B = 16 MB.
STATS_BLOCK = 4096


def window_stats_by_block(windows: np.ndarray, block: int = STATS_BLOCK) -> WindowStats:
    """:func:`window_stats` of many windows with memory bounded by ``block``: the per-window
    numbers for all, ``z`` left to be computed for the windows a model asks for (``take``)."""
    n = len(windows)
    if n <= block:
        return window_stats(windows)
    parts = []
    for i in range(0, n, block):
        st = window_stats(windows[i : i + block])
        parts.append(st)
        st._z = st._windows = None  # keep the block's numbers, not its z
    rho = np.concatenate([p.rho for p in parts])
    # dof over all windows in one call: NumPy's vectorised log/exp may round the last bit of an
    # element differently by its place in a call, and the digits must not depend on the block.
    dof = np.atleast_1d(t_dof_from_sign_correlation(rho))
    return WindowStats(
        np.concatenate([p.mean for p in parts]),
        rho,
        np.concatenate([p.cdf_mean for p in parts]),
        dof,
        windows=windows,
    )


def window_stats(windows: np.ndarray) -> WindowStats:
    """Compute :class:`WindowStats` for a stack of return windows, shape ``(n, W)``.

    Mean, sign correlation, :math:`F(\bar r)` and :math:`Z_t` come from one pass per window in C
    (``models/_ddewma_kernel.c``, NumPy's summation order: the same bits) where it is built and
    ``MARKETCAST_DDEWMA_KERNEL=numpy`` is not set; from the NumPy expressions below otherwise.
    """
    from marketcast.models.ewma import _kernel

    w = np.atleast_2d(np.asarray(windows, dtype=np.float64))
    kernel = _kernel()
    if kernel is not None and w.ndim == 2 and w.shape[1] > 0:
        if w.strides[1] != 8 or w.strides[0] < 8 or w.strides[0] % 8:
            w = np.ascontiguousarray(w)
        m, k = w.shape
        mean, rho, f, z = np.empty(m), np.empty(m), np.empty(m), np.empty((m, k))
        # Rows need not be contiguous with each other: a rolling view's windows overlap in memory.
        kernel.stats(
            m,
            k,
            w.strides[0] // 8 if m > 1 else k,
            w.ctypes.data,
            mean.ctypes.data,
            rho.ctypes.data,
            f.ctypes.data,
            z.ctypes.data,
        )
        return WindowStats(mean, rho, f, np.atleast_1d(t_dof_from_sign_correlation(rho)), z)
    mean = w.mean(axis=-1)
    rho = np.atleast_1d(sign_correlation(w))
    f = np.atleast_1d(cdf_at_mean(w))
    dof = np.atleast_1d(t_dof_from_sign_correlation(rho))
    z = np.abs(w - mean[:, None]) / (2.0 * rho * np.sqrt(f * (1.0 - f)))[:, None]
    return WindowStats(mean, rho, f, dof, z)
