"""One plain ASGI middleware for every request: a request id, the body-size limit (413), the
content type of bodies (415), metrics and the access line. Plain ASGI, not Starlette's
``BaseHTTPMiddleware``, whose per-request task costs more than the volatility call itself."""

from __future__ import annotations

import json
import logging
import time
import uuid

__all__ = ["ServiceMiddleware", "error_payload"]

log = logging.getLogger("marketcast.service")


def error_payload(status: int, detail: str, request_id: str, field: str | None = None, errors=None) -> bytes:
    body = {"status": status, "detail": detail, "field": field, "request_id": request_id}
    if errors is not None:
        body["errors"] = errors
    return json.dumps(body).encode()


class ServiceMiddleware:
    def __init__(self, app, *, metrics, max_body_bytes: int) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body = max_body_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        request_id = uuid.uuid4().hex[:16]
        scope.setdefault("state", {})["request_id"] = request_id
        method = scope["method"]
        status_box = [500]
        started = [False]

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                started[0] = True
                status_box[0] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            if method in ("POST", "PUT", "PATCH"):
                early = self._check_body_headers(scope)
                if early is not None:
                    return await self._reply(send_wrapper, *early, request_id)
                body, too_big = await self._read_body(receive)
                if too_big:
                    return await self._reply(send_wrapper, 413, f"the body is larger than the limit of "
                                             f"{self.max_body} bytes", request_id)
                receive = _replay(body, receive)
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:  # a bug: the log gets the traceback, the client the request id only
            log.error("request %s %s %s failed", request_id, method, scope.get("path"), exc_info=exc)
            status_box[0] = 500
            if not started[0]:
                await self._reply(send_wrapper, 500, "internal error; the service's log has the details under "
                                  f"request id {request_id}", request_id)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.observe(method, template, status_box[0], time.perf_counter() - start)

    def _check_body_headers(self, scope):
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None:
            try:
                if int(length) > self.max_body:
                    return 413, f"the body is larger than the limit of {self.max_body} bytes"
            except ValueError:
                return 400, "bad Content-Length header"
        ctype = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if scope["path"].startswith("/v1/") and ctype != b"application/json" and not (
                ctype.startswith(b"application/") and ctype.endswith(b"+json")):
            shown = ctype.decode("latin-1") or "none"
            return 415, f"Content-Type must be application/json, not {shown}"
        return None

    async def _read_body(self, receive):
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return b"", True
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks), False

    @staticmethod
    async def _reply(send, status: int, detail: str, request_id: str) -> None:
        body = error_payload(status, detail, request_id, field="body" if status in (413, 415) else None)
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def _replay(body: bytes, original):
    sent = [False]

    async def receive():
        if not sent[0]:
            sent[0] = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await original()

    return receive
