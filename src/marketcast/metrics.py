"""Forecast accuracy: point metrics, interval metrics and the Diebold-Mariano test.

Pure NumPy functions of ``(y_true, y_pred)``; the definitions follow scikit-learn's where both
have one (explained variance, R2, max error), so results agree with ``sklearn.metrics``.
VaR backtests (breach rate, Kupiec, Christoffersen) live in :mod:`marketcast.risk_measures`.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from marketcast.errors import DataError

__all__ = [
    "mse",
    "rmse",
    "mae",
    "mape",
    "explained_variance",
    "r2",
    "max_error",
    "point_metrics",
    "coverage",
    "mean_width",
    "winkler_score",
    "diebold_mariano",
]


def _pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype=np.float64)
    f = np.asarray(y_pred, dtype=np.float64)
    if y.shape != f.shape:
        raise DataError(f"y_true and y_pred differ in shape: {y.shape} vs {f.shape}")
    if y.size == 0:
        raise DataError("no values to score")
    return y, f


def mse(y_true, y_pred) -> float:
    """Mean squared error."""
    y, f = _pair(y_true, y_pred)
    return float(np.mean((y - f) ** 2))


def rmse(y_true, y_pred) -> float:
    """Root mean squared error (the RMSE of Tables II, III and V of the VIX paper)."""
    return float(np.sqrt(mse(y_true, y_pred)))


def mae(y_true, y_pred) -> float:
    """Mean absolute error."""
    y, f = _pair(y_true, y_pred)
    return float(np.mean(np.abs(y - f)))


def mape(y_true, y_pred) -> float:
    """Mean absolute percentage error, as a fraction (0.05 = 5%)."""
    y, f = _pair(y_true, y_pred)
    with np.errstate(divide="ignore"):
        return float(np.mean(np.abs((y - f) / y)))


def explained_variance(y_true, y_pred) -> float:
    r"""Explained variance score :math:`1 - \mathrm{Var}(y - \hat y)/\mathrm{Var}(y)`."""
    y, f = _pair(y_true, y_pred)
    var_y = np.var(y)
    if var_y == 0:
        return 1.0 if np.var(y - f) == 0 else 0.0
    return float(1.0 - np.var(y - f) / var_y)


def r2(y_true, y_pred) -> float:
    r"""Coefficient of determination :math:`1 - \sum(y-\hat y)^2 / \sum(y - \bar y)^2`."""
    y, f = _pair(y_true, y_pred)
    ss_tot = np.sum((y - y.mean()) ** 2)
    ss_res = np.sum((y - f) ** 2)
    if ss_tot == 0:
        return 1.0 if ss_res == 0 else 0.0
    return float(1.0 - ss_res / ss_tot)


def max_error(y_true, y_pred) -> float:
    """Largest absolute error."""
    y, f = _pair(y_true, y_pred)
    return float(np.max(np.abs(y - f)))


def point_metrics(y_true, y_pred) -> dict[str, float]:
    """All point metrics at once (Table II of the Stock-X paper, plus RMSE and MAPE)."""
    return {
        "mse": mse(y_true, y_pred),
        "rmse": rmse(y_true, y_pred),
        "mae": mae(y_true, y_pred),
        "mape": mape(y_true, y_pred),
        "explained_variance": explained_variance(y_true, y_pred),
        "r2": r2(y_true, y_pred),
        "max_error": max_error(y_true, y_pred),
    }


def coverage(y_true, lower, upper) -> float:
    """Share of observations inside ``[lower, upper]``."""
    y = np.asarray(y_true, dtype=np.float64)
    return float(np.mean((y >= np.asarray(lower)) & (y <= np.asarray(upper))))


def mean_width(lower, upper) -> float:
    """Mean width of the intervals."""
    return float(np.mean(np.asarray(upper, dtype=np.float64) - np.asarray(lower, dtype=np.float64)))


def winkler_score(y_true, lower, upper, level: float) -> float:
    r"""Mean interval (Winkler) score of central ``level`` intervals; lower is better.

    .. math:: S = (u - l) + \frac{2}{\alpha}(l - y)\mathbb 1\{y < l\} + \frac{2}{\alpha}(y - u)\mathbb 1\{y > u\},
              \quad \alpha = 1 - \text{level}

    (Gneiting & Raftery 2007, eq. 43).
    """
    if not 0.0 < level < 1.0:
        raise DataError(f"level must be in (0, 1), got {level}")
    y = np.asarray(y_true, dtype=np.float64)
    lo = np.asarray(lower, dtype=np.float64)
    hi = np.asarray(upper, dtype=np.float64)
    alpha = 1.0 - level
    score = (hi - lo) + (2.0 / alpha) * (lo - y) * (y < lo) + (2.0 / alpha) * (y - hi) * (y > hi)
    return float(np.mean(score))


def diebold_mariano(errors_a, errors_b, horizon: int = 1, power: int = 2) -> tuple[float, float]:
    r"""Diebold-Mariano test of equal accuracy, with the Harvey et al. (1997) small-sample correction.

    The loss differential is :math:`d_t = |e^a_t|^p - |e^b_t|^p`; its long-run variance uses
    autocovariances up to lag ``horizon - 1``. Returns ``(statistic, two-sided p-value)`` from a
    t distribution with :math:`n - 1` degrees of freedom. A negative statistic favours ``a``.
    """
    a = np.asarray(errors_a, dtype=np.float64)
    b = np.asarray(errors_b, dtype=np.float64)
    ok = np.isfinite(a) & np.isfinite(b)
    d = np.abs(a[ok]) ** power - np.abs(b[ok]) ** power
    n = d.size
    if n < 3:
        return float("nan"), float("nan")
    dbar = d.mean()
    dc = d - dbar
    gamma = [np.dot(dc[k:], dc[: n - k]) / n for k in range(horizon)]
    var = (gamma[0] + 2.0 * sum(gamma[1:])) / n
    if var <= 0:
        return float("nan"), float("nan")
    dm = dbar / np.sqrt(var)
    h = horizon
    correction = np.sqrt((n + 1 - 2 * h + h * (h - 1) / n) / n)
    stat = float(dm * correction)
    return stat, float(2.0 * stats.t.sf(abs(stat), n - 1))
