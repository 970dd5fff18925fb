"""Start-up time of `marketcast --version` (target: under 0.5 s, no heavy library imported).

    .venv/bin/python benchmarks/bench_startup.py
"""

from __future__ import annotations

import subprocess
import sys
import time

from _common import print_table


def main() -> None:
    cmd = [sys.executable, "-c", "import sys; from marketcast.cli import main; sys.exit(main(['--version']))"]
    subprocess.run(cmd, check=True, capture_output=True)  # warm the file cache
    times = []
    for _ in range(9):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    times.sort()
    out = subprocess.run([sys.executable, "-X", "importtime", *cmd[1:]], capture_output=True, text=True).stderr
    heavy = sorted({ln.split("|")[-1].strip() for ln in out.splitlines() if "|" in ln}
                   & {"torch", "prophet", "xgboost", "pandas", "matplotlib", "plotly", "sklearn", "arch", "duckdb"})
    print_table("marketcast --version (9 runs, whole process)",
                [(f"{times[0]:.3f}", f"{times[4]:.3f}", f"{times[-1]:.3f}", ", ".join(heavy) or "none")],
                ("min s", "median s", "max s", "heavy libraries imported"))


if __name__ == "__main__":
    main()
