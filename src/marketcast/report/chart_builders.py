"""Charts of result frames: plain functions that return :class:`~marketcast.report.charts.Chart`
descriptions (fans of nested intervals, per-slice errors, VaR bands with breaches, loss curves).

They know the columns of marketcast's result tables, not a plotting library: rendering is
:func:`~marketcast.report.charts.to_plotly` and :func:`~marketcast.report.charts.to_png`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from marketcast.errors import DataError
from marketcast.report.charts import ACTUAL, BREACH, MUTED, PALETTE, Chart, Layer

__all__ = [
    "interval_levels",
    "fan_chart",
    "slice_errors",
    "backtest_forecasts",
    "volatility_chart",
    "var_chart",
    "var_breaches",
    "training_curves",
    "predicted_vs_actual",
]


def _colors(models: Sequence[str]) -> dict[str, str]:
    return {m: PALETTE[i % len(PALETTE)] for i, m in enumerate(models)}


def _models(frame: pd.DataFrame) -> list[str]:
    return [str(m) for m in dict.fromkeys(frame["model"].astype(str))] if "model" in frame else []


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{what}: missing column(s) {', '.join(missing)} (have: {', '.join(map(str, frame.columns))})")


def _dates(values) -> np.ndarray:
    idx = pd.DatetimeIndex(pd.to_datetime(values))
    return (idx.tz_localize(None) if idx.tz is not None else idx).to_numpy(dtype="datetime64[ns]")


_LEVEL_RE = re.compile(r"^lower_(\d+(?:_\d+)?)$")


def interval_levels(columns: Sequence[str]) -> list[tuple[float, str]]:
    """``(level in percent, tag)`` of each ``lower_<tag>``/``upper_<tag>`` pair, widest first.

    Tags are the levels in percent with ``_`` for the decimal point: ``90``, ``99_5``.
    """
    cols = set(map(str, columns))
    out = []
    for col in cols:
        m = _LEVEL_RE.match(col)
        if m and f"upper_{m.group(1)}" in cols:
            out.append((float(m.group(1).replace("_", ".")), m.group(1)))
    return sorted(out, reverse=True)


def _pct(level: float) -> str:
    return f"{level:g}%"


# --------------------------------------------------------------------------- builders


def fan_chart(
    forecast_frame: pd.DataFrame,
    history: pd.Series | None = None,
    *,
    model: str | None = None,
    history_tail: int | None = 120,
) -> Chart:
    """Point forecast with nested central intervals as a fan, widest (lightest) band first.

    ``forecast_frame`` has ``date, model, point, lower_90, upper_90, ...`` and optionally
    ``actual`` (drawn as markers where known). ``history``, a date-indexed price series, is drawn
    as a line: its last ``history_tail`` points before the first forecast date (all with ``None``).
    A frame with several models needs ``model``.
    """
    _require(forecast_frame, ["date", "point"], "forecast frame")
    frame = forecast_frame
    models = _models(frame)
    if model is not None:
        frame = frame[frame["model"].astype(str) == model]
        if frame.empty:
            raise DataError(f"forecast frame: no rows for model '{model}' (models: {', '.join(models)})")
    elif len(models) > 1:
        raise DataError(f"forecast frame: {len(models)} models ({', '.join(models)}); choose one with model=")
    name = model or (models[0] if models else "forecast")
    frame = frame.sort_values("date", kind="stable")
    x = _dates(frame["date"])
    color = PALETTE[0]
    levels = interval_levels(frame.columns)
    layers: list[Layer] = []
    if history is not None and len(history):
        h = history.sort_index()
        h = h[h.index < pd.Timestamp(x[0])] if len(x) else h
        if history_tail is not None:
            h = h.iloc[-int(history_tail) :]
        if len(h):
            layers.append(Layer("line", "history", _dates(h.index), h.to_numpy(dtype=float), color=ACTUAL, width=1.4))
    n = len(levels)
    for i, (level, tag) in enumerate(levels):
        # widest band lightest; stacked translucent bands darken towards the centre
        opacity = round(0.12 + 0.10 * i / max(n - 1, 1), 3)
        layers.append(
            Layer(
                "band",
                f"{_pct(level)} interval",
                x,
                lower=frame[f"lower_{tag}"],
                upper=frame[f"upper_{tag}"],
                color=color,
                opacity=opacity,
            )
        )
    layers.append(Layer("line", f"{name} point forecast", x, frame["point"], color=color, width=2.2))
    if "actual" in frame:
        actual = frame["actual"].to_numpy(dtype=float)
        known = np.isfinite(actual)
        if known.any():
            layers.append(Layer("scatter", "actual", x[known], actual[known], color=ACTUAL, size=7))
    what = ", ".join(_pct(lv) for lv, _ in sorted(levels)) if levels else "no"
    title = f"{name} forecast with {what} intervals" if levels else f"{name} forecast"
    return Chart(title, "date", "price", layers)


def slice_errors(scores: pd.DataFrame, metric: str = "rmse") -> Chart:
    """Per-slice ``metric`` (``rmse`` or ``mae``) of each model, as grouped bars."""
    _require(scores, ["slice", "model", metric], "backtest scores")
    models = _models(scores)
    colors = _colors(models)
    horizons = list(dict.fromkeys(scores["horizon"])) if "horizon" in scores else [None]
    layers = []
    for m in models:
        for h in horizons:
            rows = scores[scores["model"].astype(str) == m]
            if h is not None:
                rows = rows[rows["horizon"] == h]
            if rows.empty:
                continue
            label = m if len(horizons) == 1 else f"{m} (h={h})"
            layers.append(Layer("bar", label, rows["slice"].to_numpy(), rows[metric], color=colors[m]))
    return Chart(f"Per-slice {metric.upper()} by model", "slice", metric.upper(), layers)


def backtest_forecasts(forecasts: pd.DataFrame, slice_number: int) -> Chart:
    """One backtest slice: each model's forecasts against the actual values."""
    _require(forecasts, ["slice", "model", "date", "actual", "forecast"], "backtest forecasts")
    rows = forecasts[forecasts["slice"] == slice_number]
    if rows.empty:
        have = sorted(set(forecasts["slice"].tolist()))
        raise DataError(
            f"backtest forecasts: no slice {slice_number} (slices {have[0]}..{have[-1]})"
            if have
            else "backtest forecasts: no rows"
        )
    rows = rows.sort_values("date", kind="stable")
    actual = rows.drop_duplicates("date")
    layers = [Layer("line", "actual", _dates(actual["date"]), actual["actual"], color=ACTUAL, width=2.0)]
    colors = _colors(_models(rows))
    for m, color in colors.items():
        r = rows[rows["model"].astype(str) == m]
        layers.append(Layer("line", m, _dates(r["date"]), r["forecast"], color=color, dash="dash"))
    first, last = pd.Timestamp(actual["date"].iloc[0]).date(), pd.Timestamp(actual["date"].iloc[-1]).date()
    return Chart(f"Slice {slice_number}: forecasts vs actual ({first} to {last})", "date", "price", layers)


def volatility_chart(vol: pd.DataFrame) -> Chart:
    """Each model's one-day-ahead volatility forecast against the realised absolute log return."""
    _require(vol, ["date", "model", "volatility", "abs_return"], "volatility frame")
    vol = vol.sort_values("date", kind="stable")
    realised = vol.drop_duplicates("date")
    realised = realised[np.isfinite(realised["abs_return"].to_numpy(dtype=float))]
    layers = []
    if len(realised):
        layers.append(
            Layer(
                "scatter",
                "|return| (realised)",
                _dates(realised["date"]),
                realised["abs_return"],
                color=MUTED,
                size=4,
                opacity=0.8,
            )
        )
    for m, color in _colors(_models(vol)).items():
        r = vol[vol["model"].astype(str) == m]
        layers.append(Layer("line", f"{m} volatility", _dates(r["date"]), r["volatility"], color=color, width=2.0))
    return Chart(
        "One-day-ahead volatility forecasts vs realised |log return|", "date", "daily log-return volatility", layers
    )


def var_breaches(rows: pd.DataFrame) -> np.ndarray:
    """Breach mask of a volatility frame: ``-notional * return > var`` (unknown returns: no breach)."""
    r = rows["return"].to_numpy(dtype=float)
    v = rows["var"].to_numpy(dtype=float)
    n = rows["notional"].to_numpy(dtype=float)
    ok = np.isfinite(r) & np.isfinite(v) & np.isfinite(n)
    out = np.zeros(len(rows), dtype=bool)
    out[ok] = -n[ok] * r[ok] > v[ok]
    return out


def var_chart(vol: pd.DataFrame, model: str) -> Chart:
    """The VaR (and CVaR) threshold of ``model`` as a return, the realised return, and breaches in red.

    The threshold is ``-var / notional``; a breach is a day with ``-notional * return > var``.
    """
    _require(vol, ["date", "model", "var", "return", "notional"], "volatility frame")
    rows = vol[vol["model"].astype(str) == model].sort_values("date", kind="stable")
    if rows.empty:
        raise DataError(f"volatility frame: no rows for model '{model}' (models: {', '.join(_models(vol))})")
    x = _dates(rows["date"])
    notional = rows["notional"].to_numpy(dtype=float)
    ret = rows["return"].to_numpy(dtype=float)
    known = np.isfinite(ret)
    breach = var_breaches(rows)
    color = _colors(_models(vol))[model]
    tail = float(rows["tail"].iloc[0]) if "tail" in rows else float("nan")
    level = f"{(1 - tail) * 100:g}% " if math.isfinite(tail) else ""
    layers = [Layer("line", "return (realised)", x[known], ret[known], color=MUTED, width=1.2)]
    if "cvar" in rows:
        layers.append(
            Layer(
                "line",
                f"{level}CVaR threshold",
                x,
                -rows["cvar"].to_numpy(dtype=float) / notional,
                color=color,
                dash="dash",
                width=1.4,
                opacity=0.85,
            )
        )
    layers.append(
        Layer("line", f"{level}VaR threshold", x, -rows["var"].to_numpy(dtype=float) / notional, color=color, width=2.0)
    )
    layers.append(Layer("scatter", "breach", x[breach], ret[breach], color=BREACH, size=8))
    k, n = int(breach.sum()), int(known.sum())
    expected = f", expected {tail * n:.1f}" if math.isfinite(tail) else ""
    return Chart(
        f"{model}: {level}VaR, {k} breach{'es' if k != 1 else ''} in {n} days{expected}",
        "date",
        "daily log return",
        layers,
    )


_METRIC_LABEL = {"loss": "loss (MSE)", "mae": "MAE"}


def _history_frame(history) -> pd.DataFrame:
    if isinstance(history, pd.DataFrame):
        frame = history.copy()
    elif isinstance(history, Mapping):
        lengths = {len(v) for v in history.values()}
        if len(lengths) > 1:
            raise DataError(f"training history: lists of different lengths {sorted(lengths)}")
        frame = pd.DataFrame({k: list(v) for k, v in history.items()})
    else:
        raise DataError(f"training history: expected a frame or a dict of lists, got {type(history).__name__}")
    if "epoch" not in frame:
        frame.insert(0, "epoch", np.arange(1, len(frame) + 1))
    return frame


def training_curves(history, metric: str = "loss") -> Chart:
    """Training and validation ``metric`` (``loss`` or ``mae``) per epoch (Fig. 6-7, Stock-X paper).

    ``history`` is a frame ``epoch, loss, mae, [val_loss, val_mae], [model]`` or a dict of lists
    as a model's ``history_``. A log scale is used when the curve spans more than two decades.
    """
    frame = _history_frame(history)
    _require(frame, [metric], "training history")
    parts: list[str | None] = [*_models(frame)] or [None]
    colors = _colors([p or "" for p in parts])
    layers = []
    for part in parts:
        rows = frame if part is None else frame[frame["model"].astype(str) == part]
        prefix = "" if part is None or len(parts) == 1 else f"{part} "
        color = colors[part or ""]
        layers.append(Layer("line", f"{prefix}training {metric}", rows["epoch"].to_numpy(), rows[metric], color=color))
        val = f"val_{metric}"
        if val in rows and np.isfinite(rows[val].to_numpy(dtype=float)).any():
            layers.append(
                Layer(
                    "line",
                    f"{prefix}validation {metric}",
                    rows["epoch"].to_numpy(),
                    rows[val],
                    color=color,
                    dash="dash",
                )
            )
    values = np.concatenate([layer.y[np.isfinite(layer.y)] for layer in layers]) if layers else np.empty(0)
    positive = values[values > 0]
    y_log = bool(positive.size == values.size and positive.size and positive.max() / positive.min() > 100)
    label = _METRIC_LABEL.get(metric, metric)
    return Chart(f"Training and validation {label} per epoch", "epoch", label, layers, y_log=y_log)


def predicted_vs_actual(dates, actual, predicted, title: str) -> Chart:
    """Actual and predicted values over time, two lines (Fig. 8-9, Stock-X paper)."""
    x = _dates(dates)
    return Chart(
        title,
        "date",
        "price",
        [
            Layer("line", "actual", x, actual, color=ACTUAL, width=1.8),
            Layer("line", "predicted", x, predicted, color=PALETTE[1], width=1.8),
        ],
    )
