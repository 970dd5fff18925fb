"""Rolling volatility: window alignment, live forecasts, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from marketcast.errors import DataError
from marketcast.models.ewma import dd_ewma
from marketcast.stats import log_returns, sample_volatility
from marketcast.volatility import rolling_volatility


@pytest.fixture
def prices():
    rng = np.random.default_rng(11)
    idx = pd.bdate_range("2019-01-01", periods=400)
    s = pd.Series(20 * np.exp(np.cumsum(rng.standard_t(4, 400) * 0.05)), index=idx)
    s.attrs["source"] = "sim.csv"
    return s


def test_forecast_for_day_t_uses_the_window_ending_the_day_before(prices):
    out = rolling_volatility(prices, window=250, start=prices.index[300], end=prices.index[305])
    r = log_returns(prices)
    assert len(out) == 6
    for row in out.itertuples():
        i = r.index.get_loc(row.date)
        w = r.iloc[i - 250 : i]
        assert row.window_end == w.index[-1] and row.window_end < row.date and row.window_start == w.index[0]
        assert row.volatility == pytest.approx(dd_ewma(sample_volatility(w.to_numpy())).volatility[0], rel=1e-12)
        assert row.abs_return == pytest.approx(abs(r.loc[row.date]))


def test_default_is_a_live_forecast_for_the_next_business_day(prices):
    out = rolling_volatility(prices, window=250)
    assert len(out) == 1 and out.date[0] == prices.index[-1] + pd.offsets.BDay(1)
    assert np.isnan(out.abs_return[0]) and out.window_end[0] == prices.index[-1]
    tail = rolling_volatility(prices, window=250, start=prices.index[-3])
    assert len(tail) == 4 and tail.date.iloc[-1] == out.date[0]


def test_to_alone_starts_at_the_first_day_with_a_full_window(prices):
    r = log_returns(prices)
    out = rolling_volatility(prices, window=250, end=prices.index[270])
    assert out.date.iloc[0] == r.index[250] and out.date.iloc[-1] == prices.index[270]
    assert len(out) == 20 and out.window_start.iloc[0] == r.index[0]  # r.index[250..269]
    with pytest.raises(DataError, match=rf"no trading days between {r.index[250].date()} \(the first with a full window\)"):
        rolling_volatility(prices, window=250, end=prices.index[100])


def test_not_enough_history_names_the_file_and_the_window(prices):
    with pytest.raises(DataError, match=r"sim.csv: 9 returns before .*, but a window of 250 returns needs 250"):
        rolling_volatility(prices, window=250, start=prices.index[10])
    with pytest.raises(DataError, match="no trading days"):
        rolling_volatility(prices, window=250, start="2030-01-01", end="2030-02-01")
    with pytest.raises(DataError, match="--tail"):
        rolling_volatility(prices, window=250, tail=1.5)


def test_windows_split_across_processes_give_the_same_forecasts(prices):
    from marketcast.models.garch import GARCHVolatility
    from marketcast.models.nnar import NNARVolatility
    from marketcast.volatility import MIN_PARALLEL_WINDOWS

    models = [NNARVolatility(repeats=2, maxit=20, seed=3), GARCHVolatility()]  # GARCH stays in this process
    start = prices.index[-MIN_PARALLEL_WINDOWS - 6]
    kw = dict(window=60, start=start, end=prices.index[-1], models=models)
    one = rolling_volatility(prices, n_jobs=1, **kw)
    two = rolling_volatility(prices, n_jobs=2, **kw)
    assert len(one) == 2 * (MIN_PARALLEL_WINDOWS + 6)
    cols = ["date", "model", "volatility", "var", "cvar", "mad", "rho", "dof", "p", "size", "rmse"]
    pd.testing.assert_frame_equal(one[[c for c in cols if c in one]], two[[c for c in cols if c in two]])


def test_progress_counts_windows_as_they_finish(vix):
    """Issue 15: the progress of a rolling run counts forecasts (a window per day and model), chunk by
    chunk for models that fit windows one by one, so a long NNAR run does not sit at 0 of 1."""
    from marketcast.models.nnar import NNARVolatility

    calls = []
    days = ("2021-05-03", "2021-05-14")  # 10 trading days
    out = rolling_volatility(
        vix, window=504, start=days[0], end=days[1], models=["dd-ewma", NNARVolatility(repeats=2)],
        progress=calls.append, n_jobs=1,
    )
    assert len(out) == 20
    assert calls[0] == 10 and sum(calls) == 20  # DD-EWMA: all windows at once
    assert len(calls) > 2 and max(calls[1:]) < 10  # NNAR: in chunks
    # other chunks, the same forecasts
    again = rolling_volatility(vix, window=504, start="2021-05-07", end=days[1], models=[NNARVolatility(repeats=2)])
    assert again["volatility"].tolist() == out.loc[out["model"] == "nnar", "volatility"].tolist()[-len(again) :]


def test_blocks_bound_memory_and_change_no_digit(vix, monkeypatch):
    """Issue 15: a long run goes block by block (z of one block at a time); the numbers are the same."""
    import marketcast.volatility as vol_module
    from marketcast.models.nnar import NNARVolatility

    days = ("2021-03-01", "2021-05-24")
    models = ["dd-ewma", NNARVolatility(repeats=2), "garch"]
    whole = rolling_volatility(vix, window=504, start=days[0], end=days[1], models=models, n_jobs=1)
    monkeypatch.setattr(vol_module, "ROLLING_BLOCK", 7)
    ticks = []
    blocks = rolling_volatility(vix, window=504, start=days[0], end=days[1], models=models, n_jobs=1,
                                progress=ticks.append)
    pd.testing.assert_frame_equal(whole.drop(columns="seconds"), blocks.drop(columns="seconds"), check_exact=True)
    n = len(whole) // 3
    assert ticks[:3] == [7, 7, 7] and sum(ticks) == 3 * n


def test_forecast_days_bound_finer_than_the_dates_unit():
    """A start or end at 12:00 on second-stamped dates takes the same days as pandas' comparisons
    (binary search alone refused it: 'Cannot losslessly convert units')."""
    import numpy as np
    import pandas as pd

    from marketcast.volatility import forecast_dates

    idx = pd.DatetimeIndex(pd.bdate_range("2020-01-01", periods=40).values.astype("datetime64[s]"))
    returns = pd.Series(np.linspace(0.01, -0.01, 40), index=idx)
    pos, dates = forecast_dates(returns, 10, start="2020-01-20 12:00", end="2020-01-24 12:00")
    mask = (idx >= pd.Timestamp("2020-01-20 12:00")) & (idx <= pd.Timestamp("2020-01-24 12:00"))
    assert list(pos) == list(np.flatnonzero(mask))
    assert list(dates) == list(idx[mask])
