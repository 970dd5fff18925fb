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

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from marketcast.errors import DataError

__all__ = ["PriceData", "read_prices", "canonical_name", "KNOWN_COLUMNS"]

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

_DATE_FORMATS = (
    ("%Y-%m-%d", "YYYY-MM-DD"),
    ("%m/%d/%Y", "MM/DD/YYYY"),
    ("%d/%m/%Y", "DD/MM/YYYY"),
    ("%d-%m-%Y", "DD-MM-YYYY"),
    ("%d-%b-%Y", "DD-Mon-YYYY"),
    ("%b %d, %Y", "Mon DD, YYYY"),
    ("%Y%m%d", "YYYYMMDD"),
    ("%Y/%m/%d", "YYYY/MM/DD"),
)


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

    @property
    def name(self) -> str:
        return Path(self.path).name

    def resolve_column(self, column: str | None = None) -> str:
        """The canonical name of ``column`` (default: the close), or a DataError listing the columns."""
        if column is None:
            if "close" in self.frame.columns:
                return "close"
            if "adj_close" in self.frame.columns:
                return "adj_close"
            raise DataError(
                f"{self.name}: no close column (columns: {self._column_list()}); "
                "choose one with --column"
            )
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


def read_prices(path: str | Path) -> PriceData:
    """Read a CSV/TXT/Parquet price file into a :class:`PriceData`.

    Rows are sorted by date, exact duplicate rows dropped, and conflicting duplicates (one
    date, two different rows) rejected. Prices are not validated here beyond being numbers:
    :func:`marketcast.data.load_series` checks the column that is actually used.
    """
    p = Path(path)
    name = p.name
    if not p.exists():
        raise DataError(f"{path}: no such file")
    if p.is_dir():
        raise DataError(f"{path}: is a directory, not a price file")
    if p.stat().st_size == 0:
        raise DataError(f"{name}: file is empty")
    with p.open("rb") as fh:
        head = fh.read(8192)
    if head.startswith(b"PAR1") or p.suffix.lower() in (".parquet", ".pq"):
        raw, lines, fmt = _read_parquet(p), None, "parquet"
    else:
        raw, lines = _read_text(p, head)
        fmt = None
    return _normalise(raw, name=name, path=str(path), lines=lines, fmt=fmt)


def _read_parquet(p: Path) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(p)
    except Exception as exc:  # pyarrow raises several unrelated types
        raise DataError(f"{p.name}: not a readable Parquet file ({type(exc).__name__})") from None
    if isinstance(frame.index, pd.DatetimeIndex):
        frame = frame.reset_index(names=frame.index.name or "date")
    return frame.astype({c: "string" for c in frame.columns if frame[c].dtype == object})


def _read_text(p: Path, head: bytes) -> tuple[pd.DataFrame, np.ndarray]:
    if b"\x00" in head:
        raise DataError(f"{p.name}: not a text file (binary content)")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A cut multi-byte character at the 8 KiB boundary is fine; anything earlier is not text.
        if exc.start < len(head) - 4:
            raise DataError(f"{p.name}: not a text file (not UTF-8)") from None
    first = head.decode("utf-8", errors="ignore").lstrip("\ufeff").splitlines()
    header = next((ln for ln in first if ln.strip()), "")
    sep = max([",", ";", "\t", "|"], key=header.count)
    if header.count(sep) == 0:
        raise DataError(f"{p.name}: line 1: no columns found (expected a header such as Date,Close)")
    try:
        frame = pd.read_csv(
            p,
            sep=sep,
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=True,
            encoding="utf-8-sig",
        )
    except UnicodeDecodeError:
        raise DataError(f"{p.name}: not a text file (not UTF-8)") from None
    except pd.errors.ParserError as exc:
        m = re.search(r"line (\d+)", str(exc))
        where = f"line {m.group(1)}: " if m else ""
        raise DataError(f"{p.name}: {where}malformed CSV ({_first_sentence(exc)})") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{p.name}: file is empty") from None
    # Line numbers of the data rows (header is line 1); blank lines are skipped by pandas.
    lines = _data_line_numbers(p, len(frame))
    # Semicolon-separated files are the European convention, whose numbers use a decimal comma.
    frame.attrs["decimal_comma"] = sep == ";"
    return frame, lines


def _data_line_numbers(p: Path, n_rows: int) -> np.ndarray:
    with p.open("rb") as fh:
        nonblank = [i + 1 for i, ln in enumerate(fh) if ln.strip()]
    numbers = np.asarray(nonblank[1 : n_rows + 1], dtype=np.int64)
    if len(numbers) != n_rows:  # quoted newlines: fall back to positional numbering
        numbers = np.arange(2, n_rows + 2, dtype=np.int64)
    return numbers


def _first_sentence(exc: Exception) -> str:
    return str(exc).strip().split("\n")[0].rstrip(".")


def _normalise(
    raw: pd.DataFrame, *, name: str, path: str, lines: np.ndarray | None, fmt: str | None
) -> PriceData:
    if raw.shape[0] == 0:
        raise DataError(f"{name}: no data rows (only a header)")
    unit = "line"
    if lines is None:  # Parquet: no lines, so rows are counted from 1
        lines, unit = np.arange(1, len(raw) + 1, dtype=np.int64), "row"
    decimal_comma = bool(raw.attrs.get("decimal_comma", False))
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
    fmt = fmt or _guess_format(set(renamed), list(original.values()))

    date_col = _find_date_column(raw, name)
    dates = _parse_dates(raw[date_col], name=name, column=original[date_col], lines=lines, unit=unit)
    values = raw.drop(columns=[date_col])
    numeric = {}
    for col in values.columns:
        if col in _NON_NUMERIC:
            continue
        parsed = _to_numbers(values[col], name=name, column=original[col], lines=lines, unit=unit,
                             strict=col in PRICE_COLUMNS, decimal_comma=decimal_comma)
        if parsed is not None:
            numeric[col] = parsed
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
        headers=tuple(original.values()),
        unit=unit,
    )


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


def _parse_dates(col: pd.Series, *, name: str, column: str, lines: np.ndarray, unit: str = "line") -> pd.DatetimeIndex:
    text = col.astype(str).str.strip()
    empty = (text == "") | text.str.lower().isin(["nan", "nat", "none", "null"])
    if empty.any():
        i = int(np.flatnonzero(empty.to_numpy())[0])
        raise DataError(f"{name}: {unit} {lines[i]}: column '{column}': empty date")
    # Strip a time of day or a timezone: these are daily series.
    text = text.str.replace(r"[T ]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:?\d{2}|Z)?$", "", regex=True)
    candidates, partial = [], []
    for fmt, label in _DATE_FORMATS:
        parsed = pd.to_datetime(text, format=fmt, errors="coerce")
        ok = int(parsed.notna().sum())
        if ok == len(text):
            candidates.append((fmt, label, parsed))
        elif ok > 0:
            partial.append((ok, label, parsed))
    if not candidates and partial:
        ok, label, parsed = max(partial, key=lambda c: c[0])
        if ok >= 0.9 * len(text):
            bad = int(np.flatnonzero(parsed.isna().to_numpy())[0])
            raise DataError(
                f"{name}: {unit} {lines[bad]}: column '{column}': '{text.iloc[bad]}' is not a date "
                f"(expected {label} like the other rows)"
            )
    if not candidates:
        raise DataError(
            f"{name}: {unit} {lines[0]}: column '{column}': '{text.iloc[0]}' is not a date "
            f"(expected e.g. YYYY-MM-DD or MM/DD/YYYY)"
        )
    if len(candidates) > 1:
        # MM/DD vs DD/MM both parse: the reading under which the rows are in date order wins.
        def disorder(parsed: pd.Series) -> int:
            d = np.diff(parsed.to_numpy().astype("datetime64[D]").astype(np.int64))
            return int(min((d < 0).sum(), (d > 0).sum()))

        candidates.sort(key=lambda c: disorder(c[2]))
    return pd.DatetimeIndex(candidates[0][2]).normalize()


def _to_numbers(
    col: pd.Series, *, name: str, column: str, lines: np.ndarray, strict: bool, decimal_comma: bool = False,
    unit: str = "line",
) -> np.ndarray | None:
    """Parse a column as floats; ``None`` for a text column (e.g. a ticker) that is not a price.

    Commas are thousands separators ("1,234.5"), except with ``decimal_comma`` (semicolon-separated
    files), where a value with a comma uses it as the decimal mark and dots for thousands ("1.234,5").
    """
    if col.dtype.kind in "fiu":
        return col.to_numpy(dtype=np.float64)
    text = col.astype(str).str.strip()
    if decimal_comma:
        has_comma = text.str.contains(",", regex=False)
        text = text.where(~has_comma, text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False))
    else:
        text = text.str.replace(",", "", regex=False)
    missing = text.isin(["", "nan", "NaN", "NA", "N/A", "null", "None", "-", "."])
    values = pd.to_numeric(text.where(~missing), errors="coerce")
    bad = values.isna() & ~missing
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        if strict or bad.sum() < 0.5 * len(text):
            raise DataError(
                f"{name}: {unit} {lines[i]}: column '{column}': '{col.iloc[i]}' is not a number"
            )
        return None
    out = values.to_numpy(dtype=np.float64)
    if strict and np.isinf(out).any():
        i = int(np.flatnonzero(np.isinf(out))[0])
        raise DataError(f"{name}: {unit} {lines[i]}: column '{column}': infinite value")
    return out


def _deduplicate(frame: pd.DataFrame, lines: np.ndarray, name: str, unit: str = "line") -> tuple[pd.DataFrame, np.ndarray, int]:
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
            f"{name}: {unit}s {' and '.join(clash)}: two different rows for {day} "
            "(conflicting duplicate dates)"
        )
    return rest, lines[keep], int(exact.sum())
