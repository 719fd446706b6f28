"""One error shape for every 4xx and 5xx: ``{"error": message, "field": name or null, ...}``.

Use::

    install_error_handlers(app)                      # create_app does this
    raise ApiError(404, "unknown product_id 'x'", "product_id")
    return error_response(404, "unknown node 'x'", "node_id")
    return curation_error(exc)                       # a graph.curation refusal: 409 / 422

What answers in this shape: request validation (422, the first bad field named, JSON that
does not parse included), every HTTPException (routes that do not exist, wrong methods,
authentication, rate limits, bodies over the limit), the API's own refusals, and any
unhandled exception: a 500 logged with its request id, whose body carries that id and whose
``Connection: close`` tells the client not to reuse the connection. Messages are cut to
:data:`MAX_MESSAGE` characters and listed rows to :data:`MAX_ROWS`, so an error body stays
small whatever the input was. Every response carries ``X-Request-ID`` (the caller's, when it
sent a plain one, else a new one): see :class:`RequestIdMiddleware`.
"""
from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistant.curation import json_ready
from graph.curation import ConflictError, CurationError

log = logging.getLogger("assistant.http")

MAX_MESSAGE = 2000     # characters of an error message
MAX_ROWS = 100         # rejected rows listed in one error body (the count is always given)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Fields named by status when the raiser did not name one.
_FIELD_BY_STATUS = {401: "X-API-Key", 403: "X-API-Key", 413: "body", 415: "content-type"}


class ApiError(StarletteHTTPException):
    """An HTTP error that names the request field it is about."""

    def __init__(self, status_code: int, detail: str, field: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(status_code, detail, headers)
        self.field = field


def field_of(message: str, default: str | None = None) -> str | None:
    """The field a domain ValueError names by its first word ("cost must be ...",
    "inventory: give both ..."), else ``default``."""
    m = re.match(r"^([A-Za-z_][\w.]*)(?::| must | is )", message)
    return m.group(1) if m else default


def _cut(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE - 1] + "…"


def error_body(message: Any, field: str | None = None, **extra: Any) -> dict:
    """``{"error", "field"}`` plus the ``extra`` keys that are not None, size-capped."""
    body: dict[str, Any] = {"error": _cut(str(message)), "field": field}
    for k, v in extra.items():
        if v is None:
            continue
        if isinstance(v, list) and len(v) > MAX_ROWS:
            body[f"{k}_total"] = len(v)
            v = v[:MAX_ROWS]
        body[k] = v
    return json_ready(body)


def error_response(status: int, exc: Exception | str, field: str | None = None,
                   headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    return JSONResponse(status_code=status, content=error_body(exc, field, **extra),
                        headers=headers)


def rows_refused(errors: Sequence[Any], total: int | None = None) -> JSONResponse:
    """422 for a file whose rows were refused (nothing stored): the first refusal in the
    message, every one in ``rows`` (dataclasses with row, field, reason)."""
    first = errors[0]
    counted = f"{len(errors)} of {total}" if total is not None else f"{len(errors)}"
    return error_response(422, f"{counted} row(s) refused (first: row {first.row}, "
                               f"{first.field}: {first.reason}); nothing stored", first.field,
                          rows=[asdict(e) for e in errors])


def no_store() -> JSONResponse:
    return error_response(503, "no graph store configured: start the server with a graph store "
                               "(PRICING_GRAPH_DB) to curate the graph")


def first_error(exc: ValidationError, default: str = "body") -> JSONResponse:
    """422 naming the first field pydantic refused."""
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first.get("loc", ())) or default
    return error_response(422, f"{field}: {first.get('msg')}", field)


def curation_error(exc: CurationError) -> JSONResponse:
    """409 for a stale version, 422 for any other refusal (with the bad rows of a bulk)."""
    rows = [e.as_dict() for e in exc.errors] or None
    # The Curator's names for what the API calls the body and the header.
    field = {"source": "body", "idempotency_key": "Idempotency-Key"}.get(exc.field or "",
                                                                          exc.field)
    return error_response(409 if isinstance(exc, ConflictError) else 422, exc, field,
                          node=exc.node, rows=rows)


def request_id(request: Request) -> str:
    return getattr(request.state, "request_id", None) or "-"


class RequestIdMiddleware:
    """Gives every request an id (``X-Request-ID``: the caller's if plain, else a new one),
    kept in ``request.state.request_id`` and sent back on the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        rid = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() != b"x-request-id"]
                message = {**message, "headers": [*headers, (b"x-request-id", rid.encode())]}
            await send(message)
        await self.app(scope, receive, send_with_id)


class BodyLimitMiddleware:
    """Refuses request bodies over ``max_bytes`` with 413 (by ``Content-Length`` before
    reading, or while reading a body sent without one)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        message = f"request body over the limit of {limit:,} bytes"
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            resp = error_response(413, message, "body", headers={"Connection": "close"})
            await resp(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > limit:
                    raise ApiError(413, message, "body", headers={"Connection": "close"})
            return msg
        await self.app(scope, counted, send)


def install_error_handlers(app: FastAPI) -> None:
    """Every error the app answers comes in the one shape (see the module docstring)."""

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errs = exc.errors()
        first = errs[0] if errs else {}
        if first.get("type") == "json_invalid":
            ctx = first.get("ctx") or {}
            return error_response(422, f"body: not valid JSON ({ctx.get('error', 'parse error')}"
                                       f" at position {first.get('loc', ('', '?'))[-1]})", "body")
        field = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body",))
        msg = str(first.get("msg", "invalid input")).removeprefix("Value error, ")
        field = field or field_of(msg)  # a model-wide rule names its field in its message
        return error_response(
            422, f"{field or 'request'}: {msg}", field or None,
            details=[{"field": ".".join(str(p) for p in e.get("loc", ())), "msg": e.get("msg")}
                     for e in errs][:20])

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        field = getattr(exc, "field", None) or _FIELD_BY_STATUS.get(exc.status_code)
        detail = exc.detail
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no such route: {request.method} {request.url.path}"
        elif exc.status_code == 405:
            detail = f"method {request.method} is not allowed on {request.url.path}"
        elif exc.status_code == 400 and "parsing the body" in str(detail):
            field = "body"
        return error_response(exc.status_code, detail, field, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
        rid = request_id(request)
        log.error("request %s: %s %s failed", rid, request.method, request.url.path,
                  exc_info=exc)
        return error_response(500, f"internal error (request id {rid}); it is logged",
                              headers={"Connection": "close", "X-Request-ID": rid},
                              request_id=rid)
