"""The API's error bodies: ``{"error": message, "field": name or null, ...}`` for every 4xx.

Use::

    install_error_handlers(app)                      # create_app does this
    return error_response(404, "unknown node 'x'", "node_id")
    return curation_error(exc)                       # a graph.curation refusal: 409 / 422
"""
from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from assistant.curation import json_ready
from graph.curation import ConflictError, CurationError


def error_response(status: int, exc: Exception | str, field: str | None = None,
                   **extra: Any) -> JSONResponse:
    """``{"error", "field"}`` plus the ``extra`` keys that are not None."""
    body = {"error": str(exc), "field": field, **{k: v for k, v in extra.items() if v is not None}}
    return JSONResponse(status_code=status, content=json_ready(body))


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
    return error_response(409 if isinstance(exc, ConflictError) else 422, exc, exc.field,
                          node=exc.node, rows=rows)


def install_error_handlers(app: FastAPI) -> None:
    """Request validation errors and HTTPExceptions answer in the API's error shape."""

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errs = exc.errors()
        first = errs[0] if errs else {}
        field = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body",))
        return JSONResponse(status_code=422, content={
            "error": f"{field or 'request'}: {first.get('msg', 'invalid input')}",
            "field": field or None,
            "details": [{"field": ".".join(str(p) for p in e.get("loc", ())), "msg": e.get("msg")}
                        for e in errs][:20]})

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse(status_code=exc.status_code, content={"error": exc.detail},
                            headers=getattr(exc, "headers", None))
