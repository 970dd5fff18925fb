"""Intraday files (minute bars): recognised (:func:`looks_intraday`, refused with
:func:`intraday_message`) or taken to daily closes, streamed so memory stays bounded.

A file of minute bars can be far larger than memory allows as Python strings. It is read in
blocks cut at line ends and parsed by pyarrow's CSV reader, every column as text (numbers are parsed later,
only for the rows kept, by :mod:`marketcast.data.files` with its usual messages); each block
is cut to the last row of each day at once, so what is held is one block plus one row per day
(:func:`_blocks`).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pandas as pd

from marketcast.errors import DataError

__all__ = ["daily_closes", "looks_intraday", "intraday_message", "BLOCK_SIZE"]

#: Bytes per block read; the peak memory of a read is a few blocks plus the daily rows.
BLOCK_SIZE = 16 << 20

_DROP = ("open", "high", "low", "volume")
_LINE_END = re.compile(rb"\r\n|\n|\r")

#: A time of day at the end of a date stamp (`` 09:30``, ``T09:30:00.5Z``): what makes a row
#: intraday. Groups ``h``, ``m`` and ``s`` (seconds, optional); a fraction and a zone are skipped.
TIME_OF_DAY = r"[T ](?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2}))?(?:\.\d+)?(?:[+-]\d{2}:?\d{2}|Z)?$"
_STAMP = r"^(?P<day>.*?)" + TIME_OF_DAY


def looks_intraday(text: str) -> tuple[str, str] | None:
    """Two timestamps of one day among the first rows of a text file (minute bars), if any."""
    from marketcast.data.files import canonical_name

    lines = [ln for ln in text.splitlines()[:-1] if ln.strip()][:200]
    if len(lines) < 3:
        return None
    header = lines[0]
    sep = max([",", ";", "\t", "|"], key=header.count)
    try:
        rows = list(csv.reader(lines, delimiter=sep))
    except csv.Error:
        return None
    names = [canonical_name(h) for h in rows[0]]
    col = names.index("date") if "date" in names else 0
    seen: dict[str, str] = {}
    for row in rows[1:]:
        if col >= len(row):
            continue
        stamp = row[col].strip()
        m = re.search(TIME_OF_DAY, stamp)
        if not m:
            continue
        day = stamp[: m.start()]
        if day in seen and seen[day] != stamp:
            return seen[day], stamp
        seen[day] = stamp
    return None


def intraday_message(name: str, pair: tuple[str, str] | None, where: str = "") -> str:
    """The one line that refuses intraday data, with an example pair of one day's timestamps."""
    example = f", e.g. {pair[0]} and {pair[1]}" if pair else ""
    return (
        f"{name}: {where}intraday data (several rows per day{example}): marketcast forecasts daily series; "
        "use --daily-closes to take each day's last row as its close"
    )


def daily_closes(path: Path, head: str, *, name: str) -> tuple[pd.DataFrame, str]:
    """Each day's last row of an intraday text file (as text columns) and a note saying so.

    The open, high, low and volume columns are dropped: the last bar's values are not the day's.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from marketcast.data.files import canonical_name

    header_line = next(ln for ln in head.splitlines() if ln.strip())
    sep = max([",", ";", "\t", "|"], key=header_line.count)
    headers = next(csv.reader([header_line], delimiter=sep))
    canon = [canonical_name(h) for h in headers]
    date_i = canon.index("date") if "date" in canon else 0
    keep_cols = [h for h, c in zip(headers, canon) if c not in _DROP]
    dropped = [h for h, c in zip(headers, canon) if c in _DROP]
    options = {
        "read_options": pacsv.ReadOptions(column_names=headers, encoding="utf8"),
        "parse_options": pacsv.ParseOptions(delimiter=sep),
        "convert_options": pacsv.ConvertOptions(
            column_types={h: pa.string() for h in headers},
            include_columns=keep_cols,
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    }
    try:
        parts = [
            _last_per_day(pacsv.read_csv(pa.BufferReader(block), **options), headers[date_i]) for block in _blocks(path)
        ]
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise DataError(f"{name}: malformed CSV ({str(exc).splitlines()[0]})") from None
    table = pa.concat_tables([p for p in parts if p.num_rows]) if any(p.num_rows for p in parts) else None
    if table is None:
        raise DataError(f"{name}: no data rows (only a header)")
    table = _last_per_day(table, headers[date_i])  # days that spanned two blocks
    frame = table.to_pandas()
    frame = frame.drop(columns=[c for c in frame.columns if c.startswith("__")])
    note = f"{name}: intraday rows taken to daily closes (each day's last row, {len(frame)} days)"
    if dropped:
        note += f"; dropped {', '.join(dropped)}"
    return frame[keep_cols], note


def _blocks(path: Path, size: int | None = None):
    """The data lines after the header, in blocks of about ``size`` bytes cut at line ends.

    Parsed one at a time with pyarrow's CSV reader, so what is held is one block: pyarrow's own
    streaming reader reads ahead of its consumer, and its memory grew with the file. Lines may end
    in LF, CRLF or CR alone; a UTF-8 byte-order mark and blank lines before the header are skipped.
    """
    size = size or BLOCK_SIZE
    with open(path, "rb") as fh:
        rest = fh.read(size).removeprefix(b"\xef\xbb\xbf")
        while True:  # blank lines, then the header
            end = _LINE_END.search(rest)
            if end is None:
                more = fh.read(size)
                if not more:
                    return  # a header alone (or nothing): no data lines
                rest += more
                continue
            line, rest = rest[: end.start()], rest[end.end() :]
            if line.strip():
                break
        while chunk := fh.read(size):
            data = rest + chunk
            cut = max(data.rfind(b"\n"), data.rfind(b"\r")) + 1
            if cut:
                yield data[:cut]
            rest = data[cut:]
        if rest.strip():
            yield rest


def _last_rows_fixed_width(stamps) -> np.ndarray | None:
    """The fast path of :func:`_last_per_day` for stamps of one width ``<day>[T ]HH:MM[:SS]``
    (``2020-01-02 09:30:00``, the usual case): the bytes as a NumPy matrix, no regular expression.

    Returns, for each run of rows with the same day, its row latest in the day (the last such
    row on a tie), or ``None`` where the layout differs (the general path reads those).
    """
    import pyarrow as pa

    n = len(stamps)
    arr = stamps.combine_chunks() if isinstance(stamps, pa.ChunkedArray) else stamps
    if n < 2 or arr.null_count or arr.type != pa.string():
        return None
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[arr.offset : arr.offset + n + 1]
    width = int(offsets[1] - offsets[0])
    if width < 12 or not (np.diff(offsets) == width).all():
        return None
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]].reshape(n, width)
    for clock in (8, 5):  # HH:MM:SS, HH:MM
        pos = width - clock - 1
        colons = [pos + 3] + ([pos + 6] if clock == 8 else [])
        digits = [pos + 1, pos + 2, pos + 4, pos + 5] + ([pos + 7, pos + 8] if clock == 8 else [])
        sep = data[:, pos]
        if not (((sep == ord(" ")) | (sep == ord("T"))).all() and (data[:, colons] == ord(":")).all()):
            continue
        d = data[:, digits].astype(np.int64) - ord("0")
        if ((d < 0) | (d > 9)).any():
            return None
        seconds = (d[:, 0] * 10 + d[:, 1]) * 3600 + (d[:, 2] * 10 + d[:, 3]) * 60
        if clock == 8:
            seconds += d[:, 4] * 10 + d[:, 5]
        day = data[:, :pos]
        starts = np.flatnonzero(np.r_[True, (day[1:] != day[:-1]).any(axis=1)])
        # In each run: the rows at the run's latest time, of those the last.
        latest = np.repeat(np.maximum.reduceat(seconds, starts), np.diff(np.r_[starts, n]))
        return np.maximum.reduceat(np.where(seconds == latest, np.arange(n), -1), starts)
    return None


def _last_per_day(batch, date_col: str):
    """The rows of ``batch`` that are the last of their day by time of day."""
    import pyarrow as pa
    import pyarrow.compute as pc

    table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
    if table.num_rows == 0:
        return table
    stamps = pc.utf8_trim_whitespace(table.column(date_col))
    rows = _last_rows_fixed_width(stamps)
    if rows is not None:  # the last row of each run of a day; a day in two runs is settled below
        table = table.take(pa.array(rows))
        stamps = pc.utf8_trim_whitespace(table.column(date_col))
    parts = pc.extract_regex(stamps, _STAMP)
    day = pc.if_else(pc.is_null(parts), stamps, pc.struct_field(parts, "day"))

    def num(field: str) -> np.ndarray:
        col = pc.struct_field(parts, field)
        col = pc.if_else(pc.equal(col, ""), None, col)
        return pc.fill_null(pc.cast(col, pa.int64(), safe=False), 0).to_numpy(zero_copy_only=False)

    seconds = np.where(pc.is_null(parts).to_numpy(zero_copy_only=False), 0, num("h") * 3600 + num("m") * 60 + num("s"))
    codes = pc.dictionary_encode(day).combine_chunks().indices.to_numpy(zero_copy_only=False)
    order = np.lexsort((np.arange(len(codes)), seconds, codes))
    last = np.r_[codes[order][1:] != codes[order][:-1], True]
    rows = np.sort(order[last])
    return table.take(pa.array(rows))
