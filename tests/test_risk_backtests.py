"""The VaR/ES backtest row against independent computations: scipy for the coverage tests, plain loops
for Acerbi-Szekely Z2 straight from the paper's definition, brute-force simulation for its p-value."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from marketcast.risk_backtests import BACKTEST_COLUMNS, backtest_var_es, implied_t_law, simulated_z2


def _t_var_es(sigma, nu, alpha, notional=1.0):
    """VaR and ES of sigma times a unit-variance t (normal for inf), by scipy quantile and integration."""
    if math.isinf(nu):
        q = stats.norm.ppf(alpha)
        return -notional * sigma * q, notional * sigma * stats.norm.pdf(q) / alpha
    c = math.sqrt((nu - 2) / nu)
    q = stats.t.ppf(alpha, nu) * c
    es = -integrate.quad(lambda u: stats.t.ppf(u, nu) * c, 0, alpha, limit=200)[0] / alpha
    return -notional * sigma * q, notional * sigma * es


def _draw(rng, sigma, nu, size):
    if math.isinf(nu):
        return sigma * rng.standard_normal(size)
    return sigma * rng.standard_t(nu, size) * math.sqrt((nu - 2) / nu)


def _kupiec(x, n, p):
    lr = -2 * (stats.binom.logpmf(x, n, p) - stats.binom.logpmf(x, n, x / n))
    return lr, stats.chi2.sf(lr, 1)


def _christoffersen(hits, p):
    counts = {(i, j): 0 for i in (0, 1) for j in (0, 1)}
    for a, b in zip(hits[:-1], hits[1:]):
        counts[(int(a), int(b))] += 1
    n00, n01, n10, n11 = counts[(0, 0)], counts[(0, 1)], counts[(1, 0)], counts[(1, 1)]
    p01 = n01 / (n00 + n01)
    p11 = n11 / (n10 + n11) if n10 + n11 else 0.0
    pi = (n01 + n11) / (n00 + n01 + n10 + n11)

    def ll(k, n, q):  # k successes of n at probability q, 0 log 0 = 0
        return (k * math.log(q) if k else 0.0) + ((n - k) * math.log(1 - q) if n - k else 0.0)

    lr_ind = -2 * (ll(n01 + n11, n00 + n01 + n10 + n11, pi) - ll(n01, n00 + n01, p01) - ll(n11, n10 + n11, p11))
    lr_pof, _ = _kupiec(sum(hits), len(hits), p)
    return stats.chi2.sf(lr_ind, 1), stats.chi2.sf(lr_pof + lr_ind, 2)


def _z2_loop(x, var, es, alpha):
    """Acerbi and Szekely (2014), Test 2: Z2 = sum_t X_t I_t / (T alpha ES_t) + 1."""
    total = 0.0
    for xt, vt, et in zip(x, var, es):
        if xt + vt < 0:
            total += xt / (len(x) * alpha * et)
    return total + 1.0


def _series(seed, days=250, alpha=0.025, true_nu=5.0, model_nu=5.0, notional=1.0, model_scale=1.0):
    rng = np.random.default_rng(seed)
    sigma = 0.01 * np.exp(0.3 * np.sin(np.arange(days) / 20))
    r = np.array([_draw(rng, s, true_nu, None) for s in sigma])
    sigma = sigma * model_scale
    var, es = _t_var_es(sigma[0], model_nu, alpha, notional)
    return r, sigma, var * sigma / sigma[0], es * sigma / sigma[0]


def test_columns_and_coverage_tests_match_scipy():
    alpha, notional = 0.05, 1000.0
    r, sigma, var, es = _series(3, alpha=alpha, notional=notional)
    row = backtest_var_es(r, var, es, tail=alpha, notional=notional, volatility=sigma, dof=5.0, n_sims=2000)
    assert list(row) == BACKTEST_COLUMNS
    hits = (-notional * r > var).astype(int)
    x, n = int(hits.sum()), hits.size
    assert 0 < x < n and (row["days"], row["breaches"]) == (n, x)
    assert row["expected"] == pytest.approx(alpha * n)
    lr, p = _kupiec(x, n, alpha)
    assert row["kupiec_lr"] == pytest.approx(lr, rel=1e-10) and row["kupiec_p"] == pytest.approx(p, rel=1e-10)
    p_ind, p_cc = _christoffersen(list(hits), alpha)
    assert row["christoffersen_ind_p"] == pytest.approx(p_ind, rel=1e-9)
    assert row["christoffersen_cc_p"] == pytest.approx(p_cc, rel=1e-9)
    cum = stats.binom.cdf(x, n, alpha)
    assert row["basel_zone"] == ("green" if cum < 0.95 else "yellow" if cum < 0.9999 else "red")
    assert row["es_z2"] == pytest.approx(_z2_loop(notional * r, var, es, alpha), rel=1e-12)


@pytest.mark.parametrize("breaches,zone", [(4, "green"), (5, "yellow"), (9, "yellow"), (10, "red")])
def test_basel_zone_for_250_days_of_a_99_percent_var(breaches, zone):
    r = np.full(250, 0.001)
    r[:breaches] = -0.1
    row = backtest_var_es(r, np.full(250, 0.05), np.full(250, 0.06), tail=0.01, volatility=0.02, n_sims=100)
    assert row["breaches"] == breaches and row["basel_zone"] == zone


def test_z2_by_hand_on_a_tiny_case():
    # Two breaches of 4 days at alpha = 0.5: Z2 = (-2/(4*.5*1) + -3/(4*.5*2)) + 1 = -0.75.
    row = backtest_var_es([-2.0, 0.5, -3.0, 0.1], [1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 2.0, 1.0], tail=0.5,
                          volatility=1.0, n_sims=100)
    assert row["breaches"] == 2 and row["es_z2"] == pytest.approx(-0.75)


def test_nan_rows_are_skipped():
    r, sigma, var, es = _series(4)
    base = backtest_var_es(r, var, es, tail=0.025, volatility=sigma, dof=5.0, n_sims=500, seed=7)
    live = backtest_var_es(np.append(r, np.nan), np.append(var, var[-1]), np.append(es, es[-1]), tail=0.025,
                           volatility=np.append(sigma, sigma[-1]), dof=5.0, n_sims=500, seed=7)
    assert live == base


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="tail"):
        backtest_var_es([0.0], [1.0], [1.0], tail=1.5)
    with pytest.raises(ValueError, match="length"):
        backtest_var_es([0.0, 0.1], [1.0], [1.0], tail=0.05)
    with pytest.raises(ValueError, match="cvar"):
        backtest_var_es([0.0], [1.0], [0.0], tail=0.05)


def _brute_force_p(z2, sigma, nu, var, es, alpha, n_sims, seed):
    rng = np.random.default_rng(seed)
    paths = np.column_stack([_draw(rng, s, nu, n_sims) for s in sigma])
    hits = paths + var < 0
    sims = np.sum(np.where(hits, paths / es, 0.0), axis=1) / (len(sigma) * alpha) + 1
    return np.mean(sims <= z2)


@pytest.mark.parametrize("nu,alpha", [(4.0, 0.025), (math.inf, 0.05), (8.0, 0.01)])
def test_z2_p_value_matches_brute_force_simulation(nu, alpha):
    r, sigma, var, es = _series(11, days=120, alpha=alpha, true_nu=3.0, model_nu=nu)
    r[[10, 50]] = -1.2 * var[[10, 50]]  # two breaches, so that Z2 < 1 and the p-value is not trivially 1
    row = backtest_var_es(r, var, es, tail=alpha, volatility=sigma, dof=nu, n_sims=20_000, seed=1)
    brute = _brute_force_p(row["es_z2"], sigma, nu, var, es, alpha, 20_000, seed=99)
    assert 0.0 < brute < 1.0
    # Two independent estimates of one probability from 20,000 draws each: sd <= 0.005.
    assert row["es_p"] == pytest.approx(brute, abs=0.02)


@pytest.mark.parametrize("nu,alpha", [(4.0, 0.025), (math.inf, 0.05), (3.0, 0.01)])
def test_simulated_z2_has_mean_zero_under_the_model(nu, alpha):
    # Acerbi and Szekely: E[Z2] = 0 when VaR and ES are those of the law the P&L is drawn from,
    # because E[X I] = -alpha ES each day.
    _, sigma, var, es = _series(2, days=250, alpha=alpha, model_nu=nu)
    sims = simulated_z2(sigma, np.full(sigma.size, nu), var, es, alpha, n_sims=40_000, seed=4)
    assert abs(sims.mean()) < 5 * sims.std() / math.sqrt(sims.size)
    rng = np.random.default_rng(8)
    brute = np.column_stack([_draw(rng, s, nu, 40_000) for s in sigma])
    brute_z2 = np.sum(np.where(brute + var < 0, brute / es, 0.0), axis=1) / (sigma.size * alpha) + 1
    assert sims.std() == pytest.approx(brute_z2.std(), rel=0.03)


def test_z2_p_value_is_seeded():
    r, sigma, var, es = _series(5)
    a = backtest_var_es(r, var, es, tail=0.025, volatility=sigma, dof=5.0, n_sims=3000, seed=3)
    b = backtest_var_es(r, var, es, tail=0.025, volatility=sigma, dof=5.0, n_sims=3000, seed=3)
    assert a == b


def test_z2_p_value_is_uniform_under_the_model_and_small_when_es_is_too_small():
    alpha, reps = 0.025, 100
    null, wrong = [], []
    for k in range(reps):
        r, sigma, var, es = _series(1000 + k, alpha=alpha, true_nu=4.0, model_nu=4.0)
        null.append(backtest_var_es(r, var, es, tail=alpha, volatility=sigma, dof=4.0, n_sims=1000, seed=k)["es_p"])
        # A model whose volatility is 30% too low: its VaR and ES are too small.
        r, sigma, var, es = _series(5000 + k, alpha=alpha, true_nu=4.0, model_nu=4.0, model_scale=0.7)
        wrong.append(backtest_var_es(r, var, es, tail=alpha, volatility=sigma, dof=4.0, n_sims=1000, seed=k)["es_p"])
    null, wrong = np.array(null), np.array(wrong)
    # Z2 is discrete near 1 (no breach at all), so compare with the uniform at the levels that matter.
    assert stats.kstest(null, "uniform").pvalue > 0.001
    assert abs(np.mean(null <= 0.05) - 0.05) < 0.06 and abs(np.mean(null <= 0.5) - 0.5) < 0.15
    assert np.mean(wrong <= 0.05) > 0.8 and np.median(wrong) < np.median(null)


@pytest.mark.parametrize("nu,alpha", [(3.0, 0.01), (6.5, 0.05), (40.0, 0.025), (math.inf, 0.01)])
def test_implied_t_law_recovers_the_t(nu, alpha):
    var, es = _t_var_es(0.02, nu, alpha, 1000.0)
    scale, dof = implied_t_law([var], [es], alpha)
    assert scale[0] == pytest.approx(1000.0 * 0.02, rel=1e-5)
    if math.isinf(nu):
        assert math.isinf(dof[0])
    else:
        assert dof[0] == pytest.approx(nu, rel=1e-4)


def test_without_volatility_the_law_comes_from_var_and_es():
    r, sigma, var, es = _series(8, alpha=0.025, model_nu=5.0)
    given = backtest_var_es(r, var, es, tail=0.025, volatility=sigma, dof=5.0, n_sims=20_000, seed=2)
    implied = backtest_var_es(r, var, es, tail=0.025, n_sims=20_000, seed=2)
    assert implied["es_z2"] == given["es_z2"]
    assert implied["es_p"] == pytest.approx(given["es_p"], abs=0.02)
