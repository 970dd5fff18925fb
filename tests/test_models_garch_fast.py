"""Warm-started daily GARCH-t refits against arch: the same likelihood, at least arch's maximum, its forecasts."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import data_file
from marketcast.models import _garch_fast, garch
from marketcast.stats import log_returns, window_stats


def arch_fit(y, o=0, mean="Zero", dist="t"):
    from arch import arch_model

    return arch_model(y, mean=mean, vol="GARCH", p=1, o=o, q=1, dist=dist, rescale=False).fit(disp="off", show_warning=False)


def params_of(res, o, mean, dist):
    p = res.params
    return np.array([p["mu"] if mean == "Constant" else 0.0, p["omega"], p["alpha[1]"], p["gamma[1]"] if o else 0.0,
                     p["beta[1]"], p["nu"] if dist == "t" else 0.0])


def arch_loglik(y, p, o, mean, dist):
    """arch's own log-likelihood at parameters p (its fix(): no optimiser)."""
    from arch import arch_model

    names = (["mu"] if mean == "Constant" else []) + ["omega", "alpha[1]"] + (["gamma[1]"] if o else []) + ["beta[1]"]
    values = ([p[0]] if mean == "Constant" else []) + [p[1], p[2]] + ([p[3]] if o else []) + [p[4]]
    if dist == "t":
        values.append(p[5])
    fixed = arch_model(y, mean=mean, vol="GARCH", p=1, o=o, q=1, dist=dist, rescale=False).fix(values)
    return fixed.loglikelihood, fixed


def built_kernel():
    """The compiled kernel, even where MARKETCAST_KERNELS=off (.ci/kernels runs these tests so)."""
    return pytest.importorskip("marketcast.models._garch_kernel")


def real_returns(name: str) -> np.ndarray:
    from marketcast.data import load_series

    if name == "VIX":
        return log_returns(load_series(data_file("VIX_History.csv"))).to_numpy()
    path = data_file(f"sp500/daily_adjusted/DA-{name}-T-2021-04-21.csv")
    return log_returns(load_series(path, "adjusted_close")).to_numpy()


@pytest.mark.realdata
@pytest.mark.parametrize("o,mean,dist", [(0, "Zero", "t"), (1, "Zero", "t"), (0, "Constant", "t"), (1, "Constant", "normal")])
def test_the_likelihood_and_gradient_are_archs(o, mean, dist):
    y = 100 * real_returns("AAPL")[-505:-1]
    p = params_of(arch_fit(y, o, mean, dist), o, mean, dist) * 1.01  # away from the optimum: gradient not 0
    bc = _garch_fast.backcast(y - (y.mean() if mean == "Constant" else 0.0))
    ll_c, g_c, var_c = _garch_fast.loglik(y, p, dist == "t", bc, True)
    ll_n, g_n, var_n = _garch_fast.loglik(y, p, dist == "t", bc, True, kernel=None)  # the NumPy fallback
    expected, fixed = arch_loglik(y, p, o, mean, dist)
    assert ll_c == pytest.approx(expected, rel=1e-12) and ll_n == pytest.approx(expected, rel=1e-12)
    assert var_c == pytest.approx(fixed.forecast(horizon=1, reindex=False).variance.to_numpy()[-1, 0], rel=1e-12)
    np.testing.assert_allclose(g_c, g_n, rtol=1e-9, atol=1e-9)
    for i in np.flatnonzero(p):  # central differences of arch's own likelihood
        h = 1e-5 * abs(p[i])
        up, down = p.copy(), p.copy()
        up[i] += h
        down[i] -= h
        numeric = (arch_loglik(y, up, o, mean, dist)[0] - arch_loglik(y, down, o, mean, dist)[0]) / (2 * h)
        assert g_c[i] == pytest.approx(numeric, rel=1e-5, abs=1e-4)


@pytest.mark.realdata
@pytest.mark.parametrize("o,mean,dist", [(1, "Constant", "t"), (1, "Constant", "normal")])
def test_the_hessian_is_the_gradients_derivative_in_c_and_numpy(o, mean, dist):
    y = 100 * real_returns("AAPL")[-505:-1]
    p = params_of(arch_fit(y, o, mean, dist), o, mean, dist) * 1.01
    bc = _garch_fast.backcast(y - (y.mean() if mean == "Constant" else 0.0))
    t = dist == "t"
    kernel = built_kernel()
    c = _garch_fast.derivatives(y, p, t, bc, 2, kernel)
    n = _garch_fast.derivatives(y, p, t, bc, 2, kernel=None)
    assert c.loglik == pytest.approx(n.loglik, rel=1e-13) and c.variance == pytest.approx(n.variance, rel=1e-13)
    np.testing.assert_allclose(c.hess, n.hess, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(c.hess, c.hess.T)
    numeric = np.zeros((6, 6))
    for i in range(6 if t else 5):  # central differences of the NumPy gradient
        h = 1e-6 * max(abs(p[i]), 0.1)
        up, down = p.copy(), p.copy()
        up[i] += h
        down[i] -= h
        numeric[:, i] = (_garch_fast.derivatives(y, up, t, bc, 1, None).grad
                         - _garch_fast.derivatives(y, down, t, bc, 1, None).grad) / (2 * h)
    np.testing.assert_allclose(c.hess, numeric, rtol=1e-6, atol=1e-6 * np.abs(c.hess).max())
    values = np.empty(2)
    kernel.logliks(y, np.array([p, p * 1.1]), t, bc, values)  # the grid's evaluation: one call, rows
    assert values[0] == c.loglik and values[1] == _garch_fast.derivatives(y, p * 1.1, t, bc, 0, kernel).loglik


def test_the_kernel_refuses_arrays_of_the_wrong_type_or_size():
    kernel = built_kernel()
    y, p, g, h, out = np.ones(50), np.array([0, 0.1, 0.1, 0, 0.8, 6.0]), np.empty(6), np.empty((6, 6)), np.empty(1)
    assert np.isfinite(kernel.loglik(y, p, True, 1.0, 2, g, h, out))
    with pytest.raises(ValueError, match="p must hold at least 6 float64"):
        kernel.loglik(y, p[:5], True, 1.0, 0, g, h, out)
    with pytest.raises(ValueError, match="hess must hold"):
        kernel.loglik(y, p, True, 1.0, 2, g, h[:2], out)
    with pytest.raises(ValueError, match="y must hold"):
        kernel.loglik(y.astype(np.float32), p, True, 1.0, 0, g, h, out)
    with pytest.raises(ValueError, match="order 3"):
        kernel.loglik(y, p, True, 1.0, 3, g, h, out)
    with pytest.raises(ValueError, match="contiguous"):
        kernel.newton(np.ones(100)[::2], p.copy(), True, 1.0, 0, p, p, 30, np.empty(4))


@pytest.mark.realdata
@pytest.mark.parametrize("name,model,kernels", [("AAPL", "garch", ""), ("XOM", "garch", ""), ("JPM", "gjr-garch", ""),
                                                ("VIX", "garch", ""), ("ABMD", "garch", ""), ("ABMD", "garch", "off")])
def test_daily_refits_reach_archs_maximum_and_forecast(name, model, kernels, monkeypatch):
    # 25 consecutive days, each refitted from the day before; arch fits each one from its own start.
    # ABMD has two basins (a warm start alone stays in the lower): in C and on the NumPy fallback.
    monkeypatch.setenv("MARKETCAST_KERNELS", kernels)
    o = 1 if model == "gjr-garch" else 0
    r = real_returns(name)
    windows = np.lib.stride_tricks.sliding_window_view(r, 504)[-25:]
    cls = garch.GJRGARCHVolatility if o else garch.GARCHVolatility
    res = cls().forecast_windows(windows, window_stats(windows))
    assert res.extra["converged"].all()
    for i in range(len(windows)):
        y = 100 * windows[i]
        ref = arch_fit(y, o)
        p = np.array([0.0, res.extra["garch_omega"][i], res.extra["garch_alpha"][i],
                      res.extra["garch_gamma"][i] if o else 0.0, res.extra["garch_beta"][i], res.extra["garch_nu"][i]])
        ll, _ = arch_loglik(y, p, o, "Zero", "t")
        assert ll >= ref.loglikelihood - 1e-6 * abs(ref.loglikelihood), (name, i)
        vol = np.sqrt(ref.forecast(horizon=1, reindex=False).variance.to_numpy()[-1, 0]) / 100
        # arch's SLSQP stops within ~1e-6 of its objective: forecasts agree to a few 1e-5.
        assert res.volatility[i] == pytest.approx(vol, rel=5e-4), (name, i)
        assert res.dof[i] == res.extra["garch_nu"][i]


@pytest.mark.realdata
def test_refit_every_k_is_archs_fit_then_its_fixed_parameter_forecasts():
    from marketcast.data import load_series
    from marketcast.volatility import rolling_volatility

    prices = load_series(data_file("sp500/daily_adjusted/DA-MSFT-T-2021-04-21.csv"), "adjusted_close")
    k = 5
    frame = rolling_volatility(prices, window=504, start=prices.index[-12], models=["garch"], refit_every=k)
    r = log_returns(prices).to_numpy()
    n = len(frame)
    assert n == 13  # 12 days and the live one
    windows = np.lib.stride_tricks.sliding_window_view(r, 504)[len(r) - 504 - n + 1 :]
    for d0 in range(0, n, k):
        ref = arch_fit(100 * windows[d0])
        values = ref.params.to_numpy()
        for d in range(d0, min(d0 + k, n)):
            from arch import arch_model

            fixed = arch_model(100 * windows[d], mean="Zero", vol="GARCH", p=1, q=1, dist="t", rescale=False).fix(values)
            vol = np.sqrt(fixed.forecast(horizon=1, reindex=False).variance.to_numpy()[-1, 0]) / 100
            # the refit day: within the optimiser's tolerance; the days after: its parameters exactly
            assert frame["volatility"].iloc[d] == pytest.approx(vol, rel=5e-4 if d0 else 1e-10), d
            assert frame["garch_nu"].iloc[d] == frame["garch_nu"].iloc[d0]
    with pytest.raises(Exception, match="refit-every"):
        rolling_volatility(prices, window=504, models=["garch"], refit_every=0)


def test_refit_every_is_validated_by_the_model():
    from marketcast.errors import ModelError

    r = np.random.default_rng(0).standard_normal((2, 300)) * 0.01
    with pytest.raises(ModelError, match="refit_every"):
        garch.GARCHVolatility(refit_every=0).forecast_windows(r, window_stats(r))


@pytest.mark.realdata
@pytest.mark.parametrize("o,mean,dist", [(0, False, True), (1, True, True), (1, True, False)])
def test_newton_in_c_is_its_python_reference(o, mean, dist):
    # The C iteration transliterates _newton: from the same starts (a warm one, arch's grid points,
    # one on the persistence bound) both reach the same constrained maximum without SLSQP.
    y = 100 * real_returns("JPM")[-505:-1]
    ref = arch_fit(y, o, "Constant" if mean else "Zero", "t" if dist else "normal")
    starts = [params_of(ref, o, "Constant" if mean else "Zero", "t" if dist else "normal") * 0.9]
    starts += list(_garch_fast.grid_starts(y, mean=mean, o=o, dist_t=dist, nu=8.0)[::5])
    starts.append(np.array([y.mean() if mean else 0.0, 0.1, 0.2 - 0.05 * o, 0.1 * o, 0.8, 6.0]))  # persistence 1
    kernel = built_kernel()
    for start in starts:
        c = _garch_fast.fit(y, start, mean=mean, o=o, dist_t=dist, kernel=kernel)
        n = _garch_fast.fit(y, start, mean=mean, o=o, dist_t=dist, kernel=None)
        assert c.converged and n.converged and not c.polished and not n.polished, start
        assert c.loglik == pytest.approx(n.loglik, rel=1e-12), start
        np.testing.assert_allclose(c.params, n.params, rtol=1e-5, atol=1e-7)
        assert c.loglik >= ref.loglikelihood - 1e-6 * abs(ref.loglikelihood), start


def test_fast_fit_from_a_poor_start_reaches_the_maximum():
    rng = np.random.default_rng(5)
    x = np.empty(1500)
    s2 = 1.0
    for t in range(1500):
        x[t] = np.sqrt(s2) * rng.standard_t(6) * np.sqrt(4 / 6)
        s2 = 0.05 + 0.1 * x[t] ** 2 + 0.85 * s2
    ref = arch_fit(x)
    for kernel in (built_kernel(), None):  # the C iteration and the NumPy one
        fast = _garch_fast.fit(x, np.array([0, 0.2, 0.2, 0, 0.6, 20.0]), mean=False, o=0, dist_t=True, kernel=kernel)
        assert fast.loglik >= ref.loglikelihood - 1e-6 * abs(ref.loglikelihood)


@pytest.mark.realdata
@pytest.mark.parametrize("kernel", ["c", "numpy"])
def test_the_grid_check_leaves_a_lower_basin_that_newton_alone_stays_in(kernel):
    # ABMD, 87 windows before the data's end: a persistent GARCH basin (beta ~ 0.99) and a higher
    # ARCH(1)-like one (beta = 0); arch's grid start finds the higher. A warm start from the
    # persistent basin must be moved out of it by fit_checked's grid check.
    k = built_kernel() if kernel == "c" else None
    y = 100 * np.lib.stride_tricks.sliding_window_view(real_returns("ABMD"), 504)[-87]
    ref = arch_fit(y).loglikelihood
    start = np.array([0.0, 0.01, 0.006, 0.0, 0.99, 3.4])
    alone = _garch_fast.fit(y, start, mean=False, o=0, dist_t=True, kernel=k)
    assert alone.converged and alone.params[4] > 0.9
    assert alone.loglik < ref - 1e-4 * abs(ref)  # the lower basin: the check below has work to do
    checked = _garch_fast.fit_checked(y, start, mean=False, o=0, dist_t=True, kernel=k)
    assert checked.loglik >= ref - 1e-6 * abs(ref) and checked.params[4] < 0.1


@pytest.mark.realdata
def test_cli_refit_every(capsys, tmp_path):
    import pandas as pd

    from marketcast.cli import main

    vix = str(data_file("VIX_History.csv"))
    out = tmp_path / "v.csv"
    assert main(["--quiet", "volatility", vix, "--from", "2021-05-18", "--to", "2021-05-24", "--models", "garch",
                 "--refit-every", "3", "--out", str(out)]) == 0
    nu = pd.read_csv(out)["dof"].to_numpy()
    assert nu[0] == nu[1] == nu[2] and nu[3] == nu[4] and nu[2] != nu[3]  # refits on days 1 and 4
    assert main(["--quiet", "volatility", vix, "--models", "garch", "--refit-every", "0"]) == 2
    assert "refit-every" in capsys.readouterr().err
