"""Long work as jobs: backtest, train and risk jobs, their state, files and cancellation.

A job's state lives in the job database (:mod:`marketcast.service.jobs`), so it outlives a restart.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, JSONResponse

from marketcast.service import library, schemas
from marketcast.service.routes.common import BODY, READ, SECURED, WRITE, errors, models_dir, store_path
from marketcast.service.saved import ServiceError, saved_model_dir

router = APIRouter(tags=["jobs"])

#: The scope a key needs to start (or cancel) each kind of job.
JOB_SCOPE = {"backtest": "read", "train": "write", "risk": "write"}

# What a risk job writes, by suffix.
_MEDIA = {
    ".parquet": "application/vnd.apache.parquet",
    ".csv": "text/csv",
    ".json": "application/json",
    ".html": "text/html",
}

_ACCEPTED = {
    202: {"model": schemas.Job, "description": "Accepted: poll the job's url"},
    **errors(*SECURED, *BODY, 503),
}


def public_job(job: dict) -> dict:
    """A job as clients see it: the series summarised (the data stays in the database), its urls."""
    params = dict(job["params"])
    series = params.get("series")
    if isinstance(series, dict) and series.get("dates"):
        params["series"] = {"rows": len(series["dates"]), "first": series["dates"][0], "last": series["dates"][-1]}
    out = {k: job[k] for k in ("id", "kind", "state", "progress", "created", "started", "finished", "result", "error")}
    out["params"] = params
    out["url"] = f"/v1/jobs/{job['id']}"
    if job["kind"] == "train" and job["state"] == "succeeded":
        out["result_url"] = f"/v1/saved-models/{params.get('id')}"
    if job["kind"] == "risk" and job["state"] == "succeeded":
        out["result_url"] = f"/v1/jobs/{job['id']}/files"
    return out


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
    job = request.app.state.jobs.submit(kind, params, getattr(request.state, "key_name", None), job_id)
    public = public_job(job)
    return JSONResponse(public, status_code=202, headers={"Location": public["url"]})


def _found(request: Request, job_id: str) -> dict:
    found = request.app.state.jobs.store.get(job_id)
    if found is None:
        raise ServiceError(404, "job_id", f"no job '{job_id}'")
    return found


def _job_folder(request: Request, job_id: str) -> Path:
    found = _found(request, job_id)
    if found["kind"] != "risk":
        raise ServiceError(404, "job_id", f"job '{job_id}' is a {found['kind']} job: it writes no files")
    if found["state"] != "succeeded":
        raise ServiceError(409, "job_id", f"job '{job_id}' is {found['state']}: its files come when it succeeds")
    return Path(request.app.state.settings.results_dir) / found["id"]


@router.post("/v1/jobs/backtest", dependencies=[READ], status_code=202, response_model=schemas.Job, responses=_ACCEPTED)
async def backtest_job(request: Request, body: schemas.BacktestJobRequest):
    """A rolling-origin backtest (`marketcast backtest`) as a job."""
    _check_job(body, body.models)
    return _submit(request, "backtest", body.model_dump(mode="json"))


@router.post(
    "/v1/jobs/train",
    dependencies=[WRITE],
    status_code=202,
    response_model=schemas.Job,
    responses={**_ACCEPTED, **errors(409)},
)
async def train_job(request: Request, body: schemas.TrainJobRequest):
    """Train a model and save it into the service's model folder under `id` (`marketcast train`)."""
    _check_job(body, [body.model])
    job_id = uuid.uuid4().hex
    params = body.model_dump(mode="json")
    params["id"] = params.get("id") or f"{re.split(r'[^A-Za-z0-9_-]', body.model)[0] or 'model'}-{job_id[:8]}"
    target = saved_model_dir(models_dir(request), params["id"], must_exist=False, field="id")
    if target.exists() and not body.overwrite:
        raise ServiceError(409, "id", f"saved model '{params['id']}' exists already (set overwrite)")
    return _submit(request, "train", params, job_id)


@router.post(
    "/v1/jobs/risk",
    dependencies=[WRITE],
    status_code=202,
    response_model=schemas.Job,
    responses={**_ACCEPTED, **errors(501)},
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
    library.risk_inputs(params, request.app.state.settings.universes_dir, store_path(request))  # 422 now
    return _submit(request, "risk", params)


@router.get("/v1/jobs", response_model=schemas.JobList, dependencies=[READ], responses=errors(*SECURED))
async def jobs(request: Request, limit: int = Query(100, ge=1, le=1000)):
    """The latest jobs, newest first."""
    return {"jobs": [public_job(j) for j in request.app.state.jobs.store.list(limit)]}


@router.get("/v1/jobs/{job_id}", response_model=schemas.Job, dependencies=[READ], responses=errors(*SECURED, 404))
async def job(request: Request, job_id: str):
    """State, progress and, when done, the result of a job."""
    return public_job(_found(request, job_id))


@router.get(
    "/v1/jobs/{job_id}/files",
    response_model=schemas.JobFiles,
    dependencies=[READ],
    responses=errors(*SECURED, 404, 409),
)
async def job_files(request: Request, job_id: str):
    """The files a finished risk job wrote (`marketcast risk --out DIR`), with their download urls."""
    folder = _job_folder(request, job_id)
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")) if folder.is_dir() else []
    return {
        "files": [
            {"name": p.name, "bytes": p.stat().st_size, "url": f"/v1/jobs/{job_id}/files/{p.name}"} for p in files
        ]
    }


@router.get(
    "/v1/jobs/{job_id}/files/{name}",
    dependencies=[READ],
    response_class=FileResponse,
    responses={200: {"content": {t: {} for t in sorted(set(_MEDIA.values()))}}, **errors(*SECURED, 404, 409)},
)
async def job_file(request: Request, job_id: str, name: str):
    """One output file of a finished risk job (`assets.parquet`, `backtests.csv`, `report.html`, ...)."""
    folder = _job_folder(request, job_id).resolve()
    path = (folder / name).resolve()
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", name) or path.parent != folder or not path.is_file():
        raise ServiceError(404, "name", f"job '{job_id}' has no file '{name}'")
    return FileResponse(path, media_type=_MEDIA.get(path.suffix, "application/octet-stream"), filename=name)


@router.delete("/v1/jobs/{job_id}", response_model=schemas.Job, responses=errors(*SECURED, 404, 409))
async def cancel_job(request: Request, job_id: str, key=READ):
    """Cancel a queued or running job (training and risk jobs need a write key)."""
    found = _found(request, job_id)
    if key is not None and not key.allows(JOB_SCOPE[found["kind"]]):
        raise ServiceError(403, "Authorization", f"cancelling a {found['kind']} job needs a write key")
    return public_job(request.app.state.jobs.cancel(job_id))
