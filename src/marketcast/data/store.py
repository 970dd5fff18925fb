"""The local price store: every fetched series in one DuckDB file.

Where: the ``path`` argument, else ``$MARKETCAST_STORE``, else
``platformdirs.user_data_dir("marketcast")/marketcast.duckdb``.

Schema (kept deliberately simple)::

    prices(source VARCHAR, symbol VARCHAR, date DATE,
           open, high, low, close, adj_close, volume, split_factor, dividend DOUBLE,
           PRIMARY KEY (source, symbol, date))
    fetches(source VARCHAR, symbol VARCHAR, fetched_at TIMESTAMP (UTC), rows_added INTEGER,
            "first" DATE, "last" DATE, replaced BOOLEAN)        -- one row per write

A column the source does not provide is NULL and is left out when the series is read.
``source`` is the store's name of the series kind: ``alphavantage`` (TIME_SERIES_DAILY,
unadjusted), ``alphavantage-adjusted`` (TIME_SERIES_DAILY_ADJUSTED: the same raw OHLCV plus
``adj_close``, ``dividend``, ``split_factor``), ``yahoo`` and ``cboe``. Symbols are stored
upper case except for Yahoo, where they are kept as given.

``SOURCE:SYMBOL`` inputs (:func:`marketcast.data.resolve_input`) come here through
:meth:`PriceStore.read_price_data`; ``alphavantage:IBM`` reads whichever Alpha Vantage
series of IBM is stored, the more recent one when both are (the adjusted one on a tie).

Concurrency: DuckDB lets one process write a file at a time. A connection is opened for
each operation and closed at once; when another process holds the file, the store waits up
to ``lock_timeout`` seconds and then raises a :class:`~marketcast.errors.DataError`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from marketcast.data.files import PriceData
from marketcast.errors import DataError

__all__ = ["PriceStore", "STORE_ENV", "STORE_SOURCES", "default_store_path", "normalise_symbol", "VALUE_COLUMNS"]

#: Environment variable naming the store file.
STORE_ENV = "MARKETCAST_STORE"
#: Series kinds the store knows (see the module docstring).
STORE_SOURCES = ("alphavantage", "alphavantage-adjusted", "yahoo", "cboe")
#: Value columns, in canonical order.
VALUE_COLUMNS = ("open", "high", "low", "close", "adj_close", "volume", "split_factor", "dividend")

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS prices (
    source VARCHAR NOT NULL,
    symbol VARCHAR NOT NULL,
    date DATE NOT NULL,
    {", ".join(f"{c} DOUBLE" for c in VALUE_COLUMNS)},
    PRIMARY KEY (source, symbol, date)
);
CREATE TABLE IF NOT EXISTS fetches (
    source VARCHAR NOT NULL,
    symbol VARCHAR NOT NULL,
    fetched_at TIMESTAMP NOT NULL,
    rows_added INTEGER NOT NULL,
    "first" DATE,
    "last" DATE,
    replaced BOOLEAN NOT NULL
);
"""


def default_store_path() -> Path:
    """``$MARKETCAST_STORE``, else ``marketcast.duckdb`` in the user's data folder."""
    env = os.environ.get(STORE_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("marketcast")) / "marketcast.duckdb"


def normalise_symbol(source: str, symbol: str) -> str:
    """The stored spelling of ``symbol``: upper case, except Yahoo's which stay as given."""
    text = str(symbol).strip()
    if not text:
        raise DataError("empty symbol")
    if source == "yahoo":
        return text
    if source == "cboe":
        return text.upper().lstrip("^")
    return text.upper()


def _fetch_hint(source: str, symbol: str) -> str:
    if source == "alphavantage-adjusted":
        return f"marketcast data fetch {symbol} --source alphavantage --adjusted"
    return f"marketcast data fetch {symbol} --source {source}"


class PriceStore:
    """Daily series fetched from online sources, kept in one DuckDB file.

    Parameters
    ----------
    path
        The DuckDB file; default :func:`default_store_path`. Created on the first write.
    lock_timeout
        Seconds to wait for another process that holds the file.
    """

    def __init__(self, path: str | Path | None = None, *, lock_timeout: float = 2.0) -> None:
        self.path = Path(path).expanduser() if path is not None and str(path) else default_store_path()
        self.lock_timeout = lock_timeout

    def __repr__(self) -> str:
        return f"PriceStore({str(self.path)!r})"

    # -- connections -------------------------------------------------------------------------

    @contextlib.contextmanager
    def _connect(self, *, write: bool) -> Iterator[Any]:
        """A connection for one operation (None when reading a store that does not exist yet)."""
        import duckdb

        if not write and not self.path.exists():
            yield None
            return
        if self.path.is_dir():
            raise DataError(f"{self.path}: is a directory, not a store file")
        if write:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DataError(f"{self.path}: cannot create the store folder ({exc.strerror})") from None
        deadline = time.monotonic() + self.lock_timeout
        while True:
            try:
                con = duckdb.connect(str(self.path), read_only=not write)
                break
            except duckdb.IOException as exc:
                text = str(exc)
                if "lock" in text.lower():
                    if time.monotonic() < deadline:
                        time.sleep(0.1)
                        continue
                    raise DataError(
                        f"{self.path}: the store is in use by another process; wait for it to finish "
                        f"or point --store / {STORE_ENV} at another file"
                    ) from None
                if "not a valid duckdb" in text.lower():
                    raise DataError(f"{self.path}: not a marketcast store (not a DuckDB file)") from None
                raise DataError(f"{self.path}: cannot open the store ({text.split(': ', 1)[-1]})") from None
            except duckdb.Error as exc:
                raise DataError(f"{self.path}: cannot open the store ({exc})") from None
        try:
            if write:
                con.execute(_SCHEMA)
            yield con
        finally:
            con.close()

    @staticmethod
    def _has_tables(con: Any) -> bool:
        names = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        return {"prices", "fetches"} <= names

    # -- writing -----------------------------------------------------------------------------

    def write(self, source: str, symbol: str, frame: pd.DataFrame, *, replace: bool = False) -> int:
        """Store the rows of ``frame`` dated after the last stored date; return how many.

        With ``replace=True`` the stored series is replaced by ``frame`` as a whole. Either
        way the change and its ``fetches`` log row are one transaction: on any error the
        store is left as it was.
        """
        source = self._check_source(source)
        symbol = normalise_symbol(source, symbol)
        rows = self._rows_for(frame, f"{source}:{symbol}")
        with self._connect(write=True) as con:
            con.execute("BEGIN TRANSACTION")
            try:
                if replace:
                    con.execute("DELETE FROM prices WHERE source = ? AND symbol = ?", [source, symbol])
                else:
                    last = con.execute(
                        "SELECT max(date) FROM prices WHERE source = ? AND symbol = ?", [source, symbol]
                    ).fetchall()[0][0]
                    if last is not None:
                        rows = rows[rows["date"] > pd.Timestamp(last)]
                if len(rows):
                    con.register("incoming_rows", rows)
                    cols = ", ".join(VALUE_COLUMNS)
                    con.execute(
                        f"INSERT INTO prices (source, symbol, date, {cols}) "
                        f"SELECT ?, ?, CAST(date AS DATE), {cols} FROM incoming_rows",
                        [source, symbol],
                    )
                    con.unregister("incoming_rows")
                self._log_fetch(con, source, symbol, rows, replace)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return len(rows)

    @staticmethod
    def _log_fetch(con: Any, source: str, symbol: str, rows: pd.DataFrame, replaced: bool) -> None:
        first = rows["date"].iloc[0].date() if len(rows) else None
        last = rows["date"].iloc[-1].date() if len(rows) else None
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        con.execute(
            'INSERT INTO fetches (source, symbol, fetched_at, rows_added, "first", "last", replaced) '
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [source, symbol, now, len(rows), first, last, replaced],
        )

    @staticmethod
    def _rows_for(frame: pd.DataFrame, label: str) -> pd.DataFrame:
        """``frame`` as a plain table: a ``date`` column and every value column (NaN if absent)."""
        if not isinstance(frame, pd.DataFrame):
            raise DataError(f"{label}: expected a DataFrame, got {type(frame).__name__}")
        if isinstance(frame.index, pd.DatetimeIndex):
            dates = frame.index
        elif "date" in frame.columns:
            dates = pd.DatetimeIndex(pd.to_datetime(frame["date"]))
        else:
            raise DataError(f"{label}: the frame has no dates (expected a DatetimeIndex or a 'date' column)")
        if dates.tz is not None:
            dates = dates.tz_localize(None)
        dates = dates.normalize()
        if dates.isna().any():
            raise DataError(f"{label}: missing date in the frame")
        if dates.has_duplicates:
            day = dates[dates.duplicated()][0].date()
            raise DataError(f"{label}: two rows for {day}")
        if "close" not in frame.columns and len(frame):
            raise DataError(f"{label}: the frame has no close column (columns: {', '.join(map(str, frame.columns))})")
        out = pd.DataFrame({"date": dates.as_unit("us")})
        for col in VALUE_COLUMNS:
            values = frame[col].to_numpy(dtype=np.float64) if col in frame.columns else np.full(len(frame), np.nan)
            out[col] = values
        return out.sort_values("date", kind="stable").reset_index(drop=True)

    # -- reading -----------------------------------------------------------------------------

    def _check_source(self, source: str) -> str:
        name = str(source).strip().lower()
        if name not in STORE_SOURCES:
            raise DataError(f"unknown store source '{source}' (known: {', '.join(STORE_SOURCES)})")
        return name

    def read(self, source: str, symbol: str, *, start: Any = None) -> pd.DataFrame:
        """The stored series (from ``start`` on): canonical float columns, ``DatetimeIndex`` ``date``.

        Columns that are NULL on every row (what the source does not provide) are left out.
        """
        source = self._check_source(source)
        symbol = normalise_symbol(source, symbol)
        frame = self._query_series(source, symbol, start)
        if frame is None:
            raise DataError(
                f"{source}:{symbol}: not in the store {self.path}; fetch it with `{_fetch_hint(source, symbol)}`"
            )
        return frame

    def _query_series(self, source: str, symbol: str, start: Any = None) -> pd.DataFrame | None:
        with self._connect(write=False) as con:
            if con is None or not self._has_tables(con):
                return None
            known = con.execute(
                "SELECT count(*) FROM prices WHERE source = ? AND symbol = ?", [source, symbol]
            ).fetchall()[0][0]
            if not known:
                return None
            sql = f"SELECT date, {', '.join(VALUE_COLUMNS)} FROM prices WHERE source = ? AND symbol = ?"
            params: list[Any] = [source, symbol]
            if start is not None:
                sql += " AND date >= ?"
                params.append(pd.Timestamp(start).date())
            raw = con.execute(sql + " ORDER BY date", params).df()
        index = pd.DatetimeIndex(pd.to_datetime(raw["date"]), name="date").as_unit("us")
        frame = pd.DataFrame({c: raw[c].to_numpy(dtype=np.float64) for c in VALUE_COLUMNS}, index=index)
        return frame.dropna(axis=1, how="all") if len(frame) else frame

    def last_date(self, source: str, symbol: str) -> dt.date | None:
        """Date of the newest stored row, or None when the series is not stored."""
        info = self.info(source, symbol)
        return None if info is None else info[2]

    def info(self, source: str, symbol: str) -> tuple[int, dt.date, dt.date] | None:
        """``(rows, first, last)`` of a stored series, or None."""
        source = self._check_source(source)
        symbol = normalise_symbol(source, symbol)
        with self._connect(write=False) as con:
            if con is None or not self._has_tables(con):
                return None
            n, first, last = con.execute(
                "SELECT count(*), min(date), max(date) FROM prices WHERE source = ? AND symbol = ?",
                [source, symbol],
            ).fetchall()[0]
        return None if not n else (int(n), first, last)

    def list(self) -> pd.DataFrame:
        """One row per stored series: ``source, symbol, rows, first, last, last_fetched`` (UTC)."""
        columns = ["source", "symbol", "rows", "first", "last", "last_fetched"]
        with self._connect(write=False) as con:
            if con is None or not self._has_tables(con):
                return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})
            raw = con.execute(
                """
                SELECT p.source, p.symbol, count(*) AS rows, min(p.date) AS "first", max(p.date) AS "last",
                       max(f.last_fetched) AS last_fetched
                FROM prices p
                LEFT JOIN (SELECT source, symbol, max(fetched_at) AS last_fetched
                           FROM fetches GROUP BY source, symbol) f
                  ON p.source = f.source AND p.symbol = f.symbol
                GROUP BY p.source, p.symbol
                ORDER BY p.source, p.symbol
                """
            ).df()
        out = raw[columns].copy()
        out["rows"] = out["rows"].astype(np.int64)
        for col in ("first", "last", "last_fetched"):
            out[col] = pd.to_datetime(out[col])
        return out

    def read_price_data(self, symbol: str, source: str) -> PriceData:
        """A stored series as a :class:`PriceData`, so ``SOURCE:SYMBOL`` works wherever a file does.

        ``path`` is ``'source:SYMBOL'``, ``format`` the store source, ``lines`` the 1-based
        row numbers. ``alphavantage`` reads the adjusted or the unadjusted Alpha Vantage
        series, whichever is stored (the more recent one; the adjusted one on a tie).
        """
        source = str(source).strip().lower()
        stored = source
        if source == "alphavantage":
            sym = normalise_symbol(source, symbol)
            plain = self.info("alphavantage", sym)
            adjusted = self.info("alphavantage-adjusted", sym)
            if adjusted is not None and (plain is None or adjusted[2] >= plain[2]):
                stored = "alphavantage-adjusted"
        frame = self.read(stored, symbol)
        sym = normalise_symbol(stored, symbol)
        return PriceData(
            frame=frame,
            path=f"{source}:{sym}",
            format=stored,
            lines=np.arange(1, len(frame) + 1, dtype=np.int64),
            original_columns={c: c for c in frame.columns},
        )
