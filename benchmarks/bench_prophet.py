"""Time of Prophet volatility forecasts (Table V's 'Time' column: 1.2-1.6 s in R), Prophet price fits, GARCH.

* one Prophet volatility forecast (PVF): the 504 sample volatilities Z_t of the VIX returns of
  2019-05-23..2021-05-21, forecasting 2021-05-24, with where the time goes (Stan's optimiser
  run through cmdstanpy, against Prophet's own Python);
* the speed-ups considered: L-BFGS (already Prophet's choice for 100+ points), Newton, and a
  warm start from the previous window's parameters, with how far each moves the 21 forecasts
  of Table V (a warm start is only acceptable if it moves nothing beyond ~1e-6);
* one Prophet price fit + 21-day forecast on a 483-day VIX window (a Table II slice), and its
  prediction intervals (1,000 uncertainty samples);
* GARCH(1,1)-t and GJR-GARCH-t, seconds per 504-return window;
* for reference, XGBoost fit + forecast on the same 483 closes with 1 thread and all cores.

    .venv/bin/python benchmarks/bench_prophet.py

Medians of several runs; the machine is shared, so single runs are noisy.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from _common import best_of, data_dir, print_table
from marketcast.data import load_series
from marketcast.models.prophet import (
    ProphetForecaster,
    ProphetVolatility,
    business_days_after,
    fit_prophet,
    point_forecast,
)
from marketcast.stats import log_returns, window_stats


class _StanClock:
    """Adds up the time spent inside ``CmdStanModel.optimize`` (data files, process, CSV)."""

    def __init__(self):
        import cmdstanpy

        self.total = 0.0
        self._cls = cmdstanpy.CmdStanModel
        self._orig = self._cls.optimize

    def __enter__(self):
        clock, orig = self, self._orig

        def timed(model, *args, **kwargs):
            t0 = time.perf_counter()
            try:
                return orig(model, *args, **kwargs)
            finally:
                clock.total += time.perf_counter() - t0

        self._cls.optimize = timed
        return self

    def __exit__(self, *exc):
        self._cls.optimize = self._orig


def _settings() -> dict:
    return ProphetVolatility()._settings()


def _table_v_windows(returns: pd.Series):
    pos = np.flatnonzero((returns.index >= "2021-04-26") & (returns.index <= "2021-05-24"))
    wins = np.stack([returns.to_numpy()[p - 504 : p] for p in pos])
    dates = np.stack([returns.index.to_numpy()[p - 504 : p] for p in pos])
    return wins, dates


def _warm_start_forecasts(z: np.ndarray, dates: np.ndarray) -> np.ndarray:
    from prophet import Prophet

    from marketcast.models.prophet import _quiet_stan

    out, prev = [], None
    for i in range(z.shape[0]):
        kwargs = {}
        if prev is not None:
            p = prev.params
            kwargs["init"] = {"k": float(p["k"][0, 0]), "m": float(p["m"][0, 0]), "sigma_obs": float(p["sigma_obs"][0, 0]),
                              "delta": p["delta"][0], "beta": p["beta"][0]}
        with _quiet_stan():
            model = Prophet(**_settings()).fit(pd.DataFrame({"ds": pd.DatetimeIndex(dates[i]), "y": z[i]}), **kwargs)
        out.append(point_forecast(model, business_days_after(dates[i][-1], 1))[0])
        prev = model
    return np.array(out)


def main() -> None:
    t0 = time.perf_counter()
    import prophet  # noqa: F401  (one-time import cost, reported below)

    import_s = time.perf_counter() - t0

    vix = load_series(data_dir() / "VIX_History.csv")
    r = log_returns(vix)
    i = r.index.get_loc("2021-05-24")
    w = r.iloc[i - 504 : i]
    st = window_stats(w.to_numpy()[None, :])
    dates = w.index.to_numpy()[None, :]
    model = ProphetVolatility()

    first = time.perf_counter()
    model.forecast_windows(w.to_numpy()[None, :], st, dates)
    first_s = time.perf_counter() - first  # loads the Stan model, warms caches
    t_pvf = best_of(lambda: model.forecast_windows(w.to_numpy()[None, :], st, dates), repeat=9)
    with _StanClock() as clock:
        n = 9
        for _ in range(n):
            model.forecast_windows(w.to_numpy()[None, :], st, dates)
    stan_s = clock.total / n
    z = st.z[0]
    t_fit = best_of(lambda: fit_prophet(w.index, z, _settings()), repeat=9)
    fitted = fit_prophet(w.index, z, _settings())
    nxt = business_days_after(w.index[-1], 1)
    t_pred = best_of(lambda: point_forecast(fitted, nxt), repeat=9, number=5)
    t_newton = best_of(lambda: fit_prophet(w.index, z, _settings(), algorithm="Newton"), repeat=3)
    rows = [
        ("whole forecast (fit + 1-day predict), median", f"{t_pvf:.3f}"),
        ("  of which Stan optimize via cmdstanpy (files, process, CSV)", f"{stan_s:.3f}"),
        ("  Prophet fit in total (Python preprocessing + Stan)", f"{t_fit:.3f}"),
        ("  Prophet predict of one day", f"{t_pred:.3f}"),
        ("first forecast in a process (after import)", f"{first_s:.3f}"),
        ("import prophet (once per process)", f"{import_s:.3f}"),
        ("fit with algorithm='Newton' (Prophet's choice below 100 points)", f"{t_newton:.3f}"),
        ("the paper's R (Table V, 'Time' of Prophet)", "1.241-1.587"),
    ]
    print_table("Prophet volatility forecast, 504 VIX Z values, window ending 2021-05-21 (seconds)", rows,
                ("step", "s"))

    wins, wdates = _table_v_windows(r)
    wst = window_stats(wins)
    t0 = time.perf_counter()
    cold = ProphetVolatility().forecast_windows(wins, wst, wdates).volatility
    cold_s = (time.perf_counter() - t0) / len(wins)
    t0 = time.perf_counter()
    lbfgs = ProphetVolatility(algorithm="LBFGS").forecast_windows(wins, wst, wdates).volatility
    lbfgs_s = (time.perf_counter() - t0) / len(wins)
    t0 = time.perf_counter()
    warm = _warm_start_forecasts(wst.z, wdates)
    warm_s = (time.perf_counter() - t0) / len(wins)
    rows = [
        ("independent fits, Prophet's default start (used)", f"{cold_s:.3f}", "0"),
        ("algorithm='LBFGS' passed explicitly", f"{lbfgs_s:.3f}", f"{np.abs(lbfgs - cold).max():.1e}"),
        ("warm start: init = previous window's parameters", f"{warm_s:.3f}", f"{np.abs(warm - cold).max():.1e}"),
    ]
    print_table("Table V: 21 rolling Prophet volatility forecasts", rows,
                ("variant", "s per forecast", "max |change| of a forecast"))

    train = vix.loc[:"2021-04-23"].iloc[-483:]
    pf = ProphetForecaster()
    t_price = best_of(lambda: ProphetForecaster().fit(train).predict(21), repeat=7)
    fitted_price = pf.fit(train)
    t_interval = best_of(lambda: fitted_price.predict_interval(21), repeat=7)
    rows = [
        ("fit + 21-day point forecast", f"{t_price:.3f}"),
        ("predict_interval(21), levels 0.9/0.95/0.99, 1,000 samples", f"{t_interval:.3f}"),
    ]
    print_table("Prophet on VIX closes, 483 days ending 2021-04-23 (seconds)", rows, ("step", "s"))

    from marketcast.models.garch import GARCHVolatility, GJRGARCHVolatility

    rows = []
    for m in (GARCHVolatility(), GJRGARCHVolatility()):
        one = best_of(lambda: m.forecast_windows(w.to_numpy()[None, :], st), repeat=9)
        t0 = time.perf_counter()
        m.forecast_windows(wins, wst)
        per = (time.perf_counter() - t0) / len(wins)
        rows.append((m.name, f"{one * 1e3:.1f}", f"{per * 1e3:.1f}"))
    print_table("GARCH-t volatility, 504 VIX returns (ms per window)", rows,
                ("model", "one window, median", "Table V's 21 windows, mean"))

    from marketcast.models.boosting import XGBoostForecaster, available_cores

    rows = []
    for n_jobs in sorted({1, available_cores()}):
        t = best_of(lambda: XGBoostForecaster(n_jobs=n_jobs).fit(train).predict(21), repeat=5)
        rows.append((n_jobs, f"{t:.3f}"))
    print_table("XGBoost (Stock-X windows of 100) on the same 483 VIX closes: fit + 21-day forecast (seconds)",
                rows, ("threads", "s"))


if __name__ == "__main__":
    main()
