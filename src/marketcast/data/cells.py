"""Text cells of a price file to values: dates in any of the formats published files use, numbers.

Each refusal is one line naming the file, the line (or row) and the column, as
:func:`marketcast.data.files.read_prices` promises.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from marketcast.data.intraday import TIME_OF_DAY
from marketcast.errors import DataError

__all__ = ["parse_dates", "to_numbers"]

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


def parse_dates(
    col: pd.Series, *, name: str, column: str, lines: np.ndarray, unit: str = "line"
) -> tuple[pd.DatetimeIndex, np.ndarray | None]:
    """The column's dates (midnight) and, where any row has a time of day other than midnight,
    the seconds into the day of every row (intraday rows, recognised by the caller).

    Every row must parse under one of the formats; where two do (MM/DD against DD/MM), the one
    under which the rows are in date order wins.
    """
    text = col.astype(str).str.strip()
    empty = (text == "") | text.str.lower().isin(["nan", "nat", "none", "null"])
    if empty.any():
        i = int(np.flatnonzero(empty.to_numpy())[0])
        raise DataError(f"{name}: {unit} {lines[i]}: column '{column}': empty date")
    # Strip a time of day or a timezone: these are daily series. Times other than midnight are
    # kept (seconds into the day) so that intraday rows can be recognised.
    times = None
    if text.str.contains(":", regex=False).any():  # TIME_OF_DAY needs one; most daily files have none
        text, times = _strip_times(text)
    candidates, partial = _date_candidates(text, _DATE_FORMATS)
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
    return pd.DatetimeIndex(candidates[0][2]).normalize(), times


def _strip_times(text: pd.Series) -> tuple[pd.Series, np.ndarray | None]:
    """The dates without their time of day, and the seconds into the day where any is not midnight."""
    clock = text.str.extract(TIME_OF_DAY)
    times = None
    if clock["h"].notna().any():
        seconds = (
            clock["h"].astype(float) * 3600 + clock["m"].astype(float) * 60 + clock["s"].astype(float).fillna(0)
        ).fillna(0)
        if (seconds != 0).any():
            times = seconds.to_numpy()
    return text.str.replace(TIME_OF_DAY, "", regex=True), times


def _date_candidates(text: pd.Series, formats) -> tuple[list, list]:
    """The formats under which every row parses (with the parsed dates), and the partial ones.

    A format that fails on one of the first rows cannot parse every row, so it is tried on all
    rows only where no format parses them all (the partial ones then name the bad row); a clean
    file is parsed once or twice instead of once per format.
    """
    head = text.iloc[:64]
    whole = [f for f in formats if pd.to_datetime(head, format=f[0], errors="coerce").notna().all()]
    for tried in (whole, formats):
        candidates, partial = [], []
        for fmt, label in tried:
            parsed = pd.to_datetime(text, format=fmt, errors="coerce")
            ok = int(parsed.notna().sum())
            if ok == len(text):
                candidates.append((fmt, label, parsed))
            elif ok > 0:
                partial.append((ok, label, parsed))
        if candidates:
            return candidates, partial
    return candidates, partial


def to_numbers(
    col: pd.Series,
    *,
    name: str,
    column: str,
    lines: np.ndarray,
    strict: bool,
    decimal_comma: bool = False,
    unit: str = "line",
) -> np.ndarray | None:
    """Parse a column as floats; ``None`` for a text column (e.g. a ticker) that is not a price.

    Commas are thousands separators ("1,234.5"), except with ``decimal_comma`` (semicolon-separated
    files), where a value with a comma uses it as the decimal mark and dots for thousands ("1.234,5").
    """
    if col.dtype.kind in "fiu":
        return col.to_numpy(dtype=np.float64)
    if not decimal_comma and pd.api.types.is_string_dtype(col):
        # Where every cell (text) already parses, the cleaning below changes no value: skip it.
        fast = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        if not np.isnan(fast).any():  # (an arrow-backed column's failures are NaN, not missing)
            return _finite(fast, strict, name, unit, lines, column)
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
            raise DataError(f"{name}: {unit} {lines[i]}: column '{column}': '{col.iloc[i]}' is not a number")
        return None
    return _finite(values.to_numpy(dtype=np.float64), strict, name, unit, lines, column)


def _finite(out: np.ndarray, strict: bool, name, unit, lines, column) -> np.ndarray:
    if strict and np.isinf(out).any():
        i = int(np.flatnonzero(np.isinf(out))[0])
        raise DataError(f"{name}: {unit} {lines[i]}: column '{column}': infinite value")
    return out
