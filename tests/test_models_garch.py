"""GARCH(1,1)-t and GJR-GARCH adapters, checked on series simulated here with known parameters."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from marketcast.errors import ModelError


def simulate(n: int, omega: float, alpha: float, beta: float, nu: float, gamma: float = 0.0, seed: int = 0) -> np.ndarray:
    """GJR-GARCH(1,1) with unit-variance t innovations, in percent; returns decimal log returns."""
    rng = np.random.default_rng(seed)
    eps = rng.standard_t(nu, n + 500) * np.sqrt((nu - 2.0) / nu)
    x = np.empty(n + 500)
    s2 = omega / (1.0 - alpha - gamma / 2.0 - beta)
    for t in range(n + 500):
        x[t] = np.sqrt(s2) * eps[t]
        s2 = omega + (alpha + gamma * (x[t] < 0)) * x[t] ** 2 + beta * s2
    return x[500:] / 100.0  # burn-in dropped


def one_step_by_hand(r: np.ndarray, omega, alpha, beta, gamma=0.0) -> float:
    """sqrt(omega + (alpha + gamma I) r_T^2 + beta sigma_T^2) from the recursion, in return units."""
    x = 100.0 * r
    s2 = np.mean(x**2)  # the start is forgotten after thousands of steps (beta^T ~ 0)
    for v in x:
        s2 = omega + (alpha + gamma * (v < 0)) * v**2 + beta * s2
    return float(np.sqrt(s2)) / 100.0


@pytest.fixture(scope="module")
def garch_returns():
    return simulate(6000, omega=0.05, alpha=0.08, beta=0.90, nu=6.0, seed=1)


def test_import_is_cheap():
    code = "import sys, marketcast.models.garch; print('arch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


def test_garch_t_recovers_the_simulated_parameters_and_its_one_step_formula(garch_returns):
    from marketcast.models.garch import GARCHVolatility

    m = GARCHVolatility().fit(garch_returns)
    print(f"\nomega {m.garch_omega_:.4f} alpha {m.garch_alpha_:.4f} beta {m.garch_beta_:.4f} nu {m.garch_nu_:.2f}")
    assert m.garch_omega_ == pytest.approx(0.05, abs=0.03)
    assert m.garch_alpha_ == pytest.approx(0.08, abs=0.03)
    assert m.garch_beta_ == pytest.approx(0.90, abs=0.04)
    assert m.garch_nu_ == pytest.approx(6.0, abs=1.5)
    assert m.converged_ == 1.0
    expected = one_step_by_hand(garch_returns, m.garch_omega_, m.garch_alpha_, m.garch_beta_)
    assert m.volatility_ == pytest.approx(expected, rel=1e-9)
    assert m.dof_ == m.garch_nu_  # the model's own t, not the sign-correlation one


def test_gjr_finds_the_asymmetry(garch_returns):
    from marketcast.models.garch import GJRGARCHVolatility

    r = simulate(6000, omega=0.05, alpha=0.02, beta=0.88, nu=7.0, gamma=0.12, seed=2)
    m = GJRGARCHVolatility().fit(r)
    print(f"\nGJR: alpha {m.garch_alpha_:.4f} gamma {m.garch_gamma_:.4f} beta {m.garch_beta_:.4f} nu {m.garch_nu_:.2f}")
    assert m.garch_gamma_ == pytest.approx(0.12, abs=0.05) and m.garch_gamma_ > 0.05
    assert m.volatility_ == pytest.approx(one_step_by_hand(r, m.garch_omega_, m.garch_alpha_, m.garch_beta_, m.garch_gamma_), rel=1e-9)
    # On symmetric GARCH data the asymmetry term is near zero.
    sym = GJRGARCHVolatility().fit(garch_returns)
    assert abs(sym.garch_gamma_) < 0.04


def test_rolling_dof_is_the_fitted_nu_and_drives_var(garch_returns):
    from arch import arch_model

    from marketcast.volatility import rolling_volatility

    prices = pd.Series(100.0 * np.exp(np.concatenate([[0.0], np.cumsum(garch_returns[:1300])])),
                       index=pd.bdate_range("2010-01-04", periods=1301))
    frame = rolling_volatility(prices, window=1000, start=prices.index[-3], models=["garch"])
    assert len(frame) == 4 and (frame["distribution"] == "t").all()
    np.testing.assert_array_equal(frame["dof"], frame["garch_nu"])
    # The first forecast (for the return at position 1297) uses returns 297..1296; fitted
    # directly with arch, it gives the same nu and volatility.
    first = np.log(prices).diff().to_numpy()[1:][297:1297]
    np.testing.assert_allclose(first, garch_returns[297:1297], rtol=1e-8, atol=1e-15)
    res = arch_model(100 * first, mean="Zero", vol="GARCH", p=1, q=1, dist="t").fit(disp="off", show_warning=False)
    assert frame["garch_nu"].iloc[0] == pytest.approx(res.params["nu"], rel=1e-6)
    vol = np.sqrt(res.forecast(horizon=1, reindex=False).variance.to_numpy()[-1, 0]) / 100
    assert frame["volatility"].iloc[0] == pytest.approx(vol, rel=1e-6)
    # VaR at 5% on 1000 with the unit-variance t of the fitted nu (VIX paper, section III).
    nu = frame["dof"].to_numpy()
    var = -1000 * frame["volatility"].to_numpy() * np.sqrt((nu - 2) / nu) * sps.t.ppf(0.05, nu)
    np.testing.assert_allclose(frame["var"], var, rtol=1e-10)


def test_normal_innovations_and_a_constant_mean(garch_returns):
    from marketcast.models.garch import GARCHVolatility

    m = GARCHVolatility(mean="constant", dist="normal").fit(garch_returns[:2000])
    assert np.isinf(m.dof_) and np.isinf(m.garch_nu_) and np.isfinite(m.garch_mu_)
    with pytest.raises(ModelError, match="dist"):
        GARCHVolatility(dist="skewt").fit(garch_returns[:500])
    with pytest.raises(ModelError, match="mean"):
        GARCHVolatility(mean="ar").fit(garch_returns[:500])


def test_a_failing_window_falls_back_instead_of_stopping_the_run(monkeypatch, garch_returns):
    import marketcast.models.garch as garch
    from marketcast.stats import window_stats

    real = garch.fit_garch
    calls = []

    def flaky(r, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise np.linalg.LinAlgError("singular")
        return real(r, **kw)

    monkeypatch.setattr(garch, "fit_garch", flaky)
    windows = np.stack([garch_returns[i : i + 500] for i in (0, 500, 1000)])
    res = garch.GARCHVolatility().forecast_windows(windows, window_stats(windows))
    assert res.extra["converged"].tolist() == [True, False, True]
    assert np.isnan(res.extra["garch_omega"][1]) and np.isfinite(res.extra["garch_omega"][[0, 2]]).all()
    assert res.volatility[1] == pytest.approx(np.sqrt(np.mean(windows[1] ** 2)))
    assert res.dof[1] == pytest.approx(window_stats(windows[1:2]).dof[0])  # sign-correlation dof
