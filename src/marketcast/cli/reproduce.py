"""``marketcast reproduce``: regenerate every table and figure of the two papers from real data."""

from __future__ import annotations

from pathlib import Path

import typer

from marketcast.cli._common import is_quiet

app = typer.Typer(help="Reproduce the papers' tables and figures from real data.", no_args_is_help=True)


def _stage_progress(quiet: bool):
    """A callback (stage, done, total) driving one Rich bar per stage; no-op when quiet or not a terminal."""
    import sys

    if quiet or not sys.stderr.isatty():
        return None, None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    )
    tasks: dict[str, TaskID] = {}

    def update(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bar.add_task(stage, total=total)
        bar.update(tasks[stage], completed=min(done, total))

    return bar, update


@app.command("vix-paper")
def vix_paper(
    ctx: typer.Context,
    data: Path | None = typer.Option(None, "--data", help="CBOE VIX_History.csv (default: download it from CBOE)."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the tables, summary.md, report.html and figures."),
    seeds: str | None = typer.Option(
        None, "--seeds", help="Seeds of the stochastic models, comma-separated (default 0,1,2)."
    ),
    quick: bool = typer.Option(False, "--quick", help="One seed, 10 LSTM epochs, a 6-month VaR backtest: a smoke run."),
) -> None:
    """Tables II-VII and Figures 3-4 of the VIX paper, the paper's numbers beside ours."""
    from dataclasses import replace

    from marketcast.data import load_series
    from marketcast.reproduce.outputs import prepare_folder, write_tables
    from marketcast.reproduce.vix_paper import VixPaperConfig, reproduce_vix_paper
    from marketcast.reproduce.vix_summary import summary_markdown

    folder = prepare_folder(out)
    config = VixPaperConfig.quick() if quick else VixPaperConfig()
    if seeds is not None:
        config = replace(config, seeds=parse_seeds(seeds))
    prices = load_series(data) if data is not None else _download_vix()
    bar, update = _stage_progress(is_quiet(ctx))
    if bar is not None:
        with bar:
            result = reproduce_vix_paper(prices, config, progress=update)
    else:
        result = reproduce_vix_paper(prices, config)
    summary = summary_markdown(result)
    write_tables(result.tables, folder, summary)
    _write_report(result, folder)
    if not is_quiet(ctx):
        typer.echo(summary)
        typer.echo(
            f"wrote {len(result.tables)} tables, summary.md and report.html to {folder} "
            f"in {result.seconds['total']:.0f} s",
            err=True,
        )


def parse_seeds(text: str) -> tuple[int, ...]:
    from marketcast.errors import DataError

    try:
        seeds = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise DataError(f"--seeds expects integers like 0,1,2, got '{text}'") from None
    if not seeds:
        raise DataError("--seeds needs at least one seed")
    return seeds


def _download_vix():
    from marketcast.data.series import as_series
    from marketcast.data.sources import fetch
    from marketcast.errors import SourceError

    try:
        frame = fetch("cboe", "VIX")
    except SourceError as exc:
        raise SourceError(f"could not download CBOE's VIX history ({exc}); pass --data VIX_History.csv") from None
    close = frame["close"].dropna()
    close.name = "VIX"
    close.attrs = {"source": "cboe:VIX"}
    return as_series(close)


def _write_report(result, folder: Path) -> None:
    from marketcast.reproduce.vix_report import write_vix_report

    write_vix_report(result, folder)


@app.command("stock-paper")
def stock_paper(
    ctx: typer.Context,
    data_dir: Path = typer.Option(
        ..., "--data-dir", help="Folder with NIFTY_SBIN.csv, aaoi.us.txt, IBM_... and RELIANCE.BSE_... files."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the tables, summary.md, report.html and figures."),
    epochs: int | None = typer.Option(None, "--epochs", help="Training epochs of the networks (the paper: 40)."),
    datasets: str | None = typer.Option(None, "--datasets", help="Comma-separated subset of SBIN,AAOI,IBM,RELIANCE."),
    seed: int = typer.Option(0, "--seed", help="Seed of the networks, XGBoost and the shuffled split."),
    quick: bool = typer.Option(False, "--quick", help="SBIN and AAOI, 2 epochs: a smoke run."),
) -> None:
    """Tables II-IV, the save/reload/train-again experiment and Figures 6-9 of the Stock-X paper."""
    from dataclasses import replace

    from marketcast.errors import DataError
    from marketcast.reproduce.outputs import prepare_folder, write_tables
    from marketcast.reproduce.stock_paper import StockPaperConfig, reproduce_stock_paper, summary_markdown

    if not data_dir.is_dir():
        raise DataError(f"{data_dir}: not a folder")
    folder = prepare_folder(out)
    config = StockPaperConfig.quick() if quick else StockPaperConfig()
    config = replace(config, seed=seed)
    if epochs is not None:
        config = replace(config, epochs=epochs)
    if datasets is not None:
        names = tuple(d.strip().upper() for d in datasets.split(",") if d.strip())
        config = replace(config, datasets=names, finetune_from=names[0], finetune_to=names[-1])
    bar, update = _stage_progress(is_quiet(ctx))
    if bar is not None:
        with bar:
            result = reproduce_stock_paper(data_dir, config, progress=update, model_dir=folder / "models")
    else:
        result = reproduce_stock_paper(data_dir, config, model_dir=folder / "models")
    summary = summary_markdown(result)
    write_tables(result.tables, folder, summary)
    from marketcast.reproduce.stock_report import write_stock_report

    write_stock_report(result, folder)
    if not is_quiet(ctx):
        typer.echo(summary)
        typer.echo(f"wrote {len(result.tables)} tables, summary.md and report.html to {folder}", err=True)
