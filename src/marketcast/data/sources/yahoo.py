"""Yahoo Finance daily bars through the v8 chart API (no key needed).

``GET https://query1.finance.yahoo.com/v8/finance/chart/{symbol}?period1=..&period2=..
&interval=1d&events=div,split&includeAdjustedClose=true`` answers::

    {"chart": {"result": [{"meta": {"exchangeTimezoneName": "America/New_York", "gmtoffset": -14400, ...},
                           "timestamp": [1598880600, ...],
                           "events": {"splits": {"1598880600": {"date": 1598880600, "numerator": 4,
                                                                "denominator": 1, "splitRatio": "4:1"}},
                                      "dividends": {"1596807000": {"amount": 0.205, "date": 1596807000}}},
                           "indicators": {"quote": [{"open": [...], "high": [...], "low": [...],
                                                     "close": [...], "volume": [...]}],
                                          "adjclose": [{"adjclose": [...]}]}}],
               "error": null}}

or, for an unknown symbol (HTTP 404),
``{"chart": {"result": null, "error": {"code": "Not Found", "description": "No data found, symbol may be delisted"}}}``.

Timestamps are the session's opening time in UTC; they become the local trading date of
the exchange (``exchangeTimezoneName``, else the ``gmtoffset`` seconds). Rows whose close
is null (holidays Yahoo lists, a halted day) are dropped. ``split_factor`` is
``numerator / denominator`` on the split's date and 1.0 elsewhere; ``dividend`` is the cash
amount on the ex-date and 0.0 elsewhere.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from marketcast.data.sources._http import _one_line, canonical_frame, get_with_retries
from marketcast.errors import SourceError

if TYPE_CHECKING:
    import httpx
    import pandas as pd

__all__ = ["fetch_yahoo", "parse_yahoo", "BASE_URL"]

log = logging.getLogger(__name__)

SOURCE = "yahoo"
BASE_URL = "https://query1.finance.yahoo.com/v8/finance/chart/{symbol}"


def _unix(day: str | date | datetime | pd.Timestamp) -> int:
    import pandas as pd

    ts = pd.Timestamp(day)
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return int(ts.timestamp())


def fetch_yahoo(
    symbol: str,
    *,
    start: str | date | datetime | None = None,
    end: str | date | datetime | None = None,
    client: httpx.Client | None = None,
    sleep: Callable[[float], None] | None = None,
    retries: int = 4,
    backoff: float = 1.0,
) -> pd.DataFrame:
    """Daily bars of ``symbol`` (``AAPL``, ``^VIX``, ``RELIANCE.NS``) from ``start`` to ``end``.

    ``start`` defaults to the whole history (``period1=0``), ``end`` to now; both are dates
    (midnight UTC), ``end`` inclusive. Columns: ``open, high, low, close, adj_close, volume,
    split_factor, dividend``. An empty frame when the range holds no trading day.
    """
    period1 = 0 if start is None else _unix(start)
    period2 = int(time.time()) if end is None else _unix(end) + 86_400
    params = {
        "period1": period1,
        "period2": period2,
        "interval": "1d",
        "events": "div,split",
        "includeAdjustedClose": "true",
    }
    url = BASE_URL.format(symbol=quote(symbol, safe=""))
    response = get_with_retries(
        client,
        url,
        params,
        source=SOURCE,
        retries=retries,
        backoff=backoff,
        sleep=sleep,
        accept_status=(400, 404, 422),
    )
    try:
        payload = response.json()
    except ValueError:
        if response.status_code >= 400:
            raise SourceError(f"{SOURCE}: {symbol}: HTTP {response.status_code} {response.reason_phrase}") from None
        start_text = _one_line(response.text, 60)
        raise SourceError(f"{SOURCE}: {symbol}: the answer is not JSON (starts with {start_text!r})") from None
    frame = parse_yahoo(payload, symbol=symbol)
    if response.status_code >= 400:  # an error status whose body had no chart.error
        raise SourceError(f"{SOURCE}: {symbol}: HTTP {response.status_code} {response.reason_phrase}")
    return frame


def _local_dates(seconds: list[int], meta: dict[str, Any]) -> pd.DatetimeIndex:
    import pandas as pd

    utc = pd.to_datetime(pd.Series(seconds, dtype="int64"), unit="s", utc=True)
    zone = meta.get("exchangeTimezoneName")
    if zone:
        try:
            return pd.DatetimeIndex(utc.dt.tz_convert(zone).dt.tz_localize(None)).normalize()
        except Exception:  # unknown zone name: fall back to the fixed offset
            log.warning("%s: unknown exchange time zone %r; using gmtoffset", SOURCE, zone)
    offset = int(meta.get("gmtoffset") or 0)
    return pd.DatetimeIndex(utc.dt.tz_localize(None) + pd.Timedelta(seconds=offset)).normalize()


def _floats(values: Any, n: int) -> list[float]:
    if values is None:
        return [float("nan")] * n
    if len(values) != n:
        raise SourceError(f"{SOURCE}: malformed chart answer ({len(values)} values for {n} timestamps)")
    return [float("nan") if v is None else float(v) for v in values]


def parse_yahoo(payload: Any, *, symbol: str) -> pd.DataFrame:
    """Turn a v8 chart JSON answer into a canonical frame, or raise its ``chart.error``."""
    import numpy as np
    import pandas as pd

    chart = payload.get("chart") if isinstance(payload, dict) else None
    if not isinstance(chart, dict):
        raise SourceError(f"{SOURCE}: {symbol}: unexpected answer (no 'chart')")
    error = chart.get("error")
    if error:
        if isinstance(error, dict):
            what = error.get("description") or error.get("code") or "unknown error"
            code = error.get("code")
            detail = f"{what} ({code})" if code and code != what else what
        else:
            detail = str(error)
        raise SourceError(f"{SOURCE}: {symbol}: {_one_line(detail)}")
    results = chart.get("result") or []
    if not results or not isinstance(results[0], dict):
        raise SourceError(f"{SOURCE}: {symbol}: no data in the answer")
    result = results[0]
    meta = result.get("meta") or {}
    seconds = result.get("timestamp") or []
    n = len(seconds)
    indicators = result.get("indicators") or {}
    quote_block = (indicators.get("quote") or [{}])[0] or {}
    columns: dict[str, Any] = {c: _floats(quote_block.get(c), n) for c in ("open", "high", "low", "close", "volume")}
    adj_block = (indicators.get("adjclose") or [{}])[0] or {}
    if "adjclose" in adj_block:
        columns["adj_close"] = _floats(adj_block["adjclose"], n)
    if n == 0:
        columns["adj_close"] = []
        columns["split_factor"] = []
        columns["dividend"] = []
        return canonical_frame(columns, pd.DatetimeIndex([]))
    dates = _local_dates(seconds, meta)
    frame = canonical_frame(columns, dates)  # sorted, one row per date
    frame = frame[frame["close"].notna()].copy()
    frame["split_factor"] = 1.0
    frame["dividend"] = 0.0
    events = result.get("events") or {}
    for kind, column in (("splits", "split_factor"), ("dividends", "dividend")):
        for event in (events.get(kind) or {}).values():
            if not isinstance(event, dict) or "date" not in event:
                continue
            day = _local_dates([int(event["date"])], meta)[0]
            if kind == "splits":
                num, den = event.get("numerator"), event.get("denominator")
                if not num or not den:
                    continue
                value = float(num) / float(den)
            else:
                if event.get("amount") is None:
                    continue
                value = float(event["amount"])
            at = frame.index.searchsorted(day)  # the event's day, or the next trading day
            if at >= len(frame) or day < frame.index[0]:
                log.warning("%s: %s: %s on %s is outside the bars; ignored", SOURCE, symbol, kind[:-1], day.date())
                continue
            if frame.index[at] != day:
                log.warning(
                    "%s: %s: %s on %s (no bar that day) placed on %s",
                    SOURCE,
                    symbol,
                    kind[:-1],
                    day.date(),
                    frame.index[at].date(),
                )
            frame.iloc[at, frame.columns.get_loc(column)] = value
    return frame[
        [
            c
            for c in ("open", "high", "low", "close", "adj_close", "volume", "split_factor", "dividend")
            if c in frame.columns
        ]
    ].astype(np.float64)
