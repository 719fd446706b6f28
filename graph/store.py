"""SQLite persistence for the knowledge graph (WAL, foreign keys, schema version).

Use::

    from graph.store import GraphStore
    with GraphStore("runs/graph.sqlite") as store:
        store.save(g)              # replaces the stored graph in one transaction
        g2 = store.load()          # networkx.MultiDiGraph equal to g

Tables: ``meta`` (key/value: ``schema_version``, the graph's own attributes as JSON),
``nodes`` (id, type, name, attrs JSON, provenance, updated_at, version) and ``edges``
(id, src, dst, key, type, attrs JSON, provenance, updated_at; unique on src/dst/key).

``type``, ``name``, ``provenance`` and ``updated_at`` get their own columns so they can be
queried and indexed; every other attribute lives in ``attrs`` as JSON, which keeps bool, int,
float, str, list and dict apart, so a load gives back exactly what was saved. A reserved
attribute that is not a string (an odd case) stays in the JSON and comes back unchanged too.

Edges reference nodes with ``ON DELETE RESTRICT``: deleting a node that still has edges fails,
so a later curation step has to move or delete those edges itself - and record that in its
audit trail - instead of losing them silently to a cascade. ``nodes.version`` starts at 1 and
is there for optimistic locking by that curation step.
"""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from types import TracebackType
from typing import Any

import networkx as nx

from graph.build import add_edges_fast, paused_gc
from graph.schema import SCHEMA_VERSION

_NODE_COLS = ("type", "name", "provenance", "updated_at")
_EDGE_COLS = ("type", "provenance", "updated_at")
_MEMO_CHARS = 64
_MEMO_ENTRIES = 1024
_SCALAR = (bool, int, float, str, type(None))

_DDL = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS nodes (
    id         TEXT PRIMARY KEY,
    type       TEXT NOT NULL,
    name       TEXT,
    attrs      TEXT NOT NULL DEFAULT '{}',
    provenance TEXT,
    updated_at TEXT,
    version    INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS edges (
    id         INTEGER PRIMARY KEY,
    src        TEXT NOT NULL REFERENCES nodes(id) ON DELETE RESTRICT,
    dst        TEXT NOT NULL REFERENCES nodes(id) ON DELETE RESTRICT,
    key        NOT NULL,  -- no type affinity: str and int keys keep their type
    type       TEXT NOT NULL,
    attrs      TEXT NOT NULL DEFAULT '{}',
    provenance TEXT,
    updated_at TEXT,
    UNIQUE (src, dst, key)
);
"""
# edges(src) is served by the UNIQUE (src, dst, key) index. save() drops these and builds
# them again after the bulk insert: one sort is faster than 300k incremental updates.
_INDEXES = {
    "nodes_type": "CREATE INDEX IF NOT EXISTS nodes_type ON nodes(type)",
    "edges_dst": "CREATE INDEX IF NOT EXISTS edges_dst ON edges(dst)",
    "edges_type": "CREATE INDEX IF NOT EXISTS edges_type ON edges(type)",
}


class SchemaVersionError(RuntimeError):
    """The file was written by a newer version of this code."""


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if isinstance(value, (set, frozenset)):
        raise TypeError("sets are not stored; use a sorted list")
    raise TypeError(f"cannot store a value of type {type(value).__name__}: {value!r}")


# One encoder for all rows: json.dumps with options builds a new encoder per call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=True, check_circular=False,
                            default=_json_default)


def _dumps(attrs: dict, where: str) -> str:
    try:
        return _ENCODER.encode(attrs)
    except TypeError as exc:
        raise TypeError(f"{where}: {exc}") from None


class GraphStore:
    """A knowledge graph in one SQLite file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(self.path, isolation_level=None)  # explicit transactions
        try:
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA foreign_keys=ON")
            # WAL + NORMAL stays consistent on a crash; only the last commit may be lost.
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self._check_version()
            self.conn.executescript(_DDL)
            for ddl in _INDEXES.values():
                self.conn.execute(ddl)
            self.conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                              (str(SCHEMA_VERSION),))
        except sqlite3.DatabaseError as exc:
            self.conn.close()
            raise sqlite3.DatabaseError(f"{self.path}: not a usable graph store ({exc})") from exc
        except BaseException:
            self.conn.close()
            raise

    # ----------------------------------------------------------------------- lifecycle
    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> GraphStore:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _check_version(self) -> None:
        has_meta = self.conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'").fetchone()
        if not has_meta:
            return
        row = self.conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is None:
            return
        found = int(row[0])
        if found > SCHEMA_VERSION:
            raise SchemaVersionError(
                f"{self.path}: graph store has schema version {found}, this code reads up to "
                f"{SCHEMA_VERSION}; upgrade pricing-assistant or rebuild the store "
                f"with `pricing ingest`")

    @property
    def schema_version(self) -> int:
        return int(self.conn.execute(
            "SELECT value FROM meta WHERE key='schema_version'").fetchone()[0])

    # ----------------------------------------------------------------------- save / load
    def save(self, g: nx.MultiDiGraph) -> None:
        """Replace the stored graph with ``g`` in one transaction (all or nothing)."""
        if not (g.is_directed() and g.is_multigraph()):
            raise TypeError(f"GraphStore saves a networkx.MultiDiGraph, got {type(g).__name__}")
        with paused_gc():
            node_rows, edge_rows = self._rows(g)
        graph_attrs = _dumps(dict(g.graph), "graph attributes")

        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        try:
            c.execute("DELETE FROM edges")
            c.execute("DELETE FROM nodes")
            for name in _INDEXES:
                c.execute(f"DROP INDEX IF EXISTS {name}")
            c.executemany("INSERT INTO nodes (id, type, name, attrs, provenance, updated_at) "
                          "VALUES (?, ?, ?, ?, ?, ?)", node_rows)
            c.executemany("INSERT INTO edges (src, dst, key, type, attrs, provenance, "
                          "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)", edge_rows)
            for ddl in _INDEXES.values():
                c.execute(ddl)
            c.execute("INSERT OR REPLACE INTO meta VALUES ('graph', ?)", (graph_attrs,))
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise

    @staticmethod
    def _rows(g: nx.MultiDiGraph) -> tuple[list[tuple], list[tuple]]:
        node_rows = []
        for n, data in g.nodes(data=True):
            if not isinstance(n, str):
                raise TypeError(f"node ids must be strings, got {n!r}")
            if not isinstance(data.get("type"), str):
                raise ValueError(f"node {n!r} has no 'type' attribute (was it created by an "
                                 f"edge to an unknown node?)")
            rest = {k: v for k, v in data.items()
                    if not (k in _NODE_COLS and isinstance(v, str))}
            node_rows.append((n, data["type"], _col(data, "name"),
                              _dumps(rest, f"node {n!r}") if rest else "{}",
                              _col(data, "provenance"), _col(data, "updated_at")))
        edge_rows = []
        for u, v, k, data in g.edges(keys=True, data=True):
            if not isinstance(k, (str, int)) or isinstance(k, bool):
                raise TypeError(f"edge {u!r}->{v!r}: keys must be str or int, got {k!r}")
            if not isinstance(data.get("type"), str):
                raise ValueError(f"edge {u!r}->{v!r} key {k!r} has no 'type' attribute")
            rest = {a: x for a, x in data.items()
                    if not (a in _EDGE_COLS and isinstance(x, str))}
            edge_rows.append((u, v, k, data["type"],
                              _dumps(rest, f"edge {u!r}->{v!r} {k!r}") if rest else "{}",
                              _col(data, "provenance"), _col(data, "updated_at")))
        return node_rows, edge_rows

    def load(self) -> nx.MultiDiGraph:
        """The stored graph, nodes and edges in the order they were saved."""
        with paused_gc():
            return self._load()

    def _load(self) -> nx.MultiDiGraph:
        g = nx.MultiDiGraph()
        row = self.conn.execute("SELECT value FROM meta WHERE key='graph'").fetchone()
        if row is not None:
            g.graph.update(json.loads(row[0]))
        loads = json.loads
        nodes = []
        for nid, typ, name, attrs, prov, upd in self.conn.execute(
                "SELECT id, type, name, attrs, provenance, updated_at FROM nodes ORDER BY rowid"):
            d = loads(attrs)
            d["type"] = typ
            if name is not None:
                d["name"] = name
            if prov is not None:
                d["provenance"] = prov
            if upd is not None:
                d["updated_at"] = upd
            nodes.append((nid, d))
        g.add_nodes_from(nodes)
        edges = []
        # Most edges carry the same few small attribute sets ({} or {"inferred": true}):
        # decode each once and copy it, instead of parsing JSON 300k times.
        memo: dict[str, dict] = {}
        for src, dst, key, typ, attrs, prov, upd in self.conn.execute(
                "SELECT src, dst, key, type, attrs, provenance, updated_at FROM edges "
                "ORDER BY id"):
            proto = memo.get(attrs)
            if proto is not None:
                d = dict(proto)
            else:
                d = loads(attrs)
                if (len(memo) < _MEMO_ENTRIES and len(attrs) <= _MEMO_CHARS
                        and all(type(x) in _SCALAR for x in d.values())):
                    memo[attrs] = dict(d)  # flat dicts only: a copy shares nothing mutable
            d["type"] = typ
            if prov is not None:
                d["provenance"] = prov
            if upd is not None:
                d["updated_at"] = upd
            edges.append((src, dst, key, d))
        add_edges_fast(g, edges)
        return g

    # ----------------------------------------------------------------------- small queries
    def counts(self) -> dict[str, int]:
        """Number of stored nodes and edges (without loading the graph)."""
        n = self.conn.execute("SELECT count(*) FROM nodes").fetchone()[0]
        e = self.conn.execute("SELECT count(*) FROM edges").fetchone()[0]
        return {"nodes": n, "edges": e}

    def node_version(self, nid: str) -> int | None:
        """The node's version (for optimistic locking); None if there is no such node."""
        row = self.conn.execute("SELECT version FROM nodes WHERE id=?", (nid,)).fetchone()
        return None if row is None else int(row[0])


def _col(data: dict, name: str) -> str | None:
    v = data.get(name)
    return v if isinstance(v, str) else None
