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
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import networkx as nx

from graph.audit import EdgeChange, NodeChange, dumps, edge_action, is_stamp, node_action, stamp_of
from graph.contracts import (
    CATEGORY_SEPARATOR,
    CURRENCIES,
    FREE_TEXT_FIELDS,
    MAX_COUNT,
    MAX_ID_LENGTH,
    MAX_NAME_LENGTH,
    MAX_PATH_LENGTH,
    MAX_PRICE,
    MAX_TEXT_LENGTH,
    MAX_TITLE_LENGTH,
    Rejection,
    clean_text,
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
_NODE_COLS = ("id", "type", "name", "attrs", "provenance", "updated_at", "version")

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
    if isinstance(value, str) and fld in FREE_TEXT_FIELDS:
        # C1 controls: Windows-1252 punctuation, as on ingest and the API (before stripping:
        # str.strip() takes NEL, U+0085, for a space)
        value = clean_text(value)
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

    Reads go through a cache of the transaction's own (node and edge rows, edge lists, in-edge
    counts) that every write here keeps in step: the writer lock keeps everyone else out, so
    the store changes only through this object until the commit. On PostgreSQL each statement
    is a network round trip and a bulk row reads the same product, categories and edges a
    dozen times; the cache answers them. Writes still go to the store at once, so queries the
    cache does not cover stay right. :meth:`rollback_to` (a savepoint) empties the cache.

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
        self._forget()

    # ----------------------------------------------------------------- the read cache
    def _forget(self) -> None:
        """Empty the read cache (rows as the store returns them: tuples, attrs as JSON text)."""
        self._node_rows: dict[str, tuple | None] = {}
        self._edge_rows: dict[tuple, tuple | None] = {}
        self._out: dict[tuple[str, str | None], list[tuple]] = {}
        self._in: dict[tuple[str, str | None], list[tuple]] = {}
        self._n_in: dict[tuple[str, str], int] = {}

    def rollback_to(self, savepoint: str) -> None:
        """``ROLLBACK TO savepoint``: undo the writes since it, and forget what was read."""
        self.conn.execute(f"ROLLBACK TO {savepoint}")
        self._forget()

    def _node_row(self, nid: str) -> tuple | None:
        if nid not in self._node_rows:
            self._node_rows[nid] = self.conn.execute(
                "SELECT id, type, name, attrs, provenance, updated_at, version FROM nodes "
                "WHERE id=?", (nid,)).fetchone()
        return self._node_rows[nid]

    def _edge_row(self, src: str, dst: str, key: Any) -> tuple | None:
        k = (src, dst, key)
        if k not in self._edge_rows:
            # A complete edge list of either end answers "no such edge" without a query.
            known = self._out.get((src, None))
            if known is None:
                known = self._in.get((dst, None))
            if known is not None:
                self._edge_rows[k] = next((r for r in known if (r[0], r[1], r[2]) == k), None)
            else:
                self._edge_rows[k] = self.conn.execute(
                    "SELECT src, dst, key, type, attrs, provenance, updated_at FROM edges "
                    "WHERE src=? AND dst=? AND key=?", k).fetchone()
        return self._edge_rows[k]

    def _edge_list(self, end: str, nid: str, typ: str | None) -> list[tuple]:
        """The edges with ``nid`` at ``end`` ('src' or 'dst'), of type ``typ`` (None: all),
        in insertion order (``ORDER BY id``)."""
        cache = self._out if end == "src" else self._in
        rows = cache.get((nid, typ))
        if rows is None and typ is not None and (nid, None) in cache:
            rows = cache[(nid, typ)] = [r for r in cache[(nid, None)] if r[3] == typ]
        if rows is None:
            sql = f"SELECT src, dst, key, type, attrs, provenance, updated_at FROM edges " \
                  f"WHERE {end}=?"
            args: tuple = (nid,)
            if typ is not None:
                sql += " AND +type=?" if end == "src" else " AND type=?"  # see the docstring
                args = (nid, typ)
            rows = [tuple(r) for r in self.conn.execute(sql + " ORDER BY id", args)]
            cache[(nid, typ)] = rows
            for r in rows:
                self._edge_rows[(r[0], r[1], r[2])] = r
        return rows

    def _edges_changed(self, row: tuple, inserted: bool) -> None:
        """Keep the cached edge lists and counts in step with an inserted or deleted edge.
        A new edge goes last: its id is the largest (SQLite's rowid, PostgreSQL's identity)."""
        src, dst, key, typ = row[:4]
        for cache, keys in ((self._out, ((src, typ), (src, None))),
                            (self._in, ((dst, typ), (dst, None)))):
            for ck in keys:
                rows = cache.get(ck)
                if rows is None:
                    continue
                if inserted:
                    rows.append(row)
                else:
                    cache[ck] = [r for r in rows if (r[0], r[1], r[2]) != (src, dst, key)]
        if (dst, typ) in self._n_in:
            self._n_in[(dst, typ)] += 1 if inserted else -1

    def prefetch(self, nids: Iterable[str], *, in_edges: Iterable[str] = (),
                 chunk: int = 500) -> None:
        """Read the rows of nodes ``nids``, all their out-edges and all in-edges of
        ``in_edges``, a few statements per ``chunk`` nodes instead of several per node
        (a bulk import's products, before its rows run)."""
        want = [n for n in dict.fromkeys(nids) if isinstance(n, str) and n not in self._node_rows]
        for i in range(0, len(want), chunk):
            part = want[i:i + chunk]
            marks = ", ".join("?" * len(part))
            for n in part:
                self._node_rows[n] = None
            for r in self.conn.execute(
                    "SELECT id, type, name, attrs, provenance, updated_at, version FROM nodes "
                    f"WHERE id IN ({marks})", part):
                self._node_rows[r[0]] = tuple(r)
        for end, cache, ids in (("src", self._out, want),
                                ("dst", self._in, [n for n in dict.fromkeys(in_edges)
                                                   if isinstance(n, str)])):
            ids = [n for n in ids if self._node_rows.get(n) is not None
                   and (n, None) not in cache]
            for i in range(0, len(ids), chunk):
                part = ids[i:i + chunk]
                lists: dict[str, list[tuple]] = {n: [] for n in part}
                for r in self.conn.execute(
                        "SELECT src, dst, key, type, attrs, provenance, updated_at FROM edges "
                        f"WHERE {end} IN ({', '.join('?' * len(part))}) ORDER BY id", part):
                    r = tuple(r)
                    lists[r[0] if end == "src" else r[1]].append(r)
                    self._edge_rows[(r[0], r[1], r[2])] = r
                for n, rows in lists.items():
                    cache[(n, None)] = rows
                    for ck in [ck for ck in cache if ck[0] == n and ck[1] is not None]:
                        del cache[ck]  # typed lists are derived from the complete one again

    # ----------------------------------------------------------------- reads
    def node(self, nid: str) -> dict | None:
        return _node_image(self._node_row(nid))

    def exists(self, nid: str) -> bool:
        return self._node_row(nid) is not None

    def edge(self, src: str, dst: str, key: Any) -> dict | None:
        return _edge_image(self._edge_row(src, dst, key))

    def out_edges(self, nid: str, typ: str | None = None) -> list[dict]:
        return [_edge_image(r) for r in self._edge_list("src", nid, typ)]

    def in_edges(self, nid: str, typ: str | None = None) -> list[dict]:
        return [_edge_image(r) for r in self._edge_list("dst", nid, typ)]

    def count_in(self, nid: str, typ: str) -> int:
        if (nid, typ) not in self._n_in:
            rows = self._in.get((nid, typ))
            self._n_in[(nid, typ)] = len(rows) if rows is not None else self.conn.execute(
                "SELECT count(*) FROM edges WHERE dst=? AND type=?", (nid, typ)).fetchone()[0]
        return self._n_in[(nid, typ)]

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

    def _set_node(self, nid: str, **cols: Any) -> None:
        """Write columns of node ``nid``'s row (an UPDATE), in the store and the cache."""
        self.conn.execute(f"UPDATE nodes SET {', '.join(f'{c}=?' for c in cols)} WHERE id=?",
                          (*cols.values(), nid))
        self._cache_node(nid, **cols)

    def _cache_node(self, nid: str, **cols: Any) -> None:
        row = self._node_rows.get(nid)
        if row is not None:
            img = dict(zip(_NODE_COLS, row))
            img.update(cols)
            self._node_rows[nid] = tuple(img[c] for c in _NODE_COLS)
        else:
            self._node_rows.pop(nid, None)

    def insert_node(self, nid: str, typ: str, name: str | None, attrs: dict,
                    provenance: str | None = None, version: int = 1,
                    updated_at: str | None = None) -> None:
        self._remember_node(nid)
        if self.exists(nid):
            raise CurationError(f"{nid} already exists", node=nid)
        row = (nid, typ, name, dumps(attrs), provenance if provenance is not None
               else self.token, updated_at or self.ts, version)
        try:  # executemany: no savepoint needed, the id is free (see insert_edge)
            self.conn.executemany(
                "INSERT INTO nodes (id, type, name, attrs, provenance, updated_at, version) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)", [row])
        except sqlite3.IntegrityError:
            raise CurationError(f"{nid} already exists", node=nid) from None
        self._node_rows[nid] = row

    def write_node(self, img: dict) -> None:
        """Make the row of ``img['id']`` exactly ``img`` (insert or replace its columns)."""
        nid = img["id"]
        self._remember_node(nid)
        if self.exists(nid):
            self._set_node(nid, type=img["type"], name=img["name"], attrs=dumps(img["attrs"]),
                           provenance=img["provenance"], updated_at=img["updated_at"],
                           version=img["version"])
        else:
            self.insert_node(nid, img["type"], img["name"], img["attrs"], img["provenance"],
                             img["version"], img["updated_at"])

    def update_node(self, nid: str, *, name: Any = ..., attrs: dict | None = None) -> None:
        self._remember_node(nid)
        cur = self.node(nid)
        if cur is None:
            raise CurationError(f"no node {nid}", node=nid)
        self._set_node(nid, name=cur["name"] if name is ... else name,
                       attrs=dumps(cur["attrs"] if attrs is None else attrs))

    def set_stamp(self, nid: str, version: int, updated_at: str | None) -> None:
        self._remember_node(nid)
        self._set_node(nid, version=version, updated_at=updated_at)

    def delete_node(self, nid: str) -> None:
        self._remember_node(nid)
        n = self.conn.execute("SELECT count(*) FROM edges WHERE src=? OR dst=?",
                              (nid, nid)).fetchone()[0]
        if n:
            raise CurationError(f"{nid} still has {n} edge(s); no dangling edges", node=nid)
        self.conn.execute("DELETE FROM nodes WHERE id=?", (nid,))
        self._node_rows[nid] = None

    def insert_edge(self, src: str, dst: str, key: Any, typ: str, attrs: dict | None = None,
                    provenance: str | None = None, updated_at: str | None = None) -> None:
        self._remember_edge(src, dst, key)
        if self._edge_row(src, dst, key) is not None:
            raise CurationError(f"edge {src} -> {dst} ({key}) already exists", node=src)
        for end in (src, dst):
            if not self.exists(end):
                raise CurationError(f"edge {src} -> {dst}: {end} does not exist", node=end)
        row = (src, dst, key, typ, dumps(attrs or {}),
               self.token if provenance is None else provenance, updated_at or self.ts)
        # Both ends exist and the key is free (checked above, under the writer lock), so the
        # INSERT cannot fail: executemany skips the savepoint graph.db wraps around an INSERT
        # on PostgreSQL (three round trips instead of one). Should it fail all the same, the
        # error ends the whole operation.
        self.conn.executemany(
            "INSERT INTO edges (src, dst, key, type, attrs, provenance, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)", [row])
        self._edge_rows[(src, dst, key)] = row
        self._edges_changed(row, inserted=True)

    def delete_edge(self, src: str, dst: str, key: Any) -> None:
        self._remember_edge(src, dst, key)
        row = self._edge_row(src, dst, key)
        self.conn.execute("DELETE FROM edges WHERE src=? AND dst=? AND key=?", (src, dst, key))
        if row is not None:
            self._edge_rows[(src, dst, key)] = None
            self._edges_changed(row, inserted=False)

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
        stamps: list[tuple] = []  # one executemany: a bulk import stamps thousands of nodes
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
                stamps.append((version, self.ts, prov, nid))
                self._cache_node(nid, version=version, updated_at=self.ts, provenance=prov)
                now = self.node(nid)
            if same and not touch and before["version"] == now["version"]:
                continue
            if same:
                b, a = stamp_of(before), stamp_of(now)
            else:
                b, a = before, now
            nodes.append(NodeChange(nid, (now or before)["type"], node_action(b, a), b, a))
        if stamps:
            self.conn.executemany("UPDATE nodes SET version=?, updated_at=?, provenance=? "
                                  "WHERE id=?", stamps)
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


