"""One asset's work: load its prices, forecast volatility and risk, backtest, write one part.

A part is one Parquet file per asset, named by the asset and a hash of the settings and the
asset's source, written atomically (temporary name, then rename). Writing it again gives the
same file, so a task that a dead worker's retry runs twice loses and duplicates nothing, and a
resumed run skips the assets whose part exists. The part's rows are the asset's rows of
``assets.parquet`` (plus the t degrees of freedom); its Parquet metadata holds the asset's
backtests, its recent returns (for the portfolio) and its data checksum, or, for an asset that
failed, the loader's one-line reason.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd

from marketcast.errors import DataError, MarketcastError
from marketcast.universe.settings import RiskSettings, settings_hash
from marketcast.universe.sources import AssetSpec, checksum, load_asset

__all__ = ["ASSET_COLUMNS", "BACKTEST_KEYS", "AssetResult", "compute_asset", "run_asset", "part_path", "read_part"]

ASSET_COLUMNS = ["asset", "date", "model", "tail", "volatility", "var", "cvar", "mad", "return", "breach"]
PART_COLUMNS = ASSET_COLUMNS + ["dof"]
BACKTEST_KEYS = ["asset", "model", "tail"]
_META_KEY = b"marketcast"
#: In a part's name: parts of an older layout (without ``filter_volatility``) are computed again.
PART_FORMAT = "part-2"
#: Refit period of parametric models over the days before the first forecast day, whose
#: forecasts only standardise FHS's windows (:func:`filter_volatility`): about a month.
FILTER_REFIT_EVERY = 21


@dataclass
class AssetResult:
    """One asset's forecasts (``rows``), its backtests, and the returns and each model's
    one-day-ahead volatility on their days (:func:`filter_volatility`) that the portfolio needs."""

    rows: pd.DataFrame
    backtests: pd.DataFrame
    returns: pd.Series
    filter_volatility: dict[str, pd.Series]
    checksum: str
    first: str
    last: str


def breaches(returns: np.ndarray, var: np.ndarray, notional: float) -> pd.array:
    """``-notional * return > var``; missing where the return is not known yet (the live day)."""
    r = np.asarray(returns, dtype=np.float64)
    known = np.isfinite(r)
    out = pd.array(np.where(known, -notional * np.where(known, r, 0.0) > var, False), dtype="boolean")
    out[~known] = pd.NA
    return out


def compute_asset(spec: AssetSpec, settings: RiskSettings) -> AssetResult:
    """Forecasts and backtests of one asset for every model and tail of ``settings``.

    The volatility comes from :func:`marketcast.volatility.rolling_volatility` (the numbers of
    ``marketcast volatility`` for the same window and days), computed once per model; VaR and
    CVaR are then evaluated at each tail with :mod:`marketcast.risk_measures` from that
    volatility and the same t degrees of freedom.
    """
    from marketcast.risk_backtests import backtest_var_es
    from marketcast.risk_measures import conditional_value_at_risk, value_at_risk
    from marketcast.stats import log_returns
    from marketcast.volatility import rolling_volatility

    prices = load_asset(spec, settings.column)
    if settings.to is not None:
        prices = prices[prices.index <= pd.Timestamp(settings.to)]
        if len(prices) < 2:
            raise DataError(f"{prices.attrs.get('source', spec.asset)}: no prices up to {settings.to}")
    returns = cast(pd.Series, log_returns(prices))  # a Series in, a Series out
    need = settings.window + settings.days
    if len(returns) < need:
        raise DataError(
            f"{prices.attrs.get('source', spec.asset)}: {len(returns)} returns up to "
            f"{returns.index[-1].date()}, but a window of {settings.window} before each of "
            f"{settings.days} days needs {need}"
        )
    start = returns.index[-settings.days]
    vol = rolling_volatility(
        prices,
        window=settings.window,
        start=start,
        models=list(settings.models),
        tail=settings.tails[0],
        notional=settings.notional,
        n_jobs=1,
        refit_every=settings.refit_every,
    )
    kept = returns.iloc[-need:]
    paths = filter_volatility(prices, returns, vol, settings)
    frames, tests = [], []
    for model in settings.models:
        m = vol[vol["model"] == model]
        sigma = m["volatility"].to_numpy(np.float64)
        dof = m["dof"].to_numpy(np.float64)
        realised = m["return"].to_numpy(np.float64)
        for tail in settings.tails:
            var = np.asarray(value_at_risk(sigma, dof, tail, settings.notional), dtype=np.float64)
            cvar = np.asarray(conditional_value_at_risk(sigma, dof, tail, settings.notional), dtype=np.float64)
            frames.append(
                pd.DataFrame(
                    {
                        "asset": spec.asset,
                        "date": m["date"].to_numpy(),
                        "model": model,
                        "tail": tail,
                        "volatility": sigma,
                        "var": var,
                        "cvar": cvar,
                        "mad": m["mad"].to_numpy(np.float64),
                        "return": realised,
                        "breach": breaches(realised, var, settings.notional),
                        "dof": dof,
                    }
                )
            )
            row = backtest_var_es(
                realised,
                var,
                cvar,
                tail=tail,
                notional=settings.notional,
                volatility=sigma,
                dof=dof,
                n_sims=settings.n_sims,
                seed=settings.seed,
            )
            tests.append({"asset": spec.asset, "model": model, "tail": tail, **row})
    rows = pd.concat(frames, ignore_index=True)
    return AssetResult(
        rows,
        pd.DataFrame(tests),
        kept,
        {model: path.reindex(kept.index) for model, path in paths.items()},
        checksum(spec, prices),
        str(prices.index[0].date()),
        str(prices.index[-1].date()),
    )


def filter_volatility(
    prices: pd.Series, returns: pd.Series, vol: pd.DataFrame, settings: RiskSettings
) -> dict[str, pd.Series]:
    """Each model's one-day-ahead volatility forecast for every day of the portfolio's windows.

    Filtered historical simulation (:func:`marketcast.portfolio.portfolio_risk`) standardises
    each return of a forecast day's window by the model's forecast for that return's day, made
    from the ``window`` returns before it (Hull and White, 1998). The forecast days' own
    forecasts (``vol``) cover the later part of the windows; this adds the ``window`` days before
    the first forecast day with the same rule (:func:`~marketcast.volatility.rolling_volatility`,
    same model, as far back as the asset's history has a full window before the day. Those
    ``window`` extra days would triple a daily-refit GARCH run of ``days=250, window=504`` (and
    multiply a short one many times), so there parametric models refit every
    :data:`FILTER_REFIT_EVERY` days (or ``refit_every`` if longer) and filter in between (as
    ``--refit-every``); DD-EWMA, which fits nothing costly, is the same rule as every day.
    """
    from marketcast.volatility import rolling_volatility

    first = len(returns) - settings.days  # position of the first forecast day
    pre = min(settings.window, first - settings.window)

    def path_of(frame: pd.DataFrame, model: str) -> pd.Series:
        m = frame[(frame["model"] == model) & frame["return"].notna()]  # days with a return: not the live one
        return pd.Series(m["volatility"].to_numpy(np.float64), index=pd.DatetimeIndex(m["date"]))

    out = {model: path_of(vol, model) for model in settings.models}
    if pre > 0:
        try:
            early = rolling_volatility(
                prices,
                window=settings.window,
                start=returns.index[first - pre],
                end=returns.index[first - 1],
                models=list(settings.models),
                tail=settings.tails[0],
                notional=settings.notional,
                n_jobs=1,
                refit_every=max(settings.refit_every, FILTER_REFIT_EVERY),
            )
        except DataError:  # e.g. constant prices in an early window: FHS leaves the asset out there
            return out
        for model in settings.models:
            out[model] = pd.concat([path_of(early, model), out[model]])
    return out


# --------------------------------------------------------------------------- parts


def part_path(parts_dir: str | Path, spec: AssetSpec, settings: RiskSettings) -> Path:
    """``<asset>-<hash>.parquet``: the hash is of the settings and the asset's source."""
    safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in spec.asset)
    return Path(parts_dir) / f"{safe}-{settings_hash(settings, spec.key(), PART_FORMAT)}.parquet"


def _write_part(path: Path, rows: pd.DataFrame, meta: dict) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from marketcast.io import _atomic_replace

    table = pa.Table.from_pandas(rows, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), _META_KEY: json.dumps(meta).encode()})
    _atomic_replace(path, lambda tmp: pq.write_table(table, tmp))


def _empty_rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "asset": pd.Series(dtype="object"),
            "date": pd.Series(dtype="datetime64[ns]"),
            "model": pd.Series(dtype="object"),
            "tail": pd.Series(dtype="float64"),
            **{c: pd.Series(dtype="float64") for c in ("volatility", "var", "cvar", "mad", "return")},
            "breach": pd.Series(dtype="boolean"),
            "dof": pd.Series(dtype="float64"),
        }
    )


def read_part(path: str | Path) -> tuple[pd.DataFrame, dict]:
    """A part's rows and its metadata."""
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    meta = json.loads(table.schema.metadata[_META_KEY])
    return table.to_pandas(), meta


def read_part_meta(path: str | Path) -> dict:
    import pyarrow.parquet as pq

    return json.loads(pq.read_schema(path).metadata[_META_KEY])


def _summary(meta: dict, path: Path) -> dict:
    return {
        "asset": meta["asset"],
        "source": meta["source"],
        "status": meta["status"],
        "reason": meta.get("reason", ""),
        "part": str(path),
        "worker_pid": meta.get("pid"),
    }


def _load_libraries(settings: RiskSettings) -> None:
    """Import what the models use before limiting threads: threadpoolctl caps only the BLAS
    libraries already loaded, and a library loaded later (arch's SciPy) would run the first
    asset with a pool per core and land GARCH's optimum a few 1e-8 elsewhere."""
    import scipy.linalg  # noqa: F401
    import scipy.optimize  # noqa: F401

    from marketcast.models.registry import get_model

    for name in settings.models:
        get_model(name, "volatility")
    if any("garch" in name for name in settings.models):
        import arch  # noqa: F401


def run_asset(spec: AssetSpec, settings: RiskSettings, parts_dir: str) -> dict:
    """Compute one asset and write its part, unless the part exists; returns a small summary.

    An asset whose data is bad (any :class:`~marketcast.errors.MarketcastError`) is written
    as a failed part with the loader's one-line reason. BLAS and OpenMP are held to one thread,
    so that one worker per core does not oversubscribe and every engine gives the same digits.
    """
    from threadpoolctl import threadpool_limits

    path = part_path(parts_dir, spec, settings)
    if path.exists():
        try:
            return _summary(read_part_meta(path), path)
        except (OSError, ValueError, KeyError):  # unreadable: computed again below
            pass
    meta = {"asset": spec.asset, "source": spec.source, "kind": spec.kind, "pid": os.getpid()}
    _load_libraries(settings)
    try:
        with threadpool_limits(1):
            res = compute_asset(spec, settings)
    except MarketcastError as exc:
        meta.update(status="failed", reason=str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        _write_part(path, _empty_rows(), meta)
        return _summary(meta, path)
    except (OSError, ValueError, ArithmeticError, LookupError) as exc:
        # A data problem no loader check named: one line, and the other assets go on.
        meta.update(
            status="failed",
            reason=f"{spec.asset}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
        )
        _write_part(path, _empty_rows(), meta)
        return _summary(meta, path)
    meta.update(
        status="done",
        checksum=res.checksum,
        first=res.first,
        last=res.last,
        backtests=res.backtests.to_dict(orient="records"),
        returns={
            "dates": [d.date().isoformat() for d in res.returns.index],
            "values": res.returns.to_numpy(np.float64).tolist(),
        },
        # aligned with returns' dates; null where the history has no full window before the day
        filter_volatility={
            model: [None if not np.isfinite(v) else float(v) for v in path.to_numpy(np.float64)]
            for model, path in res.filter_volatility.items()
        },
    )
    _write_part(path, res.rows, meta)
    return _summary(meta, path)
