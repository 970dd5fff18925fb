"""Writing result tables: CSV, Parquet or JSON, atomically.

A result file either appears complete or not at all: the table is written to a temporary file
in the same folder and renamed over the target, so a crash or a bad input never leaves a
partial file behind. The temporary name carries a marker and the writer's process id
(``.NAME.mctmp-PID.xxxxxxxx.tmp``), so that what a killed run (``kill -9``) left behind is recognised
and removed by the next write to the same target (:func:`remove_leftovers`), and a write still
running in another process is left alone.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import tempfile
from pathlib import Path

import pandas as pd

from marketcast.errors import DataError

__all__ = [
    "OUTPUT_FORMATS",
    "check_output_path",
    "write_table",
    "atomic_write_text",
    "temporary_prefix",
    "remove_leftovers",
]

OUTPUT_FORMATS = (".csv", ".parquet", ".json")


def check_output_path(path: str | Path, formats: tuple[str, ...] = OUTPUT_FORMATS) -> Path:
    """Validate an output path before any work is done: a suffix in ``formats``, an existing folder."""
    p = Path(path)
    if p.suffix.lower() not in formats:
        names = ", ".join(formats[:-1]) + (" or " if len(formats) > 1 else "") + formats[-1]
        raise DataError(f"{p}: unsupported output format '{p.suffix or '(none)'}' (use {names})")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise DataError(f"{p}: folder '{parent}' does not exist")
    if p.is_dir():
        raise DataError(f"{p}: is a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise DataError(f"{p}: folder '{parent}' is not writable")
    return p


def default_mode(directory: bool = False) -> int:
    """The permissions a new file (or folder) gets under the process umask, e.g. 0o644 / 0o755.

    Temporary files and folders are created owner-only (0o600 / 0o700); results renamed from
    them should look like any other file the user writes.
    """
    mask = os.umask(0)
    os.umask(mask)
    return (0o777 if directory else 0o666) & ~mask


#: ``.NAME.mctmp-PID.xxxxxxxx`` (a folder, :func:`tempfile.mkdtemp`) or ``... .tmp`` (a file, ``mkstemp``):
#: ``mctmp-`` marks marketcast's own, so that a user's ``.NAME.2024.backup01`` is never taken for one.
_TEMPORARY = re.compile(r"\.(?P<name>.+)\.mctmp-(?P<pid>[0-9]{1,9})\.[a-z0-9_]{8}(?:\.tmp)?")


def temporary_prefix(target: Path) -> str:
    """The prefix of a temporary file or folder that becomes ``target``: hidden, marked, named after it and this process."""
    return f".{target.name}.mctmp-{os.getpid()}."


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if os.name != "posix":  # no cheap check: never remove another run's files
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):  # another user's process; not a process id
        return True
    return True


def remove_leftovers(target: Path) -> list[Path]:
    """Remove the temporary files and folders of earlier writes to ``target`` whose process is gone.

    A run killed while writing (``kill -9``, a power cut) cannot clean up after itself; the next
    write to the same target does. Only names of :func:`temporary_prefix`'s form for this very
    target are considered, and only where their process no longer runs (a process id of this
    machine: on a folder shared between machines a live writer elsewhere could look gone, so the
    store and job folders are not written there concurrently). Returns what was removed.
    """
    target = Path(target)
    parent = target.parent if str(target.parent) else Path(".")
    removed = []
    uid = os.getuid() if hasattr(os, "getuid") else None
    for path in parent.glob(glob.escape(f".{target.name}.mctmp-") + "*"):
        found = _TEMPORARY.fullmatch(path.name)
        if found is None or found["name"] != target.name or _alive(int(found["pid"])):
            continue
        try:
            if uid is not None and path.lstat().st_uid != uid:  # only what this user's runs left
                continue
        except FileNotFoundError:
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def _atomic_replace(target: Path, write, mode: int | None = None) -> None:
    """``write(tmp)`` a temporary file beside ``target`` (owner-only while written), give it
    ``mode`` (default: what the umask gives a new file) and rename it over ``target``."""
    remove_leftovers(target)
    fd, tmp = tempfile.mkstemp(prefix=temporary_prefix(target), suffix=".tmp", dir=target.parent or ".")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, default_mode() if mode is None else mode)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_table(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write ``frame`` to ``path`` (format from the suffix) atomically.

    Dates are ISO strings in CSV and JSON and Parquet's own date type (``date32``) in Parquet,
    so that a reader gets dates there, not text.
    """
    target = check_output_path(path)
    suffix = target.suffix.lower()
    out = frame.copy()
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = out[col].dt.date if suffix == ".parquet" else out[col].dt.strftime("%Y-%m-%d")
    if suffix == ".csv":
        _atomic_replace(target, lambda tmp: out.to_csv(tmp, index=False, float_format="%.10g"))
    elif suffix == ".parquet":
        _atomic_replace(target, lambda tmp: out.to_parquet(tmp, index=False))
    else:
        _atomic_replace(target, lambda tmp: out.to_json(tmp, orient="records", indent=1, double_precision=12))
    return target


def atomic_write_text(path: str | Path, text: str, mode: int | None = None) -> Path:
    """Write a text file atomically (reports, manifests; ``mode`` 0o600 for a secret's file)."""
    target = Path(path)

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)

    _atomic_replace(target, write, mode)
    return target
