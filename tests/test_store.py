"""Tests for graph.store: run with `.venv/bin/pytest tests/test_store.py -q`.

The round trip, replace, failed-save and version tests run on SQLite and on a throwaway
PostgreSQL server (``store_location``, tests/conftest.py); file-level checks are SQLite's.
"""
from __future__ import annotations

import sqlite3

import networkx as nx
import pandas as pd
import pytest

from graph.adapters import load_path
from graph.build import build_graph
from graph.contracts import Catalog
from graph.io import graph_diff
from graph.schema import SCHEMA_VERSION
from graph.store import GraphStore, SchemaVersionError, bump_graph_version, loaded_version


def built_graph() -> nx.MultiDiGraph:
    products = pd.DataFrame({
        "product_id": ["a", "b", "c"],
        "title": ["Boat Rockerz", "boAt Airdopes", "Mug"],
        "category_path": ["Audio > Headphones", "Audio > Earbuds", None],
        "brand": ["boAt", "Bo-At", None],
        "brand_inferred": [True, False, None],
        "price": [1499.0, 999.0, 5.5],
        "rating_count": [10.0, None, 3.0],
        "source": ["s1", "s1", "s2"],
    })
    offers = pd.DataFrame({"product_id": ["a", "a"], "competitor": ["X", "X"],
                           "price": [1400.0, 1450.0], "observed_at": ["2023-01", "2023-02"],
                           "source": ["s3", "s3"]})
    reviews = pd.DataFrame({"product_id": ["a"], "review_id": ["R9"], "text": ["good"],
                            "source": ["s4"]})
    return build_graph(Catalog(products=products, offers=offers, reviews=reviews))


def odd_graph(int_key: bool = True) -> nx.MultiDiGraph:
    """Every attribute type the store must give back unchanged."""
    g = nx.MultiDiGraph(schema_version=SCHEMA_VERSION, tags=["a", "b"], nested={"x": [1, 2.5]})
    g.add_node("n:1", type="product", name="Ünïcode ✓ \r\n\t\x01 'quoted'", flag=True,
               count=3, price=3.0, big=2**40, tiny=1e-300, missing=None, lst=[1, "2", None],
               d={"k": False}, provenance="p", updated_at="2024-01-01T00:00:00+00:00")
    g.add_node("n:2", type="brand", name=5, provenance=None, inferred=False)  # odd name type
    g.add_node("n:3", type="category")
    g.add_edge("n:1", "n:2", key="made_by", type="made_by", inferred=False, provenance="p")
    g.add_edge("n:1", "n:2", key="offers@2023-01", type="offers", price=1.0, url="")
    if int_key:
        g.add_edge("n:2", "n:3", key=0, type="similar_to", weight=0.5)  # integer key
    g.add_edge("n:2", "n:3", key="0", type="similar_to", weight=1)  # string key "0"
    return g


def text_keys_graph() -> nx.MultiDiGraph:
    return odd_graph(int_key=False)


@pytest.mark.parametrize("make", [built_graph, odd_graph, text_keys_graph])
def test_round_trip_is_lossless(store_location, make):
    g = make()
    pg = isinstance(store_location, str)
    if pg and make is odd_graph:  # PostgreSQL keeps edge keys as text: refused, not mangled
        with GraphStore(store_location) as store, pytest.raises(TypeError, match="key"):
            store.save(g)
        return
    with GraphStore(store_location) as store:
        store.save(g)
    with GraphStore(store_location) as store:
        back = store.load()
    assert graph_diff(g, back) == []
    assert list(back.nodes) == list(g.nodes)  # order kept
    assert list(back.edges(keys=True)) == list(g.edges(keys=True))
    if make is not built_graph:
        assert type(back.nodes["n:2"]["name"]) is int and back.nodes["n:2"]["provenance"] is None


def test_save_replaces_previous_graph(store_location):
    with GraphStore(store_location) as store:
        store.save(built_graph())
        small = text_keys_graph()
        store.save(small)
        assert store.counts() == {"nodes": 3, "edges": 3}
        assert graph_diff(small, store.load()) == []
        assert store.node_version("n:1") == 1 and store.node_version("zzz") is None


def test_failed_save_keeps_old_graph(store_location):
    g = built_graph()
    bad = text_keys_graph()
    bad.add_edge("n:1", "ghost", key="k")  # networkx creates an untyped node "ghost"
    with GraphStore(store_location) as store:
        store.save(g)
        with pytest.raises(ValueError, match="ghost"):
            store.save(bad)
        bad2 = text_keys_graph()
        bad2.nodes["n:3"]["obj"] = object()
        with pytest.raises(TypeError, match="n:3"):
            store.save(bad2)
        assert graph_diff(g, store.load()) == []


def test_graph_version_moves_with_saves_and_commits(store_location):
    """Each save is a new base; a committed bump (curation's) moves the version only; a
    loaded graph remembers the version it was read at."""
    with GraphStore(store_location) as store:
        v0 = store.version()
        assert (v0.version, v0.base, v0.audit_head) == (0, 0, 0)
        store.save(built_graph())
        g = store.load()
        assert loaded_version(g) == store.version() and store.version().base == 1
        c = store.conn
        c.execute("BEGIN IMMEDIATE")
        bump_graph_version(c)
        c.execute("ROLLBACK")                       # a rolled-back edit leaves no trace
        assert store.version().version == 1
        c.execute("BEGIN IMMEDIATE")
        bump_graph_version(c)
        c.execute("COMMIT")
        assert (store.version().version, store.version().base) == (2, 1)
        assert loaded_version(g).version == 1       # g is now behind
        store.save(built_graph())
        assert (store.version().version, store.version().base) == (3, 3)
    assert loaded_version(built_graph()) is None    # not from a store


def test_one_schema_gives_both_backends_the_same_tables(tmp_path, pg_url):
    """graph.store.schema_ddl: the same tables and columns on both backends, PostgreSQL's
    identity ``nodes.seq`` (SQLite's rowid) aside; edge keys untyped on SQLite, text on
    PostgreSQL."""
    def columns(conn, table: str, sql: str) -> list[str]:
        return [r[0] for r in conn.execute(sql, (table,)).fetchall()]

    with GraphStore(tmp_path / "g.sqlite") as lite, GraphStore(pg_url) as pg:
        for table in ("meta", "nodes", "edges"):
            a = columns(lite.conn, table, "SELECT name FROM pragma_table_info(?) ORDER BY cid")
            b = columns(pg.conn, table, "SELECT column_name FROM information_schema.columns "
                                        "WHERE table_name = ? ORDER BY ordinal_position")
            assert [c for c in b if c != "seq"] == a, table
        assert "seq" in columns(pg.conn, "nodes", "SELECT column_name FROM "
                                "information_schema.columns WHERE table_name = ?")
        key_type = dict(lite.conn.execute("SELECT name, type FROM pragma_table_info('edges')"))
        assert key_type["key"] == ""
        assert pg.conn.execute("SELECT data_type FROM information_schema.columns WHERE "
                               "table_name='edges' AND column_name='key'").fetchone()[0] == "text"


def test_postgres_store_refuses_bad_urls_clearly(pg_server):
    with pytest.raises(sqlite3.OperationalError, match="nosuchdb"):
        GraphStore(pg_server.url("nosuchdb"))
    with pytest.raises(ValueError, match="mysql"):
        GraphStore("mysql://x@y/z")


def test_wal_and_foreign_keys(tmp_path):
    with GraphStore(tmp_path / "g.sqlite") as store:
        store.save(built_graph())
        c = store.conn
        assert c.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert c.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        with pytest.raises(sqlite3.IntegrityError):  # no dangling edges
            c.execute("INSERT INTO edges (src, dst, key, type) VALUES ('product:a', 'nope', "
                      "'x', 'made_by')")
        with pytest.raises(sqlite3.IntegrityError):  # nor silently cascaded deletes
            c.execute("DELETE FROM nodes WHERE id='product:a'")
        idx = {r[1] for r in c.execute("SELECT * FROM sqlite_master WHERE type='index'")}
        assert {"nodes_type", "edges_dst", "edges_type"} <= idx


def test_schema_version_check(tmp_path):
    path = tmp_path / "g.sqlite"
    with GraphStore(path) as store:
        assert store.schema_version == SCHEMA_VERSION
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION + 1),))
    conn.commit()
    conn.close()
    with pytest.raises(SchemaVersionError, match=f"schema version {SCHEMA_VERSION + 1}"):
        GraphStore(path)


def test_not_a_database(tmp_path):
    path = tmp_path / "junk.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(sqlite3.DatabaseError, match="junk.sqlite"):
        GraphStore(path)


def test_only_multidigraphs(tmp_path):
    with GraphStore(tmp_path / "g.sqlite") as store, pytest.raises(TypeError):
        store.save(nx.DiGraph())


def test_demo_round_trip(tmp_path, demo_dir):
    g = build_graph(load_path(demo_dir))
    with GraphStore(tmp_path / "demo.sqlite") as store:
        store.save(g)
        assert store.counts() == {"nodes": g.number_of_nodes(), "edges": g.number_of_edges()}
        assert graph_diff(g, store.load()) == []
