"""The universe job on the S&P 500 folder: wall time with 1 and 2 Dask workers, peak memory per worker.

The issue's settings: DD-EWMA and GARCH-t, tails 1% and 5%, the last 250 days plus the live one,
a window of 504 returns. Each worker count gets a fresh LocalCluster, the job's own
(``universe.engine.local_cluster``: one thread per worker, its batch settings);
the time is that of ``marketcast.risk`` on it (cluster start excluded, printed apart), and the
peak memory is each worker process's maximum resident set size after the run. Goals: 2 workers
at least 1.8x faster than 1; under 1 GiB per worker. On a shared machine, compare the two
figures of the same run only.

Then, on a fresh cluster of the largest worker count, the same daily-refit GARCH work (each asset's
``--days`` windows of ``--window`` returns, fitted and forecast one day ahead) by marketcast's
GARCH-t and by Nixtla statsforecast's ``StatsForecast(models=[GARCH(1, 1)]).cross_validation(h=1,
n_windows=days, step_size=1, refit=True)``, one Dask task per asset each, on the first
``--garch-assets`` of the same assets; and DD-EWMA's time per forecast over all of them (one task
per asset, the rolling forecasts of ``rolling_volatility``; loading excluded). Wall time and the
workers' CPU time are printed, with the load average of the machine before and after.

    .venv/bin/python benchmarks/bench_universe.py                    # all 505 files (long with GARCH)
    .venv/bin/python benchmarks/bench_universe.py --assets 40 --models dd-ewma,garch --days 250
    .venv/bin/python benchmarks/bench_universe.py --models dd-ewma --garch-assets 50   # GARCH on 50 only
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

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


def run(universe: Path, workers: int, args):
    from distributed import Client

    import marketcast.universe as mu
    from marketcast.universe.engine import local_cluster

    t0 = time.perf_counter()
    with local_cluster(workers, "4GiB") as cluster, Client(cluster) as client:
        client.wait_for_workers(workers)
        start = time.perf_counter() - t0
        with tempfile.TemporaryDirectory() as tmp:
            t1 = time.perf_counter()
            res = mu.risk(universe, models=args.models, window=args.window, days=args.days, tails=(0.01, 0.05),
                          refit_every=args.refit_every, out=Path(tmp) / "out", client=client, report=False)
            wall = time.perf_counter() - t1
        rss = sorted(client.run(_maxrss_mib).values())
    return start, wall, rss, res


def _returns(path: str, n: int) -> np.ndarray | None:
    """The last ``n`` log returns of the file's adjusted close (None where the file is bad or short)."""
    from marketcast.errors import MarketcastError
    from marketcast.universe.sources import AssetSpec, load_asset

    try:
        prices = load_asset(AssetSpec(Path(path).name.split("-")[1], "file", path))
    except MarketcastError:
        return None
    r = np.diff(np.log(prices.to_numpy(np.float64)))
    return r[-n:] if len(r) >= n else None


def _task_marketcast_garch(path: str, window: int, days: int) -> tuple[int, float]:
    from threadpoolctl import threadpool_limits

    from marketcast.models.garch import GARCHVolatility
    from marketcast.stats import window_stats

    r = _returns(path, window + days - 1)
    if r is None:
        return 0, 0.0
    w = np.lib.stride_tricks.sliding_window_view(r, window)
    with threadpool_limits(1):
        c0 = time.process_time()
        GARCHVolatility().forecast_windows(w, window_stats(w))
        return len(w), time.process_time() - c0


def _task_statsforecast_garch(path: str, window: int, days: int) -> tuple[int, float]:
    import pandas as pd
    from statsforecast import StatsForecast
    from statsforecast.models import GARCH

    r = _returns(path, window + days - 1)
    if r is None:
        return 0, 0.0
    # the window of day i ends at row window + i - 1: cross-validation's cutoffs are those rows
    df = pd.DataFrame({"unique_id": "a", "ds": np.arange(len(r) + 1), "y": np.append(r, 0.0)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c0 = time.process_time()
        cv = StatsForecast(models=[GARCH(1, 1)], freq=1, n_jobs=1).cross_validation(
            h=1, df=df, n_windows=days, step_size=1, refit=True, input_size=window)
        return len(cv), time.process_time() - c0


def _task_ddewma(path: str, window: int, days: int) -> tuple[int, float]:
    from marketcast.errors import MarketcastError
    from marketcast.universe.sources import AssetSpec, load_asset
    from marketcast.volatility import rolling_volatility

    try:
        prices = load_asset(AssetSpec(Path(path).name.split("-")[1], "file", path))
    except MarketcastError:
        return 0, 0.0
    if len(prices) < window + days + 1:
        return 0, 0.0
    c0 = time.process_time()
    vol = rolling_volatility(prices, window=window, start=prices.index[-days], models=["dd-ewma"], n_jobs=1)
    return len(vol), time.process_time() - c0


def _warm() -> None:
    """Imports and numba's compilation of statsforecast's GARCH, untimed, in every worker."""
    from statsforecast import StatsForecast
    from statsforecast.models import GARCH
    import pandas as pd

    rng = np.random.default_rng(0)
    df = pd.DataFrame({"unique_id": "x", "ds": np.arange(80), "y": rng.standard_normal(80) * 0.01})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        StatsForecast(models=[GARCH(1, 1)], freq=1, n_jobs=1).cross_validation(h=1, df=df, n_windows=2,
                                                                               input_size=60)
    import arch  # noqa: F401

    from marketcast.models.garch import GARCHVolatility  # noqa: F401


def same_work(files: list[Path], workers: int, args) -> list[tuple]:
    """marketcast GARCH-t, statsforecast GARCH(1,1) and DD-EWMA, one Dask task per asset each."""
    from distributed import Client

    from marketcast.universe.engine import local_cluster

    rows = []
    with local_cluster(workers, "4GiB") as cluster, Client(cluster) as client:
        client.wait_for_workers(workers)
        client.run(_warm)
        garch_files = [str(p) for p in files[: args.garch_assets]]
        jobs = [("marketcast GARCH-t, daily refit", _task_marketcast_garch, garch_files),
                ("statsforecast GARCH(1,1) cross_validation", _task_statsforecast_garch, garch_files),
                ("marketcast DD-EWMA (rolling_volatility)", _task_ddewma, [str(p) for p in files])]
        for name, fn, paths in jobs:
            t0 = time.perf_counter()
            out = client.gather(client.map(fn, paths, window=args.window, days=args.days, pure=False))
            wall = time.perf_counter() - t0
            n = sum(o[0] for o in out)
            cpu = sum(o[1] for o in out)
            assets = sum(o[0] > 0 for o in out)
            rows.append((name, assets, n, f"{wall:.1f}", f"{wall / max(n, 1) * workers * 1e6:.1f}",
                         f"{cpu / max(n, 1) * 1e6:.1f}"))
    return rows


def show_results(res) -> None:
    """What the last run's backtests showed (a backtest passes at p >= 0.05)."""
    bt = res.backtests
    rows = []
    for (model, tail), g in bt.groupby(["model", "tail"]):
        kup, cc = g["kupiec_p"] >= 0.05, g["christoffersen_cc_p"] >= 0.05
        zones = g["basel_zone"].value_counts()
        rows.append((model, tail, f"{int(g['breaches'].sum())} ({g['expected'].sum():.1f})", f"{kup.sum()} of {len(g)}",
                     int(cc.sum()), int((kup & cc).sum()), int((g["es_p"] >= 0.05).sum()),
                     " / ".join(str(int(zones.get(z, 0))) for z in ("green", "yellow", "red"))))
    print_table("Assets' backtests", rows, ("model", "tail", "breaches (expected)", "Kupiec passes", "Christoffersen cc",
                                            "both", "ES Z2 passes", "Basel green/yellow/red"))
    pb = res.portfolio_backtests
    rows = [(r.method, r.tail, r.breaches, f"{r.expected:.1f}", f"{r.kupiec_p:.3f}", f"{r.christoffersen_cc_p:.3f}",
             f"{r.es_p:.3f}", r.basel_zone) for r in pb.itertuples()]
    n_in = res.portfolio.groupby("method")["assets"].agg(["min", "max"])
    print_table("Portfolio backtests (equal weights)", rows, ("method", "tail", "breaches", "expected", "kupiec_p",
                                                              "christoffersen_cc_p", "es_p", "basel_zone"))
    print("assets in the portfolio per day (min-max): "
          + ", ".join(f"{m} {r['min']}-{r['max']}" for m, r in n_in.iterrows()))
    days = res.portfolio["date"]
    print(f"days {days.min().date()} .. {days.max().date()} (the last is the live day)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--assets", type=int, default=None, help="Subsample N files (default: the whole folder).")
    ap.add_argument("--models", default="dd-ewma,garch")
    ap.add_argument("--days", type=int, default=250)
    ap.add_argument("--window", type=int, default=504)
    ap.add_argument("--refit-every", type=int, default=1)
    ap.add_argument("--workers", default="1,2", help="Worker counts to time, e.g. 1,2.")
    ap.add_argument("--garch-assets", type=int, default=None,
                    help="The GARCH comparison on the first N assets only (default: all).")
    ap.add_argument("--skip-universe", action="store_true", help="Only the same-work comparison.")
    ap.add_argument("--skip-same", action="store_true", help="Only the universe runs.")
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
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
              f"({os.cpu_count()} cores)")
        rows, walls = [], {}
        counts = [int(x) for x in args.workers.split(",")]
        for w in [] if args.skip_universe else counts:
            start, wall, rss, res = run(universe, w, args)
            walls[w] = wall
            rows.append((w, f"{start:.1f}", f"{wall:.1f}", f"{wall / n * w * 1000:.0f}",
                         f"{max(rss):.0f}", res.summary))
        base = walls.get(1)
        table = [(*r, f"{base / walls[r[0]]:.2f}x" if base else "") for r in rows]
        if rows:
            print_table("Universe job on a LocalCluster (wall time of marketcast.risk; cluster start apart)", table,
                        ("workers", "start s", "wall s", "ms/asset/worker", "peak RSS/worker MiB", "result",
                         "speed-up vs 1"))
            print("\ngoals: 2 workers >= 1.8x faster than 1; peak memory per worker < 1024 MiB")
            print(f"load average after the universe runs: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        if rows:
            show_results(res)
        if args.skip_same:
            return
        files = sorted(universe.glob("*.csv"))
        same = same_work(files, max(counts), args)
        print_table(f"The same work on {max(counts)} Dask workers, one task per asset (window {args.window}, "
                    f"{args.days} days; per forecast/fit: wall x workers, and the workers' CPU time)", same,
                    ("method", "assets", "forecasts", "wall s", "wall us/forecast/worker", "CPU us/forecast"))
        g_ours, g_sf = (float(same[0][5]), float(same[1][5]))
        print(f"\nstatsforecast GARCH(1,1) / marketcast GARCH-t, CPU per fit: {g_sf / max(g_ours, 1e-9):.2f}x "
              "(goal >= 2x); DD-EWMA goal: < 25 us per forecast")
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
