"""XGBoost on Stock-X normalised windows: features, recursion, accuracy, determinism, persistence."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from marketcast.errors import DataError, NotFittedError
from marketcast.models.boosting import XGBoostForecaster, normalised_windows

# Small and fast settings for the tests; the defaults are checked separately.
FAST = dict(n_estimators=60, max_depth=3, learning_rate=0.2, n_jobs=1)


def smooth(n: int, seed: int = 0) -> pd.Series:
    """A smooth cycle (period 40) on a level of 50, with a little noise."""
    t = np.arange(n)
    noise = np.random.default_rng(seed).normal(0.0, 0.05, n)
    return pd.Series(50.0 + 5.0 * np.sin(2 * np.pi * t / 40) + noise, index=pd.bdate_range("2015-01-01", periods=n))


def test_import_is_cheap():
    code = "import sys, marketcast.models.boosting; print('xgboost' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


def test_defaults_and_registry():
    from marketcast.models.registry import get_model

    m = get_model("xgboost", "price")
    assert isinstance(m, XGBoostForecaster) and m.stochastic and m.recursive
    assert m.get_params() == {"window": 100, "n_estimators": 300, "max_depth": 4, "learning_rate": 0.05,
                              "subsample": 0.8, "colsample_bytree": 0.8, "seed": 0, "n_jobs": None}
    assert m.min_history() == 101
    with pytest.raises(DataError):
        XGBoostForecaster(window=21).fit(np.arange(1.0, 22.0))
    with pytest.raises(NotFittedError):
        XGBoostForecaster().predict(1)


def test_features_are_windows_over_their_first_close():
    values = np.array([2.0, 4.0, 3.0, 6.0, 5.0, 8.0])
    X, y, base = normalised_windows(values, 3)
    # by hand: [2,4,3]/2 -> 6/2; [4,3,6]/4 -> 5/4; [3,6,5]/3 -> 8/3
    np.testing.assert_allclose(X, [[1.0, 2.0, 1.5], [1.0, 0.75, 1.5], [1.0, 2.0, 5.0 / 3.0]], rtol=1e-15)
    np.testing.assert_allclose(y, [3.0, 1.25, 8.0 / 3.0], rtol=1e-15)
    np.testing.assert_array_equal(base, [2.0, 4.0, 3.0])


def test_multi_step_forecasts_are_recursive():
    import xgboost

    y = smooth(400)
    m = XGBoostForecaster(window=21, **FAST).fit(y)
    forecast = m.predict(5)
    assert forecast[0] == m.predict(1)[0]
    # Recompute the recursion with the booster directly: each forecast joins the window.
    booster = m.booster_
    buf = list(y.to_numpy()[-21:])
    for h in range(5):
        win = np.array(buf[-21:])
        x = xgboost.DMatrix((win / win[0])[None, :])
        buf.append(float(booster.predict(x)[0]) * win[0])
    np.testing.assert_allclose(forecast, buf[-5:], rtol=1e-6)  # DMatrix and in-place prediction agree in float32


@pytest.mark.parametrize("window", [21, 100])
def test_beats_the_naive_forecast_on_a_smooth_series(window):
    y = smooth(900)
    train, test = y.iloc[:-20], y.iloc[-20:].to_numpy()
    m = XGBoostForecaster(window=window, n_jobs=1).fit(train)  # default trees
    rmse = np.sqrt(np.mean((m.predict(20) - test) ** 2))
    naive = np.sqrt(np.mean((train.iloc[-1] - test) ** 2))
    print(f"window {window}: xgboost RMSE {rmse:.3f}, naive {naive:.3f}")
    assert rmse < 0.3 * naive
    one_step = m.one_step_predictions(y.iloc[-200:])
    assert len(one_step) == 200 - window and one_step.index[0] == y.index[-200 + window]


def test_same_seed_same_model_other_seed_other_model():
    y = smooth(300)
    a = XGBoostForecaster(window=21, seed=0, **FAST).fit(y).predict(10)
    b = XGBoostForecaster(window=21, seed=0, **FAST).fit(y).predict(10)
    c = XGBoostForecaster(window=21, seed=1, **FAST).fit(y).predict(10)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)  # row and column subsampling follow the seed

def test_the_thread_count_does_not_change_the_model():
    # Few trees: on a busy shared machine every OpenMP barrier of a 2-thread fit can wait for
    # the scheduler, so this check is kept small.
    y = smooth(300)
    one = XGBoostForecaster(window=21, **{**FAST, "n_estimators": 10, "n_jobs": 1}).fit(y).predict(5)
    two = XGBoostForecaster(window=21, **{**FAST, "n_estimators": 10, "n_jobs": 2}).fit(y).predict(5)
    np.testing.assert_array_equal(one, two)


def test_state_round_trip_is_bit_identical():
    y = smooth(300)
    m = XGBoostForecaster(window=21, **FAST).fit(y)
    arrays, meta = m._get_state()
    meta = json.loads(json.dumps(meta))  # plain JSON text: the booster's own format, no pickle
    assert json.loads(meta["files"]["booster.json"])["learner"]["gradient_booster"]["name"] == "gbtree"
    loaded = XGBoostForecaster(window=21, **FAST)
    loaded._set_state({k: np.array(v) for k, v in arrays.items()}, meta)
    np.testing.assert_array_equal(loaded.predict(15), m.predict(15))
    X, _, _ = normalised_windows(y.to_numpy(), 21)
    np.testing.assert_array_equal(loaded.predict_windows(X), m.predict_windows(X))
    assert loaded.last_date_ == m.last_date_ and loaded.n_obs_ == m.n_obs_


def test_fit_windows_for_the_stock_x_protocol():
    X, target, _ = normalised_windows(smooth(300).to_numpy(), 21)
    order = np.random.default_rng(0).permutation(len(X))  # Stock-X shuffles before the 80/20 split
    cut = int(0.8 * len(X))
    m = XGBoostForecaster(window=21, **FAST).fit_windows(X[order[:cut]], target[order[:cut]])
    mse = np.mean((m.predict_windows(X[order[cut:]]) - target[order[cut:]]) ** 2)
    assert mse < np.var(target[order[cut:]]) / 10
