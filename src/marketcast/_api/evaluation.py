"""Rolling volatility and risk, backtests and reports: ``volatility``, ``backtest``, ``backtest_summary``, ``report``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from marketcast._api.common import ProgressFactory, _names, _params, _progress
from marketcast._api.data import _prices

if TYPE_CHECKING:
    import pandas as pd


def volatility(
    data,
    *,
    models: str | Sequence[str] = ("dd-ewma",),
    window: int = 504,
    start=None,
    end=None,
    tail: float = 0.05,
    notional: float = 1000.0,
    jobs: int | None = None,
    seed: int | None = None,
    params: dict | None = None,
    column: str | None = None,
    adjust_splits: bool | Sequence[str] = False,
    progress: ProgressFactory | None = None,
    refit_every: int = 1,
) -> pd.DataFrame:
    """One-day-ahead volatility, VaR, CVaR and MAD for each day (``marketcast volatility``).

    Each forecast for day *t* is fitted on the ``window`` log returns up to the day before
    (VIX paper Tables V-VII); without ``start`` and ``end`` the next business day after the
    data is forecast.

    Parameters
    ----------
    data : Series, str or Path
        Prices, or what :func:`load_prices` reads.
    models : str or sequence of str
        Volatility models (``"dd-ewma,garch"`` or ``["dd-ewma", "garch"]``).
    window : int
        Log returns per forecast window.
    start, end : date-like, optional
        First and last day to forecast (``--from``, ``--to``).
    tail, notional : float
        Tail probability and position size of VaR and CVaR.
    jobs : int, optional
        Processes for NNAR and Prophet over many windows (default all cores); same numbers for any.
    seed : int, optional
        Seed of the stochastic models.
    params : dict, optional
        Hyper-parameters (``-p KEY=VALUE``).
    column, adjust_splits :
        As in :func:`load_prices`.
    progress : callable, optional
        A :data:`ProgressFactory`; one unit per model.
    refit_every : int
        GARCH-type models refit every ``refit_every`` days and filter with fixed parameters in
        between (``--refit-every``; rugarch's ``ugarchroll(refit.every=)``); 1 refits daily.

    Returns
    -------
    DataFrame
        One row per day and model: ``date, model, volatility, var, cvar, mad, rho, dof,
        distribution, abs_return, return, tail, notional, window_start, window_end, seconds`` and
        the model's own columns (DD-EWMA: ``alpha``, ``rmse``); see
        :func:`marketcast.volatility.rolling_volatility`.
    """
    from marketcast.models.params import check_jobs
    from marketcast.models.registry import configured_models
    from marketcast.volatility import rolling_volatility

    jobs = check_jobs(jobs)
    names = _names(models)
    instances = configured_models(names, "volatility", _params(params, seed))
    prices = _prices(data, column, adjust_splits)
    total = len(names) * _forecast_days(prices, window, start, end) if progress is not None else 0
    with _progress(progress, "volatility forecasts", total) as tick:
        return rolling_volatility(
            prices,
            window=window,
            start=start,
            end=end,
            models=instances,
            tail=tail,
            notional=notional,
            progress=tick,
            n_jobs=jobs,
            refit_every=refit_every,
        )


def _forecast_days(prices: pd.Series, window: int, start, end) -> int:
    """How many days :func:`~marketcast.volatility.rolling_volatility` forecasts: its progress
    counts windows, one per day and model. Bad settings count one; the call itself then says why."""
    from marketcast.errors import MarketcastError
    from marketcast.volatility import forecast_count

    try:
        return forecast_count(prices, int(window), start, end)
    except (MarketcastError, TypeError, ValueError):
        return 1


def backtest(
    data,
    *,
    models: str | Sequence[str] = ("sma", "naive"),
    window: int = 504,
    horizon: int = 21,
    start=None,
    step: int | None = None,
    slices: int | None = None,
    seed: int | None = None,
    params: dict | None = None,
    column: str | None = None,
    adjust_splits: bool | Sequence[str] = False,
    progress: ProgressFactory | None = None,
) -> pd.DataFrame:
    """Rolling-origin backtest of price models (``marketcast backtest``; VIX paper Tables II-III).

    Slice *i* is ``window`` rows starting ``(i - 1) * step`` rows after ``start``; each model is a
    fresh clone fitted on its first ``window - horizon`` rows and scored on the last ``horizon``.

    Parameters
    ----------
    data : Series, str or Path
        Prices, or what :func:`load_prices` reads.
    models : str or sequence of str
        Price models.
    window, horizon : int
        Rows per slice, and rows held out (and forecast) at its end.
    start : date-like, optional
        First date of slice 1 (default: the first row).
    step, slices : int, optional
        Rows between slice starts (default: the horizon); number of slices (default: all that fit).
    seed, params, column, adjust_splits :
        As in :func:`volatility`.
    progress : callable, optional
        A :data:`ProgressFactory`; one unit per fit.

    Returns
    -------
    DataFrame
        ``slice, start, end, model, horizon, rmse, mae``, one row per slice and model (the
        ``--out`` file); ``attrs`` holds ``source``, ``window`` and ``horizon``. The mean and SD
        across slices: :func:`backtest_summary`. The forecasts themselves:
        :func:`marketcast.backtest.backtest`.
    """
    from marketcast.backtest import backtest as run_backtest
    from marketcast.backtest import rolling_origins
    from marketcast.models.registry import configured_models

    names = _names(models)
    instances = configured_models(names, "price", _params(params, seed))
    prices = _prices(data, column, adjust_splits)
    n = len(
        rolling_origins(
            prices.index,
            window=window,
            horizon=horizon,
            start=start,
            step=step,
            slices=slices,
            source=str(prices.attrs.get("source")),
        )
    )
    with _progress(progress, "backtest fits", n * len(names)) as tick:
        return run_backtest(
            prices, instances, window=window, horizon=horizon, start=start, step=step, slices=slices, progress=tick
        ).scores


def backtest_summary(scores: pd.DataFrame) -> pd.DataFrame:
    """Mean and SD (ddof=1) of RMSE and MAE across slices, per model: ``model, horizon, rmse, mae, stat``."""
    from marketcast.backtest import BacktestResult

    return BacktestResult(scores=scores, forecasts=scores.iloc[:0]).summary()


def report(results: Sequence[Any], out, *, png_dir=None, title: str | None = None) -> Path:
    """One self-contained HTML report of results (``marketcast report``).

    Parameters
    ----------
    results : sequence
        Result files (``.csv``/``.parquet``/``.json`` of backtest, volatility or forecast),
        saved models' directories (their training curves), or the frames returned by
        :func:`volatility`, :func:`backtest` and :func:`forecast`.
    out : str or Path
        The ``.html`` file to write (atomically; it opens offline).
    png_dir : str or Path, optional
        Also write every chart as a PNG into this folder.
    title : str, optional
        Default: the results' names.

    Returns
    -------
    Path
        The report written.
    """
    from marketcast.report.results import build_report

    return build_report(list(results), out, title=title, png_dir=png_dir)
