"""NNAR, the port of R's forecast::nnetar: every piece against an independent computation.

* AR order selection against Yule-Walker solved with scipy's Toeplitz solver and R's AIC.
* vmmin against R's own documented result (``optim(c(-1.2,1), fr, grr, method="BFGS")``),
  against a statement-by-statement transliteration of the C code written here, and against
  scipy's BFGS.
* The network gradient against finite differences; forecasts against a plain NumPy forward
  pass written here.
* Forecast quality on simulated nonlinear data, plausibility on the VIX (Table V), and
  interval coverage on simulated AR(1) data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import optimize
from scipy.linalg import solve_toeplitz

from marketcast.errors import ModelError, NotFittedError
from marketcast.models.nnar import (
    NNARForecaster,
    NNARVolatility,
    ar_yule_walker,
    eureka,
    fit_nnets,
    lag_matrix,
    n_weights,
    nnet_outputs,
    nnet_sse,
    nnetar,
    nnetar_forecast,
    nnetar_intervals,
    nnetar_order,
    nnetar_size,
    vmmin,
)

# ------------------------------------------------------------------------------------------
# Independent reference implementations
# ------------------------------------------------------------------------------------------


def simulate_ar(phi, n, seed, burn=500):
    rng = np.random.default_rng(seed)
    phi = np.asarray(phi, dtype=float)
    e = rng.standard_normal(n + burn)
    x = np.zeros(n + burn)
    for t in range(len(phi), n + burn):
        x[t] = phi @ x[t - len(phi) : t][::-1] + e[t]
    return x[burn:]


def r_ar_aic(x, order_max):
    """R's ar.yw AIC, from Yule-Walker equations solved by scipy for every order."""
    n = len(x)
    xc = x - x.mean()
    r = np.array([np.sum(xc[: n - k] * xc[k:]) / n for k in range(order_max + 1)])
    var = [r[0]]
    for k in range(1, order_max + 1):
        phi = solve_toeplitz(r[:k], r[1 : k + 1])
        var.append(r[0] - phi @ r[1 : k + 1])  # innovation variance of the AR(k) fit
    aic = n * np.log(var) + 2 * np.arange(order_max + 1) + 2
    return aic - aic.min(), np.array(var)


def sigmoid_nnet(z):
    out = 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))
    return np.where(z < -15, 0.0, np.where(z > 15, 1.0, out))


def forward_reference(w, x, size):
    """One network, written out: hidden unit j has bias w[j*(p+1)] and input weights after it."""
    p = x.shape[1]
    out = np.full(x.shape[0], w[size * (p + 1)])
    for j in range(size):
        wj = w[j * (p + 1) : (j + 1) * (p + 1)]
        out += w[size * (p + 1) + 1 + j] * sigmoid_nnet(wj[0] + x @ wj[1:])
    return out


def vmmin_reference(fn, gr, b, maxit, abstol, reltol):
    """R's vmmin (src/appl/optim.c), transliterated statement by statement (no mask).

    Scalar loops and a lower-triangular B exactly as in the C code; returns
    (b, Fmin, fail, fncount, grcount).
    """
    stepredn, acctol, reltest = 0.2, 0.0001, 10.0
    n = len(b)
    b = [float(v) for v in b]
    B = [[0.0] * (i + 1) for i in range(n)]
    X = [0.0] * n
    c = [0.0] * n
    t = [0.0] * n
    f = fn(b)
    Fmin = f
    funcount = gradcount = 1
    g = list(gr(b))
    it = 1
    ilast = gradcount
    count = 0
    while True:
        if ilast == gradcount:
            for i in range(n):
                for j in range(i):
                    B[i][j] = 0.0
                B[i][i] = 1.0
        for i in range(n):
            X[i] = b[i]
            c[i] = g[i]
        gradproj = 0.0
        for i in range(n):
            s = 0.0
            for j in range(i + 1):
                s -= B[i][j] * g[j]
            for j in range(i + 1, n):
                s -= B[j][i] * g[j]
            t[i] = s
            gradproj += s * g[i]
        if gradproj < 0.0:
            steplength = 1.0
            accpoint = False
            while True:
                count = 0
                for i in range(n):
                    b[i] = X[i] + steplength * t[i]
                    if reltest + X[i] == reltest + b[i]:
                        count += 1
                if count < n:
                    f = fn(b)
                    funcount += 1
                    accpoint = np.isfinite(f) and f <= Fmin + gradproj * steplength * acctol
                    if not accpoint:
                        steplength *= stepredn
                if count == n or accpoint:
                    break
            enough = f > abstol and abs(f - Fmin) > reltol * (abs(Fmin) + reltol)
            if not enough:
                count = n
                Fmin = f
            if count < n:
                Fmin = f
                g = list(gr(b))
                gradcount += 1
                it += 1
                D1 = 0.0
                for i in range(n):
                    t[i] = steplength * t[i]
                    c[i] = g[i] - c[i]
                    D1 += t[i] * c[i]
                if D1 > 0:
                    D2 = 0.0
                    for i in range(n):
                        s = 0.0
                        for j in range(i + 1):
                            s += B[i][j] * c[j]
                        for j in range(i + 1, n):
                            s += B[j][i] * c[j]
                        X[i] = s
                        D2 += s * c[i]
                    D2 = 1.0 + D2 / D1
                    for i in range(n):
                        for j in range(i + 1):
                            B[i][j] += (D2 * t[i] * t[j] - X[i] * t[j] - t[i] * X[j]) / D1
                else:
                    ilast = gradcount
            else:
                if ilast < gradcount:
                    count = 0
                    ilast = gradcount
        else:
            count = 0
            if ilast == gradcount:
                count = n
            else:
                ilast = gradcount
        if it >= maxit:
            break
        if gradcount - ilast > 2 * n:
            ilast = gradcount
        if not (count != n or ilast != gradcount):
            break
    return np.array(b), Fmin, int(it >= maxit), funcount, gradcount


def rosenbrock(x):
    x = np.atleast_2d(x)
    x1, x2 = x[:, 0], x[:, 1]
    f = 100 * (x2 - x1 * x1) ** 2 + (1 - x1) ** 2
    g = np.stack([-400 * x1 * (x2 - x1 * x1) - 2 * (1 - x1), 200 * (x2 - x1 * x1)], axis=1)
    return f, g


OPTIM_RELTOL = float(np.sqrt(np.finfo(float).eps))  # optim's default reltol


def nonlinear_series(n, seed):
    """A noisy logistic map, x' = 3.8 x (1 - x) + noise, kept inside (0.01, 0.99)."""
    rng = np.random.default_rng(seed)
    x = np.empty(n)
    x[0] = 0.3
    for t in range(1, n):
        x[t] = np.clip(3.8 * x[t - 1] * (1 - x[t - 1]) + 0.02 * rng.standard_normal(), 0.01, 0.99)
    return x


# ------------------------------------------------------------------------------------------
# Order selection and network size
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("phi,n,seed", [((0.5, -0.3), 300, 1), ((0.4, 0.1, -0.2, 0.15, -0.25), 504, 2),
                                        ((0.9,), 120, 3), ((0.2, 0.0, 0.0, 0.0, 0.35), 1000, 4)])
def test_ar_order_and_aic_match_yule_walker_solved_independently(phi, n, seed):
    x = simulate_ar(phi, n, seed) + 3.0
    order_max = min(n - 1, int(np.floor(10 * np.log10(n))))
    aic, var = r_ar_aic(x, order_max)
    fit = ar_yule_walker(x)
    assert fit.order_max == order_max
    np.testing.assert_allclose(fit.aic, aic, rtol=1e-9, atol=1e-7)
    assert fit.order == int(np.argmin(aic))
    # R's var.pred: the chosen order's innovation variance times N / (N - (order + 1)).
    assert fit.var_pred == pytest.approx(var[fit.order] * n / (n - fit.order - 1), rel=1e-10)
    # Coefficients: the Yule-Walker solution of that order.
    if fit.order:
        xc = x - x.mean()
        r = np.array([xc[: n - k] @ xc[k:] / n for k in range(fit.order + 1)])
        np.testing.assert_allclose(fit.ar, solve_toeplitz(r[:-1], r[1:]), rtol=1e-9, atol=1e-12)


def test_eureka_partial_autocorrelations_and_variances():
    x = simulate_ar((0.6, -0.2, 0.1), 400, 5)
    xc = x - x.mean()
    r = np.array([xc[: 400 - k] @ xc[k:] / 400 for k in range(9)])
    coefs, var = eureka(r, 8)
    for k in range(1, 9):
        phi = solve_toeplitz(r[:k], r[1 : k + 1])
        np.testing.assert_allclose(coefs[k - 1, :k], phi, rtol=1e-9, atol=1e-12)
        assert var[k - 1] == pytest.approx(r[0] - phi @ r[1 : k + 1], rel=1e-10)
    # var = r0 * prod(1 - pacf^2)
    np.testing.assert_allclose(var, r[0] * np.cumprod(1 - np.diag(coefs) ** 2), rtol=1e-10)


@pytest.mark.parametrize("phi", [(0.5, -0.3), (0.4, 0.1, -0.2, 0.15, -0.25)])
def test_ar_order_recovers_the_true_order_on_long_series(phi):
    orders = [ar_yule_walker(simulate_ar(phi, 5000, seed)).order for seed in range(10)]
    # AIC never under-fits strong coefficients on 5000 values; it over-fits now and then.
    assert min(orders) == len(phi)
    assert sum(o == len(phi) for o in orders) >= 6


def test_nnetar_order_is_at_least_one_and_below_n():
    white = np.random.default_rng(0).standard_normal(500)
    assert ar_yule_walker(white).order == 0
    assert nnetar_order(white) == 1
    assert nnetar_order(np.array([1.0, 3.0, 2.0])) in (1, 2)


def test_size_rounds_half_to_even_like_r():
    # R: round(1) = 1, round(1.5) = 2, round(2) = 2, round(2.5) = 2, round(3) = 3, round(3.5) = 4
    assert [nnetar_size(p) for p in (1, 2, 3, 4, 5, 6, 7)] == [1, 2, 2, 2, 3, 4, 4]


def test_lag_matrix_columns_are_lags_one_to_p():
    x = np.arange(10.0)
    X, y = lag_matrix(x, 3)
    assert X.shape == (7, 3)
    np.testing.assert_array_equal(X[0], [2.0, 1.0, 0.0])
    np.testing.assert_array_equal(y, x[3:])


# ------------------------------------------------------------------------------------------
# The network objective
# ------------------------------------------------------------------------------------------


def test_outputs_match_a_plain_forward_pass():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((50, 3)) * 4  # large inputs: some units saturate past +-15
    w = rng.uniform(-3, 3, (4, n_weights(3, 2)))
    out = nnet_outputs(w, x, 2)
    for k in range(4):
        np.testing.assert_allclose(out[k], forward_reference(w[k], x, 2), rtol=1e-13, atol=1e-13)
    y = rng.standard_normal(50)
    f, _ = nnet_sse(w, x, y, 2, decay=0.1)
    expected = [np.sum((forward_reference(w[k], x, 2) - y) ** 2) + 0.1 * w[k] @ w[k] for k in range(4)]
    np.testing.assert_allclose(f, expected, rtol=1e-12)


@pytest.mark.parametrize("decay", [0.0, 0.05])
def test_gradient_matches_finite_differences(decay):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((80, 4))
    y = np.sin(x[:, 0]) + 0.1 * rng.standard_normal(80)
    w = rng.uniform(-0.7, 0.7, n_weights(4, 3))
    _, g = nnet_sse(w, x, y, 3, decay)
    h = 1e-6
    num = np.array([(nnet_sse(w + h * e, x, y, 3, decay)[0] - nnet_sse(w - h * e, x, y, 3, decay)[0]) / (2 * h)
                    for e in np.eye(w.size)])
    np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-6)


def test_nnet_kernel_is_built_on_linux_x86_64():
    # The README's NNAR timing rests on it: a broken build must fail here, not skip.
    import platform
    import sys

    from marketcast.models import _kernels

    if sys.platform == "linux" and platform.machine() == "x86_64":
        assert _kernels.kernel_built("_nnet_kernel")  # whatever MARKETCAST_KERNELS says


@pytest.mark.parametrize("m", [1, 7])
def test_c_passes_equal_the_numpy_passes(monkeypatch, m):
    from marketcast.models import nnar

    if nnar._nnet_kernel() is None:
        pytest.skip("nnet kernel not built or switched off")
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((300, 5)) * 3, rng.standard_normal(300)
    w = rng.uniform(-3, 3, (m, n_weights(5, 3)))
    w[0, :6] *= 30  # the first hidden unit saturates past +-15 on most rows
    net = nnar._Net(x, y, 3, decay=0.02, max_nets=2)  # fewer buffers than networks: they grow
    f, g = net(w)
    out = net.outputs(w).copy()
    monkeypatch.setenv("MARKETCAST_NNET_KERNEL", "numpy")
    assert nnar._nnet_kernel() is None
    f_np, g_np = net(w)
    np.testing.assert_allclose(f, f_np, rtol=1e-12)
    np.testing.assert_allclose(g, g_np, rtol=1e-11, atol=1e-12 * np.abs(g_np).max())
    np.testing.assert_allclose(out, net.outputs(w), rtol=1e-13, atol=1e-13)
    monkeypatch.delenv("MARKETCAST_NNET_KERNEL")
    w[-1, 2] = np.nan  # a NaN weight gives NaN outputs on both paths, never a number
    assert np.isnan(net.outputs(w)[-1]).all() and np.isnan(net(w)[0][-1])


# ------------------------------------------------------------------------------------------
# vmmin
# ------------------------------------------------------------------------------------------


def test_vmmin_reproduces_rs_documented_rosenbrock_result():
    # R: optim(c(-1.2, 1), fr, grr, method = "BFGS") -> value 9.594956e-18,
    # counts function 110, gradient 43, convergence 0 (the example of ?optim).
    res = vmmin(rosenbrock, np.array([-1.2, 1.0]), maxit=100, abstol=-np.inf, reltol=OPTIM_RELTOL)
    assert (res.fncount, res.grcount, res.fail) == (110, 43, 0)
    assert res.fmin == pytest.approx(9.594956e-18, rel=1e-4)
    np.testing.assert_allclose(res.x, [1.0, 1.0], atol=1e-7)


def test_vmmin_in_lockstep_equals_the_c_code_run_one_problem_at_a_time():
    starts = np.array([[-1.2, 1.0], [2.0, -1.0], [0.0, 0.0], [-0.5, 2.5], [1.5, 1.5], [3.0, 3.0]])
    for maxit, abstol, reltol in [(100, -np.inf, OPTIM_RELTOL), (15, -np.inf, 1e-8), (200, 1e-4, 1e-8)]:
        res = vmmin(rosenbrock, starts, maxit=maxit, abstol=abstol, reltol=reltol)
        for i, s in enumerate(starts):
            b, fmin, fail, fnc, grc = vmmin_reference(lambda v: float(rosenbrock(np.array(v))[0][0]),
                                                      lambda v: rosenbrock(np.array(v))[1][0], s, maxit, abstol, reltol)
            assert (res.grcount[i], res.fail[i]) == (grc, fail)
            if abstol < 0:
                assert res.fncount[i] == fnc
            else:
                # Stopping at abstol ends in a stalled line search whose last tiny steps are
                # decided by rounding (10 + x == 10 + x'): one evaluation more or less.
                assert abs(res.fncount[i] - fnc) <= 1
            np.testing.assert_allclose(res.x[i], b, rtol=1e-12, atol=1e-14)
            assert res.fmin[i] == pytest.approx(fmin, rel=1e-6, abs=1e-15)
            one = vmmin(rosenbrock, s, maxit=maxit, abstol=abstol, reltol=reltol)
            assert (one.fncount, one.grcount, one.fmin) == (res.fncount[i], res.grcount[i], res.fmin[i])


def test_vmmin_solves_least_squares():
    rng = np.random.default_rng(3)
    A = rng.standard_normal((60, 5))
    y = A @ np.array([1.0, -2.0, 0.5, 3.0, 0.0]) + 0.1 * rng.standard_normal(60)

    def fg(beta):
        r = beta @ A.T - y
        return np.einsum("kn,kn->k", r, r), 2 * r @ A

    res = vmmin(fg, np.zeros((3, 5)) + np.arange(3)[:, None], maxit=200, abstol=-np.inf, reltol=1e-14)
    exact = np.linalg.lstsq(A, y, rcond=None)[0]
    for i in range(3):
        np.testing.assert_allclose(res.x[i], exact, rtol=1e-6, atol=1e-6)
        assert res.fail[i] == 0


def test_network_fit_follows_the_c_code():
    rng = np.random.default_rng(4)
    X, y = lag_matrix(nonlinear_series(150, 4), 2)
    init = rng.uniform(-0.7, 0.7, (3, n_weights(2, 2)))
    res = fit_nnets(X, y, 2, init=init, maxit=25)
    for i in range(3):
        b, fmin, fail, fnc, grc = vmmin_reference(lambda v: nnet_sse(np.array(v), X, y, 2)[0],
                                                  lambda v: nnet_sse(np.array(v), X, y, 2)[1],
                                                  init[i], 25, 1e-4, 1e-8)
        assert (res.fncount[i], res.grcount[i], res.fail[i]) == (fnc, grc, fail)
        # Summation order differs from the C loops; on a non-convex objective such rounding
        # differences grow slowly with the iterations (after 100 they can be visible).
        assert res.fmin[i] == pytest.approx(fmin, rel=1e-6)
        np.testing.assert_allclose(res.x[i], b, rtol=1e-4, atol=1e-5)
        alone = fit_nnets(X, y, 2, init=init[i : i + 1], maxit=100)
        together = fit_nnets(X, y, 2, init=init, maxit=100)
        np.testing.assert_allclose(together.x[i], alone.x[0], rtol=1e-9, atol=1e-11)


def test_one_network_fit_reaches_scipys_bfgs_optimum():
    rng = np.random.default_rng(5)
    x = rng.uniform(-2, 2, (200, 1))
    y = 1.5 / (1 + np.exp(-(2 * x[:, 0] - 0.5))) - 0.3 + 0.05 * rng.standard_normal(200)
    w0 = rng.uniform(-0.7, 0.7, n_weights(1, 1))
    ours = fit_nnets(x, y, 1, init=w0[None, :], maxit=2000, abstol=-np.inf, reltol=1e-14)
    ref = optimize.minimize(lambda w: nnet_sse(w, x, y, 1), w0, jac=True, method="BFGS",
                            options={"gtol": 1e-10, "maxiter": 5000})
    assert ours.fail[0] == 0
    assert ours.fmin[0] == pytest.approx(ref.fun, rel=1e-8)
    assert ours.fmin[0] == pytest.approx(nnet_sse(ours.x[0], x, y, 1)[0], rel=1e-12)


def test_fit_nnets_draws_rangs_uniform_start_weights():
    x, y = lag_matrix(nonlinear_series(60, 1), 2)
    res = fit_nnets(x, y, 2, repeats=4, rng=np.random.default_rng(9), maxit=0)
    expected = np.random.default_rng(9).uniform(-0.7, 0.7, (4, n_weights(2, 2)))
    np.testing.assert_array_equal(res.x, expected)  # maxit = 0 leaves the start alone


# ------------------------------------------------------------------------------------------
# nnetar: fit and forecasts
# ------------------------------------------------------------------------------------------


def test_nnetar_scaling_lags_and_recursive_forecasts():
    x = nonlinear_series(300, 6) * 10 + 5
    fit = nnetar(x, rng=0, repeats=5)
    assert fit.p == nnetar_order((x - x.mean()) / x.std(ddof=1))
    assert fit.size == nnetar_size(fit.p)
    assert fit.center == pytest.approx(x.mean()) and fit.scale == pytest.approx(x.std(ddof=1))
    # Recursive forecasts by hand: average the networks, feed each forecast back.
    hist = list((x - fit.center) / fit.scale)
    expected = []
    for _ in range(4):
        lags = np.array(hist[::-1][: fit.p])[None, :]
        value = np.mean([forward_reference(w, lags, fit.size)[0] for w in fit.weights])
        hist.append(value)
        expected.append(value * fit.scale + fit.center)
    np.testing.assert_allclose(nnetar_forecast(fit, 4), expected, rtol=1e-12)
    # In-sample residuals are the target minus the average network output.
    X, y = lag_matrix((x - fit.center) / fit.scale, fit.p)
    np.testing.assert_allclose(fit.residuals, y - nnet_outputs(fit.weights, X, fit.size).mean(0), atol=1e-12)


def test_nnar_beats_the_naive_forecast_on_a_nonlinear_process():
    x = nonlinear_series(700, 7)
    train = 500
    fit = nnetar(x[:train], rng=1)
    origins = range(train, len(x))  # one-step forecasts of x[t] from x[:t], model fitted on x[:500]
    nnar = np.array([nnetar_forecast(fit, 1, history=x[:t])[0] for t in origins])
    naive = x[train - 1 : -1]
    lin = ar_yule_walker(x[:train])
    linear = np.array([lin.x_mean + lin.ar @ (x[t - lin.order : t][::-1] - lin.x_mean) for t in origins])
    actual = x[train:]
    rmse = {k: np.sqrt(np.mean((v - actual) ** 2)) for k, v in [("nnar", nnar), ("naive", naive), ("ar", linear)]}
    print("one-step RMSE out of sample:", rmse)
    assert rmse["nnar"] < 0.5 * rmse["naive"]
    assert rmse["nnar"] < 0.5 * rmse["ar"]  # the nonlinearity is what it learns


# ------------------------------------------------------------------------------------------
# The forecaster class
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ar1_series():
    x = simulate_ar((0.7,), 400, 11) + 20.0
    return pd.Series(x, index=pd.bdate_range("2010-01-04", periods=len(x), name="date"))


@pytest.fixture(scope="module")
def fitted(ar1_series):
    return NNARForecaster(repeats=10, seed=3).fit(ar1_series)


def test_forecaster_basics(fitted, ar1_series):
    assert fitted.p_ >= 1 and fitted.size_ == nnetar_size(fitted.p_)
    assert NNARForecaster().stochastic and NNARForecaster.name == "nnar"
    pred = fitted.predict(5)
    assert pred.shape == (5,) and np.isfinite(pred).all()
    np.testing.assert_array_equal(fitted.clone().fit(ar1_series).predict(5), pred)  # same seed
    assert not np.array_equal(NNARForecaster(repeats=10, seed=4).fit(ar1_series).predict(5), pred)
    with pytest.raises(NotFittedError):
        NNARForecaster().predict(1)
    with pytest.raises(ModelError):
        NNARForecaster(p=0).fit(ar1_series)


def test_intervals_nested_widening_and_reproducible(fitted, ar1_series):
    iv = fitted.predict_interval(10, levels=(0.5, 0.8, 0.95))
    np.testing.assert_array_equal(iv.point, fitted.predict(10))
    widths = {lv: iv.upper[lv] - iv.lower[lv] for lv in iv.lower}
    for lo, hi in [(0.5, 0.8), (0.8, 0.95)]:
        assert (iv.lower[hi] <= iv.lower[lo]).all() and (iv.upper[hi] >= iv.upper[lo]).all()
        assert (widths[hi] > widths[lo]).all()
    # An AR(1) with coefficient 0.7: the spread grows over the first steps, then levels off.
    assert widths[0.95][0] < widths[0.95][1] < widths[0.95][3]
    assert widths[0.95][9] > 1.2 * widths[0.95][0]
    again = fitted.predict_interval(10, levels=(0.5, 0.8, 0.95))
    np.testing.assert_array_equal(again.lower[0.95], iv.lower[0.95])
    boot = NNARForecaster(repeats=10, seed=3, bootstrap=True).fit(ar1_series).predict_interval(3, levels=(0.9,))
    np.testing.assert_array_equal(boot.point, fitted.predict(3))
    assert (boot.lower[0.9] < boot.point).all() and (boot.upper[0.9] > boot.point).all()


@pytest.mark.parametrize("bootstrap", [False, True])
def test_one_step_interval_coverage_is_close_to_nominal(bootstrap):
    x = simulate_ar((0.6,), 900, 12)
    fit = nnetar(x[:500], p=1, rng=2, repeats=10)
    hits = []
    for t in range(500, 900):
        iv = nnetar_intervals(fit, 1, levels=(0.9,), npaths=1000, rng=t, bootstrap=bootstrap, history=x[:t])
        hits.append(iv.lower[0.9][0] <= x[t] <= iv.upper[0.9][0])
    coverage = np.mean(hits)
    print(f"90% interval coverage ({'bootstrap' if bootstrap else 'normal'}): {coverage:.3f}")
    assert 0.85 <= coverage <= 0.95


def test_state_round_trip_is_bit_identical(fitted):
    arrays, meta = fitted._get_state()
    import json

    meta = json.loads(json.dumps(meta))  # the metadata must survive JSON
    arrays = {k: np.array(v) for k, v in arrays.items()}
    clone = NNARForecaster(repeats=10, seed=3)
    clone._set_state(arrays, meta)
    clone.n_obs_ = fitted.n_obs_  # set by the persistence layer
    np.testing.assert_array_equal(clone.predict(7), fitted.predict(7))
    a, b = clone.predict_interval(4, (0.9,)), fitted.predict_interval(4, (0.9,))
    np.testing.assert_array_equal(a.lower[0.9], b.lower[0.9])
    np.testing.assert_array_equal(a.upper[0.9], b.upper[0.9])


def test_saved_and_loaded_with_safetensors(fitted, tmp_path):
    persistence = pytest.importorskip("marketcast.persistence")
    persistence.save_model(fitted, tmp_path / "nnar")
    loaded = persistence.load_model(tmp_path / "nnar")
    assert isinstance(loaded, NNARForecaster) and loaded.get_params() == fitted.get_params()
    np.testing.assert_array_equal(loaded.predict(7), fitted.predict(7))
    np.testing.assert_array_equal(loaded.predict_interval(3, (0.8,)).upper[0.8], fitted.predict_interval(3, (0.8,)).upper[0.8])


def test_registered_under_nnar():
    from marketcast.models.registry import get_model

    assert isinstance(get_model("nnar", "price"), NNARForecaster)
    assert isinstance(get_model("nnar", "volatility", seed=5), NNARVolatility)


def test_module_imports_no_heavy_library():
    import subprocess
    import sys

    code = ("import sys, marketcast.models.nnar; "
            "print(sorted(m for m in ('torch', 'sklearn', 'prophet', 'xgboost', 'arch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# ------------------------------------------------------------------------------------------
# The VIX (Algorithm 2, Table V)
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def vix_window(vix):
    from marketcast.stats import log_returns

    r = log_returns(vix)
    i = r.index.get_loc(pd.Timestamp("2021-05-24"))
    window = r.iloc[i - 504 : i]
    assert window.index[0] == pd.Timestamp("2019-05-23") and window.index[-1] == pd.Timestamp("2021-05-21")
    return window


@pytest.mark.realdata
def test_vix_neuro_volatility_forecast_is_plausible_and_reproducible(vix_window):
    model = NNARVolatility(seed=0).fit(vix_window)
    print(f"NVF for 2021-05-24: {model.volatility_:.4f} (Table V: 0.086), NNAR({model.p_:.0f},{model.size_:.0f}),"
          f" in-sample RMSE {model.rmse_:.4f} (Table V: 0.072)")
    assert 0.03 < model.volatility_ < 0.2
    assert 0.05 < model.rmse_ < 0.1  # Table V's NN RMSE column: 0.068-0.075
    assert NNARVolatility(seed=0).fit(vix_window).volatility_ == model.volatility_
    assert NNARVolatility(seed=1).fit(vix_window).volatility_ != model.volatility_


@pytest.mark.realdata
def test_vix_rolling_forecast_is_the_same_as_one_window_alone(vix, vix_window):
    from marketcast.volatility import rolling_volatility

    frame = rolling_volatility(vix, window=504, start="2021-05-20", end="2021-05-24", models=[NNARVolatility(seed=0)])
    assert list(frame["date"].dt.strftime("%Y-%m-%d")) == ["2021-05-20", "2021-05-21", "2021-05-24"]
    alone = NNARVolatility(seed=0).fit(vix_window).volatility_
    assert frame["volatility"].iloc[-1] == alone  # per-window seeds are keyed by date
    assert frame["volatility"].nunique() == 3 and (frame["volatility"] > 0).all()
    assert {"p", "size", "rmse"} <= set(frame.columns)
