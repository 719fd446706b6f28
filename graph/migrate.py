"""Copy a store to another backend - a SQLite file to PostgreSQL, or back - row for row.

Use::

    from graph.migrate import migrate_graph, copy_rows
    counts = migrate_graph("runs/graph.sqlite", "postgresql://pricing@db-host/pricing")
    # {"nodes": 13956, "edges": 19714, "audit": 12, "match_proposals": 40, "match_labels": 9,
    #  "meta": 3}; ``pricing db migrate`` runs it

Unlike ``load`` + ``save`` this keeps everything curation depends on: node versions (the
optimistic locks curators hold), edge ids, provenance and timestamps, the audit trail with its
ids and revert links, the graph version, and competitor matching's proposals (with their ids
and the audit ids of their links) and curator labels (:mod:`graph.match_store`). The source
is read in one snapshot; the target is written in one transaction (all or nothing) and must
be empty: a migration never merges two stores. Edge keys must be strings for a PostgreSQL
target (see :mod:`graph.store`).
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from graph.audit import ensure_audit_schema
from graph.db import Connection, describe, is_postgres, normalize, store_exists
from graph.match_store import ensure_match_schema
from graph.store import GraphStore

_NODE_COLS = ("id", "type", "name", "attrs", "provenance", "updated_at", "version")
_EDGE_COLS = ("id", "src", "dst", "key", "type", "attrs", "provenance", "updated_at")
_AUDIT_COLS = ("id", "at", "actor", "op", "params", "before", "after", "reason", "reverts",
               "reverted_by")
_META_KEYS = ("graph", "graph_version", "graph_base")
_MATCH_TABLES = {  # table: (columns, order)
    "match_proposals": (("id", "run_id", "competitor", "listing_key", "listing", "product_id",
                         "score", "rank", "features", "status", "decided_by", "decided_at",
                         "audit_id", "reason", "created_at"), "id"),
    "match_labels": (("competitor", "listing_key", "product_id", "label", "listing", "product",
                      "actor", "at", "proposal_id"), "competitor, listing_key, product_id"),
}


class MigrationError(RuntimeError):
    """The migration cannot run (missing source, non-empty target, unstorable row)."""


def copy_rows(src: Connection, dst: Connection, table: str, columns: Sequence[str],
              order_by: str, *, batch: int = 5000, check: Any = None) -> int:
    """Copy ``columns`` of every row of ``table`` from ``src`` to ``dst`` in ``order_by``
    order, inside the caller's transactions; ``check(row)`` may refuse a row. Row count."""
    cols = ", ".join(columns)
    marks = ", ".join("?" * len(columns))
    rows = src.execute(f"SELECT {cols} FROM {table} ORDER BY {order_by}").fetchall()
    for i in range(0, len(rows), batch):
        part = rows[i:i + batch]
        if check is not None:
            for r in part:
                check(r)
        dst.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", part)
    return len(rows)


def _edge_key_check(target: str | Path) -> Any:
    if not is_postgres(target):
        return None

    def check(row: tuple) -> None:
        if not isinstance(row[3], str):
            raise MigrationError(f"edge {row[1]!r}->{row[2]!r} has key {row[3]!r}: a "
                                 f"PostgreSQL store keeps edge keys as text")
    return check


def reset_identity(conn: Connection, table: str, column: str = "id") -> None:
    """After rows were copied with their ids: the next id PostgreSQL hands out follows them."""
    if getattr(conn, "kind", "sqlite") == "postgresql":
        conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                     f"COALESCE((SELECT max({column}) FROM {table}), 0) + 1, false)")


def migrate_graph(source: str | Path, target: str | Path) -> dict[str, int]:
    """Copy the graph store ``source`` (nodes, edges, audit trail, versions) to the empty
    store ``target``; returns the rows copied per table."""
    source, target = normalize(source), normalize(target)
    if str(source) == str(target):
        raise MigrationError("source and target are the same store")
    if not store_exists(source):
        raise MigrationError(f"no graph store at {describe(source)}")
    with GraphStore(source) as src, GraphStore(target) as dst:
        for st in (src, dst):
            ensure_audit_schema(st.conn)
            ensure_match_schema(st.conn)
        n_dst = dst.counts()
        has = dst.conn.execute("SELECT count(*) FROM audit").fetchone()[0]
        props = dst.conn.execute("SELECT count(*) FROM match_proposals").fetchone()[0]
        if n_dst["nodes"] or n_dst["edges"] or has or props:
            raise MigrationError(f"{describe(target)} already holds a graph ({n_dst['nodes']} "
                                 f"nodes, {has} audit entries, {props} match proposals): "
                                 f"migrate into an empty store")
        src.conn.execute("BEGIN")  # one snapshot of the source
        dst.conn.execute("BEGIN IMMEDIATE")
        try:
            out = {"nodes": copy_rows(src.conn, dst.conn, "nodes", _NODE_COLS,
                                      "seq" if src.kind == "postgresql" else "rowid")}
            out["edges"] = copy_rows(src.conn, dst.conn, "edges", _EDGE_COLS, "id",
                                     check=_edge_key_check(target))
            # reverted_by points forward: rows first, the links once every row is there.
            rows = src.conn.execute(f"SELECT {', '.join(_AUDIT_COLS)} FROM audit "
                                    f"ORDER BY id").fetchall()
            marks = ", ".join("?" * len(_AUDIT_COLS))
            dst.conn.executemany(f"INSERT INTO audit ({', '.join(_AUDIT_COLS)}) VALUES "
                                 f"({marks})", [tuple(r[:-1]) + (None,) for r in rows])
            dst.conn.executemany("UPDATE audit SET reverted_by=? WHERE id=?",
                                 [(r[-1], r[0]) for r in rows if r[-1] is not None])
            out["audit"] = len(rows)
            for table, (cols, order) in _MATCH_TABLES.items():
                out[table] = copy_rows(src.conn, dst.conn, table, cols, order)
            meta = dict(src.conn.execute("SELECT key, value FROM meta").fetchall())
            out["meta"] = 0
            for key in _META_KEYS:
                if key in meta:
                    dst.conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                                     (key, meta[key]))
                    out["meta"] += 1
            for table in ("edges", "audit", "match_proposals"):
                reset_identity(dst.conn, table)
            reset_identity(dst.conn, "nodes", "seq")
            dst.conn.execute("COMMIT")
        except BaseException:
            if dst.conn.in_transaction:
                dst.conn.execute("ROLLBACK")
            raise
        finally:
            if src.conn.in_transaction:
                src.conn.execute("ROLLBACK")
        copied = dst.counts()
        if (copied["nodes"], copied["edges"]) != (out["nodes"], out["edges"]):
            raise MigrationError(f"copied {out} but the target counts {copied}")
    return out
