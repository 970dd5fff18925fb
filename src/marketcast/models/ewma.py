r"""Data-driven EWMA volatility forecasts (DD-EWMA): Algorithm 1 of the VIX paper.

The sample volatilities :math:`Z_t` (:func:`marketcast.stats.sample_volatility`) are smoothed by

.. math:: S_t = \alpha Z_t + (1 - \alpha) S_{t-1}, \qquad S_0 = \bar Z_{1..l}     \qquad (6)

for every :math:`\alpha` on the grid 0.01, 0.02, ..., 0.30; the :math:`\alpha` with the smallest
one-step forecast error sum of squares :math:`\sum_{t=l+1}^{k}(Z_t - S_{t-1})^2` wins and its
last value :math:`S_k` is the one-day-ahead volatility forecast (DDVF). :math:`l` is the first
tenth of the window. Following Thavaneswaran, Paseka & Frank (2020).

All alphas (and all windows of a rolling run) are computed at once in closed form:
:math:`S_{c+j} = (1-\alpha)^j \bigl(S_c + \alpha \sum_{i=1}^{j} (1-\alpha)^{-i} Z_{c+i}\bigr)`,
in chunks short enough that :math:`(1-\alpha)^{-j}` stays far from overflow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from marketcast.errors import ModelError
from marketcast.models.base import VolatilityForecast, VolatilityModel

__all__ = ["ALPHA_GRID", "ewma_paths", "dd_ewma", "DDEWMAFit", "DDEWMA"]

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
    s = ewma_paths(z, alphas, z[:, :l].mean(axis=-1))
    last = s[:, :, k - 1].copy()
    # The forecast of Z_t (t = l+1..k, 1-based) is S_{t-1}: errors computed in place.
    errors = s[:, :, l - 1 : k - 1]
    errors -= z[:, None, l:]
    fess = np.einsum("mak,mak->ma", errors, errors)
    best = fess.argmin(axis=-1)
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
    # A closed form for each window, vectorised across them: safe to split, not worth it.
    split_safe = True

    def __init__(self, alphas=tuple(ALPHA_GRID), init_fraction: float = 0.1):
        self.alphas = alphas
        self.init_fraction = init_fraction

    def forecast_windows(self, returns, stats, dates=None) -> VolatilityForecast:
        alphas = np.asarray(self.alphas, dtype=np.float64)
        if alphas.size == 0 or (alphas <= 0).any() or (alphas >= 1).any():
            raise ModelError("dd-ewma: every alpha must lie in (0, 1)")
        if not 0 < self.init_fraction < 1:
            raise ModelError("dd-ewma: init_fraction must lie in (0, 1)")
        out = np.empty(stats.z.shape[0])
        alpha = np.empty_like(out)
        rmse = np.empty_like(out)
        # 32 windows x 30 alphas x W doubles at a time: bounded memory that stays in cache.
        for start in range(0, stats.z.shape[0], 32):
            res = dd_ewma(stats.z[start : start + 32], alphas, self.init_fraction)
            out[start : start + 32] = res.volatility
            alpha[start : start + 32] = res.alpha
            rmse[start : start + 32] = res.rmse
        return VolatilityForecast(out, {"alpha": alpha, "rmse": rmse})
