"""Audit trail of knowledge-graph curation: the ``audit`` table and its row images.

Use::

    from graph.audit import ensure_audit_schema, read_entry, list_entries
    ensure_audit_schema(store.conn)            # graph.curation.Curator does this for you
    entry = read_entry(store.conn, 7)          # AuditEntry: who, when, op, params, before, after
    [e.op for e in list_entries(store.conn, node="brand:boat")]

One row per applied curation operation (a bulk import is one operation), written in the same
SQLite transaction as the change itself, so the trail and the graph never disagree:
``id, at, actor, op, params, before, after, reason, reverts, reverted_by``. ``before`` and
``after`` are JSON ``{"nodes": {node_id: image|null}, "edges": [[src, dst, key, image|null]]}``
holding every node and edge the operation touched, as they were and as they became (null:
absent). That is what makes any entry revertible, and what a revert checks against.

A node image is the full stored row (``id, type, name, attrs, provenance, updated_at,
version``), or, for a node whose content did not change (a product linked to another
category is "edited" only through its edge), a small *stamp* ``{"id", "type", "version",
"updated_at", "stamp": <digest of type, name and attrs>}`` - a 20k-row bulk import would
otherwise copy 20k product descriptions into the log. Edge images are full rows.

Schema versioning: the graph tables carry ``meta.schema_version`` (checked by
:class:`graph.store.GraphStore`); the audit table has its own ``meta.audit_schema_version``,
so adding it needs no change to the graph schema and an older GraphStore still opens the
file. :func:`ensure_audit_schema` creates or migrates the table (and the ``edges_dst_type``
index curation's checks need) and refuses a file written by a newer version.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import asdict, dataclass, field
from typing import Any

from graph.store import SchemaVersionError, bump_graph_version

AUDIT_SCHEMA_VERSION = 2
_META_KEY = "audit_schema_version"

_DDL_V1 = """
CREATE TABLE IF NOT EXISTS audit (
    id          INTEGER PRIMARY KEY,
    at          TEXT NOT NULL,           -- ISO-8601 UTC
    actor       TEXT NOT NULL,           -- who
    op          TEXT NOT NULL,           -- operation name, e.g. merge_nodes
    params      TEXT NOT NULL,           -- JSON: the arguments as given
    before      TEXT NOT NULL,           -- JSON images of touched nodes/edges before
    after       TEXT NOT NULL,           -- ... and after
    reason      TEXT,
    reverts     INTEGER REFERENCES audit(id),
    reverted_by INTEGER REFERENCES audit(id)
);
CREATE INDEX IF NOT EXISTS audit_at ON audit(at);
"""
# Curation asks "does this category have sub-categories / products?" for every edit; edges_dst
# alone answers that with one row look-up per product in the category. GraphStore.save()
# keeps this index (it only drops and rebuilds its own), so it is created once, here.
_CURATION_INDEXES = ("CREATE INDEX IF NOT EXISTS edges_dst_type ON edges(dst, type)",)
# v2: an edit sent with an idempotency key keeps it (unique) and a digest of its request, so a
# retry whose response was lost finds the entry instead of applying the edit twice.
_DDL_V2 = """
ALTER TABLE audit ADD COLUMN idempotency_key TEXT;
ALTER TABLE audit ADD COLUMN request_digest TEXT;
CREATE UNIQUE INDEX IF NOT EXISTS audit_idempotency ON audit(idempotency_key)
    WHERE idempotency_key IS NOT NULL
"""
# Index k migrates version k to k + 1 (k = 0: a store without an audit table).
_MIGRATIONS: list[str] = [_DDL_V1, _DDL_V2]


class AuditSchemaError(SchemaVersionError):
    """The audit table was written by a newer version of this code."""


def ensure_audit_schema(conn: sqlite3.Connection) -> int:
    """Create or migrate the ``audit`` table in the graph store; returns the version found."""
    row = conn.execute("SELECT value FROM meta WHERE key=?", (_META_KEY,)).fetchone()
    found = int(row[0]) if row else 0
    if found > AUDIT_SCHEMA_VERSION:
        raise AuditSchemaError(
            f"audit table has schema version {found}, this code reads up to "
            f"{AUDIT_SCHEMA_VERSION}; upgrade pricing-assistant")
    if found == AUDIT_SCHEMA_VERSION and _has_indexes(conn):
        return found
    conn.execute("BEGIN IMMEDIATE")
    try:
        # Read again under the write lock: another process may have migrated meanwhile.
        row = conn.execute("SELECT value FROM meta WHERE key=?", (_META_KEY,)).fetchone()
        current = int(row[0]) if row else 0
        for step in range(current, AUDIT_SCHEMA_VERSION):
            for stmt in _MIGRATIONS[step].split(";"):
                if stmt.strip():
                    conn.execute(stmt)
        for ddl in _CURATION_INDEXES:
            conn.execute(ddl)
        conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                     (_META_KEY, str(AUDIT_SCHEMA_VERSION)))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return found


def _has_indexes(conn: sqlite3.Connection) -> bool:
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    return all(ddl.split()[5] in names for ddl in _CURATION_INDEXES)


# --------------------------------------------------------------------------- row images

def dumps(value: Any) -> str:
    """Canonical JSON (sorted keys): equal images give equal strings, NaN included."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, allow_nan=True)


def content_digest(image: dict) -> str:
    """Digest of what a node *is* (type, name, attrs), not of its version stamp."""
    raw = dumps([image.get("type"), image.get("name"), image.get("attrs")])
    return hashlib.blake2b(raw.encode("utf-8"), digest_size=10).hexdigest()


def stamp_of(image: dict) -> dict:
    """The small image of a node whose content an operation did not change."""
    return {"id": image["id"], "type": image["type"], "version": image["version"],
            "updated_at": image.get("updated_at"), "stamp": content_digest(image)}


def is_stamp(image: dict | None) -> bool:
    return image is not None and "stamp" in image


def same_image(stored: dict | None, current: dict | None) -> bool:
    """Does the node/edge as it is now (``current``: a full image) match a recorded image?"""
    if stored is None or current is None:
        return stored is None and current is None
    if is_stamp(stored):
        return (stored["version"] == current.get("version")
                and stored["stamp"] == content_digest(current))
    return dumps(stored) == dumps(current)


@dataclass
class NodeChange:
    """One node an operation touched: ``action`` is added, removed, updated or stamped."""

    id: str
    type: str
    action: str
    before: dict | None
    after: dict | None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class EdgeChange:
    """One edge an operation touched: ``action`` is added, removed or updated."""

    src: str
    dst: str
    key: str | int
    type: str
    action: str
    before: dict | None
    after: dict | None

    def to_dict(self) -> dict:
        return asdict(self)


def node_action(before: dict | None, after: dict | None) -> str:
    if before is None:
        return "added"
    if after is None:
        return "removed"
    return "stamped" if is_stamp(after) else "updated"


def edge_action(before: dict | None, after: dict | None) -> str:
    return "added" if before is None else "removed" if after is None else "updated"


@dataclass
class AuditEntry:
    """One row of the audit table, JSON columns decoded."""

    id: int
    at: str
    actor: str
    op: str
    params: dict
    before: dict
    after: dict
    reason: str | None = None
    reverts: int | None = None
    reverted_by: int | None = None
    node_changes: list[NodeChange] = field(default_factory=list, repr=False)
    edge_changes: list[EdgeChange] = field(default_factory=list, repr=False)

    def summary(self) -> dict[str, int]:
        """Counts by kind and action, e.g. {"nodes updated": 1, "edges removed": 3}."""
        c: dict[str, int] = {}
        for n in self.node_changes:
            c[f"nodes {n.action}"] = c.get(f"nodes {n.action}", 0) + 1
        for x in self.edge_changes:
            c[f"edges {x.action}"] = c.get(f"edges {x.action}", 0) + 1
        return c

    def to_dict(self, images: bool = True) -> dict:
        """Plain dict; ``images=False`` leaves out before/after (they can be large)."""
        d = {"id": self.id, "at": self.at, "actor": self.actor, "op": self.op,
             "params": self.params, "reason": self.reason, "reverts": self.reverts,
             "reverted_by": self.reverted_by}
        if images:
            d["before"], d["after"] = self.before, self.after
        return d


def images(nodes: list[NodeChange], edges: list[EdgeChange]) -> tuple[dict, dict]:
    """The ``before`` and ``after`` JSON documents of a change list."""
    before = {"nodes": {n.id: n.before for n in nodes},
              "edges": [[e.src, e.dst, e.key, e.before] for e in edges]}
    after = {"nodes": {n.id: n.after for n in nodes},
             "edges": [[e.src, e.dst, e.key, e.after] for e in edges]}
    return before, after


def changes_of(before: dict, after: dict) -> tuple[list[NodeChange], list[EdgeChange]]:
    """The change lists back from the ``before`` and ``after`` documents."""
    nodes = []
    for nid, b in before.get("nodes", {}).items():
        a = after["nodes"].get(nid)
        img = a or b or {}
        nodes.append(NodeChange(nid, img.get("type", ""), node_action(b, a), b, a))
    edges = []
    for (src, dst, key, b), (_, _, _, a) in zip(before.get("edges", []), after.get("edges", [])):
        img = a or b or {}
        edges.append(EdgeChange(src, dst, key, img.get("type", ""), edge_action(b, a), b, a))
    return nodes, edges


def write_entry(conn: sqlite3.Connection, *, at: str, actor: str, op: str, params: dict,
                nodes: list[NodeChange], edges: list[EdgeChange], reason: str | None,
                reverts: int | None = None, idempotency_key: str | None = None,
                request_digest: str | None = None) -> int:
    """Append one entry (inside the caller's transaction); returns its id."""
    before, after = images(nodes, edges)
    cur = conn.execute(
        "INSERT INTO audit (at, actor, op, params, before, after, reason, reverts, "
        "idempotency_key, request_digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (at, actor, op, dumps(params), dumps(before), dumps(after), reason, reverts,
         idempotency_key, request_digest))
    entry_id = int(cur.lastrowid)
    if reverts is not None:
        conn.execute("UPDATE audit SET reverted_by=? WHERE id=?", (entry_id, reverts))
    bump_graph_version(conn)  # other processes see they are behind (graph.sync)
    return entry_id


_COLUMNS = "id, at, actor, op, params, before, after, reason, reverts, reverted_by"


def _entry(row: tuple) -> AuditEntry:
    eid, at, actor, op, params, before, after, reason, reverts, reverted_by = row
    b, a = json.loads(before), json.loads(after)
    nodes, edges = changes_of(b, a)
    return AuditEntry(eid, at, actor, op, json.loads(params), b, a, reason, reverts,
                      reverted_by, nodes, edges)


def read_entry(conn: sqlite3.Connection, entry_id: int) -> AuditEntry:
    """The entry ``entry_id``; KeyError if there is none."""
    row = conn.execute(f"SELECT {_COLUMNS} FROM audit WHERE id=?", (int(entry_id),)).fetchone()
    if row is None:
        raise KeyError(f"no audit entry #{entry_id}")
    return _entry(row)


def find_idempotent(conn: sqlite3.Connection, key: str) -> tuple[int, str, str | None] | None:
    """(entry id, actor, request digest) of the entry written under idempotency ``key``."""
    row = conn.execute("SELECT id, actor, request_digest FROM audit WHERE idempotency_key=?",
                       (key,)).fetchone()
    return None if row is None else (int(row[0]), str(row[1]), row[2])


def list_entries(conn: sqlite3.Connection, *, node: str | None = None, limit: int = 100,
                 before_id: int | None = None, op: str | None = None) -> list[AuditEntry]:
    """Newest first; ``node`` keeps entries that touched that node id, ``before_id`` pages."""
    where, args = [], []
    if before_id is not None:
        where.append("id < ?")
        args.append(int(before_id))
    if op is not None:
        where.append("op = ?")
        args.append(op)
    if node is not None:
        # The id appears as a JSON string key/value in the images; LIKE narrows, the exact
        # check below confirms (an id can be a prefix of another).
        where.append("(before LIKE ? ESCAPE '\\' OR after LIKE ? ESCAPE '\\')")
        pat = "%" + _like_escape(json.dumps(node, ensure_ascii=False)) + "%"
        args += [pat, pat]
    sql = f"SELECT {_COLUMNS} FROM audit"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY id DESC"
    out = []
    for row in conn.execute(sql, args):
        e = _entry(row)
        if node is None or _touches(e, node):
            out.append(e)
            if len(out) >= limit:
                break
    return out


def later_entries_touching(conn: sqlite3.Connection, entry_id: int, node: str) -> list[int]:
    """Ids of entries after ``entry_id`` that touched ``node`` (for "edited since" messages)."""
    pat = "%" + _like_escape(json.dumps(node, ensure_ascii=False)) + "%"
    ids = []
    for row in conn.execute(f"SELECT {_COLUMNS} FROM audit WHERE id > ? AND "
                            "(before LIKE ? ESCAPE '\\' OR after LIKE ? ESCAPE '\\') "
                            "ORDER BY id LIMIT 50", (int(entry_id), pat, pat)):
        e = _entry(row)
        if _touches(e, node):
            ids.append(e.id)
    return ids


def _touches(e: AuditEntry, node: str) -> bool:
    return (any(n.id == node for n in e.node_changes)
            or any(node in (x.src, x.dst) for x in e.edge_changes))


def _like_escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
