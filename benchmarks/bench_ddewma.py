"""Time of a DD-EWMA volatility forecast, alpha grid included (Table V's 'Time' column: 2-3 ms in R).

Compares the closed form used by marketcast with a straightforward scipy.signal.lfilter
version and a pure-Python loop, on one 504-return window of the VIX, then the per-forecast cost
of rolling runs (21 days as in Table V; two years of days).

    .venv/bin/python benchmarks/bench_ddewma.py
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

from _common import best_of, data_dir, print_table
from marketcast.data import load_series
from marketcast.models.ewma import ALPHA_GRID, dd_ewma
from marketcast.stats import log_returns, sample_volatility
from marketcast.volatility import rolling_volatility


def lfilter_version(z: np.ndarray) -> float:
    k = z.size
    l = k // 10
    s0 = z[:l].mean()
    best = (np.inf, 0.0)
    for a in ALPHA_GRID:
        s, _ = lfilter([a], [1.0, a - 1.0], z, zi=[(1 - a) * s0])
        prev = np.concatenate(([s0], s[:-1]))
        fess = np.sum((z[l:] - prev[l:]) ** 2)
        if fess < best[0]:
            best = (fess, s[-1])
    return best[1]


def loop_version(z: np.ndarray) -> float:
    k = len(z)
    l = k // 10
    best = (np.inf, 0.0)
    zl = z.tolist()
    for a in ALPHA_GRID:
        s = sum(zl[:l]) / l
        fess = 0.0
        for t, v in enumerate(zl):
            if t >= l:
                fess += (v - s) ** 2
            s = a * v + (1 - a) * s
        if fess < best[0]:
            best = (fess, s)
    return best[1]


def main() -> None:
    vix = load_series(data_dir() / "VIX_History.csv")
    r = log_returns(vix)
    i = r.index.get_loc("2021-05-24")
    z = sample_volatility(r.iloc[i - 504 : i].to_numpy())
    ref = dd_ewma(z).volatility[0]
    assert abs(lfilter_version(z) - ref) < 1e-12 and abs(loop_version(z) - ref) < 1e-12
    rows = []
    for name, fn in [("closed form (marketcast)", lambda: dd_ewma(z)),
                     ("scipy lfilter, loop over alphas", lambda: lfilter_version(z)),
                     ("pure Python loop", lambda: loop_version(z))]:
        t = best_of(fn, repeat=9, number=20)
        rows.append((name, f"{t * 1e3:.3f}"))
    print_table("One DD-EWMA forecast, 504 returns, 30 alphas (ms)", rows, ("method", "ms"))

    rows = []
    for label, start, end in [("Table V: 21 days", "2021-04-26", "2021-05-24"),
                              ("2019-2021: 2 years", "2019-06-03", "2021-05-28")]:
        n = len(r.loc[start:end])
        t = best_of(lambda: rolling_volatility(vix, window=504, start=start, end=end), repeat=5)
        rows.append((label, n, f"{t * 1e3:.1f}", f"{t / n * 1e3:.3f}"))
    print_table("Rolling DD-EWMA volatility + VaR/CVaR/MAD, window 504 (everything included)", rows,
                ("run", "forecasts", "total ms", "ms per forecast"))


if __name__ == "__main__":
    main()
