"""Tests for graph.sync: run with `.venv/bin/pytest tests/test_sync.py -q` (~15 s).

A graph loaded by one process is brought up to edits another committed - replayed from the
audit trail, a revert included - and equals a fresh load; a full save means a reload. On
SQLite and PostgreSQL.
"""
from __future__ import annotations

from graph.curation import Curator
from graph.io import graph_diff
from graph.store import GraphStore, loaded_version
from graph.sync import catch_up, graph_version
from tests.test_curation import small_graph


def test_catch_up_replays_edits_and_reverts(store_location):
    with GraphStore(store_location) as store:
        store.save(small_graph())
    with GraphStore(store_location) as mine, Curator(store_location, actor="other") as cur:
        g = mine.load()
        v0 = loaded_version(g)
        assert catch_up(g, mine) is g                       # current: nothing to do
        r1 = cur.rename_node("brand:boat", "boAt Lifestyle")
        cur.link_category("product:f", "Home > Kitchen")
        cur.add_offer("Y", "product:c", price=4.5, currency="INR", observed_at="2023-05")
        assert graph_version(mine.conn) == v0.version + 3
        g2 = catch_up(g, mine)
        assert g2 is not g and "brand:boat" in g            # g itself is left alone
        fresh = mine.load()
        assert graph_diff(fresh, g2) == []
        assert loaded_version(g2).version == v0.version + 3
        cur.revert(r1.audit_id, reason="wrong name")
        g3 = catch_up(g2, mine)
        assert graph_diff(mine.load(), g3) == [] and "brand:boat" in g3
        assert g3.nodes["brand:boat"]["name"] == "boAt"
        # a full save is a new base: no replay leads there, the graph is reloaded
        other = small_graph()
        other.remove_node("product:f")
        with GraphStore(store_location) as s:
            s.save(other)
        g4 = catch_up(g3, mine)
        assert graph_diff(other, g4) == [] and "product:f" not in g4


def test_a_graph_of_unknown_version_is_reloaded(store_location):
    with GraphStore(store_location) as store:
        store.save(small_graph())
        g = small_graph()                                   # built here, not loaded
        assert loaded_version(g) is None
        g2 = catch_up(g, store)
        assert g2 is not g and loaded_version(g2) == store.version()
