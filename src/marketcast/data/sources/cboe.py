"""CBOE index history files: ``https://cdn.cboe.com/api/global/us_indices/daily_prices/{SYMBOL}_History.csv``.

The files have the layout of ``VIX_History.csv`` (``DATE,OPEN,HIGH,LOW,CLOSE`` with
MM/DD/YYYY dates) and are parsed by :func:`marketcast.data.files.read_prices`, exactly as a
downloaded copy would be: the answer is written to ``{SYMBOL}_History.csv`` in a temporary
folder, so a parsing error names that file and its line. Each download is the whole history.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from marketcast.data.sources._http import canonical_frame, get_with_retries
from marketcast.errors import DataError, SourceError

if TYPE_CHECKING:
    import httpx
    import pandas as pd

__all__ = ["fetch_cboe", "BASE_URL"]

SOURCE = "cboe"
BASE_URL = "https://cdn.cboe.com/api/global/us_indices/daily_prices/{symbol}_History.csv"


def fetch_cboe(
    symbol: str = "VIX",
    *,
    client: httpx.Client | None = None,
    sleep: Callable[[float], None] | None = None,
    retries: int = 4,
    backoff: float = 1.0,
) -> pd.DataFrame:
    """The whole daily history of a CBOE index (``VIX``, ``VIX9D``, ``VVIX``, ``SKEW``...)."""
    symbol = symbol.strip().upper().lstrip("^")
    if not symbol or not symbol.replace("_", "").isalnum():
        raise SourceError(f"{SOURCE}: {symbol!r} is not a CBOE index symbol (e.g. VIX, VIX9D, VVIX)")
    url = BASE_URL.format(symbol=symbol)
    response = get_with_retries(
        client, url, None, source=SOURCE, retries=retries, backoff=backoff, sleep=sleep, accept_status=(403, 404)
    )
    if response.status_code in (403, 404):
        raise SourceError(
            f"{SOURCE}: no history file for symbol '{symbol}' (HTTP {response.status_code} from {url}); "
            "CBOE publishes e.g. VIX, VIX9D, VIX3M, VVIX, SKEW"
        )
    name = f"{symbol}_History.csv"
    with tempfile.TemporaryDirectory(prefix="marketcast-cboe-") as folder:
        path = Path(folder) / name
        path.write_bytes(response.content)
        from marketcast.data.files import read_prices

        try:
            data = read_prices(path)
        except DataError as exc:
            raise SourceError(f"{SOURCE}: {symbol}: the download is not a usable price file ({exc})") from None
    frame = data.frame
    if "close" not in frame.columns:
        raise SourceError(f"{SOURCE}: {symbol}: {name} has no CLOSE column (columns: {', '.join(frame.columns)})")
    return canonical_frame({c: frame[c].to_numpy() for c in frame.columns}, frame.index)
