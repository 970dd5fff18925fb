"""Point and interval metrics, checked against scikit-learn and by hand."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from marketcast import metrics as m


@pytest.fixture
def pair():
    rng = np.random.default_rng(5)
    y = rng.uniform(10, 30, 200)
    return y, y + rng.normal(0, 2, 200)


def test_point_metrics_agree_with_scikit_learn(pair):
    y, f = pair
    assert m.mse(y, f) == pytest.approx(skm.mean_squared_error(y, f))
    assert m.rmse(y, f) == pytest.approx(np.sqrt(skm.mean_squared_error(y, f)))
    assert m.mae(y, f) == pytest.approx(skm.mean_absolute_error(y, f))
    assert m.mape(y, f) == pytest.approx(skm.mean_absolute_percentage_error(y, f))
    assert m.explained_variance(y, f) == pytest.approx(skm.explained_variance_score(y, f))
    assert m.r2(y, f) == pytest.approx(skm.r2_score(y, f))
    assert m.max_error(y, f) == pytest.approx(skm.max_error(y, f))
    assert set(m.point_metrics(y, f)) == {"mse", "rmse", "mae", "mape", "explained_variance", "r2", "max_error"}


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="differ in shape"):
        m.rmse([1, 2], [1, 2, 3])


def test_interval_metrics_by_hand():
    y = np.array([1.0, 5.0, 10.0])
    lo = np.array([0.0, 6.0, 8.0])
    hi = np.array([2.0, 7.0, 9.0])
    assert m.coverage(y, lo, hi) == pytest.approx(1 / 3)
    assert m.mean_width(lo, hi) == pytest.approx(4 / 3)
    alpha = 0.1
    expected = np.mean([2.0, 1.0 + 2 / alpha * 1.0, 1.0 + 2 / alpha * 1.0])
    assert m.winkler_score(y, lo, hi, 0.9) == pytest.approx(expected)


def test_diebold_mariano_detects_the_better_forecast():
    rng = np.random.default_rng(6)
    e_good = rng.normal(0, 1, 500)
    e_bad = rng.normal(0, 1.5, 500)
    stat, p = m.diebold_mariano(e_good, e_bad)
    assert stat < 0 and p < 1e-6
    stat2, p2 = m.diebold_mariano(e_bad, e_good)
    assert stat2 == pytest.approx(-stat) and p2 == pytest.approx(p)
