"""What the front door's functions share: progress reporting and the conversion of settings."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from marketcast.errors import ModelError

if TYPE_CHECKING:
    pass


#: ``progress(description, total)`` returns a context manager that yields ``tick(n)``, called
#: with each ``n`` units of work done out of ``total`` (model fits, epochs). The library says
#: what the units are; the caller draws the bar (Rich in the command line, tqdm in a notebook).
ProgressFactory = Callable[[str, int], AbstractContextManager[Callable[[int], None]]]


@contextlib.contextmanager
def _progress(factory: ProgressFactory | None, description: str, total: int) -> Iterator[Callable[[int], None] | None]:
    if factory is None:
        yield None
        return
    with factory(description, total) as tick:
        yield tick


# --------------------------------------------------------------------------- data


def _names(models_) -> list[str]:
    from marketcast.models.registry import parse_model_list

    if isinstance(models_, str):
        return parse_model_list(models_)
    names = [str(m) for m in models_]
    if not names:
        raise ModelError("no models given")
    return names


def _params(params: dict | None, seed: int | None, epochs: int | None = None) -> dict[str, Any]:
    out = dict(params or {})
    if seed is not None:
        out["seed"] = seed
    if epochs is not None:
        out["epochs"] = epochs
    return out


def _levels(levels) -> tuple[float, ...] | None:
    from marketcast.models.base import check_levels

    return check_levels(levels) if levels else None
