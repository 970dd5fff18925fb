"""Rolling-origin backtests: one engine for every point forecaster (Tables II-III of the VIX paper).

Slice *i* is the window of ``window`` rows starting ``(i - 1) * step`` rows after ``start``;
its last ``horizon`` rows are the test set and the rest the training set. Every model is a
fresh clone fitted on exactly the training rows (a copy: it cannot see or change the rest),
then asked for ``horizon`` forecasts, which are scored against the held-out rows.

The VIX paper's set-up, ``window=504, start=2016-01-04, step=64, slices=14`` with horizons 21
and 5, is :data:`VIX_PAPER_SLICES`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from marketcast.data.series import as_series, source_of
from marketcast.errors import DataError, ModelError
from marketcast.metrics import mae, rmse
from marketcast.models.base import Forecaster

__all__ = ["Slice", "rolling_origins", "backtest", "BacktestResult", "VIX_PAPER_SLICES", "SCORE_COLUMNS"]

SCORE_COLUMNS = ["slice", "start", "end", "model", "horizon", "rmse", "mae"]
VIX_PAPER_SLICES: dict[str, Any] = dict(window=504, start="2016-01-04", step=64, slices=14)


@dataclass(frozen=True)
class Slice:
    """One rolling origin: rows ``[first, stop)`` of the series, the last ``horizon`` held out."""

    number: int
    first: int
    stop: int
    horizon: int

    @property
    def train(self) -> slice:
        return slice(self.first, self.stop - self.horizon)

    @property
    def test(self) -> slice:
        return slice(self.stop - self.horizon, self.stop)


def rolling_origins(
    index: pd.DatetimeIndex,
    *,
    window: int,
    horizon: int,
    start=None,
    step: int | None = None,
    slices: int | None = None,
    source: str = "series",
) -> list[Slice]:
    """The slices of a rolling-origin backtest over ``index``.

    ``start`` is the first date of slice 1 (the first row on or after it); ``step`` rows
    separate consecutive slices (default: ``horizon``, so test sets do not overlap);
    ``slices`` caps their number (default: as many as fit in the data).
    """
    if horizon < 1:
        raise DataError(f"horizon must be at least 1, got {horizon}")
    if window <= horizon:
        raise DataError(f"window ({window}) must be longer than the horizon ({horizon})")
    step = horizon if step is None else step
    if step < 1:
        raise DataError(f"step must be at least 1, got {step}")
    first = 0 if start is None else int(index.searchsorted(pd.Timestamp(start)))
    if first >= len(index):
        raise DataError(f"{source}: no data on or after {pd.Timestamp(start).date()}")
    available = (len(index) - first - window) // step + 1 if len(index) - first >= window else 0
    if available < 1:
        raise DataError(
            f"{source}: {len(index) - first} rows from {index[first].date()}, "
            f"but a window of {window} needs at least {window}"
        )
    if slices is not None:
        if slices < 1:
            raise DataError(f"slices must be at least 1, got {slices}")
        if slices > available:
            raise DataError(
                f"{source}: only {available} slice(s) of {window} rows with step {step} fit "
                f"from {index[first].date()}, not {slices}"
            )
        available = slices
    return [Slice(i + 1, first + i * step, first + i * step + window, horizon) for i in range(available)]


@dataclass(frozen=True)
class BacktestResult:
    """Scores per slice and model, and every forecast beside the value it forecast."""

    scores: pd.DataFrame  # SCORE_COLUMNS
    forecasts: pd.DataFrame  # slice, model, step, date, actual, forecast

    def summary(self) -> pd.DataFrame:
        """Mean and standard deviation (ddof=1) of RMSE and MAE across slices, per model."""
        g = self.scores.groupby(["model", "horizon"], sort=False)[["rmse", "mae"]]
        mean = g.mean().assign(stat="mean")
        sd = g.std(ddof=1).assign(stat="sd")
        return pd.concat([mean, sd]).reset_index().sort_values(["model", "stat"], kind="stable").reset_index(drop=True)

    def pivot(self) -> pd.DataFrame:
        """Slices as rows, ``(model, metric)`` as columns, then the mean and SD rows (Table II)."""
        wide = self.scores.pivot_table(index="slice", columns="model", values=["rmse", "mae"], sort=False)
        wide = wide.swaplevel(axis=1)
        models = list(dict.fromkeys(self.scores["model"]))
        wide = wide.reindex(columns=pd.MultiIndex.from_product([models, ["rmse", "mae"]]))
        stats = pd.DataFrame([wide.mean(), wide.std(ddof=1)], index=["mean", "sd"])
        return pd.concat([wide, stats])


def model_key(model) -> tuple:
    """Identity of a model's configuration: class and hyper-parameters."""
    return type(model).__name__, repr(sorted(model.get_params().items()))


def _reuse_members(model, done: dict[tuple, np.ndarray]) -> np.ndarray | None:
    """An ensemble whose members were all just fitted on the same rows combines their forecasts."""
    members = getattr(model, "member_models", None)
    if members is None:
        return None
    keys = [model_key(m) for m in members()]
    if all(k in done for k in keys):
        return model.combine([done[k] for k in keys])
    return None


def _as_models(models: Sequence[str | Forecaster]) -> list[Forecaster]:
    from marketcast.models.registry import get_model

    out = [get_model(m, "price") if isinstance(m, str) else m for m in models]
    if not out:
        raise ModelError("no models given")
    names = [m.name for m in out]
    if len(set(names)) != len(names):
        raise ModelError(f"a model is listed twice: {', '.join(names)}")
    return out


def _check_no_look_ahead(model: Forecaster, train: pd.Series, test_index: pd.DatetimeIndex, number: int) -> None:
    """What the fitted model recorded seeing must end strictly before the slice's first forecast date.

    An explicit check rather than ``assert`` (which ``python -O`` strips): a model that fitted
    on more rows than it was given, or on rows up to the horizon, is a bug to stop at once.
    """
    seen_last = getattr(model, "last_date_", None)
    if seen_last is None or seen_last >= test_index[0] or getattr(model, "n_obs_", None) != len(train):
        raise RuntimeError(
            f"look-ahead in slice {number}: {model.name} saw {getattr(model, 'n_obs_', '?')} rows up to "
            f"{seen_last}, but was given {len(train)} rows before {test_index[0].date()}"
        )


def backtest(
    prices: pd.Series,
    models: Sequence[str | Forecaster],
    *,
    window: int,
    horizon: int,
    start=None,
    step: int | None = None,
    slices: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> BacktestResult:
    """Rolling-origin backtest of point forecasters.

    Each model is cloned afresh for every slice and fitted on the ``window - horizon`` rows
    before the slice's horizon only. Returns per-slice RMSE and MAE (``scores``) and the
    forecasts themselves (``forecasts``). ``progress`` is called with 1 after each fit.
    """
    prices = as_series(prices)
    src = source_of(prices)
    origins = rolling_origins(
        prices.index, window=window, horizon=horizon, start=start, step=step, slices=slices, source=src
    )
    prototypes = _as_models(models)
    values = prices.to_numpy()
    rows, fc_rows = [], []
    for sl in origins:
        train = prices.iloc[sl.train].copy()  # a copy: the model cannot touch the held-out rows
        test_index = prices.index[sl.test]
        actual = values[sl.test]
        done: dict[tuple, np.ndarray] = {}
        for proto in prototypes:
            try:
                pred = _reuse_members(proto, done)
                if pred is None:
                    fitted = proto.clone().fit(train)
                    _check_no_look_ahead(fitted, train, test_index, sl.number)
                    pred = fitted.predict(horizon)
            except (DataError, ModelError) as exc:
                raise type(exc)(f"slice {sl.number} ({prices.index[sl.first].date()}): {exc}") from None
            done[model_key(proto)] = pred
            rows.append(
                {
                    "slice": sl.number,
                    "start": prices.index[sl.first],
                    "end": prices.index[sl.stop - 1],
                    "model": proto.name,
                    "horizon": horizon,
                    "rmse": rmse(actual, pred),
                    "mae": mae(actual, pred),
                }
            )
            fc_rows.append(
                pd.DataFrame(
                    {
                        "slice": sl.number,
                        "model": proto.name,
                        "step": np.arange(1, horizon + 1),
                        "date": test_index,
                        "actual": actual,
                        "forecast": pred,
                    }
                )
            )
            if progress is not None:
                progress(1)
    scores = pd.DataFrame(rows, columns=SCORE_COLUMNS)
    scores.attrs = {"source": src, "window": window, "horizon": horizon}
    return BacktestResult(scores=scores, forecasts=pd.concat(fc_rows, ignore_index=True))
