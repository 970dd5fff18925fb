"""Prophet adapters: business-day calendar, synthetic truth, intervals, seeding, persistence, Table V.

The synthetic series is built here from a known trend and weekday pattern, so every expected
number comes from the test's own construction (or from the VIX paper's Table V), never from
the code under test.
"""

from __future__ import annotations

import json
import logging
import sys

import numpy as np
import pandas as pd
import pytest

import paper_tables
from marketcast.errors import ModelError, NotFittedError

# Monday..Friday effects of the synthetic series (they sum to zero).
WEEKDAY_EFFECT = np.array([1.0, -0.5, 0.0, 0.5, -1.0])
NOISE_SD = 0.2
START = pd.Timestamp("2019-01-01")


def truth(dates: pd.DatetimeIndex) -> np.ndarray:
    """Noise-free value: a linear trend in calendar time plus the weekday pattern."""
    days = (dates - START).days.to_numpy()
    return 10.0 + 0.01 * days + WEEKDAY_EFFECT[dates.day_of_week.to_numpy()]


@pytest.fixture(scope="module")
def synthetic():
    dates = pd.bdate_range(START, periods=499)  # ends on a Friday: 2020-11-27
    noise = np.random.default_rng(1).normal(0.0, NOISE_SD, dates.size)
    return pd.Series(truth(dates) + noise, index=dates, name="synthetic")


@pytest.fixture(scope="module")
def fitted(synthetic):
    from marketcast.models.prophet import ProphetForecaster

    return ProphetForecaster().fit(synthetic)


def test_import_is_cheap():
    # Heavy libraries are imported on first use, not with the module.
    code = "import sys, marketcast.models.prophet; print('prophet' in sys.modules, 'cmdstanpy' in sys.modules)"
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]


def test_defaults_are_prophets_as_the_paper_used_them():
    from marketcast.models.prophet import ProphetForecaster
    from marketcast.models.registry import get_model

    m = get_model("prophet", "price")
    assert isinstance(m, ProphetForecaster) and m.stochastic and not m.recursive
    assert m.get_params() == {
        "growth": "linear", "yearly_seasonality": "auto", "weekly_seasonality": "auto", "daily_seasonality": False,
        "changepoint_prior_scale": 0.05, "seasonality_mode": "additive", "uncertainty_samples": 1000,
        "algorithm": None, "seed": 0,
    }
    with pytest.raises(ModelError, match="growth"):
        ProphetForecaster(growth="logistic").fit(pd.Series([1.0, 2.0, 3.0]))
    with pytest.raises(NotFittedError):
        ProphetForecaster().predict(1)


def test_future_dates_are_business_days(fitted, synthetic):
    assert synthetic.index[-1].day_name() == "Friday"
    dates = fitted.forecast_dates(7)
    expected = pd.DatetimeIndex(["2020-11-30", "2020-12-01", "2020-12-02", "2020-12-03", "2020-12-04",
                                 "2020-12-07", "2020-12-08"])
    assert list(dates) == list(expected)
    assert (dates.day_of_week < 5).all()


def test_forecast_follows_trend_and_weekly_pattern(fitted):
    dates = fitted.forecast_dates(10)
    expected = truth(dates)
    forecast = fitted.predict(10)
    # The weekday pattern swings by 2.0; the forecast must track it, not a flat line.
    assert np.max(np.abs(forecast - expected)) < 0.15
    assert np.corrcoef(forecast - forecast.mean(), expected - expected.mean())[0, 1] > 0.98


def test_intervals_are_nested_and_contain_the_point(fitted):
    levels = (0.5, 0.9, 0.95, 0.99)
    iv = fitted.predict_interval(5, levels)
    np.testing.assert_array_equal(iv.point, fitted.predict(5))
    for narrow, wide in zip(levels, levels[1:]):
        assert (iv.lower[wide] <= iv.lower[narrow]).all() and (iv.upper[narrow] <= iv.upper[wide]).all()
        assert (iv.lower[wide] < iv.lower[narrow]).any() and (iv.upper[narrow] < iv.upper[wide]).any()
    assert ((iv.lower[0.5] <= iv.point) & (iv.point <= iv.upper[0.5])).all()
    frame = iv.to_frame(fitted.forecast_dates(5))
    assert list(frame.columns[:3]) == ["point", "lower_50", "upper_50"] and len(frame) == 5


def test_intervals_cover_the_synthetic_noise_at_about_their_level():
    """Four independent synthetic histories; each forecast is scored on 4,000 fresh futures.

    Prophet's MAP intervals plug in the fitted noise level and ignore parameter uncertainty, so
    they run slightly below nominal (about 0.89 at 0.9 over many replications); the tolerance
    allows that and the Monte Carlo error of 1,000 uncertainty samples.
    """
    from marketcast.models.prophet import ProphetForecaster

    levels = (0.5, 0.9, 0.95, 0.99)
    dates = pd.bdate_range(START, periods=499)
    coverage = []
    for rep in range(4):
        rng = np.random.default_rng(10 + rep)
        y = pd.Series(truth(dates) + rng.normal(0.0, NOISE_SD, dates.size), index=dates)
        m = ProphetForecaster().fit(y)
        iv = m.predict_interval(5, levels)
        outcomes = truth(m.forecast_dates(5)) + rng.normal(0.0, NOISE_SD, (4000, 5))
        coverage.append([((outcomes >= iv.lower[lv]) & (outcomes <= iv.upper[lv])).mean() for lv in levels])
    coverage = np.mean(coverage, axis=0)
    print("\nlevel    " + "  ".join(f"{lv:5.2f}" for lv in levels))
    print("coverage " + "  ".join(f"{c:5.3f}" for c in coverage))
    for level, c in zip(levels, coverage):
        assert level - 0.04 < c < level + 0.03, (level, c)


def test_same_seed_same_intervals_other_seed_other_intervals(fitted, synthetic):
    from marketcast.models.prophet import ProphetForecaster

    a = fitted.predict_interval(3, (0.9,))
    b = fitted.predict_interval(3, (0.9,))
    again = ProphetForecaster(seed=0).fit(synthetic).predict_interval(3, (0.9,))
    for other in (b, again):
        np.testing.assert_array_equal(a.lower[0.9], other.lower[0.9])
        np.testing.assert_array_equal(a.upper[0.9], other.upper[0.9])
    c = ProphetForecaster(seed=1).fit(synthetic).predict_interval(3, (0.9,))
    assert not np.array_equal(a.upper[0.9], c.upper[0.9])
    np.testing.assert_array_equal(a.point, c.point)  # the MAP fit itself is deterministic


def test_global_numpy_random_state_is_left_unchanged(fitted):
    np.random.seed(12345)
    before = np.random.get_state()
    fitted.predict_interval(4)
    after = np.random.get_state()
    assert before[0] == after[0] and np.array_equal(before[1], after[1]) and before[2:] == after[2:]
    # and the stream continues exactly where it was
    np.random.seed(12345)
    expected = np.random.random(3)
    np.random.seed(12345)
    fitted.predict_interval(2)
    np.testing.assert_array_equal(np.random.random(3), expected)


def test_fit_leaves_stan_logging_levels_as_they_were(synthetic):
    from marketcast.models.prophet import ProphetForecaster

    levels = {name: logging.getLogger(name).level for name in ("cmdstanpy", "prophet")}
    ProphetForecaster(uncertainty_samples=0).fit(synthetic.iloc[-300:])
    assert {name: logging.getLogger(name).level for name in levels} == levels


def test_state_round_trip_gives_identical_forecasts(fitted):
    from marketcast.models.prophet import ProphetForecaster

    arrays, meta = fitted._get_state()
    assert arrays == {}
    meta = json.loads(json.dumps(meta))  # plain JSON, no pickle
    loaded = ProphetForecaster()
    loaded._set_state(arrays, meta)
    np.testing.assert_array_equal(loaded.predict(15), fitted.predict(15))
    assert list(loaded.forecast_dates(3)) == list(fitted.forecast_dates(3))
    a, b = loaded.predict_interval(5), fitted.predict_interval(5)
    for level in a.lower:
        np.testing.assert_array_equal(a.lower[level], b.lower[level])
        np.testing.assert_array_equal(a.upper[level], b.upper[level])
    assert loaded.last_date_ == fitted.last_date_ and loaded.n_obs_ == fitted.n_obs_


def test_no_intervals_without_uncertainty_samples(synthetic):
    from marketcast.models.prophet import ProphetForecaster

    m = ProphetForecaster(uncertainty_samples=0).fit(synthetic.iloc[-200:])
    assert np.isfinite(m.predict(2)).all()
    with pytest.raises(ModelError, match="uncertainty_samples"):
        m.predict_interval(2)


def test_volatility_forecast_of_one_window_follows_the_z_level():
    """On a window of i.i.d. t returns the Prophet volatility is near the returns' volatility."""
    from marketcast.models.prophet import ProphetVolatility
    from marketcast.stats import sample_volatility

    r = pd.Series(np.random.default_rng(3).standard_t(5, 504) * 0.02 / np.sqrt(5 / 3),
                  index=pd.bdate_range("2019-01-02", periods=504))
    m = ProphetVolatility().fit(r)
    z = sample_volatility(r.to_numpy())
    assert 0.5 * z.mean() < m.volatility_ < 1.5 * z.mean()
    assert m.yhat_ == m.volatility_


@pytest.mark.realdata
def test_table_v_prophet_volatility_on_the_vix(vix, vix_paper_text):
    from marketcast.volatility import rolling_volatility

    frame = rolling_volatility(vix, window=504, start="2021-04-26", end="2021-05-24", models=["prophet"])
    paper = paper_tables.table_v(vix_paper_text)
    assert len(frame) == len(paper) == 21
    print("\nday  date        PVF ours  PVF paper")
    for p, row in zip(paper, frame.itertuples()):
        print(f"{p['day']:>3}  {row.date.date()}  {row.volatility:8.3f}  {p['pvf']:9.3f}")
    ours = frame["volatility"].to_numpy()
    paper_pvf = np.array([p["pvf"] for p in paper])
    print(f"mean {ours.mean():.4f} (paper {paper_pvf.mean():.4f})")
    assert (ours > 0).all() and np.isfinite(frame["var"]).all()
    assert 0.5 * paper_pvf.mean() < ours.mean() < 2.0 * paper_pvf.mean()
    # Every forecast is of the size of the paper's column (0.018 to 0.131).
    assert (ours > 0.01).all() and (ours < 0.3).all()
