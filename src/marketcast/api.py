"""The Python front door: what every command of ``marketcast`` does, as one function each.

>>> import marketcast as mc
>>> prices = mc.load_prices("VIX_History.csv")                                    # doctest: +SKIP
>>> vol = mc.volatility(prices, models=["dd-ewma", "garch"], start="2021-05-18")   # doctest: +SKIP
>>> fc = mc.forecast(prices, model="sma", horizon=5, levels=(0.9,))               # doctest: +SKIP

Names, parameters and defaults are those of the command line's options (``--from`` is
``start``, ``-p KEY=VALUE`` is ``params={KEY: VALUE}``, ``--jobs`` is ``jobs``); every function
returns pandas objects whose columns and numbers are those of the command's ``--out`` file. The
command line, the service and the universe job call these functions and hold no model logic.
Wrong input raises a :class:`~marketcast.errors.MarketcastError` (the command line exits with
status 2, the service answers 4xx).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from marketcast.errors import DataError, MarketcastWarning, ModelError

if TYPE_CHECKING:
    import pandas as pd

    from marketcast.data.quality import QualityReport
    from marketcast.models.base import Forecaster

__all__ = [
    "load_prices",
    "check_data",
    "volatility",
    "backtest",
    "backtest_summary",
    "forecast",
    "train",
    "get_model",
    "save_model",
    "load_model",
    "models",
    "report",
    "ProgressFactory",
]

#: ``progress(description, total)`` returns a context manager that yields ``tick(n)``, called
#: with each ``n`` units of work done out of ``total`` (model fits, epochs). The library says
#: what the units are; the caller draws the bar (Rich in the command line, tqdm in a notebook).
ProgressFactory = Callable[[str, int], AbstractContextManager[Callable[[int], None]]]


@contextlib.contextmanager
def _progress(factory: ProgressFactory | None, description: str, total: int) -> Iterator[Callable[[int], None] | None]:
    if factory is None:
        yield None
        return
    with factory(description, total) as tick:
        yield tick


# --------------------------------------------------------------------------- data


def load_prices(data, *, column: str | None = None, adjust_splits: bool = False) -> pd.Series:
    """Read one daily price series.

    Parameters
    ----------
    data : str, Path or Series
        A price file as published (CBOE, Kaggle NIFTY-50 and ``*.us.txt``, Alpha Vantage and Yahoo
        exports; CSV, TXT or Parquet), or ``SOURCE:SYMBOL`` (``yahoo:AAPL``) fetched earlier into
        the local store with ``marketcast data fetch``. A Series is validated and returned.
    column : str, optional
        The price column (default: the close). ``--column``.
    adjust_splits : bool
        Divide prices before each split or bonus issue by its ratio. ``--adjust-splits``.

    Returns
    -------
    Series
        Positive float prices on a sorted ``DatetimeIndex``; ``attrs["source"]`` names the file,
        ``attrs["column"]`` the column, ``attrs["skipped_missing"]`` rows left out for lack of a
        price (if any).

    Warns
    -----
    MarketcastWarning
        When rows without a price were left out.

    Raises
    ------
    DataError
        The file cannot be read, has no such column, or holds non-positive prices.
    """
    from marketcast.data import as_series, resolve_input

    if _is_series(data):
        if column is not None or adjust_splits:
            raise DataError("column and adjust_splits apply to files, not to a Series already loaded")
        return as_series(data)
    if not isinstance(data, str | Path):
        raise DataError(f"data must be a file path, SOURCE:SYMBOL or a Series, not {type(data).__name__}")
    series = resolve_input(data, column=column, adjust_splits=adjust_splits)
    for note in series.attrs.get("notes", []):  # e.g. intraday rows taken to daily closes
        warnings.warn(note, MarketcastWarning, stacklevel=2)
    skipped = series.attrs.get("skipped_missing")
    if skipped:  # a return then spans the days around the hole
        warnings.warn(
            f"{series.attrs.get('source')}: skipped {skipped['rows']} row(s) with no "
            f"'{series.attrs.get('column')}' value, first on {skipped['first']} ({skipped['where']})",
            MarketcastWarning,
            stacklevel=2,
        )
    return series


def _is_series(value) -> bool:
    return type(value).__name__ == "Series" and type(value).__module__.startswith("pandas")


def check_data(data, *, column: str | None = None) -> QualityReport:
    """The data-quality report of a price file (``marketcast data check``).

    Parameters
    ----------
    data : str or Path
        A price file.
    column : str, optional
        The price column a model would use (default: the close).

    Returns
    -------
    QualityReport
        Rows, date range, gaps, missing values, non-positive prices, inconsistent bars and
        suspected splits; ``problems`` lists what to act on, ``as_dict()`` is what ``--json``
        prints, and ``frame`` has one row per finding (``check, column, date, line, value,
        detail``).
    """
    from marketcast.data import check_quality, read_prices

    price_data = read_prices(data)
    for note in price_data.notes:
        warnings.warn(note, MarketcastWarning, stacklevel=2)
    return check_quality(price_data, column)


# --------------------------------------------------------------------------- models


def get_model(
    name: str, target: str = "price", *, levels=None, calibration_windows: int = 20, horizon: int = 21, **params: Any
) -> Forecaster:
    """An unfitted model by registry name.

    Parameters
    ----------
    name : str
        A name from :func:`models` (``"lstm"``, ``"garch"``), or ``"ensemble(sma,lstm)"``.
    target : {"price", "volatility"}
        Which name space: ``prophet`` and ``nnar`` are both.
    levels : sequence of float, optional
        Price models only: interval levels the model will be asked for; a model without its own
        predictive distribution is then wrapped in conformal intervals calibrated on
        ``calibration_windows`` backtest windows of up to ``horizon`` steps (``--levels``,
        ``--calibration-windows``, ``--horizon`` of ``marketcast train``).
    **params
        Hyper-parameters (``-p KEY=VALUE``); an ensemble passes on those its members take.

    Returns
    -------
    Forecaster or VolatilityModel
        ``fit`` returns the model; price models then give ``predict``, ``predict_interval`` and
        :meth:`~marketcast.models.base.Forecaster.predict_frame`.

    Raises
    ------
    ModelError
        Unknown model or a parameter no model in it takes.
    """
    if target == "price":
        from marketcast.fitting import price_model

        return price_model(name, params, levels=levels, calibration_windows=calibration_windows, horizon=horizon)
    if target != "volatility":
        raise ModelError(f"target must be 'price' or 'volatility', not '{target}'")
    if levels is not None:
        raise ModelError("levels apply to price models only")
    from marketcast.models.registry import configured_models

    return configured_models([name], "volatility", params)[0]


def models(target: str | None = None) -> pd.DataFrame:
    """The registry as a frame (``marketcast models``).

    Parameters
    ----------
    target : {"price", "volatility"}, optional
        Only the models of this target.

    Returns
    -------
    DataFrame
        ``name, target, summary`` and the default model's
        :class:`~marketcast.models.base.Capabilities`: ``recursive, stochastic,
        native_intervals, split_safe, window_parallel``.
    """
    import pandas as pd

    from marketcast.models.base import Capabilities
    from marketcast.models.registry import get_model as _registered
    from marketcast.models.registry import model_specs

    if target not in (None, "price", "volatility"):
        raise ModelError(f"target must be 'price' or 'volatility', not '{target}'")
    rows = [
        {
            "name": s.name,
            "target": s.target,
            "summary": s.summary,
            **_registered(s.name, s.target).capabilities.as_dict(),
        }
        for s in model_specs(cast(Any, target))  # checked against TARGETS by model_specs
    ]
    return pd.DataFrame(rows, columns=["name", "target", "summary", *Capabilities().as_dict()])


def save_model(
    model: Forecaster,
    path,
    *,
    data: pd.Series | None = None,
    metrics: dict[str, float] | None = None,
    pretrained: list[dict] | None = None,
) -> Path:
    """Save a fitted price model to the directory ``path`` (safetensors + JSON, never pickle).

    Parameters
    ----------
    model : Forecaster
        A fitted price model.
    path : str or Path
        The directory; replaced atomically if it exists.
    data : Series, optional
        The rows the model was trained on: their checksum lets :func:`forecast` with ``load``
        recognise them and forecast from the saved state.
    metrics : dict, optional
        Default: the losses of the epoch whose weights a network keeps.
    pretrained : list of dict, optional
        The ``training`` blocks of the saved models a fine-tuned model started from.
    """
    from marketcast.fitting import training_metrics
    from marketcast.persistence import save_model as _save

    return _save(
        model, path, data=data, metrics=training_metrics(model) if metrics is None else metrics, pretrained=pretrained
    )


def load_model(path) -> Forecaster:
    """Load a model saved by :func:`save_model` or ``marketcast train --save``; files are checked first."""
    from marketcast.persistence import load_model as _load

    return _load(path)


# --------------------------------------------------------------------------- the commands


def _prices(data, column, adjust_splits) -> pd.Series:
    return load_prices(data, column=column, adjust_splits=adjust_splits)


def _names(models_) -> list[str]:
    from marketcast.models.registry import parse_model_list

    if isinstance(models_, str):
        return parse_model_list(models_)
    names = [str(m) for m in models_]
    if not names:
        raise ModelError("no models given")
    return names


def _params(params: dict | None, seed: int | None, epochs: int | None = None) -> dict[str, Any]:
    out = dict(params or {})
    if seed is not None:
        out["seed"] = seed
    if epochs is not None:
        out["epochs"] = epochs
    return out


def _levels(levels) -> tuple[float, ...] | None:
    from marketcast.models.base import check_levels

    return check_levels(levels) if levels else None


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
    adjust_splits: bool = False,
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
    with _progress(progress, "volatility models", len(names)) as tick:
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
    adjust_splits: bool = False,
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


def _price_model(model, params: dict, levels, calibration_windows: int, horizon: int) -> Forecaster:
    """A model to fit: by name from the registry, or a clone of the caller's own with ``params`` set."""
    from marketcast.fitting import price_model
    from marketcast.models.base import Forecaster

    if isinstance(model, str):
        return price_model(model, params, levels=levels, calibration_windows=calibration_windows, horizon=horizon)
    if not isinstance(model, Forecaster):
        raise ModelError(f"model must be a price model name or a Forecaster, not {type(model).__name__}")
    out = model.clone()
    out.set_params(**({k: v for k, v in params.items() if k != "seed"} if not out.stochastic else params))
    if levels and not out.has_native_intervals:
        from marketcast.intervals import ConformalForecaster

        out = ConformalForecaster(out, calibration_windows=calibration_windows, max_horizon=horizon)
    return out


def _fit(model: Forecaster, rows: pd.Series, progress: ProgressFactory | None) -> Forecaster:
    with _progress(progress, f"training {model.name}", model.progress_units()) as tick:
        return model.fit(rows, progress=tick)


def forecast(
    data=None,
    *,
    model: str | Forecaster | None = None,
    horizon: int = 5,
    levels=None,
    train_from=None,
    train_to=None,
    seed: int | None = None,
    epochs: int | None = None,
    params: dict | None = None,
    load=None,
    calibration_windows: int = 20,
    column: str | None = None,
    adjust_splits: bool = False,
    progress: ProgressFactory | None = None,
) -> pd.DataFrame:
    """Fit a model and forecast ``horizon`` business days after the origin (``marketcast forecast``).

    Parameters
    ----------
    data : Series, str or Path, optional
        Prices, or what :func:`load_prices` reads. Optional with ``load``.
    model : str or Forecaster
        A registered price model name, or a model of one's own (it is cloned, not changed).
    horizon : int
        Business days to forecast.
    levels : sequence of float, optional
        Central interval levels, e.g. ``(0.9, 0.95)``. Models without a predictive distribution
        get conformal intervals from ``calibration_windows`` backtest windows of their own.
    train_from, train_to : date-like, optional
        First and last row the model fits on; ``train_to`` is the forecast origin.
    seed, epochs, params :
        Hyper-parameters (``--seed``, ``--epochs``, ``-p``).
    load : str, Path or Forecaster, optional
        A saved model (its directory, or the model :func:`load_model` returned) to forecast with
        instead of fitting one. Given ``data``, it forecasts from the end of the rows
        ``train_from .. train_to``: from its saved state when those are the rows it was trained
        on, else with its parameters on the new rows' latest inputs.
    column, adjust_splits :
        As in :func:`load_prices`.
    progress : callable, optional
        A :data:`ProgressFactory`; units are the training's (epochs of a network).

    Returns
    -------
    DataFrame
        ``date, model, point``, then ``lower_90, upper_90, ...`` per level (and ``sigma_e`` for
        the two-LSTM model), then ``actual`` where ``data`` has the price; ``attrs["origin"]`` is
        the last row the model saw (ISO date).

    Warns
    -----
    MarketcastWarning
        When too few calibration windows let a conformal interval's coverage fall short of its
        level.
    """
    from marketcast.fitting import condition_on, coverage_shortfall, training_rows

    if int(horizon) < 1:
        raise ModelError(f"--horizon must be at least 1, got {horizon}")
    lv = _levels(levels)
    prices = _prices(data, column, adjust_splits) if data is not None else None
    if load is not None:
        if model is not None or params or seed is not None or epochs is not None:
            raise ModelError("--load uses the saved model as it is: drop --model/--param/--seed/--epochs")
        fitted = load_model(load) if isinstance(load, str | Path) else load
        if prices is not None:
            condition_on(fitted, training_rows(prices, train_from, train_to))
        if lv and not fitted.has_native_intervals:
            raise ModelError(
                f"{fitted.name}: this saved model has no prediction intervals; "
                "train it with --levels to calibrate conformal intervals"
            )
    else:
        if model is None or prices is None:
            raise ModelError("give DATA and --model, or --load DIR")
        fitted = _price_model(model, _params(params, seed, epochs), lv, calibration_windows, int(horizon))
        _fit(fitted, training_rows(prices, train_from, train_to), progress)
    note = coverage_shortfall(fitted, lv)
    if note:
        warnings.warn(note, MarketcastWarning, stacklevel=2)
    frame = fitted.predict_frame(int(horizon), lv)
    if prices is not None:
        frame["actual"] = prices.reindex(frame["date"]).to_numpy()
    return frame


def train(
    data,
    *,
    model: str | Forecaster | None = None,
    save=None,
    load=None,
    fine_tune: bool = False,
    levels=None,
    horizon: int = 21,
    train_from=None,
    train_to=None,
    seed: int | None = None,
    epochs: int | None = None,
    params: dict | None = None,
    calibration_windows: int = 20,
    column: str | None = None,
    adjust_splits: bool = False,
    progress: ProgressFactory | None = None,
) -> Forecaster:
    """Fit a model and save it; with ``load`` and ``fine_tune``, train a saved one further (``marketcast train``).

    Parameters
    ----------
    data : Series, str or Path
        Prices, or what :func:`load_prices` reads.
    model : str or Forecaster, optional
        As in :func:`forecast`.
    save : str or Path, optional
        Directory to save the fitted model to. Its manifest records the training rows'
        checksum, the kept epoch's losses and, after fine-tuning, every earlier training run.
    load : str, Path or Forecaster, optional
        With ``fine_tune``: the saved model (or :func:`load_model`'s result) whose weights
        training continues from (Stock-X section IV.C).
    fine_tune : bool
        Continue training ``load``'s network on ``data``; ``params`` (e.g. ``epochs``) apply.
    levels, horizon, calibration_windows :
        Conformal intervals for models without their own, calibrated up to ``horizon`` steps.
    train_from, train_to, seed, epochs, params, column, adjust_splits, progress :
        As in :func:`forecast`.

    Returns
    -------
    Forecaster
        The fitted model; ``n_obs_``, ``first_date_`` and ``last_date_`` say which rows it saw.
    """
    from marketcast.fitting import training_metrics, training_rows

    lv = _levels(levels)
    rows = training_rows(_prices(data, column, adjust_splits), train_from, train_to)
    pretrained: list[dict] = []
    if fine_tune:
        if load is None:
            raise ModelError("--fine-tune needs --load DIR")
        fitted = load_model(load) if isinstance(load, str | Path) else load
        before = getattr(fitted, "manifest_", {})
        pretrained = [*before.get("pretrained", []), before.get("training", {})]
        if "warm_start" not in fitted.get_params():
            raise ModelError(f"{fitted.name}: fine-tuning needs a neural model")
        fitted.set_params(warm_start=True, **_params(params, seed, epochs))
    elif load is not None:
        raise ModelError("--load with train needs --fine-tune")
    else:
        if model is None:
            raise ModelError("give --model NAME (or --load DIR --fine-tune)")
        fitted = _price_model(model, _params(params, seed, epochs), lv, calibration_windows, int(horizon))
    _fit(fitted, rows, progress)
    if save is not None:
        from marketcast.persistence import save_model as _save

        _save(fitted, save, data=rows, metrics=training_metrics(fitted), pretrained=pretrained)
    return fitted


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
