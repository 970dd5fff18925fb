"""What the service offers: its version, the models (as `marketcast models`) and the saved models."""

from __future__ import annotations

import sys
from typing import Literal

from fastapi import APIRouter, Query, Request

from marketcast._version import __version__
from marketcast.service import library, schemas
from marketcast.service.routes.common import READ, SECURED, errors, models_dir
from marketcast.service.saved import ServiceError

router = APIRouter(dependencies=[READ])
saved_router = APIRouter(dependencies=[READ], tags=["models"])


@router.get("/v1/version", response_model=schemas.Version, responses=errors(*SECURED), tags=["info"])
async def version():
    return {"version": __version__, "api": "v1", "python": sys.version.split()[0]}


@router.get("/v1/models", response_model=schemas.ModelList, responses=errors(*SECURED), tags=["models"])
async def models():
    """Every model, as `marketcast models` lists them."""
    return {"models": library.list_models()}


@router.get(
    "/v1/models/{name}",
    response_model=schemas.ModelDetail,
    responses=errors(*SECURED, 404, 422, 503),
    tags=["models"],
)
async def model_detail(request: Request, name: str, target: Literal["price", "volatility"] = Query("price")):
    """Defaults, architecture and parameter count, as `marketcast models describe NAME`."""
    try:
        return await request.app.state.pool.run(library.describe_model, name, target)
    except ServiceError as exc:
        if exc.field == "name" and exc.status == 422:
            raise ServiceError(404, "name", exc.message) from None
        raise


@saved_router.get("/v1/saved-models", response_model=schemas.SavedModelList, responses=errors(*SECURED))
async def saved_models(request: Request):
    """The models in the service's model folder (safetensors + JSON, as on disk)."""
    return {"saved_models": library.saved_models(models_dir(request))}


@saved_router.get("/v1/saved-models/{model_id}", response_model=schemas.SavedModel, responses=errors(*SECURED, 404))
async def saved_model(request: Request, model_id: str):
    """A saved model's manifest."""
    return library.saved_model(models_dir(request), model_id)
