"""Minute bars to daily closes (data/intraday.py): the fast fixed-width path against a plain reference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from marketcast.data.intraday import _last_per_day, _last_rows_fixed_width


def _reference(stamps: list[str]) -> list[int]:
    """Each day's row latest in the day, the last such row on a tie, in row order."""
    frame = pd.DataFrame({"stamp": stamps})
    parts = frame["stamp"].str.extract(r"^(?P<day>.*?)[T ](?P<clock>[0-9:]+)$")
    clock = parts["clock"].str.split(":", expand=True).astype(int)
    seconds = clock[0] * 3600 + clock[1] * 60 + (clock[2] if 2 in clock else 0)
    frame = frame.assign(day=parts["day"], seconds=seconds, row=np.arange(len(frame)))
    best = frame.sort_values(["day", "seconds", "row"]).groupby("day").tail(1)
    return sorted(best["row"].tolist())


@pytest.mark.parametrize("seed", range(12))
def test_fast_path_agrees_with_the_reference(seed):
    rng = np.random.default_rng(seed)
    days = [f"2020-01-{d:02d}" if seed % 3 else f"01/{d:02d}/2020" for d in rng.integers(1, 6, 200)]
    seconds = rng.integers(9 * 3600, 16 * 3600, 200) // (60 if seed % 2 else 1) * (60 if seed % 2 else 1)
    seconds[rng.integers(0, 200, 20)] = seconds[0]  # ties
    sep = "T" if seed % 4 == 1 else " "
    with_seconds = seed % 2 == 0
    stamps = [
        f"{d}{sep}{s // 3600:02d}:{s % 3600 // 60:02d}" + (f":{s % 60:02d}" if with_seconds else "")
        for d, s in zip(days, seconds, strict=True)
    ]
    table = pa.table({"Date": pa.array(stamps), "Close": pa.array([str(i) for i in range(len(stamps))])})
    assert _last_rows_fixed_width(table.column("Date")) is not None  # the fast path is taken
    got = [int(c) for c in _last_per_day(table, "Date").column("Close").to_pylist()]
    assert sorted(got) == _reference(stamps)


def test_mixed_widths_go_the_general_way():
    stamps = pa.array(["2020-01-02 9:30", "2020-01-02 10:30", "2020-01-03 09:30"])
    assert _last_rows_fixed_width(stamps) is None
    table = pa.table({"Date": stamps, "Close": pa.array(["a", "b", "c"])})
    assert _last_per_day(table, "Date").column("Close").to_pylist() == ["b", "c"]


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"])
@pytest.mark.parametrize("prefix", ["", "\ufeff", "\ufeff\n\n"])
def test_blocks_of_any_line_ending_bom_and_blank_lines(tmp_path, ending, prefix):
    """Minute bars read in small blocks give each day's last row, whatever the line endings."""
    from marketcast.data.files import read_prices
    from marketcast.data import intraday

    stamps = [f"2020-01-{d:02d} {h:02d}:{m:02d}" for d in (2, 3, 6) for h in (9, 10) for m in (30, 45)]
    lines = ["Date,Close", *(f"{s},{i + 1}" for i, s in enumerate(stamps))]
    path = tmp_path / "bars.csv"
    path.write_bytes((prefix + ending.join(lines) + ("" if ending == "\r" else ending)).encode("utf-8"))
    original = intraday.BLOCK_SIZE
    try:
        intraday.BLOCK_SIZE = 37  # blocks cut inside the file
        frame = read_prices(path, intraday="close").frame
    finally:
        intraday.BLOCK_SIZE = original
    assert frame["close"].tolist() == [4.0, 8.0, 12.0]
