"""What every route module shares: key checks, the documented error answers, the app's state."""

from __future__ import annotations

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from marketcast.service import schemas
from marketcast.service.saved import ServiceError

__all__ = ["READ", "WRITE", "SECURED", "BODY", "errors", "require", "store_path", "models_dir"]

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

SECURED = (401, 403)
BODY = (413, 415, 422)


def errors(*codes: int) -> dict:
    """The OpenAPI ``responses`` of these error codes (422 and 500 always)."""
    return {c: {"model": schemas.ErrorBody, "description": _ERROR_TEXT[c]} for c in sorted({*codes, 422, 500})}


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


def store_path(request: Request) -> str | None:
    store = request.app.state.settings.store
    return str(store) if store else None


def models_dir(request: Request) -> str:
    return str(request.app.state.settings.models_dir)
