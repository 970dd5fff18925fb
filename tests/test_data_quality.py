"""Data quality report and split handling on real unadjusted data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import data_file
from marketcast.data import adjust_for_splits, check_quality, detect_splits, load_series, read_prices
from marketcast.data.splits import CorporateAction

pytestmark = pytest.mark.realdata


def test_sbin_ten_for_one_split_is_found_and_adjusted():
    data = read_prices(data_file("NIFTY_SBIN.csv"))
    splits = [s for s in detect_splits(data.frame) if s.kind == "split"]
    assert [(str(s.date.date()), s.ratio) for s in splits] == [("2014-11-20", 10.0)]
    raw = load_series(data)
    adjusted = load_series(data, adjust_splits=True)
    jump = np.log(raw.loc["2014-11-20"] / raw.loc["2014-11-19"])
    assert jump < -2.2  # the unadjusted series "crashes" 90%
    adj_jump = np.log(adjusted.loc["2014-11-20"] / adjusted.loc["2014-11-19"])
    assert abs(adj_jump) < 0.05
    assert adjusted.loc["2014-11-20":].equals(raw.loc["2014-11-20":])  # later prices untouched
    assert adjusted.attrs["adjusted_for"][0]["date"] == "2014-11-20"


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
