"""DD-EWMA (Algorithm 1): the closed form against the plain recursion, one window and many."""

from __future__ import annotations

import numpy as np
import pytest

from marketcast.errors import ModelError
from marketcast.models.ewma import ALPHA_GRID, DDEWMA, dd_ewma, ewma_paths
from marketcast.stats import sample_volatility


def recursion(z, alpha, s0):
    s = [s0]
    for v in z:
        s.append(alpha * v + (1 - alpha) * s[-1])  # eq. (6)
    return np.array(s)


def algorithm_1(z, alphas=ALPHA_GRID, init_fraction=0.1):
    """Algorithm 1 of the VIX paper, line by line."""
    k = len(z)
    l = int(k * init_fraction)
    best = None
    for a in alphas:
        s = recursion(z, a, np.mean(z[:l]))
        fess = sum((z[t - 1] - s[t - 1]) ** 2 for t in range(l + 1, k + 1))
        if best is None or fess < best[0]:
            best = (fess, a, s[k])
    return best


@pytest.mark.parametrize("k,alphas", [(504, ALPHA_GRID), (3000, ALPHA_GRID), (400, np.array([0.05, 0.5, 0.9, 0.99]))])
def test_closed_form_paths_equal_the_recursion(k, alphas):
    # k=3000 and alpha=0.99 force several chunks of the closed form.
    z = np.abs(np.random.default_rng(7).standard_t(3, k)) * 0.05
    paths = ewma_paths(z[None, :], alphas, np.array([z[:50].mean()]))
    for i, a in enumerate(alphas):
        np.testing.assert_allclose(paths[0, i], recursion(z, a, z[:50].mean())[1:], rtol=1e-11, atol=1e-15)


def test_dd_ewma_equals_algorithm_1():
    rng = np.random.default_rng(8)
    for _ in range(5):
        r = rng.standard_t(4, 504) * 0.08
        z = sample_volatility(r)
        fess, alpha, sigma = algorithm_1(z)
        res = dd_ewma(z)
        assert res.alpha[0] == alpha
        assert res.volatility[0] == pytest.approx(sigma, rel=1e-12)
        assert res.rmse[0] == pytest.approx(np.sqrt(fess / (504 - 50)), rel=1e-12)


def test_many_windows_at_once_equal_one_at_a_time():
    z = np.abs(np.random.default_rng(9).standard_normal((300, 252)))
    batch = dd_ewma(z)
    for i in (0, 137, 299):
        one = dd_ewma(z[i])
        assert batch.alpha[i] == one.alpha[0] and batch.volatility[i] == pytest.approx(one.volatility[0], rel=1e-13)


def test_model_fit_on_one_window_and_parameter_checks():
    r = np.random.default_rng(10).standard_t(4, 504) * 0.08
    m = DDEWMA().fit(r)
    z = sample_volatility(r)
    assert m.volatility_ == pytest.approx(dd_ewma(z).volatility[0])
    assert 0.01 <= m.alpha_ <= 0.30 and m.forecast(3).tolist() == [m.volatility_] * 3
    with pytest.raises(ModelError, match="alpha"):
        DDEWMA(alphas=(0.0, 0.5)).fit(r)
    with pytest.raises(ModelError, match="too short"):
        dd_ewma(np.ones(1))
