"""Reading real price files as published, and one clear error for every malformed input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import data_file
from marketcast.data import load_series, read_prices
from marketcast.errors import DataError

pytestmark = pytest.mark.realdata


@pytest.mark.parametrize(
    "name,fmt,rows,first,last,last_close",
    [
        ("VIX_History.csv", "cboe", 9221, "1990-01-02", "2026-07-03", 15.81),
        ("NIFTY_SBIN.csv", "nifty-50", 5306, "2000-01-03", "2021-04-30", 353.5),
        ("aa.us.txt", "kaggle-us", 12074, "1970-01-02", "2017-11-10", 43.01),
        ("aaoi.us.txt", "kaggle-us", 1041, "2013-09-26", "2017-11-10", 45.3),
        ("IBM_alphavantage_daily.csv", "alphavantage", 5555, "1999-11-01", "2021-11-26", 115.81),
        ("RELIANCE.BSE_alphavantage_daily.csv", "alphavantage", 4174, "2005-01-03", "2021-12-13", 2409.8),
    ],
)
def test_real_files_load_sorted_with_their_quirks(name, fmt, rows, first, last, last_close):
    data = read_prices(data_file(name))
    assert data.format == fmt
    assert len(data.frame) == rows
    assert data.frame.index.is_monotonic_increasing and not data.frame.index.has_duplicates
    assert str(data.frame.index[0].date()) == first and str(data.frame.index[-1].date()) == last
    assert load_series(data).iloc[-1] == pytest.approx(last_close)


def test_cboe_month_first_dates_give_the_papers_table_iv_prices():
    vix = load_series(data_file("VIX_History.csv"))
    week = vix.loc["2021-04-19":"2021-04-23"].round(3).tolist()
    assert week == [17.29, 18.68, 17.5, 18.71, 17.33]  # the Price column of Table IV


def test_alpha_vantage_export_newest_first_unnamed_index_and_adjusted_column():
    path = data_file("IBM_alphavantage_daily.csv")
    data = read_prices(path)
    assert "unnamed" not in " ".join(data.frame.columns) and "index" not in data.frame.columns
    assert {"adj_close", "split_factor", "dividend"} <= set(data.frame.columns)
    adj = load_series(path, "adjusted close")
    assert adj.attrs["column"] == "adjusted close"
    assert adj.loc["1999-11-01"] == pytest.approx(55.9880807527)
    # The row numbers point at the file's lines: the newest row is line 2, the oldest the last.
    assert data.line_of(len(data.frame) - 1) == 2 and data.line_of(0) == 5556


def test_nifty_empty_columns_are_kept_and_close_is_used():
    data = read_prices(data_file("NIFTY_SBIN.csv"))
    assert data.frame["trades"].isna().sum() == 2850
    assert "symbol" not in data.frame.columns  # text columns are not prices
    assert load_series(data).loc["2014-11-19"] == pytest.approx(2910.5)


# --- malformed input: one line naming the file and the row or column ------------------------


def write(tmp_path, name, text, mode="w"):
    p = tmp_path / name
    if mode == "wb":
        p.write_bytes(text)
    else:
        p.write_text(text)
    return p


@pytest.mark.parametrize(
    "name,content,expected",
    [
        ("empty.csv", "", "empty.csv: file is empty"),
        ("header.csv", "Date,Close\n", "header.csv: no data rows"),
        ("noclose.csv", "Date,Open\n2020-01-02,1\n", "noclose.csv: no close column (columns: Date, Open)"),
        ("text.csv", "Date,Close\n2020-01-02,1.5\n2020-01-03,abc\n", "text.csv: line 3: column 'Close': 'abc' is not a number"),
        ("neg.csv", "Date,Close\n2020-01-02,1.5\n2020-01-03,0\n", "neg.csv: line 3: column 'Close': non-positive price 0 on 2020-01-03"),
        ("baddate.csv", "Date,Close\n" + "".join(f"2020-01-{d:02d},1\n" for d in range(1, 21)) + "2020-13-45,1\n",
         "baddate.csv: line 22: column 'Date': '2020-13-45' is not a date"),
        # after the first 64 rows, which decide the formats tried on every row
        ("latedate.csv", "Date,Close\n" + "".join(f"{d:%Y-%m-%d},1\n" for d in pd.bdate_range("2020-01-01", periods=100))
         + "2020-13-45,1\n", "latedate.csv: line 102: column 'Date': '2020-13-45' is not a date (expected YYYY-MM-DD"),
        ("latenumber.csv", "Date,Close\n" + "".join(f"{d:%Y-%m-%d},1\n" for d in pd.bdate_range("2020-01-01", periods=100))
         + "2020-06-01,1..5\n", "latenumber.csv: line 102: column 'Close': '1..5' is not a number"),
        ("nodate.csv", "a,b\nx,1\n", "nodate.csv: no date column"),
        ("dups.csv", "Date,Close\n2020-01-02,1\n2020-01-03,2\n2020-01-03,3\n",
         "dups.csv: lines 3 and 4: two different rows for 2020-01-03"),
        ("onecol.csv", "justonecolumn\n1\n", "onecol.csv: line 1: no columns found"),
    ],
)
def test_malformed_files_fail_with_one_clear_line(tmp_path, name, content, expected):
    path = write(tmp_path, name, content)
    with pytest.raises(DataError) as err:
        load_series(path)
    message = str(err.value)
    assert message.startswith(expected), message
    assert "\n" not in message


def test_binary_and_missing_files(tmp_path):
    path = write(tmp_path, "prices.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR", mode="wb")
    with pytest.raises(DataError, match=r"prices.csv: not a text file"):
        load_series(path)
    with pytest.raises(DataError, match=r"nope.csv: no such file"):
        load_series(tmp_path / "nope.csv")


def test_unknown_column_lists_the_columns(tmp_path):
    path = write(tmp_path, "p.csv", "Date,Open,Close\n2020-01-02,1,2\n")
    with pytest.raises(DataError, match=r"p.csv: no column 'volume' \(columns: Date, Open, Close\)"):
        load_series(path, "volume")


def test_exact_duplicates_are_dropped_and_rows_sorted(tmp_path):
    path = write(tmp_path, "p.csv", "Date,Close\n2020-01-03,2\n2020-01-02,1\n2020-01-03,2\n")
    data = read_prices(path)
    assert data.dropped_duplicates == 1
    assert load_series(data).tolist() == [1.0, 2.0]


def test_day_first_dates_are_recognised_by_their_order(tmp_path):
    rows = "".join(f"{d:02d}/01/2020,{d}\n" for d in range(1, 13)) + "13/01/2020,13\n"
    s = load_series(write(tmp_path, "dmy.csv", "Date;Close\n" + rows.replace(",", ";")))
    assert s.index[0] == pd.Timestamp("2020-01-01") and s.index[-1] == pd.Timestamp("2020-01-13")


def test_yahoo_csv_and_bom_and_missing_closes(tmp_path):
    text = "\ufeffDate,Open,High,Low,Close,Adj Close,Volume\n2020-01-02,1,1,1,10,9,5\n2020-01-03,null,null,null,null,null,null\n2020-01-06,1,1,1,11,10,6\n"
    data = read_prices(write(tmp_path, "y.csv", text))
    assert data.format == "yahoo"
    s = load_series(data)
    assert s.tolist() == [10.0, 11.0]  # the empty holiday row is skipped, not an error
    assert load_series(data, "Adj Close").tolist() == [9.0, 10.0]


def test_parquet_with_a_datetime_index(tmp_path):
    frame = pd.DataFrame({"Close": [1.0, 2.0, 3.0]}, index=pd.DatetimeIndex(["2020-01-02", "2020-01-03", "2020-01-06"], name="Date"))
    path = tmp_path / "p.parquet"
    frame.to_parquet(path)
    s = load_series(path)
    assert s.tolist() == [1.0, 2.0, 3.0] and isinstance(s.index, pd.DatetimeIndex)
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(DataError, match="bad.parquet: not a readable Parquet file"):
        load_series(bad)


def test_parquet_problems_are_placed_by_row_not_line(tmp_path):
    from marketcast.data import check_quality

    dates = pd.DatetimeIndex(["2020-01-02", "2020-01-03", "2020-01-06", "2020-01-07"], name="Date")
    path = tmp_path / "p.parquet"
    pd.DataFrame({"Close": [1.0, -2.0, 3.0, 4.0]}, index=dates).to_parquet(path)
    with pytest.raises(DataError, match=r"p.parquet: row 2: column 'Close': non-positive price -2"):
        load_series(path)
    pd.DataFrame({"Close": [1.0, np.nan, 3.0, 4.0]}, index=dates).to_parquet(path)
    report = check_quality(read_prices(path))
    assert report.missing_rows == {"Close": [("2020-01-03", 2)]} and "(row 2)" in report.problems[0]
    assert report.as_dict()["missing_rows"] == {"Close": [{"date": "2020-01-03", "row": 2}]}
    assert load_series(path).attrs["skipped_missing"]["where"] == "row 2"
    days = [d.date().isoformat() for d in pd.bdate_range("2020-01-01", periods=10)]
    pd.DataFrame({"Date": [*days, "soon"], "Close": np.arange(1.0, 12.0)}).to_parquet(path)
    with pytest.raises(DataError, match=r"p.parquet: row 11: column 'Date': 'soon' is not a date"):
        read_prices(path)
    # a text file keeps its line numbers (the header is line 1)
    with pytest.raises(DataError, match=r"t.csv: line 3: column 'Close': non-positive price"):
        load_series(write(tmp_path, "t.csv", "Date,Close\n2020-01-02,1\n2020-01-03,0\n"))


def test_series_attrs_name_the_source(tmp_path):
    s = load_series(write(tmp_path, "abc.csv", "Date,Close\n2020-01-02,1\n"))
    assert s.attrs["source"] == "abc.csv" and s.name == "abc" and s.dtype == np.float64


def test_semicolon_files_use_the_decimal_comma(tmp_path):
    p = tmp_path / "eu.csv"
    p.write_text("Date;Close\n2020-01-02;1,5\n2020-01-03;1.234,25\n2020-01-06;2\n")
    assert load_series(p).tolist() == [1.5, 1234.25, 2.0]
    q = tmp_path / "us.csv"
    q.write_text('Date,Close\n2020-01-02,"1,234.5"\n2020-01-03,1.5\n')
    assert load_series(q).tolist() == [1234.5, 1.5]
