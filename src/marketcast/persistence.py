"""Saving and loading fitted models: weights in safetensors, everything else in JSON. Never pickle.

A saved model is a directory::

    model.json           manifest: format, marketcast version, model name and hyper-parameters,
                         learned non-array state, training range, data checksum, metrics,
                         and the SHA-256 of every other file
    weights.safetensors  named arrays (network weights, scalers' buffers...)
    <name>.json          a library's own safe format where it has one (XGBoost booster,
                         Prophet model), declared in the manifest

Loading checks the format, that the model name is a registered one, and every file's checksum
before touching it; the arrays are read with ``safetensors.numpy`` (no code execution, no
``torch.load``). The directory is written to a temporary sibling and renamed into place, so a
failed save leaves nothing half-written.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from marketcast._version import __version__
from marketcast.errors import DataError, MarketcastError, ModelError
from marketcast.models.base import Forecaster, check_is_fitted

__all__ = ["save_model", "load_model", "read_manifest", "data_checksum", "FORMAT"]

FORMAT = "marketcast-model/1"
MANIFEST = "model.json"
WEIGHTS = "weights.safetensors"
#: Key in a model's state metadata whose ``{file name: text}`` entries are written as files.
FILES_KEY = "files"


def data_checksum(series: pd.Series) -> str:
    """SHA-256 of a series' dates and values: which data a model was trained on."""
    h = hashlib.sha256()
    h.update(np.asarray(series.index.values, dtype="datetime64[ns]").astype(np.int64).tobytes())
    h.update(np.ascontiguousarray(series.to_numpy(dtype=np.float64)).tobytes())
    return h.hexdigest()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, float) and not np.isfinite(value):
        return {"float": repr(value)}  # JSON has no inf/nan
    return value


def _restore_floats(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"float"}:
            return float(value["float"])
        return {k: _restore_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_restore_floats(v) for v in value]
    return value


def save_model(
    model: Forecaster,
    directory: str | Path,
    *,
    data: pd.Series | None = None,
    metrics: dict[str, float] | None = None,
    overwrite: bool = True,
    pretrained: list[dict[str, Any]] | None = None,
) -> Path:
    """Save a fitted model to ``directory`` (see the module docstring for the layout).

    ``pretrained`` lists the ``training`` blocks of the runs a fine-tuned model started from
    (oldest first), so the manifest keeps every series the weights have seen.
    """
    from safetensors.numpy import save_file

    check_is_fitted(model, ("n_obs_",), what="saving it")
    target = Path(directory)
    if target.exists() and not target.is_dir():
        raise DataError(f"{target}: exists and is not a directory")
    if target.exists() and not overwrite:
        raise DataError(f"{target}: already exists")
    arrays, meta = model._get_state()
    meta, files = _extract_files(meta)
    target.parent.mkdir(parents=True, exist_ok=True)
    from marketcast.io import remove_leftovers, temporary_prefix

    remove_leftovers(target)
    tmp = Path(tempfile.mkdtemp(prefix=temporary_prefix(target), dir=target.parent))
    try:
        checksums = {}
        if arrays:
            clean = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
            save_file(clean, str(tmp / WEIGHTS), metadata={"format": FORMAT})
            checksums[WEIGHTS] = _sha256(tmp / WEIGHTS)
        for fname, text in files.items():
            if not _SAFE_NAME.fullmatch(fname) or fname in (MANIFEST, WEIGHTS) or not fname.endswith(".json"):
                raise ModelError(f"{model.name}: bad state file name '{fname}'")
            (tmp / fname).write_text(text, encoding="utf-8")
            checksums[fname] = _sha256(tmp / fname)
        training: dict[str, Any] = {
            "rows": int(model.n_obs_),
            "first": getattr(model, "first_date_", None),
            "last": getattr(model, "last_date_", None),
        }
        if data is not None:
            training.update(
                checksum=data_checksum(data), source=data.attrs.get("source"), column=data.attrs.get("column")
            )
        manifest = {
            "format": FORMAT,
            "marketcast_version": __version__,
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "model": model.name,
            "class": f"{type(model).__module__}.{type(model).__qualname__}",
            "params": _params_of(model),
            "state": meta,
            "training": training,
            "pretrained": list(pretrained or []),
            "metrics": metrics or {},
            "files": checksums,
        }
        (tmp / MANIFEST).write_text(json.dumps(_jsonable(manifest), indent=2), encoding="utf-8")
        from marketcast.io import default_mode

        os.chmod(tmp, default_mode(directory=True))  # mkdtemp made it owner-only
        if target.exists():
            backup = Path(tempfile.mkdtemp(prefix=temporary_prefix(target), dir=target.parent))
            backup.rmdir()  # a free name of the same form: a kill between the renames leaves it to remove_leftovers
            os.replace(target, backup)
            os.replace(tmp, target)
            shutil.rmtree(backup, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _extract_files(meta: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Move every ``{"files": {name: text}}`` found in (nested) state metadata out into files.

    The metadata keeps ``{"files": {name: stored_file_name}}``; nested models (ensemble members,
    a conformal wrapper's model) get their path as a prefix so names never collide.
    """
    files: dict[str, str] = {}

    def walk(node: Any, path: str) -> Any:
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                if key == FILES_KEY and isinstance(value, dict):
                    refs = {}
                    for fname, text in value.items():
                        stored = f"{path}{fname}"
                        files[stored] = text
                        refs[fname] = stored
                    out[key] = refs
                else:
                    out[key] = walk(value, f"{path}{key}.")
            return out
        if isinstance(node, list | tuple):
            return [walk(v, f"{path}{i}.") for i, v in enumerate(node)]
        return node

    return walk(meta, ""), files


def _restore_files(meta: Any, root: Path, known: set[str]) -> Any:
    """The inverse of :func:`_extract_files`: file references become the files' text again."""
    if isinstance(meta, dict):
        out = {}
        for key, value in meta.items():
            if key == FILES_KEY and isinstance(value, dict):
                texts = {}
                for fname, stored in value.items():
                    if stored not in known:
                        raise DataError(f"{root}: state refers to an undeclared file {stored}")
                    texts[fname] = (root / stored).read_text(encoding="utf-8")
                out[key] = texts
            else:
                out[key] = _restore_files(value, root, known)
        return out
    if isinstance(meta, list):
        return [_restore_files(v, root, known) for v in meta]
    return meta


def read_manifest(directory: str | Path) -> dict[str, Any]:
    """The validated manifest of a saved model."""
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise DataError(f"{directory}: not a saved marketcast model (no {MANIFEST})")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise DataError(
            f"{path}: unknown model format {manifest.get('format') if isinstance(manifest, dict) else None!r}"
        )
    return _restore_floats(manifest)


def load_model(directory: str | Path) -> Forecaster:
    """Load a model saved by :func:`save_model`; files are checked before they are read."""
    from safetensors.numpy import load_file

    from marketcast.models.registry import get_model

    root = Path(directory)
    manifest = read_manifest(root)
    for fname, digest in manifest.get("files", {}).items():
        path = root / fname
        if Path(fname).name != fname or not path.is_file():
            raise DataError(f"{root}: missing file {fname}")
        if _sha256(path) != digest:
            raise DataError(f"{root}: {fname} does not match its checksum (modified or corrupt)")
    params = manifest.get("params", {})
    model = _instantiate(manifest["model"], params, get_model)
    arrays = load_file(str(root / WEIGHTS)) if WEIGHTS in manifest.get("files", {}) else {}
    meta = _restore_files(manifest.get("state", {}), root, set(manifest.get("files", {})))
    try:
        model._set_state(arrays, meta)
    except MarketcastError:
        raise
    except Exception as exc:  # torch's size mismatch, a missing array, a wrong type in the state
        raise _mismatch(root, exc) from None
    training = manifest.get("training", {})
    model.n_obs_ = int(training.get("rows", 0))
    for key in ("first", "last"):
        if training.get(key):
            setattr(model, f"{key}_date_", pd.Timestamp(training[key]))
    model.manifest_ = manifest
    # Settings that load but do not fit the weights (an XGBoost window, an SMA window longer than
    # the saved tail) show in the first forecast: make it now, so the error is a load error.
    try:
        model.predict(1)
    except Exception as exc:
        raise _mismatch(root, exc) from None
    return model


def _mismatch(root: Path, exc: Exception) -> DataError:
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    detail = next(
        (ln for ln in lines if "mismatch" in ln.lower() or "missing" in ln.lower()),
        lines[0] if lines else type(exc).__name__,
    )
    return DataError(
        f"{root}: the settings in {MANIFEST} do not fit the saved weights (edited, or from another "
        f"version): {detail[:200]}"
    )


def _params_of(model: Forecaster) -> dict[str, Any]:
    """Hyper-parameters as JSON; a wrapped model (conformal intervals) as its name and parameters."""
    params = model.get_params()
    inner = params.get("model")
    if isinstance(inner, Forecaster):
        params["model"] = {"name": inner.name, "params": inner.get_params()}
    return params


def _instantiate(name: str, params: dict[str, Any], get_model) -> Forecaster:
    params = dict(params)
    try:
        if isinstance(params.get("model"), dict):  # conformal intervals around a registered model
            from marketcast.intervals import ConformalForecaster

            inner = params.pop("model")
            return ConformalForecaster(_instantiate(inner["name"], inner.get("params", {}), get_model), **params)
        if name.startswith("ensemble"):
            return get_model("ensemble", "price", **params)
        return get_model(name, "price", **params)
    except (ModelError, TypeError) as exc:
        raise DataError(f"saved model '{name}': {exc}") from None
