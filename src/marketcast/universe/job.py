"""``marketcast.risk``: the universe job, from settings to tables (and, with ``out``, to DIR)."""

from __future__ import annotations

import datetime as _dt
import json
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from marketcast.errors import DataError
from marketcast.universe.engine import Engine, run_assets
from marketcast.universe.outputs import (
    OUTPUT_FILES,
    SURVIVORSHIP,
    combine_parts,
    load_weights,
    portfolio_tables,
    sha256_file,
    versions,
    write_json,
    write_outputs,
)
from marketcast.universe.settings import RiskSettings, settings_hash
from marketcast.universe.sources import asset_rows, load_constituents, resolve_universe

__all__ = ["RiskResult", "risk"]

PARTS = ".parts"


@dataclass
class RiskResult:
    """The universe job's tables, as written to DIR.

    ``assets``: ``asset, date, model, tail, volatility, var, cvar, mad, return, breach`` (plus
    ``dof``, the t degrees of freedom behind VaR and CVaR; ``return`` is missing on the live day);
    ``backtests``: one row per asset, model and tail; ``portfolio`` and ``portfolio_backtests``:
    the same per method; ``failures``: ``asset, source, reason``; ``manifest``: settings, data
    checksums and versions.
    """

    assets: pd.DataFrame
    backtests: pd.DataFrame
    portfolio: pd.DataFrame
    portfolio_backtests: pd.DataFrame
    failures: pd.DataFrame
    manifest: dict = field(default_factory=dict)
    out: Path | None = None

    @property
    def summary(self) -> str:
        """``503 of 505 assets done, 2 failed (failures.csv)``."""
        n = self.manifest.get("assets", {}).get("universe", 0)
        done = n - len(self.failures)
        where = " (failures.csv)" if self.out is not None else ""
        failed = f", {len(self.failures)} failed{where}" if len(self.failures) else ""
        return f"{done} of {n} assets done{failed}"


def _check_out(out: Path) -> Path:
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DataError(f"--out {out}: exists and is not a folder")
    if not out.parent.exists():
        raise DataError(f"--out {out}: folder '{out.parent}' does not exist")
    return out


def _read_manifest(out: Path) -> dict | None:
    p = out / "manifest.json"
    if not p.is_file():
        return None
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _prepare_out(out: Path, key: str, resume: bool) -> Path:
    """Create DIR and its parts folder; a fresh run forgets an earlier run's parts and outputs."""
    old = _read_manifest(out)
    if resume:
        if old is not None and old.get("settings_hash") != key:
            raise DataError(
                f"--resume: {out} holds a run with other settings "
                f"({json.dumps(old.get('settings'), sort_keys=True)}); use the same settings "
                "or another --out"
            )
    out.mkdir(exist_ok=True)
    parts = out / PARTS
    if not resume:
        if parts.exists():
            shutil.rmtree(parts)
        if old is not None:  # outputs of an earlier run in this folder must not mix with this one's
            for name in OUTPUT_FILES:
                (out / name).unlink(missing_ok=True)
    parts.mkdir(exist_ok=True)
    return parts


def risk(
    universe: str | Path,
    *,
    models: Sequence[str] | str = ("dd-ewma", "garch"),
    window: int = 504,
    days: int = 250,
    tails: Sequence[float] | float = (0.01, 0.05),
    to=None,
    weights: str | Path | pd.Series | None = None,
    refit_every: int = 1,
    notional: float = 1.0,
    out: str | Path | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    local: bool = False,
    resume: bool = False,
    n_sims: int = 10_000,
    seed: int = 0,
    report: bool = True,
    client=None,
    progress: Callable[[int], None] | None = None,
    echo: Callable[[str], None] | None = None,
) -> RiskResult:
    """VaR and ES of every asset of a universe and of the portfolio, with backtests.

    For each asset and model: the one-day-ahead volatility, VaR and CVaR (ES) at every tail and
    MAD for the last ``days`` trading days up to ``to`` plus the live next day, each from the
    ``window`` log returns before it (:func:`marketcast.volatility.rolling_volatility`'s rule
    and numbers); backtests per asset, model and tail
    (:func:`marketcast.risk_backtests.backtest_var_es`); the portfolio by variance-covariance,
    historical and filtered historical simulation (:func:`marketcast.portfolio.portfolio_risk`)
    with ``weights`` (a CSV of symbol and weight or position value, or a Series; equal weights
    otherwise), backtested the same way.

    Parameters mirror ``marketcast risk``: ``local`` runs in this process, ``scheduler`` on an
    existing Dask cluster, otherwise a LocalCluster of ``workers`` processes (default one per
    core), or on ``client`` (a :class:`distributed.Client` of your own, left open). With ``out``
    the tables, ``manifest.json`` and ``report.html`` are written there and
    ``resume`` computes only the assets missing from an interrupted run with the same settings.
    Every engine gives the same numbers. Bad settings raise a one-line
    :class:`~marketcast.errors.MarketcastError` before any work.

    Examples
    --------
    >>> import marketcast as mc
    >>> res = mc.risk("../shared/data/sp500/daily_adjusted", models="dd-ewma", days=250,
    ...               tails=(0.01, 0.05), local=True)                          # doctest: +SKIP
    >>> res.backtests.groupby(["model", "tail"]).basel_zone.value_counts()     # doctest: +SKIP
    """
    say = echo or (lambda s: None)
    settings = _settings(models, window, days, tails, to, refit_every, notional, n_sims, seed)
    engine = _engine(local, workers, scheduler, client)
    if out is not None:
        out = _check_out(Path(out))
    if resume and out is None:
        raise DataError("--resume needs --out (the folder of the interrupted run)")
    specs = resolve_universe(universe)
    w, weight_note, weight_source = _weights([s.asset for s in specs], weights)
    _check_history(specs, settings)
    key = settings_hash(settings)
    manifest = _initial_manifest(universe, settings, key, engine, weight_source, len(specs))
    own_client = engine.kind == "scheduler"
    if own_client:  # an unreachable scheduler fails before DIR is touched
        from marketcast.universe.engine import connect

        client, _ = connect(engine, say)
    tmp = None
    if out is None:
        tmp = tempfile.mkdtemp(prefix="marketcast-risk-")
        parts = Path(tmp)
    else:
        parts = _start_out(out, key, resume, manifest)
    try:
        if resume:
            _say_resuming(specs, settings, parts, say)
        summaries = run_assets(specs, settings, str(parts), engine, progress=progress, echo=say, client=client)
        assets, backtests, failures, returns, filter_vol, metas = combine_parts(summaries)
        portfolio, port_tests = portfolio_tables(assets, returns, w, settings, filter_vol)
    finally:
        if own_client:
            client.close()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    constituents = load_constituents(universe, specs)
    manifest.update(
        status="complete",
        finished=_now(),
        assets={"universe": len(specs), "done": len(specs) - len(failures), "failed": len(failures)},
        weights_unknown_symbols=weight_note,
        constituents=None if constituents is None else constituents.attrs.get("path"),
        data=metas,
    )
    result = RiskResult(assets, backtests, portfolio, port_tests, failures, manifest, out)
    if out is not None:
        _write(out, result, constituents if report else False)
    return result


def _initial_manifest(universe, settings: RiskSettings, key: str, engine: Engine, weight_source, n: int) -> dict:
    return {
        "status": "running",
        "started": _now(),
        "universe": str(universe),
        "settings": settings.as_dict(),
        "settings_hash": key,
        "engine": engine.describe(),
        "weights": weight_source,
        "survivorship_bias": SURVIVORSHIP,
        "assets": {"universe": n},
        "versions": versions(),
    }


def _start_out(out: Path, key: str, resume: bool, manifest: dict) -> Path:
    """Prepare DIR, write the running manifest (keeping a resumed run's start) and return the parts folder."""
    parts = _prepare_out(out, key, resume)
    old = _read_manifest(out) if resume else None
    if old is not None:
        manifest["started"] = old.get("started", manifest["started"])
        manifest["resumed"] = _now()
    write_json(out / "manifest.json", manifest)
    return parts


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def _settings(models, window, days, tails, to, refit_every, notional, n_sims, seed) -> RiskSettings:
    """:func:`risk`'s arguments as checked :class:`RiskSettings` (models may be ``"a,b"``)."""
    if isinstance(models, str):
        from marketcast.models.registry import parse_model_list

        models = parse_model_list(models)
    return RiskSettings(
        models=tuple(models),
        window=int(window),
        days=int(days),
        tails=(tails,) if isinstance(tails, int | float) else tuple(tails),
        to=None if to is None else str(pd.Timestamp(to).date()) if not isinstance(to, str) else to,
        refit_every=int(refit_every),
        notional=float(notional),
        n_sims=int(n_sims),
        seed=int(seed),
    ).check()


def _engine(local: bool, workers: int | None, scheduler: str | None, client) -> Engine:
    engine = Engine.choose(local=local, workers=workers, scheduler=scheduler)
    if client is None:
        return engine
    if local or scheduler is not None or workers is not None:
        raise DataError("client: give a Dask client or one of local, workers and scheduler, not both")
    return Engine("client")


def _weights(names: list[str], weights) -> tuple[pd.Series, list[str], str | dict[str, str]]:
    """The weights, the unknown symbols a weights file named, and where the weights came from."""
    if isinstance(weights, pd.Series):
        if not set(weights.index) & set(names):
            raise DataError("weights: name no asset of the universe")
        return weights.astype(float), [], "series"
    if weights is not None:
        w, note = load_weights(weights, names)
        return w, note, {"path": str(weights), "sha256": sha256_file(weights)}
    return pd.Series(1.0, index=names), [], "equal"


def _check_history(specs, settings: RiskSettings) -> None:
    longest = max(asset_rows(s) for s in specs)
    if longest - 1 < settings.window + settings.days:
        raise DataError(
            f"--window {settings.window}: longer than every asset's history (the longest has at most "
            f"{max(longest - 1, 0)} returns; a window of {settings.window} before each of "
            f"{settings.days} days needs {settings.window + settings.days})"
        )


def _say_resuming(specs, settings: RiskSettings, parts: Path, say: Callable[[str], None]) -> None:
    from marketcast.universe.work import part_path

    have = sum(part_path(parts, s, settings).exists() for s in specs)
    say(f"resuming: {have} of {len(specs)} assets already written, computing {len(specs) - have}")


def _write(out: Path, result: RiskResult, constituents) -> None:
    """The tables, then the report (unless ``constituents`` is False), then the final manifest."""
    write_outputs(out, result)
    if constituents is not False:
        from marketcast.universe.report import write_report

        write_report(out / "report.html", result, constituents)
    manifest = result.manifest
    manifest["outputs"] = [name for name in OUTPUT_FILES if (out / name).exists() or name == "manifest.json"]
    write_json(out / "manifest.json", manifest)
