"""Wall time of the whole VIX reproduction (target: under 15 minutes on 2 CPU cores).

Runs `marketcast reproduce vix-paper` on ../shared/data/VIX_History.csv with the default
settings (3 seeds, Table I's 50 epochs, the 2019-2021 VaR backtest) and prints the time of each
stage from its summary. Takes about 10 minutes.

    .venv/bin/python benchmarks/bench_reproduce.py [--quick]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from _common import data_dir, print_table
from marketcast.cli import main as cli


def main() -> None:
    quick = ["--quick"] if "--quick" in sys.argv else []
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        rc = cli(["--quiet", "reproduce", "vix-paper", "--data", str(data_dir() / "VIX_History.csv"), "--out", out, *quick])
        total = time.perf_counter() - t0
        if rc != 0:
            raise SystemExit(rc)
        summary = (Path(out) / "summary.md").read_text()
    stages = summary.split("## Time")[-1]
    rows = [tuple(c.strip() for c in line.strip("|").split("|")) for line in stages.splitlines() if line.startswith("| ") and "stage" not in line]
    rows.append(("whole command (load, tables, report)", f"{total:.1f}"))
    print_table(f"marketcast reproduce vix-paper{' --quick' if quick else ''}: seconds per stage", rows, ("stage", "seconds"))


if __name__ == "__main__":
    main()
