"""Turn what a user typed as DATA into a price series: a file, or SOURCE:SYMBOL from the store."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from marketcast.data.series import load_series, series_from_data

__all__ = ["resolve_input", "STORE_SPEC"]

#: ``alphavantage:IBM``, ``yahoo:^VIX``, ``cboe:VIX``: a series fetched earlier into the store.
STORE_SPEC = re.compile(r"^(alphavantage-adjusted|alphavantage|yahoo|cboe):(.+)$", re.IGNORECASE)


def resolve_input(
    spec: str | Path,
    *,
    column: str | None = None,
    adjust_splits: bool | Sequence[str] = False,
    store_path: str | Path | None = None,
    intraday: str | None = None,
) -> pd.Series:
    """Load DATA: an existing file path (``-`` standard input), else ``SOURCE:SYMBOL`` from the local store."""
    text = str(spec)
    match = STORE_SPEC.match(text)
    if Path(text).exists() or match is None:
        return load_series(text, column, adjust_splits=adjust_splits, intraday=intraday)
    from marketcast.data.store import PriceStore

    source, symbol = match.group(1).lower(), match.group(2)
    data = PriceStore(store_path).read_price_data(symbol, source)
    return series_from_data(data, column, adjust_splits=adjust_splits)
