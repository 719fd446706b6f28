"""Bring a loaded graph up to its store: replay the curation operations committed since it was
loaded, from the audit trail (or reload it after a full save).

Use::

    from graph.sync import graph_version, catch_up
    with GraphStore(location) as store:
        if graph_version(store.conn) != loaded_version(g).version:   # cheap: one row
            g = catch_up(g, store)          # a NEW graph; g itself is left untouched

Every committed curation operation writes one audit entry and bumps ``meta.graph_version``
in the same transaction (:func:`graph.store.bump_graph_version`); a full save bumps it too and
sets ``meta.graph_base``. So a graph loaded at version v (:func:`graph.store.loaded_version`)
is brought to the store's version by replaying, in id order, the audit entries after the
newest one it had - each entry holds the before/after images of everything it touched
(:func:`graph.curation_tx.apply_changes`). Writers are serialised, so ids follow commit order.
A save after v (``graph_base > v``) or a graph of unknown version means a full reload.

Replaying is done on a copy: requests in flight keep reading the graph they started with.
"""
from __future__ import annotations

import json

import networkx as nx

from graph.audit import changes_of
from graph.curation_tx import apply_changes
from graph.db import Connection
from graph.store import GraphStore, loaded_version, mark_loaded, read_version


def graph_version(conn: Connection) -> int:
    """The store's graph version (0 for a store from before versions)."""
    row = conn.execute("SELECT value FROM meta WHERE key='graph_version'").fetchone()
    return int(row[0]) if row else 0


def catch_up(g: nx.MultiDiGraph, store: GraphStore) -> nx.MultiDiGraph:
    """``g`` brought to the store's current version: ``g`` itself when it is current, else a
    new graph (``loaded_version`` of it is the version it now matches)."""
    conn = store.conn
    own = not conn.in_transaction
    if own:
        conn.execute("BEGIN")  # the version and the entries from one snapshot
    try:
        now = read_version(conn)
        have = loaded_version(g)
        if have is not None and have.version == now.version:
            return g
        if have is None or now.base > have.version or now.audit_head < have.audit_head:
            return store.load()  # inside this snapshot; registers its version
        new = g.copy()
        for before, after in conn.execute("SELECT before, after FROM audit WHERE id > ? AND "
                                          "id <= ? ORDER BY id",
                                          (have.audit_head, now.audit_head)).fetchall():
            nodes, edges = changes_of(json.loads(before), json.loads(after))
            apply_changes(new, nodes, edges)
        mark_loaded(new, now)
        return new
    finally:
        if own and conn.in_transaction:
            conn.execute("ROLLBACK")
