r"""One backtest row for a VaR and expected-shortfall forecast: coverage tests and Acerbi-Szekely Z2.

:func:`backtest_var_es` gives the columns of the universe job's ``backtests.csv``
(:data:`BACKTEST_COLUMNS`): the breach count, Kupiec's proportion-of-failures test,
Christoffersen's independence and conditional-coverage tests and the Basel traffic light (all from
:mod:`marketcast.risk_measures`), and the expected-shortfall test Z2 of Acerbi and Szekely (2014,
"Backtesting Expected Shortfall", Risk), whose p-value comes from simulating the model's own
predictive laws.

Conventions (the same as :func:`marketcast.risk_measures.var_backtest`)
----------------------------------------------------------------------
``returns`` are log returns :math:`r_t`; the P&L of a position of notional :math:`N` is taken as
:math:`X_t = N r_t` (first order in :math:`r_t`; :math:`N(e^{r_t} - 1)` differs by
:math:`O(r_t^2)`). ``var`` and ``cvar`` are positive losses of that position, so a breach is
:math:`X_t + \mathrm{VaR}_t < 0`, i.e. ``-notional * return > var``.
"""

from __future__ import annotations

import numpy as np
from scipy import special, stats

from marketcast.risk_measures import standardized_t_quantile, var_backtest

__all__ = ["BACKTEST_COLUMNS", "backtest_var_es", "acerbi_szekely_z2", "z2_pvalue", "simulated_z2", "implied_t_law"]

BACKTEST_COLUMNS = [
    "days",
    "breaches",
    "expected",
    "kupiec_lr",
    "kupiec_p",
    "christoffersen_ind_p",
    "christoffersen_cc_p",
    "basel_zone",
    "es_z2",
    "es_p",
]

# Below this many degrees of freedom the unit-variance t is too close to its variance's pole to
# stand for a forecast; implied laws are clipped here.
_MIN_DOF = 2.05


def acerbi_szekely_z2(pnl, var, es, tail: float) -> float:
    r"""The Acerbi-Szekely (2014) test statistic Z2 (their "Test 2", which tests ES directly).

    .. math:: Z_2 = \sum_{t=1}^{T} \frac{X_t I_t}{T \alpha\, \mathrm{ES}_{\alpha,t}} + 1,
              \qquad I_t = \mathbf 1\{X_t + \mathrm{VaR}_{\alpha,t} < 0\}

    with :math:`X_t` the P&L, VaR and ES positive losses. Under the model :math:`E[Z_2] = 0`;
    a negative value says the realised tail losses exceed the forecast ES (a one-sided test).
    """
    x = np.asarray(pnl, dtype=np.float64)
    v = np.asarray(var, dtype=np.float64)
    e = np.asarray(es, dtype=np.float64)
    if x.size == 0:
        return float("nan")
    hits = x + v < 0
    return float(np.sum(np.where(hits, x / e, 0.0)) / (x.size * tail) + 1.0)


def simulated_z2(scale, dof, var, es, tail: float, n_sims: int = 10_000, seed: int = 0) -> np.ndarray:
    r"""Z2 of ``n_sims`` P&L paths drawn from each day's law (``scale`` times a unit-variance t).

    Only breaches enter Z2, so only they are drawn: on day t a path breaches with probability
    :math:`p_t = F_t(-\mathrm{VaR}_t)`; the number of breaching paths is binomial, which paths a
    uniform subset, and each breach's P&L :math:`F_t^{-1}(u)` with :math:`u` uniform on
    :math:`(0, p_t)`: the same law as drawing every path's P&L, at a few percent of the cost.
    """
    rng = np.random.default_rng(seed)
    days = scale.size
    finite = np.isfinite(dof)
    nu = np.where(finite, dof, 3.0)
    unit = np.where(finite, np.sqrt(np.where(finite, (nu - 2.0) / nu, 1.0)), 1.0)

    def cdf(x):
        return np.where(finite, special.stdtr(nu, x / unit), special.ndtr(x))

    p = cdf(-var / scale)
    counts = rng.binomial(n_sims, p)
    paths = np.concatenate([rng.choice(n_sims, size=k, replace=False) for k in counts])
    day = np.repeat(np.arange(days), counts)
    u = rng.random(day.size) * p[day]
    fin = finite[day]
    eps = special.ndtri(u)
    eps[fin] = special.stdtrit(nu[day[fin]], u[fin]) * unit[day[fin]]
    x = scale[day] * eps
    return np.bincount(paths, weights=x / es[day], minlength=n_sims) / (days * tail) + 1.0


def z2_pvalue(z2: float, scale, dof, var, es, tail: float, *, n_sims: int = 10_000, seed: int = 0) -> float:
    r"""p-value of an observed Z2 by simulation under the model: the share of simulated Z2 at or below it.

    Each day's P&L is drawn from the model's predictive law :math:`X_t = s_t\, \varepsilon_t`, with
    :math:`\varepsilon_t` a unit-variance t with ``dof[t]`` degrees of freedom (standard normal
    where it is inf) and :math:`s_t` = ``scale[t]`` (volatility times notional); Z2 of each path
    uses the model's own ``var`` and ``es`` (Acerbi and Szekely's significance by simulation). Seeded.
    """
    scale = np.asarray(scale, dtype=np.float64)
    if scale.size == 0 or not np.isfinite(z2):
        return float("nan")
    sims = simulated_z2(
        scale,
        np.asarray(dof, dtype=np.float64),
        np.asarray(var, dtype=np.float64),
        np.asarray(es, dtype=np.float64),
        tail,
        int(n_sims),
        int(seed),
    )
    return float(np.mean(sims <= z2))


def _t_es_to_var_ratio(nu: np.ndarray, tail: float) -> np.ndarray:
    """ES / VaR of a t at ``tail`` (scale free); the normal's where ``nu`` is inf."""
    finite = np.where(np.isinf(nu), 3.0, nu)
    q = stats.t.ppf(tail, finite)
    t_ratio = stats.t.pdf(q, finite) / tail * (finite + q * q) / (finite - 1.0) / -q
    z = stats.norm.ppf(tail)
    return np.where(np.isinf(nu), stats.norm.pdf(z) / tail / -z, t_ratio)


def implied_t_law(var, es, tail: float) -> tuple[np.ndarray, np.ndarray]:
    r"""The scaled unit-variance t whose VaR and ES at ``tail`` are ``var`` and ``es``.

    Returns ``(scale, dof)``. The ES/VaR ratio of a t falls with its degrees of freedom towards
    the normal's, :math:`\varphi(z_\alpha)/(\alpha(-z_\alpha))`; ``dof`` solves
    :math:`\mathrm{ES}/\mathrm{VaR} = ` that ratio (bisection in :math:`\log(\nu-2)`), inf where the
    ratio is at or below the normal's, clipped at 2.05 above; then
    :math:`s = \mathrm{VaR} / (-q_\nu(\alpha))` with :math:`q_\nu` the unit-variance t quantile.
    Used for forecasts that come with no parametric law (historical simulation). NaN where
    ``var`` is not positive.
    """
    v = np.atleast_1d(np.asarray(var, dtype=np.float64))
    e = np.atleast_1d(np.asarray(es, dtype=np.float64))
    ratio = e / v
    lo = np.full(v.shape, np.log(_MIN_DOF - 2.0))
    hi = np.full(v.shape, np.log(1e7))
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        above = _t_es_to_var_ratio(2.0 + np.exp(mid), tail) > ratio  # still too heavy-tailed
        lo = np.where(above, mid, lo)
        hi = np.where(above, hi, mid)
    dof = 2.0 + np.exp(0.5 * (lo + hi))
    dof = np.where(ratio <= _t_es_to_var_ratio(np.array([np.inf]), tail), np.inf, dof)
    scale = v / -np.asarray(standardized_t_quantile(tail, dof))
    bad = ~(v > 0) | ~np.isfinite(ratio)
    return np.where(bad, np.nan, scale), np.where(bad, np.nan, dof)


def backtest_var_es(
    returns,
    var,
    cvar,
    *,
    tail: float,
    notional: float = 1.0,
    volatility=None,
    dof=None,
    n_sims: int = 10_000,
    seed: int = 0,
) -> dict:
    r"""Backtest a series of one-day VaR and ES (CVaR) forecasts at tail probability ``tail``.

    Parameters
    ----------
    returns
        Realised log returns :math:`r_t`; the P&L is :math:`X_t = N r_t` with :math:`N` =
        ``notional``. Days where ``returns``, ``var`` or ``cvar`` is NaN (the live day) are skipped.
    var, cvar
        The forecasts for each day, positive losses of a position of ``notional``; ``cvar`` > 0.
    tail
        The tail probability :math:`\alpha` (0.01 for a 99% VaR).
    volatility, dof
        The model's predictive law of :math:`r_t`: ``volatility`` times a unit-variance t with
        ``dof`` degrees of freedom (normal where inf, and everywhere when ``dof`` is None), the law
        of :func:`marketcast.risk_measures.value_at_risk`. Without ``volatility`` the law is the
        t implied by each day's VaR and ES (:func:`implied_t_law`).
    n_sims, seed
        Simulated paths for the Z2 p-value, and their seed.

    Returns
    -------
    dict
        Keys :data:`BACKTEST_COLUMNS`: ``days`` tested, ``breaches`` (:math:`X_t + VaR_t < 0`),
        ``expected`` = :math:`\alpha T`, Kupiec's LR and p-value, Christoffersen's independence
        and conditional-coverage p-values, ``basel_zone`` (green/yellow/red; "n/a" without days),
        ``es_z2`` = :func:`acerbi_szekely_z2` and ``es_p`` = :func:`z2_pvalue` (small values
        reject: the realised tail losses exceed the forecast ES).
    """
    if not 0.0 < tail < 1.0:
        raise ValueError(f"tail probability must be in (0, 1), got {tail}")
    r = np.asarray(returns, dtype=np.float64).ravel()
    v = np.asarray(var, dtype=np.float64).ravel()
    e = np.asarray(cvar, dtype=np.float64).ravel()
    if not (r.size == v.size == e.size):
        raise ValueError(f"returns, var and cvar differ in length: {r.size}, {v.size}, {e.size}")
    ok = np.isfinite(r) & np.isfinite(v) & np.isfinite(e)
    if np.any(e[ok] <= 0):
        raise ValueError("cvar must be positive on every tested day (Z2 divides by it)")
    bt = var_backtest(r[ok], v[ok], tail, notional)
    x = notional * r[ok]
    z2 = acerbi_szekely_z2(x, v[ok], e[ok], tail)
    if volatility is None:
        scale, nu = implied_t_law(v[ok], e[ok], tail)
    else:
        scale = notional * np.broadcast_to(np.asarray(volatility, dtype=np.float64).ravel(), r.shape)[ok]
        nu = (
            np.full(scale.shape, np.inf)
            if dof is None
            else np.broadcast_to(np.asarray(dof, dtype=np.float64).ravel(), r.shape)[ok]
        )
        if not (np.all(np.isfinite(scale) & (scale > 0)) and np.all(nu > 2.0)):
            raise ValueError("volatility must be positive and dof above 2 on every tested day")
    if np.all(np.isfinite(scale)):
        es_p = z2_pvalue(z2, scale, nu, v[ok], e[ok], tail, n_sims=n_sims, seed=seed)
    else:
        es_p = float("nan")
    return {
        "days": bt.days,
        "breaches": bt.breaches,
        "expected": tail * bt.days,
        "kupiec_lr": bt.kupiec_lr,
        "kupiec_p": bt.kupiec_pvalue,
        "christoffersen_ind_p": bt.independence_pvalue,
        "christoffersen_cc_p": bt.conditional_coverage_pvalue,
        "basel_zone": bt.traffic_light,
        "es_z2": z2,
        "es_p": es_p,
    }
