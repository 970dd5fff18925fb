"""VaR, CVaR and MAD against independent computations; VaR backtest statistics."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats as sst

from marketcast.risk_measures import (
    basel_traffic_light,
    christoffersen_test,
    conditional_value_at_risk,
    kupiec_test,
    mean_absolute_deviation,
    value_at_risk,
    var_backtest,
)


def test_normal_var_and_cvar():
    assert value_at_risk(1.0, np.inf, 0.05, 1.0) == pytest.approx(1.6448536, rel=1e-7)
    assert conditional_value_at_risk(1.0, np.inf, 0.05, 1.0) == pytest.approx(2.0627128, rel=1e-7)


@pytest.mark.parametrize("nu,p", [(3.9, 0.05), (2.7757, 0.05), (6.0, 0.01), (30.0, 0.025)])
def test_t_var_and_cvar_are_quantile_and_tail_mean_of_the_unit_variance_t(nu, p):
    scale = np.sqrt((nu - 2) / nu)
    q = sst.t.ppf(p, nu) * scale
    # Expected shortfall by integrating the quantile function: -(1/p) * int_0^p q(u) du.
    es = -integrate.quad(lambda u: sst.t.ppf(u, nu) * scale, 0, p, limit=200)[0] / p
    sigma, notional = 0.08, 1000.0
    assert value_at_risk(sigma, nu, p, notional) == pytest.approx(-notional * sigma * q, rel=1e-10)
    assert conditional_value_at_risk(sigma, nu, p, notional) == pytest.approx(notional * sigma * es, rel=1e-6)


def test_risk_functions_broadcast():
    sig = np.array([0.05, 0.1])
    nu = np.array([4.0, np.inf])
    v = value_at_risk(sig, nu, 0.05, 1000)
    assert v.shape == (2,) and v[1] == pytest.approx(1000 * 0.1 * 1.6448536, rel=1e-7)
    assert mean_absolute_deviation(0.1, 0.7, 0.5) == pytest.approx(0.07)


def test_kupiec_by_formula():
    n, x, p = 250, 10, 0.01
    pi = x / n
    lr = -2 * ((n - x) * np.log(1 - p) + x * np.log(p) - (n - x) * np.log(1 - pi) - x * np.log(pi))
    got_lr, got_p = kupiec_test(x, n, p)
    assert got_lr == pytest.approx(lr) and got_p == pytest.approx(sst.chi2.sf(lr, 1))
    assert kupiec_test(0, 250, 0.01)[0] == pytest.approx(-2 * 250 * np.log(0.99))


def test_christoffersen_counts_transitions():
    hits = np.array([0, 0, 1, 1, 0, 0, 0, 1, 0, 0], dtype=bool)
    n00, n01, n10, n11 = 4, 2, 2, 1
    p01, p11, pi = n01 / (n00 + n01), n11 / (n10 + n11), 3 / 9
    lnull = (n00 + n10) * np.log(1 - pi) + (n01 + n11) * np.log(pi)
    lalt = n00 * np.log(1 - p01) + n01 * np.log(p01) + n10 * np.log(1 - p11) + n11 * np.log(p11)
    lr_ind, p_ind, lr_cc, p_cc = christoffersen_test(hits, 0.05)
    assert lr_ind == pytest.approx(-2 * (lnull - lalt))
    assert lr_cc == pytest.approx(lr_ind + kupiec_test(3, 10, 0.05)[0])
    assert p_cc == pytest.approx(sst.chi2.sf(lr_cc, 2))


def test_basel_traffic_light_zones_for_250_days_at_99():
    assert [basel_traffic_light(k, 250, 0.01) for k in (0, 4, 5, 9, 10)] == ["green", "green", "yellow", "yellow", "red"]


def test_var_backtest_on_simulated_normal_returns_is_calibrated():
    rng = np.random.default_rng(4)
    r = rng.normal(0, 0.02, 20_000)
    var = value_at_risk(np.full(r.size, 0.02), np.inf, 0.05, 1000)
    bt = var_backtest(r, var, 0.05, 1000)
    assert bt.days == 20_000 and abs(bt.breach_rate - 0.05) < 0.006
    assert bt.kupiec_pvalue > 0.01 and bt.traffic_light == "green"
    bad = var_backtest(r, var / 2, 0.05, 1000)
    assert bad.breach_rate > 0.15 and bad.kupiec_pvalue < 1e-10 and bad.traffic_light == "red"


def test_the_fast_t_quantile_and_density_are_scipys():
    # risk_measures calls scipy's own special functions without its generic argument handling.
    from marketcast.risk_measures import _t_pdf, _t_ppf

    nu = np.concatenate([np.linspace(2.0001, 60.0, 2001), [3.0, 1e6]])
    x = np.linspace(-12.0, 12.0, nu.size)
    for p in (0.001, 0.01, 0.05, 0.5, 0.975):
        np.testing.assert_array_equal(_t_ppf(p, nu), sst.t.ppf(p, nu))
    np.testing.assert_array_equal(_t_pdf(x, nu), sst.t.pdf(x, nu))
