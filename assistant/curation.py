"""Knowledge-graph curation as part of the pricing domain: one edit worker per service, dry-run
price previews, node readers, search, the audit trail and the quality worklist.

Use::

    cs = service.curation                                  # one per PricingService (lazy)
    cs.search("boat", node_type="brand")                   # SearchResult(total, hits)
    node = cs.node("brand:boat")                           # NodeDetail (+ version) or None
    r = cs.apply("rename_node", {"node": node.id, "new_name": "boAt"}, actor="ui:alice",
                 expected={node.id: node.version}, dry_run=True)   # preview: r.impact.prices
    r = cs.apply("rename_node", {...}, actor="ui:alice", expected=...)   # commit + refresh
    cs.revert(r.audit_id, actor="ui:bob", reason="wrong")
    cs.export("graph.graphml"); cs.import_graph(g, actor="ui:alice", dry_run=True)  # files
    cs.audit(node="brand:boat").entries                    # graph.audit.AuditEntry, newest first
    cs.quality(); cs.worklist(per_check=30)                # suspect data, cached per graph
    cs.close()                                             # at shutdown (PricingService.close)

Both edges call this: the ``/v1/graph`` API (:mod:`assistant.http.graph`) and the Curate tab
(:mod:`assistant.web.curate`); neither imports the other.

Edits (and dry runs) run on ONE worker thread holding one :class:`graph.curation.Curator`: a
SQLite connection belongs to the thread that opened it, edits are serialised anyway (``BEGIN
IMMEDIATE``), and the Curator's in-memory preview graph is reused across dry runs. Before
each edit the worker checks whether another process committed to the store meanwhile
(``PRAGMA data_version``) and if so refreshes the service from the store first. A committed
edit refreshes the service (:meth:`PricingService.refresh_graph`) before the call returns,
so the next suggestion already reflects it. Node details and the audit trail are read from
the store on a connection of the caller's own (WAL: reads never wait for a preview); search
and the quality checks read the service's in-memory graph, cached until a refresh replaces it.
"""
from __future__ import annotations

import json
import math
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol, TypeVar

import networkx as nx
import numpy as np
import pandas as pd

from assistant.graph_sync import ensure_current
from graph.audit import AuditEntry, list_entries
from graph.curation import CurationError, CurationResult, Curator
from graph.db import snapshot
from graph.exchange import export_graph
from graph.products import product_table
from graph.quality import QualityReport, quality_report
from graph.schema import NodeType, normalize_name
from graph.store import GraphStore
from models.predictor import Predictor

T = TypeVar("T")
_PRODUCT = NodeType.PRODUCT.value
_REVIEW = NodeType.REVIEW.value
_INTERNAL = {"type", "name", "provenance", "updated_at"}
_NODE_COLS = "id, type, name, attrs, provenance, updated_at, version"
# Operations that only create: the node must not exist yet, so there is no version to hold.
CREATING = frozenset({"add_category", "add_brand", "add_competitor", "add_product"})
PriceFn = Callable[[list[str], nx.MultiDiGraph], dict[str, float]]


class GraphStoreMissing(RuntimeError):
    """The service was started without a graph store: nothing to edit."""


class CurationHost(Protocol):
    """What curation needs of a :class:`assistant.service.PricingService`."""

    graph: nx.MultiDiGraph
    graph_db: str | Path | None  # a SQLite path or a postgresql:// URL
    products: pd.DataFrame

    def refresh_graph(self, graph: nx.MultiDiGraph) -> None: ...

    def predictor_for(self, graph: nx.MultiDiGraph) -> Predictor: ...


# --------------------------------------------------------------------------- what readers return

@dataclass
class NodeHit:
    """One search match."""

    id: str
    type: str
    name: str | None
    degree: int


@dataclass
class SearchResult:
    total: int                      # matches before the limit
    hits: list[NodeHit]


@dataclass
class EdgeDetail:
    """One edge of a node, seen from that node."""

    type: str
    key: str | int
    node: str                       # the neighbour's id
    node_type: str | None
    name: str | None                # the neighbour's name (a category's path)
    attrs: dict[str, Any]


@dataclass
class NodeDetail:
    """A node with its neighbourhood; ``version`` is what an edit's ``expected`` checks
    against (None without a graph store)."""

    id: str
    type: str
    name: str | None
    attrs: dict[str, Any]
    provenance: str | None
    updated_at: str | None
    version: int | None
    out_edges: list[EdgeDetail]
    in_edges: list[EdgeDetail]
    n_out: int
    n_in: int


@dataclass
class AuditListing:
    graph_store: bool               # False: no store configured, so no audit trail
    entries: list[AuditEntry] = field(default_factory=list)


@dataclass
class WorklistItem:
    """One row of the quality worklist: which check, the node to load, what is suspect."""

    check: str
    node: str
    detail: str


# --------------------------------------------------------------------------- the service

class CurationService:
    """Curation of ``host``'s graph store (see the module docstring).

    Create it once per service: ``PricingService.curation`` does, so the API and the UI of a
    server share its one worker. ``close()`` stops the worker; a later edit starts a new one.
    """

    def __init__(self, host: CurationHost, *, review_in_search: bool = False) -> None:
        self.host = host
        self.review_in_search = review_in_search
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._curator: Curator | None = None
        self._seen: int | None = None
        self._cache: dict[str, tuple[nx.MultiDiGraph, Any]] = {}
        self._memo: list[_MemoEncoder] = []

    @property
    def running(self) -> bool:
        """Whether the edit worker is started (the first edit starts it; close stops it)."""
        return self._pool is not None

    @property
    def configured(self) -> bool:
        """Whether the service has a graph store to edit."""
        return self.host.graph_db is not None

    # ------------------------------------------------------------------ the worker
    def run(self, fn: Callable[[Curator], T]) -> T:
        """``fn(curator)`` on the worker thread (raises GraphStoreMissing without a store)."""
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="graph-curation")
            pool = self._pool
        return pool.submit(self._on_worker, fn).result()

    def _on_worker(self, fn: Callable[[Curator], T]) -> T:
        if self._curator is None:
            db = self.host.graph_db
            if db is None:
                raise GraphStoreMissing("no graph store configured")
            self._curator = Curator(db, actor="api")
            self._seen = self._data_version()
        elif self._data_version() != self._seen:
            self._refresh()  # another process (the CLI, a second server) committed meanwhile
        return fn(self._curator)

    def _data_version(self) -> int:
        assert self._curator is not None
        return int(self._curator.conn.execute("PRAGMA data_version").fetchone()[0])

    def _refresh(self) -> None:
        """Bring the service's graph up to the store (worker thread only): the committed
        operations are replayed from the audit trail (assistant.graph_sync)."""
        assert self._curator is not None
        ensure_current(self.host)
        self._seen = self._data_version()

    def close(self) -> None:
        """Close the store connection and stop the worker (idempotent)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is None:
            return

        def shut() -> None:
            if self._curator is not None:
                self._curator.close()
                self._curator = None
        pool.submit(shut).result()
        pool.shutdown(wait=True)

    # ------------------------------------------------------------------ edits
    def edit(self, fn: Callable[[Curator], CurationResult]) -> CurationResult:
        """Run one edit on the worker; a committed change refreshes the service first."""
        def run(cur: Curator) -> CurationResult:
            r = fn(cur)
            if not r.dry_run and r.audit_id is not None:
                self._refresh()  # the live service serves the edited graph from now on
            return r
        return self.run(run)

    def apply(self, op: str, params: Mapping[str, Any], *, actor: str,
              expected: int | Mapping[str, int] | None = None, force: bool = False,
              reason: str | None = None, dry_run: bool = False,
              idempotency_key: str | None = None) -> CurationResult:
        """``Curator.<op>(**params)``; a dry run comes with the model prices it would move.

        A commit that changes existing nodes needs ``expected`` (the version read) or an
        explicit ``force``: without either, it would silently overwrite a concurrent edit.
        ``idempotency_key``: a retry with the same key returns the first outcome."""
        fn = getattr(Curator, op, None)
        if op.startswith("_") or not callable(fn):
            raise ValueError(f"unknown curation operation {op!r}")
        if op not in CREATING:
            require_expected(expected, force, dry_run)
        kw = dict(expected=expected, actor=actor, reason=reason, dry_run=dry_run,
                  price_fn=self.preview_prices if dry_run else None,
                  idempotency_key=idempotency_key)
        return self.edit(lambda cur: getattr(cur, op)(**dict(params), **kw))

    def bulk(self, source: str | Path | IO[str] | Iterable[Mapping[str, Any]], *, actor: str,
             create_missing: bool = False, reason: str | None = None,
             dry_run: bool = False, expected: Mapping[str, int] | None = None,
             force: bool = False, idempotency_key: str | None = None) -> CurationResult:
        """:meth:`Curator.bulk_import` (all rows or none, one audit entry); a commit needs
        ``expected`` ({node id: version}) or ``force``, as :meth:`apply`."""
        require_expected(expected, force, dry_run)
        return self.edit(lambda cur: cur.bulk_import(
            source, actor=actor, create_missing=create_missing, reason=reason, dry_run=dry_run,
            price_fn=self.preview_prices if dry_run else None, expected=expected,
            idempotency_key=idempotency_key))

    def import_graph(self, g: nx.MultiDiGraph, *, actor: str, source: str = "graph",
                     dry_run: bool = False, expected_version: int | None = None,
                     force: bool = False, reason: str | None = None,
                     idempotency_key: str | None = None) -> CurationResult:
        """:meth:`Curator.import_graph`: the stored graph becomes ``g`` (a diff, validated, one
        audit entry). A commit needs ``expected_version`` (the dry run's
        ``params["base_version"]``) or ``force``: the diff shown is the diff applied."""
        if expected_version is None and not force and not dry_run:
            raise CurationError("expected_version: give the base_version of your dry run (the "
                                "diff you reviewed), or force to import over whatever is "
                                "stored now", field="expected_version")
        return self.edit(lambda cur: cur.import_graph(
            g, source=source, expected_version=expected_version, actor=actor, reason=reason,
            dry_run=dry_run, idempotency_key=idempotency_key))

    def export(self, path: str | Path, fmt: str | None = None) -> str:
        """Write the graph to ``path`` (:func:`graph.exchange.export_graph`; returns the
        format): the store's, read in one snapshot, or without a store the service's own."""
        db = self.host.graph_db
        if db is None:
            return export_graph(self.host.graph, path, fmt)
        with GraphStore(db) as store:
            return export_graph(store.load(), path, fmt)

    def revert(self, audit_id: int, *, actor: str, reason: str | None = None,
               dry_run: bool = False) -> CurationResult:
        """Undo one audit entry (itself audited); RevertError says why it cannot be."""
        return self.edit(lambda cur: cur.revert(
            audit_id, actor=actor, reason=reason, dry_run=dry_run,
            price_fn=self.preview_prices if dry_run else None))

    def has_entry(self, audit_id: int) -> bool:
        """Whether the audit trail has entry ``audit_id``."""
        def known(cur: Curator) -> bool:
            try:
                cur.entry(audit_id)
                return True
            except KeyError:
                return False
        return self.run(known)

    def resolve(self, ref: str, node_type: str | None = None) -> str:
        """The id of the existing node ``ref`` names ("boAt" as a brand -> "brand:boat")."""
        return self.run(lambda cur: cur.resolve(ref, node_type))

    # ------------------------------------------------------------------ previews
    def preview_prices(self, product_ids: list[str], graph: nx.MultiDiGraph) -> dict[str, float]:
        """``price_fn`` for dry runs: the model price (p50) each product would get on
        ``graph``, built as :meth:`PricingService.suggest` builds it (record from the
        product's graph row, graph features refit on that graph). Worker thread only."""
        recs = graph_records(graph, product_ids)
        if not recs:
            return {}
        pred = self.host.predictor_for(graph)
        if not self._memo or self._memo[0].inner is not pred.encoder:
            self._memo[:] = [_MemoEncoder(pred.encoder)]
        pred.encoder = self._memo[0]  # pred is a fresh copy: the service's own is untouched
        preds = pred.predict(recs)
        return {r["product_id"]: round(float(p.p50), 2) for r, p in zip(recs, preds)}

    # ------------------------------------------------------------------ reading
    def _cached(self, name: str, build: Callable[[nx.MultiDiGraph], T]) -> T:
        """``build(host.graph)``, kept until a refresh replaces the graph."""
        g = self.host.graph
        with self._lock:
            hit = self._cache.get(name)
            if hit is not None and hit[0] is g:
                return hit[1]
        value = build(g)
        with self._lock:
            self._cache[name] = (g, value)
        return value

    def search(self, text: str | None, node_type: str | None = None,
               limit: int = 20) -> SearchResult:
        """Nodes whose normalised name (a category's path) or id contains ``text``: exact
        matches first, then prefixes, then the best connected. Reviews are left out unless
        ``node_type="review"`` asks for them (they have no name and cannot be edited)."""
        def index(g: nx.MultiDiGraph) -> list[tuple]:
            return [(n, d.get("type"), d.get("name"),
                     normalize_name(str(d.get("path") or d.get("name") or "")), n.lower())
                    for n, d in g.nodes(data=True)]
        g = self.host.graph
        rows = self._cached("search", index)
        want, low = normalize_name(text or ""), (text or "").strip().lower()
        kind = None if node_type in (None, "", "any") else node_type
        hits = []
        for nid, typ, name, norm, lid in rows:
            if kind is not None and typ != kind:
                continue
            if kind is None and typ == _REVIEW and not self.review_in_search:
                continue
            if want and want not in norm and low not in lid:
                continue
            rank = 0 if norm == want or lid == low else 1 if norm.startswith(want) else 2
            hits.append((rank, -g.degree(nid) if nid in g else 0, nid, typ, name))
        hits.sort(key=lambda h: h[:3])
        return SearchResult(len(hits), [
            NodeHit(nid, str(typ), None if name is None else str(name), -deg)
            for _, deg, nid, typ, name in hits[:limit]])

    def node(self, node_id: str, max_edges: int = 50) -> NodeDetail | None:
        """One node with its version and neighbourhood, read from the store in one snapshot
        (so the version matches what is shown); without a store, from the service's graph
        with version None. None: no such node."""
        db = self.host.graph_db
        if db is not None:
            with reading(db) as conn:
                return _node_from_store(conn, node_id, max_edges)
        return _node_from_graph(self.host.graph, node_id, max_edges)

    def audit(self, node: str | None = None, limit: int = 50,
              before_id: int | None = None) -> AuditListing:
        """The audit trail, newest first; ``node`` keeps entries that touched it."""
        db = self.host.graph_db
        if db is None:
            return AuditListing(graph_store=False)
        with reading(db) as conn:
            has_table = conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND "
                                     "name='audit'").fetchone()
            entries = (list_entries(conn, node=node, limit=limit, before_id=before_id)
                       if has_table else [])
        return AuditListing(graph_store=True, entries=entries)

    def quality(self) -> QualityReport:
        """:func:`graph.quality.quality_report` of the service's graph (cached)."""
        return self._cached("quality", quality_report)

    def worklist(self, per_check: int = 30) -> list[WorklistItem]:
        """The quality report as rows of (check, node id, detail), ``per_check`` per check."""
        rep = self.quality()
        rows = []
        for d in rep.duplicate_brands[:per_check]:
            rows.append(WorklistItem("duplicate brands", d.brands[0],
                                     f"looks like {', '.join(d.brands[1:])} ({d.reason}, "
                                     f"{d.score:.2f})"))
        for o in rep.price_outliers[:per_check]:
            rows.append(WorklistItem("price outlier", f"{_PRODUCT}:{o.product_id}",
                                     f"{o.price:,.2f} {o.currency or ''} vs category median "
                                     f"{o.category_median:,.2f} (z {o.z:+.1f}) in {o.category}"))
        for c in rep.single_product_categories[:per_check]:
            rows.append(WorklistItem("single-product category", f"category:{c}", c))
        for k in rep.competitors_without_offers[:per_check]:
            kid = k if k.startswith("competitor:") else f"competitor:{k}"
            rows.append(WorklistItem("competitor without offers", kid, k))
        for p in rep.products_without_category[:per_check]:
            rows.append(WorklistItem("product without category", f"{_PRODUCT}:{p}", ""))
        for p, c in rep.products_in_inner_categories[:per_check]:
            rows.append(WorklistItem("product in an inner category", f"{_PRODUCT}:{p}", c))
        return rows


# --------------------------------------------------------------------------- helpers

def require_expected(expected: Any, force: bool, dry_run: bool) -> None:
    """Optimistic locking is not optional: a commit names the versions it read, or forces."""
    if expected is None and not force and not dry_run:
        raise CurationError("expected: give the version you read (GET the node: its `version`"
                            "), or {node id: version}; or force: true to overwrite whatever "
                            "is there now", field="expected")


def json_ready(x: Any) -> Any:
    """JSON-ready: NaN/inf -> None (the store keeps NaN; JSON cannot), tuples -> lists."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, Mapping):
        return {str(k): json_ready(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_ready(v) for v in x]
    if isinstance(x, np.generic):
        return json_ready(x.item())
    return x


@contextmanager
def reading(path: str | Path) -> Iterator[sqlite3.Connection]:
    """A connection of the caller's own for reads: WAL lets them run beside the writer (the
    curation worker) instead of queueing behind a long preview. One snapshot for all the
    reads of the request; SQLite or PostgreSQL (graph.db.snapshot)."""
    with snapshot(path) as conn:
        yield conn  # type: ignore[misc]


def graph_records(g: nx.MultiDiGraph, ids: list[str]) -> list[dict]:
    """Model input records of catalog products ``ids`` as found in ``g`` (the fields
    PricingService takes from its product table for a catalog id)."""
    nids = [f"{_PRODUCT}:{i}" for i in ids if f"{_PRODUCT}:{i}" in g]
    keep = set(nids)
    for n in nids:
        keep.update(g.succ[n])
        keep.update(g.pred[n])
    table = product_table(g.subgraph(keep))
    out = []
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


def _node_from_store(conn: sqlite3.Connection, nid: str, limit: int) -> NodeDetail | None:
    row = conn.execute(f"SELECT {_NODE_COLS} FROM nodes WHERE id=?", (nid,)).fetchone()
    if row is None:
        return None
    _, typ, name, attrs, prov, upd, version = row

    def listing(mine: str, other: str) -> tuple[list[EdgeDetail], int]:
        total = conn.execute(f"SELECT count(*) FROM edges WHERE {mine}=?", (nid,)).fetchone()[0]
        rows = conn.execute(
            f"SELECT e.{other}, e.key, e.type, e.attrs, n.type, "
            f"COALESCE(json_extract(n.attrs, '$.path'), n.name) FROM edges e "
            f"JOIN nodes n ON n.id = e.{other} WHERE e.{mine}=? "
            f"ORDER BY e.type, e.{other}, CAST(e.key AS TEXT) LIMIT ?", (nid, limit)).fetchall()
        return [EdgeDetail(type=t, key=k, node=n, node_type=nt,
                           name=None if lab is None else str(lab),
                           attrs=json_ready(json.loads(a)))
                for n, k, t, a, nt, lab in rows], int(total)
    outs, n_out = listing("src", "dst")
    ins, n_in = listing("dst", "src")
    return NodeDetail(id=nid, type=typ, name=name, attrs=json_ready(json.loads(attrs)),
                      provenance=prov, updated_at=upd, version=int(version), out_edges=outs,
                      in_edges=ins, n_out=n_out, n_in=n_in)


def _node_from_graph(g: nx.MultiDiGraph, nid: str, limit: int) -> NodeDetail | None:
    if nid not in g:
        return None
    d = g.nodes[nid]

    def label(n: str) -> str | None:
        v = g.nodes[n].get("path") or g.nodes[n].get("name")
        return None if v is None else str(v)

    def listing(pairs: list[tuple[str, Any, dict]]) -> list[EdgeDetail]:
        pairs.sort(key=lambda p: (str(p[2].get("type")), p[0], str(p[1])))
        return [EdgeDetail(type=str(a.get("type")), key=k, node=n,
                           node_type=g.nodes[n].get("type"), name=label(n),
                           attrs=json_ready({x: v for x, v in a.items() if x not in _INTERNAL}))
                for n, k, a in pairs[:limit]]
    outs = [(v, k, a) for _, v, k, a in g.out_edges(nid, keys=True, data=True)]
    ins = [(u, k, a) for u, _, k, a in g.in_edges(nid, keys=True, data=True)]
    return NodeDetail(id=nid, type=str(d.get("type")),
                      name=None if d.get("name") is None else str(d.get("name")),
                      attrs=json_ready({k: v for k, v in d.items() if k not in _INTERNAL}),
                      provenance=d.get("provenance"), updated_at=d.get("updated_at"),
                      version=None, out_edges=listing(outs), in_edges=listing(ins),
                      n_out=len(outs), n_in=len(ins))


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
