"""Tests for graph.audit: run with `.venv/bin/pytest tests/test_audit.py -q` (~2 s)."""
from __future__ import annotations

import sqlite3

import networkx as nx
import pytest

from graph.audit import (
    AUDIT_SCHEMA_VERSION,
    AuditSchemaError,
    EdgeChange,
    NodeChange,
    changes_of,
    ensure_audit_schema,
    images,
    list_entries,
    read_entry,
    same_image,
    stamp_of,
    write_entry,
)
from graph.schema import SCHEMA_VERSION
from graph.store import GraphStore


def tiny() -> nx.MultiDiGraph:
    g = nx.MultiDiGraph(schema_version=SCHEMA_VERSION)
    g.add_node("brand:boat", type="brand", name="boAt", inferred=False)
    g.add_node("product:a", type="product", name="A", title="A", price=3.0)
    g.add_edge("product:a", "brand:boat", key="made_by", type="made_by", inferred=False)
    return g


def img(nid: str, version: int = 1, **attrs) -> dict:
    return {"id": nid, "type": "brand", "name": "boAt", "attrs": attrs, "provenance": "s",
            "updated_at": "2024-01-01T00:00:00+00:00", "version": version}


def test_migration_adds_table_and_index_and_keeps_graph_schema(tmp_path):
    path = tmp_path / "g.sqlite"
    with GraphStore(path) as store:                       # a store from before curation
        store.save(tiny())
        assert ensure_audit_schema(store.conn) == 0       # found none, created the latest
        assert ensure_audit_schema(store.conn) == AUDIT_SCHEMA_VERSION   # idempotent
        meta = dict(store.conn.execute("SELECT key, value FROM meta"))
        assert meta["audit_schema_version"] == str(AUDIT_SCHEMA_VERSION)
        assert meta["schema_version"] == str(SCHEMA_VERSION)              # untouched
        names = {r[0] for r in store.conn.execute("SELECT name FROM sqlite_master")}
        assert {"audit", "edges_dst_type"} <= names
        write_entry(store.conn, at="t", actor="a", op="x", params={}, nodes=[], edges=[],
                    reason=None)
        store.save(tiny())                                # a re-ingest keeps trail and index
        names = {r[0] for r in store.conn.execute("SELECT name FROM sqlite_master")}
        assert {"audit", "edges_dst_type"} <= names
        assert store.conn.execute("SELECT count(*) FROM audit").fetchone()[0] == 1
    with GraphStore(path) as store:                       # GraphStore still opens it
        assert store.load().number_of_edges() == 1


def test_v1_trail_migrates_to_v2_with_idempotency_keys(tmp_path):
    from graph.audit import _DDL_V1, find_idempotent

    path = tmp_path / "g.sqlite"
    with GraphStore(path) as store:                       # a store with a v1 audit table
        store.save(tiny())
        store.conn.executescript(_DDL_V1)
        store.conn.execute("INSERT INTO meta VALUES ('audit_schema_version', '1')")
        store.conn.execute("INSERT INTO audit (at, actor, op, params, before, after) VALUES "
                           "('t', 'a', 'x', '{}', '{}', '{}')")
        store.conn.commit()
        assert ensure_audit_schema(store.conn) == 1
        assert read_entry(store.conn, 1).op == "x"        # the old trail is kept
        eid = write_entry(store.conn, at="t", actor="a", op="y", params={}, nodes=[], edges=[],
                          reason=None, idempotency_key="k1", request_digest="d")
        assert find_idempotent(store.conn, "k1") == (eid, "a", "d")
        assert find_idempotent(store.conn, "k2") is None
        with pytest.raises(sqlite3.IntegrityError):       # a key is used once
            write_entry(store.conn, at="t", actor="a", op="y", params={}, nodes=[], edges=[],
                        reason=None, idempotency_key="k1")


def test_newer_audit_schema_is_refused(tmp_path):
    path = tmp_path / "g.sqlite"
    with GraphStore(path) as store:
        ensure_audit_schema(store.conn)
        store.conn.execute("UPDATE meta SET value=? WHERE key='audit_schema_version'",
                           (str(AUDIT_SCHEMA_VERSION + 1),))
        with pytest.raises(AuditSchemaError, match=f"version {AUDIT_SCHEMA_VERSION + 1}"):
            ensure_audit_schema(store.conn)


def test_dropped_index_is_recreated(tmp_path):
    with GraphStore(tmp_path / "g.sqlite") as store:
        ensure_audit_schema(store.conn)
        store.conn.execute("DROP INDEX edges_dst_type")
        ensure_audit_schema(store.conn)
        assert store.conn.execute("SELECT 1 FROM sqlite_master WHERE name='edges_dst_type'"
                                  ).fetchone()


def test_images_and_stamps():
    a = img("brand:boat", 1, inferred=False)
    assert same_image(a, dict(a)) and same_image(None, None)
    assert not same_image(a, None) and not same_image(None, a)
    assert not same_image(a, img("brand:boat", 2, inferred=False))
    assert not same_image(a, img("brand:boat", 1, inferred=True))
    s = stamp_of(a)
    assert set(s) == {"id", "type", "version", "updated_at", "stamp"}
    assert same_image(s, {**a, "updated_at": "later", "provenance": "x"})   # content + version
    assert not same_image(s, img("brand:boat", 2, inferred=False))
    assert not same_image(s, {**a, "name": "BOAT"})
    nan = img("brand:boat", 1, score=float("nan"))
    assert same_image(nan, img("brand:boat", 1, score=float("nan")))       # NaN equals NaN


def test_entries_write_read_list(tmp_path):
    with GraphStore(tmp_path / "g.sqlite") as store:
        c = store.conn
        ensure_audit_schema(c)
        odd = "brand:50%_off"                         # LIKE wildcards inside an id
        n1 = NodeChange("brand:boat", "brand", "updated", img("brand:boat"),
                        img("brand:boat", 2, inferred=True))
        e1 = EdgeChange("product:a", "brand:boat", "made_by", "made_by", "added", None,
                        {"src": "product:a", "dst": "brand:boat", "key": "made_by",
                         "type": "made_by", "attrs": {}, "provenance": "curator:x",
                         "updated_at": "t"})
        first = write_entry(c, at="2024-01-01T00:00:00+00:00", actor="alice", op="update_node",
                            params={"node": "brand:boat"}, nodes=[n1], edges=[e1],
                            reason="why")
        second = write_entry(c, at="2024-01-02T00:00:00+00:00", actor="bob", op="add_brand",
                             params={}, nodes=[NodeChange(odd, "brand", "added", None,
                                                          img(odd))], edges=[], reason=None)
        third = write_entry(c, at="2024-01-03T00:00:00+00:00", actor="bob", op="revert",
                            params={"audit_id": first}, nodes=[], edges=[], reason=None,
                            reverts=first)
        e = read_entry(c, first)
        assert (e.actor, e.op, e.reason, e.reverted_by) == ("alice", "update_node", "why", third)
        assert e.node_changes == [n1] and e.edge_changes == [e1]
        assert e.to_dict(images=False).keys() == {"id", "at", "actor", "op", "params", "reason",
                                                  "reverts", "reverted_by"}
        assert read_entry(c, third).reverts == first
        assert [x.id for x in list_entries(c)] == [third, second, first]
        assert [x.id for x in list_entries(c, node="product:a")] == [first]  # via its edge
        assert [x.id for x in list_entries(c, node=odd)] == [second]
        assert list_entries(c, node="brand:50x_off") == []                  # no wildcard match
        assert [x.id for x in list_entries(c, op="revert")] == [third]
        assert [x.id for x in list_entries(c, before_id=third, limit=1)] == [second]
        with pytest.raises(KeyError, match="#42"):
            read_entry(c, 42)


def test_changes_round_trip_through_images():
    n = [NodeChange("a", "brand", "removed", img("a"), None)]
    e = [EdgeChange("x", "a", 0, "similar_to", "removed", {"type": "similar_to"}, None)]
    before, after = images(n, e)
    assert after["nodes"] == {"a": None}
    nodes, edges = changes_of(before, after)
    assert nodes == n and edges == e and isinstance(edges[0].key, int)


def test_audit_is_rolled_back_with_its_transaction(tmp_path):
    with GraphStore(tmp_path / "g.sqlite") as store:
        c = store.conn
        ensure_audit_schema(c)
        c.execute("BEGIN IMMEDIATE")
        write_entry(c, at="t", actor="a", op="x", params={}, nodes=[], edges=[], reason=None)
        c.execute("ROLLBACK")
        assert c.execute("SELECT count(*) FROM audit").fetchone()[0] == 0
        with pytest.raises(sqlite3.IntegrityError):
            c.execute("INSERT INTO audit (at, actor, op, params, before, after) VALUES "
                      "('t', NULL, 'x', '{}', '{}', '{}')")
