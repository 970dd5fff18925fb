"""Text cells to dates and numbers (data/cells.py), against the rules written out here."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from marketcast.data.cells import parse_dates, to_numbers
from marketcast.errors import DataError


def cells(values) -> pd.Series:
    return pd.Series(values, dtype=str)


def lines(n: int) -> np.ndarray:
    return np.arange(2, n + 2)


@pytest.mark.parametrize("fmt", ["%Y-%m-%d", "%m/%d/%Y", "%d-%b-%Y", "%b %d, %Y", "%Y%m%d", "%Y/%m/%d"])
def test_every_format_gives_the_days_and_no_times(fmt):
    days = pd.bdate_range("2019-12-20", periods=90)  # more rows than the 64 that choose the formats
    dates, times = parse_dates(cells([f"{d:{fmt}}" for d in days]), name="f", column="Date", lines=lines(90))
    assert (dates == days).all() and times is None


def test_month_and_day_order_is_decided_by_the_rows_order():
    # Every day and month <= 12, so both readings parse; read month first, the rows would go
    # Oct, Nov, Dec, Jan, Feb, Mar.
    days = pd.to_datetime(["2021-01-10", "2021-01-11", "2021-01-12", "2021-02-01", "2021-02-02", "2021-02-03"])
    text = cells([f"{d:%d/%m/%Y}" for d in days])
    dates, _ = parse_dates(text, name="f", column="Date", lines=lines(6))
    assert (dates == days).all()


def test_times_of_day_are_stripped_and_returned_where_not_midnight():
    text = cells(["2021-03-01 09:30", "2021-03-01 16:00:00", "2021-03-02T10:00:00Z"])
    dates, times = parse_dates(text, name="f", column="Date", lines=lines(3))
    assert list(dates.strftime("%Y-%m-%d")) == ["2021-03-01", "2021-03-01", "2021-03-02"]
    np.testing.assert_array_equal(times, [9.5 * 3600, 16 * 3600, 10 * 3600])
    _, midnight = parse_dates(cells(["2021-03-01 00:00:00", "2021-03-02 00:00"]), name="f", column="D", lines=lines(2))
    assert midnight is None


def test_a_bad_date_after_the_first_rows_is_named_by_its_line():
    days = [f"{d:%Y-%m-%d}" for d in pd.bdate_range("2020-01-01", periods=80)]
    with pytest.raises(DataError, match=r"^f: line 72: column 'Date': '2020-02-31' is not a date \(expected YYYY-MM-DD"):
        parse_dates(cells(days[:70] + ["2020-02-31"] + days[70:]), name="f", column="Date", lines=lines(81))


def test_a_format_the_first_rows_do_not_use_is_still_named_for_the_bad_rows():
    # 64 ISO rows, then 700 month-first ones: no format parses every row; the message names the
    # format most rows use and the first row that breaks it.
    head = [f"{d:%Y-%m-%d}" for d in pd.bdate_range("2018-01-01", periods=64)]
    tail = [f"{d:%m/%d/%Y}" for d in pd.bdate_range("2018-04-02", periods=700)]
    with pytest.raises(DataError, match=r"^f: line 2: column 'Date': '2018-01-01' is not a date \(expected MM/DD/YYYY like"):
        parse_dates(cells(head + tail), name="f", column="Date", lines=lines(764))


def test_an_ambiguous_head_is_decided_by_every_rows_order():
    # The first 64 rows are days 1-12 of their months (both readings parse them, and both in
    # order); the later rows are every day of 2017, which only day-first reads.
    head = [d for d in pd.date_range("2015-01-01", "2016-12-31") if d.day <= 12][:64]
    days = pd.DatetimeIndex(head).append(pd.date_range("2017-01-01", periods=100))
    text = cells([f"{d:%d/%m/%Y}" for d in days])
    dates, _ = parse_dates(text, name="f", column="Date", lines=lines(len(days)))
    assert (dates == days).all()


@pytest.mark.parametrize(
    "values, expected",
    [
        (["1.5", "2", "3e2"], [1.5, 2.0, 300.0]),  # every cell parses as it is
        ([" 1.5", "1,234.5", "7 "], [1.5, 1234.5, 7.0]),  # padded, thousands separators
        (["1.5", "", "NA", "-", "2"], [1.5, np.nan, np.nan, np.nan, 2.0]),  # missing markers
    ],
)
def test_numbers_with_and_without_cleaning(values, expected):
    out = to_numbers(cells(values), name="f", column="Close", lines=lines(len(values)), strict=True)
    np.testing.assert_array_equal(out, np.array(expected))


def test_an_arrow_backed_text_column_is_refused_like_any_other():
    pa = pytest.importorskip("pyarrow")
    col = pd.Series(["x", "1"], dtype=pd.ArrowDtype(pa.string()))
    with pytest.raises(DataError, match=r"^f: line 2: column 'C': 'x' is not a number$"):
        to_numbers(col, name="f", column="C", lines=lines(2), strict=True)


def test_decimal_comma_and_refusals():
    out = to_numbers(cells(["1.234,5", "2,5", "3"]), name="f", column="C", lines=lines(3), strict=True, decimal_comma=True)
    np.testing.assert_array_equal(out, [1234.5, 2.5, 3.0])
    with pytest.raises(DataError, match=r"^f: line 3: column 'Close': '1_000' is not a number$"):
        to_numbers(cells(["1", "1_000"]), name="f", column="Close", lines=lines(2), strict=True)
    with pytest.raises(DataError, match=r"^f: line 2: column 'Close': infinite value$"):
        to_numbers(cells(["inf", "1"]), name="f", column="Close", lines=lines(2), strict=True)
    assert to_numbers(cells(["AAPL", "AAPL"]), name="f", column="Symbol", lines=lines(2), strict=False) is None
