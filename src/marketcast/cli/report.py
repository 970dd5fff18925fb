"""``marketcast report``: one self-contained HTML report (and PNGs) from result files and saved models."""

from __future__ import annotations

from pathlib import Path

import typer

from marketcast.cli._app import app
from marketcast.cli._common import is_quiet


@app.command("report")
def report(
    ctx: typer.Context,
    results: list[Path] = typer.Argument(
        ...,
        help="Result files (.csv/.parquet/.json from backtest, volatility, "
        "forecast) or saved-model directories (training history).",
    ),
    out: Path = typer.Option(..., "--out", "-o", help="The report to write (.html, self-contained, opens offline)."),
    png_dir: Path | None = typer.Option(None, "--png-dir", help="Also write every chart as a PNG into this folder."),
    title: str | None = typer.Option(None, "--title", help="Report title (default: the result files' names)."),
) -> None:
    """Interactive charts and tables of RESULTS in one HTML file; each file becomes one or more sections."""
    from marketcast import api

    path = api.report(results, out, title=title, png_dir=png_dir)
    if not is_quiet(ctx):
        where = f"; PNGs in {png_dir}" if png_dir is not None else ""
        typer.echo(f"wrote {path}{where}", err=True)
