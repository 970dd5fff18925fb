"""``marketcast risk``: VaR and ES of every asset of a universe and of the portfolio, with backtests."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer

from marketcast.cli._app import app
from marketcast.cli._common import is_quiet, progress


def _tails(text: str) -> tuple[float, ...]:
    from marketcast.errors import DataError

    out = []
    for item in text.split(","):
        if not item.strip():
            continue
        try:
            out.append(float(item))
        except ValueError:
            raise DataError(f"--tail: '{item.strip()}' is not a number") from None
    return tuple(out)


@app.command("risk")
def risk(
    ctx: typer.Context,
    universe: str = typer.Argument(
        ...,
        help="Folder or glob of price files, a panel file (symbol, date, price), a "
        "text file listing paths or SOURCE:SYMBOL, or 'store:'.",
    ),
    models: str = typer.Option("dd-ewma,garch", "--models", "-m", help="Comma-separated volatility models."),
    window: int = typer.Option(504, "--window", "-w", help="Log returns before each forecast day."),
    days: int = typer.Option(
        250, "--days", help="Trading days to forecast and backtest, up to --to (plus the live next day)."
    ),
    tail: str = typer.Option("0.01,0.05", "--tail", help="Comma-separated tail probabilities of VaR and ES."),
    to: datetime | None = typer.Option(
        None, "--to", formats=["%Y-%m-%d"], help="Last day of data used (default: all)."
    ),
    weights: Path | None = typer.Option(
        None, "--weights", help="CSV of symbol and weight or position value (default: equal weights)."
    ),
    refit_every: int = typer.Option(1, "--refit-every", help="Refit GARCH every K days, filtering in between."),
    notional: float = typer.Option(
        1.0, "--notional", help="Position size of each asset's and the portfolio's VaR and ES."
    ),
    out: Path = typer.Option(
        ..., "--out", "-o", help="Folder for assets.parquet, backtests.csv, portfolio.parquet, ..., report.html."
    ),
    workers: int | None = typer.Option(
        None, "--workers", help="Worker processes of the LocalCluster (default: one per core)."
    ),
    scheduler: str | None = typer.Option(
        None, "--scheduler", help="Run on an existing Dask cluster, e.g. tcp://HOST:8786."
    ),
    local: bool = typer.Option(False, "--local", help="Run in this process, without Dask."),
    resume: bool = typer.Option(
        False, "--resume", help="Compute only the assets an interrupted run with the same settings left."
    ),
) -> None:
    """Tomorrow's VaR and ES of every asset and of the portfolio, with backtests of the last DAYS days."""
    from marketcast.universe import resolve_universe
    from marketcast.universe import risk as run_risk

    quiet = is_quiet(ctx)
    echo = (lambda s: None) if quiet else (lambda s: typer.echo(s, err=True))
    tails = _tails(tail)
    # The bar's total needs the universe's size; resolving it is cheap (file names only).
    total = len(resolve_universe(universe))
    with progress("assets", total, quiet) as tick:
        result = run_risk(
            universe,
            models=models,
            window=window,
            days=days,
            tails=tails,
            to=to,
            weights=weights,
            refit_every=refit_every,
            notional=notional,
            out=out,
            workers=workers,
            scheduler=scheduler,
            local=local,
            resume=resume,
            progress=tick,
            echo=echo,
        )
    typer.echo(result.summary)
    if not quiet:
        typer.echo(
            f"wrote {out}/: assets.parquet, backtests.csv, portfolio.parquet, portfolio_backtests.csv, "
            "failures.csv, manifest.json, report.html",
            err=True,
        )
