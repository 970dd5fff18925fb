"""Online sources of daily prices: Alpha Vantage, Yahoo Finance and CBOE.

Each ``fetch_*`` function returns a canonical frame: tz-naive ``DatetimeIndex`` named
``date`` (ascending, unique) and float columns named as in :mod:`marketcast.data.files`
(``open, high, low, close, adj_close, volume, split_factor, dividend``, those the source has).
All take ``client=`` (an ``httpx.Client``; tests pass one built on ``httpx.MockTransport``)
and ``sleep=`` (for the retry waits). Failures are :class:`~marketcast.errors.SourceError`,
:class:`~marketcast.errors.RateLimitError` or :class:`~marketcast.errors.AuthenticationError`.

>>> from marketcast.data.sources import fetch
>>> ibm = fetch("alphavantage", "IBM", outputsize="compact")     # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from marketcast.data.sources.alphavantage import fetch_alphavantage
from marketcast.data.sources.cboe import fetch_cboe
from marketcast.data.sources.yahoo import fetch_yahoo
from marketcast.errors import SourceError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SOURCES", "fetch", "fetch_alphavantage", "fetch_yahoo", "fetch_cboe"]

#: Source name -> fetch function.
SOURCES: dict[str, Callable[..., pd.DataFrame]] = {
    "alphavantage": fetch_alphavantage,
    "yahoo": fetch_yahoo,
    "cboe": fetch_cboe,
}


def fetch(source: str, symbol: str, **options: Any) -> pd.DataFrame:
    """Fetch ``symbol`` from ``source`` (one of :data:`SOURCES`); ``options`` go to its function."""
    try:
        function = SOURCES[str(source).strip().lower()]
    except KeyError:
        raise SourceError(f"unknown source '{source}' (choose one of: {', '.join(SOURCES)})") from None
    return function(symbol, **options)
