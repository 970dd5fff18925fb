"""Writing a reproduction's tables, summary and report into an output folder."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from marketcast.errors import DataError
from marketcast.io import atomic_write_text, write_table

__all__ = ["prepare_folder", "write_tables"]


def prepare_folder(out: str | Path) -> Path:
    """The output folder, created if need be; a file in its place is an error."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise DataError(f"{path}: exists and is not a folder")
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_tables(tables: dict[str, pd.DataFrame], folder: Path, summary: str | None = None) -> list[Path]:
    """Each table as ``<name>.csv`` (written atomically), and ``summary.md``."""
    written = [write_table(frame, folder / f"{name}.csv") for name, frame in tables.items()]
    if summary is not None:
        written.append(atomic_write_text(folder / "summary.md", summary))
    return written
