"""Peak memory of the loaders and of rolling volatility (issue 15), each in a fresh process.

    .venv/bin/python benchmarks/bench_memory.py [--mb 1200] [--days 146000]

1. A file of minute bars (``Date,Open,High,Low,Close,Volume``, written here, ``--mb`` of it) taken
   to daily closes (``read_prices(intraday='close')``, ``--daily-closes``): the process's peak memory
   over the memory it had before the read, as a multiple of the file's size (goal: under 1.5x),
   and its time against pandas' pyarrow engine reading the same file (goal: no slower).
2. Rolling DD-EWMA volatility over every day of a ``--days`` long daily series (window 504; 146,000
   days are 580 years): the peak over the memory before the call (goal: under 1 GB whatever the
   number of days).

Peak memory is the process's high-water mark (``ru_maxrss``) read at the end of a process that
does one thing, minus the same mark just before that thing: what the work itself added.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from _common import print_table

_PEAK = """
import resource, time, json, sys
def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
"""


def _child(body: str, *args: str) -> dict:
    code = _PEAK + textwrap.dedent(body)
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"bench_memory: a measuring process failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def write_minute_bars(path: Path, megabytes: float) -> int:
    """Random-walk minute bars, 390 a day on business days, until the file reaches ``megabytes``."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    rows, price, day = 0, 100.0, pd.Timestamp("1990-01-02 09:30")
    with open(path, "w") as fh:
        fh.write("Date,Open,High,Low,Close,Volume\n")
        while fh.tell() < megabytes * 2**20:
            days = pd.bdate_range(day, periods=20)
            stamps = (days.values[:, None] + np.arange(390) * np.timedelta64(1, "m")).ravel()
            steps = rng.normal(0, 5e-4, stamps.size)
            close = price * np.exp(np.cumsum(steps))
            opens = np.concatenate([[price], close[:-1]])
            high, low = np.maximum(opens, close) * 1.0002, np.minimum(opens, close) * 0.9998
            volume = rng.integers(100, 10_000, stamps.size)
            frame = pd.DataFrame(
                {"Date": pd.DatetimeIndex(stamps).strftime("%Y-%m-%d %H:%M:%S"), "Open": opens.round(4),
                 "High": high.round(4), "Low": low.round(4), "Close": close.round(4), "Volume": volume}
            )
            frame.to_csv(fh, header=False, index=False)
            rows += len(frame)
            price, day = float(close[-1]), days[-1] + pd.offsets.BDay(1)
    return rows


def loader(path: Path) -> dict:
    ours = _child(
        """
        import marketcast as mc
        from marketcast.data.files import read_prices
        before = peak_mb(); t0 = time.perf_counter()
        data = read_prices(sys.argv[1], intraday="close")
        print(json.dumps({"seconds": time.perf_counter() - t0, "added_mb": peak_mb() - before,
                          "days": len(data.frame)}))
        """,
        str(path),
    )
    pandas = _child(
        """
        import pandas as pd
        before = peak_mb(); t0 = time.perf_counter()
        frame = pd.read_csv(sys.argv[1], engine="pyarrow")
        print(json.dumps({"seconds": time.perf_counter() - t0, "added_mb": peak_mb() - before, "rows": len(frame)}))
        """,
        str(path),
    )
    return {"ours": ours, "pandas": pandas}


def rolling(days: int) -> dict:
    return _child(
        """
        import numpy as np, pandas as pd
        from marketcast.volatility import rolling_volatility
        n = int(sys.argv[1])
        rng = np.random.default_rng(0)
        prices = pd.Series(100 * np.exp(np.cumsum(rng.normal(0, 0.01, n))),
                           index=pd.bdate_range("1500-01-01", periods=n, unit="s"), name="walk")
        before = peak_mb(); t0 = time.perf_counter()
        out = rolling_volatility(prices, window=504, start=prices.index[505], models=["dd-ewma"])
        print(json.dumps({"seconds": time.perf_counter() - t0, "added_mb": peak_mb() - before,
                          "forecasts": len(out)}))
        """,
        str(days),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=1200, help="size of the minute-bar file (MB; the issue's was 1.2 GB)")
    parser.add_argument("--days", type=int, default=146_000, help="length of the daily series")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="marketcast-bench-memory-") as folder:
        path = Path(folder) / "minutes.csv"
        rows = write_minute_bars(path, args.mb)
        size_mb = os.path.getsize(path) / 2**20
        res = loader(path)
    ours, pd_ = res["ours"], res["pandas"]
    print_table(
        f"minute bars to daily closes: {size_mb:.0f} MB, {rows:,} rows, {ours['days']:,} days (fresh process each)",
        [
            ("marketcast read_prices(intraday='close')", f"{ours['seconds']:.2f}", f"{ours['added_mb']:.0f}",
             f"{ours['added_mb'] / size_mb:.2f}x"),
            ("pandas read_csv(engine='pyarrow'), all rows", f"{pd_['seconds']:.2f}", f"{pd_['added_mb']:.0f}",
             f"{pd_['added_mb'] / size_mb:.2f}x"),
        ],
        ("read", "seconds", "peak added MB", "of the file"),
    )
    print(f"time ratio marketcast / pandas-pyarrow: {ours['seconds'] / pd_['seconds']:.2f} (goal <= 1)")
    vol = rolling(args.days)
    print_table(
        f"rolling DD-EWMA, window 504, every day of a {args.days:,}-day series",
        [(f"{vol['forecasts']:,}", f"{vol['seconds']:.1f}", f"{vol['added_mb']:.0f}")],
        ("forecasts", "seconds", "peak added MB (goal < 1024)"),
    )


if __name__ == "__main__":
    main()
