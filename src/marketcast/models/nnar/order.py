"""NNAR's order: ``stats::ar.yw`` with AIC (Levinson-Durbin, ``eureka.f``), nnetar's ``p`` and ``size``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from marketcast.errors import DataError, ModelError

__all__ = ["eureka", "ARFit", "ar_yule_walker", "nnetar_order", "nnetar_size", "lag_matrix"]


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
