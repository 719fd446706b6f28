"""Catalog CSV upload over HTTP: ``POST /v1/imports/catalog`` (a curator's key).

Use::

    curl -X POST -H "X-API-Key: $CURATOR" -H 'Content-Type: text/csv' --data-binary @catalog.csv \\
         'localhost:8000/v1/imports/catalog?partial=false&suggest=true'
    # {"stored": true, "audit_id": 41, "added": 12, "updated": 3, "unchanged": 0,
    #  "suggested": 15, "errors": [], "ignored": ["colour"], "summary": "..."}
    curl -X POST -H "X-API-Key: $CURATOR" localhost:8000/v1/graph/audit/41/revert   # undo it

Columns: ``product_id``, ``title`` (required), category_path, brand, price, currency, cost,
description, condition, rating, rating_count. A file with refused rows answers 422
``{"error", "field", "rows": [{"row", "field", "reason"}]}`` and stores nothing
(``partial=true``: the valid rows are stored and the refused ones listed in ``errors``); an
unreadable file answers 422 naming ``file`` or ``header``. Accepted rows are one audited,
revertible bulk edit of the graph recorded as ``curator:<key name>``, so a curator key is
needed (403 otherwise). See :mod:`assistant.catalog_import`. Included by
:func:`assistant.http.app.create_app`.
"""
from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from assistant.catalog_import import import_catalog
from assistant.curation import GraphStoreMissing
from assistant.decisions_csv import FileRejected
from assistant.http.deps import curator_actor, get_service
from assistant.http.errors import error_response, no_store, rows_refused
from assistant.http.schemas import ErrorBody
from assistant.service import PricingService

router = APIRouter()
ERRORS = {401: {"model": ErrorBody}, 403: {"model": ErrorBody}, 413: {"model": ErrorBody},
          422: {"model": ErrorBody}, 503: {"model": ErrorBody}}


@router.post("/v1/imports/catalog", responses=ERRORS, openapi_extra={"requestBody": {
    "required": True, "content": {"text/csv": {"schema": {"type": "string", "description": (
        "CSV with a header: product_id, title, category_path, brand, price, currency, cost, "
        "description, condition, rating, rating_count")}}}}})
async def import_catalog_csv(
        request: Request,
        partial: bool = Query(False, description="store the valid rows even if some are refused"),
        suggest: bool = Query(True, description="suggest prices for the imported products"),
        service: PricingService = Depends(get_service), actor: str = Depends(curator_actor)):
    """Validate a catalog CSV per row and store it as one audited, revertible graph edit."""
    body = await request.body()
    try:
        report = await run_in_threadpool(import_catalog, body, service, actor=actor,
                                         partial=partial, suggest=suggest)
    except FileRejected as exc:
        return error_response(422, exc, exc.field)
    except GraphStoreMissing:
        return no_store()
    if not report.stored:
        return rows_refused(report.errors, total=report.rows)
    rows = [asdict(e) for e in report.errors]
    return {"stored": True, "audit_id": report.audit_id, "added": len(report.added),
            "updated": len(report.updated), "unchanged": report.unchanged,
            "suggested": report.suggested, "errors": rows, "ignored": report.ignored,
            "summary": report.summary()}
