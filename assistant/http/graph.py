"""Knowledge-graph curation over HTTP: search, inspect, edit, preview, bulk import, audit, quality.

Mounted under ``/v1/graph`` by :func:`assistant.http.app.create_app` (same OpenAPI, same keys)::

    curl -H "X-API-Key: $KEY" 'localhost:8000/v1/graph/nodes?q=boat&type=brand'
    curl -H "X-API-Key: $KEY" 'localhost:8000/v1/graph/nodes/brand:boat'     # + version
    curl -X POST -H "X-API-Key: $CURATOR" -H 'Content-Type: application/json' \\
         localhost:8000/v1/graph/ops -d '{"op": "merge_nodes", "dry_run": true,
           "params": {"source": "brand:bo at", "target": "brand:boat"},
           "expected": {"brand:boat": 3}, "reason": "same company"}'
    curl -X POST -H "X-API-Key: $CURATOR" -H 'Content-Type: text/csv' \\
         'localhost:8000/v1/graph/bulk?dry_run=true' --data-binary @mappings.csv
    curl -H "X-API-Key: $KEY" 'localhost:8000/v1/graph/audit?node=brand:boat'
    curl -X POST -H "X-API-Key: $CURATOR" localhost:8000/v1/graph/audit/7/revert

Roles: merchant keys read, curator keys also edit (403 otherwise); the audit records the
actor as ``curator:<first 4 characters of the key>``. Every endpoint is a thin layer over the
service's :class:`assistant.curation.CurationService` (``service.curation``: one edit worker
per service, shared with the Curate tab): edits are validated, audited, revertible and
optimistically versioned (a stale ``expected`` version answers 409 and changes nothing). A
dry run returns the changes and their impact: the products whose graph features move, and
how their model price would move. A committed edit refreshes the service before answering,
so the next suggestion already reflects it. Errors are ``{"error", "field"}``: 409 conflict,
422 a refused edit or bad input, 404 an unknown node or audit entry, 503 when the service has
no graph store (``service.graph_db`` is None; reading the in-memory graph still works).
"""
from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from assistant.curation import CurationService, GraphStoreMissing, json_ready
from assistant.http.deps import curator_actor, get_service
from assistant.http.errors import curation_error, error_response, first_error, no_store
from assistant.http.schemas import (
    PARAMS,
    AuditEntryOut,
    AuditListOut,
    BulkRequest,
    CurationResultOut,
    GraphError,
    NodeHit,
    NodeOut,
    NodeSearchOut,
    NodeTypeName,
    OpRequest,
    QualityOut,
    RevertRequest,
    describe_ops,
)
from assistant.service import PricingService
from graph.curation import CurationError, CurationResult

MAX_ID = 2**63 - 1  # SQLite INTEGER
ERRORS = {s: {"model": GraphError} for s in (401, 403, 404, 409, 422, 503)}

router = APIRouter(prefix="/v1/graph", tags=["graph"], responses=ERRORS)


def get_curation(service: PricingService = Depends(get_service)) -> CurationService:
    """The service's one curation service."""
    return service.curation


IdempotencyKey = Header(None, alias="Idempotency-Key", max_length=200, description=(
    "any unique string (e.g. a UUID): a retry with the same key and the same request returns "
    "the first commit's result (header `Idempotent-Replayed: true`) instead of editing again"))


def _result(run: Callable[[], CurationResult],
            response: Response | None = None) -> CurationResultOut | JSONResponse:
    """An edit's result, or its refusal in the API's error shape."""
    try:
        r = run()
    except CurationError as exc:
        return curation_error(exc)
    except GraphStoreMissing:
        return no_store()
    if r.replayed and response is not None:
        response.headers["Idempotent-Replayed"] = "true"
    return CurationResultOut.model_validate(json_ready(r.to_dict()))


# --------------------------------------------------------------------------- reads

@router.get("/nodes", response_model=NodeSearchOut)
def search_nodes(q: str = Query("", max_length=200, description="part of a name or id"),
                 type: NodeTypeName | None = Query(None, description=(  # noqa: A002
                     "only this type; reviews are listed only when asked for")),
                 limit: int = Query(20, ge=1, le=500),
                 cs: CurationService = Depends(get_curation)) -> NodeSearchOut:
    """Nodes whose normalised name or id contains ``q``: exact matches first, then
    prefixes, then the best connected."""
    found = cs.search(q, type, limit)
    return NodeSearchOut(total=found.total,
                         nodes=[NodeHit.model_validate(h) for h in found.hits])


@router.get("/nodes/{node_id:path}", response_model=NodeOut)
def get_node(node_id: str, edges: int = Query(50, ge=0, le=1000,
                                              description="most edges listed per direction"),
             cs: CurationService = Depends(get_curation)):
    """One node with its version (for ``expected``) and its neighbourhood, read from the
    store in one snapshot (so the version matches what is shown); without a store, from
    the service's graph with version None."""
    node = cs.node(node_id, edges)
    if node is None:
        return error_response(404, f"unknown node {node_id!r}; find ids with "
                                   f"GET /v1/graph/nodes?q=...", "node_id")
    return NodeOut.model_validate(node)


@router.get("/quality", response_model=QualityOut)
def quality(limit: int = Query(100, ge=0, le=100_000,
                               description="most items listed per check (counts are full)"),
            cs: CurationService = Depends(get_curation)) -> QualityOut:
    """Suspect data for curators (:func:`graph.quality.quality_report`)."""
    rep = json_ready(cs.quality().to_dict())
    return QualityOut.model_validate(
        {k: (v if k == "counts" else v[:limit]) for k, v in rep.items()})


@router.get("/audit", response_model=AuditListOut)
def audit(node: str | None = Query(None, max_length=1000,
                                   description="only entries that touched this node id"),
          limit: int = Query(50, ge=1, le=1000),
          before_id: int | None = Query(None, ge=1, le=MAX_ID, description="page: ids below this"),
          images: bool = Query(False, description="include before/after images"),
          cs: CurationService = Depends(get_curation)) -> AuditListOut:
    """The audit trail, newest first."""
    listing = cs.audit(node=node, limit=limit, before_id=before_id)
    return AuditListOut(graph_store=listing.graph_store, entries=[
        AuditEntryOut.model_validate(json_ready({**e.to_dict(images=images),
                                                 "summary": e.summary()}))
        for e in listing.entries])


# --------------------------------------------------------------------------- edits

@router.post("/ops", response_model=CurationResultOut, description=(
    "Apply (or with `dry_run` preview) one curation operation. Operations and their "
    "params (`?`: optional):\n\n" + describe_ops()))
def apply_op(req: OpRequest, response: Response, actor: str = Depends(curator_actor),
             cs: CurationService = Depends(get_curation),
             idempotency_key: str | None = IdempotencyKey):
    try:  # fields named as the Curator names them ("price"), like its own refusals
        params = PARAMS[req.op].model_validate(req.params).model_dump()
    except ValidationError as exc:
        return first_error(exc, "params")
    if not cs.configured:
        return no_store()
    return _result(lambda: cs.apply(req.op, params, actor=actor, expected=req.expected,
                                    force=req.force, reason=req.reason, dry_run=req.dry_run,
                                    idempotency_key=idempotency_key), response)


@router.post("/bulk", response_model=CurationResultOut, openapi_extra={"requestBody": {
    "required": True, "content": {
        "application/json": {"schema": BulkRequest.model_json_schema()},
        "text/csv": {"schema": {"type": "string", "description": (
            "CSV with a header: op, product_id, category_path, brand, competitor, "
            "price, currency, observed_at, url, shipping")}}}}})
async def bulk(request: Request, response: Response, actor: str = Depends(curator_actor),
               dry_run: bool = Query(False, description="CSV bodies: preview only"),
               create_missing: bool = Query(False, description="CSV bodies: create "
                                            "missing categories, brands, competitors"),
               force: bool = Query(False, description="commit without `expected` (CSV bodies "
                                   "cannot carry versions: a CSV commit needs this)"),
               reason: str | None = Query(None, max_length=2000),
               cs: CurationService = Depends(get_curation),
               idempotency_key: str | None = IdempotencyKey):
    """Apply mapping rows all or none (one audit entry). Body: CSV text
    (``Content-Type: text/csv``, flags as query parameters) or JSON ``BulkRequest`` (its
    flags or the query's). Every bad row is listed in ``rows`` and nothing is applied.
    At most 20,000 rows (and the request body limit)."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    raw = await request.body()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return error_response(422, "body: not UTF-8 text", "body")
    if ctype in ("text/csv", "text/plain"):
        if not text.strip():
            return error_response(422, "body: empty CSV", "body")
        source: Any = io.StringIO(text)
        flags = dict(create_missing=create_missing, reason=reason, dry_run=dry_run,
                     force=force, expected=None)
    elif ctype in ("application/json", ""):
        try:
            req = BulkRequest.model_validate_json(text or "null")
        except ValidationError as exc:
            return first_error(exc)
        source = req.rows
        # Flags given either way count (never dropped); a dry run wins.
        flags = dict(create_missing=req.create_missing or create_missing,
                     reason=req.reason if req.reason is not None else reason,
                     dry_run=req.dry_run or dry_run, force=req.force or force,
                     expected=req.expected)
    else:
        return error_response(415, f"content-type {ctype!r}: send text/csv or application/json",
                              "content-type")
    if not cs.configured:
        return no_store()
    return await run_in_threadpool(_result, lambda: cs.bulk(
        source, actor=actor, idempotency_key=idempotency_key, **flags), response)


@router.post("/audit/{audit_id}/revert", response_model=CurationResultOut)
def revert(audit_id: int = Path(ge=1, le=MAX_ID), req: RevertRequest | None = None,
           actor: str = Depends(curator_actor), cs: CurationService = Depends(get_curation)):
    """Undo one audit entry (itself audited). Refused (422, with the reason) when what it
    touched changed since, when it was already reverted, or when the result would break
    a rule."""
    req = req or RevertRequest()
    if not cs.configured:
        return no_store()
    try:
        if not cs.has_entry(audit_id):
            return error_response(404, f"no audit entry #{audit_id}", "audit_id")
    except GraphStoreMissing:
        return no_store()
    return _result(lambda: cs.revert(audit_id, actor=actor, reason=req.reason,
                                     dry_run=req.dry_run))
