"""Open endpoints for the platform: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import os

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response

from marketcast.service import schemas
from marketcast.service.metrics import CONTENT_TYPE

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=schemas.Health)
async def healthz():
    """The process is alive."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=schemas.Readiness,
    responses={503: {"model": schemas.Readiness, "description": "Not ready"}},
)
async def readyz(request: Request):
    """Ready to serve: models importable, store and model folder readable, workers alive."""
    checks = readiness(request.app)
    ok = all(v == "ok" or v.startswith("absent") for v in checks.values())
    return JSONResponse({"status": "ready" if ok else "not ready", "checks": checks}, status_code=200 if ok else 503)


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "content": {CONTENT_TYPE.split(";")[0]: {"schema": {"type": "string"}}},
            "description": "Prometheus text format",
        }
    },
)
async def prometheus(request: Request):
    """Prometheus metrics: requests, latency histograms, errors, pool load, jobs by state."""
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE)


def readiness(app: FastAPI) -> dict[str, str]:
    """Each check's verdict: ``ok``, ``absent (...)`` (not needed to serve) or ``error: ...``."""
    settings = app.state.settings
    checks: dict[str, str] = {}
    try:
        from marketcast.models.registry import spec_of

        spec_of("dd-ewma", "volatility").load()
        spec_of("sma", "price").load()
        checks["models"] = "ok"
    except Exception as exc:  # noqa: BLE001  (a readiness probe reports, never raises)
        checks["models"] = f"error: {type(exc).__name__}"
    md = settings.models_dir
    checks["models_dir"] = (
        "ok" if md.is_dir() and os.access(md, os.R_OK | os.W_OK | os.X_OK) else f"error: {md} not writable"
    )
    from marketcast.data.store import default_store_path

    store = settings.store or default_store_path()
    if not store.exists():
        checks["store"] = "absent (symbol inputs unavailable)"
    else:
        checks["store"] = "ok" if os.access(store, os.R_OK) else f"error: {store} not readable"
    pool = app.state.pool
    checks["workers"] = "ok" if pool is not None and pool.alive() else "error: worker pool not running"
    checks["jobs"] = "ok" if app.state.jobs is not None else "error: job database not open"
    return checks
