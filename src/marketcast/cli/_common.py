"""Helpers shared by the CLI commands: inputs, outputs, tables and progress bars."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from pathlib import Path

import typer

OutOption = typer.Option(
    None, "--out", "-o", help="Write the result to a .csv, .parquet or .json file instead of printing it."
)
ColumnOption = typer.Option(None, "--column", "-c", help="Price column to use (default: the close).")
AdjustOption = typer.Option(
    False,
    "--adjust-splits",
    help="Divide prices before each split or bonus issue the source reports by its ratio (never on suspicion alone).",
)
SplitOption = typer.Option(
    None,
    "--split",
    help="A split you have checked, DATE:RATIO (repeatable): --split 2014-11-20:10 divides the prices before it by 10.",
)


def split_setting(adjust_splits: bool, splits: list[str] | None) -> bool | list[str]:
    """``adjust_splits`` of the library: the confirmed splits (with the reported ones), else the flag."""
    return list(splits) if splits else adjust_splits


ParamOption = typer.Option(
    None, "--param", "-p", help="Model hyper-parameter KEY=VALUE (repeatable), e.g. -p epochs=20."
)
SeedOption = typer.Option(None, "--seed", help="Random seed of stochastic models (same seed, same numbers).")


def parse_params(items: list[str] | None, seed: int | None, epochs: int | None) -> dict:
    import json

    from marketcast.errors import ModelError

    params: dict = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ModelError(f"--param expects KEY=VALUE, got '{item}'")
        try:
            params[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            params[key.strip()] = value
    if seed is not None:
        params["seed"] = seed
    if epochs is not None:
        params["epochs"] = epochs
    return params


def global_option(key: str, default=None):
    """A root option (``--daily-closes``, ``-q``) of the running command, ``default`` outside one."""
    from marketcast.cli._app import SETTINGS

    return SETTINGS.get(key, default)


def is_quiet(ctx: typer.Context) -> bool:
    return bool((ctx.obj or {}).get("quiet"))


def load_input(data: str, column: str | None, adjust_splits: bool | list[str], quiet: bool = False):
    """The price series named by DATA (:func:`marketcast.api.load_prices`), its notes on stderr unless ``quiet``."""
    from marketcast.api import load_prices

    with notes(quiet):
        return load_prices(data, column=column, adjust_splits=adjust_splits)


def check_out(out: Path | None) -> Path | None:
    if out is None:
        return None
    from marketcast.io import check_output_path

    return check_output_path(out)


def write_or_print(
    frame,
    out: Path | None,
    *,
    title: str,
    caption: str | None = None,
    quiet: bool = False,
    columns: list[str] | None = None,
) -> None:
    if out is not None:
        from marketcast.io import write_table

        write_table(frame, out)
        if not quiet:
            typer.echo(f"wrote {len(frame)} rows to {out}", err=True)
        return
    print_frame(
        frame if columns is None else frame[[c for c in columns if c in frame.columns]], title=title, caption=caption
    )


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
        table.add_column(str(col), justify="right" if numeric else "left", no_wrap=True)
    cells = [[_fmt(v) for v in row] for row in frame.itertuples(index=False)]
    for row in cells:
        table.add_row(*row)
    # Wide enough for every cell: a table cut to the terminal (or to 80 columns in a pipe) would
    # hide dates and digits. Each column takes its widest cell plus padding and a border.
    widths = [max([len(str(c))] + [len(r[i]) for r in cells]) for i, c in enumerate(frame.columns)]
    natural = sum(w + 3 for w in widths) + 1
    Console(soft_wrap=False, width=max(natural, Console().width)).print(table)


def _no_progress(n: int = 1) -> None:
    return None


class _PlainProgress:
    """Progress as plain lines on stderr every ``interval`` seconds, for logs and pipes.

    A thread writes the line, so a unit that takes long (an epoch, an asset) does not hold the
    next line back; lines start once a first unit is done, so a run that fails while starting
    (an unreachable scheduler) prints its one error line only. A last line says how long the
    whole took once any line was written.
    """

    def __init__(self, description: str, total: int, interval: float) -> None:
        import threading
        import time

        self.description, self.total, self.interval = description, total, interval
        self.done, self.printed = 0, False
        self._clock = time.monotonic
        self._start = self._clock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="marketcast-progress", daemon=True)

    def _line(self, finished: bool = False) -> None:
        elapsed = self._clock() - self._start
        share = f" ({self.done / self.total:.0%})" if self.total else ""
        when = f"done in {elapsed:.0f} s" if finished else f"{elapsed:.0f} s"
        typer.echo(f"{self.description}: {self.done}/{self.total}{share}, {when}", err=True)
        self.printed = True

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            if self.done:
                self._line()

    def advance(self, n: int = 1) -> None:
        self.done += n

    def __enter__(self) -> Callable[[int], None]:
        self._thread.start()
        return self.advance

    def __exit__(self, exc_type, *_) -> None:
        self._stop.set()
        self._thread.join()
        if self.printed and exc_type is None:
            self._line(finished=True)


def progress_interval() -> float:
    """Seconds between plain progress lines (``$MARKETCAST_PROGRESS_SECONDS``, default 5)."""
    import os

    try:
        value = float(os.environ.get("MARKETCAST_PROGRESS_SECONDS", "5"))
    except ValueError:
        return 5.0
    return value if math.isfinite(value) and value > 0 else 5.0


@contextlib.contextmanager
def progress(description: str, total: int, quiet: bool) -> Iterator[Callable[[int], None]]:
    """A Rich progress bar on a terminal's stderr, plain lines every few seconds elsewhere; nothing when quiet."""
    import sys

    if quiet or total <= 0:
        yield _no_progress
        return
    if not sys.stderr.isatty():
        with _PlainProgress(description, total, progress_interval()) as advance:
            yield advance
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=total)

        def advance(n: int = 1) -> None:
            bar.advance(task, n)

        yield advance


def bars(quiet: bool):
    """The library's progress factory (see :data:`marketcast.api.ProgressFactory`) drawing :func:`progress` bars."""
    return lambda description, total: progress(description, total, quiet)


@contextlib.contextmanager
def notes(quiet: bool) -> Iterator[None]:
    """Print the library's :class:`~marketcast.errors.MarketcastWarning` s as ``note:`` lines (none when quiet)."""
    import warnings

    from marketcast.errors import MarketcastWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", MarketcastWarning)
        yield
    for w in caught:
        if issubclass(w.category, MarketcastWarning):
            if not quiet:
                typer.echo(f"note: {w.message}", err=True)
        else:  # someone else's warning: pass it on as it would have been shown
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
