"""Knowledge-graph curation on the SQLite store: validated edits, audit trail, undo, previews.

Use::

    from graph.curation import Curator, CurationError, ConflictError
    with Curator("runs/graph.sqlite", actor="alice") as cur:
        v = cur.version("brand:boat")                                   # optimistic lock
        r = cur.merge_nodes("brand:bo at", "brand:boat", expected={"brand:boat": v},
                            reason="same company", dry_run=True)       # preview, store unchanged
        r.impact.products, r.impact.features                            # who moves, by how much
        r = cur.merge_nodes("brand:bo at", "brand:boat", expected={"brand:boat": v})
        cur.revert(r.audit_id, reason="wrong merge")                    # undo, itself audited
        cur.bulk_import("mappings.csv")        # op,product_id,category_path,brand,... rows
        cur.import_graph(read_graph_file("graph.graphml"), dry_run=True)  # graph.exchange diff

Every operation reads and writes the store directly (the graph is not loaded, except for a
dry-run's impact preview), validates the touched part of the graph and commits in ONE SQLite
transaction together with its audit record (:mod:`graph.audit`). Node references are node
ids (``"brand:boat"``, ``"category:Toys > Puzzles"``, ``"product:B07X"``,
``"competitor:Flipkart"``); where the type is known a bare key works too (``"boAt"``,
``"toys > puzzles"``, ``"B07X"``), matched after :func:`graph.schema.normalize_name`.

Rules every result obeys (a breach raises :class:`CurationError`, naming node and field):

- the taxonomy is a tree: one ``child_of`` parent per category, no cycles; category ids,
  ``path`` and ``depth`` follow the parent chain (renaming or re-parenting a category moves
  its subtree, re-keying every node below, because ids are built from paths);
- a product sits in at most one category and that category is a leaf (no sub-categories);
  with ``Curator(strict_categories=True)`` every touched product must have exactly one;
  a product has at most one brand. These are checked on what an edit adds (a product linked,
  a sub-category added): catalogs arrive with products in inner categories, and such legacy
  data must not block an unrelated fix;
- offers have a positive price and an ISO 4217 currency
  (:data:`graph.contracts.CURRENCIES`); product price > 0, cost >= 0, rating 0..5;
- no dangling edges: deleting a node that still has edges needs ``cascade=True`` (the
  removed edges are audited like everything else); a category with sub-categories is never
  deleted, re-parent or delete those first;
- names are unique per type after normalisation: brands by id (``brand:<normalised>``),
  competitors among all competitors, categories among their siblings. Product titles are not
  (catalogs repeat them across variants); a product is identified by its id.

Concurrency: every edit takes optional expected versions (``expected=3`` for the primary
node or ``{"node id": 3, ...}``); each node whose content or own edges change gets
``version + 1``. Transactions are ``BEGIN IMMEDIATE`` so two curators are serialised and the
second sees the first's versions: it gets :class:`ConflictError`, nothing is lost. Renaming or
re-parenting a category re-keys its subtree; products whose category was merely renamed keep
their version (their membership did not change); a merge or a cascading delete bumps them.

Dry run: ``dry_run=True`` runs the same code in the same transaction, returns the changes and
an :class:`Impact` (products whose graph features change, with before/after values of
:class:`graph.features.GraphFeaturizer` fitted on all priced products, and optional prices from
``price_fn(product_ids, graph)``), then rolls back. The graph for previews is loaded once and
kept in memory while no other connection writes (``PRAGMA data_version``).

A :class:`Curator` holds one SQLite connection: use one per thread or process.

Layout: this module holds the operations (:class:`Curator`), their results and previews;
:mod:`graph.curation_tx` holds the transaction they run in (reads, writes, the rules above).
"""
from __future__ import annotations

import csv
import hashlib
import io
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import networkx as nx
import numpy as np
import pandas as pd

from graph.audit import (
    AuditEntry,
    EdgeChange,
    NodeChange,
    dumps,
    ensure_audit_schema,
    find_idempotent,
    is_stamp,
    later_entries_touching,
    list_entries,
    read_entry,
    same_image,
    write_entry,
)
from graph.contracts import MAX_NAME_LENGTH, MAX_PATH_LENGTH, Rejection, finite_or_none, text_problem
from graph.curation_tx import (  # noqa: F401 - the errors are part of this API
    _BULK_OPS,
    _MAX_LISTED,
    _PRODUCT_TEXT,
    _RESERVED,
    _RESERVED_BY_TYPE,
    _SINGLE,
    _UPSERT_ATTRS,
    CHILD_OF,
    IN_CATEGORY,
    MADE_BY,
    OFFERS,
    SEP,
    B,
    C,
    ConflictError,
    CurationError,
    K,
    P,
    PriceFn,
    R,
    RevertError,
    _catalog_id,
    _currency,
    _norm_path,
    _number,
    _scalar,
    _short,
    _text,
    _Tx,
    apply_changes,
)
from graph.exchange import apply_diff, check_graph, diff_graphs
from graph.schema import NodeType, node_id, normalize_name, now_iso, offer_key
from graph.store import GraphStore, read_version

# Rows of one bulk import: one transaction and one audit entry hold them all; beyond this a
# file is split (the API caps its JSON rows at the same number).
MAX_BULK_ROWS = 20_000


@dataclass
class Impact:
    """What a previewed operation changes for the price model.

    ``direct``: catalog ids of products whose own category, brand, offers or attributes change
    (or that are added/removed). ``products``: the ids, among the direct ones and their
    neighbours (products sharing their leaf category or brand, before or after), whose graph
    features actually change, sorted; features come from a ``GraphFeaturizer`` fitted on all
    priced products of the graph before, and again after, the change. ``features``: id ->
    {feature: [before, after]} for the features that differ (None: no value, or the product
    is absent on that side). ``prices``: id -> [before, after] from ``price_fn`` for the
    ``products`` and ``direct`` ids; None without a ``price_fn``.

    Not listed: products elsewhere under the same parent categories whose coarser features
    (``cat_median_d1``.., a backed-off ``cat_median``) move slightly with one more or one
    fewer price at that level; listing them would list most of a root category.
    """

    direct: list[str]
    products: list[str]
    features: dict[str, dict[str, list]]
    prices: dict[str, list] | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class CurationResult:
    """Outcome of one operation (applied, or previewed when ``dry_run``)."""

    op: str
    params: dict
    dry_run: bool
    audit_id: int | None                 # None for a dry run or when nothing changed
    nodes: list[NodeChange]
    edges: list[EdgeChange]
    versions: dict[str, int] = field(default_factory=dict)  # node id -> version now
    impact: Impact | None = None
    replayed: bool = False    # a retry under an idempotency key: the stored outcome, not redone

    @property
    def changed(self) -> bool:
        return bool(self.nodes or self.edges)

    def summary(self) -> dict[str, int]:
        """Counts by kind and action, e.g. {"nodes added": 1, "edges removed": 3}."""
        c: Counter = Counter()
        for n in self.nodes:
            c[f"nodes {n.action}"] += 1
        for e in self.edges:
            c[f"edges {e.action}"] += 1
        return dict(c)

    def to_dict(self) -> dict:
        return {"op": self.op, "params": self.params, "dry_run": self.dry_run,
                "audit_id": self.audit_id, "summary": self.summary(),
                "nodes": [n.to_dict() for n in self.nodes],
                "edges": [e.to_dict() for e in self.edges], "versions": self.versions,
                "impact": self.impact.to_dict() if self.impact else None}




# --------------------------------------------------------------------------- curator

class Curator:
    """Validated, audited, revertible edits of a :class:`graph.store.GraphStore`.

    Parameters
    ----------
    store:
        a GraphStore, or a path (the Curator then opens and closes the store itself).
    actor:
        default "who" for audit records (each call may pass ``actor=``).
    strict_categories:
        every product an edit touches must end in exactly one leaf category (off by default:
        catalogs carry uncategorised products, and ``unlink_category`` is then allowed).
    min_count:
        ``GraphFeaturizer(min_count)`` for impact previews.
    busy_timeout_ms:
        how long a write waits for another curator's transaction to finish.

    Every operation returns a :class:`CurationResult` and also takes these keyword arguments:
    ``expected`` (int: version of the operation's first node argument, or {node id: version}),
    ``actor`` (who, default the Curator's), ``reason`` (why, stored in the audit record),
    ``dry_run`` (preview: validate, compute changes and :class:`Impact`, roll back) and
    ``price_fn(product_ids, graph) -> {id: price}`` (previews only: called on the graph
    before and after the change for the impacted products; the graph is only valid during
    the call), ``idempotency_key`` (commits only: the key is stored with the audit entry, and
    a retry with the same key, actor and request returns that entry's outcome, marked
    ``replayed``, instead of applying the edit again; another request under a used key is
    refused). Errors: :class:`ConflictError` (stale version), :class:`RevertError`,
    :class:`CurationError` (any other refusal; all are ValueErrors).
    """

    def __init__(self, store: GraphStore | str | Path, actor: str = "curator", *,
                 strict_categories: bool = False, min_count: int = 3,
                 busy_timeout_ms: int = 10_000) -> None:
        self._own = not isinstance(store, GraphStore)
        self.store = GraphStore(store) if self._own else store
        self.conn = self.store.conn
        self.actor = actor
        self.strict_categories = strict_categories
        self.min_count = min_count
        self.conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        ensure_audit_schema(self.conn)
        self._graph: nx.MultiDiGraph | None = None
        self._token: tuple | None = None

    def close(self) -> None:
        if self._own:
            self.store.close()

    def __enter__(self) -> Curator:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # ------------------------------------------------------------------ reading
    def version(self, node: str) -> int | None:
        """Current version of a node id (None: no such node)."""
        return self.store.node_version(node)

    def node(self, node: str) -> dict | None:
        """The stored node (id, type, name, attrs, provenance, updated_at, version) or None."""
        return _Tx(self.conn, self.actor, "", False).node(node)

    def resolve(self, ref: str, node_type: NodeType | str | None = None) -> str:
        """The id of the existing node ``ref`` means ("boAt" as a brand -> "brand:boat");
        CurationError if there is none."""
        want = None if node_type is None else NodeType(node_type)
        tx = _Tx(self.conn, self.actor, "", False)
        return self._resolve(tx, ref, want, want.value if want else "node")

    def history(self, node: str | None = None, *, limit: int = 100,
                before_id: int | None = None) -> list[AuditEntry]:
        """Audit entries, newest first; ``node`` keeps those that touched that node id."""
        return list_entries(self.conn, node=node, limit=limit, before_id=before_id)

    def entry(self, audit_id: int) -> AuditEntry:
        """One audit entry (KeyError if there is none)."""
        return read_entry(self.conn, audit_id)

    # ------------------------------------------------------------------ node operations
    def add_category(self, path: str, *, create_parents: bool = False,
                     attrs: Mapping[str, Any] | None = None, **kw: Any) -> CurationResult:
        """Add the category ``path`` ("A > B > C"); its parent must exist unless
        ``create_parents``. A parent that holds products cannot get a sub-category."""
        def run(tx: _Tx) -> None:
            self._add_category(tx, path, create_parents, attrs)
        return self._run("add_category", {"path": path, "create_parents": create_parents,
                                          "attrs": dict(attrs or {})}, run, **kw)

    def add_brand(self, name: str, *, attrs: Mapping[str, Any] | None = None,
                  **kw: Any) -> CurationResult:
        """Add brand ``name`` (id ``brand:<normalised name>``)."""
        def run(tx: _Tx) -> None:
            self._add_brand(tx, name, attrs)
        return self._run("add_brand", {"name": name, "attrs": dict(attrs or {})}, run, **kw)

    def add_competitor(self, name: str, *, attrs: Mapping[str, Any] | None = None,
                       **kw: Any) -> CurationResult:
        """Add competitor ``name`` (id ``competitor:<name>``)."""
        def run(tx: _Tx) -> None:
            nm = _text(name, "name", required=True)
            a = self._free_attrs(K, dict(attrs or {}), f"competitor:{nm}")
            tx.insert_node(f"{K}:{nm}", K, nm, a)
        return self._run("add_competitor", {"name": name, "attrs": dict(attrs or {})}, run,
                         **kw)

    def add_product(self, product_id: str, title: str, *, category: str | None = None,
                    brand: str | None = None, attrs: Mapping[str, Any] | None = None,
                    create_missing: bool = False, **kw: Any) -> CurationResult:
        """Add a product; ``attrs``: price, currency, cost, description, rating, ... ;
        ``category``/``brand`` must exist unless ``create_missing``."""
        def run(tx: _Tx) -> None:
            pid = _text(product_id, "product_id", required=True)
            nid = f"{P}:{pid}"
            if tx.exists(nid):
                raise CurationError(f"{nid} already exists", node=nid, field="product_id")
            a = self._product_attrs({}, {"title": title, **dict(attrs or {})}, nid)
            tx.insert_node(nid, P, a["title"], a)
            if category is not None:
                self._link_category(tx, nid, category, create_missing, bump=False)
            if brand is not None:
                self._link_brand(tx, nid, brand, create_missing, bump=False)
        return self._run("add_product", {"product_id": product_id, "title": title,
                                         "category": category, "brand": brand,
                                         "attrs": dict(attrs or {}),
                                         "create_missing": create_missing}, run, **kw)

    def update_node(self, node: str, changes: Mapping[str, Any], **kw: Any) -> CurationResult:
        """Set attributes (``None`` removes one). Products: title, description, condition,
        price, currency, cost, rating, rating_count and free attributes; brands: inferred and
        free attributes; categories, competitors: free attributes. Names: :meth:`rename_node`."""
        def run(tx: _Tx) -> None:
            nid = self._resolve(tx, node, None, "node")
            row = tx.node(nid)
            t = row["type"]
            if not isinstance(changes, Mapping) or not changes:
                raise CurationError(f"{nid}: changes must be a non-empty mapping of attribute "
                                    f"-> value", node=nid, field="changes")
            if t == P:
                attrs = self._product_attrs(row["attrs"], dict(changes), nid)
                tx.update_node(nid, name=attrs.get("title", row["name"]), attrs=attrs)
            else:
                merged = dict(row["attrs"])
                for k, v in self._free_attrs(t, dict(changes), nid, allow_none=True).items():
                    if v is None:
                        merged.pop(k, None)
                    else:
                        merged[k] = v
                tx.update_node(nid, attrs=merged)
        return self._run("update_node", {"node": node, "changes": dict(changes)}, run,
                         primary=node, **kw)

    def rename_node(self, node: str, new_name: str, **kw: Any) -> CurationResult:
        """Rename a category (one level: its subtree moves along), brand, competitor, or a
        product (its title). Brands and categories get the id of the new name."""
        def run(tx: _Tx) -> None:
            nid = self._resolve(tx, node, None, "node")
            self._rename(tx, nid, new_name)
        return self._run("rename_node", {"node": node, "new_name": new_name}, run,
                         primary=node, **kw)

    def delete_node(self, node: str, *, cascade: bool = False, **kw: Any) -> CurationResult:
        """Delete a node. With edges it needs ``cascade=True`` (they are removed and audited;
        a product's reviews go with it). Categories with sub-categories are never deleted."""
        def run(tx: _Tx) -> None:
            nid = self._resolve(tx, node, None, "node")
            self._delete(tx, nid, cascade)
        return self._run("delete_node", {"node": node, "cascade": cascade}, run,
                         primary=node, **kw)

    def merge_nodes(self, source: str, target: str, **kw: Any) -> CurationResult:
        """Merge brand or category ``source`` into ``target``: edges move to ``target``
        (duplicates dropped), sub-categories move under it, ``source`` is deleted."""
        def run(tx: _Tx) -> None:
            s = self._resolve(tx, source, None, "source")
            t = self._resolve(tx, target, None, "target")
            self._merge(tx, s, t)
        return self._run("merge_nodes", {"source": source, "target": target}, run,
                         primary=source, **kw)

    def reparent_category(self, category: str, new_parent: str | None,
                          **kw: Any) -> CurationResult:
        """Move ``category`` (and its subtree) under ``new_parent`` (None: make it a root)."""
        def run(tx: _Tx) -> None:
            cid = self._resolve(tx, category, NodeType.CATEGORY, "category")
            pid = (None if new_parent is None
                   else self._resolve(tx, new_parent, NodeType.CATEGORY, "new_parent"))
            self._reparent(tx, cid, pid)
        return self._run("reparent_category", {"category": category, "new_parent": new_parent},
                         run, primary=category, primary_type=NodeType.CATEGORY, **kw)

    # ------------------------------------------------------------------ edge operations
    def link_category(self, product: str, category: str, *, create_missing: bool = False,
                      **kw: Any) -> CurationResult:
        """Put ``product`` in leaf ``category`` (replacing its current one)."""
        def run(tx: _Tx) -> None:
            nid = self._resolve(tx, product, NodeType.PRODUCT, "product_id")
            self._link_category(tx, nid, category, create_missing)
        return self._run("link_category", {"product": product, "category": category,
                                           "create_missing": create_missing}, run,
                         primary=product, primary_type=NodeType.PRODUCT, **kw)

    def unlink_category(self, product: str, **kw: Any) -> CurationResult:
        """Take ``product`` out of its category (refused with ``strict_categories``)."""
        def run(tx: _Tx) -> None:
            nid = self._resolve(tx, product, NodeType.PRODUCT, "product_id")
            self._unlink(tx, nid, IN_CATEGORY, "category_path")
        return self._run("unlink_category", {"product": product}, run, primary=product,
                         primary_type=NodeType.PRODUCT, **kw)

    def link_brand(self, product: str, brand: str, *, create_missing: bool = False,
                   **kw: Any) -> CurationResult:
        """Make ``brand`` the product's brand (replacing its current one; not inferred)."""
        def run(tx: _Tx) -> None:
            nid = self._resolve(tx, product, NodeType.PRODUCT, "product_id")
            self._link_brand(tx, nid, brand, create_missing)
        return self._run("link_brand", {"product": product, "brand": brand,
                                        "create_missing": create_missing}, run,
                         primary=product, primary_type=NodeType.PRODUCT, **kw)

    def unlink_brand(self, product: str, **kw: Any) -> CurationResult:
        """Remove the product's brand."""
        def run(tx: _Tx) -> None:
            nid = self._resolve(tx, product, NodeType.PRODUCT, "product_id")
            self._unlink(tx, nid, MADE_BY, "brand")
        return self._run("unlink_brand", {"product": product}, run, primary=product,
                         primary_type=NodeType.PRODUCT, **kw)

    def add_offer(self, competitor: str, product: str, price: float, currency: str, *,
                  observed_at: str | None = None, url: str | None = None,
                  shipping: float | None = None, replace: bool = False,
                  create_missing: bool = False, **kw: Any) -> CurationResult:
        """Record a competitor's offer for a product (one per competitor, product and
        ``observed_at``; ``replace=True`` overwrites an existing one)."""
        def run(tx: _Tx) -> None:
            nid = self._resolve(tx, product, NodeType.PRODUCT, "product_id")
            self._add_offer(tx, competitor, nid, price, currency, observed_at, url, shipping,
                            replace, create_missing)
        return self._run("add_offer", {"competitor": competitor, "product": product,
                                       "price": price, "currency": currency,
                                       "observed_at": observed_at, "url": url,
                                       "shipping": shipping, "replace": replace,
                                       "create_missing": create_missing}, run,
                         primary=product, primary_type=NodeType.PRODUCT, **kw)

    def remove_offer(self, competitor: str, product: str, *, observed_at: str | None = None,
                     **kw: Any) -> CurationResult:
        """Remove a competitor's offer; ``observed_at`` picks one when there are several."""
        def run(tx: _Tx) -> None:
            nid = self._resolve(tx, product, NodeType.PRODUCT, "product_id")
            self._remove_offer(tx, competitor, nid, observed_at)
        return self._run("remove_offer", {"competitor": competitor, "product": product,
                                          "observed_at": observed_at}, run,
                         primary=product, primary_type=NodeType.PRODUCT, **kw)

    # ------------------------------------------------------------------ bulk import
    def bulk_import(self, source: str | Path | IO[str] | Iterable[Mapping[str, Any]], *,
                    create_missing: bool = False,
                    on_progress: Callable[[int, int], None] | None = None,
                    **kw: Any) -> CurationResult:
        """Apply mapping rows from a CSV file (path or text stream) or from dicts, all or none.

        Columns: ``op`` (link_category, unlink_category, link_brand, unlink_brand, add_offer,
        remove_offer, upsert_product), ``product_id``, and as the op needs: ``category_path``,
        ``brand``, ``competitor``, ``price``, ``currency``, ``observed_at``, ``url``,
        ``shipping``. ``upsert_product`` (a catalog row) adds the product, or updates the
        attributes its row gives (title, description, condition, price, currency, cost,
        rating, rating_count; empty cells leave them as they are), and links the category
        and brand it names (a new product needs a title).
        Rows apply in order, each seeing the ones before. Every bad row is reported (as
        :class:`graph.contracts.Rejection`, 1-based data rows) in one CurationError and nothing
        is applied. One transaction, one audit record. ``on_progress(done, total)`` after each
        row.
        """
        name, rows = _read_rows(source)

        def run(tx: _Tx) -> None:
            errors: list[Rejection] = []
            total = len(rows)
            self._prefetch_bulk(tx, rows)
            for i, row in enumerate(rows, 1):
                tx.reset_scope()
                tx.conn.execute("SAVEPOINT bulk_row")
                try:
                    self._bulk_row(tx, row, create_missing)
                    tx.validate()
                except CurationError as exc:
                    tx.rollback_to("bulk_row")
                    errors.append(Rejection(name, i, exc.field or "op", str(exc),
                                            row.get("product_id"), "curation"))
                tx.conn.execute("RELEASE bulk_row")
                if on_progress is not None:
                    on_progress(i, total)
            if errors:
                listed = "; ".join(f"row {e.row} [{e.field}]: {e.reason}"
                                   for e in errors[:_MAX_LISTED])
                extra = len(errors) - _MAX_LISTED
                more = f" and {extra} more" if extra > 0 else ""
                raise CurationError(f"bulk import {name}: {len(errors)} of {total} row(s) "
                                    f"rejected, nothing applied: {listed}{more}",
                                    field=errors[0].field, errors=errors)
            tx.reset_scope()

        ops = Counter(str(r.get("op")) for r in rows)
        digest = hashlib.sha256(dumps(rows).encode("utf-8")).hexdigest()
        return self._run("bulk_import", {"source": name, "rows": len(rows), "ops": dict(ops),
                                         "sha256": digest, "create_missing": create_missing},
                         run, **kw)

    def _prefetch_bulk(self, tx: _Tx, rows: list[dict]) -> None:
        """Read the rows' products and their edges up front, a few statements per 500 rows
        (:meth:`_Tx.prefetch`): on PostgreSQL every statement is a round trip."""
        products, offered = [], []
        for row in rows:
            try:
                nid = self._node_ref(tx, row.get("product_id"), NodeType.PRODUCT)
            except CurationError:
                continue  # reported when its row runs
            products.append(nid)
            if row.get("op") in ("add_offer", "remove_offer"):
                offered.append(nid)
        tx.prefetch(products, in_edges=offered)

    def _bulk_row(self, tx: _Tx, row: Mapping[str, Any], create_missing: bool) -> None:
        op = row.get("op")
        if op not in _BULK_OPS:
            raise CurationError(f"op {op!r} is not one of {', '.join(_BULK_OPS)}", field="op")

        def need(col: str) -> Any:
            v = row.get(col)
            if v is None or (isinstance(v, str) and not v.strip()):
                raise CurationError(f"{op} needs a value in column {col!r}", field=col)
            return v

        if op == "upsert_product":
            self._upsert_product(tx, row, create_missing)
            return
        nid = self._resolve(tx, need("product_id"), NodeType.PRODUCT, "product_id")
        if op == "link_category":
            self._link_category(tx, nid, need("category_path"), create_missing)
        elif op == "unlink_category":
            self._unlink(tx, nid, IN_CATEGORY, "category_path")
        elif op == "link_brand":
            self._link_brand(tx, nid, need("brand"), create_missing)
        elif op == "unlink_brand":
            self._unlink(tx, nid, MADE_BY, "brand")
        elif op == "add_offer":
            self._add_offer(tx, need("competitor"), nid, need("price"), need("currency"),
                            row.get("observed_at"), row.get("url"), row.get("shipping"),
                            False, create_missing)
        else:
            self._remove_offer(tx, need("competitor"), nid, row.get("observed_at"))

    def _upsert_product(self, tx: _Tx, row: Mapping[str, Any], create_missing: bool) -> None:
        nid = f"{P}:{_text(row.get('product_id'), 'product_id', required=True)}"
        changes = {k: row[k] for k in _UPSERT_ATTRS if row.get(k) is not None}
        current = tx.node(nid)
        if current is None:
            if "title" not in changes:
                raise CurationError(f"{nid} is new: it needs a title", node=nid, field="title")
            attrs = self._product_attrs({}, changes, nid)
            tx.insert_node(nid, P, attrs["title"], attrs)
        elif changes:
            attrs = self._product_attrs(current["attrs"], changes, nid)
            if attrs != current["attrs"]:
                tx.update_node(nid, name=attrs.get("title", current["name"]), attrs=attrs)
        if row.get("category_path") is not None:
            self._link_category(tx, nid, row["category_path"], create_missing,
                                bump=current is not None)
        if row.get("brand") is not None:
            self._link_brand(tx, nid, row["brand"], create_missing, bump=current is not None)

    # ------------------------------------------------------------------ graph files
    def import_graph(self, g: nx.MultiDiGraph, *, source: str = "graph",
                     expected_version: int | None = None, **kw: Any) -> CurationResult:
        """Make the stored graph equal ``g`` (a file read by :mod:`graph.exchange`): one
        transaction, one audit entry (op ``import_graph``), revertible like any edit.

        ``g`` is checked whole first (:func:`graph.exchange.check_graph`): any problem raises a
        CurationError listing every one in ``errors`` (node, field, reason) and nothing is
        stored. ``expected_version``: the store's graph version the caller's diff was read at
        (a dry run's ``params["base_version"]``); ConflictError when the store moved on since.
        The result's ``params`` hold ``base_version`` and the diff's ``summary``. A dry run
        computes no feature impact (a whole graph would be every product)."""
        problems = check_graph(g)
        if problems:
            listed = "; ".join(f"{p.edge or p.node} [{p.field}]: {p.reason}"
                               for p in problems[:_MAX_LISTED])
            more = "" if len(problems) <= _MAX_LISTED else \
                f" and {len(problems) - _MAX_LISTED} more"
            raise CurationError(f"import {source}: {len(problems)} problem(s), nothing stored: "
                                f"{listed}{more}", node=problems[0].node,
                                field=problems[0].field, errors=problems)  # type: ignore[arg-type]
        params: dict[str, Any] = {"source": source, "nodes": g.number_of_nodes(),
                                  "edges": g.number_of_edges()}

        def run(tx: _Tx) -> None:
            base = read_version(tx.conn).version
            if expected_version is not None and expected_version != base:
                raise ConflictError(f"the stored graph changed since version {expected_version}"
                                    f" (it is at {base}); run the dry run again")
            current = self.store.load()  # inside this transaction: the snapshot we write on
            diff = diff_graphs(current, g)
            params.update(base_version=base, summary=diff.summary())
            apply_diff(tx, g, diff, restore=current.number_of_nodes() == 0)
        return self._run("import_graph", params, run, touch=False, impact=False, **kw)

    # ------------------------------------------------------------------ revert
    def revert(self, audit_id: int, **kw: Any) -> CurationResult:
        """Undo audit entry ``audit_id`` (itself audited as op ``revert``).

        Refused with :class:`RevertError` when a touched node or edge changed since (the
        message names it and the later entries), when it was already reverted, or when the
        restored state would break a rule (e.g. a product back in a category that meanwhile
        got sub-categories). Reverting a revert re-applies the original change.
        """
        def run(tx: _Tx) -> None:
            self._revert(tx, int(audit_id))
        return self._run("revert", {"audit_id": int(audit_id)}, run, touch=False,
                         reverts=int(audit_id), **kw)

    def _revert(self, tx: _Tx, audit_id: int) -> None:
        try:
            e = read_entry(tx.conn, audit_id)
        except KeyError:
            raise RevertError(f"no audit entry #{audit_id}", field="audit_id") from None
        label = f"cannot revert audit #{audit_id} ({e.op})"
        if e.reverted_by is not None:
            raise RevertError(f"{label}: it was already reverted by #{e.reverted_by}",
                              field="audit_id")
        problems = []
        for n in e.node_changes:
            now = tx.node(n.id)
            if not same_image(n.after, now):
                later = later_entries_touching(tx.conn, audit_id, n.id)
                by = f" (by {', '.join(f'#{i}' for i in later)})" if later else ""
                if now is None:
                    what = "no longer exists"
                elif n.after is None:
                    what = "was created again"
                else:
                    what = (f"was edited since: version {now['version']}, the entry left "
                            f"version {n.after['version']}")
                problems.append((n.id, f"{n.id} {what}{by}"))
        for c in e.edge_changes:
            if not same_image(c.after, tx.edge(c.src, c.dst, c.key)):
                problems.append((c.src, f"edge {c.src} -> {c.dst} ({c.key}) changed since"))
        if problems:
            raise RevertError(f"{label}: " + "; ".join(p for _, p in problems[:5])
                              + (f" and {len(problems) - 5} more" if len(problems) > 5 else ""),
                              node=problems[0][0])
        for c in e.edge_changes:
            if c.after is not None:
                tx.delete_edge(c.src, c.dst, c.key)
        recreated = set()
        for n in e.node_changes:
            if n.before is None:
                continue
            if not tx.exists(n.id):
                recreated.add(n.id)
            # The node gets its old version back with its old content: a curator who read that
            # version may edit it again, one who read the reverted state gets a conflict, and
            # earlier entries stay revertible in reverse order.
            version = n.before["version"]
            if is_stamp(n.before):
                tx.set_stamp(n.id, version, n.before.get("updated_at"))
            else:
                tx.write_node({**n.before, "version": version})
        # A node the revert re-creates gets back exactly its old edges (nothing could link to
        # it while it did not exist): what they restore was there before the entry, legacy
        # quirks included, so they count as carried over, not added.
        tx.carried_nodes |= recreated
        for c in e.edge_changes:
            if c.before is not None:
                b = c.before
                tx.insert_edge(c.src, c.dst, c.key, b["type"], b["attrs"], b["provenance"],
                               b["updated_at"])
                if c.dst in recreated:
                    tx.carried_edges.add((c.src, c.dst, c.key))
        for n in e.node_changes:
            if n.before is None:
                left = tx.conn.execute("SELECT src, dst, type FROM edges WHERE src=? OR dst=? "
                                       "LIMIT 3", (n.id, n.id)).fetchall()
                if left:
                    edges = ", ".join(f"{s} -> {d} ({t})" for s, d, t in left)
                    raise RevertError(f"{label}: {n.id} was added by it and has edges added "
                                      f"since ({edges}); remove those first", node=n.id)
                tx.delete_node(n.id)
        try:
            tx.validate()
        except CurationError as exc:
            raise RevertError(f"{label}: the result would break a rule: {exc}",
                              node=exc.node, field=exc.field) from None

    # ------------------------------------------------------------------ the engine
    def _run(self, op: str, params: dict, fn: Callable[[_Tx], None], *,
             expected: int | Mapping[str, int] | None = None, actor: str | None = None,
             reason: str | None = None, dry_run: bool = False, price_fn: PriceFn | None = None,
             primary: str | None = None, primary_type: NodeType | None = None,
             touch: bool = True, reverts: int | None = None,
             idempotency_key: str | None = None, impact: bool = True) -> CurationResult:
        who = _text(self.actor if actor is None else actor, "actor", required=True)
        if reason is not None and not isinstance(reason, str):
            raise CurationError(f"reason must be a string, got {_short(reason)}", field="reason")
        _text(reason, "reason")
        conn = self.conn
        if conn.in_transaction:
            raise RuntimeError("the store's connection is already inside a transaction")
        key = None if dry_run else _text(idempotency_key, "idempotency_key", limit=200)
        digest = None if key is None else hashlib.sha256(
            dumps([op, params, expected, reason]).encode("utf-8")).hexdigest()
        conn.execute("BEGIN IMMEDIATE")
        previewing = False
        try:
            if key is not None:
                done = self._replay(key, who, digest)
                if done is not None:
                    conn.execute("ROLLBACK")
                    return done
            cache_ok = self._graph is not None and self._token == self._current_token()
            g = None
            if dry_run and impact:
                if not cache_ok:
                    self._graph = self.store.load()
                    cache_ok = True
                g = self._graph
            tx = _Tx(conn, who.strip(), now_iso(), self.strict_categories)
            self._check_expected(tx, expected, primary, primary_type)
            fn(tx)
            tx.validate()
            nodes, edges = tx.finish(touch=touch)
            versions = {n.id: n.after["version"] for n in nodes if n.after is not None}
            if dry_run:
                previewing = True
                found = self._impact(g, nodes, edges, price_fn) if impact else None
                previewing = False
                conn.execute("ROLLBACK")
                self._token = self._current_token()
                return CurationResult(op, params, True, None, nodes, edges, versions, found)
            audit_id = None
            if nodes or edges:
                audit_id = write_entry(conn, at=tx.ts, actor=tx.actor, op=op, params=params,
                                       nodes=nodes, edges=edges, reason=reason,
                                       reverts=reverts, idempotency_key=key,
                                       request_digest=digest)
                conn.execute("COMMIT")
                if cache_ok and self._graph is not None:
                    apply_changes(self._graph, nodes, edges)  # keep the preview graph current
                    self._token = self._current_token()
            else:
                conn.execute("ROLLBACK")
            return CurationResult(op, params, False, audit_id, nodes, edges, versions)
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if previewing:  # a failed preview may leave the cached graph half-replayed
                self._graph = self._token = None
            if isinstance(exc, sqlite3.IntegrityError):
                raise CurationError(f"{op}: the store refused the change ({exc})") from exc
            raise

    def _replay(self, key: str, actor: str, digest: str | None) -> CurationResult | None:
        """The stored outcome of the edit made under idempotency ``key`` (None: no such edit);
        CurationError when the key was used by someone else or for another request."""
        found = find_idempotent(self.conn, key)
        if found is None:
            return None
        entry_id, by, stored = found
        if by != actor or stored != digest:
            raise CurationError(f"idempotency key {_short(key)} was already used for another "
                                f"request (audit #{entry_id}); use a new key for a new edit",
                                field="idempotency_key")
        e = read_entry(self.conn, entry_id)
        versions = {n.id: n.after["version"] for n in e.node_changes if n.after is not None}
        return CurationResult(e.op, e.params, False, e.id, e.node_changes, e.edge_changes,
                              versions, replayed=True)

    def _current_token(self) -> tuple:
        # data_version moves when ANOTHER connection commits; total_changes counts our writes.
        return (self.conn.execute("PRAGMA data_version").fetchone()[0], self.conn.total_changes)

    def _check_expected(self, tx: _Tx, expected: int | Mapping[str, int] | None,
                        primary: str | None, primary_type: NodeType | None) -> None:
        if expected is None:
            return
        if isinstance(expected, Mapping):
            items = list(expected.items())
        else:
            if primary is None:
                raise CurationError("expected: give {node id: version} for this operation",
                                    field="expected")
            items = [(primary, expected)]
        for ref, want in items:
            if isinstance(want, bool) or not isinstance(want, int):
                raise CurationError(f"expected version of {ref!r} must be an integer, got "
                                    f"{want!r}", field="expected")
            try:
                nid = self._resolve(tx, ref, primary_type if ref == primary else None,
                                    "expected")
            except CurationError:
                nid = self._node_ref(tx, ref, primary_type if ref == primary else None)
            found = tx.conn.execute("SELECT version FROM nodes WHERE id=?", (nid,)).fetchone()
            if found is None:
                raise ConflictError(f"{nid} changed since version {want}: it no longer exists "
                                    f"(renamed, merged or deleted)", node=nid, expected=want)
            if found[0] != want:
                raise ConflictError(f"{nid} was changed by someone else: it is at version "
                                    f"{found[0]}, you edited version {want}; reload and retry",
                                    node=nid, expected=want, found=found[0])

    # ------------------------------------------------------------------ resolving names
    def _node_ref(self, tx: _Tx, ref: Any, want: NodeType | None) -> str:
        """The node id a reference means (it need not exist)."""
        if not isinstance(ref, str) or not ref.strip():
            raise CurationError(f"expected a node id or name, got {_short(ref)}", field="node")
        why = text_problem(ref, "node", MAX_PATH_LENGTH + 20)  # a category id: path + prefix
        if why:
            raise CurationError(why, field="node")
        ref = ref.strip()
        head, sep, key = ref.partition(":")
        if want is None:
            if not sep or head not in {t.value for t in NodeType}:
                raise CurationError(f"{ref!r} is not a node id; give one like 'brand:boat' or "
                                    f"'category:Toys > Puzzles'", field="node")
            want, ref = NodeType(head), key
        elif sep and head == want.value:
            ref = key
        if want is NodeType.CATEGORY:
            return node_id(C, _norm_path(ref, "category_path"))
        if want is NodeType.BRAND:
            return node_id(B, ref)
        return f"{want.value}:{ref.strip()}"

    def _resolve(self, tx: _Tx, ref: Any, want: NodeType | None, fld: str) -> str:
        """The id of an existing node; categories and competitors also match by normalised
        name when the exact id is not there."""
        try:
            nid = self._node_ref(tx, ref, want)
        except CurationError as exc:
            raise CurationError(f"{fld}: {exc}", field=fld) from None
        if tx.exists(nid):
            return nid
        t, _, key = nid.partition(":")
        if t == C:
            norm = SEP.join(normalize_name(p) for p in key.split(SEP))
            hits = [i for (i,) in tx.conn.execute("SELECT id FROM nodes WHERE type=?", (C,))
                    if SEP.join(normalize_name(p) for p in i[len(C) + 1:].split(SEP)) == norm]
            if len(hits) == 1:
                return hits[0]
        elif t == K:
            norm = normalize_name(key)
            hits = [i for i, n in tx.conn.execute("SELECT id, name FROM nodes WHERE type=?", (K,))
                    if normalize_name(str(n)) == norm]
            if len(hits) == 1:
                return hits[0]
        raise CurationError(f"{fld}: no {t} {key!r} ({nid})", node=nid, field=fld)

    # ------------------------------------------------------------------ attribute rules
    def _free_attrs(self, typ: str, attrs: dict, nid: str, allow_none: bool = False) -> dict:
        out = {}
        for k, v in attrs.items():
            if not isinstance(k, str) or not k or k in _RESERVED or k in _RESERVED_BY_TYPE.get(
                    typ, set()):
                raise CurationError(f"{nid}: attribute {k!r} cannot be set here (reserved; use "
                                    f"rename_node / reparent_category for names and paths)",
                                    node=nid, field=str(k))
            why = text_problem(k, "attribute name", MAX_NAME_LENGTH)
            if why:
                raise CurationError(f"{nid}: {why}", node=nid, field="changes")
            if typ == B and k == "inferred" and v is not None and not isinstance(v, bool):
                raise CurationError(f"{nid}: inferred must be true or false, got {v!r}",
                                    node=nid, field="inferred")
            if v is None and not allow_none:
                continue
            out[k] = _scalar(v, k, nid)
        return out

    def _product_attrs(self, current: dict, changes: dict, nid: str) -> dict:
        attrs = dict(current)
        for k, v in changes.items():
            if k == "title":
                v = _text(v, "title", nid, required=True)
            elif k in _PRODUCT_TEXT:
                v = _text(v, k, nid)
            elif k == "price":
                v = None if v is None else _number(v, k, nid, low=0, low_open=True)
            elif k == "cost":
                v = None if v is None else _number(v, k, nid, low=0)
            elif k == "rating":
                v = None if v is None else _number(v, k, nid, low=0, high=5)
            elif k == "rating_count":
                v = None if v is None else _number(v, k, nid, low=0)
            elif k == "currency":
                v = None if v is None else _currency(v, k, nid)
            else:
                v = self._free_attrs(P, {k: v}, nid, allow_none=True)[k]
            if v is None:
                attrs.pop(k, None)
            else:
                attrs[k] = v
        return attrs

    # ------------------------------------------------------------------ operation bodies
    def _add_category(self, tx: _Tx, path: str, create_parents: bool,
                      attrs: Mapping[str, Any] | None = None) -> str:
        full = _norm_path(_text(path, "path", required=True), "path")
        parts = full.split(SEP)
        nid = node_id(C, full)
        if tx.exists(nid):
            raise CurationError(f"category {full!r} already exists", node=nid, field="path")
        extra = self._free_attrs(C, dict(attrs or {}), nid)
        parent = None
        for d in range(1, len(parts) + 1):
            sub = SEP.join(parts[:d])
            cid = node_id(C, sub)
            if not tx.exists(cid):
                if d < len(parts) and not create_parents:
                    raise CurationError(f"parent category {sub!r} of {full!r} does not exist "
                                        f"(add it first or pass create_parents=True)",
                                        node=cid, field="path")
                a = {"path": sub, "depth": d, **(extra if d == len(parts) else {})}
                tx.insert_node(cid, C, parts[d - 1], a)
                if parent is not None:
                    tx.insert_edge(cid, parent, CHILD_OF, CHILD_OF)
            parent = cid
        return nid

    def _add_brand(self, tx: _Tx, name: str, attrs: Mapping[str, Any] | None = None) -> str:
        nm = _text(name, "name", required=True)
        if not normalize_name(nm):
            raise CurationError(f"brand name {nm!r} has no letters or digits", field="brand")
        nid = node_id(B, nm)
        if tx.exists(nid):
            raise CurationError(f"brand {nm!r} already exists as {nid} "
                                f"({tx.node(nid)['name']!r})", node=nid, field="brand")
        a = {"inferred": False, **self._free_attrs(B, dict(attrs or {}), nid)}
        tx.insert_node(nid, B, nm, a)
        return nid

    def _link_category(self, tx: _Tx, nid: str, category: str, create_missing: bool,
                       bump: bool = True) -> None:
        try:
            cid = self._resolve(tx, category, NodeType.CATEGORY, "category_path")
        except CurationError:
            if not create_missing:
                raise
            cid = self._add_category(tx, category, create_parents=True)
        current = tx.out_edges(nid, IN_CATEGORY)
        if [e["dst"] for e in current] == [cid]:
            return
        for e in current:
            tx.delete_edge(e["src"], e["dst"], e["key"])
        tx.insert_edge(nid, cid, IN_CATEGORY, IN_CATEGORY)
        if bump:
            tx.bump(nid)

    def _link_brand(self, tx: _Tx, nid: str, brand: str, create_missing: bool,
                    bump: bool = True) -> None:
        try:
            bid = self._resolve(tx, brand, NodeType.BRAND, "brand")
        except CurationError:
            if not create_missing:
                raise
            bid = self._add_brand(tx, brand)
        current = tx.out_edges(nid, MADE_BY)
        if [(e["dst"], e["attrs"].get("inferred")) for e in current] == [(bid, False)]:
            return
        for e in current:
            tx.delete_edge(e["src"], e["dst"], e["key"])
        tx.insert_edge(nid, bid, MADE_BY, MADE_BY, {"inferred": False})
        if bump:
            tx.bump(nid)

    def _unlink(self, tx: _Tx, nid: str, typ: str, fld: str) -> None:
        current = tx.out_edges(nid, typ)
        if not current:
            what = "category" if typ == IN_CATEGORY else "brand"
            raise CurationError(f"{nid} has no {what} to unlink", node=nid, field=fld)
        for e in current:
            tx.delete_edge(e["src"], e["dst"], e["key"])
        tx.bump(nid)

    def _add_offer(self, tx: _Tx, competitor: str, nid: str, price: Any, currency: Any,
                   observed_at: Any, url: Any, shipping: Any, replace: bool,
                   create_missing: bool) -> None:
        try:
            kid = self._resolve(tx, competitor, NodeType.COMPETITOR, "competitor")
        except CurationError:
            if not create_missing:
                raise
            nm = _text(competitor, "competitor", required=True)
            kid = f"{K}:{nm}"
            tx.insert_node(kid, K, nm, {})
        label = f"offer {kid} -> {nid}"
        attrs: dict[str, Any] = {"price": _number(price, "price", label, low=0, low_open=True),
                                 "currency": _currency(currency, "currency", label)}
        obs = _text(observed_at, "observed_at", label)
        obs = obs.strip() if obs and obs.strip() else None
        if obs:
            attrs["observed_at"] = obs
        if url is not None and str(url).strip():
            attrs["url"] = _text(url, "url", label)
        if shipping is not None and str(shipping).strip():
            attrs["shipping"] = _number(shipping, "shipping", label, low=0)
        key = offer_key(obs)
        if tx.edge(kid, nid, key) is not None:
            if not replace:
                raise CurationError(f"{label} observed at {obs!r} already exists; remove it or "
                                    f"pass replace=True", node=nid, field="observed_at")
            tx.delete_edge(kid, nid, key)
        tx.insert_edge(kid, nid, key, OFFERS, attrs)
        tx.bump(nid)

    def _remove_offer(self, tx: _Tx, competitor: str, nid: str, observed_at: Any) -> None:
        kid = self._resolve(tx, competitor, NodeType.COMPETITOR, "competitor")
        offers = [e for e in tx.in_edges(nid, OFFERS) if e["src"] == kid]
        obs = observed_at.strip() if isinstance(observed_at, str) and observed_at.strip() else None
        if obs is not None:
            offers = [e for e in offers if e["key"] == offer_key(obs)]
        elif len(offers) > 1:
            dates = ", ".join(str(e["attrs"].get("observed_at")) for e in offers)
            raise CurationError(f"{kid} has {len(offers)} offers for {nid} (observed at {dates});"
                                f" give observed_at", node=nid, field="observed_at")
        if not offers:
            when = f" observed at {obs!r}" if obs else ""
            raise CurationError(f"{kid} has no offer{when} for {nid}", node=nid,
                                field="observed_at" if obs else "competitor")
        e = offers[0]
        tx.delete_edge(e["src"], e["dst"], e["key"])
        tx.bump(nid)

    def _rename(self, tx: _Tx, nid: str, new_name: Any) -> None:
        row = tx.node(nid)
        t = row["type"]
        nm = _text(new_name, "new_name", nid, required=True,
                   limit=None if t == P else MAX_NAME_LENGTH)
        if t == P:
            attrs = self._product_attrs(row["attrs"], {"title": nm}, nid)
            tx.update_node(nid, name=nm, attrs=attrs)
        elif t == B:
            new = node_id(B, nm)
            if new == f"{B}:":
                raise CurationError(f"{nid}: brand name {nm!r} has no letters or digits",
                                    node=nid, field="new_name")
            if new == nid:
                tx.update_node(nid, name=nm)
            elif tx.exists(new):
                raise CurationError(f"brand {nm!r} already exists as {new}; merge the two "
                                    f"instead", node=new, field="new_name")
            else:
                tx.rekey(nid, new, name=nm)
        elif t == K:
            new = f"{K}:{nm}"
            if new == nid:
                return
            if tx.exists(new):
                raise CurationError(f"competitor {nm!r} already exists", node=new,
                                    field="new_name")
            tx.rekey(nid, new, name=nm)
        elif t == C:
            if ">" in nm:
                raise CurationError(f"{nid}: a category name is one level, without '>' (use "
                                    f"reparent_category to move it)", node=nid,
                                    field="new_name")
            parent = tx.parent(nid)
            ppath = tx.node(parent)["attrs"]["path"] if parent else None
            self._move_category(tx, nid, f"{ppath}{SEP}{nm}" if ppath else nm)
        else:
            raise CurationError(f"{nid}: {t} nodes cannot be renamed", node=nid, field="node")

    def _move_category(self, tx: _Tx, cid: str, new_path: str) -> str:
        """Give category ``cid`` the path ``new_path``, re-keying it and its subtree."""
        row = tx.node(cid)
        parts = new_path.split(SEP)
        attrs = {**row["attrs"], "path": new_path, "depth": len(parts)}
        new = node_id(C, new_path)
        if new == cid:
            if row["name"] != parts[-1] or row["attrs"] != attrs:
                tx.update_node(cid, name=parts[-1], attrs=attrs)
            return cid
        if tx.exists(new):
            raise CurationError(f"category {new_path!r} already exists; merge the two instead",
                                node=new, field="path")
        tx.rekey(cid, new, name=parts[-1], attrs=attrs)
        for child in tx.children(new):
            crow = tx.node(child)
            seg = str(crow["attrs"].get("path") or crow["name"]).split(SEP)[-1]
            self._move_category(tx, child, f"{new_path}{SEP}{seg}")
        return new

    def _ancestors(self, tx: _Tx, cid: str) -> list[str]:
        out, seen, cur = [], {cid}, tx.parent(cid)
        while cur is not None and cur not in seen:
            out.append(cur)
            seen.add(cur)
            cur = tx.parent(cur)
        return out

    def _reparent(self, tx: _Tx, cid: str, pid: str | None) -> None:
        if pid == cid or (pid is not None and cid in self._ancestors(tx, pid)):
            raise CurationError(f"moving {cid} under {pid} would make a cycle: {pid} is the "
                                f"category itself or inside its subtree", node=cid,
                                field="new_parent")
        current = tx.out_edges(cid, CHILD_OF)
        if [e["dst"] for e in current] == ([pid] if pid else []):
            return
        for e in current:
            tx.delete_edge(e["src"], e["dst"], e["key"])
        seg = str(tx.node(cid)["attrs"].get("path") or tx.node(cid)["name"]).split(SEP)[-1]
        if pid is not None:
            tx.insert_edge(cid, pid, CHILD_OF, CHILD_OF)
            path = f"{tx.node(pid)['attrs']['path']}{SEP}{seg}"
        else:
            path = seg
        self._move_category(tx, cid, path)

    def _merge(self, tx: _Tx, s: str, t: str) -> None:
        srow, trow = tx.node(s), tx.node(t)
        if s == t:
            raise CurationError(f"cannot merge {s} into itself", node=s, field="target")
        if srow["type"] != trow["type"]:
            raise CurationError(f"cannot merge a {srow['type']} ({s}) into a {trow['type']} "
                                f"({t})", node=t, field="target")
        if srow["type"] not in (B, C):
            raise CurationError(f"merge works on brands and categories, not {srow['type']}s",
                                node=s, field="source")
        if srow["type"] == C:
            if s in self._ancestors(tx, t):
                raise CurationError(f"cannot merge {s} into its own sub-category {t} (a cycle)",
                                    node=s, field="target")
            tpath = trow["attrs"]["path"]
            tkids = {normalize_name(str(tx.node(c)["name"])): c for c in tx.children(t)
                     if c != s}
            for child in tx.children(s):
                crow = tx.node(child)
                seg = str(crow["attrs"].get("path") or crow["name"]).split(SEP)[-1]
                if normalize_name(seg) in tkids:
                    raise CurationError(f"both {s} and {t} have a sub-category {seg!r}; merge "
                                        f"{child} into {tkids[normalize_name(seg)]} first",
                                        node=child, field="source")
                tx.delete_edge(child, s, CHILD_OF)
                tx.insert_edge(child, t, CHILD_OF, CHILD_OF)
                self._move_category(tx, child, f"{tpath}{SEP}{seg}")
            for e in tx.out_edges(s, CHILD_OF):
                tx.delete_edge(e["src"], e["dst"], e["key"])
        for e in tx.out_edges(s):
            self._merge_edge(tx, e, t, t if e["dst"] == s else e["dst"])
            if tx.node(e["dst"]) and tx.node(e["dst"])["type"] == P:
                tx.bump(e["dst"])
        for e in tx.in_edges(s):
            self._merge_edge(tx, e, e["src"], t)
            if e["src"] != s and tx.node(e["src"])["type"] == P:
                tx.bump(e["src"])
        if srow["type"] == B:
            attrs = dict(trow["attrs"])
            if "inferred" in attrs or "inferred" in srow["attrs"]:
                attrs["inferred"] = bool(attrs.get("inferred", True)) and bool(
                    srow["attrs"].get("inferred", True))
            tx.update_node(t, attrs=attrs)
        tx.delete_node(s)
        tx.bump(t)

    @staticmethod
    def _merge_edge(tx: _Tx, e: dict, src: str, dst: str) -> None:
        """Move ``e`` to ``src -> dst``; drop it if that duplicates an edge already there (same
        key, or for category/brand/parent links the same type whatever the key)."""
        if e["type"] in _SINGLE and any(x["dst"] == dst for x in tx.out_edges(src, e["type"])):
            tx.delete_edge(e["src"], e["dst"], e["key"])
        else:
            tx.move_edge(e, src, dst)

    def _delete(self, tx: _Tx, nid: str, cascade: bool) -> None:
        row = tx.node(nid)
        t = row["type"]
        if t == C:
            kids = tx.children(nid)
            if kids:
                raise CurationError(f"{nid} has {len(kids)} sub-categories; re-parent or delete "
                                    f"them first", node=nid, field="node")
            for e in tx.out_edges(nid, CHILD_OF):
                tx.delete_edge(e["src"], e["dst"], e["key"])
        edges = tx.out_edges(nid) + tx.in_edges(nid)
        if edges and not cascade:
            kinds = Counter(e["type"] for e in edges)
            listed = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
            raise CurationError(f"{nid} still has edges ({listed}); pass cascade=True to remove "
                                f"them too{' or merge it instead' if t in (B, C) else ''}",
                                node=nid, field="cascade")
        reviews = []
        for e in edges:
            if tx.edge(e["src"], e["dst"], e["key"]) is None:
                continue  # a self-loop seen from both ends
            tx.delete_edge(e["src"], e["dst"], e["key"])
            other = e["dst"] if e["src"] == nid else e["src"]
            orow = tx.node(other)
            if orow is None or other == nid:
                continue
            if orow["type"] == P:
                tx.bump(other)
            elif t == P and orow["type"] == R:
                reviews.append(other)
        tx.delete_node(nid)
        for r in reviews:  # a product's reviews go with it unless they review others too
            if not tx.conn.execute("SELECT 1 FROM edges WHERE src=? OR dst=? LIMIT 1",
                                   (r, r)).fetchone():
                tx.delete_node(r)

    # ------------------------------------------------------------------ impact preview
    def _impact(self, g: nx.MultiDiGraph, nodes: list[NodeChange], edges: list[EdgeChange],
                price_fn: PriceFn | None) -> Impact:
        from graph.features import GraphFeaturizer

        direct: set[str] = set()
        for e in edges:
            if e.type in (IN_CATEGORY, MADE_BY):
                direct.add(e.src)
            elif e.type == OFFERS:
                direct.add(e.dst)
        for n in nodes:
            if n.type == P and n.action != "stamped":
                direct.add(n.id)

        def peers(graph: nx.MultiDiGraph) -> set[str]:
            """Products sharing a leaf category or a brand with a direct product."""
            groups: set[tuple[str, str]] = set()
            for pid in direct:
                if pid in graph:
                    for v, kd in graph.succ[pid].items():
                        groups.update((v, d.get("type")) for d in kd.values()
                                      if d.get("type") in (IN_CATEGORY, MADE_BY))
            out: set[str] = set()
            for v, typ in groups:
                for u, kd in graph.pred[v].items():
                    if any(x.get("type") == typ for x in kd.values()):
                        out.add(u)
            return out

        def features(graph: nx.MultiDiGraph, ids: list[str]):
            present = [i for i in ids if i in graph]
            train = [n for n, d in graph.nodes(data=True) if d.get("type") == P]
            fz = GraphFeaturizer(min_count=self.min_count).fit(graph, train)
            return fz.transform(graph, present) if present else None

        forward = False
        try:
            before_peers = peers(g)
            apply_changes(g, nodes, edges)
            forward = True
            cand = sorted(direct | before_peers | peers(g))
            f_after = features(g, cand)
            apply_changes(g, nodes, edges, forward=False)
            forward = False
            f_before = features(g, cand)
            changed = _feature_diff(cand, f_before, f_after)
            products = sorted(changed)
            prices = None
            if price_fn is not None:
                ids = sorted(set(products) | {_catalog_id(d) for d in direct})
                pb = dict(price_fn([i for i in ids if f"{P}:{i}" in g], g) or {})
                apply_changes(g, nodes, edges)
                forward = True
                pa = dict(price_fn([i for i in ids if f"{P}:{i}" in g], g) or {})
                apply_changes(g, nodes, edges, forward=False)
                forward = False
                prices = {i: [finite_or_none(pb.get(i)), finite_or_none(pa.get(i))] for i in ids}
        finally:
            if forward:
                apply_changes(g, nodes, edges, forward=False)
        return Impact(sorted(_catalog_id(d) for d in direct), products, changed, prices)


def _feature_diff(ids: list[str], before, after) -> dict[str, dict[str, list]]:
    """catalog id -> {feature: [before, after]} for the features that differ (vectorised)."""
    cols = list((after if after is not None else before).columns) if (
        after is not None or before is not None) else []
    empty = pd.DataFrame(index=pd.Index([], dtype=object), columns=cols, dtype=float)
    b = (before if before is not None else empty).reindex(ids)
    a = (after if after is not None else empty).reindex(ids)
    key = np.asarray(ids, dtype=object)
    in_b = np.isin(key, np.asarray([] if before is None else list(before.index), dtype=object))
    in_a = np.isin(key, np.asarray([] if after is None else list(after.index), dtype=object))
    bv, av = b.to_numpy(dtype=float), a.to_numpy(dtype=float)
    both_nan = np.isnan(bv) & np.isnan(av)
    with np.errstate(invalid="ignore"):
        close = np.isclose(bv, av, rtol=1e-9, atol=1e-12)
    diff = ~(both_nan | close)
    out: dict[str, dict[str, list]] = {}
    for i in np.flatnonzero(diff.any(axis=1) | (in_b != in_a)):
        row = {cols[j]: [finite_or_none(bv[i, j]) if in_b[i] else None, finite_or_none(av[i, j]) if in_a[i] else None]
               for j in np.flatnonzero(diff[i])}
        out[_catalog_id(ids[i])] = row
    return out




def _read_rows(source: Any) -> tuple[str, list[dict]]:
    """(name, rows) of a bulk import: stripped strings, empty cells as None."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise CurationError(f"bulk import: {path} is not a file", field="source")
        with path.open(newline="", encoding="utf-8-sig") as fh:
            return path.name, _csv_rows(fh, path.name)
    if isinstance(source, io.IOBase) or hasattr(source, "read"):
        return getattr(source, "name", "<stream>"), _csv_rows(source, "<stream>")
    rows = []
    for i, r in enumerate(source, 1):
        if i > MAX_BULK_ROWS:
            raise CurationError(f"bulk import: more than {MAX_BULK_ROWS:,} rows; split them",
                                field="source")
        if not isinstance(r, Mapping):
            raise CurationError(f"bulk import: row {i} is not a mapping", field="source")
        rows.append({str(k).strip().lower(): _cell(v) for k, v in r.items()})
    return "<rows>", rows


def _csv_rows(fh: IO[str], name: str) -> list[dict]:
    reader = csv.DictReader(fh)
    try:
        cols = [c.strip().lower() for c in (reader.fieldnames or [])]
        missing = [c for c in ("op", "product_id") if c not in cols]
        if missing:
            raise CurationError(f"bulk import {name}: missing column(s) {', '.join(missing)} "
                                f"(found {_short(', '.join(cols) or 'none')})", field=missing[0])
        rows = []
        for r in reader:
            if len(rows) >= MAX_BULK_ROWS:
                raise CurationError(f"bulk import {name}: more than {MAX_BULK_ROWS:,} rows; "
                                    f"split the file", field="source")
            rows.append({str(k).strip().lower(): _cell(v) for k, v in r.items()
                         if k is not None})
    except csv.Error as exc:  # a field over csv.field_size_limit(), a NUL byte, ...
        raise CurationError(f"bulk import {name}: line {reader.line_num + 1} is not readable CSV "
                            f"({exc})", field="source") from None
    return rows


def _cell(v: Any) -> Any:
    if isinstance(v, str):
        v = v.strip()
        return v or None
    return v

