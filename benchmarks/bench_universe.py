"""The universe job on the S&P 500 folder: wall time with 1 and 2 Dask workers, peak memory per worker.

The issue's settings: DD-EWMA and GARCH-t, tails 1% and 5%, the last 250 days plus the live one,
a window of 504 returns. Each worker count gets a fresh LocalCluster (one thread per worker);
the time is that of ``marketcast.risk`` on it (cluster start excluded, printed apart), and the
peak memory is each worker process's maximum resident set size after the run. Goals: 2 workers
at least 1.8x faster than 1; under 1 GiB per worker. On a shared machine, compare the two
figures of the same run only.

    .venv/bin/python benchmarks/bench_universe.py                    # all 505 files (long with GARCH)
    .venv/bin/python benchmarks/bench_universe.py --assets 40 --models dd-ewma,garch --days 250
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from _common import data_dir, print_table


def _maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def subsample(folder: Path, n: int | None, dest: Path) -> Path:
    """The folder itself, or a folder of links to every k-th of its files (spread over the alphabet)."""
    if n is None:
        return folder
    files = sorted(p for p in folder.glob("*.csv"))
    step = max(1, len(files) // n)
    dest.mkdir()
    for p in files[::step][:n]:
        (dest / p.name).symlink_to(p)
    return dest


def run(universe: Path, workers: int, args) -> tuple[float, float, list[float], str]:
    from distributed import Client, LocalCluster

    import marketcast.universe as mu
    from marketcast.universe.engine import THREAD_CAPS

    t0 = time.perf_counter()
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, memory_limit="4GiB",
                      host="127.0.0.1", dashboard_address=None, env=dict(THREAD_CAPS)) as cluster, \
            Client(cluster) as client:
        client.wait_for_workers(workers)
        start = time.perf_counter() - t0
        with tempfile.TemporaryDirectory() as tmp:
            t1 = time.perf_counter()
            res = mu.risk(universe, models=args.models, window=args.window, days=args.days, tails=(0.01, 0.05),
                          refit_every=args.refit_every, out=Path(tmp) / "out", client=client, report=False)
            wall = time.perf_counter() - t1
        rss = sorted(client.run(_maxrss_mib).values())
    return start, wall, rss, res.summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--assets", type=int, default=None, help="Subsample N files (default: the whole folder).")
    ap.add_argument("--models", default="dd-ewma,garch")
    ap.add_argument("--days", type=int, default=250)
    ap.add_argument("--window", type=int, default=504)
    ap.add_argument("--refit-every", type=int, default=1)
    ap.add_argument("--workers", default="1,2", help="Worker counts to time, e.g. 1,2.")
    args = ap.parse_args()
    folder = data_dir() / "sp500" / "daily_adjusted"
    if not folder.is_dir():
        raise SystemExit(f"no S&P 500 folder at {folder} (set MARKETCAST_DATA_DIR)")
    with tempfile.TemporaryDirectory() as tmp:
        universe = subsample(folder, args.assets, Path(tmp) / "u")
        n = len(list(universe.glob("*.csv")))
        print(f"universe: {n} files of {folder} ({'all' if args.assets is None else f'every k-th, {n} of them'}); "
              f"models {args.models}, window {args.window}, {args.days} days + live, tails 1% and 5%, "
              f"refit every {args.refit_every}")
        rows, walls = [], {}
        for w in [int(x) for x in args.workers.split(",")]:
            start, wall, rss, summary = run(universe, w, args)
            walls[w] = wall
            rows.append((w, f"{start:.1f}", f"{wall:.1f}", f"{wall / n * w * 1000:.0f}",
                         f"{max(rss):.0f}", summary))
        base = walls.get(1)
        table = [(*r, f"{base / walls[r[0]]:.2f}x" if base else "") for r in rows]
        print_table("Universe job on a LocalCluster (wall time of marketcast.risk; cluster start apart)", table,
                    ("workers", "start s", "wall s", "ms/asset/worker", "peak RSS/worker MiB", "result",
                     "speed-up vs 1"))
        print("\ngoals: 2 workers >= 1.8x faster than 1; peak memory per worker < 1024 MiB")


if __name__ == "__main__":
    main()
