"""The rolling-origin engine: slice positions, one fresh clone per slice, no look-ahead."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from marketcast.backtest import backtest, rolling_origins
from marketcast.errors import DataError
from marketcast.models.base import Forecaster


class Spy(Forecaster):
    """Records what it was fitted on; forecasts the last value."""

    name = "spy"
    seen: list = []

    def _fit(self, y):
        Spy.seen.append((self, y.index[0], y.index[-1], len(y)))  # keeps each instance alive
        y.iloc[:] = -1.0  # try to tamper: must not affect the engine's data
        self.last_ = 5.0

    def _predict(self, horizon):
        return np.full(horizon, self.last_)


@pytest.fixture
def prices():
    idx = pd.bdate_range("2020-01-01", periods=300)
    return pd.Series(np.linspace(10, 20, 300), index=idx)


def test_slices_start_at_the_date_and_move_by_step(prices):
    sl = rolling_origins(prices.index, window=100, horizon=10, start="2020-01-15", step=30, slices=4)
    first = prices.index.searchsorted(pd.Timestamp("2020-01-15"))
    assert [s.first for s in sl] == [first + 30 * i for i in range(4)]
    assert all(s.stop - s.first == 100 for s in sl)
    assert sl[0].train == slice(first, first + 90) and sl[0].test == slice(first + 90, first + 100)
    assert len(rolling_origins(prices.index, window=100, horizon=10)) == (300 - 100) // 10 + 1


def test_every_model_sees_only_rows_before_its_horizon(prices):
    Spy.seen = []
    original = prices.copy()
    res = backtest(prices, [Spy()], window=100, horizon=10, step=50)
    slices = rolling_origins(prices.index, window=100, horizon=10, step=50)
    assert len(Spy.seen) == len(slices)
    assert len({id(s[0]) for s in Spy.seen}) == len(slices)  # a fresh clone per slice
    for (_, first, last, n), sl in zip(Spy.seen, slices):
        assert n == 90 and first == prices.index[sl.first]
        assert last < prices.index[sl.test.start]
    pd.testing.assert_series_equal(prices, original)  # tampering did not leak out
    actual = res.forecasts[res.forecasts.slice == 1].actual.to_numpy()
    np.testing.assert_allclose(actual, original.iloc[slices[0].test].to_numpy())
    assert res.scores.rmse.iloc[0] == pytest.approx(np.sqrt(np.mean((actual - 5.0) ** 2)))


def test_summary_is_mean_and_sample_sd(prices):
    res = backtest(prices, ["naive", "sma"], window=100, horizon=10, step=20)
    s = res.summary()
    naive = res.scores[res.scores.model == "naive"].rmse
    row = s[(s.model == "naive") & (s.stat == "sd")].iloc[0]
    assert row.rmse == pytest.approx(naive.std(ddof=1))
    assert res.pivot().loc["mean", ("naive", "rmse")] == pytest.approx(naive.mean())


def test_errors_name_the_problem(prices):
    prices.attrs["source"] = "p.csv"
    with pytest.raises(DataError, match="p.csv: only 3 slice"):
        backtest(prices, ["naive"], window=100, horizon=10, step=90, slices=4)
    with pytest.raises(DataError, match="p.csv: 300 rows from 2020-01-01, but a window of 400 needs"):
        backtest(prices, ["naive"], window=400, horizon=10)
    with pytest.raises(DataError, match="window .* must be longer than the horizon"):
        backtest(prices, ["naive"], window=10, horizon=10)


def test_a_model_that_saw_past_its_training_rows_is_stopped():
    from marketcast.models.baseline import Naive

    class Peeking(Naive):
        name = "peeking"

        def fit(self, y, *, progress=None):
            super().fit(y)
            self.last_date_ = y.index[-1] + pd.offsets.BDay(1)  # claims the first test day
            return self

    prices = pd.Series(np.linspace(10, 20, 60), index=pd.bdate_range("2020-01-01", periods=60))
    with pytest.raises(RuntimeError, match="look-ahead in slice 1: peeking saw 15 rows"):
        backtest(prices, [Peeking()], window=20, horizon=5)
    assert len(backtest(prices, [Naive()], window=20, horizon=5).scores) == 9
