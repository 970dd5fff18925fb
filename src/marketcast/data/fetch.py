"""Bring a stored series up to date: full history the first time, only new days afterwards.

:func:`update` decides between three actions:

* **full fetch** when the store has no rows for the series, or ``full=True``: the whole
  history replaces whatever was stored;
* **append**: an incremental request (Alpha Vantage ``outputsize=compact`` when the last
  stored date is fewer than :data:`COMPACT_BUSINESS_DAYS` business days before ``today``,
  else ``full``; Yahoo ``period1`` a week before the last stored date; CBOE always sends the
  whole file) whose rows after the last stored date are appended;
* **replace**: the incremental answer shows that stored history is stale, so the full
  history is fetched (reused when the answer already was the full history) and replaces the
  stored series in one transaction. Triggers: a split (``split_factor`` != 1) in the new
  rows; for series with adjusted prices (``alphavantage-adjusted``, ``yahoo``) a dividend
  in the new rows, since both rescale every earlier adjusted price; an overlapping day
  whose unadjusted close differs from the stored one by more than 1e-6 relative (the
  source revised its history: logged as a warning); an answer that does not reach back to
  the stored dates (a gap would be left).

Adjusted and unadjusted Alpha Vantage series are kept apart: TIME_SERIES_DAILY is stored as
source ``alphavantage``, TIME_SERIES_DAILY_ADJUSTED (``adjusted=True``) as
``alphavantage-adjusted``. ``adjusted`` applies to Alpha Vantage only: Yahoo series always
carry ``adj_close``, CBOE indices have no adjustments.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from marketcast.data.store import PriceStore, normalise_symbol
from marketcast.errors import DataError, SourceError

if TYPE_CHECKING:
    import httpx

__all__ = ["update", "FetchResult", "store_source", "COMPACT_BUSINESS_DAYS", "REVISION_TOLERANCE"]

log = logging.getLogger(__name__)

#: Alpha Vantage's compact answer holds the latest 100 trading days; a smaller business-day
#: distance leaves room for holidays.
COMPACT_BUSINESS_DAYS = 95
#: Relative difference of an overlapping close that counts as a revision of history.
REVISION_TOLERANCE = 1e-6
#: Days of overlap asked from Yahoo before the last stored date.
YAHOO_OVERLAP_DAYS = 7
_SOURCES = ("alphavantage", "yahoo", "cboe")


@dataclass(frozen=True)
class FetchResult:
    """What :func:`update` did to one series."""

    source: str  #: store source name (``alphavantage``, ``alphavantage-adjusted``, ``yahoo``, ``cboe``)
    symbol: str
    rows_added: int  #: days after the previously stored last date
    first: dt.date | None  #: first stored date after the update
    last: dt.date | None  #: last stored date after the update
    replaced: bool  #: the stored series was replaced by a full history
    rows: int = 0  #: rows stored after the update
    reason: str = ""  #: why the series was replaced
    store_path: str = ""

    @property
    def spec(self) -> str:
        """``SOURCE:SYMBOL`` to use as DATA in other commands."""
        source = "alphavantage" if self.source == "alphavantage-adjusted" else self.source
        return f"{source}:{self.symbol}"


def store_source(source: str, adjusted: bool = False) -> str:
    """The store's name for a series of ``source`` (``alphavantage-adjusted`` when adjusted)."""
    name = str(source).strip().lower()
    if name not in _SOURCES:
        raise SourceError(f"unknown source '{source}' (choose one of: {', '.join(_SOURCES)})")
    if adjusted:
        if name != "alphavantage":
            why = "Yahoo series always include adj_close" if name == "yahoo" else "CBOE indices have no adjusted prices"
            raise DataError(f"--adjusted applies to --source alphavantage only ({why})")
        return "alphavantage-adjusted"
    return name


def update(
    source: str,
    symbol: str,
    *,
    store: PriceStore | str | Path | None = None,
    client: httpx.Client | None = None,
    full: bool = False,
    adjusted: bool = False,
    sleep: Callable[[float], None] | None = None,
    today: dt.date | None = None,
    api_key: str | None = None,
) -> FetchResult:
    """Fetch ``symbol`` from ``source`` into the store and return what changed.

    Parameters
    ----------
    source
        ``alphavantage``, ``yahoo`` or ``cboe``.
    store
        A :class:`PriceStore` or its path; default the default store.
    client
        ``httpx.Client`` for the requests (default: one from
        :func:`marketcast.data.sources._http.make_client`, closed afterwards).
    full
        Fetch and store the whole history even when the series is stored already.
    adjusted
        Alpha Vantage only: TIME_SERIES_DAILY_ADJUSTED (a premium endpoint), stored apart.
    today
        The date used to choose Alpha Vantage's compact answer (default: today).
    api_key
        Alpha Vantage key (default: ``$ALPHAVANTAGE_API_KEY``).
    """
    from marketcast.data.sources import _http

    key = store_source(source, adjusted)
    base = key.split("-")[0]
    sym = normalise_symbol(key, symbol)
    if not isinstance(store, PriceStore):
        store = PriceStore(store)
    today = today or dt.date.today()
    before = store.info(key, sym)
    own = client is None
    client = _http.make_client() if client is None else client
    try:

        def get(mode: str, last: dt.date | None = None) -> pd.DataFrame:
            from marketcast.data import sources

            if base == "alphavantage":
                return sources.fetch_alphavantage(
                    sym, adjusted=adjusted, outputsize=mode, api_key=api_key, client=client, sleep=sleep
                )
            if base == "yahoo":
                start = None if mode == "full" or last is None else last - dt.timedelta(days=YAHOO_OVERLAP_DAYS)
                return sources.fetch_yahoo(sym, start=start, client=client, sleep=sleep)
            return sources.fetch_cboe(sym, client=client, sleep=sleep)

        if before is None or full:
            frame = get("full")
            if frame.empty:
                raise SourceError(f"{base}: {sym}: the source returned no rows")
            return _replace(store, key, sym, frame, before, reason="full history requested" if before else "")

        last = before[2]
        if base == "alphavantage":
            mode = "compact" if np.busday_count(last, today) < COMPACT_BUSINESS_DAYS else "full"
        else:
            mode = "incremental"
        frame = get(mode, last)
        answer_is_full = base == "cboe" or mode == "full"
        reason = _stale_history(
            store,
            key,
            sym,
            frame,
            last,
            adjusted=key != "alphavantage" and base != "cboe",
            answer_is_full=answer_is_full,
        )
        if reason:
            if not answer_is_full:
                frame = get("full")
            return _replace(store, key, sym, frame, before, reason=reason)
        added = store.write(key, sym, frame)
    finally:
        if own:
            client.close()
    rows, first, last_now = store.info(key, sym) or (0, None, None)
    return FetchResult(key, sym, added, first, last_now, False, rows=rows, store_path=str(store.path))


def _replace(
    store: PriceStore, key: str, sym: str, frame: pd.DataFrame, before: tuple | None, *, reason: str
) -> FetchResult:
    store.write(key, sym, frame, replace=True)
    previous_last = before[2] if before else None
    added = len(frame) if previous_last is None else int((frame.index > pd.Timestamp(previous_last)).sum())
    rows, first, last = store.info(key, sym) or (0, None, None)
    return FetchResult(
        key, sym, added, first, last, before is not None, rows=rows, reason=reason, store_path=str(store.path)
    )


def _stale_history(
    store: PriceStore, key: str, sym: str, frame: pd.DataFrame, last: dt.date, *, adjusted: bool, answer_is_full: bool
) -> str:
    """Why the stored series must be replaced, or '' when appending the new rows is right."""
    if frame.empty:
        return ""
    cutoff = pd.Timestamp(last)
    new = frame[frame.index > cutoff]
    if "split_factor" in new.columns:
        splits = new["split_factor"]
        hit = splits[splits.notna() & (splits != 1.0)]
        if len(hit):
            return f"split {hit.iloc[0]:g} on {hit.index[0].date()}"
    if adjusted and "dividend" in new.columns:
        dividends = new["dividend"]
        hit = dividends[dividends.notna() & (dividends != 0.0)]
        if len(hit):
            return f"dividend {hit.iloc[0]:g} on {hit.index[0].date()}"
    old_part = frame[frame.index <= cutoff]
    if old_part.empty:
        if answer_is_full:
            return ""
        return "the answer does not reach back to the stored dates"
    stored = store.read(key, sym, start=old_part.index[0])
    common = old_part.index.intersection(stored.index)
    if len(common) and "close" in stored.columns:
        a = stored.loc[common, "close"].to_numpy()
        b = old_part.loc[common, "close"].to_numpy()
        scale = np.maximum(np.abs(a), 1e-12)
        changed = np.flatnonzero(np.abs(a - b) / scale > REVISION_TOLERANCE)
        if len(changed):
            day = common[changed[0]].date()
            log.warning(
                "%s:%s: the source revised %d stored close(s) (first %s: %g -> %g); re-fetching the full history",
                key,
                sym,
                len(changed),
                day,
                a[changed[0]],
                b[changed[0]],
            )
            return f"the source revised {len(changed)} stored close(s), first on {day}"
    return ""
