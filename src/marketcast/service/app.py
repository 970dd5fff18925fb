"""The FastAPI application: settings, lifespan, middleware, error answers and the routers.

The endpoints live in :mod:`marketcast.service.routes`, one module per group; they reach the
settings, the worker pool, the jobs, the keys and the metrics through ``request.app.state``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from marketcast._version import __version__
from marketcast.service.saved import ServiceError

__all__ = ["create_app"]

log = logging.getLogger("marketcast.service")


def create_app(settings=None) -> FastAPI:
    """The app for ``settings`` (default: :meth:`ServiceSettings.from_env`)."""
    from marketcast.errors import MarketcastError
    from marketcast.service.keys import KeyRing
    from marketcast.service.metrics import ServiceMetrics
    from marketcast.service.middleware import ServiceMiddleware
    from marketcast.service.routes import ROUTERS
    from marketcast.service.settings import KEYS_ENV, ServiceSettings

    settings = settings or ServiceSettings.from_env()
    if settings.auth and settings.keys_file is None:
        raise MarketcastError(
            f"no API keys: set {KEYS_ENV} to a keys file (`marketcast keys add NAME --file FILE`), "
            "or start with --no-auth on a trusted machine"
        )
    app = FastAPI(
        title="marketcast",
        version=__version__,
        lifespan=_lifespan,
        description="Forecasts of prices, price intervals, volatility and risk (VaR, CVaR, MAD) over HTTP. "
        "Send `Authorization: Bearer KEY` (keys from `marketcast keys add`).",
    )
    app.state.keys = KeyRing(settings.keys_file) if settings.auth else None
    app.state.settings = settings
    app.state.jobs = app.state.pool = None

    def counts() -> dict:
        return app.state.jobs.store.counts() if app.state.jobs else {}

    def pool_state() -> tuple[int, int]:
        pool = app.state.pool
        return (pool.pending, pool.workers) if pool else (0, 0)

    app.state.metrics = ServiceMetrics(counts, pool_state)
    app.add_middleware(ServiceMiddleware, metrics=app.state.metrics, max_body_bytes=settings.max_body_bytes)
    _answer_errors_as_json(app)
    for router in ROUTERS:
        app.include_router(router)
    return app


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI):
    """Open the job database and start the worker pool and the job runner; close them at the end."""
    from marketcast.service.jobs import JobManager, JobStore
    from marketcast.service.pool import WorkerPool

    settings = app.state.settings
    settings.models_dir.mkdir(parents=True, exist_ok=True)
    job_store = JobStore(settings.jobs_db)
    manager = JobManager(job_store, settings)
    pool = WorkerPool(settings.workers, settings.max_pending, settings.retry_after_s)
    await asyncio.get_running_loop().run_in_executor(None, pool.warm_up)
    app.state.jobs, app.state.pool = manager, pool
    manager.start()
    log.info(
        "marketcast service ready: %d workers, data in %s, models in %s",
        pool.workers,
        settings.data_dir,
        settings.models_dir,
    )
    try:
        yield
    finally:
        manager.shutdown()
        pool.shutdown()
        job_store.close()


def _answer_errors_as_json(app: FastAPI) -> None:
    """Every error answer is JSON with ``status``, ``detail``, ``field`` and the request id."""
    from marketcast.errors import MarketcastError

    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError):
        return _error(request, exc.status, exc.message, exc.field, headers=exc.headers)

    @app.exception_handler(MarketcastError)
    async def _library_error(request: Request, exc: MarketcastError):
        return _error(request, exc.http_status, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        items = [{"field": _loc(e.get("loc", ())), "message": str(e.get("msg", "invalid"))} for e in exc.errors()]
        first = items[0] if items else {"field": "body", "message": "invalid request"}
        if exc.errors() and exc.errors()[0].get("type") == "json_invalid":
            first = items[0] = {"field": "body", "message": f"the body is not valid JSON ({first['message']})"}
        return _error(request, 422, f"{first['field']}: {first['message']}", first["field"], errors=items)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 400 and "parsing the body" in str(exc.detail):  # not UTF-8, say
            return _error(request, 422, "the body is not valid JSON", "body")
        return _error(request, exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))


def _request_id(request: Request) -> str:
    return getattr(request.state, "request_id", None) or uuid.uuid4().hex[:16]


def _error(
    request: Request, status: int, detail: str, field: str | None = None, errors=None, headers: dict | None = None
) -> JSONResponse:
    body: dict[str, Any] = {"status": status, "detail": detail, "field": field, "request_id": _request_id(request)}
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, headers=headers)


def _loc(loc) -> str:
    parts = [p for p in loc if p not in ("body", "query", "path")]
    text = ""
    for p in parts:
        text += f"[{p}]" if isinstance(p, int) else (f".{p}" if text else str(p))
    return text or "body"
