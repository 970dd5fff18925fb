"""The request-sized work: volatility and risk rows, and price forecasts, run in the worker pool."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from marketcast.service import library, schemas
from marketcast.service.routes.common import BODY, READ, SECURED, errors, models_dir, store_path
from marketcast.service.saved import saved_model_dir

router = APIRouter(dependencies=[READ], tags=["forecasts"])


@router.post(
    "/v1/volatility",
    response_class=Response,
    responses={
        200: {"model": schemas.VolatilityResponse, "description": "One row per day and model"},
        **errors(*SECURED, *BODY, 404, 503),
    },
)
async def volatility(request: Request, body: schemas.VolatilityRequest):
    """One-day-ahead volatility, VaR, CVaR and MAD: the rows of `marketcast volatility`."""
    payload = await request.app.state.pool.run(library.volatility, body.model_dump(mode="json"), store_path(request))
    return Response(payload, media_type="application/json")


@router.post(
    "/v1/forecast",
    response_class=Response,
    responses={
        200: {"model": schemas.ForecastResponse, "description": "Dated points and intervals"},
        **errors(*SECURED, *BODY, 404, 503),
    },
)
async def forecast(request: Request, body: schemas.ForecastRequest):
    """Point forecasts and intervals from a model (fitted here) or a saved model: `marketcast forecast`."""
    folder = models_dir(request)
    if body.saved_model is not None:
        saved_model_dir(folder, body.saved_model, field="saved_model")
    payload = await request.app.state.pool.run(
        library.forecast, body.model_dump(mode="json"), folder, store_path(request)
    )
    return Response(payload, media_type="application/json")
