"""The HTTP service (``marketcast serve``): the library's functions over JSON, with keys, jobs and metrics.

A thin face: requests are checked with the library's own loaders and models, CPU work runs in a
bounded pool of worker processes (:mod:`.pool`), long work is a job whose state lives in a
DuckDB file (:mod:`.jobs`). Nothing here is imported by ``marketcast --version``.

Modules: :mod:`.settings` (configuration), :mod:`.keys` (API keys, stored as hashes),
:mod:`.schemas` (pydantic bodies), :mod:`.library` (the one adapter to the library, run in the
workers), :mod:`.pool`, :mod:`.jobs`, :mod:`.metrics`, :mod:`.middleware`, :mod:`.app` (routes).
"""

from __future__ import annotations

__all__ = ["create_app"]


def create_app(settings=None):
    """The FastAPI application (see :func:`marketcast.service.app.create_app`)."""
    from marketcast.service.app import create_app as _create

    return _create(settings)
