r"""Risk forecasts from a volatility forecast and a data-driven Student t: VaR, CVaR, MAD.

The conditional law of the return is a t with mean 0, volatility :math:`\hat\sigma_t` and
:math:`\nu` degrees of freedom from the sign correlation (eq. 4 of the VIX paper); ``inf``
degrees of freedom is the normal. All functions broadcast over arrays.

Also the standard tests of a VaR forecast: breach rate, Kupiec's proportion-of-failures test,
Christoffersen's independence and conditional-coverage tests, and the Basel traffic light.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special, stats

from marketcast.errors import DataError

__all__ = [
    "standardized_t_quantile",
    "value_at_risk",
    "conditional_value_at_risk",
    "mean_absolute_deviation",
    "VaRBacktest",
    "var_backtest",
    "kupiec_test",
    "christoffersen_test",
    "basel_traffic_light",
]


def _check_tail(tail: float) -> None:
    if not 0.0 < tail < 1.0:
        raise DataError(f"tail probability must be in (0, 1), got {tail}")


def _t_ppf(p: float, nu: np.ndarray) -> np.ndarray:
    """``scipy.stats.t.ppf(p, nu)``: its own ``special.stdtrit`` without the generic argument handling,
    which costs microseconds per element in a rolling run (the same bits; tests/test_risk_measures.py)."""
    if 0.0 < p < 1.0 and np.all(nu > 0):
        return special.stdtrit(nu, p)
    return stats.t.ppf(p, nu)


def _t_pdf(x: np.ndarray, nu: np.ndarray) -> np.ndarray:
    """``scipy.stats.t.pdf(x, nu)`` for finite ``nu``: scipy's own log-density formula, without the generic handling."""
    if np.all(nu > 0) and np.all(np.isfinite(nu)):
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.exp(
                np.log(special.poch(0.5 * nu, 0.5))
                - 0.5 * (np.log(nu) + np.log(np.pi))
                - (nu + 1) / 2 * np.log1p(x * x / nu)
            )
    return stats.t.pdf(x, nu)


def _norm_ppf(p: float) -> float:
    """``scipy.stats.norm.ppf(p)`` (its own ``special.ndtri``) without the generic handling."""
    return float(special.ndtri(p)) if 0.0 < p < 1.0 else float(stats.norm.ppf(p))


def _norm_pdf(x: float) -> float:
    """``scipy.stats.norm.pdf(x)``: scipy's own formula."""
    return float(np.exp(-(x**2) / 2.0) / np.sqrt(2 * np.pi))


def standardized_t_quantile(p: float, dof: np.ndarray | float) -> np.ndarray | float:
    r"""Quantile of the unit-variance t, :math:`\sqrt{(\nu-2)/\nu}\,F^{-1}(p, \nu)`; normal where ``dof`` is inf."""
    nu = np.asarray(dof, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        q = np.where(
            np.isinf(nu),
            _norm_ppf(p),
            _t_ppf(p, np.where(np.isinf(nu), 3.0, nu)) * np.sqrt(np.where(np.isinf(nu), 1.0, (nu - 2.0) / nu)),
        )
    return q if q.ndim else float(q)


def value_at_risk(volatility, dof, tail: float = 0.05, notional: float = 1000.0):
    r"""Value at risk of a position of ``notional`` over one period (Table VI of the VIX paper).

    .. math:: \mathrm{VaR}^p_t = -N \hat\sigma_t \sqrt{\frac{\nu - 2}{\nu}}\, F^{-1}(p, \nu)

    with :math:`F^{-1}(p,\nu)` the t quantile; positive numbers are losses.
    """
    _check_tail(tail)
    out = -notional * np.asarray(volatility, dtype=np.float64) * standardized_t_quantile(tail, dof)
    return out if np.ndim(out) else float(out)


def conditional_value_at_risk(volatility, dof, tail: float = 0.05, notional: float = 1000.0):
    r"""Expected loss beyond the VaR (CVaR, expected shortfall; Table VI of the VIX paper).

    .. math:: \mathrm{CVaR}^p_t = N \hat\sigma_t \sqrt{\frac{\nu-2}{\nu}}
              \frac{f(F^{-1}(p,\nu))}{p} \frac{\nu + (F^{-1}(p,\nu))^2}{\nu - 1}

    with :math:`f` the t density; for the normal, :math:`N\hat\sigma_t\,\varphi(\Phi^{-1}(p))/p`.
    """
    _check_tail(tail)
    sigma = np.asarray(volatility, dtype=np.float64)
    nu = np.asarray(dof, dtype=np.float64)
    finite = np.where(np.isinf(nu), 3.0, nu)
    q = _t_ppf(tail, finite)
    t_part = np.sqrt((finite - 2.0) / finite) * _t_pdf(q, finite) / tail * (finite + q * q) / (finite - 1.0)
    z = _norm_ppf(tail)
    factor = np.where(np.isinf(nu), _norm_pdf(z) / tail, t_part)
    out = notional * sigma * factor
    return out if np.ndim(out) else float(out)


def mean_absolute_deviation(volatility, rho, cdf_mean):
    r"""Forecast of the mean absolute deviation of the return (Table VII of the VIX paper).

    .. math:: \mathrm{MAD}_t = 2\hat\rho\,\hat\sigma_t\sqrt{F(\bar r)(1 - F(\bar r))}

    the inverse of the sample-volatility scaling of :func:`marketcast.stats.sample_volatility`.
    """
    f = np.asarray(cdf_mean, dtype=np.float64)
    out = 2.0 * np.asarray(rho) * np.asarray(volatility, dtype=np.float64) * np.sqrt(f * (1.0 - f))
    return out if np.ndim(out) else float(out)


# --- Backtests of a VaR forecast ---------------------------------------------------------------


@dataclass(frozen=True)
class VaRBacktest:
    """Outcome of backtesting a VaR forecast at tail probability ``tail``."""

    days: int
    breaches: int
    tail: float
    breach_rate: float
    kupiec_lr: float
    kupiec_pvalue: float
    independence_lr: float
    independence_pvalue: float
    conditional_coverage_lr: float
    conditional_coverage_pvalue: float
    traffic_light: str

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _xlogy(x, y):
    return 0.0 if x == 0 else x * np.log(y)


def kupiec_test(breaches: int, days: int, tail: float) -> tuple[float, float]:
    r"""Kupiec (1995) proportion-of-failures likelihood ratio and its :math:`\chi^2_1` p-value.

    .. math:: LR_{POF} = -2\ln\frac{(1-p)^{n-x}p^x}{(1-\hat\pi)^{n-x}\hat\pi^x},\quad \hat\pi = x/n
    """
    x, n = int(breaches), int(days)
    if n == 0:
        return float("nan"), float("nan")
    pi = x / n
    lr = -2.0 * (_xlogy(n - x, 1 - tail) + _xlogy(x, tail) - _xlogy(n - x, 1 - pi) - _xlogy(x, pi))
    lr = max(lr, 0.0)
    return float(lr), float(stats.chi2.sf(lr, 1))


def christoffersen_test(hits: np.ndarray, tail: float) -> tuple[float, float, float, float]:
    r"""Christoffersen (1998) independence and conditional-coverage tests.

    Returns ``(LR_ind, p_ind, LR_cc, p_cc)``: ``LR_ind`` compares a first-order Markov chain of
    breaches with independent ones (:math:`\chi^2_1`), ``LR_cc = LR_POF + LR_ind``
    (:math:`\chi^2_2`).
    """
    h = np.asarray(hits, dtype=bool)
    if h.size < 2:
        return (float("nan"),) * 4
    prev, cur = h[:-1], h[1:]
    n00 = int(np.sum(~prev & ~cur))
    n01 = int(np.sum(~prev & cur))
    n10 = int(np.sum(prev & ~cur))
    n11 = int(np.sum(prev & cur))
    pi01 = n01 / (n00 + n01) if n00 + n01 else 0.0
    pi11 = n11 / (n10 + n11) if n10 + n11 else 0.0
    pi = (n01 + n11) / (n00 + n01 + n10 + n11)
    log_null = _xlogy(n00 + n10, 1 - pi) + _xlogy(n01 + n11, pi)
    log_alt = _xlogy(n00, 1 - pi01) + _xlogy(n01, pi01) + _xlogy(n10, 1 - pi11) + _xlogy(n11, pi11)
    lr_ind = max(-2.0 * (log_null - log_alt), 0.0)
    lr_pof, _ = kupiec_test(int(h.sum()), h.size, tail)
    lr_cc = lr_pof + lr_ind
    return float(lr_ind), float(stats.chi2.sf(lr_ind, 1)), float(lr_cc), float(stats.chi2.sf(lr_cc, 2))


def basel_traffic_light(breaches: int, days: int, tail: float) -> str:
    """Basel Committee (1996) zones by the binomial probability of at most ``breaches`` breaches.

    Green below 95% cumulative probability, yellow below 99.99%, red above: for 250 days of a
    99% VaR this is the familiar 0-4 green, 5-9 yellow, 10+ red.
    """
    cum = stats.binom.cdf(breaches, days, tail)
    if cum < 0.95:
        return "green"
    if cum < 0.9999:
        return "yellow"
    return "red"


def var_backtest(returns: np.ndarray, var: np.ndarray, tail: float, notional: float = 1000.0) -> VaRBacktest:
    """Backtest VaR forecasts against realised returns: a breach is a loss beyond the VaR.

    ``returns`` are log returns, ``var`` the VaR of a position of ``notional`` (positive losses);
    a breach on day *t* is ``-notional * r_t > VaR_t``. Days with a missing value are skipped.
    """
    r = np.asarray(returns, dtype=np.float64)
    v = np.asarray(var, dtype=np.float64)
    ok = np.isfinite(r) & np.isfinite(v)
    hits = (-notional * r[ok]) > v[ok]
    n, x = int(hits.size), int(hits.sum())
    lr_pof, p_pof = kupiec_test(x, n, tail)
    lr_ind, p_ind, lr_cc, p_cc = christoffersen_test(hits, tail)
    return VaRBacktest(
        days=n,
        breaches=x,
        tail=tail,
        breach_rate=x / n if n else float("nan"),
        kupiec_lr=lr_pof,
        kupiec_pvalue=p_pof,
        independence_lr=lr_ind,
        independence_pvalue=p_ind,
        conditional_coverage_lr=lr_cc,
        conditional_coverage_pvalue=p_cc,
        traffic_light=basel_traffic_light(x, n, tail) if n else "n/a",
    )
