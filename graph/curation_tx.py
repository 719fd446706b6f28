"""The transaction layer under :mod:`graph.curation`: one SQLite transaction's reads, writes
and validation rules, and applying the recorded changes to an in-memory graph.

Use it through :class:`graph.curation.Curator` (which opens the transaction, runs an
operation in it, writes the audit record and commits or rolls back)::

    tx = _Tx(conn, actor="curator:alice")      # inside BEGIN IMMEDIATE
    tx.update_node("brand:boat", name="boAt")  # a working image of every touched row
    tx.validate()                              # the rules of graph.curation, on what changed
    nodes, edges = tx.finish()                 # NodeChange / EdgeChange for the audit trail
    apply_changes(graph, nodes, edges)         # keep a loaded NetworkX graph in step

The errors (:class:`CurationError`, :class:`ConflictError`, :class:`RevertError`) live here so
both layers raise the same types; :mod:`graph.curation` re-exports them.
"""

import json
import math
import sqlite3
from collections.abc import Callable, Mapping
from typing import Any

import networkx as nx

from graph.audit import EdgeChange, NodeChange, dumps, edge_action, is_stamp, node_action, stamp_of
from graph.contracts import (
    CATEGORY_SEPARATOR,
    CURRENCIES,
    MAX_COUNT,
    MAX_ID_LENGTH,
    MAX_NAME_LENGTH,
    MAX_PATH_LENGTH,
    MAX_PRICE,
    MAX_TEXT_LENGTH,
    MAX_TITLE_LENGTH,
    Rejection,
    id_problem,
    text_problem,
)
from graph.schema import EdgeType, NodeType, node_id, normalize_name

P, C, B, K, R = (NodeType.PRODUCT.value, NodeType.CATEGORY.value, NodeType.BRAND.value,
                 NodeType.COMPETITOR.value, NodeType.REVIEW.value)
IN_CATEGORY, CHILD_OF, MADE_BY, OFFERS, REVIEW_OF, SIMILAR_TO = (
    EdgeType.IN_CATEGORY.value, EdgeType.CHILD_OF.value, EdgeType.MADE_BY.value,
    EdgeType.OFFERS.value, EdgeType.REVIEW_OF.value, EdgeType.SIMILAR_TO.value)
SEP = CATEGORY_SEPARATOR
CURATOR_PREFIX = "curator:"

# (source type, target type) of each edge type.
_EDGE_ENDS = {IN_CATEGORY: (P, C), CHILD_OF: (C, C), MADE_BY: (P, B), OFFERS: (K, P),
              REVIEW_OF: (R, P), SIMILAR_TO: (P, P)}
_RESERVED = {"id", "type", "name", "provenance", "updated_at", "version"}
_RESERVED_BY_TYPE = {C: {"path", "depth"}, P: set(), B: set(), K: set(), R: set()}
_PRODUCT_TEXT = ("description", "condition")
_BULK_OPS = ("link_category", "unlink_category", "link_brand", "unlink_brand", "add_offer",
             "remove_offer", "upsert_product")
# Product attributes an ``upsert_product`` row may set (a catalog file's canonical columns).
_UPSERT_ATTRS = ("title", "description", "condition", "price", "currency", "cost", "rating",
                 "rating_count")
_MAX_LISTED = 20
# Text limits by argument name (graph.contracts: the same as ingest and the API); names of
# brands, competitors and category levels are checked against MAX_NAME_LENGTH where made.
TEXT_LIMITS = {"product_id": MAX_ID_LENGTH, "title": MAX_TITLE_LENGTH, "new_name": MAX_TITLE_LENGTH,
               "description": MAX_TEXT_LENGTH, "condition": 50, "name": MAX_NAME_LENGTH,
               "brand": MAX_NAME_LENGTH, "competitor": MAX_NAME_LENGTH, "path": MAX_PATH_LENGTH,
               "category_path": MAX_PATH_LENGTH, "observed_at": 64, "url": MAX_TITLE_LENGTH,
               "reason": MAX_TITLE_LENGTH, "actor": MAX_NAME_LENGTH}
MULTILINE = {"description", "reason"}
# Upper bounds of numbers (graph.contracts).
MAX_NUMBER = {"price": MAX_PRICE, "cost": MAX_PRICE, "shipping": MAX_PRICE,
              "rating_count": MAX_COUNT}
_SINGLE = {IN_CATEGORY, MADE_BY, CHILD_OF}  # one edge of the type per (source, target) pair

PriceFn = Callable[[list[str], nx.MultiDiGraph], Mapping[str, float]]




class CurationError(ValueError):
    """An edit breaks a rule or names something that is not there; nothing was changed.

    ``node`` and ``field`` name what is wrong where known; a bulk import lists every bad row
    in ``errors`` (:class:`graph.contracts.Rejection`).
    """

    def __init__(self, message: str, *, node: str | None = None, field: str | None = None,
                 errors: list[Rejection] | None = None) -> None:
        super().__init__(message)
        self.node = node
        self.field = field
        self.errors = errors or []


class ConflictError(CurationError):
    """A node changed since the version the caller read (catch this before CurationError)."""

    def __init__(self, message: str, *, node: str | None = None, expected: int | None = None,
                 found: int | None = None) -> None:
        super().__init__(message, node=node, field="version")
        self.expected = expected
        self.found = found


class RevertError(CurationError):
    """An audit entry cannot be reverted: the state moved on, or the result would be invalid."""




# --------------------------------------------------------------------------- small helpers

def _json_loads(text: str) -> dict:
    return json.loads(text)


def _node_image(row: tuple | None) -> dict | None:
    if row is None:
        return None
    nid, typ, name, attrs, prov, upd, version = row
    return {"id": nid, "type": typ, "name": name, "attrs": _json_loads(attrs),
            "provenance": prov, "updated_at": upd, "version": int(version)}


def _edge_image(row: tuple | None) -> dict | None:
    if row is None:
        return None
    src, dst, key, typ, attrs, prov, upd = row
    return {"src": src, "dst": dst, "key": key, "type": typ, "attrs": _json_loads(attrs),
            "provenance": prov, "updated_at": upd}


def _content(img: dict) -> str:
    return dumps([img.get("type"), img.get("name"), img.get("attrs")])


def _add_source(prov: str | None, token: str) -> str:
    parts = {p for p in (prov or "").split("; ") if p}
    parts.add(token)
    return "; ".join(sorted(parts))


def _split_path(path: str) -> list[str]:
    return [p.strip() for p in str(path).split(">")]


def _norm_path(path: str, fld: str) -> str:
    parts = _split_path(path)
    if not parts or any(not p for p in parts):
        raise CurationError(f"{fld}: category path {_short(path)} has an empty level "
                            f"(levels are separated by '>')", field=fld)
    full = SEP.join(parts)
    why = text_problem(full, fld, MAX_PATH_LENGTH) or next(
        (text_problem(p, f"{fld} level", MAX_NAME_LENGTH) for p in parts
         if len(p) > MAX_NAME_LENGTH), None)
    if why:
        raise CurationError(f"{fld}: {why}", field=fld)
    return full


def _catalog_id(nid: str) -> str:
    return nid.partition(":")[2] if nid.startswith(f"{P}:") else nid


def _number(value: Any, fld: str, node: str | None = None, *, low: float | None = None,
            high: float | None = None, low_open: bool = False) -> float:
    where = f"{node}: " if node else ""
    if isinstance(value, bool):
        raise CurationError(f"{where}{fld} must be a number, got {_short(value)}", node=node,
                            field=fld)
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise CurationError(f"{where}{fld} must be a number, got {_short(value)}",
                            node=node, field=fld) from None
    if not math.isfinite(x):
        raise CurationError(f"{where}{fld} must be finite, got {value!r}", node=node, field=fld)
    high = MAX_NUMBER.get(fld) if high is None else high
    if low is not None and (x <= low if low_open else x < low):
        rel = "greater than" if low_open else "at least"
        raise CurationError(f"{where}{fld} must be {rel} {low:g}, got {value!r}",
                            node=node, field=fld)
    if high is not None and x > high:
        raise CurationError(f"{where}{fld} must be at most {high:g}, got {value!r}",
                            node=node, field=fld)
    return x


def _currency(value: Any, fld: str, node: str | None = None) -> str:
    where = f"{node}: " if node else ""
    if not isinstance(value, str) or value.strip().upper() not in CURRENCIES:
        raise CurationError(f"{where}{fld} must be an ISO 4217 currency code such as 'INR' or "
                            f"'GBP', got {_short(value)}", node=node, field=fld)
    return value.strip().upper()


def _text(value: Any, fld: str, node: str | None = None, *, required: bool = False,
          limit: int | None = None) -> str | None:
    """A string argument checked against the shared text rules (graph.contracts): its length
    limit (by ``fld``, or ``limit``), no control characters; a product id also no node-type
    prefix. ``required``: non-blank, returned stripped."""
    where = f"{node}: " if node else ""
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise CurationError(f"{where}{fld} must be a {'non-empty ' if required else ''}string, "
                            f"got {_short(value)}", node=node, field=fld)
    text = value.strip() if required else value
    why = (id_problem(text, fld) if fld == "product_id" else
           text_problem(text, fld, limit or TEXT_LIMITS.get(fld, MAX_TEXT_LENGTH),
                        multiline=fld in MULTILINE))
    if why:
        raise CurationError(f"{where}{why}", node=node, field=fld)
    return text


def _short(value: Any, width: int = 80) -> str:
    """``repr(value)``, cut to ``width`` characters: messages never echo a 10k-character input."""
    s = repr(value)
    return s if len(s) <= width else s[:width - 1] + "…"


def _scalar(value: Any, fld: str, node: str | None) -> Any:
    if isinstance(value, str):
        return _text(value, fld, node, limit=MAX_TEXT_LENGTH)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**63 - 1:
        raise CurationError(f"{node}: attribute {fld!r} is too large an integer", node=node,
                            field=fld)
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return _number(value, fld, node)
    raise CurationError(f"{node}: attribute {fld!r} must be a string, number or boolean, got "
                        f"{type(value).__name__}", node=node, field=fld)


# --------------------------------------------------------------------------- transaction

class _Tx:
    """Writes inside one open transaction, remembering what every touched row looked like.

    Out-edge queries write ``+type``: the unary plus keeps SQLite from answering them through
    the ``edges_type`` index (every edge of a type) instead of the (src, dst, key) index.
    In-edge queries by type use ``edges_dst_type`` (see :func:`graph.audit.ensure_audit_schema`):
    a leaf category with 50k products must not cost 50k row look-ups per check.
    """

    def __init__(self, conn: sqlite3.Connection, actor: str, ts: str,
                 strict_categories: bool) -> None:
        self.conn = conn
        self.actor = actor
        self.ts = ts
        self.token = CURATOR_PREFIX + actor
        self.strict = strict_categories
        self.nodes_before: dict[str, dict | None] = {}
        self.edges_before: dict[tuple, dict | None] = {}
        self.bumped: set[str] = set()
        # What to validate: everything written since the last reset (a bulk row, an op).
        self.scope_nodes: set[str] = set()
        self.scope_edges: set[tuple] = set()
        # Edges/nodes carried over rather than added: moved because a node was renamed
        # (re-keyed), or restored by a revert into a node it re-creates. Rules about "what an
        # edit adds" leave them alone.
        self.carried_edges: set[tuple] = set()
        self.carried_nodes: set[str] = set()

    # ----------------------------------------------------------------- reads
    def node(self, nid: str) -> dict | None:
        return _node_image(self.conn.execute(
            "SELECT id, type, name, attrs, provenance, updated_at, version FROM nodes "
            "WHERE id=?", (nid,)).fetchone())

    def exists(self, nid: str) -> bool:
        return self.conn.execute("SELECT 1 FROM nodes WHERE id=?", (nid,)).fetchone() is not None

    def edge(self, src: str, dst: str, key: Any) -> dict | None:
        return _edge_image(self.conn.execute(
            "SELECT src, dst, key, type, attrs, provenance, updated_at FROM edges "
            "WHERE src=? AND dst=? AND key=?", (src, dst, key)).fetchone())

    def out_edges(self, nid: str, typ: str | None = None) -> list[dict]:
        sql = "SELECT src, dst, key, type, attrs, provenance, updated_at FROM edges WHERE src=?"
        args: tuple = (nid,)
        if typ is not None:
            sql += " AND +type=?"
            args = (nid, typ)
        return [_edge_image(r) for r in self.conn.execute(sql + " ORDER BY id", args)]

    def in_edges(self, nid: str, typ: str | None = None) -> list[dict]:
        sql = "SELECT src, dst, key, type, attrs, provenance, updated_at FROM edges WHERE dst=?"
        args: tuple = (nid,)
        if typ is not None:
            sql += " AND type=?"  # edges_dst_type
            args = (nid, typ)
        return [_edge_image(r) for r in self.conn.execute(sql + " ORDER BY id", args)]

    def count_in(self, nid: str, typ: str) -> int:
        return self.conn.execute("SELECT count(*) FROM edges WHERE dst=? AND type=?",
                                 (nid, typ)).fetchone()[0]

    def children(self, nid: str) -> list[str]:
        return [e["src"] for e in self.in_edges(nid, CHILD_OF)]

    def parent(self, nid: str) -> str | None:
        ps = self.out_edges(nid, CHILD_OF)
        return ps[0]["dst"] if ps else None

    # ----------------------------------------------------------------- writes
    def _remember_node(self, nid: str) -> None:
        if nid not in self.nodes_before:
            self.nodes_before[nid] = self.node(nid)
        self.scope_nodes.add(nid)

    def _remember_edge(self, src: str, dst: str, key: Any) -> None:
        k = (src, dst, key)
        if k not in self.edges_before:
            self.edges_before[k] = self.edge(src, dst, key)
        self.scope_edges.add(k)

    def insert_node(self, nid: str, typ: str, name: str | None, attrs: dict,
                    provenance: str | None = None, version: int = 1,
                    updated_at: str | None = None) -> None:
        self._remember_node(nid)
        try:
            self.conn.execute(
                "INSERT INTO nodes (id, type, name, attrs, provenance, updated_at, version) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (nid, typ, name, dumps(attrs), provenance if provenance is not None
                 else self.token, updated_at or self.ts, version))
        except sqlite3.IntegrityError:
            raise CurationError(f"{nid} already exists", node=nid) from None

    def write_node(self, img: dict) -> None:
        """Make the row of ``img['id']`` exactly ``img`` (insert or replace its columns)."""
        nid = img["id"]
        self._remember_node(nid)
        if self.exists(nid):
            self.conn.execute(
                "UPDATE nodes SET type=?, name=?, attrs=?, provenance=?, updated_at=?, version=? "
                "WHERE id=?", (img["type"], img["name"], dumps(img["attrs"]), img["provenance"],
                               img["updated_at"], img["version"], nid))
        else:
            self.insert_node(nid, img["type"], img["name"], img["attrs"], img["provenance"],
                             img["version"], img["updated_at"])

    def update_node(self, nid: str, *, name: Any = ..., attrs: dict | None = None) -> None:
        self._remember_node(nid)
        cur = self.node(nid)
        if cur is None:
            raise CurationError(f"no node {nid}", node=nid)
        self.conn.execute("UPDATE nodes SET name=?, attrs=? WHERE id=?",
                          (cur["name"] if name is ... else name,
                           dumps(cur["attrs"] if attrs is None else attrs), nid))

    def set_stamp(self, nid: str, version: int, updated_at: str | None) -> None:
        self._remember_node(nid)
        self.conn.execute("UPDATE nodes SET version=?, updated_at=? WHERE id=?",
                          (version, updated_at, nid))

    def delete_node(self, nid: str) -> None:
        self._remember_node(nid)
        n = self.conn.execute("SELECT count(*) FROM edges WHERE src=? OR dst=?",
                              (nid, nid)).fetchone()[0]
        if n:
            raise CurationError(f"{nid} still has {n} edge(s); no dangling edges", node=nid)
        self.conn.execute("DELETE FROM nodes WHERE id=?", (nid,))

    def insert_edge(self, src: str, dst: str, key: Any, typ: str, attrs: dict | None = None,
                    provenance: str | None = None, updated_at: str | None = None) -> None:
        self._remember_edge(src, dst, key)
        try:
            self.conn.execute(
                "INSERT INTO edges (src, dst, key, type, attrs, provenance, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (src, dst, key, typ, dumps(attrs or {}),
                 self.token if provenance is None else provenance, updated_at or self.ts))
        except sqlite3.IntegrityError as exc:
            if self.edge(src, dst, key) is not None:
                raise CurationError(f"edge {src} -> {dst} ({key}) already exists",
                                    node=src) from None
            missing = src if not self.exists(src) else dst
            raise CurationError(f"edge {src} -> {dst}: {missing} does not exist ({exc})",
                                node=missing) from None

    def delete_edge(self, src: str, dst: str, key: Any) -> None:
        self._remember_edge(src, dst, key)
        self.conn.execute("DELETE FROM edges WHERE src=? AND dst=? AND key=?", (src, dst, key))

    def move_edge(self, e: dict, src: str, dst: str) -> bool:
        """Re-point edge ``e`` to ``src -> dst``; False (and the edge dropped) if that exists."""
        self.delete_edge(e["src"], e["dst"], e["key"])
        if self.edge(src, dst, e["key"]) is not None:
            return False
        self.insert_edge(src, dst, e["key"], e["type"], e["attrs"], e["provenance"])
        return True

    def bump(self, nid: str) -> None:
        """``nid`` was edited through its edges: give it a new version even if its row is equal."""
        self._remember_node(nid)
        self.bumped.add(nid)

    def rekey(self, old: str, new: str, *, name: Any = ..., attrs: dict | None = None) -> None:
        """Give node ``old`` the id ``new`` (ids derive from names/paths), moving its edges."""
        row = self.node(old)
        if row is None:
            raise CurationError(f"no node {old}", node=old)
        if self.exists(new):
            raise CurationError(f"{new} already exists", node=new)
        self.insert_node(new, row["type"], row["name"] if name is ... else name,
                         row["attrs"] if attrs is None else attrs,
                         _add_source(row["provenance"], self.token), row["version"] + 1)
        self.carried_nodes.add(new)
        for e in self.out_edges(old):
            self._rekey_edge(e, new, new if e["dst"] == old else e["dst"])
        for e in self.in_edges(old):
            self._rekey_edge(e, e["src"], new)
        self.delete_node(old)

    def _rekey_edge(self, e: dict, src: str, dst: str) -> None:
        k = (e["src"], e["dst"], e["key"])
        # An edge this transaction added stays "added" when it moves along with a re-key.
        inherited = (k not in self.edges_before or self.edges_before[k] is not None
                     or k in self.carried_edges)
        if self.move_edge(e, src, dst) and inherited:
            self.carried_edges.add((src, dst, e["key"]))

    def reset_scope(self) -> None:
        self.scope_nodes = set()
        self.scope_edges = set()

    # ----------------------------------------------------------------- finish
    def finish(self, touch: bool = True) -> tuple[list[NodeChange], list[EdgeChange]]:
        """Stamp versions (``touch``) and return the change lists of the whole transaction."""
        nodes: list[NodeChange] = []
        for nid, before in self.nodes_before.items():
            now = self.node(nid)
            if before is None and now is None:
                continue
            same = before is not None and now is not None and _content(before) == _content(now)
            if touch and before is not None and now is not None:
                if same and nid not in self.bumped:
                    continue
                version = before["version"] + 1
                prov = now["provenance"] if same else _add_source(now["provenance"], self.token)
                self.conn.execute("UPDATE nodes SET version=?, updated_at=?, provenance=? "
                                  "WHERE id=?", (version, self.ts, prov, nid))
                now = self.node(nid)
            if same and not touch and before["version"] == now["version"]:
                continue
            if same:
                b, a = stamp_of(before), stamp_of(now)
            else:
                b, a = before, now
            nodes.append(NodeChange(nid, (now or before)["type"], node_action(b, a), b, a))
        edges: list[EdgeChange] = []
        for (src, dst, key), before in self.edges_before.items():
            now = self.edge(src, dst, key)
            if (before is None and now is None) or (
                    before is not None and now is not None and dumps(before) == dumps(now)):
                continue
            edges.append(EdgeChange(src, dst, key, (now or before)["type"],
                                    edge_action(before, now), before, now))
        return nodes, edges

    # ----------------------------------------------------------------- validation
    def validate(self) -> None:
        """Check every rule on the nodes and edges written since the last scope reset."""
        check = set(self.scope_nodes)
        named: set[str] = set()
        # What each node gained: ("out"|"in", edge type) for edges added here, not carried.
        # Leaf and one-brand rules look only at what an edit adds, so that data loaded with a
        # product in an inner category does not block, say, a price fix on that product.
        gained: dict[str, set[tuple[str, str]]] = {}
        for k in sorted(self.scope_edges, key=str):
            src, dst, key = k
            check.update((src, dst))
            e = self.edge(src, dst, key)
            if e is None:
                continue
            self._check_edge(e)
            if e["type"] == CHILD_OF:
                named.add(src)
            if k not in self.carried_edges and self.edges_before.get(k) is None:
                gained.setdefault(src, set()).add(("out", e["type"]))
                gained.setdefault(dst, set()).add(("in", e["type"]))
        created = {n for n in self.scope_nodes
                   if self.nodes_before.get(n) is None and n not in self.carried_nodes}
        for nid in self.scope_nodes:
            before = self.nodes_before.get(nid)
            if before is None:
                named.add(nid)
            else:
                now = self.node(nid)
                if now is not None and now["name"] != before["name"]:
                    named.add(nid)
        # Products first: "category X is not a leaf" says more to whoever moved the product
        # than "category X has sub-categories and products".
        for nid in sorted(check, key=lambda n: (not n.startswith(f"{P}:"), n)):
            row = self.node(nid)
            if row is None:
                continue
            t = row["type"]
            new = gained.get(nid, set())
            if t == C:
                self._check_category(row, nid in named, nid in created or bool(
                    new & {("in", CHILD_OF), ("in", IN_CATEGORY)}))
            elif t == P:
                self._check_product(row, nid in created or ("out", IN_CATEGORY) in new,
                                    nid in created or ("out", MADE_BY) in new)
            elif t == B and nid in named:
                self._check_brand(row)
            elif t == K and nid in named:
                self._check_competitor(row)

    def _check_edge(self, e: dict) -> None:
        t = e["type"]
        ends = _EDGE_ENDS.get(t)
        label = f"edge {e['src']} -> {e['dst']}"
        if ends is None:
            raise CurationError(f"{label}: unknown edge type {t!r}", node=e["src"], field="type")
        for nid, want in zip((e["src"], e["dst"]), ends):
            row = self.node(nid)
            if row is None:
                raise CurationError(f"{label}: {nid} does not exist (no dangling edges)", node=nid)
            if row["type"] != want:
                raise CurationError(f"{label}: a {t} edge needs a {want} here, {nid} is a "
                                    f"{row['type']}", node=nid, field="type")
        if t == OFFERS:
            a = e["attrs"]
            _number(a.get("price"), "price", label, low=0, low_open=True)
            _currency(a.get("currency"), "currency", label)
            if a.get("shipping") is not None:
                _number(a["shipping"], "shipping", label, low=0)

    def _check_category(self, row: dict, named: bool, grew: bool) -> None:
        nid = row["id"]
        path = row["attrs"].get("path")
        label = f"category {path or nid!r}"
        parents = self.out_edges(nid, CHILD_OF)
        if len(parents) > 1:
            raise CurationError(f"{label} has {len(parents)} parents "
                                f"({', '.join(p['dst'] for p in parents)}); the taxonomy is a "
                                f"tree, one parent each", node=nid, field="parent")
        seen = {nid}
        cur = parents[0]["dst"] if parents else None
        while cur is not None:
            if cur in seen:
                raise CurationError(f"{label}: the parent chain loops back through {cur} "
                                    f"(a cycle); the taxonomy must stay a tree",
                                    node=nid, field="parent")
            seen.add(cur)
            cur = self.parent(cur)
        n_products = self.count_in(nid, IN_CATEGORY) if grew else 0
        if n_products and self.count_in(nid, CHILD_OF):
            raise CurationError(f"{label} has sub-categories and {n_products} product(s); "
                                f"products sit in leaf categories only: move them to a "
                                f"sub-category first", node=nid, field="category_path")
        if not named:
            return
        name = row["name"]
        if not isinstance(name, str) or not normalize_name(name) or ">" in name:
            raise CurationError(f"{label}: name {name!r} must have letters or digits and no '>'",
                                node=nid, field="name")
        parent = self.node(parents[0]["dst"]) if parents else None
        want = (f"{parent['attrs'].get('path')}{SEP}{name}" if parent else name)
        if path != want or nid != node_id(C, want) or row["attrs"].get("depth") != len(
                want.split(SEP)):
            raise CurationError(f"{label}: id/path/depth do not follow the parent chain "
                                f"(expected path {want!r})", node=nid, field="path")
        if parent:
            siblings = [s for s in self.children(parent["id"]) if s != nid]
            rows = [self.node(s) for s in siblings]
        else:
            rows = [_node_image(r) for r in self.conn.execute(
                "SELECT id, type, name, attrs, provenance, updated_at, version FROM nodes n "
                "WHERE type=? AND id<>? AND NOT EXISTS (SELECT 1 FROM edges e WHERE "
                "e.src=n.id AND +e.type=?)", (C, nid, CHILD_OF))]
        key = normalize_name(name)
        for s in rows:
            if s is not None and normalize_name(str(s["name"])) == key:
                raise CurationError(f"{label} clashes with category "
                                    f"{s['attrs'].get('path')!r}: names must be unique among "
                                    f"siblings after normalisation", node=nid, field="name")

    def _check_product(self, row: dict, category: bool, brand: bool) -> None:
        nid = row["id"]
        cats = self.out_edges(nid, IN_CATEGORY)
        if not cats and self.strict:
            raise CurationError(f"{nid} has no category; every product sits in exactly one "
                                f"leaf category", node=nid, field="category_path")
        if not category:
            cats = []
        if len(cats) > 1:
            raise CurationError(f"{nid} is in {len(cats)} categories "
                                f"({', '.join(c['dst'] for c in cats)}); a product sits in "
                                f"exactly one leaf category", node=nid, field="category_path")
        if cats and self.count_in(cats[0]["dst"], CHILD_OF):
            raise CurationError(f"{nid}: category {cats[0]['dst'].partition(':')[2]!r} is not "
                                f"a leaf (it has sub-categories); products sit in leaf "
                                f"categories only", node=nid, field="category_path")
        brands = self.out_edges(nid, MADE_BY) if brand else []
        if len(brands) > 1:
            raise CurationError(f"{nid} has {len(brands)} brands "
                                f"({', '.join(b['dst'] for b in brands)}); one at most",
                                node=nid, field="brand")

    def _check_brand(self, row: dict) -> None:
        nid, name = row["id"], row["name"]
        if not isinstance(name, str) or not normalize_name(name):
            raise CurationError(f"{nid}: brand name {name!r} has no letters or digits",
                                node=nid, field="name")
        if nid != node_id(B, name):
            raise CurationError(f"{nid}: a brand's id is its normalised name "
                                f"({node_id(B, name)!r} for {name!r})", node=nid, field="name")

    def _check_competitor(self, row: dict) -> None:
        nid, name = row["id"], row["name"]
        if not isinstance(name, str) or not normalize_name(name):
            raise CurationError(f"{nid}: competitor name {name!r} has no letters or digits",
                                node=nid, field="name")
        key = normalize_name(name)
        for other, oname in self.conn.execute("SELECT id, name FROM nodes WHERE type=? AND id<>?",
                                              (K, nid)):
            if normalize_name(str(oname)) == key:
                raise CurationError(f"competitor {name!r} clashes with {other} ({oname!r}): "
                                    f"names must be unique after normalisation",
                                    node=nid, field="name")


# --------------------------------------------------------------------------- in-memory graph

def _nx_node(img: dict) -> dict:
    d = dict(img["attrs"])
    d["type"] = img["type"]
    for k in ("name", "provenance", "updated_at"):
        if img.get(k) is not None:
            d[k] = img[k]
    return d


def _nx_edge(img: dict) -> dict:
    d = dict(img["attrs"])
    d["type"] = img["type"]
    for k in ("provenance", "updated_at"):
        if img.get(k) is not None:
            d[k] = img[k]
    return d


def apply_changes(g: nx.MultiDiGraph, nodes: list[NodeChange], edges: list[EdgeChange],
                  forward: bool = True) -> None:
    """Replay a change list on an in-memory graph (``forward=False`` undoes it)."""
    def old(c):
        return c.before if forward else c.after

    def new(c):
        return c.after if forward else c.before

    for e in edges:
        if old(e) is not None and g.has_edge(e.src, e.dst, e.key):
            g.remove_edge(e.src, e.dst, e.key)
    for n in nodes:
        if new(n) is None and n.id in g:
            g.remove_node(n.id)
    for n in nodes:
        img = new(n)
        if img is None:
            continue
        if is_stamp(img):
            if n.id in g and img.get("updated_at") is not None:
                g.nodes[n.id]["updated_at"] = img["updated_at"]
            continue
        attrs = _nx_node(img)
        if n.id in g:
            d = g.nodes[n.id]
            d.clear()
            d.update(attrs)
        else:
            g.add_node(n.id, **attrs)
    for e in edges:
        img = new(e)
        if img is not None:
            g.add_edge(e.src, e.dst, key=e.key, **_nx_edge(img))


