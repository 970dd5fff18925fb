"""Sign correlation (eq. 3), t degrees of freedom (eq. 4) and sample volatilities."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, optimize, special, stats as sst

from marketcast.stats import (
    NORMAL_SIGN_CORRELATION,
    cdf_at_mean,
    log_returns,
    sample_volatility,
    sign_correlation,
    t_dof_from_sign_correlation,
    window_stats,
)


def test_sign_correlation_is_pearson_of_centred_values_and_signs():
    x = np.random.default_rng(0).standard_t(4, 500)
    c = x - x.mean()
    assert sign_correlation(x) == pytest.approx(np.corrcoef(c, np.sign(c))[0, 1], rel=1e-13)


def test_sign_correlation_of_a_large_normal_sample_is_sqrt_2_over_pi():
    x = np.random.default_rng(1).standard_normal(400_000)
    assert sign_correlation(x) == pytest.approx(NORMAL_SIGN_CORRELATION, abs=2e-3)


@pytest.mark.parametrize("nu", [2.5, 3.0, 4.0, 7.0, 30.0])
def test_eq4_against_the_t_law_by_numerical_integration(nu):
    # For a centred t, Corr(X, sign X) = E|X| / sd(X); compute E|X| by quadrature, independently.
    e_abs = 2 * integrate.quad(lambda x: x * sst.t.pdf(x, nu), 0, np.inf)[0]
    rho = e_abs / np.sqrt(nu / (nu - 2))
    assert t_dof_from_sign_correlation(rho) == pytest.approx(nu, rel=1e-7)


def test_dof_is_exact_and_vectorised_against_brentq():
    rho = np.array([0.05, 0.3, 0.6036, 0.7041, 0.75, 0.79])
    nu = t_dof_from_sign_correlation(rho)
    for r, n in zip(rho, nu):
        ref = optimize.brentq(lambda v: 2 * np.sqrt(v - 2) - (v - 1) * r * special.beta(v / 2, 0.5), 2 + 1e-12, 1e6, xtol=1e-14)
        assert n == pytest.approx(ref, rel=1e-10)
    assert t_dof_from_sign_correlation(0.6036) == pytest.approx(2.7758, abs=1e-4)  # Table IV text: 2.7757


def test_dof_is_normal_at_and_above_sqrt_2_over_pi_and_nan_for_nonsense():
    out = t_dof_from_sign_correlation(np.array([NORMAL_SIGN_CORRELATION, 0.9, np.nan, -0.1]))
    assert np.isinf(out[0]) and np.isinf(out[1]) and np.isnan(out[2]) and np.isnan(out[3])
    assert isinstance(t_dof_from_sign_correlation(0.7), float)


def test_sample_volatility_formula_by_hand():
    x = np.array([0.1, -0.2, 0.05, 0.3, -0.1, 0.0])
    m = x.mean()
    f = np.mean(x <= m)
    c = x - m
    rho = np.corrcoef(c, np.sign(c))[0, 1]
    expected = np.abs(c) / (2 * rho * np.sqrt(f * (1 - f)))
    np.testing.assert_allclose(sample_volatility(x), expected, rtol=1e-13)
    assert cdf_at_mean(x) == f


def test_sample_volatility_is_unbiased_for_sigma_on_normal_data():
    x = np.random.default_rng(2).normal(0, 0.03, 200_000)
    assert sample_volatility(x).mean() == pytest.approx(0.03, rel=5e-3)


def test_window_stats_match_one_window_at_a_time():
    rng = np.random.default_rng(3)
    w = rng.standard_t(4, (7, 120)) * 0.05
    st = window_stats(w)
    for i in range(7):
        assert st.rho[i] == pytest.approx(sign_correlation(w[i]), rel=1e-13)
        assert st.dof[i] == pytest.approx(t_dof_from_sign_correlation(sign_correlation(w[i])), rel=1e-12)
        np.testing.assert_allclose(st.z[i], sample_volatility(w[i]), rtol=1e-13)


def test_log_returns_keep_dates():
    import pandas as pd

    p = pd.Series([10.0, 11.0, 9.9], index=pd.bdate_range("2021-01-04", periods=3))
    r = log_returns(p)
    assert list(r.index) == list(p.index[1:])
    np.testing.assert_allclose(r.to_numpy(), np.log([1.1, 0.9]))
