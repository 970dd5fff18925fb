"""A data quality report for a price file (``marketcast data check``)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from marketcast.data.files import PRICE_COLUMNS, PriceData
from marketcast.data.splits import CorporateAction, detect_splits, reported_splits
from marketcast.errors import DataError

__all__ = ["QualityReport", "check_quality"]

#: Calendar days between two rows above which the report lists a gap (a long weekend is 4).
GAP_DAYS = 5


@dataclass(frozen=True)
class QualityReport:
    file: str
    format: str
    rows: int
    first: pd.Timestamp
    last: pd.Timestamp
    columns: list[str]
    missing: dict[str, int]
    empty_columns: list[str]
    non_positive: dict[str, list[tuple[str, int, float]]]
    gaps: list[tuple[str, str, int]]
    duplicates_dropped: int
    splits: list[CorporateAction] = field(default_factory=list)
    reported: list[CorporateAction] = field(default_factory=list)
    price_columns: list[str] = field(default_factory=list)
    inconsistent_bars: list[tuple[str, int]] = field(default_factory=list)
    #: For each price column with gaps in it: the (date, line) of every missing value.
    missing_rows: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    #: What the numbers in those tuples count: "line" of a text file, "row" of a Parquet file.
    unit: str = "line"

    @property
    def problems(self) -> list[str]:
        """Findings a user should act on before fitting a model (empty when the file is clean)."""
        out = []
        for col, hits in self.non_positive.items():
            out.append(
                f"{len(hits)} non-positive value(s) in '{col}', first on {hits[0][0]} ({self.unit} {hits[0][1]})"
            )
        for col, n in self.missing.items():
            if col in self.price_columns and col not in self.empty_columns:
                d, ln = self.missing_rows[col][0]
                out.append(f"{n} missing value(s) in '{col}', first on {d} ({self.unit} {ln}); models skip those rows")
        if self.inconsistent_bars:
            d, ln = self.inconsistent_bars[0]
            out.append(
                f"{len(self.inconsistent_bars)} bar(s) with open/close outside low-high, first on {d} ({self.unit} {ln})"
            )
        unadjusted = [s for s in self.splits if s.kind != "jump"]
        if unadjusted and not self.reported:
            out.append(
                f"{len(unadjusted)} suspected split(s) or bonus issue(s), which the file does not report: check each "
                f"and confirm it with --split DATE:RATIO ({unadjusted[0].split_option})"
            )
        return out

    def as_dict(self) -> dict:
        at = self.unit
        return {
            "file": self.file,
            "format": self.format,
            "rows": self.rows,
            "first": self.first.date().isoformat(),
            "last": self.last.date().isoformat(),
            "columns": self.columns,
            "missing": self.missing,
            "missing_rows": {c: [{"date": d, at: ln} for d, ln in rows] for c, rows in self.missing_rows.items()},
            "empty_columns": self.empty_columns,
            "non_positive": {
                c: [{"date": d, at: ln, "value": v} for d, ln, v in hits] for c, hits in self.non_positive.items()
            },
            "gaps": [{"from": a, "to": b, "days": n} for a, b, n in self.gaps],
            "duplicates_dropped": self.duplicates_dropped,
            "suspected_splits": [s.as_dict() for s in self.splits],
            "reported_splits": [s.as_dict() for s in self.reported],
            "inconsistent_bars": [{"date": d, at: ln} for d, ln in self.inconsistent_bars],
            "problems": self.problems,
        }

    @property
    def frame(self) -> pd.DataFrame:
        """One row per finding: ``check, column, date, line, value, detail``.

        ``check`` is ``missing``, ``non_positive``, ``gap`` (``value`` = calendar days, ``detail``
        the next date), ``inconsistent_bar``, ``suspected_split`` or ``reported_split``
        (``value`` = the ratio); ``line`` counts lines of a text file or rows of a Parquet file.
        """
        rows: list[tuple] = []
        for col, hits in self.missing_rows.items():
            rows += [("missing", col, d, ln, np.nan, "") for d, ln in hits]
        for col, nonpos in self.non_positive.items():
            rows += [("non_positive", col, d, ln, v, "") for d, ln, v in nonpos]
        rows += [("gap", "", a, pd.NA, float(n), f"next row {b}") for a, b, n in self.gaps]
        rows += [
            ("inconsistent_bar", "", d, ln, np.nan, "open/close outside low-high") for d, ln in self.inconsistent_bars
        ]
        for kind, actions in (("suspected_split", self.splits), ("reported_split", self.reported)):
            rows += [(kind, "", a.date.date().isoformat(), pd.NA, float(a.ratio), a.label) for a in actions]
        frame = pd.DataFrame(rows, columns=["check", "column", "date", "line", "value", "detail"])
        frame["date"] = pd.to_datetime(frame["date"])
        frame["line"] = frame["line"].astype("Int64")
        frame["value"] = frame["value"].astype("float64")
        frame.attrs = {"source": self.file, "rows": self.rows, "problems": list(self.problems)}
        return frame


def check_quality(data: PriceData, column: str | None = None) -> QualityReport:
    """Row count, date range, gaps, missing values, non-positive prices and suspected splits.

    ``column`` is the price column a model would use (default: the close); a file without it,
    or with nothing in it, is not a price file and raises a :class:`DataError`.
    """
    frame = data.frame
    label = data.original_columns
    used = data.resolve_column(column)
    if frame[used].isna().all():
        raise DataError(f"{data.name}: column '{label.get(used, used)}' has no values")
    missing = {label.get(c, c): int(n) for c, n in frame.isna().sum().items() if n}
    empty = [label.get(c, c) for c in frame.columns if frame[c].isna().all()]
    missing_rows = {
        label.get(c, c): [
            (frame.index[i].date().isoformat(), data.line_of(int(i))) for i in np.flatnonzero(frame[c].isna())
        ]
        for c in PRICE_COLUMNS
        if c in frame.columns and frame[c].isna().any() and not frame[c].isna().all()
    }
    non_positive: dict[str, list[tuple[str, int, float]]] = {}
    for col in (c for c in PRICE_COLUMNS if c in frame.columns):
        v = frame[col].to_numpy()
        idx = np.flatnonzero(np.isfinite(v) & (v <= 0))
        if idx.size:
            non_positive[label.get(col, col)] = [
                (frame.index[i].date().isoformat(), data.line_of(int(i)), float(v[i])) for i in idx
            ]
    days = np.diff(frame.index.values.astype("datetime64[D]").astype(np.int64))
    gap_at = np.flatnonzero(days > GAP_DAYS)
    gaps = [(frame.index[i].date().isoformat(), frame.index[i + 1].date().isoformat(), int(days[i])) for i in gap_at]
    price_col = next((c for c in ("close", "adj_close") if c in frame.columns), None)
    splits = []
    if price_col is not None and frame[price_col].notna().sum() > 2:
        clean = frame[frame[price_col] > 0]
        splits = detect_splits(clean, column=price_col)
    return QualityReport(
        inconsistent_bars=_inconsistent_bars(data),
        missing_rows=missing_rows,
        unit=data.unit,
        file=data.name,
        format=data.format,
        rows=len(frame),
        first=frame.index[0],
        last=frame.index[-1],
        columns=[label.get(c, c) for c in frame.columns],
        missing=missing,
        empty_columns=empty,
        non_positive=non_positive,
        gaps=gaps,
        duplicates_dropped=data.dropped_duplicates,
        splits=splits,
        reported=reported_splits(frame),
        price_columns=[label.get(c, c) for c in PRICE_COLUMNS if c in frame.columns],
    )


def _inconsistent_bars(data: PriceData) -> list[tuple[str, int]]:
    """Rows whose open or close lies outside [low, high], or whose high is below the low."""
    f = data.frame
    if not {"high", "low"} <= set(f.columns):
        return []
    hi = f["high"].to_numpy() * (1 + 1e-4)
    lo = f["low"].to_numpy() * (1 - 1e-4)
    bad = f["high"].to_numpy() < f["low"].to_numpy()
    for col in ("open", "close"):
        if col in f.columns:
            v = f[col].to_numpy()
            bad |= (v > hi) | (v < lo)
    idx = np.flatnonzero(np.nan_to_num(bad, nan=0).astype(bool))
    return [(f.index[i].date().isoformat(), data.line_of(int(i))) for i in idx]
