"""Recognise a results file by its columns and turn it into report sections.

Kinds (first match wins, in this order):

==================== ==============================================================
``backtest-scores``  ``marketcast backtest --out``: slice, start, end, model, horizon, rmse, mae
``backtest-forecasts`` ``BacktestResult.forecasts``: slice, model, step, date, actual, forecast
``volatility``       ``marketcast volatility --out``: date, model, volatility, var, cvar, ...
``forecast``         ``marketcast forecast --out``: date, model, point, [lower_90, upper_90, ...], [actual]
``history``          a training history (epoch, loss, ...) or a saved model's directory (``model.json``)
==================== ==============================================================
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from marketcast.errors import DataError
from marketcast.report import chart_builders as C
from marketcast.report.html import Section

__all__ = ["KINDS", "ResultKind", "load_results", "classify", "history_from_manifest", "sections_for", "build_report"]

ResultKind = Literal["backtest-scores", "backtest-forecasts", "volatility", "forecast", "history"]

#: Columns each kind needs, in the order kinds are tried.
KINDS: dict[str, list[str]] = {
    "backtest-scores": ["slice", "start", "end", "model", "horizon", "rmse", "mae"],
    "backtest-forecasts": ["slice", "model", "step", "date", "actual", "forecast"],
    "volatility": ["date", "model", "volatility", "var", "cvar", "mad", "abs_return", "return", "tail", "notional"],
    "forecast": ["date", "model", "point"],
    "history": ["epoch", "loss"],
}
_DATE_COLUMNS = ("date", "start", "end", "window_start", "window_end")
_TEXT_COLUMNS = {"model", "distribution"}
#: Backtest-forecast slices drawn at most (evenly spread, first and last included).
MAX_SLICE_CHARTS = 4


# --------------------------------------------------------------------------- loading


def classify(frame: pd.DataFrame, source: str = "results") -> str:
    """The kind of a results frame, from its columns; :class:`DataError` naming what was expected."""
    cols = set(map(str, frame.columns))
    for kind, needed in KINDS.items():
        if cols.issuperset(needed):
            return kind
    # the nearest layout, to say what is missing
    best = max(KINDS, key=lambda k: len(cols & set(KINDS[k])) / len(KINDS[k]))
    have = cols & set(KINDS[best])
    expected = "; ".join(f"{k}: {', '.join(v)}" for k, v in KINDS.items())
    if len(have) >= 2 and len(have) > len(KINDS[best]) // 2:
        missing = [c for c in KINDS[best] if c not in cols]
        raise DataError(
            f"{source}: looks like {best} results but lacks column(s) {', '.join(missing)} "
            f"(expected {', '.join(KINDS[best])})"
        )
    shown = ", ".join(map(str, list(frame.columns)[:12])) + (", ..." if len(frame.columns) > 12 else "")
    raise DataError(f"{source}: unrecognised results layout (columns: {shown or 'none'}); expected one of {expected}")


def _find_histories(node: Any, path: str = "") -> list[tuple[str, dict]]:
    """Every ``history`` dict with a ``loss`` list in a saved model's state, with where it was."""
    found: list[tuple[str, dict]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            where = f"{path}.{key}" if path else str(key)
            if key == "history" and isinstance(value, dict) and isinstance(value.get("loss"), list) and value["loss"]:
                found.append((path, value))
            else:
                found.extend(_find_histories(value, where))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found.extend(_find_histories(value, f"{path}.{i}" if path else str(i)))
    return found


def history_from_manifest(manifest: dict, source: str = "model") -> pd.DataFrame:
    """Training history of a saved model (``state.history``, or its parts' histories) as a frame.

    Columns ``model, epoch, loss, mae, [val_loss, val_mae]``; a model with several networks
    (the two-LSTM model's ``price`` and ``vol``) gives one ``model`` label per network.
    """
    name = str(manifest.get("model", "model"))
    found = _find_histories(manifest.get("state", {}))
    if not found:
        raise DataError(f"{source}: saved model '{name}' has no training history (only neural models record one)")
    frames = []
    for where, hist in found:
        part = pd.DataFrame({k: pd.Series(v, dtype="float64") for k, v in hist.items() if isinstance(v, list)})
        part.insert(0, "epoch", np.arange(1, len(part) + 1))
        label = name if len(found) == 1 or not where else f"{name} {where.replace('.meta', '')}"
        part.insert(0, "model", label)
        frames.append(part)
    frame = pd.concat(frames, ignore_index=True)
    frame.attrs["source"] = source
    return frame


def _read_table(p: Path) -> pd.DataFrame | dict:
    suffix = p.suffix.lower()
    try:
        if suffix == ".csv":
            return pd.read_csv(p)
        if suffix == ".parquet":
            return pd.read_parquet(p)
        if suffix == ".json":
            data = json.loads(p.read_text(encoding="utf-8"))
            if isinstance(data, dict):
                return data
            if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
                raise DataError(f"{p}: expected a list of records or a training history in JSON")
            return pd.DataFrame.from_records(data)
    except DataError:
        raise
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"{p}: cannot read ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    except Exception as exc:  # pyarrow's own errors
        if type(exc).__module__.startswith("pyarrow"):
            raise DataError(f"{p}: cannot read ({exc})") from None
        raise
    raise DataError(
        f"{p}: unsupported results format '{p.suffix or '(none)'}' "
        "(use .csv, .parquet, .json or a saved model's directory)"
    )


def _tidy(frame: pd.DataFrame, kind: str, source: str) -> pd.DataFrame:
    """Dates as datetimes, the needed numeric columns as floats; problems name the column."""
    frame = frame.copy()
    for col in _DATE_COLUMNS:
        if col in frame and not pd.api.types.is_datetime64_any_dtype(frame[col]):
            try:
                frame[col] = pd.to_datetime(frame[col])
            except (ValueError, TypeError):
                raise DataError(f"{source}: column '{col}' holds values that are not dates") from None
    for col in KINDS[kind]:
        if col in _DATE_COLUMNS or col in _TEXT_COLUMNS or pd.api.types.is_numeric_dtype(frame[col]):
            continue
        try:
            frame[col] = pd.to_numeric(frame[col])
        except (ValueError, TypeError):
            raise DataError(f"{source}: column '{col}' holds values that are not numbers") from None
    if "model" in frame:
        frame["model"] = frame["model"].astype(str)
    frame.attrs["source"] = source
    return frame


def load_results(path: str | Path) -> tuple[str, pd.DataFrame]:
    """Read a results file (``.csv``, ``.parquet``, ``.json``) or a saved model's directory.

    Returns ``(kind, frame)``; the frame's ``attrs["source"]`` is the path. A saved model (its
    directory or its ``model.json``) gives its training history.
    """
    p = Path(path)
    source = str(p)
    if not p.exists():
        raise DataError(f"{p}: no such file or directory")
    if p.is_dir():
        from marketcast.persistence import read_manifest

        return "history", history_from_manifest(read_manifest(p), source)
    data = _read_table(p)
    if isinstance(data, dict):
        if str(data.get("format", "")).startswith("marketcast-model/"):
            from marketcast.persistence import read_manifest

            return "history", history_from_manifest(read_manifest(p.parent), source)
        if isinstance(data.get("loss"), list):
            lengths = {len(v) for v in data.values() if isinstance(v, list)}
            if len(lengths) != 1:
                raise DataError(f"{p}: training history lists have different lengths {sorted(lengths)}")
            data = pd.DataFrame({k: v for k, v in data.items() if isinstance(v, list)})
            data.insert(0, "epoch", np.arange(1, len(data) + 1))
        else:
            raise DataError(
                f"{p}: JSON object is neither a saved model's model.json nor a training history "
                f"(keys: {', '.join(list(map(str, data))[:10])})"
            )
    if data.empty:
        raise DataError(f"{p}: no rows")
    kind = classify(data, source)
    return kind, _tidy(data, kind, source)


# --------------------------------------------------------------------------- sections


def _d(ts) -> str:
    return pd.Timestamp(ts).date().isoformat()


def _span(dates: pd.Series) -> str:
    return f"{_d(dates.min())} to {_d(dates.max())}"


def _models(frame: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(frame["model"].astype(str)))


def _code_list(items: Iterable[str]) -> str:
    return ", ".join(f"`{m}`" for m in items)


def _volatility_sections(vol: pd.DataFrame, source: str) -> list[Section]:
    from marketcast.risk_measures import var_backtest

    vol = vol.sort_values(["model", "date"], kind="stable")
    models = _models(vol)
    rows = []
    for m in models:
        r = vol[vol["model"] == m]
        tail = float(r["tail"].iloc[0])
        notional = float(r["notional"].iloc[0])
        bt = var_backtest(r["return"].to_numpy(dtype=float), r["var"].to_numpy(dtype=float), tail, notional)
        rows.append(
            {
                "model": m,
                "days": bt.days,
                "breaches": bt.breaches,
                "breach rate": bt.breach_rate,
                "expected rate": tail,
                "expected breaches": tail * bt.days,
                "Kupiec p": bt.kupiec_pvalue,
                "Christoffersen cc p": bt.conditional_coverage_pvalue,
                "Basel zone": bt.traffic_light,
                "mean volatility": float(r["volatility"].mean()),
                "mean VaR": float(r["var"].mean()),
                "mean CVaR": float(r["cvar"].mean()),
            }
        )
    table = pd.DataFrame(rows)
    known = vol["return"].notna()
    tails = sorted(set(vol["tail"].astype(float)))
    notionals = sorted(set(vol["notional"].astype(float)))
    text = (
        f"One-day-ahead volatility forecasts from **{source}**: {len(vol.drop_duplicates('date'))} days "
        f"({_span(vol['date'])}), models {_code_list(models)}.\n\n"
        f"- VaR and CVaR of a position of {', '.join(f'{n:g}' for n in notionals)} at tail probability "
        f"{', '.join(f'{t:g}' for t in tails)}.\n"
        f"- A **breach** is a day whose loss exceeds the VaR: `-notional * return > var`; "
        f"{int((~known).sum())} row(s) without a realised return (e.g. the live forecast) are not scored.\n"
        "- Kupiec tests the breach rate, Christoffersen's conditional coverage also their independence; "
        "the Basel zone is read from the binomial probability of the breach count."
    )
    main = Section(
        f"Volatility and risk: {source}",
        text,
        charts=[C.volatility_chart(vol)],
        tables=[("VaR backtest and mean forecasts per model", table)],
    )
    var_section = Section(
        f"VaR breaches: {source}",
        "Realised daily log returns against each model's VaR threshold as a return "
        "(`-var / notional`, solid) and CVaR (dashed); breaches in red.",
        charts=[C.var_chart(vol, m) for m in models],
    )
    return [main, var_section]


def _score_sections(scores: pd.DataFrame, source: str) -> list[Section]:
    models = _models(scores)
    g = scores.groupby(["model", "horizon"], sort=False)[["rmse", "mae"]]
    mean, sd = g.mean(), g.std(ddof=1)
    summary = pd.DataFrame(
        {
            "slices": g.size(),
            "mean RMSE": mean["rmse"],
            "SD RMSE": sd["rmse"],
            "mean MAE": mean["mae"],
            "SD MAE": sd["mae"],
        }
    ).reset_index()
    wide = scores.pivot_table(index="slice", columns="model", values=["rmse", "mae"], sort=False)
    per_slice = pd.DataFrame({"slice": wide.index})
    spans = scores.drop_duplicates("slice").set_index("slice")
    per_slice["start"] = per_slice["slice"].map(spans["start"])
    per_slice["end"] = per_slice["slice"].map(spans["end"])
    for m in models:
        for metric in ("rmse", "mae"):
            if (metric, m) in wide:
                per_slice[f"{m} {metric.upper()}"] = wide[(metric, m)].to_numpy()
    horizons = sorted(set(scores["horizon"].tolist()))
    text = (
        f"Rolling-origin backtest from **{source}**: {scores['slice'].nunique()} slices "
        f"({_span(scores['start'])} to {_d(scores['end'].max())}), horizon {', '.join(map(str, horizons))} "
        f"day(s), models {_code_list(models)}.\n\n"
        "Each model is fitted only on the rows of its slice before the held-out horizon; the mean and "
        "standard deviation (ddof 1) are across slices (Tables II-III of the VIX paper)."
    )
    return [
        Section(
            f"Backtest: {source}",
            text,
            charts=[C.slice_errors(scores, "rmse"), C.slice_errors(scores, "mae")],
            tables=[("Mean and SD across slices", summary), ("Per-slice errors", per_slice)],
        )
    ]


def _backtest_forecast_sections(fc: pd.DataFrame, source: str) -> list[Section]:
    from marketcast.metrics import mae, rmse

    slices = sorted(set(fc["slice"].tolist()))
    pick = sorted({slices[int(round(i))] for i in np.linspace(0, len(slices) - 1, min(MAX_SLICE_CHARTS, len(slices)))})
    per = (
        fc.groupby(["model", "slice"], sort=False)
        .apply(
            lambda r: pd.Series({"rmse": rmse(r["actual"], r["forecast"]), "mae": mae(r["actual"], r["forecast"])}),
            include_groups=False,
        )
        .reset_index()
    )
    g = per.groupby("model", sort=False)
    table = pd.DataFrame(
        {
            "slices": g.size(),
            "mean RMSE": g["rmse"].mean(),
            "SD RMSE": g["rmse"].std(ddof=1),
            "mean MAE": g["mae"].mean(),
            "SD MAE": g["mae"].std(ddof=1),
        }
    ).reset_index()
    shown = ", ".join(map(str, pick))
    text = (
        f"Backtest forecasts from **{source}**: {len(slices)} slices, models {_code_list(_models(fc))}. "
        f"Charts for slice{'s' if len(pick) > 1 else ''} {shown}"
        f"{' (evenly spread over all slices)' if len(pick) < len(slices) else ''}."
    )
    return [
        Section(
            f"Backtest forecasts: {source}",
            text,
            charts=[C.backtest_forecasts(fc, s) for s in pick],
            tables=[("Errors per slice, mean and SD across slices", table)],
        )
    ]


def _forecast_sections(fc: pd.DataFrame, source: str) -> list[Section]:
    from marketcast.metrics import coverage, mean_width

    levels = C.interval_levels(fc.columns)
    sections = []
    for m in _models(fc):
        rows = fc[fc["model"] == m].sort_values("date", kind="stable")
        tables = [("Forecasts", rows.drop(columns=["model"]))]
        lines = [f"{m} forecast from **{source}**: {len(rows)} business days ({_span(rows['date'])})."]
        if "actual" in rows and rows["actual"].notna().any() and levels:
            known = rows[rows["actual"].notna()]
            cov = pd.DataFrame(
                [
                    {
                        "level": f"{lv:g}%",
                        "days with actual": len(known),
                        "coverage": coverage(known["actual"], known[f"lower_{tag}"], known[f"upper_{tag}"]),
                        "mean width": mean_width(known[f"lower_{tag}"], known[f"upper_{tag}"]),
                    }
                    for lv, tag in sorted(levels)
                ]
            )
            tables.insert(0, ("Interval coverage on the days with a known actual price", cov))
            lines.append("Black markers are the actual prices where the data has them.")
        sections.append(
            Section(f"Forecast: {m} ({source})", "\n\n".join(lines), charts=[C.fan_chart(fc, model=m)], tables=tables)
        )
    return sections


def _history_sections(hist: pd.DataFrame, source: str) -> list[Section]:
    if "model" not in hist:
        hist = hist.assign(model=Path(source).stem)
    rows = []
    for m in _models(hist):
        r = hist[hist["model"] == m]
        row = {"model": m, "epochs": len(r)}
        for col in ("loss", "mae", "val_loss", "val_mae"):
            if col in r:
                row[f"final {col}"] = float(r[col].iloc[-1])
        if "val_loss" in r and r["val_loss"].notna().any():
            best = r["val_loss"].idxmin()
            row["best val_loss"] = float(r.loc[best, "val_loss"])
            row["best epoch"] = int(r.loc[best, "epoch"])
        rows.append(row)
    charts = [C.training_curves(hist, "loss")]
    if "mae" in hist:
        charts.append(C.training_curves(hist, "mae"))
    text = (
        f"Training history from **{source}**: loss (MSE) and MAE per epoch on the training batches and, "
        "where a validation share was held out, on the validation samples (Fig. 6-7 of the Stock-X paper)."
    )
    return [
        Section(
            f"Training history: {source}", text, charts=charts, tables=[("Final and best epochs", pd.DataFrame(rows))]
        )
    ]


_BUILDERS = {
    "volatility": _volatility_sections,
    "backtest-scores": _score_sections,
    "backtest-forecasts": _backtest_forecast_sections,
    "forecast": _forecast_sections,
    "history": _history_sections,
}


def sections_for(kind: str, frame: pd.DataFrame, *, source: str | None = None) -> list[Section]:
    """Report sections for a results frame of ``kind`` (see :func:`load_results`).

    ``source`` (default: ``frame.attrs["source"]``) names the results in headings.
    """
    if kind not in _BUILDERS:
        raise DataError(f"unknown results kind '{kind}' (known: {', '.join(_BUILDERS)})")
    if frame.empty:
        raise DataError(f"{source or frame.attrs.get('source', 'results')}: no rows")
    return _BUILDERS[kind](frame, str(source or frame.attrs.get("source") or kind))


def build_report(
    results: Sequence[str | Path | pd.DataFrame],
    out: str | Path,
    *,
    title: str | None = None,
    png_dir: str | Path | None = None,
) -> Path:
    """Load every results file or saved-model directory (or take result frames), and write one report.

    Everything is checked (output path, then each input) before anything is written.
    """
    from marketcast.report.html import check_png_dir, check_report_path, render_html

    target = check_report_path(out)
    check_png_dir(png_dir)
    if not results:
        raise DataError("no results files given")
    sections: list[Section] = []
    names: list[str] = []
    for item in results:
        if isinstance(item, pd.DataFrame):  # a frame from the Python API
            source = str(item.attrs.get("source") or "results")
            if item.empty:
                raise DataError(f"{source}: no rows")
            kind = classify(item, source)
            frame = _tidy(item, kind, source)
            names.append(f"{source} ({kind})")
        else:
            kind, frame = load_results(item)
            names.append(Path(item).name)
        sections.extend(sections_for(kind, frame))
    return render_html(title or f"marketcast report: {', '.join(names)}", sections, target, png_dir=png_dir)
