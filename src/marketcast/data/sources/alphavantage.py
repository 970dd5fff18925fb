"""Alpha Vantage daily series: ``TIME_SERIES_DAILY`` and ``TIME_SERIES_DAILY_ADJUSTED`` (JSON).

The API key comes from the ``api_key`` argument, else from ``ALPHAVANTAGE_API_KEY`` (or
``ALPHA_VANTAGE_API_KEY``). A free key: https://www.alphavantage.co/support/#api-key.

Alpha Vantage answers most errors with HTTP 200 and a one-key JSON body:

==============================================  ============================================
``{"Error Message": "Invalid API call. ..."}``   unknown symbol or bad call -> SourceError
``{"Error Message": "the parameter apikey is      rejected key -> AuthenticationError
invalid or missing. ..."}``
``{"Note": "... 5 calls per minute ..."}`` and    per-minute / per-second limit -> retried
``{"Information": "... more sparingly (1          with back-off, then RateLimitError
request per second) ..."}``
``{"Information": "... 25 requests per day"}``    daily limit -> RateLimitError (no retry)
``{"Information": "... premium endpoint ..."}``   TIME_SERIES_DAILY_ADJUSTED on a free key
                                                  -> SourceError suggesting the alternatives
==============================================  ============================================

The daily-limit message quotes the key ("We have detected your API key as ..."): every
message is passed through :func:`~marketcast.data.sources._http.redact` first.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

from marketcast.data.files import canonical_name
from marketcast.data.sources._http import _one_line, canonical_frame, get_with_retries, redact
from marketcast.errors import AuthenticationError, RateLimitError, SourceError

if TYPE_CHECKING:
    import httpx
    import pandas as pd

__all__ = ["fetch_alphavantage", "parse_alphavantage", "resolve_api_key", "classify_notice", "BASE_URL", "KEY_ENV"]

SOURCE = "alphavantage"
BASE_URL = "https://www.alphavantage.co/query"
#: Environment variables read for the key, in this order.
KEY_ENV = ("ALPHAVANTAGE_API_KEY", "ALPHA_VANTAGE_API_KEY")
KEY_URL = "https://www.alphavantage.co/support/#api-key"
_SERIES_KEY = "Time Series (Daily)"
_NOTICE_KEYS = ("Error Message", "Information", "Note")


def resolve_api_key(explicit: str | None = None) -> str:
    """The key to use: ``explicit``, else the environment; AuthenticationError when there is none."""
    if explicit and explicit.strip():
        return explicit.strip()
    for name in KEY_ENV:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    raise AuthenticationError(f"{SOURCE}: no API key: set {KEY_ENV[0]} (a free key takes a minute at {KEY_URL})")


def classify_notice(text: str) -> str:
    """What an Alpha Vantage notice means: ``premium``, ``auth``, ``burst``, ``daily`` or ``other``."""
    low = str(text).lower()
    if "premium endpoint" in low:
        return "premium"
    if re.search(r"api ?key", low) and re.search(r"invalid|missing|not valid", low):
        return "auth"
    if any(w in low for w in ("per minute", "per second", "sparingly", "call frequency")):
        return "burst"
    if re.search(r"per day|daily (rate )?limit", low):
        return "daily"
    return "other"


def _notice(payload: Any) -> tuple[str, str] | None:
    if isinstance(payload, dict):
        for key in _NOTICE_KEYS:
            if isinstance(payload.get(key), str) and _SERIES_KEY not in payload:
                return key, payload[key]
    return None


def _slow_down(response: httpx.Response) -> str | None:
    """The per-minute/per-second notice (HTTP 200) that is worth retrying, else None."""
    try:
        found = _notice(response.json())
    except ValueError:
        return None
    if found is not None and found[0] != "Error Message" and classify_notice(found[1]) == "burst":
        return f"per-minute request limit reached ({_short(found[1])})"
    return None


def _short(message: str) -> str:
    """The first sentence of Alpha Vantage's message, without the greeting."""
    text = re.sub(r"^\s*Thank you for using Alpha Vantage!\s*", "", " ".join(str(message).split()))
    first = re.split(r"(?<=\.)\s", text, maxsplit=1)[0]
    return _one_line(first.rstrip("."), 160)


def fetch_alphavantage(
    symbol: str,
    *,
    adjusted: bool = False,
    outputsize: str = "full",
    api_key: str | None = None,
    client: httpx.Client | None = None,
    sleep: Callable[[float], None] | None = None,
    retries: int = 4,
    backoff: float = 1.0,
) -> pd.DataFrame:
    """Daily bars of ``symbol`` (e.g. ``IBM``, ``RELIANCE.BSE``) as a canonical frame.

    ``adjusted=False`` gives ``open, high, low, close, volume`` (TIME_SERIES_DAILY);
    ``adjusted=True`` adds ``adj_close, dividend, split_factor`` (TIME_SERIES_DAILY_ADJUSTED,
    a premium endpoint). ``outputsize='compact'`` returns the latest 100 days only.
    """
    if outputsize not in ("full", "compact"):
        raise SourceError(f"{SOURCE}: outputsize must be 'full' or 'compact', not {outputsize!r}")
    key = resolve_api_key(api_key)
    function = "TIME_SERIES_DAILY_ADJUSTED" if adjusted else "TIME_SERIES_DAILY"
    params = {"function": function, "symbol": symbol, "outputsize": outputsize, "datatype": "json", "apikey": key}
    response = get_with_retries(
        client,
        BASE_URL,
        params,
        source=SOURCE,
        retries=retries,
        backoff=backoff,
        sleep=sleep,
        retry_if=_slow_down,
    )
    try:
        payload = response.json()
    except ValueError:
        start = _one_line(response.text, 60)
        raise SourceError(f"{SOURCE}: {symbol}: the answer is not JSON (starts with {start!r})") from None
    return parse_alphavantage(payload, symbol=symbol, function=function, secrets=[key])


def parse_alphavantage(
    payload: Any, *, symbol: str, function: str = "TIME_SERIES_DAILY", secrets: Collection[str] = ()
) -> pd.DataFrame:
    """Turn a TIME_SERIES_DAILY[_ADJUSTED] JSON answer into a canonical frame, or raise its error."""
    found = _notice(payload)
    if found is not None:
        _raise_notice(*found, symbol=symbol, function=function, secrets=secrets)
    if not isinstance(payload, dict) or not isinstance(payload.get(_SERIES_KEY), dict):
        keys = ", ".join(map(str, payload)) if isinstance(payload, dict) else type(payload).__name__
        raise SourceError(f"{SOURCE}: {symbol}: unexpected answer from {function} (keys: {keys or 'none'})")
    series: dict[str, dict[str, str]] = payload[_SERIES_KEY]
    if not series:
        raise SourceError(f"{SOURCE}: {symbol}: {function} returned no rows")
    import numpy as np
    import pandas as pd

    days = sorted(series)
    try:
        dates = pd.to_datetime(days, format="%Y-%m-%d")
    except ValueError:
        raise SourceError(f"{SOURCE}: {symbol}: unexpected date in {function} (e.g. {days[0]!r})") from None
    columns: dict[str, list[float]] = {}
    for i, day in enumerate(days):
        for field, text in series[day].items():
            name = canonical_name(re.sub(r"^\s*\d+\.\s*", "", field))
            try:
                value = float(text)
            except (TypeError, ValueError):
                raise SourceError(f"{SOURCE}: {symbol}: {day}: '{field}' is not a number ({text!r})") from None
            columns.setdefault(name, [np.nan] * len(days))[i] = value
    if "close" not in columns:
        raise SourceError(f"{SOURCE}: {symbol}: {function} rows have no close (fields: {', '.join(series[days[0]])})")
    return canonical_frame(columns, dates)


def _raise_notice(key: str, message: str, *, symbol: str, function: str, secrets: Collection[str]) -> None:
    kind = classify_notice(message)
    said = redact(_short(message), secrets)
    if kind == "auth":
        raise AuthenticationError(
            f"{SOURCE}: the API key was rejected ({said}); check {KEY_ENV[0]} (free key: {KEY_URL})"
        )
    if kind == "premium":
        raise SourceError(
            f"{SOURCE}: {symbol}: {function} needs a premium key (Alpha Vantage: 'This is a premium "
            "endpoint'); fetch the unadjusted series (drop --adjusted) or adjusted prices with --source yahoo"
        )
    if kind == "daily":
        raise RateLimitError(
            f"{SOURCE}: daily request limit reached ({said}); try again tomorrow or use --source yahoo"
        )
    if kind == "burst":  # only reached when parsing a payload directly, without the retry loop
        raise RateLimitError(f"{SOURCE}: per-minute request limit reached ({said}); wait a minute and retry")
    if key == "Error Message":
        raise SourceError(
            f"{SOURCE}: {symbol}: {function} failed ({said}); is '{symbol}' an Alpha Vantage symbol "
            "(e.g. IBM, TSCO.LON, RELIANCE.BSE)?"
        )
    raise SourceError(f"{SOURCE}: {symbol}: {function}: {said}")
