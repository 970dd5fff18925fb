"""Online sources: parsing recorded answers, error payloads, retries. No network: see ``no_network``."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from marketcast.data import sources
from marketcast.data.sources import _http, fetch_alphavantage, fetch_cboe, fetch_yahoo
from marketcast.data.sources.alphavantage import classify_notice
from marketcast.errors import AuthenticationError, DataError, MarketcastError, RateLimitError, SourceError

FIX = Path(__file__).parent / "fixtures" / "sources"
KEY = "DEMOKEY123"  # the key quoted by av_information_daily_limit.json


pytestmark = pytest.mark.usefixtures("no_network")  # any socket use fails the test (conftest.py)


def load(name: str):
    return json.loads((FIX / name).read_text())


class Server:
    """A MockTransport handler that answers from a list and records the requests."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        if callable(answer):
            return answer(request)
        if isinstance(answer, httpx.Response):
            return answer
        return httpx.Response(200, json=answer)

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self))


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text, text
    assert len(text) < 400, text
    return text


# -- Alpha Vantage ---------------------------------------------------------------------------


def test_alphavantage_daily_parses_into_canonical_frame():
    server = Server(load("av_daily_IBM_full.json"))
    frame = fetch_alphavantage("IBM", api_key=KEY, client=server.client())
    assert list(frame.columns) == ["open", "high", "low", "close", "volume"]
    assert frame.index.name == "date" and isinstance(frame.index, pd.DatetimeIndex) and frame.index.tz is None
    assert frame.index.is_monotonic_increasing and not frame.index.has_duplicates
    assert (frame.dtypes == np.float64).all()
    assert len(frame) == 22
    assert frame.index[0] == pd.Timestamp("2024-05-01") and frame.index[-1] == pd.Timestamp("2024-05-31")
    row = frame.loc["2024-05-31"]
    assert row["close"] == 166.85 and row["open"] == 165.70 and row["volume"] == 4905002
    request = server.requests[0]
    assert request.url.host == "www.alphavantage.co"
    assert dict(request.url.params) == {
        "function": "TIME_SERIES_DAILY", "symbol": "IBM", "outputsize": "full", "datatype": "json", "apikey": KEY,
    }
    assert request.headers["User-Agent"].startswith("marketcast/")


def test_alphavantage_adjusted_places_split_and_dividend_on_their_dates():
    server = Server(load("av_daily_adjusted_AAPL.json"))
    frame = fetch_alphavantage("AAPL", adjusted=True, outputsize="compact", api_key=KEY, client=server.client())
    assert list(frame.columns) == ["open", "high", "low", "close", "adj_close", "volume", "split_factor", "dividend"]
    assert server.requests[0].url.params["function"] == "TIME_SERIES_DAILY_ADJUSTED"
    assert server.requests[0].url.params["outputsize"] == "compact"
    splits = frame["split_factor"]
    assert splits.loc["2020-08-31"] == 4.0
    assert (splits.drop(pd.Timestamp("2020-08-31")) == 1.0).all()
    dividends = frame["dividend"]
    assert dividends.loc["2020-08-07"] == 0.82
    assert (dividends.drop(pd.Timestamp("2020-08-07")) == 0.0).all()
    # Raw close kept as traded; adjusted close = close / 4 x later dividends (0.9703) before the split.
    assert frame.loc["2020-08-28", "close"] == 499.23
    assert frame.loc["2020-08-28", "adj_close"] == pytest.approx(499.23 / 4 * 0.9703, abs=1e-4)
    assert frame.loc["2020-09-04", "adj_close"] == pytest.approx(120.96 * 0.9703, abs=1e-4)


@pytest.mark.parametrize(
    ("fixture", "error", "words"),
    [
        ("av_error_invalid_symbol.json", SourceError, ["alphavantage", "XYZQ", "Invalid API call", "symbol"]),
        ("av_error_invalid_apikey.json", AuthenticationError, ["alphavantage", "rejected", "ALPHAVANTAGE_API_KEY"]),
        ("av_information_daily_limit.json", RateLimitError, ["alphavantage", "daily", "25 requests per day"]),
        ("av_information_premium.json", SourceError,
         ["TIME_SERIES_DAILY_ADJUSTED", "premium", "--source yahoo", "--adjusted"]),
    ],
)
def test_alphavantage_error_payloads(fixture, error, words):
    server = Server(load(fixture))
    sleeps = Sleeps()
    with pytest.raises(error) as info:
        fetch_alphavantage("XYZQ", adjusted="premium" in fixture, api_key=KEY, client=server.client(), sleep=sleeps)
    text = one_line(info.value)
    for word in words:
        assert word in text
    assert KEY not in text
    assert sleeps == []  # none of these is worth retrying
    assert len(server.requests) == 1
    if error is SourceError:  # plain source error, not a rate limit or a key problem
        assert type(info.value) is SourceError


def test_alphavantage_per_minute_note_is_retried_with_backoff_then_rate_limit():
    server = Server(load("av_note_per_minute.json"))
    sleeps = Sleeps()
    with pytest.raises(RateLimitError) as info:
        fetch_alphavantage("IBM", api_key=KEY, client=server.client(), sleep=sleeps)
    assert sleeps == [1, 2, 4, 8]
    assert len(server.requests) == 5
    text = one_line(info.value)
    assert "alphavantage" in text and "per-minute" in text and "5 attempts" in text


def test_alphavantage_burst_notice_then_data_succeeds():
    server = Server(load("av_information_burst.json"), load("av_daily_IBM_full.json"))
    sleeps = Sleeps()
    frame = fetch_alphavantage("IBM", api_key=KEY, client=server.client(), sleep=sleeps, backoff=0.5)
    assert len(frame) == 22
    assert sleeps == [0.5]


def test_alphavantage_missing_key_is_an_authentication_error(monkeypatch):
    monkeypatch.delenv("ALPHAVANTAGE_API_KEY", raising=False)
    monkeypatch.delenv("ALPHA_VANTAGE_API_KEY", raising=False)
    server = Server(load("av_daily_IBM_full.json"))
    with pytest.raises(AuthenticationError) as info:
        fetch_alphavantage("IBM", client=server.client())
    text = one_line(info.value)
    assert "ALPHAVANTAGE_API_KEY" in text and "alphavantage.co/support/#api-key" in text
    assert server.requests == []


@pytest.mark.parametrize("variable", ["ALPHAVANTAGE_API_KEY", "ALPHA_VANTAGE_API_KEY"])
def test_alphavantage_key_from_environment(monkeypatch, variable):
    monkeypatch.delenv("ALPHAVANTAGE_API_KEY", raising=False)
    monkeypatch.delenv("ALPHA_VANTAGE_API_KEY", raising=False)
    monkeypatch.setenv(variable, "ENVKEY42")
    server = Server(load("av_daily_IBM_full.json"))
    fetch_alphavantage("IBM", client=server.client())
    assert server.requests[0].url.params["apikey"] == "ENVKEY42"


def test_api_key_never_in_transport_error_messages():
    def fail(request):
        raise httpx.ConnectError(f"could not reach {request.url}", request=request)

    sleeps = Sleeps()
    with pytest.raises(SourceError) as info:
        fetch_alphavantage("IBM", api_key=KEY, client=Server(fail).client(), sleep=sleeps)
    text = one_line(info.value)
    assert KEY not in text and "apikey=***" in text
    assert "cannot connect" in text and sleeps == [1, 2, 4, 8]


def test_http_404_fails_at_once_without_the_key():
    server = Server(httpx.Response(404, text="not here"))
    sleeps = Sleeps()
    with pytest.raises(SourceError) as info:
        fetch_alphavantage("IBM", api_key=KEY, client=server.client(), sleep=sleeps)
    text = one_line(info.value)
    assert "HTTP 404" in text and KEY not in text
    assert sleeps == [] and len(server.requests) == 1


def test_alphavantage_non_json_answer():
    server = Server(httpx.Response(200, text="<html><body>Service unavailable</body></html>"))
    with pytest.raises(SourceError, match="not JSON"):
        fetch_alphavantage("IBM", api_key=KEY, client=server.client())


def test_classify_notice_wordings():
    assert classify_notice(load("av_note_per_minute.json")["Note"]) == "burst"
    assert classify_notice(load("av_information_burst.json")["Information"]) == "burst"
    assert classify_notice(load("av_information_daily_limit.json")["Information"]) == "daily"
    assert classify_notice(load("av_information_premium.json")["Information"]) == "premium"
    assert classify_notice(load("av_error_invalid_apikey.json")["Error Message"]) == "auth"
    # "TIME_SERIES_DAILY" in the invalid-call message is not the daily limit
    assert classify_notice(load("av_error_invalid_symbol.json")["Error Message"]) == "other"


# -- retries (shared helper) -----------------------------------------------------------------


def test_429_retries_with_exponential_backoff_then_rate_limit_error():
    server = Server(httpx.Response(429, text="Too Many Requests"))
    sleeps = Sleeps()
    with pytest.raises(RateLimitError) as info:
        fetch_yahoo("AAPL", client=server.client(), sleep=sleeps)
    assert sleeps == [1, 2, 4, 8]
    assert len(server.requests) == 5
    text = one_line(info.value)
    assert text.startswith("yahoo: ") and "429" in text


def test_backoff_multiplier_and_retry_count():
    server = Server(httpx.Response(429))
    sleeps = Sleeps()
    with pytest.raises(RateLimitError):
        fetch_yahoo("AAPL", client=server.client(), sleep=sleeps, retries=2, backoff=0.25)
    assert sleeps == [0.25, 0.5]


def test_retry_after_header_is_honoured():
    server = Server(httpx.Response(429, headers={"Retry-After": "7"}), load("yahoo_chart_AAPL.json"))
    sleeps = Sleeps()
    frame = fetch_yahoo("AAPL", client=server.client(), sleep=sleeps)
    assert sleeps == [7.0]
    assert len(frame) == 26


def test_retry_after_is_capped():
    server = Server(httpx.Response(503, headers={"Retry-After": "86400"}), load("yahoo_chart_AAPL.json"))
    sleeps = Sleeps()
    fetch_yahoo("AAPL", client=server.client(), sleep=sleeps)
    assert sleeps == [_http.MAX_WAIT]


def test_server_errors_and_timeouts_are_retried_then_source_error():
    server = Server(httpx.Response(502), httpx.ConnectTimeout("slow"), load("yahoo_chart_AAPL.json"))
    sleeps = Sleeps()
    assert len(fetch_yahoo("AAPL", client=server.client(), sleep=sleeps)) == 26
    assert sleeps == [1, 2]

    server = Server(httpx.Response(500))
    with pytest.raises(SourceError) as info:
        fetch_cboe("VIX", client=server.client(), sleep=Sleeps())
    assert type(info.value) is SourceError and "HTTP 500" in one_line(info.value)

    server = Server(httpx.ReadTimeout("slow"))
    with pytest.raises(SourceError, match="timed out"):
        fetch_cboe("VIX", client=server.client(), sleep=Sleeps())


def test_redact():
    assert _http.redact("GET https://x/q?function=F&apikey=SECRET9&symbol=IBM") == (
        "GET https://x/q?function=F&apikey=***&symbol=IBM"
    )
    assert "SECRET9" not in _http.redact("your API key as SECRET9 and", ["SECRET9"])


# -- Yahoo -----------------------------------------------------------------------------------


def test_yahoo_chart_parses_into_canonical_frame():
    server = Server(load("yahoo_chart_AAPL.json"))
    frame = fetch_yahoo("AAPL", client=server.client())
    assert list(frame.columns) == ["open", "high", "low", "close", "adj_close", "volume", "split_factor", "dividend"]
    assert frame.index.name == "date" and frame.index.tz is None and frame.index.is_monotonic_increasing
    assert (frame.dtypes == np.float64).all()
    # 27 timestamps, the null Labor Day bar dropped
    assert len(frame) == 26
    assert pd.Timestamp("2020-09-07") not in frame.index
    assert frame.index[0] == pd.Timestamp("2020-08-03") and frame.index[-1] == pd.Timestamp("2020-09-08")
    # 13:30 UTC timestamps are that day's date in New York
    assert frame.loc["2020-08-28", "close"] == pytest.approx(499.23 / 4)
    assert frame.loc["2020-08-31", "close"] == 129.04
    assert frame.loc["2020-08-28", "volume"] == 46907479 * 4
    assert frame["split_factor"].loc["2020-08-31"] == 4.0
    assert (frame["split_factor"].drop(pd.Timestamp("2020-08-31")) == 1.0).all()
    assert frame["dividend"].loc["2020-08-07"] == 0.205
    assert frame["dividend"].sum() == 0.205
    params = server.requests[0].url.params
    assert params["period1"] == "0" and params["interval"] == "1d"
    assert params["events"] == "div,split" and params["includeAdjustedClose"] == "true"
    assert int(params["period2"]) > 1_700_000_000


def test_yahoo_encodes_index_symbols_and_passes_the_range():
    server = Server(load("yahoo_chart_AAPL.json"))
    fetch_yahoo("^VIX", start="2020-08-01", end="2020-09-30", client=server.client())
    request = server.requests[0]
    assert request.url.raw_path.startswith(b"/v8/finance/chart/%5EVIX?")
    assert request.url.params["period1"] == str(int(pd.Timestamp("2020-08-01", tz="UTC").timestamp()))
    assert request.url.params["period2"] == str(int(pd.Timestamp("2020-10-01", tz="UTC").timestamp()))


def _chart(timestamps, closes, meta):
    return {"chart": {"result": [{
        "meta": meta, "timestamp": timestamps,
        "indicators": {"quote": [{"open": closes, "high": closes, "low": closes, "close": closes,
                                  "volume": [1000] * len(closes)}],
                       "adjclose": [{"adjclose": closes}]},
    }], "error": None}}


def test_yahoo_dates_are_local_trading_dates():
    # NZX opens 10:00 in Auckland: 22:00 UTC of the day before (NZST, UTC+12).
    stamps = [int(pd.Timestamp(f"2024-07-0{d} 22:00", tz="UTC").timestamp()) for d in (1, 2, 3)]
    payload = _chart(stamps, [10.0, 10.5, 11.0], {"exchangeTimezoneName": "Pacific/Auckland", "gmtoffset": 43200})
    frame = fetch_yahoo("AIR.NZ", client=Server(payload).client())
    assert list(frame.index.strftime("%Y-%m-%d")) == ["2024-07-02", "2024-07-03", "2024-07-04"]
    # without a zone name, the gmtoffset seconds are used
    payload = _chart(stamps, [10.0, 10.5, 11.0], {"gmtoffset": 43200})
    frame = fetch_yahoo("AIR.NZ", client=Server(payload).client())
    assert list(frame.index.strftime("%Y-%m-%d")) == ["2024-07-02", "2024-07-03", "2024-07-04"]
    assert (frame["split_factor"] == 1.0).all() and (frame["dividend"] == 0.0).all()


def test_yahoo_chart_error_is_a_source_error():
    server = Server(httpx.Response(404, json=load("yahoo_chart_error_not_found.json")))
    sleeps = Sleeps()
    with pytest.raises(SourceError) as info:
        fetch_yahoo("NOSUCH", client=server.client(), sleep=sleeps)
    text = one_line(info.value)
    assert text == "yahoo: NOSUCH: No data found, symbol may be delisted (Not Found)"
    assert sleeps == []


def test_yahoo_empty_range_gives_an_empty_frame():
    payload = {"chart": {"result": [{"meta": {"exchangeTimezoneName": "America/New_York"},
                                     "indicators": {"quote": [{}], "adjclose": [{}]}}], "error": None}}
    frame = fetch_yahoo("AAPL", start="2030-01-01", client=Server(payload).client())
    assert frame.empty and frame.index.name == "date" and "close" in frame.columns


# -- CBOE ------------------------------------------------------------------------------------


def test_cboe_history_is_read_like_the_file():
    server = Server(httpx.Response(200, content=(FIX / "cboe_VIX_History.csv").read_bytes()))
    frame = fetch_cboe("vix", client=server.client())
    assert str(server.requests[0].url) == "https://cdn.cboe.com/api/global/us_indices/daily_prices/VIX_History.csv"
    assert list(frame.columns) == ["open", "high", "low", "close"]
    assert frame.index.name == "date" and frame.index.is_monotonic_increasing
    assert len(frame) == 20
    # VIX closes of 2021-04-19..23 (Table IV of the VIX paper)
    week = frame.loc["2021-04-19":"2021-04-23", "close"].tolist()
    assert week == [17.29, 18.68, 17.50, 18.71, 17.33]


@pytest.mark.parametrize("status", [403, 404])
def test_cboe_unknown_symbol(status):
    server = Server(httpx.Response(status, text="<Error>AccessDenied</Error>"))
    with pytest.raises(SourceError) as info:
        fetch_cboe("NOPE", client=server.client())
    text = one_line(info.value)
    assert "cboe" in text and "'NOPE'" in text and f"HTTP {status}" in text


def test_cboe_answer_that_is_not_a_price_file():
    server = Server(httpx.Response(200, text="<html><body>Maintenance</body></html>\n"))
    with pytest.raises(SourceError) as info:
        fetch_cboe("VIX", client=server.client())
    assert "not a usable price file" in one_line(info.value)


# -- dispatch --------------------------------------------------------------------------------


def test_fetch_dispatches_by_source_name():
    server = Server(httpx.Response(200, content=(FIX / "cboe_VIX_History.csv").read_bytes()))
    assert len(sources.fetch("CBOE", "VIX", client=server.client())) == 20
    with pytest.raises(SourceError) as info:
        sources.fetch("bloomberg", "IBM")
    assert "alphavantage, yahoo, cboe" in str(info.value)
    assert isinstance(info.value, MarketcastError) and not isinstance(info.value, DataError)


def test_the_network_guard_itself_refuses_connections():
    import socket

    with pytest.raises(AssertionError, match="tried to reach the network"):
        socket.create_connection(("example.com", 80), timeout=1)
