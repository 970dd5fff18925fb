"""Read daily price files as they are published, without hand-editing.

Formats recognised from the header (any of them may be newest-first):

========================  =================================================================
CBOE history              ``DATE,OPEN,HIGH,LOW,CLOSE`` with MM/DD/YYYY dates
Kaggle NIFTY-50           ``Date,Symbol,Series,Prev Close,Open,...,Close,VWAP,...``
Kaggle ``*.us.txt``       ``Date,Open,High,Low,Close,Volume,OpenInt``
Alpha Vantage             unnamed index column, ``adjusted close``, ``split cf``, ``date`` last;
                          or the API's own CSV (``timestamp``, ``adjusted_close``, ...)
Yahoo Finance             ``Date,Open,High,Low,Close,Adj Close,Volume``
Parquet                   any frame with a date column or a DatetimeIndex
========================  =================================================================

Every problem is a :class:`~marketcast.errors.DataError` whose message names the file and
the line or column, e.g. ``prices.csv: line 17: column 'close': 'n/a' is not a number``.
"""

from __future__ import annotations

import contextlib
import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from marketcast._context import INTRADAY as _INTRADAY
from marketcast._context import INTRADAY_MODES
from marketcast.data.cells import parse_dates, to_numbers
from marketcast.data.intraday import daily_closes, intraday_message, looks_intraday
from marketcast.errors import DataError

__all__ = [
    "PriceData",
    "read_prices",
    "canonical_name",
    "KNOWN_COLUMNS",
    "STDIN",
    "INTRADAY_MODES",
    "intraday_mode",
    "set_intraday_mode",
]

# Canonical column name -> normalised spellings seen in the wild.
_ALIASES: dict[str, tuple[str, ...]] = {
    "date": ("date", "timestamp", "datetime", "time", "day", "index"),
    "open": ("open", "open_price"),
    "high": ("high", "high_price"),
    "low": ("low", "low_price"),
    "close": ("close", "close_price", "closing_price", "price"),
    "adj_close": ("adj_close", "adjusted_close", "adjclose", "adj_close_price"),
    "volume": ("volume", "vol"),
    "split_factor": ("split_cf", "split_coefficient", "split_factor", "stock_splits"),
    "dividend": ("dividend_amount", "dividend", "dividends"),
}
KNOWN_COLUMNS = tuple(_ALIASES)
PRICE_COLUMNS = ("open", "high", "low", "close", "adj_close")
_NON_NUMERIC = {"date", "symbol", "series"}


def canonical_name(name: object) -> str:
    """Normalise a header: ``'Adj Close'`` -> ``'adj_close'``, ``'split cf'`` -> ``'split_factor'``."""
    text = re.sub(r"[^0-9a-z]+", "_", str(name).strip().lower()).strip("_")
    for canonical, spellings in _ALIASES.items():
        if text in spellings:
            return canonical
    return text


@dataclass(frozen=True)
class PriceData:
    """A parsed price file: a date-indexed frame plus where each row came from.

    ``frame`` has a strictly increasing, timezone-free ``DatetimeIndex`` named ``date`` and
    float columns with canonical names (``open``, ``close``, ``adj_close``, ``split_factor``...).
    ``lines`` maps each row to its 1-based line in the file (``unit`` "line") or, for Parquet,
    its 1-based row (``unit`` "row"), so later checks can point at it: see :meth:`where`.
    """

    frame: pd.DataFrame
    path: str
    format: str
    lines: np.ndarray
    original_columns: dict[str, str] = field(default_factory=dict)
    dropped_duplicates: int = 0
    headers: tuple[str, ...] = ()
    unit: str = "line"
    #: What reading changed, for the user (e.g. intraday rows taken to daily closes).
    notes: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return "<stdin>" if self.path == STDIN else Path(self.path).name

    def resolve_column(self, column: str | None = None) -> str:
        """The canonical name of ``column`` (default: the close), or a DataError listing the columns."""
        if column is None:
            if "close" in self.frame.columns:
                return "close"
            if "adj_close" in self.frame.columns:
                return "adj_close"
            raise DataError(f"{self.name}: no close column (columns: {self._column_list()}); choose one with --column")
        wanted = canonical_name(column)
        if wanted in self.frame.columns and wanted not in _NON_NUMERIC:
            return wanted
        raise DataError(f"{self.name}: no column '{column}' (columns: {self._column_list()})")

    def _column_list(self) -> str:
        return ", ".join(self.headers or [self.original_columns.get(c, c) for c in self.frame.columns])

    def line_of(self, position: int) -> int:
        return int(self.lines[position])

    def where(self, position: int) -> str:
        """Where row ``position`` is in the file, for messages: ``'line 17'`` or ``'row 16'``."""
        return f"{self.unit} {self.line_of(position)}"


#: What DATA may be besides a path: ``-`` reads standard input.
STDIN = "-"


@contextlib.contextmanager
def intraday_mode(mode: str):
    """Read intraday files as ``mode`` (``"refuse"`` or ``"close"``) inside the ``with`` block."""
    if mode not in INTRADAY_MODES:
        raise DataError(f"intraday must be one of {', '.join(INTRADAY_MODES)}, got '{mode}'")
    token = _INTRADAY.set(mode)
    try:
        yield
    finally:
        _INTRADAY.reset(token)


def set_intraday_mode(mode: str) -> None:
    """Set the default intraday mode for the rest of this context (the command line's root option)."""
    if mode not in INTRADAY_MODES:
        raise DataError(f"intraday must be one of {', '.join(INTRADAY_MODES)}, got '{mode}'")
    _INTRADAY.set(mode)


def read_prices(path: str | Path, *, intraday: str | None = None) -> PriceData:
    """Read a CSV/TXT/Parquet price file into a :class:`PriceData`.

    ``path`` may be ``-`` (standard input), a FIFO or a process substitution (``<(...)``),
    read once from start to end. Text may be UTF-8 (with or without a byte-order mark),
    UTF-16 with a byte-order mark, or Latin-1.

    Rows are sorted by date, exact duplicate rows dropped, and conflicting duplicates (one
    date, two different rows) rejected. Intraday rows (several per day) are refused with a line
    that says so, unless ``intraday="close"``: then each day's last row is kept (its close; the
    day's open, high, low and volume columns are dropped) and :attr:`PriceData.notes` says so.
    Prices are not validated here beyond being numbers: :func:`marketcast.data.load_series`
    checks the column that is actually used.
    """
    intraday = _INTRADAY.get() if intraday is None else intraday
    if intraday not in INTRADAY_MODES:
        raise DataError(f"intraday must be one of {', '.join(INTRADAY_MODES)}, got '{intraday}'")
    if str(path) == STDIN:
        import sys

        return _read_bytes(sys.stdin.buffer.read(), name="<stdin>", path=STDIN, intraday=intraday)
    p = Path(path)
    name = p.name
    if not p.exists():
        raise DataError(f"{path}: no such file")
    if p.is_dir():
        raise DataError(f"{path}: is a directory, not a price file")
    if not p.is_file():  # a FIFO, /dev/stdin, <(...): no size, no seeking, read once
        with p.open("rb") as fh:
            return _read_bytes(fh.read(), name=name, path=str(path), intraday=intraday)
    if p.stat().st_size == 0:
        raise DataError(f"{name}: file is empty")
    with p.open("rb") as fh:
        head = fh.read(_HEAD)
    if head.startswith(b"PAR1") or p.suffix.lower() in (".parquet", ".pq"):
        raw, lines, fmt = _read_parquet(p), None, "parquet"
        return _normalise(raw, name=name, path=str(path), lines=lines, fmt=fmt, intraday=intraday)
    encoding = _text_encoding(head, name, complete=len(head) < _HEAD)
    if encoding != "utf-8":  # UTF-16 or Latin-1 files are small: decode them whole
        return _read_bytes(p.read_bytes(), name=name, path=str(path), intraday=intraday)
    text_head = head.decode("utf-8", errors="ignore").lstrip("\ufeff")
    pair = looks_intraday(text_head)
    if pair:
        if intraday == "refuse":
            raise DataError(intraday_message(name, pair))
        raw, note = daily_closes(p, text_head, name=name)
        frame_lines = np.arange(2, len(raw) + 2, dtype=np.int64)
        return _normalise(
            raw, name=name, path=str(path), lines=frame_lines, fmt=None, unit="row", notes=(note,), intraday=intraday
        )
    try:
        raw, lines = _read_text(p, text_head, name)
    except _NotUTF8:
        return _read_bytes(p.read_bytes(), name=name, path=str(path), intraday=intraday)
    return _normalise(raw, name=name, path=str(path), lines=lines, fmt=None, intraday=intraday)


_HEAD = 8192


class _NotUTF8(Exception):
    pass


def _read_bytes(data: bytes, *, name: str, path: str, intraday: str) -> PriceData:
    """A whole input already in memory (standard input, a FIFO, a non-UTF-8 file)."""
    import io

    if not data.strip():
        raise DataError(f"{name}: file is empty" if data == b"" else f"{name}: no data (only blank lines)")
    if data.startswith(b"PAR1"):
        try:
            raw = pd.read_parquet(io.BytesIO(data))
        except Exception as exc:  # pyarrow raises several unrelated types
            raise DataError(f"{name}: not a readable Parquet file ({type(exc).__name__})") from None
        return _normalise(_parquet_frame(raw), name=name, path=path, lines=None, fmt="parquet", intraday=intraday)
    encoding = _text_encoding(data, name, complete=True)
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        raise DataError(f"{name}: not a text file (not valid {encoding.upper()})") from None
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise DataError(f"{name}: no data (only blank lines)")
    raw, lines = _read_text(text, text[:_HEAD], name)
    return _normalise(raw, name=name, path=path, lines=lines, fmt=None, intraday=intraday)


def _text_encoding(head: bytes, name: str, *, complete: bool) -> str:
    """The encoding of a text file from its first bytes, or a DataError naming what it is not.

    A byte-order mark decides (UTF-8, UTF-16, UTF-32); else UTF-8 if the bytes are valid UTF-8
    (a multi-byte character cut at the end of ``head`` is fine unless ``complete``); else
    Latin-1 when the bytes look like text in it (no control characters but tab and newlines).
    """
    if head.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        return "utf-32"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8"
    if b"\x00" in head:
        pairs = head[: len(head) // 2 * 2]
        if len(pairs) >= 4 and (
            pairs[1::2].count(0) > 0.9 * len(pairs) / 2 or pairs[0::2].count(0) > 0.9 * len(pairs) / 2
        ):
            raise DataError(f"{name}: UTF-16 text without a byte-order mark is not supported; save it as UTF-8")
        raise DataError(f"{name}: not a text file (binary content)")
    try:
        head.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if not complete and exc.start >= len(head) - 4:  # a character cut at the end of the head
            return "utf-8"
    controls = set(range(32)) - {9, 10, 13} | {127}
    if not any(b in controls for b in head):
        return "latin-1"
    raise DataError(f"{name}: not a text file (neither UTF-8, UTF-16 nor Latin-1)")


def _read_parquet(p: Path) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(p)
    except Exception as exc:  # pyarrow raises several unrelated types
        raise DataError(f"{p.name}: not a readable Parquet file ({type(exc).__name__})") from None
    return _parquet_frame(frame)


def _parquet_frame(frame: pd.DataFrame) -> pd.DataFrame:
    if isinstance(frame.index, pd.DatetimeIndex):
        frame = frame.reset_index(names=frame.index.name or "date")
    return frame.astype({c: "string" for c in frame.columns if frame[c].dtype == object})


def _read_text(source: Path | str, head: str, name: str) -> tuple[pd.DataFrame, np.ndarray]:
    """Parse CSV text from a UTF-8 file (``source`` a Path) or from decoded text (a str)."""
    import io

    first = head.splitlines()
    header = next((ln for ln in first if ln.strip()), "")
    sep = max([",", ";", "\t", "|"], key=header.count)
    if header.count(sep) == 0:
        raise DataError(f"{name}: line 1: no columns found (expected a header such as Date,Close)")
    target = source if isinstance(source, Path) else io.StringIO(source)
    try:
        frame = pd.read_csv(
            target,
            sep=sep,
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=True,
            encoding="utf-8-sig" if isinstance(source, Path) else None,
        )
    except UnicodeDecodeError:
        raise _NotUTF8 from None
    except pd.errors.ParserError as exc:
        m = re.search(r"line (\d+)", str(exc))
        where = f"line {m.group(1)}: " if m else ""
        raise DataError(f"{name}: {where}malformed CSV ({_first_sentence(exc)})") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{name}: file is empty") from None
    except (ValueError, csv.Error) as exc:  # e.g. a NUL or a quote the C parser cannot place
        raise DataError(f"{name}: malformed CSV ({_first_sentence(exc)})") from None
    # Line numbers of the data rows (header is line 1); blank lines are skipped by pandas.
    lines = _data_line_numbers(source, len(frame))
    # Semicolon-separated files are the European convention, whose numbers use a decimal comma.
    frame.attrs["decimal_comma"] = sep == ";"
    return frame, lines


def _data_line_numbers(source: Path | str, n_rows: int) -> np.ndarray:
    if isinstance(source, Path):
        with source.open("rb") as fh:
            nonblank = [i + 1 for i, ln in enumerate(fh) if ln.strip()]
    else:
        nonblank = [i + 1 for i, ln in enumerate(source.splitlines()) if ln.strip()]
    numbers = np.asarray(nonblank[1 : n_rows + 1], dtype=np.int64)
    if len(numbers) != n_rows:  # quoted newlines: fall back to positional numbering
        numbers = np.arange(2, n_rows + 2, dtype=np.int64)
    return numbers


def _first_sentence(exc: Exception) -> str:
    return str(exc).strip().split("\n")[0].rstrip(".")


def _normalise(
    raw: pd.DataFrame,
    *,
    name: str,
    path: str,
    lines: np.ndarray | None,
    fmt: str | None,
    unit: str = "line",
    notes: tuple[str, ...] = (),
    intraday: str = "refuse",
) -> PriceData:
    if raw.shape[0] == 0:
        raise DataError(f"{name}: no data rows (only a header)")
    if lines is None:  # Parquet: no lines, so rows are counted from 1
        lines, unit = np.arange(1, len(raw) + 1, dtype=np.int64), "row"
    decimal_comma = bool(raw.attrs.get("decimal_comma", False))
    raw, original = _canonical_columns(raw)
    fmt = fmt or _guess_format(set(raw.columns), list(original.values()))

    date_col = _find_date_column(raw, name)
    dates, times = parse_dates(raw[date_col], name=name, column=original[date_col], lines=lines, unit=unit)
    if times is not None and pd.DatetimeIndex(dates).has_duplicates:
        dup = pd.DatetimeIndex(dates).duplicated(keep=False)
        i, j = np.flatnonzero(dup)[:2]
        pair = (str(raw[date_col].iloc[i]).strip(), str(raw[date_col].iloc[j]).strip())
        if intraday == "refuse":
            raise DataError(intraday_message(name, pair, f"{unit}s {lines[i]} and {lines[j]}: "))
        raw, lines, dates, note = _daily_closes(raw, lines, dates, times, name, original)
        notes = (*notes, note)
    numeric = _numeric_columns(raw.drop(columns=[date_col]), name, original, lines, unit, decimal_comma)
    frame = pd.DataFrame(numeric, index=pd.DatetimeIndex(dates, name="date"))
    # Fully empty columns (e.g. 'Trades' in early NIFTY years) are kept: `data check` reports them.
    order = np.argsort(frame.index.values, kind="stable")
    frame = frame.iloc[order]
    lines = lines[order]
    frame, lines, dropped = _deduplicate(frame, lines, name, unit)
    return PriceData(
        frame=frame,
        path=path,
        format=fmt,
        lines=lines,
        original_columns={c: original[c] for c in frame.columns},
        dropped_duplicates=dropped,
        headers=tuple(original[c] for c in raw.columns),
        unit=unit,
        notes=tuple(notes),
    )


def _canonical_columns(raw: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
    """A copy with canonical column names, and each canonical name's original header."""
    raw = raw.copy()
    raw.columns = [str(c).strip() for c in raw.columns]
    raw = _drop_index_columns(raw)
    original: dict[str, str] = {}
    renamed = []
    for col in raw.columns:
        canon = canonical_name(col) or "unnamed"
        if canon in original:  # two headers that mean the same thing: keep the first
            canon = f"{canon}_{len(original)}"
        original[canon] = col
        renamed.append(canon)
    raw.columns = renamed
    return raw, original


def _daily_closes(raw: pd.DataFrame, lines: np.ndarray, dates, times, name: str, original: dict[str, str]):
    """Intraday rows taken to each day's last row by time of day, and the note that says so.

    The day's open, high, low and volume do not carry over: they are dropped.
    """
    order = np.lexsort((times, np.asarray(dates, dtype="datetime64[ns]")))
    last = np.r_[np.asarray(dates)[order][1:] != np.asarray(dates)[order][:-1], True]
    keep = np.sort(order[last])
    raw, lines, dates = raw.iloc[keep], lines[keep], pd.DatetimeIndex(dates)[keep]
    drop = [c for c in raw.columns if c in ("open", "high", "low", "volume")]
    note = f"{name}: intraday rows taken to daily closes (each day's last row, {len(keep)} days)" + (
        f"; dropped {', '.join(original[c] for c in drop)}" if drop else ""
    )
    return raw.drop(columns=drop), lines, dates, note


def _numeric_columns(values: pd.DataFrame, name, original, lines, unit, decimal_comma) -> dict[str, np.ndarray]:
    """Each column that parses as numbers (price columns strictly: a bad cell is an error)."""
    numeric = {}
    for col in values.columns:
        if col in _NON_NUMERIC:
            continue
        parsed = to_numbers(
            values[col],
            name=name,
            column=original[col],
            lines=lines,
            unit=unit,
            strict=col in PRICE_COLUMNS,
            decimal_comma=decimal_comma,
        )
        if parsed is not None:
            numeric[col] = parsed
    return numeric


def _drop_index_columns(raw: pd.DataFrame) -> pd.DataFrame:
    """Drop a leading unnamed 0..n-1 column (pandas' ``to_csv`` index, as in Alpha Vantage exports)."""
    first = raw.columns[0]
    if first == "" or first.lower().startswith("unnamed"):
        col = pd.to_numeric(raw[first], errors="coerce")
        if col.notna().all() and (np.diff(col.to_numpy()) == 1).all():
            return raw.drop(columns=[first])
        if first == "":
            return raw.rename(columns={first: "index"})
    return raw


def _guess_format(cols: set[str], headers: list[str]) -> str:
    if {"symbol", "series", "prev_close"} <= cols:
        return "nifty-50"
    if "openint" in cols:
        return "kaggle-us"
    if "split_factor" in cols and "adj_close" in cols:
        return "alphavantage"
    if "adj_close" in cols:
        return "yahoo"
    if headers and headers[0] == "DATE" and all(h.isupper() for h in headers):
        return "cboe"
    return "csv"


def _find_date_column(raw: pd.DataFrame, name: str) -> str:
    if "date" in raw.columns:
        return "date"
    for col in raw.columns:  # an unlabelled date column: the first one that parses as dates
        sample = raw[col].astype(str).head(20)
        if sample.str.match(r"^\s*\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}").all():
            return col
    raise DataError(f"{name}: no date column (columns: {', '.join(raw.columns)})")


def _deduplicate(
    frame: pd.DataFrame, lines: np.ndarray, name: str, unit: str = "line"
) -> tuple[pd.DataFrame, np.ndarray, int]:
    dup_date = frame.index.duplicated(keep=False)
    if not dup_date.any():
        return frame, lines, 0
    exact = frame.reset_index().duplicated(keep="first").to_numpy()
    keep = ~exact
    rest = frame[keep]
    conflict = rest.index.duplicated(keep=False)
    if conflict.any():
        where = np.flatnonzero(conflict)
        day = rest.index[where[0]].date()
        clash = [str(x) for x in lines[keep][where[:2]]]
        raise DataError(
            f"{name}: {unit}s {' and '.join(clash)}: two different rows for {day} (conflicting duplicate dates)"
        )
    return rest, lines[keep], int(exact.sum())
