"""The CSV round trip over HTTP: suggestions out (with evidence), decisions back in.

Use::

    curl -H "X-API-Key: $KEY" 'localhost:8000/v1/exports/suggestions.csv?underpriced_by=10' > s.csv
    # fill decision (apply / reject / skip), price, reason; then:
    curl -X POST -H "X-API-Key: $KEY" -H 'Content-Type: text/csv' --data-binary @s.csv \\
         'localhost:8000/v1/imports/decisions?partial=false'

An upload with refused rows answers 422 ``{"error", "field", "rows": [{"row", "field",
"reason"}]}`` and stores nothing (``partial=true``: the valid rows go through and the refused
ones are listed in ``errors``); an unreadable file answers 422 naming ``file`` or ``header``.
An approver's upload applies at once and closes waiting approvals; others' go through the
approval policy. See :mod:`assistant.decisions_csv`. Included by
:func:`assistant.http.app.create_app`.
"""
from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from assistant.catalog_view import CatalogQuery, CatalogStatus, CatalogView, Sort
from assistant.decisions_csv import FileRejected, apply_decisions, suggestions_csv
from assistant.http.deps import ApiSettings, Role, actor_of, get_service, get_settings, role_of
from assistant.http.errors import error_response, rows_refused
from assistant.http.prices import ERRORS, get_pricebook
from assistant.http.products import get_catalog_view
from assistant.pricebook import PriceBook
from assistant.service import PricingService

MAX_BYTES = 50 * 2**20

router = APIRouter()


@router.get("/v1/exports/suggestions.csv", responses={**ERRORS, 200: {"content": {"text/csv": {}}}})
def export_suggestions(limit: int = Query(10000, ge=1, le=200000), offset: int = Query(0, ge=0, le=10**9),
                       underpriced_by: float | None = Query(None, ge=0, le=10000),
                       overpriced_by: float | None = Query(None, ge=0, le=100),
                       below_cost: bool = False, undercut: bool = False,
                       status: CatalogStatus | None = None, sort: Sort = "product_id",
                       view: CatalogView = Depends(get_catalog_view)) -> Response:
    q = CatalogQuery(underpriced_by=underpriced_by, overpriced_by=overpriced_by,
                     below_cost=below_cost, undercut=undercut, status=status, sort=sort,
                     limit=limit, offset=offset)
    return Response(suggestions_csv(view, q), media_type="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="suggestions.csv"'})


@router.post("/v1/imports/decisions", responses=ERRORS)
async def import_decisions(request: Request, partial: bool = False,
                           service: PricingService = Depends(get_service),
                           book: PriceBook | None = Depends(get_pricebook),
                           actor: str = Depends(actor_of), role: Role = Depends(role_of),
                           settings: ApiSettings = Depends(get_settings)):
    if book is None:
        return error_response(503, "no price book configured: start the server with "
                                   "PRICING_PRICEBOOK_DB to apply prices")
    body = await request.body()
    if len(body) > MAX_BYTES:
        return error_response(413, f"file: larger than {MAX_BYTES // 2**20} MiB", "file")
    try:
        report = apply_decisions(body, service.store, book, actor=actor, partial=partial,
                                 approver=role == "approver" or settings.auth_disabled)
    except FileRejected as exc:
        return error_response(422, exc, exc.field)
    if not report.stored:
        return rows_refused(report.errors)
    rows = [asdict(e) for e in report.errors]
    return {"stored": True, "applied": report.applied, "queued": report.queued,
            "rejected": report.rejected, "skipped": report.skipped, "errors": rows}
