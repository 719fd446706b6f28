"""Match proposals and curator labels in the graph store: every test runs on a SQLite file and
on a throwaway PostgreSQL database (the ``store_location`` fixture, tests/conftest.py)."""
from __future__ import annotations

import sqlite3

import pytest

from graph.match_store import MatchStore, Proposal
from graph.store import GraphStore


@pytest.fixture
def ms(store_location):
    with GraphStore(store_location) as st:
        yield MatchStore(st.conn)


def prop(product: str = "P1", score: float = 0.9, status: str = "pending", key: str = "id:1"):
    return Proposal("run1", "ShopX", key, {"title": "Mouse", "price": 10.0}, product, score, 1,
                    {"code_shared": 1.5}, status)


def test_upsert_find_queue_counts(ms):
    a = ms.upsert(prop("P1", 0.9))
    b = ms.upsert(prop("P2", 0.95))
    ms.upsert(prop("P3", 0.99, "linked", key="id:2"))
    assert [p.id for p in ms.queue()] == [b, a]           # best first, pending only
    assert ms.get(a).features == {"code_shared": 1.5} and ms.get(a).listing["title"] == "Mouse"
    assert ms.counts() == {"pending": 2, "linked": 1}
    assert ms.link_of("ShopX", "id:2").product_id == "P3" and ms.link_of("ShopX", "id:1") is None
    # the same pair again refreshes the score, keeps one row
    assert ms.upsert(prop("P1", 0.5)) == a and ms.get(a).score == 0.5
    with pytest.raises(KeyError):
        ms.get(999)
    with pytest.raises(ValueError, match="status"):
        ms.upsert(prop(status="maybe"))


def test_decided_status_survives_a_new_run(ms):
    a = ms.upsert(prop("P1"))
    ms.decide(a, "rejected", actor="alice", reason="colour")
    again = ms.upsert(prop("P1", 0.99, "linked"))
    assert again == a
    p = ms.get(a)
    assert (p.status, p.decided_by, p.reason, p.score) == ("rejected", "alice", "colour", 0.99)
    with pytest.raises(KeyError):
        ms.decide(12345, "confirmed", actor="x")


def test_supersede_and_mark_reverted(ms):
    a, b = ms.upsert(prop("P1")), ms.upsert(prop("P2"))
    ms.decide(a, "confirmed", actor="bob", audit_id=7)
    assert ms.supersede_others("ShopX", "id:1", a, "bob") == 1
    assert ms.get(b).status == "superseded"
    assert ms.mark_reverted({7}) == 1 and ms.get(a).status == "reverted"
    assert ms.mark_reverted(set()) == 0


def test_labels_and_rejections(ms):
    ms.add_label("ShopX", "id:1", "P1", 0, listing={"title": "a"}, product={"title": "b"},
                 actor="alice")
    ms.add_label("ShopX", "id:1", "P2", 1, listing={"title": "a"}, product={"title": "c"},
                 actor="alice")
    assert ms.is_rejected("ShopX", "id:1", "P1") and not ms.is_rejected("ShopX", "id:1", "P2")
    assert ms.rejected_products("ShopX", "id:1") == {"P1"}
    # a later verdict on the same pair replaces the earlier one
    ms.add_label("ShopX", "id:1", "P1", 1, listing={}, product={}, actor="bob")
    assert not ms.is_rejected("ShopX", "id:1", "P1")
    assert sorted((lab.product_id, lab.label, lab.actor) for lab in ms.labels()) == [
        ("P1", 1, "bob"), ("P2", 1, "alice")]
    with pytest.raises(ValueError):
        ms.add_label("ShopX", "id:1", "P1", 2, listing={}, product={}, actor="x")
    with pytest.raises(sqlite3.IntegrityError):
        ms.conn.execute("INSERT INTO match_labels VALUES ('a','b','c',5,'{}','{}','x','t',NULL)")


def test_tables_come_from_one_definition(store_location):
    with GraphStore(store_location) as st:
        MatchStore(st.conn)
        MatchStore(st.conn)                       # a second open finds them: no error
        names = {r[0] for r in st.conn.execute("SELECT name FROM sqlite_master")}
        assert {"match_proposals", "match_labels", "match_proposals_status",
                "match_proposals_listing"} <= names
        ms = MatchStore(st.conn)
        a = ms.upsert(prop("P1", 0.123456789012))
        assert ms.get(a).score == 0.123456789012  # 8-byte floats on both backends
        assert ms.upsert(prop("P2")) == a + 1     # ids count up from the first
    # the tables stay with the store: a new connection reads what the first wrote
    with GraphStore(store_location) as st:
        assert [p.product_id for p in MatchStore(st.conn).queue()] == ["P2", "P1"]
