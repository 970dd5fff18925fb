"""The service's endpoints, one router per group, in the order the OpenAPI document lists them."""

from __future__ import annotations

from marketcast.service.routes import catalog, forecasts, jobs, operations

ROUTERS = (operations.router, catalog.router, forecasts.router, jobs.router, catalog.saved_router)

__all__ = ["ROUTERS"]
