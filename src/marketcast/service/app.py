"""The FastAPI application: routes, keys and error answers. Work goes to the pool or to jobs."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import uuid
from pathlib import Path
from typing import Any, Literal

from fastapi import Depends, FastAPI, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from marketcast._version import __version__
from marketcast.service import library, schemas
from marketcast.service.saved import ServiceError, saved_model_dir

__all__ = ["create_app"]

log = logging.getLogger("marketcast.service")

_bearer = HTTPBearer(auto_error=False, description="An API key from `marketcast keys add`.")
_CREDENTIALS = Security(_bearer)
_ERROR_TEXT = {
    400: "Bad request",
    401: "Missing or wrong API key",
    403: "The key lacks the scope",
    404: "Unknown id or name",
    409: "Conflict with the current state",
    413: "Body over the size limit",
    415: "Body is not JSON",
    422: "A field is invalid (named in `field`)",
    500: "Internal error (with request id)",
    501: "Not available in this installation",
    503: "Busy or not ready: retry after `Retry-After` seconds",
}


def _errors(*codes: int) -> dict:
    return {c: {"model": schemas.ErrorBody, "description": _ERROR_TEXT[c]} for c in sorted({*codes, 422, 500})}


_SECURED = (401, 403)
_BODY = (413, 415, 422)


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


def require(scope: str):
    """A dependency: the caller's key must exist and allow ``scope`` (401 / 403 otherwise)."""

    async def check(request: Request, creds: HTTPAuthorizationCredentials | None = _CREDENTIALS):
        ring = request.app.state.keys
        if ring is None:  # started with --no-auth
            return None
        if creds is None:
            raise ServiceError(
                401,
                "Authorization",
                "missing API key: send 'Authorization: Bearer KEY'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        key = ring.lookup(creds.credentials)
        if key is None:
            raise ServiceError(401, "Authorization", "invalid API key", headers={"WWW-Authenticate": "Bearer"})
        if not key.allows(scope):
            raise ServiceError(403, "Authorization", f"this key's scope is {key.scope}; this needs {scope}")
        request.state.key_name = key.name
        return key

    return check


READ, WRITE = Depends(require("read")), Depends(require("write"))
JOB_SCOPE = {"backtest": "read", "train": "write", "risk": "write"}


# What a risk job writes, by suffix.
_MEDIA = {
    ".parquet": "application/vnd.apache.parquet",
    ".csv": "text/csv",
    ".json": "application/json",
    ".html": "text/html",
}


def _public_job(job: dict) -> dict:
    params = dict(job["params"])
    series = params.get("series")
    if isinstance(series, dict) and series.get("dates"):  # the data itself stays in the database
        params["series"] = {"rows": len(series["dates"]), "first": series["dates"][0], "last": series["dates"][-1]}
    out = {k: job[k] for k in ("id", "kind", "state", "progress", "created", "started", "finished", "result", "error")}
    out["params"] = params
    out["url"] = f"/v1/jobs/{job['id']}"
    if job["kind"] == "train" and job["state"] == "succeeded":
        out["result_url"] = f"/v1/saved-models/{params.get('id')}"
    if job["kind"] == "risk" and job["state"] == "succeeded":
        out["result_url"] = f"/v1/jobs/{job['id']}/files"
    return out


def create_app(settings=None) -> FastAPI:
    """The app for ``settings`` (default: :meth:`ServiceSettings.from_env`)."""
    from marketcast.errors import MarketcastError
    from marketcast.service.jobs import JobManager, JobStore
    from marketcast.service.keys import KeyRing
    from marketcast.service.metrics import CONTENT_TYPE, ServiceMetrics
    from marketcast.service.middleware import ServiceMiddleware
    from marketcast.service.pool import WorkerPool
    from marketcast.service.settings import KEYS_ENV, ServiceSettings

    settings = settings or ServiceSettings.from_env()
    if settings.auth and settings.keys_file is None:
        raise MarketcastError(
            f"no API keys: set {KEYS_ENV} to a keys file (`marketcast keys add NAME --file FILE`), "
            "or start with --no-auth on a trusted machine"
        )
    keys = KeyRing(settings.keys_file) if settings.auth else None
    store_path = str(settings.store) if settings.store else None
    models_dir = str(settings.models_dir)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        settings.models_dir.mkdir(parents=True, exist_ok=True)
        job_store = JobStore(settings.jobs_db)
        manager = JobManager(job_store, settings)
        pool = WorkerPool(settings.workers, settings.max_pending, settings.retry_after_s)
        import asyncio

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

    app = FastAPI(
        title="marketcast",
        version=__version__,
        lifespan=lifespan,
        description="Forecasts of prices, price intervals, volatility and risk (VaR, CVaR, MAD) over HTTP. "
        "Send `Authorization: Bearer KEY` (keys from `marketcast keys add`).",
    )
    app.state.keys = keys
    app.state.settings = settings
    app.state.jobs = app.state.pool = None

    def counts() -> dict:
        return app.state.jobs.store.counts() if app.state.jobs else {}

    def pool_state() -> tuple[int, int]:
        pool = app.state.pool
        return (pool.pending, pool.workers) if pool else (0, 0)

    metrics = ServiceMetrics(counts, pool_state)
    app.add_middleware(ServiceMiddleware, metrics=metrics, max_body_bytes=settings.max_body_bytes)

    # --- error answers: always JSON with status, detail, field and the request id ---------------
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

    # --- open endpoints ------------------------------------------------------------------------
    @app.get("/healthz", response_model=schemas.Health, tags=["operations"])
    async def healthz():
        """The process is alive."""
        return {"status": "ok"}

    @app.get(
        "/readyz",
        response_model=schemas.Readiness,
        tags=["operations"],
        responses={503: {"model": schemas.Readiness, "description": "Not ready"}},
    )
    async def readyz():
        """Ready to serve: models importable, store and model folder readable, workers alive."""
        checks = _readiness(app, settings)
        ok = all(v == "ok" or v.startswith("absent") for v in checks.values())
        return JSONResponse(
            {"status": "ready" if ok else "not ready", "checks": checks}, status_code=200 if ok else 503
        )

    @app.get(
        "/metrics",
        tags=["operations"],
        response_class=Response,
        responses={
            200: {
                "content": {CONTENT_TYPE.split(";")[0]: {"schema": {"type": "string"}}},
                "description": "Prometheus text format",
            }
        },
    )
    async def prometheus():
        """Prometheus metrics: requests, latency histograms, errors, pool load, jobs by state."""
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    # --- read endpoints ------------------------------------------------------------------------
    @app.get(
        "/v1/version", response_model=schemas.Version, dependencies=[READ], responses=_errors(*_SECURED), tags=["info"]
    )
    async def version():
        return {"version": __version__, "api": "v1", "python": sys.version.split()[0]}

    @app.get(
        "/v1/models",
        response_model=schemas.ModelList,
        dependencies=[READ],
        responses=_errors(*_SECURED),
        tags=["models"],
    )
    async def models():
        """Every model, as `marketcast models` lists them."""
        return {"models": library.list_models()}

    @app.get(
        "/v1/models/{name}",
        response_model=schemas.ModelDetail,
        dependencies=[READ],
        responses=_errors(*_SECURED, 404, 422, 503),
        tags=["models"],
    )
    async def model_detail(name: str, target: Literal["price", "volatility"] = Query("price")):
        """Defaults, architecture and parameter count, as `marketcast models describe NAME`."""
        try:
            return await app.state.pool.run(library.describe_model, name, target)
        except ServiceError as exc:
            if exc.field == "name" and exc.status == 422:
                raise ServiceError(404, "name", exc.message) from None
            raise

    @app.post(
        "/v1/volatility",
        dependencies=[READ],
        response_class=Response,
        tags=["forecasts"],
        responses={
            200: {"model": schemas.VolatilityResponse, "description": "One row per day and model"},
            **_errors(*_SECURED, *_BODY, 404, 503),
        },
    )
    async def volatility(body: schemas.VolatilityRequest):
        """One-day-ahead volatility, VaR, CVaR and MAD: the rows of `marketcast volatility`."""
        payload = await app.state.pool.run(library.volatility, body.model_dump(mode="json"), store_path)
        return Response(payload, media_type="application/json")

    @app.post(
        "/v1/forecast",
        dependencies=[READ],
        response_class=Response,
        tags=["forecasts"],
        responses={
            200: {"model": schemas.ForecastResponse, "description": "Dated points and intervals"},
            **_errors(*_SECURED, *_BODY, 404, 503),
        },
    )
    async def forecast(body: schemas.ForecastRequest):
        """Point forecasts and intervals from a model (fitted here) or a saved model: `marketcast forecast`."""
        if body.saved_model is not None:
            saved_model_dir(models_dir, body.saved_model, field="saved_model")
        payload = await app.state.pool.run(library.forecast, body.model_dump(mode="json"), models_dir, store_path)
        return Response(payload, media_type="application/json")

    # --- jobs ----------------------------------------------------------------------------------
    def _check_job(body, models: list[str]) -> None:
        """What a job would find wrong at once, answered now (422) rather than as a failed job."""
        from marketcast.models.registry import parse_model_list, spec_of

        field = "models" if isinstance(body, schemas.BacktestJobRequest) else "model"
        with library.blame(field):
            for name in models:
                for part in parse_model_list(name.split("(", 1)[1].rstrip(")")) if "(" in name else []:
                    spec_of(part, "price")
                spec_of(name.split("(")[0], "price")
        if body.series is not None:
            library.prices_of(body.model_dump(include={"series"}, mode="json"), None)

    def _submit(request: Request, kind: str, params: dict, job_id: str | None = None) -> JSONResponse:
        job = app.state.jobs.submit(kind, params, getattr(request.state, "key_name", None), job_id)
        public = _public_job(job)
        return JSONResponse(public, status_code=202, headers={"Location": public["url"]})

    job_responses = {
        202: {"model": schemas.Job, "description": "Accepted: poll the job's url"},
        **_errors(*_SECURED, *_BODY, 503),
    }

    @app.post(
        "/v1/jobs/backtest",
        dependencies=[READ],
        status_code=202,
        response_model=schemas.Job,
        responses=job_responses,
        tags=["jobs"],
    )
    async def backtest_job(request: Request, body: schemas.BacktestJobRequest):
        """A rolling-origin backtest (`marketcast backtest`) as a job."""
        _check_job(body, body.models)
        return _submit(request, "backtest", body.model_dump(mode="json"))

    @app.post(
        "/v1/jobs/train",
        dependencies=[WRITE],
        status_code=202,
        response_model=schemas.Job,
        responses={**job_responses, **_errors(409)},
        tags=["jobs"],
    )
    async def train_job(request: Request, body: schemas.TrainJobRequest):
        """Train a model and save it into the service's model folder under `id` (`marketcast train`)."""
        _check_job(body, [body.model])
        job_id = uuid.uuid4().hex
        params = body.model_dump(mode="json")
        params["id"] = params.get("id") or f"{re.split(r'[^A-Za-z0-9_-]', body.model)[0] or 'model'}-{job_id[:8]}"
        target = saved_model_dir(models_dir, params["id"], must_exist=False, field="id")
        if target.exists() and not body.overwrite:
            raise ServiceError(409, "id", f"saved model '{params['id']}' exists already (set overwrite)")
        return _submit(request, "train", params, job_id)

    @app.post(
        "/v1/jobs/risk",
        dependencies=[WRITE],
        status_code=202,
        response_model=schemas.Job,
        responses={**job_responses, **_errors(501)},
        tags=["jobs"],
    )
    async def risk_job(request: Request, body: schemas.RiskJobRequest):
        """The universe risk job (`marketcast risk`), on the Dask cluster when one is configured."""
        if library.risk_function() is None:
            raise ServiceError(
                501, None, "risk jobs are not available: this installation has no universe job (marketcast.universe)"
            )
        from marketcast.models.registry import spec_of

        with library.blame("models"):
            for name in body.models:
                spec_of(name.split("(")[0], "volatility")
        params = body.model_dump(mode="json")
        library.risk_inputs(params, settings.universes_dir, store_path)  # 422 now, not a failed job
        return _submit(request, "risk", params)

    @app.get(
        "/v1/jobs", response_model=schemas.JobList, dependencies=[READ], responses=_errors(*_SECURED), tags=["jobs"]
    )
    async def jobs(limit: int = Query(100, ge=1, le=1000)):
        """The latest jobs, newest first."""
        return {"jobs": [_public_job(j) for j in app.state.jobs.store.list(limit)]}

    @app.get(
        "/v1/jobs/{job_id}",
        response_model=schemas.Job,
        dependencies=[READ],
        responses=_errors(*_SECURED, 404),
        tags=["jobs"],
    )
    async def job(job_id: str):
        """State, progress and, when done, the result of a job."""
        found = app.state.jobs.store.get(job_id)
        if found is None:
            raise ServiceError(404, "job_id", f"no job '{job_id}'")
        return _public_job(found)

    def _job_folder(job_id: str) -> Path:
        found = app.state.jobs.store.get(job_id)
        if found is None:
            raise ServiceError(404, "job_id", f"no job '{job_id}'")
        if found["kind"] != "risk":
            raise ServiceError(404, "job_id", f"job '{job_id}' is a {found['kind']} job: it writes no files")
        if found["state"] != "succeeded":
            raise ServiceError(409, "job_id", f"job '{job_id}' is {found['state']}: its files come when it succeeds")
        return Path(settings.results_dir) / found["id"]

    @app.get(
        "/v1/jobs/{job_id}/files",
        response_model=schemas.JobFiles,
        dependencies=[READ],
        responses=_errors(*_SECURED, 404, 409),
        tags=["jobs"],
    )
    async def job_files(job_id: str):
        """The files a finished risk job wrote (`marketcast risk --out DIR`), with their download urls."""
        folder = _job_folder(job_id)
        files = (
            sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")) if folder.is_dir() else []
        )
        return {
            "files": [
                {"name": p.name, "bytes": p.stat().st_size, "url": f"/v1/jobs/{job_id}/files/{p.name}"} for p in files
            ]
        }

    @app.get(
        "/v1/jobs/{job_id}/files/{name}",
        dependencies=[READ],
        response_class=FileResponse,
        responses={200: {"content": {t: {} for t in sorted(set(_MEDIA.values()))}}, **_errors(*_SECURED, 404, 409)},
        tags=["jobs"],
    )
    async def job_file(job_id: str, name: str):
        """One output file of a finished risk job (`assets.parquet`, `backtests.csv`, `report.html`, ...)."""
        folder = _job_folder(job_id).resolve()
        path = (folder / name).resolve()
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", name) or path.parent != folder or not path.is_file():
            raise ServiceError(404, "name", f"job '{job_id}' has no file '{name}'")
        return FileResponse(path, media_type=_MEDIA.get(path.suffix, "application/octet-stream"), filename=name)

    @app.delete("/v1/jobs/{job_id}", response_model=schemas.Job, responses=_errors(*_SECURED, 404, 409), tags=["jobs"])
    async def cancel_job(request: Request, job_id: str, key=READ):
        """Cancel a queued or running job (training and risk jobs need a write key)."""
        found = app.state.jobs.store.get(job_id)
        if found is None:
            raise ServiceError(404, "job_id", f"no job '{job_id}'")
        if key is not None and not key.allows(JOB_SCOPE[found["kind"]]):
            raise ServiceError(403, "Authorization", f"cancelling a {found['kind']} job needs a write key")
        return _public_job(app.state.jobs.cancel(job_id))

    # --- saved models --------------------------------------------------------------------------
    @app.get(
        "/v1/saved-models",
        response_model=schemas.SavedModelList,
        dependencies=[READ],
        responses=_errors(*_SECURED),
        tags=["models"],
    )
    async def saved_models():
        """The models in the service's model folder (safetensors + JSON, as on disk)."""
        return {"saved_models": library.saved_models(models_dir)}

    @app.get(
        "/v1/saved-models/{model_id}",
        response_model=schemas.SavedModel,
        dependencies=[READ],
        responses=_errors(*_SECURED, 404),
        tags=["models"],
    )
    async def saved_model(model_id: str):
        """A saved model's manifest."""
        return library.saved_model(models_dir, model_id)

    return app


def _readiness(app: FastAPI, settings) -> dict[str, str]:
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
