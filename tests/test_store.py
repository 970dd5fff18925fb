"""The DuckDB price store and the update logic (full, incremental, replace). No network."""

from __future__ import annotations

import copy
import datetime as dt
import json
import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from marketcast.data import resolve_input
from marketcast.data.fetch import FetchResult, update
from marketcast.data.sources import fetch_alphavantage, fetch_yahoo
from marketcast.data.store import PriceStore, default_store_path
from marketcast.errors import DataError, SourceError

FIX = Path(__file__).parent / "fixtures" / "sources"
KEY = "DEMOKEY123"


pytestmark = pytest.mark.usefixtures("no_network")  # any socket use fails the test (conftest.py)


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv("ALPHAVANTAGE_API_KEY", KEY)


def load(name: str):
    return json.loads((FIX / name).read_text())


def no_sleep(seconds: float) -> None:
    raise AssertionError(f"unexpected retry wait of {seconds} s")


# -- fake servers ----------------------------------------------------------------------------


class AlphaVantageServer:
    """Serves a TIME_SERIES_DAILY[_ADJUSTED] payload, cut at ``until`` and to 100 rows when compact."""

    def __init__(self, payload: dict, until: str | None = None):
        self.payload = payload
        self.until = until
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        body = copy.deepcopy(self.payload)
        rows = body["Time Series (Daily)"]
        days = sorted(d for d in rows if self.until is None or d <= self.until)
        if request.url.params.get("outputsize") == "compact":
            days = days[-100:]
        body["Time Series (Daily)"] = {d: rows[d] for d in reversed(days)}
        return httpx.Response(200, json=body)

    @property
    def outputsizes(self) -> list[str]:
        return [r.url.params["outputsize"] for r in self.requests]

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self))


class YahooServer:
    """Serves the chart fixture between period1 and period2, with nothing after ``until``."""

    def __init__(self, payload: dict, until: str | None = None):
        self.payload = payload
        self.until = until
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        body = copy.deepcopy(self.payload)
        result = body["chart"]["result"][0]
        lo = int(request.url.params["period1"])
        hi = int(request.url.params["period2"])
        if self.until is not None:
            hi = min(hi, int(pd.Timestamp(self.until, tz="UTC").timestamp()) + 86_400)
        keep = [i for i, t in enumerate(result["timestamp"]) if lo <= t < hi]
        result["timestamp"] = [result["timestamp"][i] for i in keep]
        quote = result["indicators"]["quote"][0]
        for key in quote:
            quote[key] = [quote[key][i] for i in keep]
        adj = result["indicators"]["adjclose"][0]
        adj["adjclose"] = [adj["adjclose"][i] for i in keep]
        for kind in ("splits", "dividends"):
            events = result["events"][kind]
            result["events"][kind] = {k: v for k, v in events.items() if lo <= v["date"] < hi}
        return httpx.Response(200, json=body)

    @property
    def period1s(self) -> list[int]:
        return [int(r.url.params["period1"]) for r in self.requests]

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self))


def ibm_frame() -> pd.DataFrame:
    return fetch_alphavantage("IBM", client=AlphaVantageServer(load("av_daily_IBM_full.json")).client())


def db_rows(path: Path, source: str, symbol: str) -> tuple[int, int]:
    """(rows, distinct dates) counted directly in the DuckDB file."""
    import duckdb

    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(
            "SELECT count(*), count(DISTINCT date) FROM prices WHERE source = ? AND symbol = ?", [source, symbol]
        ).fetchall()[0]


# -- the store -------------------------------------------------------------------------------


def test_write_read_round_trip(tmp_path):
    store = PriceStore(tmp_path / "store.duckdb")
    frame = ibm_frame()
    assert store.write("alphavantage", "IBM", frame) == 22
    back = store.read("alphavantage", "IBM")
    pd.testing.assert_frame_equal(back, frame)
    assert list(back.columns) == ["open", "high", "low", "close", "volume"]  # no all-NULL columns
    assert store.last_date("alphavantage", "IBM") == dt.date(2024, 5, 31)
    assert store.info("alphavantage", "IBM") == (22, dt.date(2024, 5, 1), dt.date(2024, 5, 31))


def test_write_appends_only_days_after_the_last_stored_date(tmp_path):
    path = tmp_path / "store.duckdb"
    store = PriceStore(path)
    frame = ibm_frame()
    assert store.write("alphavantage", "IBM", frame.iloc[:10]) == 10
    assert store.write("alphavantage", "IBM", frame) == 12
    assert store.write("alphavantage", "IBM", frame) == 0
    assert db_rows(path, "alphavantage", "IBM") == (22, 22)
    # replace=True swaps the whole series
    assert store.write("alphavantage", "IBM", frame.iloc[5:8], replace=True) == 3
    assert store.info("alphavantage", "IBM") == (3, dt.date(2024, 5, 8), dt.date(2024, 5, 10))


@pytest.mark.parametrize("replace", [False, True])
def test_failed_write_leaves_the_store_unchanged(tmp_path, monkeypatch, replace):
    store = PriceStore(tmp_path / "store.duckdb")
    frame = ibm_frame()
    store.write("alphavantage", "IBM", frame.iloc[:10])
    before = store.read("alphavantage", "IBM")
    listed = store.list()

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    # the fetch log is written after the rows, inside the same transaction
    monkeypatch.setattr(PriceStore, "_log_fetch", staticmethod(boom))
    with pytest.raises(RuntimeError, match="disk full"):
        store.write("alphavantage", "IBM", frame.iloc[3:], replace=replace)
    monkeypatch.undo()
    pd.testing.assert_frame_equal(store.read("alphavantage", "IBM"), before)
    pd.testing.assert_frame_equal(store.list(), listed)


def test_list_shows_each_series(tmp_path):
    store = PriceStore(tmp_path / "store.duckdb")
    assert store.list().empty
    frame = ibm_frame()
    store.write("alphavantage", "IBM", frame)
    store.write("yahoo", "IBM", frame.iloc[:5])
    listed = store.list()
    assert list(listed.columns) == ["source", "symbol", "rows", "first", "last", "last_fetched"]
    assert listed[["source", "symbol", "rows"]].values.tolist() == [["alphavantage", "IBM", 22], ["yahoo", "IBM", 5]]
    assert listed["first"].tolist() == [pd.Timestamp("2024-05-01")] * 2
    assert listed["last"].tolist() == [pd.Timestamp("2024-05-31"), pd.Timestamp("2024-05-07")]
    assert listed["last_fetched"].notna().all()


def test_symbols_are_case_normalised(tmp_path):
    store = PriceStore(tmp_path / "store.duckdb")
    frame = ibm_frame()
    store.write("alphavantage", " ibm ", frame)
    assert store.info("alphavantage", "IBM")[0] == 22
    store.write("yahoo", "rds-a", frame)
    assert store.info("yahoo", "rds-a")[0] == 22
    assert store.info("yahoo", "RDS-A") is None
    store.write("cboe", "^vix", frame)
    assert store.info("cboe", "VIX")[0] == 22


def test_resolve_input_reads_the_store(tmp_path):
    path = tmp_path / "store.duckdb"
    store = PriceStore(path)
    frame = ibm_frame()
    store.write("alphavantage", "IBM", frame)
    series = resolve_input("alphavantage:IBM", store_path=path)
    np.testing.assert_array_equal(series.to_numpy(), frame["close"].to_numpy())
    assert (series.index == frame.index).all() and series.index.name == "date"
    assert series.attrs["source"] == "alphavantage:IBM"
    volume = resolve_input("alphavantage:ibm", column="volume", store_path=path)
    assert volume.iloc[-1] == 4905002
    data = store.read_price_data("IBM", "alphavantage")
    assert data.path == "alphavantage:IBM" and data.format == "alphavantage"
    assert data.lines.tolist() == list(range(1, 23))
    assert data.original_columns == {c: c for c in frame.columns}


def test_resolve_input_store_spec_uses_marketcast_store(tmp_path, monkeypatch):
    path = tmp_path / "env.duckdb"
    monkeypatch.setenv("MARKETCAST_STORE", str(path))
    assert default_store_path() == path
    PriceStore().write("yahoo", "^VIX", ibm_frame())
    assert len(resolve_input("yahoo:^VIX")) == 22


def test_unknown_series_is_a_data_error(tmp_path):
    path = tmp_path / "store.duckdb"
    with pytest.raises(DataError) as info:
        PriceStore(path).read("alphavantage", "IBM")
    assert "not in the store" in str(info.value)
    assert "marketcast data fetch IBM --source alphavantage" in str(info.value)
    assert not path.exists()  # reading never creates the file
    PriceStore(path).write("alphavantage", "IBM", ibm_frame())
    with pytest.raises(DataError, match="alphavantage:MSFT: not in the store"):
        resolve_input("alphavantage:MSFT", store_path=path)
    with pytest.raises(DataError, match="--source alphavantage --adjusted"):
        PriceStore(path).read("alphavantage-adjusted", "MSFT")
    with pytest.raises(DataError, match="unknown store source"):
        PriceStore(path).read("bloomberg", "IBM")


def test_not_a_store_file(tmp_path):
    path = tmp_path / "prices.duckdb"
    path.write_text("Date,Close\n2024-01-02,1\n")
    with pytest.raises(DataError, match="not a marketcast store"):
        PriceStore(path).read("yahoo", "IBM")


def test_locked_store_is_a_clear_data_error(tmp_path):
    path = tmp_path / "store.duckdb"
    PriceStore(path).write("alphavantage", "IBM", ibm_frame())
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import duckdb, sys, time
            con = duckdb.connect({str(path)!r})
            print("locked", flush=True)
            sys.stdin.readline()
        """)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(DataError) as info:
            PriceStore(path, lock_timeout=0.2).write("alphavantage", "IBM", ibm_frame())
        assert "in use by another process" in str(info.value) and str(path) in str(info.value)
        with pytest.raises(DataError, match="in use by another process"):
            PriceStore(path, lock_timeout=0).list()
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert PriceStore(path).info("alphavantage", "IBM")[0] == 22


def test_frames_without_dates_or_with_duplicates_are_rejected(tmp_path):
    store = PriceStore(tmp_path / "store.duckdb")
    frame = ibm_frame()
    with pytest.raises(DataError, match="two rows for 2024-05-01"):
        store.write("alphavantage", "IBM", pd.concat([frame.iloc[:1], frame.iloc[:1]]))
    with pytest.raises(DataError, match="no dates"):
        store.write("alphavantage", "IBM", frame.reset_index(drop=True))


# -- update: full, incremental, replace -------------------------------------------------------


def test_first_update_fetches_the_full_history_then_appends_new_days(tmp_path):
    path = tmp_path / "store.duckdb"
    server = AlphaVantageServer(load("av_daily_IBM_full.json") | {}, until="2024-05-31")
    # one payload holding every day: the full file up to May, the compact one adds June
    server.payload = copy.deepcopy(server.payload)
    server.payload["Time Series (Daily)"].update(load("av_daily_IBM_compact.json")["Time Series (Daily)"])

    first = update("alphavantage", "ibm", store=path, client=server.client(), sleep=no_sleep,
                   today=dt.date(2024, 6, 1))
    assert first == FetchResult("alphavantage", "IBM", 22, dt.date(2024, 5, 1), dt.date(2024, 5, 31), False,
                                rows=22, store_path=str(path))
    assert server.outputsizes == ["full"]

    server.until = "2024-06-07"
    second = update("alphavantage", "IBM", store=path, client=server.client(), sleep=no_sleep,
                    today=dt.date(2024, 6, 8))
    assert server.outputsizes == ["full", "compact"]
    assert (second.rows_added, second.replaced, second.rows) == (5, False, 27)
    assert second.last == dt.date(2024, 6, 7)
    assert db_rows(path, "alphavantage", "IBM") == (27, 27)

    third = update("alphavantage", "IBM", store=path, client=server.client(), sleep=no_sleep,
                   today=dt.date(2024, 6, 8))
    assert (third.rows_added, third.replaced, third.rows) == (0, False, 27)
    assert db_rows(path, "alphavantage", "IBM") == (27, 27)
    stored = PriceStore(path).read("alphavantage", "IBM")
    assert stored.loc["2024-06-07", "close"] == 170.01 and stored.loc["2024-05-01", "close"] == 164.43


def test_incremental_alphavantage_uses_full_output_when_the_store_is_old(tmp_path):
    path = tmp_path / "store.duckdb"
    server = AlphaVantageServer(load("av_daily_IBM_full.json"))
    update("alphavantage", "IBM", store=path, client=server.client(), sleep=no_sleep)
    update("alphavantage", "IBM", store=path, client=server.client(), sleep=no_sleep, today=dt.date(2024, 12, 2))
    update("alphavantage", "IBM", store=path, client=server.client(), sleep=no_sleep, today=dt.date(2024, 6, 10))
    assert server.outputsizes == ["full", "full", "compact"]


def test_split_in_new_rows_replaces_the_series(tmp_path):
    path = tmp_path / "store.duckdb"
    server = AlphaVantageServer(load("av_daily_adjusted_AAPL.json"), until="2020-08-28")
    first = update("alphavantage", "AAPL", adjusted=True, store=path, client=server.client(), sleep=no_sleep)
    assert first.source == "alphavantage-adjusted" and first.rows == 20

    # Stored adjusted closes were computed before the split: make them stale like the real ones.
    store = PriceStore(path)
    stale = store.read("alphavantage-adjusted", "AAPL")
    stale["adj_close"] *= 4
    store.write("alphavantage-adjusted", "AAPL", stale, replace=True)

    server.until = None
    result = update("alphavantage", "AAPL", adjusted=True, store=path, client=server.client(), sleep=no_sleep,
                    today=dt.date(2020, 9, 5))
    assert server.outputsizes == ["full", "compact", "full"]
    assert result.replaced and result.reason == "split 4 on 2020-08-31"
    assert (result.rows_added, result.rows, result.last) == (5, 25, dt.date(2020, 9, 4))
    stored = store.read("alphavantage-adjusted", "AAPL")
    assert stored.loc["2020-08-28", "adj_close"] == pytest.approx(499.23 / 4 * 0.9703, abs=1e-4)
    assert stored.loc["2020-08-31", "split_factor"] == 4.0
    assert db_rows(path, "alphavantage-adjusted", "AAPL") == (25, 25)


def test_dividend_in_new_rows_replaces_an_adjusted_series(tmp_path):
    path = tmp_path / "store.duckdb"
    server = AlphaVantageServer(load("av_daily_adjusted_AAPL.json"), until="2020-08-06")
    update("alphavantage", "AAPL", adjusted=True, store=path, client=server.client(), sleep=no_sleep)
    server.until = "2020-08-20"
    result = update("alphavantage", "AAPL", adjusted=True, store=path, client=server.client(), sleep=no_sleep,
                    today=dt.date(2020, 8, 21))
    assert result.replaced and result.reason == "dividend 0.82 on 2020-08-07"
    assert result.rows == 14


def test_revised_history_replaces_the_series_with_a_warning(tmp_path, caplog):
    path = tmp_path / "store.duckdb"
    server = AlphaVantageServer(load("av_daily_IBM_full.json"))
    update("alphavantage", "IBM", store=path, client=server.client(), sleep=no_sleep)
    revised = copy.deepcopy(server.payload)
    revised["Time Series (Daily)"]["2024-05-24"]["4. close"] = "170.2700"
    server.payload = revised
    with caplog.at_level(logging.WARNING, logger="marketcast.data.fetch"):
        result = update("alphavantage", "IBM", store=path, client=server.client(), sleep=no_sleep,
                        today=dt.date(2024, 6, 1))
    assert result.replaced and "revised 1 stored close" in result.reason and "2024-05-24" in result.reason
    assert result.rows_added == 0 and result.rows == 22
    assert "revised" in caplog.text
    assert PriceStore(path).read("alphavantage", "IBM").loc["2024-05-24", "close"] == 170.27


def test_yahoo_incremental_update_appends_then_replaces_on_split(tmp_path):
    path = tmp_path / "store.duckdb"
    server = YahooServer(load("yahoo_chart_AAPL.json"), until="2020-08-24")
    first = update("yahoo", "AAPL", store=path, client=server.client(), sleep=no_sleep)
    assert (first.rows_added, first.replaced, first.last) == (16, False, dt.date(2020, 8, 24))

    server.until = "2020-08-28"
    second = update("yahoo", "AAPL", store=path, client=server.client(), sleep=no_sleep)
    assert (second.rows_added, second.replaced, second.rows) == (4, False, 20)
    week_before = int(pd.Timestamp("2020-08-17", tz="UTC").timestamp())
    assert server.period1s == [0, week_before]
    assert db_rows(path, "yahoo", "AAPL") == (20, 20)

    server.until = None
    third = update("yahoo", "AAPL", store=path, client=server.client(), sleep=no_sleep)
    assert third.replaced and third.reason == "split 4 on 2020-08-31"
    assert (third.rows_added, third.rows, third.last) == (6, 26, dt.date(2020, 9, 8))
    assert server.period1s[2:] == [int(pd.Timestamp("2020-08-21", tz="UTC").timestamp()), 0]
    assert db_rows(path, "yahoo", "AAPL") == (26, 26)


def test_cboe_update_appends_from_the_whole_file(tmp_path):
    path = tmp_path / "store.duckdb"
    text = (FIX / "cboe_VIX_History.csv").read_text()
    answers = {"body": text.rsplit("\n", 2)[0] + "\n"}  # without the last day

    def handler(request):
        return httpx.Response(200, text=answers["body"])

    client = httpx.Client(transport=httpx.MockTransport(handler))
    first = update("cboe", "vix", store=path, client=client, sleep=no_sleep)
    assert (first.symbol, first.rows_added, first.last) == ("VIX", 19, dt.date(2021, 5, 6))
    answers["body"] = text
    second = update("cboe", "VIX", store=path, client=client, sleep=no_sleep)
    assert (second.rows_added, second.replaced, second.rows) == (1, False, 20)
    assert resolve_input("cboe:VIX", store_path=path).loc["2021-04-19"] == 17.29


def test_full_flag_replaces_the_stored_series(tmp_path):
    path = tmp_path / "store.duckdb"
    server = AlphaVantageServer(load("av_daily_IBM_full.json"))
    update("alphavantage", "IBM", store=path, client=server.client(), sleep=no_sleep)
    result = update("alphavantage", "IBM", store=path, client=server.client(), sleep=no_sleep, full=True)
    assert result.replaced and result.reason == "full history requested" and result.rows == 22
    assert server.outputsizes == ["full", "full"]


def test_adjusted_and_unadjusted_alphavantage_series_are_kept_apart(tmp_path):
    path = tmp_path / "store.duckdb"
    store = PriceStore(path)
    plain = fetch_alphavantage("AAPL", client=AlphaVantageServer(load("av_daily_adjusted_AAPL.json"),
                                                                 until="2020-08-20").client())
    store.write("alphavantage", "AAPL", plain[["open", "high", "low", "close", "volume"]])
    update("alphavantage", "AAPL", adjusted=True, store=path, sleep=no_sleep,
           client=AlphaVantageServer(load("av_daily_adjusted_AAPL.json")).client())
    assert store.list()[["source", "symbol", "rows"]].values.tolist() == [
        ["alphavantage", "AAPL", 14], ["alphavantage-adjusted", "AAPL", 25]]
    # alphavantage:AAPL reads the more recent of the two: here the adjusted one
    data = store.read_price_data("AAPL", "alphavantage")
    assert data.format == "alphavantage-adjusted" and "adj_close" in data.frame.columns
    adj = resolve_input("alphavantage:AAPL", column="adj_close", store_path=path)
    assert len(adj) == 25


def test_update_argument_errors(tmp_path):
    with pytest.raises(DataError, match="--adjusted applies to --source alphavantage only"):
        update("yahoo", "AAPL", adjusted=True, store=tmp_path / "s.duckdb")
    with pytest.raises(SourceError, match="alphavantage, yahoo, cboe"):
        update("quandl", "AAPL", store=tmp_path / "s.duckdb")


def test_empty_first_answer_is_a_source_error(tmp_path):
    server = YahooServer(load("yahoo_chart_AAPL.json"), until="2000-01-01")
    with pytest.raises(SourceError, match="no rows"):
        update("yahoo", "AAPL", store=tmp_path / "s.duckdb", client=server.client(), sleep=no_sleep)
    assert PriceStore(tmp_path / "s.duckdb").list().empty


def test_yahoo_fetch_frame_round_trips_through_the_store(tmp_path):
    frame = fetch_yahoo("AAPL", client=YahooServer(load("yahoo_chart_AAPL.json")).client())
    store = PriceStore(tmp_path / "s.duckdb")
    store.write("yahoo", "AAPL", frame)
    pd.testing.assert_frame_equal(store.read("yahoo", "AAPL"), frame)
