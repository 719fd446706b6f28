"""The knowledge graph as a file over HTTP: export for Gephi or a graph database, import back.

Mounted under ``/v1/graph`` by :func:`assistant.http.app.create_app`::

    curl -H "X-API-Key: $KEY" 'localhost:8000/v1/graph/export?format=graphml' -o graph.graphml
    curl -X POST -H "X-API-Key: $CURATOR" 'localhost:8000/v1/graph/import?dry_run=true' \\
         --data-binary @graph.graphml                 # the diff; base_version in the answer
    curl -X POST -H "X-API-Key: $CURATOR" \\
         'localhost:8000/v1/graph/import?expected_version=12' --data-binary @graph.graphml

Export is a read: any key (merchant keys read the graph through ``/v1/graph/nodes`` already).
It serves the stored graph, read in one snapshot (without a store, the service's in-memory
one): ``format=graphml`` (networkx's GraphML; None, list and dict attributes as JSON text
under ``<name>@json``) or ``json`` (node-link). Import needs a curator key and goes through the
audited curation path (:meth:`assistant.curation.CurationService.import_graph`): the stored
graph becomes the file's, in one audit entry that ``POST /v1/graph/audit/{id}/revert`` undoes.
A dry run answers the diff (added / changed / removed nodes and edges) and ``base_version``;
a commit sends that as ``expected_version`` (409 when the store moved on meanwhile) or
``force=true``. A file that does not parse answers 422 naming ``body``; a graph that breaks a
rule answers 422 listing every problem in ``rows`` (node, field, reason, edge) and stores
nothing. Bodies are limited by the server's request size limit; larger graphs go through
``pricing graph import``. The format is ``?format=`` or, without it, what the body starts
with (``<``: GraphML, ``{``: JSON).
"""
from __future__ import annotations

import os
import tempfile
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from assistant.curation import CurationService, GraphStoreMissing
from assistant.http.deps import curator_actor
from assistant.http.errors import curation_error, error_response, no_store
from assistant.http.graph import ERRORS, IdempotencyKey, get_curation
from graph.curation import CurationError, CurationResult
from graph.exchange import GraphFileError, read_graph_file

Format = Literal["graphml", "json"]
MEDIA = {"graphml": "application/graphml+xml", "json": "application/json"}
SUFFIX = {"graphml": ".graphml", "json": ".json"}
MAX_LISTED = 1000  # ids listed per kind and action in an answer; the summary counts them all

router = APIRouter(prefix="/v1/graph", tags=["graph"], responses=ERRORS)


class ChangeLists(BaseModel):
    added: list = Field(default_factory=list)
    updated: list = Field(default_factory=list)
    removed: list = Field(default_factory=list)


class GraphImportOut(BaseModel):
    dry_run: bool
    audit_id: int | None = Field(description="the audit entry (revert it to undo the import); "
                                 "None for a dry run or when nothing changed")
    base_version: int = Field(description="the stored graph's version the diff was computed "
                              "on: send it as `expected_version` to commit this diff")
    summary: dict[str, int] = Field(description='counts, e.g. {"nodes added": 3}')
    nodes: ChangeLists = Field(description="node ids by action")
    edges: ChangeLists = Field(description="[source, target, key] by action")
    truncated: bool = Field(description=f"more than {MAX_LISTED} ids of one kind: the lists "
                            f"stop there, the summary counts all")


def _out(r: CurationResult) -> GraphImportOut:
    nodes, edges = ChangeLists(), ChangeLists()
    truncated = False
    for items, lists in (([(n.action, n.id) for n in r.nodes], nodes),
                         ([(e.action, [e.src, e.dst, e.key]) for e in r.edges], edges)):
        for action, ref in items:
            target = getattr(lists, "updated" if action == "stamped" else action)
            if len(target) < MAX_LISTED:
                target.append(ref)
            else:
                truncated = True
    summary = {k.replace("stamped", "updated"): v for k, v in r.summary().items()}
    return GraphImportOut(dry_run=r.dry_run, audit_id=r.audit_id,
                          base_version=int(r.params.get("base_version", 0)), summary=summary,
                          nodes=nodes, edges=edges, truncated=truncated)


@router.get("/export", response_class=FileResponse, responses={200: {"content": {
    MEDIA["graphml"]: {}, MEDIA["json"]: {}}, "description": "the graph file"}})
def export(format: Format = Query("graphml", description=(  # noqa: A002
               "graphml (Gephi, yEd, graph databases) or json (networkx node-link)")),
           cs: CurationService = Depends(get_curation)) -> FileResponse:
    """The knowledge graph as a file (see the module docs for the attribute encoding)."""
    fd, tmp = tempfile.mkstemp(prefix="graph-export-", suffix=SUFFIX[format])
    os.close(fd)
    try:
        cs.export(tmp, format)
    except BaseException:
        os.unlink(tmp)
        raise
    return FileResponse(tmp, media_type=MEDIA[format], filename=f"graph{SUFFIX[format]}",
                        background=BackgroundTask(os.unlink, tmp))


def _sniff(body: bytes) -> str | None:
    head = body[:512].lstrip(b"\xef\xbb\xbf \t\r\n")
    return "graphml" if head.startswith(b"<") else "json" if head.startswith(b"{") else None


def _import(body: bytes, fmt: str, cs: CurationService, response: Response,
            **kw: Any) -> GraphImportOut | JSONResponse:
    fd, tmp = tempfile.mkstemp(prefix="graph-import-", suffix=SUFFIX[fmt])
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(body)
        g = read_graph_file(tmp, fmt, name="body")
        r = cs.import_graph(g, **kw)
        if r.replayed:
            response.headers["Idempotent-Replayed"] = "true"
        return _out(r)
    except GraphFileError as exc:
        return error_response(422, exc, "body")
    except CurationError as exc:
        return curation_error(exc)
    except GraphStoreMissing:
        return no_store()
    finally:
        os.unlink(tmp)


@router.post("/import", response_model=GraphImportOut, openapi_extra={"requestBody": {
    "required": True, "content": {MEDIA["graphml"]: {"schema": {"type": "string"}},
                                  MEDIA["json"]: {"schema": {"type": "object"}}}}})
async def import_graph(request: Request, response: Response,
                       format: Format | None = Query(None, description=(  # noqa: A002
                           "graphml or json; default: what the body starts with")),
                       dry_run: bool = Query(False, description="only answer the diff"),
                       expected_version: int | None = Query(None, ge=0, le=2**62, description=(
                           "the dry run's base_version: refused (409) if the store moved on")),
                       force: bool = Query(False, description="commit without expected_version"),
                       reason: str | None = Query(None, max_length=2000),
                       actor: str = Depends(curator_actor),
                       cs: CurationService = Depends(get_curation),
                       idempotency_key: str | None = IdempotencyKey):
    """Make the stored graph the file's (or with ``dry_run`` show the diff): validated whole,
    one audit entry, revertible."""
    body = await request.body()
    if not body.strip():
        return error_response(422, "body: empty; send a GraphML or node-link JSON file", "body")
    fmt = format or _sniff(body)
    if fmt is None:
        return error_response(422, "format: the body is neither GraphML (<...) nor JSON ({...});"
                                   " give ?format=graphml or ?format=json", "format")
    if not cs.configured:
        return no_store()
    return await run_in_threadpool(
        _import, body, fmt, cs, response, actor=actor, source=f"upload.{fmt}", dry_run=dry_run,
        expected_version=expected_version, force=force, reason=reason,
        idempotency_key=idempotency_key)
