"""Daily-refit GARCH(1,1): marketcast's GARCH-t against arch's and Nixtla statsforecast's, same work.

S&P 500 members (adjusted close, the first ``--assets`` files), 250 consecutive days each, every
day's model fitted on the 504 returns before it and forecast one day ahead:

* marketcast ``GARCHVolatility`` (GARCH(1,1)-t, zero mean, percent returns: arch's model): the
  first day fitted by arch from its own start, each later day by Newton's method from the day
  before (``_garch_fast``: the whole Newton iteration in C);
* arch's ``arch_model(...).fit()`` from its default start (what marketcast did before issue 12),
  on every ``--arch-step``-th day (it is the slow one);
* statsforecast's ``StatsForecast(models=[GARCH(1, 1)]).cross_validation(h=1, n_windows=250,
  step_size=1, refit=True, input_size=504)`` (a Gaussian GARCH(1,1), one process).

It prints the time per fit and the ratios, and the worst log-likelihood gap of marketcast's fit to
arch's (relative; positive where marketcast's maximum is higher), measured in the same run.

    .venv/bin/python benchmarks/bench_garch_refit.py [--assets 20] [--days 250] [--arch-step 5]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

from _common import data_dir, print_table
from marketcast.data import load_series
from marketcast.errors import MarketcastError
from marketcast.models import _garch_fast
from marketcast.models.garch import GARCHVolatility, fit_garch
from marketcast.stats import log_returns, window_stats

WINDOW = 504


def assets(n: int, days: int) -> dict[str, pd.Series]:
    out = {}
    for path in sorted((data_dir() / "sp500" / "daily_adjusted").glob("*.csv")):
        if len(out) == n:
            break
        try:
            r = log_returns(load_series(path, "adjusted_close"))
        except MarketcastError:
            continue  # the file holding an API error message
        if len(r) >= WINDOW + days:
            out[path.name.split("-")[1]] = r.iloc[-(WINDOW + days) :]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=20)
    parser.add_argument("--days", type=int, default=250)
    parser.add_argument("--arch-step", type=int, default=5, help="arch fits every N-th day (default 5)")
    args = parser.parse_args()
    data = assets(args.assets, args.days)
    fits = len(data) * args.days
    print(f"{len(data)} assets x {args.days} days, window {WINDOW}; likelihood through the "
          f"{_garch_fast.kernel_in_use()} path")

    from arch import arch_model
    from statsforecast import StatsForecast
    from statsforecast.models import GARCH

    # Warm-up, not timed: imports, numba's compilation of statsforecast's GARCH, scipy.optimize.
    first = next(iter(data.values())).to_numpy()
    w = np.lib.stride_tricks.sliding_window_view(first, WINDOW)[:3]
    GARCHVolatility().forecast_windows(w, window_stats(w))
    _garch_fast._slsqp(100 * w[0], None, *(_garch_fast._bounds(100 * w[0], False, 0, True, 0.0)), np.array([1, 2, 4, 5]),
                       0, True, 1.0, False, 0, lambda p, grad=True: _garch_fast.loglik(100 * w[0], p, True, 1.0, grad))
    warm = pd.DataFrame({"unique_id": "x", "ds": np.arange(WINDOW + 3), "y": first[: WINDOW + 3]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        StatsForecast(models=[GARCH(1, 1)], freq=1, n_jobs=1).cross_validation(h=1, df=warm, n_windows=2, input_size=WINDOW)

    # marketcast: one rolling run per asset (the day's windows; forecast for the day after each)
    t0, c0 = time.perf_counter(), time.process_time()
    ours = {}
    for name, r in data.items():
        w = np.lib.stride_tricks.sliding_window_view(r.to_numpy(), WINDOW)[: args.days]
        ours[name] = (w, GARCHVolatility().forecast_windows(w, window_stats(w)))
    t_ours, c_ours = (time.perf_counter() - t0) / fits, (time.process_time() - c0) / fits

    # arch from its default start, every arch-step-th day; the loglik gap of marketcast's fit there
    t0, c0, n_arch, worst, worst_vol = time.perf_counter(), time.process_time(), 0, np.inf, 0.0
    checks = []
    for name, (w, res) in ours.items():
        for i in range(0, args.days, args.arch_step):
            checks.append((name, i, fit_garch(w[i])))
            n_arch += 1
    t_arch, c_arch = (time.perf_counter() - t0) / n_arch, (time.process_time() - c0) / n_arch

    for name, i, ref in checks:
        w, res = ours[name]
        y = 100 * w[i]
        values = [res.extra["garch_omega"][i], res.extra["garch_alpha"][i], res.extra["garch_beta"][i],
                  res.extra["garch_nu"][i]]
        ll = arch_model(y, mean="Zero", vol="GARCH", p=1, q=1, dist="t", rescale=False).fix(values).loglikelihood
        ref_ll = arch_model(y, mean="Zero", vol="GARCH", p=1, q=1, dist="t", rescale=False).fix(
            [ref.omega, ref.alpha, ref.beta, ref.nu]).loglikelihood
        worst = min(worst, (ll - ref_ll) / abs(ref_ll))
        worst_vol = max(worst_vol, abs(res.volatility[i] / ref.volatility - 1))

    # statsforecast: the same windows, one cross-validation over all assets
    frames = []
    for name, r in data.items():
        # the window of day i ends at row WINDOW + i - 1: cross-validation's cutoffs are those rows
        frames.append(pd.DataFrame({"unique_id": name, "ds": np.arange(len(r) + 1), "y": np.append(r.to_numpy(), 0.0)}))
    panel = pd.concat(frames, ignore_index=True)
    sf = StatsForecast(models=[GARCH(1, 1)], freq=1, n_jobs=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0, c0 = time.perf_counter(), time.process_time()
        cv = sf.cross_validation(h=1, df=panel, n_windows=args.days, step_size=1, refit=True, input_size=WINDOW)
        t_sf, c_sf = (time.perf_counter() - t0) / fits, (time.process_time() - c0) / fits
    assert len(cv) == fits, len(cv)

    rows = [("marketcast GARCH-t (warm-started Newton)", fits, f"{t_ours * 1e3:.2f}", f"{c_ours * 1e3:.2f}", "1.0",
             "1.0"),
            ("arch GARCH-t (default start)", n_arch, f"{t_arch * 1e3:.2f}", f"{c_arch * 1e3:.2f}",
             f"{t_arch / t_ours:.1f}", f"{c_arch / c_ours:.1f}"),
            ("statsforecast GARCH(1,1) cross_validation", fits, f"{t_sf * 1e3:.2f}", f"{c_sf * 1e3:.2f}",
             f"{t_sf / t_ours:.1f}", f"{c_sf / c_ours:.1f}")]
    print_table("Daily-refit GARCH(1,1), window 504, one process (per fit; ratio = its time / marketcast's)", rows,
                ("method", "fits", "wall ms", "CPU ms", "ratio (wall)", "ratio (CPU)"))
    print(f"\nworst log-likelihood gap to arch over {n_arch} fits: {worst:+.2e} relative "
          f"(criterion >= -1e-6); largest volatility difference {worst_vol:.1e} relative")


if __name__ == "__main__":
    main()
