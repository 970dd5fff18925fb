"""Rolling one-step volatility and risk forecasts (Table V-VII of the VIX paper).

The forecast for trading day *t* uses the ``window`` log returns that end on the trading day
before *t*: with a window of 504, the returns of 2019-05-23..2021-05-21 forecast 2021-05-24.
All forecast dates are computed as one stack of windows, so a model that vectorises across
windows (DD-EWMA) forecasts a month of days in about the time of one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd

from marketcast.backtest import model_key
from marketcast.data.series import as_series, source_of
from marketcast.errors import DataError, ModelError
from marketcast.models.base import VolatilityModel
from marketcast.risk_measures import conditional_value_at_risk, mean_absolute_deviation, value_at_risk
from marketcast.stats import STATS_BLOCK, log_returns, window_stats_by_block

#: Windows a rolling run forecasts at once with a split-safe model: memory bounded whatever the days.
ROLLING_BLOCK = STATS_BLOCK

__all__ = ["rolling_volatility", "forecast_dates", "forecast_count", "VOLATILITY_COLUMNS"]

VOLATILITY_COLUMNS = [
    "date",
    "model",
    "volatility",
    "var",
    "cvar",
    "mad",
    "rho",
    "dof",
    "distribution",
    "abs_return",
    "return",
    "tail",
    "notional",
    "window_start",
    "window_end",
    "seconds",
]


def forecast_dates(returns: pd.Series, window: int, start=None, end=None) -> tuple[np.ndarray, pd.DatetimeIndex]:
    """Positions (in ``returns``) and dates of the days to forecast.

    Without ``start`` and ``end`` this is the next business day after the data (a live
    forecast). Days inside the data are its trading days in ``[start, end]``; when ``end`` is
    omitted or lies past the data, the next business day after the last one is added. With
    ``end`` alone the days start at the first one with a full window of returns before it.
    """
    return _forecast_positions(returns.index, source_of(returns), window, start, end)


def _forecast_positions(idx: pd.DatetimeIndex, source: str, window: int, start, end):
    """:func:`forecast_dates` on the returns' dates ``idx`` (``source`` names the input in errors)."""
    if len(idx) < 2:  # one price or two: no window of returns at all
        raise DataError(
            f"{source}: {len(idx) + 1} row(s), but a volatility forecast from a window of "
            f"{window} returns needs at least {window + 1} rows"
        )
    live = idx[-1] + pd.offsets.BDay(1)
    lo = pd.Timestamp(start) if start is not None else None
    hi = pd.Timestamp(end) if end is not None else None
    if lo is None and hi is None:
        pos = np.array([len(idx)])
        dates = pd.DatetimeIndex([live])
    else:
        pos = _days_between(idx, lo, hi, window)
        dates = idx[pos]
        if (hi is None or hi >= live) and (lo is None or lo <= live):
            pos = np.append(pos, len(idx))
            dates = dates.append(pd.DatetimeIndex([live]))
    if pos.size == 0:
        # Without --from the days start at the first with a full window (see above).
        first_day = f"{idx[window].date()} (the first with a full window)" if len(idx) > window else "the start"
        raise DataError(f"{source}: no trading days between {_d(lo, first_day)} and {_d(hi, 'the end of the data')}")
    first = int(pos[0])
    if first < window:
        have = first
        when = dates[0].date()
        raise DataError(f"{source}: {have} returns before {when}, but a window of {window} returns needs {window}")
    return pos, dates


def _days_between(idx: pd.DatetimeIndex, lo, hi, window: int) -> np.ndarray:
    """Positions of the dates in ``[lo, hi]`` (from the ``window``-th without ``lo``)."""
    if idx.is_monotonic_increasing:  # the checked series: two binary searches, not two passes
        try:
            first = window if lo is None else int(idx.searchsorted(lo, side="left"))
            stop = len(idx) if hi is None else int(idx.searchsorted(hi, side="right"))
            return np.arange(first, max(first, stop))
        except (TypeError, ValueError):  # a bound finer than the dates' unit, or with a time zone: the
            pass  # comparisons below take the first, and refuse the second with pandas' own error
    mask = np.ones(len(idx), dtype=bool)
    if lo is not None:
        mask &= idx >= lo
    else:
        mask[:window] = False
    if hi is not None:
        mask &= idx <= hi
    return np.flatnonzero(mask)


def _d(ts, missing: str) -> str:
    return missing if ts is None else str(pd.Timestamp(ts).date())


def _resolve_models(models: Sequence[str | VolatilityModel]) -> list[VolatilityModel]:
    from marketcast.models.registry import get_model

    out = []
    for m in models:
        out.append(get_model(m, "volatility") if isinstance(m, str) else m)
    if not out:
        raise ModelError("no volatility models given")
    return out


def _reuse_members(model, done: dict[tuple, np.ndarray]):
    """A volatility ensemble whose members were all computed already averages their forecasts."""
    from marketcast.models.base import VolatilityForecast

    members = getattr(model, "member_models", None)
    if members is None:
        return None
    keys = [model_key(m) for m in members()]
    if all(k in done for k in keys):
        return VolatilityForecast(model.combine([done[k] for k in keys]))
    return None


#: Fewest windows for which a model that fits windows one by one is split across processes:
#: below it, starting the workers costs more than it saves.
MIN_PARALLEL_WINDOWS = 64


def _forecast_windows(
    model: VolatilityModel,
    windows: np.ndarray,
    stats,
    dates: np.ndarray,
    n_jobs: int,
    progress: Callable[[int], None] | None = None,
):
    """``model.forecast_windows`` on all windows; split into chunks when the model fits windows one
    by one (NNAR, Prophet), run in parallel (joblib's process workers) where there are many, with
    ``progress`` told of each chunk's windows. Splitting changes no forecast of such a model."""
    from marketcast.models.base import VolatilityForecast

    n = len(windows)
    if model.split_safe and not model.parallel_windows and n > ROLLING_BLOCK:
        # Block by block, so that memory stays bounded however many days (DD-EWMA's z and grid).
        blocks = []
        for i in range(0, n, ROLLING_BLOCK):
            block = slice(i, i + ROLLING_BLOCK)
            blocks.append(model.forecast_windows(windows[block], stats.take(block), dates[block]))
            if progress is not None:
                progress(len(blocks[-1].volatility))
        return _concatenate(blocks)
    if not model.parallel_windows or n < 2:
        whole = model.forecast_windows(windows, stats, dates)
        if progress is not None:
            progress(n)
        return whole
    workers = n_jobs if n_jobs >= 2 and n >= MIN_PARALLEL_WINDOWS else 1
    parts = np.array_split(np.arange(n), min(n, max(8, 4 * workers)))
    tasks = ((windows[rows], stats.take(rows), dates[rows]) for rows in parts)
    if workers == 1:
        results = (model.forecast_windows(*task) for task in tasks)
    else:
        from joblib import Parallel, delayed

        # In order, as each chunk finishes: the progress moves while the rest still run.
        results = Parallel(n_jobs=workers, return_as="generator")(delayed(model.forecast_windows)(*t) for t in tasks)
    out: list[VolatilityForecast] = []
    for rows, res in zip(parts, results, strict=True):
        out.append(res)
        if progress is not None:
            progress(len(rows))
    return _concatenate(out)


def _concatenate(parts):
    """One :class:`~marketcast.models.base.VolatilityForecast` of consecutive chunks' forecasts."""
    from marketcast.models.base import VolatilityForecast

    extra = {key: np.concatenate([np.asarray(o.extra[key]) for o in parts]) for key in parts[0].extra}
    dof = None if parts[0].dof is None else np.concatenate([o.dof for o in parts])
    return VolatilityForecast(np.concatenate([o.volatility for o in parts]), extra, dof)


def forecast_count(prices: pd.Series, window: int, start=None, end=None) -> int:
    """How many days :func:`rolling_volatility` forecasts with these settings (its ``progress``
    counts one window per day and model), by :func:`forecast_dates`' rule."""
    return len(forecast_dates(cast(pd.Series, log_returns(prices)), window, start, end)[0])


def rolling_volatility(
    prices: pd.Series,
    *,
    window: int = 504,
    start=None,
    end=None,
    models: Sequence[str | VolatilityModel] = ("dd-ewma",),
    tail: float = 0.05,
    notional: float = 1000.0,
    progress: Callable[[int], None] | None = None,
    n_jobs: int | None = None,
    refit_every: int = 1,
) -> pd.DataFrame:
    """One-step volatility, VaR, CVaR and MAD forecasts for each day in ``[start, end]``.

    Parameters
    ----------
    prices
        Daily prices (a validated series, see :func:`marketcast.data.as_series`).
    window
        Number of log returns each forecast is fitted on (504 in the paper).
    start, end
        First and last day to forecast; see :func:`forecast_dates`.
    models
        Volatility model names or instances.
    tail, notional
        Tail probability and position size for VaR and CVaR (0.05 and 1000 in Table VI).
    progress
        Called with each number of windows forecast (one per day and model) as they finish.
    n_jobs
        Processes for models that fit windows one by one (NNAR, Prophet) over at least
        :data:`MIN_PARALLEL_WINDOWS` windows; default every available core, 1 for none. The
        forecasts are the same for any value; ``seconds`` is then wall time per forecast.
    refit_every
        Parametric models (GARCH, GJR-GARCH) refit their parameters every ``refit_every`` days
        and forecast the days in between with the last fitted ones (rugarch's
        ``ugarchroll(refit.every=)``); 1, the default, refits daily. Other models ignore it.

    Returns
    -------
    DataFrame
        One row per forecast date and model with :data:`VOLATILITY_COLUMNS` plus the model's
        own columns (DD-EWMA: ``alpha``, ``rmse``). ``return`` is the realised log return
        :math:`r_t` and ``abs_return`` its absolute value (missing for a live forecast); a VaR
        breach is ``-notional * return > var``. ``seconds`` is the model's time per forecast
        (for an ensemble, the sum of its members'). ``rho``, ``dof`` and ``mad`` come from the
        window's sign correlation, as in the paper; ``distribution`` says whether the risk
        figures use the t or, where the sign correlation reaches sqrt(2/pi), the normal
        (``dof`` is then infinite, which JSON writes as null).
    """
    if not 0 < tail < 1:
        raise DataError(f"--tail must lie in (0, 1), got {tail}")
    if notional <= 0:
        raise DataError(f"--notional must be positive, got {notional}")
    if window < 10:
        raise DataError(f"--window must be at least 10 returns, got {window}")
    if isinstance(refit_every, bool) or int(refit_every) != refit_every or refit_every < 1:
        raise DataError(f"--refit-every must be a whole number of days >= 1, got {refit_every}")
    prices = as_series(prices)
    days = _RollingDays.of(prices, window, start, end)
    from marketcast.models.features import available_cores

    jobs = available_cores() if n_jobs is None else int(n_jobs)
    st = window_stats_by_block(days.windows, ROLLING_BLOCK)
    flat = ~np.isfinite(st.rho)
    if flat.any():
        # Constant prices: every return equals the mean, so there is no sign correlation, no t and
        # no volatility to forecast. Better one clear line than a table of blanks.
        i = int(np.flatnonzero(flat)[0])
        raise DataError(
            f"{source_of(prices)}: the {window} returns before {days.dates[i].date()} are all equal "
            "(constant prices): there is no volatility to forecast"
        )
    n = days.dates.size
    frames = []
    done: dict[tuple, np.ndarray] = {}
    seconds: dict[tuple, float] = {}
    for model in _resolve_models(models):
        if refit_every != 1 and "refit_every" in model.get_params():
            model = model.clone().set_params(refit_every=int(refit_every))
        t0 = time.perf_counter()
        res = _reuse_members(model, done)
        if res is None:
            res = _forecast_windows(model, days.windows, st, days.window_dates, jobs, progress)
            cost = (time.perf_counter() - t0) / n
        else:  # an ensemble of members computed already costs what they cost
            cost = sum(seconds[model_key(m)] for m in cast(Any, model).member_models())
            if progress is not None:
                progress(n)
        done[model_key(model)] = res.volatility
        seconds[model_key(model)] = cost
        frames.append(_model_rows(model.name, res, st, days, tail, notional, cost))
    out = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    out.attrs = {"tail": tail, "notional": notional, "window": window, "source": source_of(prices)}
    return out


@dataclass(frozen=True)
class _RollingDays:
    """The forecast days of a rolling run: their dates, windows of returns and realised returns."""

    dates: pd.DatetimeIndex
    windows: np.ndarray  # (days, window) returns
    window_dates: np.ndarray  # (days, window) dates of those returns
    realised: np.ndarray  # each day's log return, NaN on the live day

    @classmethod
    def of(cls, prices: pd.Series, window: int, start, end) -> _RollingDays:
        # log_returns' numbers (the same ufuncs), without building a Series the rest never reads
        r = np.diff(np.log(prices.to_numpy()))
        return_dates = prices.index[1:]
        pos, dates = _forecast_positions(return_dates, source_of(prices), window, start, end)
        view = np.lib.stride_tricks.sliding_window_view(r, window)
        date_view = np.lib.stride_tricks.sliding_window_view(return_dates.to_numpy(), window)
        # Consecutive days (the usual case) are a view of the windows, not a copy of them.
        rows = slice(pos[0] - window, pos[-1] - window + 1) if (np.diff(pos) == 1).all() else pos - window
        realised = np.full(pos.size, np.nan)
        inside = pos < len(r)
        realised[inside] = r[pos[inside]]
        return cls(dates, view[rows], date_view[rows], realised)


def _model_rows(name: str, res, st, days: _RollingDays, tail: float, notional: float, cost: float) -> pd.DataFrame:
    """One model's rows: :data:`VOLATILITY_COLUMNS` and the model's own columns."""
    dof = res.dof if res.dof is not None else st.dof
    n = days.dates.size
    # Scalars broadcast and strings given as object arrays: pandas' own broadcasting and
    # inference cost more than the forecast on a one-day call (the service's).
    columns = {
        "date": days.dates,
        "model": np.full(n, name, dtype=object),
        "volatility": res.volatility,
        "var": value_at_risk(res.volatility, dof, tail, notional),
        "cvar": conditional_value_at_risk(res.volatility, dof, tail, notional),
        "mad": mean_absolute_deviation(res.volatility, st.rho, st.cdf_mean),
        "rho": st.rho,
        "dof": dof,
        "distribution": np.where(np.isinf(dof), "normal", "t").astype(object),
        "abs_return": np.abs(days.realised),
        "return": days.realised,
        "tail": np.full(n, tail),
        "notional": np.full(n, notional),
        "window_start": days.window_dates[:, 0],
        "window_end": days.window_dates[:, -1],
        "seconds": np.full(n, cost),
    }
    # One constructor call: inserting the model's columns one by one costs milliseconds.
    columns.update(res.extra)
    return pd.DataFrame(columns)
