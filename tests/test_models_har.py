"""HAR forecaster: checked against a least-squares HAR written here in NumPy, not against arch."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from marketcast.errors import DataError, ModelError
from marketcast.models.har import HARForecaster
from marketcast.models.registry import get_model


@pytest.fixture(scope="module")
def prices():
    # A mean-reverting log series, as the VIX: x_t = 3 + 0.9 (x_{t-1} - 3) + noise.
    rng = np.random.default_rng(11)
    x = np.empty(400)
    x[0] = 3.0
    for t in range(1, 400):
        x[t] = 3.0 + 0.9 * (x[t - 1] - 3.0) + rng.normal(0, 0.06)
    s = pd.Series(np.exp(x), index=pd.bdate_range("2019-01-01", periods=400))
    s.attrs = {"source": "sim.csv", "column": "close"}
    return s


def _design(x: np.ndarray, lags=(1, 5, 22)) -> tuple[np.ndarray, np.ndarray]:
    """Rows t = max(lags)-1 .. n-2: [1, mean of the last k values for each k], target x[t+1]."""
    m = max(lags)
    rows = [[1.0] + [x[t - k + 1 : t + 1].mean() for k in lags] for t in range(m - 1, len(x) - 1)]
    return np.array(rows), x[m:]


def _recurse(x: np.ndarray, beta: np.ndarray, horizon: int, lags, shocks=None) -> np.ndarray:
    path = list(x)
    for h in range(horizon):
        step = beta[0] + sum(b * np.mean(path[-k:]) for b, k in zip(beta[1:], lags))
        path.append(step + (0.0 if shocks is None else shocks[h]))
    return np.array(path[len(x):])


def _reference_forecast(x: np.ndarray, horizon: int, lags=(1, 5, 22)):
    """Least-squares coefficients, residual variance (divisor n), forecast path and its variance."""
    X, y = _design(x, lags)
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ beta
    sigma2 = resid @ resid / len(y)
    path = _recurse(x, beta, horizon, lags)
    # The recursion is linear: a unit shock at step j moves later values by the difference of two paths.
    psi = np.array([_recurse(x, beta, horizon, lags, np.eye(horizon)[j]) - path for j in range(horizon)])
    return beta, sigma2, path, sigma2 * (psi ** 2).sum(axis=0)


def test_coefficients_and_forecasts_equal_least_squares(prices):
    x = np.log(prices.to_numpy())
    beta, sigma2, path, _ = _reference_forecast(x, 10)
    model = HARForecaster().fit(prices)
    np.testing.assert_allclose(model.params_[:4], beta, rtol=1e-8, atol=1e-10)
    assert model.params_[4] == pytest.approx(sigma2, rel=1e-8)
    np.testing.assert_allclose(model.predict(10), np.exp(path), rtol=1e-9)
    # The mean forecast adds half the forecast variance on the log scale.
    mean = HARForecaster(point="mean").fit(prices).predict(1)[0]
    assert mean == pytest.approx(np.exp(path[0] + sigma2 / 2), rel=1e-9)


def test_intervals_are_lognormal_and_widen_with_the_horizon(prices):
    x = np.log(prices.to_numpy())
    _, sigma2, path, var = _reference_forecast(x, 15)
    iv = HARForecaster().fit(prices).predict_interval(15, (0.9, 0.95, 0.99))
    np.testing.assert_allclose(iv.extra["log_sd"] ** 2, var, rtol=1e-8)
    assert var[0] == pytest.approx(sigma2, rel=1e-12)
    z = stats.norm.ppf(0.975)
    assert iv.lower[0.95][0] == pytest.approx(np.exp(path[0] - z * np.sqrt(sigma2)), rel=1e-8)
    assert iv.upper[0.95][0] == pytest.approx(np.exp(path[0] + z * np.sqrt(sigma2)), rel=1e-8)
    assert np.all(iv.lower[0.99] < iv.lower[0.95]) and np.all(iv.lower[0.95] < iv.lower[0.9])
    assert np.all(iv.upper[0.9] < iv.upper[0.95]) and np.all(iv.upper[0.95] < iv.upper[0.99])
    assert np.all((iv.lower[0.9] < iv.point) & (iv.point < iv.upper[0.9]))
    assert np.all(np.diff(iv.extra["log_sd"]) > 0)


def test_condition_forecasts_another_series_with_the_same_coefficients(prices):
    model = HARForecaster().fit(prices.iloc[:300])
    other = prices.iloc[:350]
    model.condition(other)
    beta = model.params_[:4]
    x = np.log(other.to_numpy())
    expected = beta[0] + beta[1] * x[-1] + beta[2] * x[-5:].mean() + beta[3] * x[-22:].mean()
    assert model.predict(1)[0] == pytest.approx(np.exp(expected), rel=1e-10)


def test_level_model_and_bad_input(prices):
    level = HARForecaster(log=False).fit(prices)
    X, y = _design(prices.to_numpy())
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    np.testing.assert_allclose(level.params_[:4], beta, rtol=1e-8)
    bad = prices.copy()
    bad.iloc[50] = -1.0
    with pytest.raises(DataError, match="sim.csv: har with log=True needs positive values"):
        HARForecaster().fit(bad)
    with pytest.raises(DataError, match="needs at least 62"):
        HARForecaster().fit(prices.iloc[:40])
    with pytest.raises(ModelError, match="point must be one of"):
        HARForecaster(point="mode").fit(prices)
    assert get_model("har", lags=[1, 5]).fit(prices).params_.shape == (4,)
