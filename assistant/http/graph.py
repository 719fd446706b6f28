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
actor as ``curator:<first 4 characters of the key>``. Edits go through
:class:`graph.curation.Curator` (validated, audited, revertible, optimistic versions: a stale
``expected`` version answers 409 and changes nothing). A dry run returns the changes and
their impact: the products whose graph features move, and how their model price would move
(the service's predictor, graph features refit on the graph before and after). A committed
edit refreshes the service (:meth:`PricingService.refresh_graph`) before answering, so the
next suggestion already reflects it. Errors are ``{"error", "field"}``: 409 conflict, 422 a
refused edit or bad input, 404 an unknown node or audit entry, 503 when the service has no
graph store (``service.graph_db`` is None; reading the in-memory graph still works).

Edits (and dry runs) run on ONE worker thread holding one Curator: a SQLite connection
belongs to the thread that opened it, edits are serialised anyway (``BEGIN IMMEDIATE``), and
the Curator's in-memory preview graph is reused across dry runs. Node details and the audit
trail are read from the store on a connection of the request's own (WAL: reads never wait for
a preview); search and quality read the service's in-memory graph.
"""
from __future__ import annotations

import inspect
import io
import json
import math
import sqlite3
import threading
import typing
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Annotated, Any, Literal, TypeVar

import networkx as nx
import numpy as np
import pandas as pd
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Security
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, WrapValidator, create_model

from graph.audit import list_entries
from graph.curation import ConflictError, CurationError, CurationResult, Curator
from graph.products import product_table
from graph.quality import quality_report
from graph.schema import NodeType, normalize_name

OPS = ("rename_node", "update_node", "add_category", "add_brand", "add_competitor",
       "add_product", "delete_node", "merge_nodes", "reparent_category", "link_category",
       "unlink_category", "link_brand", "unlink_brand", "add_offer", "remove_offer")
OpName = Literal[OPS]  # type: ignore[valid-type]
NodeTypeName = Literal[tuple(t.value for t in NodeType)]  # type: ignore[valid-type]
_PRODUCT = NodeType.PRODUCT.value
_INTERNAL = {"type", "name", "provenance", "updated_at"}
T = TypeVar("T")
_MAX_ID = 2**63 - 1  # SQLite INTEGER


class GraphStoreMissing(RuntimeError):
    """The service was started without a graph store: nothing to edit."""


# --------------------------------------------------------------------------- op parameters

def _params_model(op: str) -> type[BaseModel]:
    """The parameters of ``Curator.<op>`` as a pydantic model (unknown keys refused), so the
    API and the Curator never disagree on names, types or defaults."""
    fn = getattr(Curator, op)
    hints = typing.get_type_hints(fn)
    fields: dict[str, Any] = {}
    for name, p in inspect.signature(fn).parameters.items():
        if name == "self" or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        fields[name] = (hints.get(name, Any), ... if p.default is p.empty else p.default)
    title = "".join(w.title() for w in op.split("_")) + "Params"
    return create_model(title, __config__=ConfigDict(extra="forbid"), **fields)


PARAMS: dict[str, type[BaseModel]] = {op: _params_model(op) for op in OPS}


def _describe_ops() -> str:
    lines = []
    for op, model in PARAMS.items():
        args = ", ".join(n if f.is_required() else f"{n}?" for n, f in model.model_fields.items())
        lines.append(f"- `{op}`: {args}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- request / response

def _one_error(value: Any, handler: Callable[[Any], Any]) -> Any:
    try:
        return handler(value)
    except ValidationError:  # one message for the field, not one per member of the union
        raise ValueError("give a version (integer) or {node id: version}") from None


Expected = Annotated[StrictInt | dict[str, StrictInt] | None, WrapValidator(_one_error)]


class OpRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    op: OpName
    params: dict[str, Any] = Field(default_factory=dict,
                                   description="the operation's arguments (see the list above)")
    expected: Expected = Field(default=None, description=(
        "optimistic lock: the version of the operation's first node argument, or "
        "{node id: version}; a node changed since answers 409"))
    reason: str | None = Field(default=None, max_length=2000)
    dry_run: bool = False


class BulkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rows: list[dict[str, Any]] = Field(min_length=1, max_length=100_000, description=(
        "mapping rows: op (link_category, unlink_category, link_brand, unlink_brand, "
        "add_offer, remove_offer), product_id and as the op needs category_path, brand, "
        "competitor, price, currency, observed_at, url, shipping"))
    create_missing: bool = False
    reason: str | None = Field(default=None, max_length=2000)
    dry_run: bool = False


class RevertRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=2000)
    dry_run: bool = False


class ImpactOut(BaseModel):
    direct: list[str] = Field(description="products whose own links/attributes change")
    products: list[str] = Field(description="products whose graph features change")
    features: dict[str, dict[str, list[float | None]]]
    prices: dict[str, list[float | None]] | None = Field(
        default=None, description="product id -> [model price before, after]")


class CurationResultOut(BaseModel):
    op: str
    params: dict[str, Any]
    dry_run: bool
    audit_id: int | None
    summary: dict[str, int]
    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]]
    versions: dict[str, int]
    impact: ImpactOut | None = None


class NodeHit(BaseModel):
    id: str
    type: str
    name: str | None
    degree: int


class NodeSearchOut(BaseModel):
    total: int = Field(description="matches before the limit")
    nodes: list[NodeHit]


class EdgeOut(BaseModel):
    type: str
    key: str | int
    node: str = Field(description="the neighbour's id")
    node_type: str | None
    name: str | None = Field(description="the neighbour's name (a category's path)")
    attrs: dict[str, Any]


class NodeOut(BaseModel):
    id: str
    type: str
    name: str | None
    attrs: dict[str, Any]
    provenance: str | None
    updated_at: str | None
    version: int | None = Field(description="for `expected`; None without a graph store")
    out_edges: list[EdgeOut]
    in_edges: list[EdgeOut]
    n_out: int
    n_in: int


class AuditEntryOut(BaseModel):
    id: int
    at: str
    actor: str
    op: str
    params: dict[str, Any]
    reason: str | None
    reverts: int | None
    reverted_by: int | None
    summary: dict[str, int]
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


class AuditListOut(BaseModel):
    graph_store: bool = Field(description="False: no store configured, so no audit trail")
    entries: list[AuditEntryOut]


class QualityOut(BaseModel):
    counts: dict[str, int]
    duplicate_brands: list[dict[str, Any]]
    price_outliers: list[dict[str, Any]]
    single_product_categories: list[str]
    competitors_without_offers: list[str]
    products_without_category: list[str]
    products_in_inner_categories: list[list[str]]


class GraphError(BaseModel):
    error: str
    field: str | None = None
    node: str | None = None
    rows: list[dict[str, Any]] | None = None


# --------------------------------------------------------------------------- the worker

class CurationDesk:
    """One thread, one Curator: every edit of the API runs here, one at a time.

    Before each edit it checks whether another process committed to the store meanwhile
    (``PRAGMA data_version``) and if so refreshes the service from the store first.
    """

    def __init__(self, service: Any) -> None:
        self.service = service
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="graph-curation")
        self._curator: Curator | None = None
        self._seen: int | None = None
        self._closed = False

    @property
    def configured(self) -> bool:
        return getattr(self.service, "graph_db", None) is not None

    def call(self, fn: Callable[[Curator], T]) -> T:
        return self._pool.submit(self._run, fn).result()

    def _run(self, fn: Callable[[Curator], T]) -> T:
        if self._curator is None:
            db = getattr(self.service, "graph_db", None)
            if db is None:
                raise GraphStoreMissing("no graph store configured")
            self._curator = Curator(db, actor="api")
            self._seen = self._data_version()
        elif self._data_version() != self._seen:
            self.refresh()  # another process (the CLI, a second server) committed meanwhile
        return fn(self._curator)

    def _data_version(self) -> int:
        return int(self._curator.conn.execute("PRAGMA data_version").fetchone()[0])

    def refresh(self) -> None:
        """Reload the graph from the store and hand it to the service (worker thread only)."""
        self.service.refresh_graph(self._curator.store.load())
        self._seen = self._data_version()

    def close(self) -> None:
        """Close the store connection and stop the worker (at app shutdown; idempotent)."""
        if self._closed:
            return
        self._closed = True

        def shut() -> None:
            if self._curator is not None:
                self._curator.close()
                self._curator = None
        self._pool.submit(shut).result()
        self._pool.shutdown(wait=True)


def preview_prices(service: Any) -> Callable[[list[str], nx.MultiDiGraph], dict[str, float]]:
    """``price_fn`` for dry runs: the model price (p50) each product would get on ``graph``,
    built as :meth:`PricingService.suggest` builds it (record from the product's graph row,
    graph features refit on that graph). Runs on the curation worker only."""
    memo: list[_MemoEncoder] = []

    def prices(product_ids: list[str], graph: nx.MultiDiGraph) -> dict[str, float]:
        recs = _records(graph, product_ids)
        if not recs:
            return {}
        pred = service.predictor_for(graph)
        if not memo or memo[0].inner is not pred.encoder:
            memo[:] = [_MemoEncoder(pred.encoder)]
        pred.encoder = memo[0]
        preds = pred.predict(recs)
        return {r["product_id"]: round(float(p.p50), 2) for r, p in zip(recs, preds)}
    return prices


class _MemoEncoder:
    """The predictor's text encoder with a bounded memory of what it embedded.

    A preview prices every impacted product twice (before and after) and moving one product
    can touch a thousand peers; their texts do not change, so each is embedded once, and
    later previews reuse them. (The predictor already skips texts of its own catalog; this
    covers products it was not trained with and texts an edit changed.)
    """

    def __init__(self, inner: Any, size: int = 20_000) -> None:
        self.inner = inner
        self.size = size
        self._texts: OrderedDict[str, np.ndarray] = OrderedDict()
        self._reviews: OrderedDict[tuple, tuple[np.ndarray, float]] = OrderedDict()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _lookup(self, table: OrderedDict, keys: list, compute: Callable[[list], list]) -> list:
        uniq = list(dict.fromkeys(keys))
        got = {k: table[k] for k in uniq if k in table}
        new = [k for k in uniq if k not in got]
        if new:
            got.update(zip(new, compute(new)))
        for k in uniq:  # most recently used last; the oldest go first
            table[k] = got[k]
            table.move_to_end(k)
        while len(table) > self.size:
            table.popitem(last=False)
        return [got[k] for k in keys]

    def encode(self, texts: Any, **kw: Any) -> np.ndarray:
        texts = list(texts)
        if kw or not texts or not all(isinstance(t, str) for t in texts):
            return self.inner.encode(texts, **kw)
        return np.stack(self._lookup(self._texts, texts, lambda new: list(self.inner.encode(new))))

    def encode_reviews(self, reviews: Any, **kw: Any) -> tuple[np.ndarray, np.ndarray]:
        reviews = list(reviews)
        if kw or not reviews:
            return self.inner.encode_reviews(reviews, **kw)
        keys = [tuple(str(x) for x in r) if isinstance(r, (list, tuple, np.ndarray)) else ()
                for r in reviews]

        def compute(new: list[tuple]) -> list[tuple[np.ndarray, float]]:
            mean, has = self.inner.encode_reviews([list(k) for k in new])
            return [(m, float(h)) for m, h in zip(mean, has)]
        pairs = self._lookup(self._reviews, keys, compute)
        return (np.stack([m for m, _ in pairs]).astype(np.float32),
                np.asarray([h for _, h in pairs], dtype=np.float32))


def _records(g: nx.MultiDiGraph, ids: list[str]) -> list[dict]:
    nids = [f"{_PRODUCT}:{i}" for i in ids if f"{_PRODUCT}:{i}" in g]
    keep = set(nids)
    for n in nids:
        keep.update(g.succ[n])
        keep.update(g.pred[n])
    table = product_table(g.subgraph(keep))
    out = []
    # The fields PricingService._resolve takes from its product table for a catalog id.
    for row in table.to_dict("records"):
        if not isinstance(row["title"], str) or not row["title"].strip():
            continue
        rec = {k: (None if _missing(row[k]) else row[k])
               for k in ("product_id", "title", "description", "category_path", "brand",
                         "rating", "rating_count", "currency")}
        rec["reviews"] = list(row["review_texts"] or [])
        out.append(rec)
    return out


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA


def _plain(x: Any) -> Any:
    """JSON-ready: NaN/inf -> None (the store keeps NaN; JSON cannot), tuples -> lists."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, Mapping):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, np.generic):
        return _plain(x.item())
    return x


@contextmanager
def _reading(path: Any) -> Iterator[sqlite3.Connection]:
    """A connection of this request's own for reads: WAL lets them run beside the writer
    (the curation worker) instead of queueing behind a long preview."""
    conn = sqlite3.connect(path, timeout=10)
    try:
        conn.execute("BEGIN")  # one snapshot for all the reads of the request
        yield conn
    finally:
        conn.close()


_NODE_COLS = "id, type, name, attrs, provenance, updated_at, version"


def _node_from_store(conn: sqlite3.Connection, nid: str, limit: int) -> NodeOut | None:
    row = conn.execute(f"SELECT {_NODE_COLS} FROM nodes WHERE id=?", (nid,)).fetchone()
    if row is None:
        return None
    _, typ, name, attrs, prov, upd, version = row

    def listing(mine: str, other: str) -> tuple[list[EdgeOut], int]:
        total = conn.execute(f"SELECT count(*) FROM edges WHERE {mine}=?", (nid,)).fetchone()[0]
        rows = conn.execute(
            f"SELECT e.{other}, e.key, e.type, e.attrs, n.type, "
            f"COALESCE(json_extract(n.attrs, '$.path'), n.name) FROM edges e "
            f"JOIN nodes n ON n.id = e.{other} WHERE e.{mine}=? "
            f"ORDER BY e.type, e.{other}, CAST(e.key AS TEXT) LIMIT ?", (nid, limit)).fetchall()
        return [EdgeOut(type=t, key=k, node=n, node_type=nt,
                        name=None if lab is None else str(lab), attrs=_plain(json.loads(a)))
                for n, k, t, a, nt, lab in rows], int(total)
    outs, n_out = listing("src", "dst")
    ins, n_in = listing("dst", "src")
    return NodeOut(id=nid, type=typ, name=name, attrs=_plain(json.loads(attrs)),
                   provenance=prov, updated_at=upd, version=int(version), out_edges=outs,
                   in_edges=ins, n_out=n_out, n_in=n_in)


def _node_from_graph(g: nx.MultiDiGraph, nid: str, limit: int) -> NodeOut | None:
    if nid not in g:
        return None
    d = g.nodes[nid]

    def label(n: str) -> str | None:
        v = g.nodes[n].get("path") or g.nodes[n].get("name")
        return None if v is None else str(v)

    def listing(pairs: list[tuple[str, Any, dict]]) -> list[EdgeOut]:
        pairs.sort(key=lambda p: (str(p[2].get("type")), p[0], str(p[1])))
        return [EdgeOut(type=str(a.get("type")), key=k, node=n, node_type=g.nodes[n].get("type"),
                        name=label(n), attrs=_plain({x: v for x, v in a.items()
                                                     if x not in _INTERNAL}))
                for n, k, a in pairs[:limit]]
    outs = [(v, k, a) for _, v, k, a in g.out_edges(nid, keys=True, data=True)]
    ins = [(u, k, a) for u, _, k, a in g.in_edges(nid, keys=True, data=True)]
    return NodeOut(id=nid, type=str(d.get("type")),
                   name=None if d.get("name") is None else str(d.get("name")),
                   attrs=_plain({k: v for k, v in d.items() if k not in _INTERNAL}),
                   provenance=d.get("provenance"), updated_at=d.get("updated_at"),
                   version=None, out_edges=listing(outs), in_edges=listing(ins),
                   n_out=len(outs), n_in=len(ins))


def _result_out(r: CurationResult) -> CurationResultOut:
    return CurationResultOut.model_validate(_plain(r.to_dict()))


def _error(status: int, exc: Exception | str, field: str | None = None, **extra: Any
           ) -> JSONResponse:
    body = {"error": str(exc), "field": field, **{k: v for k, v in extra.items() if v is not None}}
    return JSONResponse(status_code=status, content=_plain(body))


def _no_store() -> JSONResponse:
    return _error(503, "no graph store configured: start the server with a graph store "
                       "(PRICING_GRAPH_DB) to curate the graph")


def _first_error(exc: ValidationError, default: str = "body") -> JSONResponse:
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first.get("loc", ())) or default
    return _error(422, f"{field}: {first.get('msg')}", field)


def _curation_error(exc: CurationError) -> JSONResponse:
    rows = [e.as_dict() for e in exc.errors] or None
    return _error(409 if isinstance(exc, ConflictError) else 422, exc, exc.field,
                  node=exc.node, rows=rows)


_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)
_ERRORS = {s: {"model": GraphError} for s in (401, 403, 404, 409, 422, 503)}


# --------------------------------------------------------------------------- the router

def graph_router(service: Any, role_dependency: Callable[..., str]) -> APIRouter:
    """The ``/v1/graph`` endpoints over ``service`` (a PricingService: .graph, .graph_db,
    .refresh_graph, .predictor_for); ``role_dependency`` answers the caller's role or 401."""
    desk = CurationDesk(service)
    router = APIRouter(prefix="/v1/graph", tags=["graph"], responses=_ERRORS,
                       on_shutdown=[desk.close])
    price_fn = preview_prices(service)
    lock = threading.Lock()
    cache: dict[str, tuple] = {}

    def reader(role: str = Depends(role_dependency)) -> str:
        return role

    def editor(role: str = Depends(role_dependency),
               key: str | None = Security(_key_header)) -> str:
        if role != "curator":
            raise HTTPException(403, "this API key may read the graph but not edit it "
                                     "(a curator key is needed)")
        return f"curator:{key[:4]}" if key else "curator:anonymous"

    def on_graph(name: str, build: Callable[[nx.MultiDiGraph], T]) -> T:
        """``build(service.graph)``, kept until a refresh replaces the graph."""
        g = service.graph
        with lock:
            hit = cache.get(name)
            if hit is not None and hit[0] is g:
                return hit[1]
        value = build(g)
        with lock:
            cache[name] = (g, value)
        return value

    def edit(fn: Callable[[Curator], CurationResult]):
        """Run one edit on the worker; a committed change refreshes the service first."""
        if not desk.configured:
            return _no_store()

        def run(cur: Curator) -> CurationResult:
            r = fn(cur)
            if not r.dry_run and r.audit_id is not None:
                desk.refresh()
            return r
        try:
            return _result_out(desk.call(run))
        except CurationError as exc:
            return _curation_error(exc)
        except GraphStoreMissing:
            return _no_store()

    # ------------------------------------------------------------------ reads
    @router.get("/nodes", response_model=NodeSearchOut)
    def search_nodes(q: str = Query("", max_length=200, description="part of a name or id"),
                     type: NodeTypeName | None = Query(None),  # noqa: A002 - the API's word
                     limit: int = Query(20, ge=1, le=500),
                     _: str = Depends(reader)) -> NodeSearchOut:
        """Nodes whose normalised name or id contains ``q``: exact matches first, then
        prefixes, then the best connected."""
        def index(g: nx.MultiDiGraph) -> list[tuple]:
            return [(n, d.get("type"), d.get("name"),
                     normalize_name(str(d.get("path") or d.get("name") or "")), n.lower())
                    for n, d in g.nodes(data=True)]
        g = service.graph
        rows = on_graph("search", index)
        want = normalize_name(q)
        low = q.strip().lower()
        hits = []
        for nid, typ, name, norm, lid in rows:
            if type is not None and typ != type:
                continue
            if want and want not in norm and low not in lid:
                continue
            rank = 0 if norm == want or lid == low else 1 if norm.startswith(want) else 2
            hits.append((rank, nid, typ, name))
        top = sorted(hits, key=lambda h: (h[0], -g.degree(h[1]) if h[1] in g else 0, h[1]))
        return NodeSearchOut(total=len(hits), nodes=[
            NodeHit(id=nid, type=str(typ), name=None if name is None else str(name),
                    degree=int(g.degree(nid)) if nid in g else 0)
            for _, nid, typ, name in top[:limit]])

    @router.get("/nodes/{node_id:path}", response_model=NodeOut)
    def get_node(node_id: str, edges: int = Query(50, ge=0, le=1000,
                                                  description="most edges listed per direction"),
                 _: str = Depends(reader)):
        """One node with its version (for ``expected``) and its neighbourhood, read from the
        store in one snapshot (so the version matches what is shown); without a store, from
        the service's graph with version None."""
        if desk.configured:
            with _reading(service.graph_db) as conn:
                node = _node_from_store(conn, node_id, edges)
        else:
            node = _node_from_graph(service.graph, node_id, edges)
        if node is None:
            return _error(404, f"unknown node {node_id!r}; find ids with "
                               f"GET /v1/graph/nodes?q=...", "node_id")
        return node

    @router.get("/quality", response_model=QualityOut)
    def quality(limit: int = Query(100, ge=0, le=100_000,
                                   description="most items listed per check (counts are full)"),
                _: str = Depends(reader)) -> QualityOut:
        """Suspect data for curators (:func:`graph.quality.quality_report`)."""
        rep = on_graph("quality", lambda g: _plain(quality_report(g).to_dict()))
        return QualityOut.model_validate(
            {k: (v if k == "counts" else v[:limit]) for k, v in rep.items()})

    @router.get("/audit", response_model=AuditListOut)
    def audit(node: str | None = Query(None, max_length=1000,
                                       description="only entries that touched this node id"),
              limit: int = Query(50, ge=1, le=1000),
              before_id: int | None = Query(None, ge=1, le=_MAX_ID,
                                           description="page: ids below this"),
              images: bool = Query(False, description="include before/after images"),
              _: str = Depends(reader)) -> AuditListOut:
        """The audit trail, newest first."""
        if not desk.configured:
            return AuditListOut(graph_store=False, entries=[])
        with _reading(service.graph_db) as conn:
            has_table = conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND "
                                     "name='audit'").fetchone()
            entries = (list_entries(conn, node=node, limit=limit, before_id=before_id)
                       if has_table else [])
        out = []
        for e in entries:
            c: Counter = Counter()
            for n in e.node_changes:
                c[f"nodes {n.action}"] += 1
            for x in e.edge_changes:
                c[f"edges {x.action}"] += 1
            out.append(AuditEntryOut.model_validate(
                _plain({**e.to_dict(images=images), "summary": dict(c)})))
        return AuditListOut(graph_store=True, entries=out)

    # ------------------------------------------------------------------ edits
    @router.post("/ops", response_model=CurationResultOut, description=(
        "Apply (or with `dry_run` preview) one curation operation. Operations and their "
        "params (`?`: optional):\n\n" + _describe_ops()))
    def apply_op(req: OpRequest, actor: str = Depends(editor)):
        try:  # fields named as the Curator names them ("price"), like its own refusals
            params = PARAMS[req.op].model_validate(req.params).model_dump()
        except ValidationError as exc:
            return _first_error(exc, "params")
        kw = dict(expected=req.expected, actor=actor, reason=req.reason, dry_run=req.dry_run,
                  price_fn=price_fn if req.dry_run else None)
        return edit(lambda cur: getattr(cur, req.op)(**params, **kw))

    @router.post("/bulk", response_model=CurationResultOut, openapi_extra={"requestBody": {
        "required": True, "content": {
            "application/json": {"schema": BulkRequest.model_json_schema()},
            "text/csv": {"schema": {"type": "string", "description": (
                "CSV with a header: op, product_id, category_path, brand, competitor, "
                "price, currency, observed_at, url, shipping")}}}}})
    async def bulk(request: Request, actor: str = Depends(editor),
                   dry_run: bool = Query(False, description="CSV bodies: preview only"),
                   create_missing: bool = Query(False, description="CSV bodies: create "
                                                "missing categories, brands, competitors"),
                   reason: str | None = Query(None, max_length=2000)):
        """Apply mapping rows all or none (one audit entry). Body: CSV text
        (``Content-Type: text/csv``, flags as query parameters) or JSON ``BulkRequest`` (its
        flags or the query's). Every bad row is listed in ``rows`` and nothing is applied."""
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        raw = await request.body()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            return _error(422, "body: not UTF-8 text", "body")
        if ctype in ("text/csv", "text/plain"):
            if not text.strip():
                return _error(422, "body: empty CSV", "body")
            source: Any = io.StringIO(text)
            flags = dict(create_missing=create_missing, reason=reason, dry_run=dry_run)
        elif ctype in ("application/json", ""):
            try:
                req = BulkRequest.model_validate_json(text or "null")
            except ValidationError as exc:
                return _first_error(exc)
            source = req.rows
            # Flags given either way count (never dropped); a dry run wins.
            flags = dict(create_missing=req.create_missing or create_missing,
                         reason=req.reason if req.reason is not None else reason,
                         dry_run=req.dry_run or dry_run)
        else:
            return _error(415, f"content-type {ctype!r}: send text/csv or application/json",
                          "content-type")
        fp = price_fn if flags["dry_run"] else None
        return await _in_thread(lambda: edit(lambda cur: cur.bulk_import(
            source, actor=actor, price_fn=fp, **flags)))

    @router.post("/audit/{audit_id}/revert", response_model=CurationResultOut)
    def revert(audit_id: int = Path(ge=1, le=_MAX_ID), req: RevertRequest | None = None,
               actor: str = Depends(editor)):
        """Undo one audit entry (itself audited). Refused (422, with the reason) when what it
        touched changed since, when it was already reverted, or when the result would break
        a rule."""
        req = req or RevertRequest()
        if not desk.configured:
            return _no_store()

        def known(cur: Curator) -> bool:
            try:
                cur.entry(audit_id)
                return True
            except KeyError:
                return False
        try:
            if not desk.call(known):
                return _error(404, f"no audit entry #{audit_id}", "audit_id")
        except GraphStoreMissing:
            return _no_store()
        return edit(lambda cur: cur.revert(audit_id, actor=actor, reason=req.reason,
                                           dry_run=req.dry_run,
                                           price_fn=price_fn if req.dry_run else None))

    return router


async def _in_thread(fn: Callable[[], T]) -> T:
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(fn)
