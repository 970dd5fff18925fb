"""Time of a DD-EWMA volatility forecast, alpha grid included (Table V's 'Time' column: 2-3 ms in R).

Compares marketcast's C kernel (and its NumPy fallback) with the closed form it replaced, a
straightforward scipy.signal.lfilter version and a pure-Python loop, on one 504-return window of
the VIX; then the per-forecast cost of rolling runs (21 days as in Table V; two years of days);
then the universe: every S&P 500 member (adjusted close), 250 days plus the live one, window
504, the whole rolling path (window statistics, 30-alpha smoothing and FESS, VaR/CVaR/MAD, the
table) against the path before issue 12 (``legacy_rolling`` below), in the same run.

    .venv/bin/python benchmarks/bench_ddewma.py [--assets N]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd
from scipy import stats as sps
from scipy.signal import lfilter

from _common import best_of, data_dir, print_table
from marketcast.data import load_series
from marketcast.errors import MarketcastError
from marketcast.models import ewma
from marketcast.models.ewma import ALPHA_GRID, dd_ewma, ewma_paths
from marketcast.stats import log_returns, sample_volatility, t_dof_from_sign_correlation
from marketcast.volatility import forecast_dates, rolling_volatility


def legacy_dd_ewma(z: np.ndarray) -> np.ndarray:
    """The DD-EWMA of marketcast before issue 12: closed-form paths, 32 windows at a time."""
    out = np.empty(z.shape[0])
    k = z.shape[1]
    l = k // 10
    for start in range(0, z.shape[0], 32):
        zz = z[start : start + 32]
        s = ewma_paths(zz, ALPHA_GRID, zz[:, :l].mean(axis=-1))
        last = s[:, :, k - 1].copy()
        errors = s[:, :, l - 1 : k - 1]
        errors -= zz[:, None, l:]
        fess = np.einsum("mak,mak->ma", errors, errors)
        out[start : start + 32] = last[np.arange(zz.shape[0]), fess.argmin(axis=-1)]
    return out


def legacy_rolling(prices: pd.Series, window: int, start) -> pd.DataFrame:
    """The rolling DD-EWMA path before issue 12 (NumPy window statistics, scipy.stats' t, column inserts)."""
    returns = log_returns(prices)
    pos, dates = forecast_dates(returns, window, start, None)
    r = returns.to_numpy()
    w = np.lib.stride_tricks.sliding_window_view(r, window)[pos - window]
    window_dates = np.lib.stride_tricks.sliding_window_view(returns.index.to_numpy(), window)[pos - window]
    mean = w.mean(axis=-1)
    c = w - mean[:, None]
    s = np.sign(c)
    sc = s - s.mean(axis=-1, keepdims=True)
    rho = (c * sc).sum(axis=-1) / np.sqrt((c * c).sum(axis=-1) * (sc * sc).sum(axis=-1))
    f = (w <= mean[:, None]).mean(axis=-1)
    dof = t_dof_from_sign_correlation(rho)
    z = np.abs(w - mean[:, None]) / (2.0 * rho * np.sqrt(f * (1.0 - f)))[:, None]
    vol = legacy_dd_ewma(z)
    fin = np.where(np.isinf(dof), 3.0, dof)
    q = sps.t.ppf(0.05, fin)
    var = -1000 * vol * np.where(np.isinf(dof), sps.norm.ppf(0.05), q * np.sqrt((fin - 2) / fin))
    cvar = 1000 * vol * np.where(np.isinf(dof), sps.norm.pdf(sps.norm.ppf(0.05)) / 0.05,
                                 np.sqrt((fin - 2) / fin) * sps.t.pdf(q, fin) / 0.05 * (fin + q * q) / (fin - 1))
    frame = pd.DataFrame({"date": dates, "model": "dd-ewma", "volatility": vol, "var": var, "cvar": cvar,
                          "mad": 2 * rho * vol * np.sqrt(f * (1 - f)), "rho": rho, "dof": dof,
                          "window_start": pd.DatetimeIndex(window_dates[:, 0]),
                          "window_end": pd.DatetimeIndex(window_dates[:, -1])})
    frame["alpha"] = 0.0
    frame["rmse"] = 0.0
    return frame


def universe(n_assets: int | None) -> list[pd.Series]:
    folder = data_dir() / "sp500" / "daily_adjusted"
    out = []
    for path in sorted(folder.glob("*.csv"))[:n_assets]:
        try:
            p = load_series(path, "adjusted_close")
        except MarketcastError:
            continue  # the file holding an API error message
        if len(p) > 504 + 251:
            out.append(p)
    return out


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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=None, help="first N S&P 500 files only (default: all)")
    args = parser.parse_args()
    vix = load_series(data_dir() / "VIX_History.csv")
    r = log_returns(vix)
    i = r.index.get_loc("2021-05-24")
    z = sample_volatility(r.iloc[i - 504 : i].to_numpy())
    ref = dd_ewma(z).volatility[0]
    assert abs(lfilter_version(z) - ref) < 1e-12 and abs(loop_version(z) - ref) < 1e-12
    rows = []

    def numpy_dd_ewma():
        os.environ[ewma.KERNEL_SWITCH] = "numpy"
        try:
            return dd_ewma(z)
        finally:
            del os.environ[ewma.KERNEL_SWITCH]

    for name, fn in [(f"marketcast ({ewma.kernel_in_use()} kernel)", lambda: dd_ewma(z)),
                     ("marketcast, NumPy fallback", numpy_dd_ewma),
                     ("closed form (before issue 12)", lambda: legacy_dd_ewma(z[None, :])),
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

    assets = universe(args.assets)
    starts = [p.index[-250] for p in assets]
    for p, s in zip(assets[:3], starts):  # the same numbers as the path it replaces
        new = rolling_volatility(p, window=504, start=s)
        old = legacy_rolling(p, 504, s)
        np.testing.assert_allclose(new["volatility"], old["volatility"], rtol=1e-12)
        np.testing.assert_allclose(new["cvar"], old["cvar"], rtol=1e-12)
    rows, per = [], {}
    for label, fn in [("marketcast", lambda p, s: rolling_volatility(p, window=504, start=s)),
                      ("before issue 12", lambda p, s: legacy_rolling(p, 504, s))]:
        n, t0, c0 = 0, time.perf_counter(), time.process_time()
        for p, s in zip(assets, starts):
            n += len(fn(p, s))
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        per[label] = wall / n
        rows.append((label, len(assets), n, f"{wall:.2f}", f"{wall / n * 1e6:.1f}", f"{cpu / n * 1e6:.1f}"))
    rows.append(("ratio", "", "", "", f"{per['before issue 12'] / per['marketcast']:.1f}x", ""))
    print_table("S&P 500 universe: rolling DD-EWMA + VaR/CVaR/MAD, 250 days + live, window 504 (loading excluded)",
                rows, ("path", "assets", "forecasts", "seconds", "us per forecast (wall)", "us (CPU)"))


if __name__ == "__main__":
    main()
