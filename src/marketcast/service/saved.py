"""Saved models in the service's model folder, by id; an id can never name a path outside it."""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["SAVED_ID", "saved_model_dir", "list_saved", "ServiceError"]

#: Ids are one path component of safe characters: no separators, no leading dot, no '..'.
SAVED_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class ServiceError(Exception):
    """An answer other than 200 that a worker or a route decided on: status, field, message.

    Plain arguments only, so that it crosses process boundaries by pickling unchanged.
    """

    def __init__(self, status: int, field: str | None, message: str, headers: dict | None = None) -> None:
        super().__init__(status, field, message, headers)
        self.status, self.field, self.message, self.headers = status, field, message, headers

    def __str__(self) -> str:
        return self.message


def saved_model_dir(models_dir: str | Path, model_id: str, *, must_exist: bool = True, field: str = "id") -> Path:
    """The folder of saved model ``model_id``; 404 for an unknown or impossible id."""
    root = Path(models_dir).resolve()
    if not isinstance(model_id, str) or not SAVED_ID.fullmatch(model_id) or ".." in model_id:
        raise ServiceError(404, field, f"no saved model '{model_id}'")
    path = root / model_id
    # A symlink planted in the folder must not lead out of it either.
    if path.resolve().parent != root:
        raise ServiceError(404, field, f"no saved model '{model_id}'")
    if must_exist and not (path / "model.json").is_file():
        raise ServiceError(404, field, f"no saved model '{model_id}'")
    return path


def summary(model_id: str, manifest: dict) -> dict:
    keep = ("model", "created", "class", "params", "training", "pretrained", "metrics", "files", "marketcast_version")
    out = {"id": model_id}
    out.update({k: manifest[k] for k in keep if k in manifest})
    out.setdefault("model", "")
    return out


def list_saved(models_dir: str | Path) -> list[dict]:
    """Every readable saved model in the folder, by id; unreadable folders are left out."""
    from marketcast.errors import MarketcastError
    from marketcast.persistence import read_manifest

    root = Path(models_dir)
    if not root.is_dir():
        return []
    out = []
    for path in sorted(root.iterdir()):
        if not SAVED_ID.fullmatch(path.name) or not path.is_dir() or path.is_symlink():
            continue
        try:
            out.append(summary(path.name, read_manifest(path)))
        except (MarketcastError, OSError):
            continue
    return out
