"""Combining the parts into the job's tables, the portfolio, and writing DIR (every file atomically)."""

from __future__ import annotations

import hashlib
import json
import platform
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from marketcast.errors import DataError
from marketcast.universe.settings import RiskSettings
from marketcast.universe.work import ASSET_COLUMNS, read_part

__all__ = [
    "OUTPUT_FILES",
    "backtest_table_columns",
    "FAILURE_COLUMNS",
    "combine_parts",
    "load_weights",
    "portfolio_tables",
    "write_outputs",
    "versions",
    "SURVIVORSHIP",
]

OUTPUT_FILES = (
    "assets.parquet",
    "backtests.csv",
    "portfolio.parquet",
    "portfolio_backtests.csv",
    "failures.csv",
    "manifest.json",
    "report.html",
)
FAILURE_COLUMNS = ["asset", "source", "reason"]
SURVIVORSHIP = (
    "The universe is the list of assets given today (for ../shared/data/sp500, the 2021 S&P 500 "
    "membership): assets that left the index, were delisted or went bankrupt are missing, so "
    "backtests over past days have survivorship bias (they see only the survivors)."
)


def _backtest_columns() -> list[str]:
    from marketcast.risk_backtests import BACKTEST_COLUMNS

    return list(BACKTEST_COLUMNS)


def backtest_table_columns() -> list[str]:
    return ["asset", "model", "tail", *_backtest_columns()]


def combine_parts(
    summaries: Sequence[dict],
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, pd.DataFrame], list[dict]]:
    """``assets`` rows (with ``dof``), ``backtests``, ``failures``, wide returns, per model the wide
    one-day-ahead volatility on the returns' days (for FHS) and each done asset's metadata."""
    rows, tests, failures, returns, metas = [], [], [], {}, []
    paths: dict[str, dict[str, pd.Series]] = {}
    for s in summaries:
        if s["status"] != "done":
            failures.append({"asset": s["asset"], "source": s["source"], "reason": s["reason"]})
            continue
        frame, meta = read_part(s["part"])
        rows.append(frame)
        tests.extend(meta["backtests"])
        r = meta["returns"]
        dates = pd.DatetimeIndex(r["dates"], name="date")
        returns[meta["asset"]] = pd.Series(np.asarray(r["values"], dtype=np.float64), index=dates)
        for model, values in meta.get("filter_volatility", {}).items():
            path = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
            paths.setdefault(model, {})[meta["asset"]] = pd.Series(path, index=dates)
        metas.append({k: meta.get(k) for k in ("asset", "source", "checksum", "first", "last")})
    cols = ASSET_COLUMNS + ["dof"]
    assets = pd.concat(rows, ignore_index=True)[cols] if rows else pd.DataFrame(columns=cols)
    if len(assets):
        assets["date"] = pd.to_datetime(assets["date"])
        assets["breach"] = assets["breach"].astype("boolean")
    backtests = pd.DataFrame(tests, columns=backtest_table_columns())
    fails = pd.DataFrame(failures, columns=FAILURE_COLUMNS)
    wide = pd.DataFrame(returns).sort_index() if returns else pd.DataFrame()
    filter_vol = {model: pd.DataFrame(p).reindex(index=wide.index, columns=wide.columns) for model, p in paths.items()}
    return assets, backtests, fails, wide, filter_vol, metas


def load_weights(path: str | Path, assets: Sequence[str]) -> tuple[pd.Series, list[str]]:
    """Portfolio weights from a CSV of ``symbol`` and ``weight`` (or a position value); unknown symbols listed.

    Weights need not sum to one: the portfolio normalises them per day over the assets with data.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"--weights {path}: no such file")
    try:
        raw = pd.read_csv(p, dtype=str)
    except (ValueError, OSError) as exc:
        raise DataError(f"--weights {p.name}: not a readable CSV ({str(exc).splitlines()[0]})") from None
    canon = {str(c).strip().lower().replace(" ", "_"): c for c in raw.columns}
    sym = next((canon[c] for c in ("symbol", "asset", "ticker") if c in canon), None)
    val = next(
        (canon[c] for c in ("weight", "value", "position", "market_value", "position_value", "amount") if c in canon),
        None,
    )
    if sym is None or val is None:
        raise DataError(
            f"--weights {p.name}: needs a symbol column and a weight (or position value) column, "
            f"has {', '.join(map(str, raw.columns))}"
        )
    values = pd.to_numeric(raw[val].str.replace(",", "", regex=False), errors="coerce")
    if values.isna().any():
        i = int(np.flatnonzero(values.isna().to_numpy())[0])
        raise DataError(f"--weights {p.name}: line {i + 2}: '{raw[val].iloc[i]}' is not a number")
    symbols = raw[sym].astype(str).str.strip()
    if symbols.duplicated().any():
        raise DataError(f"--weights {p.name}: symbol {symbols[symbols.duplicated()].iloc[0]} is listed twice")
    w = pd.Series(values.to_numpy(np.float64), index=symbols.to_numpy())
    known = set(assets)
    unknown = [s for s in w.index if s not in known]
    w = w[[s in known for s in w.index]]
    if w.empty:
        raise DataError(f"--weights {p.name}: names no asset of the universe (e.g. {', '.join(unknown[:3])})")
    if w.sum() == 0:
        raise DataError(f"--weights {p.name}: the weights of the universe's assets sum to zero")
    return w, unknown


def portfolio_dates(assets: pd.DataFrame, days: int) -> pd.DatetimeIndex:
    """The last ``days`` trading days with a realised return in any asset, plus the latest live day."""
    realised = pd.DatetimeIndex(sorted(assets.loc[assets["return"].notna(), "date"].unique()))
    live = pd.DatetimeIndex(sorted(assets.loc[assets["return"].isna(), "date"].unique()))
    days_in = realised[-days:]
    extra = live[live > days_in[-1]] if len(days_in) else live
    return days_in.append(extra[-1:]) if len(extra) else days_in


def portfolio_tables(
    assets: pd.DataFrame,
    returns: pd.DataFrame,
    weights: pd.Series,
    settings: RiskSettings,
    filter_volatility: dict[str, pd.DataFrame] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``portfolio`` rows (:func:`marketcast.portfolio.portfolio_risk`) and their backtests per method and tail.

    ``filter_volatility``: per model, the wide one-day-ahead volatility on the days of ``returns``
    (:func:`combine_parts`), by which FHS standardises the windows' returns.
    """
    from marketcast.portfolio import PORTFOLIO_COLUMNS, portfolio_risk
    from marketcast.risk_backtests import backtest_var_es

    cols = ["method", "tail", *_backtest_columns()]
    if assets.empty or returns.empty:
        return pd.DataFrame(columns=PORTFOLIO_COLUMNS), pd.DataFrame(columns=cols)
    dates = portfolio_dates(assets, settings.days)
    first_tail = assets[assets["tail"] == settings.tails[0]]
    vol, dof = {}, {}
    for model in settings.models:
        m = first_tail[first_tail["model"] == model]
        vol[model] = m.pivot(index="date", columns="asset", values="volatility").reindex(dates)
        dof[model] = m.pivot(index="date", columns="asset", values="dof").reindex(dates)
    w = weights.reindex(returns.columns).dropna()
    port = portfolio_risk(
        returns[w.index],
        {k: v.reindex(columns=w.index) for k, v in vol.items()},
        w,
        dates=dates,
        window=settings.window,
        tails=settings.tails,
        notional=settings.notional,
        dof={k: v.reindex(columns=w.index) for k, v in dof.items()},
        filter_volatility={k: v.reindex(columns=w.index) for k, v in (filter_volatility or {}).items()},
        seed=settings.seed,
    )
    tests = []
    # No volatility given: the ES p-value simulates each day's t implied by the method's own VaR
    # and ES, a law every method has (HS and FHS have no parametric one).
    for (method, tail), g in port.groupby(["method", "tail"], sort=False):
        g = g.sort_values("date")
        row = backtest_var_es(
            g["return"].to_numpy(np.float64),
            g["var"].to_numpy(np.float64),
            g["cvar"].to_numpy(np.float64),
            tail=float(tail),
            notional=settings.notional,
            n_sims=settings.n_sims,
            seed=settings.seed,
        )
        tests.append({"method": method, "tail": float(tail), **row})
    return port, pd.DataFrame(tests, columns=cols)


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    from marketcast._version import __version__

    out: dict[str, str | None] = {"marketcast": __version__, "python": platform.python_version()}
    for pkg in ("numpy", "pandas", "scipy", "arch", "pyarrow", "dask", "distributed"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


def write_json(path: Path, data: dict) -> None:
    from marketcast.io import atomic_write_text

    atomic_write_text(path, json.dumps(data, indent=1, sort_keys=False, default=str) + "\n")


def write_outputs(out: Path, result) -> None:
    """Write the tables of ``result`` (a :class:`~marketcast.universe.job.RiskResult`) into ``out``.

    Every file is written under a temporary name and renamed, tables first, the manifest last:
    an interrupted write leaves earlier files whole and no partial file.
    """
    from marketcast.io import write_table

    write_table(result.assets[ASSET_COLUMNS], out / "assets.parquet")
    write_table(result.backtests, out / "backtests.csv")
    write_table(result.portfolio, out / "portfolio.parquet")
    write_table(result.portfolio_backtests, out / "portfolio_backtests.csv")
    write_table(result.failures, out / "failures.csv")
