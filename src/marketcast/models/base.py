"""The two model protocols every marketcast model follows.

* :class:`Forecaster` (prices): ``fit(y)`` on a date-indexed history returns ``self``;
  ``predict(horizon)`` returns the next ``horizon`` values (recursive where the paper is);
  ``forecast(y, horizon)`` does both on a fresh clone. Hyper-parameters live in ``__init__``,
  learned state ends in ``_`` (scikit-learn's convention), so :meth:`Forecaster.clone` gives an
  untrained copy for every backtest slice.
* What a model can do (recursive, stochastic, native intervals, split-safe, window-parallel)
  is declared once per class in :class:`Capabilities`; whether it is fitted follows one rule,
  :func:`check_is_fitted`; :meth:`Forecaster.predict_frame` gives dated forecasts.
* :class:`VolatilityModel`: one-step volatility forecasts from windows of log returns. The
  rolling engine hands a whole stack of windows to :meth:`VolatilityModel.forecast_windows`,
  so a model that can vectorise across windows (DD-EWMA) does, and others loop.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd

from marketcast.data.series import as_series
from marketcast.errors import DataError, ModelError, NotFittedError

__all__ = [
    "Estimator",
    "Forecaster",
    "VolatilityModel",
    "VolatilityForecast",
    "IntervalForecast",
    "Capabilities",
    "check_is_fitted",
    "check_levels",
    "business_days_after",
]


def business_days_after(origin, horizon: int) -> pd.DatetimeIndex:
    """The ``horizon`` business days (Monday-Friday) after ``origin``, named ``date``."""
    return pd.bdate_range(pd.Timestamp(origin) + pd.offsets.BDay(1), periods=int(horizon), name="date")


def check_levels(levels) -> tuple[float, ...]:
    """Validate interval levels (e.g. 0.9, 0.95, 0.99): each strictly between 0 and 1, sorted."""
    out = tuple(sorted(float(x) for x in levels))
    if not out or any(not 0.0 < x < 1.0 for x in out):
        raise ModelError(f"interval levels must lie strictly between 0 and 1, got {list(levels)}")
    return out


def check_finite_forecast(model, values) -> None:
    """Refuse a forecast with NaN or infinite values: it is never returned, scored or written."""
    v = np.asarray(values, dtype=np.float64)
    if np.isfinite(v).all():
        return
    params = model.get_params() if hasattr(model, "get_params") else {}
    hint = (
        f"; lower learning_rate (now {params['learning_rate']:g})"
        if isinstance(params.get("learning_rate"), float)
        else "; check the model's settings (-p)"
    )
    raise ModelError(
        f"{getattr(model, 'name', 'model')}: the forecast is not finite (training diverged or the "
        f"settings do not fit the data){hint}"
    )


@dataclass(frozen=True)
class Capabilities:
    """What a model can do, declared once per model class: ``capabilities = Capabilities(...)``.

    Attributes
    ----------
    recursive : bool
        Multi-step forecasts feed earlier forecasts back as inputs.
    stochastic : bool
        Fitting draws random numbers; the model takes a ``seed`` (same seed, same numbers).
    native_intervals : bool
        The model has its own predictive distribution (implements ``_predict_interval``); the
        others get conformal intervals (:mod:`marketcast.intervals`).
    split_safe : bool
        Volatility models: a window's forecast does not depend on which other windows are
        forecast with it, so the windows may be split across processes.
    window_parallel : bool
        Volatility models: windows are fitted one by one, slowly enough that a long rolling run
        gains from spreading them across processes (NNAR, Prophet). Implies ``split_safe``.
    """

    recursive: bool = False
    stochastic: bool = False
    native_intervals: bool = False
    split_safe: bool = False
    window_parallel: bool = False

    def __post_init__(self) -> None:
        if self.window_parallel and not self.split_safe:
            raise TypeError("window_parallel capabilities need split_safe: split windows must not change forecasts")

    def as_dict(self) -> dict[str, bool]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def check_is_fitted(model, attributes: tuple[str, ...] | None = None, *, what: str = "predict()") -> None:
    """Raise :class:`~marketcast.errors.NotFittedError` unless ``model`` has been fitted (or loaded).

    The one rule for fitted state (scikit-learn's): learned state lives in attributes whose names
    end in ``_``, which only ``fit`` (or loading a saved model) sets. With ``attributes``, those
    particular ones must be there.
    """
    if attributes is not None:
        fitted = all(getattr(model, a, None) is not None for a in attributes)
    else:
        fitted = any(k.endswith("_") and not k.startswith("__") for k in vars(model))
    if not fitted:
        name = getattr(model, "name", "") or type(model).__name__
        raise NotFittedError(f"{name}: call fit() before {what}")


@dataclass
class IntervalForecast:
    """Point forecasts with central prediction intervals at one or more levels.

    ``lower[level]`` and ``upper[level]`` are arrays of the horizon's length; wider levels give
    nested, wider intervals. ``extra`` holds model-specific paths (e.g. ``sigma``, the
    forecast-error volatility of the two-LSTM model).
    """

    point: np.ndarray
    lower: dict[float, np.ndarray]
    upper: dict[float, np.ndarray]
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def to_frame(self, dates=None) -> pd.DataFrame:
        """Columns ``point, lower_90, upper_90, ...`` (levels as percentages), indexed by ``dates``."""
        cols: dict[str, np.ndarray] = {"point": self.point}
        for level in sorted(self.lower):
            tag = f"{level * 100:g}".replace(".", "_")
            cols[f"lower_{tag}"] = self.lower[level]
            cols[f"upper_{tag}"] = self.upper[level]
        cols.update(self.extra)
        return pd.DataFrame(cols, index=dates)


class Estimator:
    """Parameter handling shared by all models (scikit-learn style)."""

    name: ClassVar[str] = ""
    #: What the model can do; see :class:`Capabilities`. A model whose capabilities depend on
    #: its hyper-parameters (an ensemble, a conformal wrapper) makes this a property.
    capabilities: ClassVar[Capabilities] = Capabilities()

    @property
    def stochastic(self) -> bool:
        """Fitting draws random numbers (the model takes a ``seed``)."""
        return self.capabilities.stochastic

    @classmethod
    def _param_names(cls) -> tuple[str, ...]:
        names = _PARAM_NAMES.get(cls)
        if names is None:  # signatures do not change; get_params runs on every forecast call
            names = _PARAM_NAMES[cls] = _init_param_names(cls)
        return names

    def get_params(self) -> dict[str, Any]:
        """Hyper-parameters as given to ``__init__``."""
        return {p: getattr(self, p) for p in self._param_names()}

    def set_params(self, **params: Any) -> Self:
        from marketcast.models.params import validate_params

        for key, value in validate_params(type(self), params, model=self.name or type(self).__name__).items():
            setattr(self, key, value)
        return self

    def clone(self) -> Self:
        """An unfitted copy with the same hyper-parameters."""
        return type(self)(**self.get_params())

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


class Forecaster(Estimator):
    """Base class of point forecasters of a price (or any positive) series."""

    capabilities = Capabilities(recursive=True)
    # Set by loading a saved model (persistence.load_model): the manifest it was saved with.
    manifest_: dict[str, Any]

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        declared = cls.capabilities
        implements = cls._predict_interval is not Forecaster._predict_interval
        if isinstance(declared, Capabilities) and declared.native_intervals != implements:
            raise TypeError(
                f"{cls.__name__}: capabilities say native_intervals={declared.native_intervals}, but the "
                f"class {'implements' if implements else 'does not implement'} _predict_interval"
            )

    @property
    def recursive(self) -> bool:
        """Multi-step forecasts feed earlier forecasts back as inputs."""
        return self.capabilities.recursive

    def min_history(self, horizon: int = 1) -> int:
        """The fewest observations :meth:`fit` accepts (for a later ``predict(horizon)``)."""
        return 1

    def fit(self, y: pd.Series | np.ndarray, *, progress=None) -> Self:
        """Fit on the history ``y``; returns ``self``.

        ``progress``, if given, is called with a count of finished units of work (epochs for
        neural networks) so that a caller can show a progress bar.
        """
        series = as_series(y, name=self.name or "y", positive=False)
        need = self.min_history()
        if len(series) < need:
            raise DataError(
                f"{series.attrs.get('source', 'series')}: {len(series)} rows, but {self._what()} needs at least {need}"
            )
        self._progress = progress
        try:
            self._fit(series)
        finally:
            self._progress = None
        self.n_obs_ = len(series)
        self.first_date_ = series.index[0]
        self.last_date_ = series.index[-1]
        # Kept for conformal intervals calibrated on request (see predict_interval); not saved.
        self.training_data_ = series
        self._calibrations: dict[int, Any] = {}
        return self

    def _what(self) -> str:
        """How error messages name this model."""
        return self.name

    def _tick(self, n: int = 1) -> None:
        if getattr(self, "_progress", None) is not None:
            self._progress(n)

    def progress_units(self) -> int:
        """How many progress units a fit reports (epochs for neural networks), for progress bars."""
        return 0

    def predict(self, horizon: int) -> np.ndarray:
        """Forecast the next ``horizon`` values after the end of the fitted history."""
        check_is_fitted(self, ("n_obs_",), what="predict()")
        if int(horizon) < 1:
            raise ModelError(f"horizon must be at least 1, got {horizon}")
        out = np.asarray(self._predict(int(horizon)), dtype=np.float64)
        if out.shape != (int(horizon),):
            raise ModelError(f"{self.name}: predicted shape {out.shape}, expected ({horizon},)")
        check_finite_forecast(self, out)
        return out

    def condition(self, y: pd.Series | np.ndarray) -> Self:
        """Forecast from the end of ``y`` with the fitted parameters, without training again.

        A network trained on one stock forecasts another from that stock's latest inputs. Models
        whose forecasts depend on more than their inputs (Prophet's fitted curve) refuse.
        """
        check_is_fitted(self, ("n_obs_",), what="condition()")
        series = as_series(y, name=self.name or "y", positive=False)
        if len(series) < self.min_history():
            raise DataError(
                f"{series.attrs.get('source', 'series')}: {len(series)} rows, but {self.name} needs at least {self.min_history()}"
            )
        self._condition(series)
        self.last_date_ = series.index[-1]
        return self

    def _condition(self, y: pd.Series) -> None:
        raise ModelError(
            f"{self.name}: can only forecast from the end of its own training data "
            "(give the rows it was trained on, or retrain on the new data)"
        )

    def forecast(self, y: pd.Series | np.ndarray, horizon: int) -> np.ndarray:
        """Fit a fresh clone on ``y`` and forecast ``horizon`` steps; ``self`` is left untouched."""
        return self.clone().fit(y).predict(horizon)

    def predict_interval(self, horizon: int, levels=(0.9, 0.95, 0.99)) -> IntervalForecast:
        """Point forecasts and central prediction intervals at ``levels``.

        Models with their own predictive distribution implement ``_predict_interval``. The others
        get split-conformal intervals (:mod:`marketcast.intervals`) calibrated, on the first
        request for a horizon, by a backtest on the rows the model was fitted on:
        :data:`~marketcast.intervals.CALIBRATION_WINDOWS` refits of a clone, ``horizon`` rows
        apart. That costs 20 fits; wrapping the model in
        :class:`~marketcast.intervals.ConformalForecaster` calibrates at fit time instead and
        is what a saved model needs (a loaded model no longer has its training rows).
        """
        self.predict(1)  # raises NotFittedError when not fitted
        levels = check_levels(levels)
        if not self.has_native_intervals:
            result = self._conformal_interval(int(horizon), levels)
        else:
            result = self._predict_interval(int(horizon), levels)
        for values in (result.point, *result.lower.values(), *result.upper.values()):
            check_finite_forecast(self, values)
        return result

    def _conformal_interval(self, horizon: int, levels: tuple[float, ...]) -> IntervalForecast:
        from marketcast.intervals import CALIBRATION_WINDOWS, calibrate, conformal_interval, coverage_note

        if getattr(self, "training_data_", None) is None:
            raise ModelError(
                f"{self.name}: no native prediction intervals, and the rows it was fitted on are not "
                "at hand to calibrate conformal ones; train it with --levels to calibrate them at fit time"
            )
        cache = self.__dict__.setdefault("_calibrations", {})
        if horizon not in cache:
            cache[horizon] = calibrate(self, self.training_data_, windows=CALIBRATION_WINDOWS, horizon=horizon)
        note = coverage_note(CALIBRATION_WINDOWS, levels)
        if note:
            import warnings

            from marketcast.errors import MarketcastWarning

            warnings.warn(note, MarketcastWarning, stacklevel=3)
        cal = cache[horizon]
        return conformal_interval(self.predict(horizon), cal.errors, cal.log_scale, levels)

    def predict_frame(self, horizon: int, levels=None) -> pd.DataFrame:
        """Forecasts dated by the ``horizon`` business days after the fitted history.

        Columns ``date, model, point`` and, with ``levels`` (e.g. ``(0.9, 0.95)``), the central
        intervals ``lower_90, upper_90, lower_95, upper_95`` plus any model-specific path (the
        two-LSTM model's ``sigma_e``): the columns of ``marketcast forecast --out``, less
        ``actual``. ``attrs`` holds ``model`` and ``origin`` (the last fitted row, ISO date).
        """
        self.predict(1)  # raises NotFittedError when not fitted
        dates = business_days_after(self.last_date_, int(horizon))
        if levels:
            frame = self.predict_interval(int(horizon), levels).to_frame(dates)
        else:
            frame = pd.DataFrame({"point": self.predict(int(horizon))}, index=dates)
        frame.insert(0, "model", self.name)
        frame = frame.reset_index()
        frame.attrs = {"model": self.name, "origin": pd.Timestamp(self.last_date_).date().isoformat()}
        return frame

    @property
    def has_native_intervals(self) -> bool:
        """The model has its own predictive distribution (``capabilities.native_intervals``)."""
        return self.capabilities.native_intervals

    # --- persistence: arrays go to safetensors, the rest to JSON (see marketcast.persistence) ---

    def _get_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Learned state as named arrays plus JSON-serialisable metadata."""
        raise ModelError(f"{self.name}: saving this model is not supported")

    def _set_state(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        raise ModelError(f"{self.name}: loading this model is not supported")

    # Subclasses implement these two.
    def _fit(self, y: pd.Series) -> None:
        raise NotImplementedError

    def _predict(self, horizon: int) -> np.ndarray:
        raise NotImplementedError

    def _predict_interval(self, horizon: int, levels: tuple[float, ...]) -> IntervalForecast:
        raise NotImplementedError


@dataclass
class VolatilityForecast:
    """One-step volatility forecasts for a stack of windows.

    ``volatility`` has one value per window; ``extra`` holds model-specific columns (e.g. the
    DD-EWMA smoothing constant ``alpha`` and in-sample ``rmse``); ``dof`` overrides the
    sign-correlation degrees of freedom for models that estimate their own (GARCH-t).
    """

    volatility: np.ndarray
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    dof: np.ndarray | None = None


class VolatilityModel(Estimator):
    """Base class of one-step volatility forecasters fitted on windows of log returns."""

    @property
    def split_safe(self) -> bool:
        """A window's forecast does not depend on the other windows forecast with it (``capabilities``)."""
        return self.capabilities.split_safe

    @property
    def parallel_windows(self) -> bool:
        """Windows are worth spreading across processes (``capabilities.window_parallel``; implies split-safe)."""
        return self.capabilities.window_parallel

    def forecast_windows(self, returns: np.ndarray, stats, dates: np.ndarray | None = None) -> VolatilityForecast:
        """One-step forecasts for each row of ``returns`` (shape ``(n_windows, window)``).

        ``stats`` is the :class:`marketcast.stats.WindowStats` of those windows (sign
        correlation, degrees of freedom, sample volatilities ``z``); ``dates`` the dates of the
        returns, same shape, for models that need a calendar (Prophet).
        """
        raise NotImplementedError

    def fit(self, returns: pd.Series | np.ndarray) -> Self:
        """Fit on one window of log returns; the forecast is in ``volatility_``."""
        from marketcast.stats import window_stats

        r = as_series(returns, name="returns", positive=False)
        st = window_stats(r.to_numpy()[None, :])
        dates = r.index.to_numpy()[None, :]
        res = self.forecast_windows(r.to_numpy()[None, :], st, dates)
        self.volatility_ = float(res.volatility[0])
        self.rho_ = float(st.rho[0])
        self.dof_ = float(res.dof[0]) if res.dof is not None else float(st.dof[0])
        self.cdf_mean_ = float(st.cdf_mean[0])
        for key, value in res.extra.items():
            setattr(self, f"{key}_", float(np.asarray(value)[0]))
        return self

    def forecast(self, horizon: int = 1) -> np.ndarray:
        """Volatility forecasts; one-step models give a flat path beyond the first step."""
        check_is_fitted(self, ("volatility_",), what="forecast()")
        return np.full(int(horizon), self.volatility_)


_PARAM_NAMES: dict[type, tuple[str, ...]] = {}


def _init_param_names(cls: type) -> tuple[str, ...]:
    init = cls.__init__  # type: ignore[misc]
    if init is object.__init__:
        return ()
    params = inspect.signature(init).parameters.values()
    skip = (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)
    return tuple(p.name for p in params if p.name != "self" and p.kind not in skip)
