"""Conformal intervals: the quantile rule, calibration without look-ahead, coverage."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from marketcast.errors import DataError, ModelError
from marketcast.intervals import ConformalForecaster, conformal_quantile
from marketcast.models.baseline import Naive, SMA


def test_conformal_quantile_is_the_ceil_m_plus_1_level_order_statistic():
    e = np.arange(1.0, 20.0)  # m = 19
    assert conformal_quantile(e, 0.9) == 18.0  # ceil(20 * 0.9) = 18th smallest
    assert conformal_quantile(e, 0.95) == 19.0
    assert conformal_quantile(e, 0.99) == 19.0  # beyond the sample: the largest error
    assert conformal_quantile(np.array([3.0, 1.0, 2.0]), 0.5) == 2.0


def random_walk(n, seed, sigma=0.01):
    rng = np.random.default_rng(seed)
    return pd.Series(100 * np.exp(np.cumsum(rng.normal(0, sigma, n))), index=pd.bdate_range("2000-01-03", periods=n))


def test_calibration_uses_only_rows_before_each_origin():
    y = random_walk(300, 0)
    m = ConformalForecaster(Naive(), calibration_windows=10, max_horizon=5).fit(y)
    origins = m.calibration_origins_
    assert len(origins) == 10 and origins[-1] == y.index[300 - 5]
    # Naive errors at origin o are log(y[o+h] / y[o-1]): recompute them independently.
    o = 300 - 5
    expected = np.log(y.to_numpy()[o : o + 5] / y.to_numpy()[o - 1])
    np.testing.assert_allclose(m.calibration_errors_[-1], expected, rtol=1e-12)
    assert m.log_scale_


def test_coverage_is_close_to_nominal_on_a_random_walk():
    hits = {0.8: 0, 0.95: 0}
    trials = 150
    for seed in range(trials):
        y = random_walk(230, seed)
        train, test = y.iloc[:-3], y.iloc[-3:]
        iv = ConformalForecaster(Naive(), calibration_windows=60, max_horizon=3, step=3).fit(train).predict_interval(3, (0.8, 0.95))
        for lv in hits:
            hits[lv] += bool(iv.lower[lv][2] <= test.iloc[2] <= iv.upper[lv][2])
    for lv, n in hits.items():
        assert abs(n / trials - lv) < 3 * math.sqrt(lv * (1 - lv) / trials) + 0.02, (lv, n / trials)


def test_intervals_are_nested_positive_and_checked():
    y = random_walk(400, 1, 0.05)
    m = ConformalForecaster(SMA(window=5), calibration_windows=30, max_horizon=5).fit(y)
    iv = m.predict_interval(5, (0.9, 0.5, 0.99))
    assert (iv.lower[0.99] <= iv.lower[0.9]).all() and (iv.lower[0.9] <= iv.lower[0.5]).all()
    assert (iv.upper[0.5] <= iv.upper[0.9]).all() and (iv.lower[0.99] > 0).all()
    assert not m.coverage_guaranteed(0.99) and m.coverage_guaranteed(0.9)
    with pytest.raises(ModelError, match="calibrated up to 5"):
        m.predict_interval(6)
    with pytest.raises(ModelError, match="levels"):
        m.predict_interval(3, (0.9, 1.2))
    with pytest.raises(DataError, match="50 rows, but naive with conformal intervals .100 calibration windows of 5 steps. needs at least 501"):
        ConformalForecaster(Naive(), calibration_windows=100, max_horizon=5).fit(y.iloc[:50])


def test_a_calibrated_model_can_start_from_another_series():
    y = random_walk(300, 3)
    other = random_walk(300, 4) * 2
    m = ConformalForecaster(SMA(window=5), calibration_windows=10, max_horizon=5).fit(y)
    errors = m.calibration_errors_.copy()
    m.condition(other)
    assert m.predict(1)[0] == pytest.approx(other.iloc[-5:].mean())
    np.testing.assert_array_equal(m.calibration_errors_, errors)
