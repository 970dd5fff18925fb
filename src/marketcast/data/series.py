"""The one series type that flows through marketcast, and the checks every entry point shares.

A price series is a ``pandas.Series`` of float64 with a strictly increasing, timezone-free
``DatetimeIndex`` named ``date``, positive finite values, and ``attrs['source']`` naming where
it came from (a file name, a symbol) so that later errors can say which input was wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from marketcast.data.files import PriceData, read_prices
from marketcast.data.splits import CorporateAction, adjust_for_splits, detect_splits, parse_split, reported_splits
from marketcast.errors import DataError

__all__ = ["load_series", "series_from_data", "as_series", "require_rows", "source_of"]


def source_of(series: pd.Series) -> str:
    """Where a series came from, for error messages."""
    return str(series.attrs.get("source") or series.name or "series")


def load_series(
    path: str | Path | PriceData,
    column: str | None = None,
    *,
    adjust_splits: bool | Sequence[str] = False,
    intraday: str | None = None,
) -> pd.Series:
    """Read one price column of a file as a validated series.

    Parameters
    ----------
    path
        A CSV/TXT/Parquet file (any format :func:`~marketcast.data.read_prices` knows) or an
        already parsed :class:`PriceData`.
    column
        Column to use; default the close. Canonical or original spelling (``'adjusted close'``,
        ``'adj_close'`` and ``'Adj Close'`` all work).
    adjust_splits
        ``True``: divide prices before each split by its ratio, for the splits the source reports
        (Alpha Vantage's ``split cf``). Never on suspicion alone: a file that reports none but
        has suspected splits (:func:`~marketcast.data.splits.detect_splits`) is refused with
        them listed. A list of ``DATE:RATIO`` (``["2014-11-20:10"]``, ``--split``): those
        splits, confirmed by the user, and the reported ones. What was adjusted is in
        ``attrs["adjusted_for"]`` and a note.
    """
    data = path if isinstance(path, PriceData) else read_prices(path, intraday=intraday)
    return series_from_data(data, column, adjust_splits=adjust_splits)


def series_from_data(
    data: PriceData, column: str | None = None, *, adjust_splits: bool | Sequence[str] = False
) -> pd.Series:
    col = data.resolve_column(column)
    label = data.original_columns.get(col, col)
    raw = data.frame[col]
    keep = raw.notna().to_numpy()
    if not keep.any():
        raise DataError(f"{data.name}: column '{label}' has no values")
    values = raw.to_numpy()
    bad = keep & ~(values > 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{data.name}: {data.where(i)}: column '{label}': non-positive price "
            f"{values[i]:g} on {data.frame.index[i].date()}"
        )
    series = raw[keep].astype(np.float64)
    series.name = Path(data.path).stem
    series.attrs = {"source": data.name, "column": label, "format": data.format}
    if data.notes:
        series.attrs["notes"] = list(data.notes)
    if not keep.all():
        first = int(np.flatnonzero(~keep)[0])
        series.attrs["skipped_missing"] = {
            "rows": int((~keep).sum()),
            "first": data.frame.index[first].date().isoformat(),
            "where": data.where(first),
        }
    if adjust_splits and col != "adj_close":  # an empty list of confirmed splits asks for nothing
        actions = split_actions(data, col, series, adjust_splits)
        notes = list(series.attrs.get("notes", []))
        series = adjust_for_splits(series, actions)
        series.attrs["adjusted_for"] = [a.as_dict() for a in actions]
        done = "; ".join(f"{a.date.date()} {a.label}" for a in actions) or "nothing (no split reported or confirmed)"
        series.attrs["notes"] = [*notes, f"{data.name}: adjusted for splits: {done}"]
    return series


def split_actions(
    data: PriceData, col: str, series: pd.Series, adjust_splits: bool | Sequence[str]
) -> list[CorporateAction]:
    """The splits to adjust for: reported by the source, or confirmed by the user; never only suspected."""
    reported = reported_splits(data.frame)
    confirmed: list[CorporateAction] = []
    if not isinstance(adjust_splits, bool):
        if isinstance(adjust_splits, str):
            adjust_splits = [adjust_splits]
        for text in adjust_splits:
            when, ratio = parse_split(text)
            if when not in series.index:
                raise DataError(
                    f"{data.name}: --split {text}: no price on {when.date()} (the first day at the new level)"
                )
            if any(a.date == when for a in confirmed):
                raise DataError(f"{data.name}: --split {text}: {when.date()} is given twice (one ratio per split)")
            confirmed.append(CorporateAction(when, ratio, ratio, "confirmed"))
    if not reported and not confirmed:
        suspected = [a for a in detect_splits(data.frame, column=col) if a.kind != "jump"]
        if suspected:
            listed = "; ".join(f"{a.date.date()} {a.label}" for a in suspected)
            raise DataError(
                f"{data.name}: the file reports no splits and marketcast adjusts none on suspicion alone; "
                f"suspected: {listed}. Check them and confirm each with --split DATE:RATIO "
                f"({suspected[0].split_option})"
            )
    taken = {a.date for a in confirmed}
    return sorted(confirmed + [a for a in reported if a.date not in taken], key=lambda a: a.date)


def as_series(values: pd.Series | np.ndarray | list, *, name: str = "series", positive: bool = True) -> pd.Series:
    """Check an in-memory input once, the way every model and the backtest expect it.

    Arrays (and Series without dates) get a synthetic business-day index starting 2000-01-03
    so that date-based code runs; pass a date-indexed Series for real work.
    """
    if isinstance(values, pd.Series):
        s = values.astype(np.float64)
        src = source_of(values) if values.attrs.get("source") or values.name else name
        if not isinstance(s.index, pd.DatetimeIndex):
            s.index = pd.bdate_range("2000-01-03", periods=len(s), name="date")
        elif s.index.tz is not None:
            s.index = s.index.tz_localize(None)
    else:
        arr = np.asarray(values, dtype=np.float64)
        if arr.ndim != 1:
            raise DataError(f"{name}: expected a one-dimensional series, got shape {arr.shape}")
        s = pd.Series(arr, index=pd.bdate_range("2000-01-03", periods=len(arr), name="date"))
        src = name
    if len(s) == 0:
        raise DataError(f"{src}: the series is empty")
    v = s.to_numpy()
    if not np.isfinite(v).all():
        i = int(np.flatnonzero(~np.isfinite(v))[0])
        raise DataError(f"{src}: missing or infinite value on {s.index[i].date()}")
    if positive and (v <= 0).any():
        i = int(np.flatnonzero(v <= 0)[0])
        raise DataError(f"{src}: non-positive price {v[i]:g} on {s.index[i].date()}")
    if not s.index.is_monotonic_increasing or s.index.has_duplicates:
        raise DataError(f"{src}: dates must be strictly increasing")
    s.index = s.index.rename("date")  # a new index: the caller's keeps its name
    s.attrs = dict(getattr(values, "attrs", {}) or {})
    s.attrs.setdefault("source", src)
    return s


def require_rows(series: pd.Series, needed: int, what: str) -> None:
    """Raise a DataError naming the input when ``series`` is shorter than ``needed`` rows."""
    if len(series) < needed:
        raise DataError(f"{source_of(series)}: {len(series)} rows, but {what} needs at least {needed}")
