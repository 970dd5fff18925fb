"""Data quality report and split handling on real unadjusted data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import data_file
from marketcast.data import adjust_for_splits, check_quality, detect_splits, load_series, read_prices, reported_splits
from marketcast.data.splits import CorporateAction, parse_split
from marketcast.errors import DataError

pytestmark = pytest.mark.realdata


def test_sbin_ten_for_one_split_is_found_and_adjusted():
    data = read_prices(data_file("NIFTY_SBIN.csv"))
    splits = [s for s in detect_splits(data.frame) if s.kind == "split"]
    assert [(str(s.date.date()), s.ratio) for s in splits] == [("2014-11-20", 10.0)]
    raw = load_series(data)
    adjusted = load_series(data, adjust_splits=["2014-11-20:10"])
    jump = np.log(raw.loc["2014-11-20"] / raw.loc["2014-11-19"])
    assert jump < -2.2  # the unadjusted series "crashes" 90%
    adj_jump = np.log(adjusted.loc["2014-11-20"] / adjusted.loc["2014-11-19"])
    assert abs(adj_jump) < 0.05
    assert adjusted.loc["2014-11-20":].equals(raw.loc["2014-11-20":])  # later prices untouched
    assert adjusted.attrs["adjusted_for"][0]["date"] == "2014-11-20"
    assert (
        adjusted.attrs["notes"][-1]
        == "NIFTY_SBIN.csv: adjusted for splits: 2014-11-20 split 10-for-1 confirmed by the user"
    )


def test_no_adjustment_on_suspicion_alone():
    data = read_prices(data_file("NIFTY_SBIN.csv"))  # the Kaggle file reports no splits
    with pytest.raises(DataError) as err:
        load_series(data, adjust_splits=True)
    msg = str(err.value)
    assert msg.startswith("NIFTY_SBIN.csv: the file reports no splits") and "\n" not in msg
    assert "2014-11-20 suspected split 10-for-1" in msg and "--split 2014-11-20:10" in msg
    vix = load_series(read_prices(data_file("VIX_History.csv")), adjust_splits=True)  # nothing reported or suspected
    assert vix.equals(load_series(read_prices(data_file("VIX_History.csv"))))
    assert vix.attrs["adjusted_for"] == [] and "adjusted for splits: nothing" in vix.attrs["notes"][-1]


def test_a_confirmed_split_must_fall_on_a_day_of_the_series():
    data = read_prices(data_file("NIFTY_SBIN.csv"))
    with pytest.raises(DataError, match=r"--split 2014-11-22:10: no price on 2014-11-22"):
        load_series(data, adjust_splits=["2014-11-22:10"])  # a Saturday
    with pytest.raises(DataError, match=r"2014-11-20 is given twice"):  # not divided by 100
        load_series(data, adjust_splits=["2014-11-20:10", "2014-11-20:10"])
    assert load_series(data, adjust_splits=[]).equals(load_series(data))  # nothing confirmed, nothing asked


@pytest.mark.parametrize(
    "text",
    [
        "2014-11-20",
        "x:10",
        "2014-11-20:0",
        "2014-11-20:1",
        "2014-11-20:abc",
        "2014-11-20:-2",
        "2014-11-20:1/0",
        "2014-11-20:inf",
        ":10",
        "2014-13-40:2",
    ],
)
def test_parse_split_refuses_with_the_form(text):
    with pytest.raises(DataError, match="--split expects DATE:RATIO"):
        parse_split(text)


def test_parse_split_reads_ratios_and_fractions():
    assert parse_split("2014-11-20:10") == (pd.Timestamp("2014-11-20"), 10.0)
    assert parse_split("2021-06-01:3/2") == (pd.Timestamp("2021-06-01"), 1.5)
    assert parse_split("2021-06-01:1/2")[1] == 0.5  # a reverse split


def _non_jumps(frame):
    return [(str(s.date.date()), s.ratio) for s in detect_splits(frame) if s.kind != "jump"]


def test_the_detector_does_not_call_the_vix_moves_splits():
    """The VIX is an index: it cannot split, but it moved by 1:2 on 2018-02-05 and 3:2 on 2025-04-09."""
    frame = read_prices(data_file("VIX_History.csv")).frame
    assert _non_jumps(frame) == []
    assert _non_jumps(frame[["close"]]) == []  # a close-only copy: no open to tell a gap from a move
    moves = {str(s.date.date()): s for s in detect_splits(frame[["close"]])}
    assert "ordinary daily moves" in moves["2018-02-05"].label


def test_the_detector_finds_sbins_one_split_close_only_too():
    frame = read_prices(data_file("NIFTY_SBIN.csv")).frame
    assert _non_jumps(frame) == [("2014-11-20", 10.0)]
    assert _non_jumps(frame[["close"]]) == [("2014-11-20", 10.0)]


def test_the_detector_finds_exactly_aapls_four_reported_splits():
    """AAPL's Alpha Vantage file (unadjusted OHLC) reports 2:1, 2:1, 7:1 and 4:1; its -52% day of
    2000-09-29 (a profit warning) lies near a 2:1 ratio but opened off it, so it stays a market move."""
    frame = read_prices(data_file("sp500/daily_adjusted/DA-AAPL-T-2021-04-21.csv")).frame
    reported = [(str(s.date.date()), round(s.ratio, 4)) for s in reported_splits(frame)]
    assert reported == [("2000-06-21", 2.0), ("2005-02-28", 2.0), ("2014-06-09", 7.0), ("2020-08-31", 4.0)]
    assert _non_jumps(frame) == reported  # the 7.000007 the source reports is a 7-for-1
    adjusted = load_series(
        frame_data := read_prices(data_file("sp500/daily_adjusted/DA-AAPL-T-2021-04-21.csv")), adjust_splits=True
    )
    assert [a["date"] for a in adjusted.attrs["adjusted_for"]] == [d for d, _ in reported]
    assert frame_data.name in adjusted.attrs["notes"][-1]


def test_reliance_bonus_issues_reported_by_alpha_vantage_are_used():
    data = read_prices(data_file("RELIANCE.BSE_alphavantage_daily.csv"))
    report = check_quality(data)
    reported = {str(s.date.date()): s.ratio for s in report.reported}
    assert reported["2009-11-26"] == 2.0 and reported["2017-09-07"] == 2.0
    suspected = {str(s.date.date()) for s in report.splits if s.kind == "split"}
    assert {"2009-11-26", "2017-09-07"} <= suspected  # our detector agrees with the source
    adjusted = load_series(data, adjust_splits=True)
    assert abs(np.log(adjusted.loc["2017-09-07"] / adjusted.loc["2017-09-06"])) < 0.05
    assert report.problems == []  # the source reports its splits: nothing to warn about


def test_indices_and_clean_stocks_have_no_suspected_splits():
    for name in ("VIX_History.csv", "aa.us.txt"):
        assert [s for s in detect_splits(read_prices(data_file(name)).frame) if s.kind != "jump"] == []


def test_report_of_nifty_file():
    report = check_quality(read_prices(data_file("NIFTY_SBIN.csv")))
    d = report.as_dict()
    assert d["rows"] == 5306 and d["first"] == "2000-01-03" and d["last"] == "2021-04-30"
    assert d["missing"]["Trades"] == 2850
    assert any("suspected split" in p for p in report.problems)
    assert report.non_positive == {}


def test_vix_bad_open_prints_are_reported_not_taken_for_splits():
    report = check_quality(read_prices(data_file("VIX_History.csv")))
    dates = [d for d, _ in report.inconsistent_bars]
    assert "2004-11-08" in dates  # OPEN 2.58 with LOW 13.68
    assert [s for s in report.splits if s.kind != "jump"] == []


def test_report_lists_non_positive_prices_and_gaps(tmp_path):
    p = tmp_path / "p.csv"
    p.write_text("Date,Close\n2020-01-02,1\n2020-01-03,-1\n2020-01-20,2\n")
    report = check_quality(read_prices(p))
    assert report.non_positive == {"Close": [("2020-01-03", 3, -1.0)]}
    assert report.gaps == [("2020-01-03", "2020-01-20", 17)]
    assert any("non-positive" in x for x in report.problems)


def test_adjust_for_splits_ignores_jumps_that_are_not_splits():
    s = pd.Series([10.0, 10.0, 5.0, 5.0], index=pd.bdate_range("2020-01-01", periods=4))
    split = CorporateAction(s.index[2], 2.0, 2.0, "split")
    crash = CorporateAction(s.index[2], 2.0, 2.0, "jump")
    assert adjust_for_splits(s, [split]).tolist() == [5.0, 5.0, 5.0, 5.0]
    assert adjust_for_splits(s, [crash]).tolist() == s.tolist()
