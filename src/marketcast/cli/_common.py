"""Helpers shared by the CLI commands: inputs, outputs, tables and progress bars."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from pathlib import Path

import typer

OutOption = typer.Option(None, "--out", "-o", help="Write the result to a .csv, .parquet or .json file instead of printing it.")
ColumnOption = typer.Option(None, "--column", "-c", help="Price column to use (default: the close).")
AdjustOption = typer.Option(False, "--adjust-splits", help="Divide prices before each split or bonus issue by its ratio.")


def is_quiet(ctx: typer.Context) -> bool:
    return bool((ctx.obj or {}).get("quiet"))


def load_input(data: str, column: str | None, adjust_splits: bool):
    """The price series named by DATA: a file path (or, once fetched, SOURCE:SYMBOL from the store)."""
    from marketcast.data import resolve_input

    return resolve_input(data, column=column, adjust_splits=adjust_splits)


def check_out(out: Path | None) -> Path | None:
    if out is None:
        return None
    from marketcast.io import check_output_path

    return check_output_path(out)


def write_or_print(frame, out: Path | None, *, title: str, caption: str | None = None, quiet: bool = False,
                   columns: list[str] | None = None) -> None:
    if out is not None:
        from marketcast.io import write_table

        write_table(frame, out)
        if not quiet:
            typer.echo(f"wrote {len(frame)} rows to {out}", err=True)
        return
    print_frame(frame if columns is None else frame[[c for c in columns if c in frame.columns]], title=title, caption=caption)


def _fmt(value) -> str:
    import pandas as pd

    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    if isinstance(value, float):
        if math.isinf(value):
            return str(value)
        if value == 0:
            return "0.0000"
        return f"{value:.4f}" if abs(value) >= 1e-3 else f"{value:.4g}"
    return str(value)


def print_frame(frame, *, title: str | None = None, caption: str | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, caption=caption, caption_justify="left", show_lines=False)
    for col in frame.columns:
        numeric = frame[col].dtype.kind in "fiu"
        table.add_column(str(col), justify="right" if numeric else "left")
    for row in frame.itertuples(index=False):
        table.add_row(*(_fmt(v) for v in row))
    Console(soft_wrap=False, width=max(100, Console().width)).print(table)


@contextlib.contextmanager
def progress(description: str, total: int, quiet: bool) -> Iterator[Callable[[int], None]]:
    """A Rich progress bar on stderr; a no-op when quiet or when stderr is not a terminal."""
    import sys

    if quiet or total <= 0 or not sys.stderr.isatty():
        yield lambda n=1: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n=1: bar.advance(task, n)
