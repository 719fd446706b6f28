"""Tests for graph.curation: run with `.venv/bin/pytest tests/test_curation.py -q` (~20 s).

Every operation, every rule with bad input, audit records, undo (and refused undo),
optimistic conflicts between two curators, dry-run previews, bulk import, and a bulk import
killed with SIGKILL half-way.

The curation code is written once, in SQLite's dialect (graph.db speaks it to PostgreSQL):
tests marked ``@BOTH`` run on SQLite and on a throwaway PostgreSQL database (the ``backend``
parameter; the server is the session's, tests/conftest.py), the rest on SQLite only.
"""
from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import networkx as nx
import pandas as pd
import pytest

from graph.build import build_graph
from graph.contracts import Catalog
from graph.curation import (
    ConflictError,
    CurationError,
    Curator,
    RevertError,
    apply_changes,
)
from graph.db import connect, is_postgres
from graph.io import graph_diff
from graph.products import product_table
from graph.store import GraphStore

ROOT = Path(__file__).resolve().parents[1]


def small_graph() -> nx.MultiDiGraph:
    products = pd.DataFrame({
        "product_id": ["a", "b", "c", "d", "e", "f"],
        "title": ["Boat Rockerz", "boAt Airdopes", "Mug", "Kettle", "Cup", "Plate"],
        "category_path": ["Audio > Headphones", "Audio > Earbuds", "Home > Kitchen",
                          "Home > Kitchen", "Home > Kitchen", None],
        "brand": ["boAt", "Bo At", "Acme", "Acme", "Acme", None],
        "price": [1499.0, 999.0, 5.5, 20.0, 6.0, 3.0],
        "currency": ["INR"] * 6,
        "source": ["s1"] * 6,
    })
    offers = pd.DataFrame({"product_id": ["a", "a", "c"], "competitor": ["X", "X", "Y"],
                           "price": [1400.0, 1450.0, 5.0], "currency": ["INR"] * 3,
                           "observed_at": ["2023-01", "2023-02", "2023-01"],
                           "source": ["s3"] * 3})
    reviews = pd.DataFrame({"product_id": ["a"], "review_id": ["R1"], "text": ["good"],
                            "source": ["s4"]})
    return build_graph(Catalog(products=products, offers=offers, reviews=reviews),
                       updated_at="2024-01-01T00:00:00+00:00")


MAX_PG_STATEMENTS_PER_ROW = 8
# Run a test on both backends (overrides the ``backend`` fixture below).
BOTH = pytest.mark.parametrize("backend", ["sqlite", "postgresql"])


@pytest.fixture()
def backend() -> str:
    return "sqlite"


@pytest.fixture()
def db(backend, request, tmp_path) -> str | Path:
    """A store holding :func:`small_graph`: a SQLite file, or a new PostgreSQL database."""
    location = request.getfixturevalue("pg_url") if backend == "postgresql" else (
        tmp_path / "g.sqlite")
    with GraphStore(location) as store:
        store.save(small_graph())
    return location


@pytest.fixture()
def cur(db):
    with Curator(db, actor="alice") as c:
        yield c


def loaded(cur: Curator) -> nx.MultiDiGraph:
    return cur.store.load()


def table(cur: Curator) -> pd.DataFrame:
    return product_table(loaded(cur)).set_index("product_id")


def n_audit(cur: Curator) -> int:
    return cur.conn.execute("SELECT count(*) FROM audit").fetchone()[0]


def assert_consistent(location: str | Path) -> None:
    pg = is_postgres(location)  # PostgreSQL checks its foreign keys itself, always
    conn = connect(location)
    try:
        if not pg:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        dangling = conn.execute("SELECT count(*) FROM edges WHERE src NOT IN (SELECT id FROM "
                                "nodes) OR dst NOT IN (SELECT id FROM nodes)").fetchone()[0]
        assert dangling == 0
    finally:
        conn.close()


# --------------------------------------------------------------------------- add

@BOTH
def test_add_category_brand_competitor_product(cur, db):
    r = cur.add_category("Garden > Tools", create_parents=True, reason="new range")
    assert {n.id for n in r.nodes} == {"category:Garden", "category:Garden > Tools"}
    assert r.audit_id is not None and r.versions["category:Garden > Tools"] == 1
    g = loaded(cur)
    assert g.nodes["category:Garden > Tools"]["path"] == "Garden > Tools"
    assert g.nodes["category:Garden > Tools"]["depth"] == 2
    assert g.has_edge("category:Garden > Tools", "category:Garden", "child_of")
    assert g.nodes["category:Garden"]["provenance"] == "curator:alice"

    cur.add_brand("Zed Tools")
    cur.add_competitor("Flipkart")
    r = cur.add_product("g", "Spade", category="garden > tools", brand="zed tools",
                        attrs={"price": "12.5", "currency": "inr", "description": "steel"})
    row = table(cur).loc["g"]
    assert (row.category_path, row.brand, row.price, row.currency) == (
        "Garden > Tools", "Zed Tools", 12.5, "INR")
    assert not row.brand_inferred
    assert_consistent(db)


@pytest.mark.parametrize("call, match", [
    (lambda c: c.add_category("Lawn > Mowers"), "parent category 'Lawn' .* does not exist"),
    (lambda c: c.add_category("Home > Kitchen > Pots"), "sub-categories and 3 product"),
    (lambda c: c.add_category("Audio > headphones"), "clashes with category"),
    (lambda c: c.add_category("Audio >  > X"), "empty level"),
    (lambda c: c.add_category("Home > Kitchen"), "already exists"),
    (lambda c: c.add_brand("BOAT"), "already exists as brand:boat"),
    (lambda c: c.add_brand("!!"), "no letters or digits"),
    (lambda c: c.add_brand(""), "non-empty"),
    (lambda c: c.add_competitor("x."), "clashes with competitor:X"),
    (lambda c: c.add_product("a", "Dup"), "product:a already exists"),
    (lambda c: c.add_product("g", "  "), "title must be a non-empty string"),
    (lambda c: c.add_product("g", "G", attrs={"price": -1}), "price must be greater than 0"),
    (lambda c: c.add_product("g", "G", attrs={"price": 0}), "price must be greater than 0"),
    (lambda c: c.add_product("g", "G", attrs={"price": "cheap"}), "price must be a number"),
    (lambda c: c.add_product("g", "G", attrs={"price": float("nan")}), "finite"),
    (lambda c: c.add_product("g", "G", attrs={"price": True}), "price must be a number"),
    (lambda c: c.add_product("g", "G", attrs={"currency": "XYZ"}), "ISO 4217"),
    (lambda c: c.add_product("g", "G", attrs={"cost": -2}), "cost must be at least 0"),
    (lambda c: c.add_product("g", "G", attrs={"rating": 7}), "rating must be at most 5"),
    (lambda c: c.add_product("g", "G", attrs={"type": "brand"}), "reserved"),
    (lambda c: c.add_product("g", "G", attrs={"tags": [1, 2]}), "string, number or boolean"),
    (lambda c: c.add_product("g", "G", category="Home"), "not a leaf"),
    (lambda c: c.add_product("g", "G", category="Nowhere"), "no category 'Nowhere'"),
    (lambda c: c.add_product("g", "G", brand="Nobody"), "no brand 'nobody'"),
    # issue 19: the limits and rules ingest and the API apply (graph.contracts)
    (lambda c: c.add_product("product:X1", "G"), "node-type prefix"),
    (lambda c: c.add_product("Brand:X1", "G"), "node-type prefix"),
    (lambda c: c.add_product("x" * 201, "G"), "at most 200"),
    (lambda c: c.add_product("g\x00", "G"), "control character U\\+0000"),
    (lambda c: c.add_product("g", "G" * 2001), "at most 2,000"),
    (lambda c: c.add_product("g", "G", attrs={"description": "d" * 20_001}), "at most 20,000"),
    (lambda c: c.add_product("g", "G", attrs={"rating_count": 1e18}), "at most 1e\\+09"),
    (lambda c: c.add_product("g", "G", attrs={"price": 1e11}), "at most 1e\\+10"),
    (lambda c: c.add_product("g", "G", attrs={"note": "a\x00b"}), "control character"),
    (lambda c: c.add_product("g", "G", attrs={"n" * 201: 1}), "attribute name"),
    (lambda c: c.add_brand("bo\x00at"), "control character"),
    (lambda c: c.add_brand("b" * 201), "at most 200"),
    (lambda c: c.add_category("A > " + "b" * 201), "at most 200"),
    (lambda c: c.add_category(" > ".join(["level"] * 200)), "at most 1,000"),
    (lambda c: c.link_brand("a", "bo\x00at"), "control character"),
    (lambda c: c.rename_node("brand:boat", "b" * 201), "at most 200"),
    (lambda c: c.add_brand("Fine", reason="r" * 2001), "at most 2,000"),
])
def test_bad_input_is_refused_and_nothing_changes(cur, call, match):
    before = loaded(cur)
    with pytest.raises(CurationError, match=match):
        call(cur)
    assert graph_diff(before, loaded(cur)) == []
    assert n_audit(cur) == 0


def test_node_and_resolve(cur):
    assert cur.resolve("BO-AT", "brand") == "brand:boat"
    assert cur.resolve("home > KITCHEN", "category") == "category:Home > Kitchen"
    assert cur.resolve("x", "competitor") == "competitor:X"
    assert cur.resolve("product:c") == "product:c"
    with pytest.raises(CurationError, match="no brand 'nobody'"):
        cur.resolve("Nobody", "brand")
    n = cur.node("product:c")
    assert (n["type"], n["name"], n["version"], n["attrs"]["price"]) == ("product", "Mug", 1, 5.5)
    assert cur.node("product:zz") is None


def test_errors_name_node_and_field(cur):
    with pytest.raises(CurationError) as info:
        cur.update_node("product:c", {"price": -3})
    assert info.value.node == "product:c" and info.value.field == "price"
    assert isinstance(info.value, ValueError)
    with pytest.raises(CurationError, match="not a node id"):
        cur.update_node("boat", {"x": 1})


# --------------------------------------------------------------------------- update / rename

def test_update_node_sets_and_removes_attributes(cur):
    r = cur.update_node("product:c", {"price": 7, "cost": 2, "color": "red"}, expected=1)
    assert r.versions == {"product:c": 2}
    assert [n.action for n in r.nodes] == ["updated"]
    d = loaded(cur).nodes["product:c"]
    assert (d["price"], d["cost"], d["color"]) == (7.0, 2.0, "red")
    assert "curator:alice" in d["provenance"] and "s1" in d["provenance"]
    cur.update_node("product:c", {"color": None, "title": "Big mug"})
    d = loaded(cur).nodes["product:c"]
    assert "color" not in d and d["name"] == d["title"] == "Big mug"
    cur.update_node("brand:acme", {"inferred": True, "country": "IN"})
    assert loaded(cur).nodes["brand:acme"]["country"] == "IN"
    with pytest.raises(CurationError, match="reserved"):
        cur.update_node("category:Home", {"path": "Garden"})
    with pytest.raises(CurationError, match="inferred must be true or false"):
        cur.update_node("brand:acme", {"inferred": "yes"})
    with pytest.raises(CurationError, match="non-empty mapping"):
        cur.update_node("brand:acme", {})
    assert cur.update_node("product:c", {"price": 7}).audit_id is None  # no change, no entry


@BOTH
def test_rename_brand_competitor_product(cur):
    r = cur.rename_node("brand:acme", "ACME")           # same normalised name: same id
    assert [n.id for n in r.nodes] == ["brand:acme"] and not r.edges
    assert loaded(cur).nodes["brand:acme"]["name"] == "ACME"

    r = cur.rename_node("brand:acme", "Acme Home", expected=2)
    g = loaded(cur)
    assert "brand:acme" not in g and g.nodes["brand:acme home"]["name"] == "Acme Home"
    assert r.versions["brand:acme home"] == 3                 # the node's history continues
    assert set(table(cur).query("brand == 'Acme Home'").index) == {"c", "d", "e"}
    with pytest.raises(CurationError, match="merge the two instead"):
        cur.rename_node("brand:acme home", "bo-at")

    cur.rename_node("competitor:X", "Xpress")
    g = loaded(cur)
    assert g.has_edge("competitor:Xpress", "product:a", "offers@2023-02")
    with pytest.raises(CurationError, match="clashes with competitor"):
        cur.rename_node("competitor:Y", "XPRESS!")

    cur.rename_node("product:f", "Dinner plate")
    assert loaded(cur).nodes["product:f"]["title"] == "Dinner plate"
    with pytest.raises(CurationError, match="cannot be renamed"):
        cur.rename_node("review:R1", "x")


@BOTH
def test_rename_category_moves_its_subtree(cur, db):
    cur.rename_node("category:Audio", "Sound", reason="house style")
    g = loaded(cur)
    assert "category:Audio" not in g and "category:Audio > Earbuds" not in g
    assert g.nodes["category:Sound > Earbuds"]["path"] == "Sound > Earbuds"
    assert g.has_edge("category:Sound > Earbuds", "category:Sound", "child_of")
    t = table(cur)
    assert t.loc["a", "category_path"] == "Sound > Headphones"
    assert t.loc["b", "category_path"] == "Sound > Earbuds"
    assert cur.version("product:a") == 1       # membership unchanged: no conflict for others
    with pytest.raises(CurationError, match="without '>'"):
        cur.rename_node("category:Sound", "A > B")
    with pytest.raises(CurationError, match="already exists"):
        cur.rename_node("category:Sound > Earbuds", "Headphones")
    assert_consistent(db)


# --------------------------------------------------------------------------- delete

@BOTH
def test_delete_needs_cascade_and_never_dangles(cur, db):
    with pytest.raises(CurationError, match=r"still has edges \(3 made_by\).*cascade=True"):
        cur.delete_node("brand:acme")
    r = cur.delete_node("brand:acme", cascade=True)
    assert {e.src for e in r.edges} == {"product:c", "product:d", "product:e"}
    assert r.versions == {"product:c": 2, "product:d": 2, "product:e": 2}
    assert table(cur)["brand"].loc[["c", "d", "e"]].isna().all()

    with pytest.raises(CurationError, match="2 sub-categories"):
        cur.delete_node("category:Audio")
    with pytest.raises(CurationError, match="in_category"):
        cur.delete_node("category:Audio > Earbuds")
    cur.delete_node("category:Audio > Earbuds", cascade=True)
    assert pd.isna(table(cur).loc["b", "category_path"])

    r = cur.delete_node("product:a", cascade=True)
    g = loaded(cur)
    assert "product:a" not in g and "review:R1" not in g       # its review went with it
    assert "competitor:X" in g and g.degree("competitor:X") == 0
    cur.add_category("Home > Garden")
    cur.delete_node("category:Home > Garden")                # an empty leaf: no cascade needed
    assert_consistent(db)


# --------------------------------------------------------------------------- merge / reparent

def legacy_store(tmp_path, *edges: tuple[str, str, str]) -> Path:
    """The small graph plus hand-added made_by edges (data as it may arrive)."""
    g = small_graph()
    for u, v, k in edges:
        g.add_edge(u, v, key=k, type="made_by", inferred=False)
    path = tmp_path / "legacy.sqlite"
    with GraphStore(path) as store:
        store.save(g)
    return path


def test_merge_brands_moves_edges_and_drops_duplicates(tmp_path):
    # Legacy data: product b made by both spellings; once merged that is one link twice.
    path = legacy_store(tmp_path, ("product:b", "brand:boat", "made_by@legacy"))
    with Curator(path) as cur:
        cur.update_node("product:b", {"price": 990})      # legacy state does not block edits
        r = cur.merge_nodes("brand:bo at", "brand:boat", expected={"brand:boat": 1,
                                                                   "brand:bo at": 1})
        g2 = loaded(cur)
        assert "brand:bo at" not in g2
        assert [(u, v) for u, v, d in g2.out_edges("product:b", data=True)
                if d["type"] == "made_by"] == [("product:b", "brand:boat")]
        assert [(e.src, e.dst, e.action) for e in r.edges] == [
            ("product:b", "brand:bo at", "removed")]              # moved onto a duplicate
        assert r.versions == {"product:b": 3, "brand:boat": 2}
        assert g2.nodes["brand:boat"]["inferred"] is False
        assert_consistent(path)


def test_merge_that_leaves_two_brands_is_refused(tmp_path):
    path = legacy_store(tmp_path, ("product:b", "brand:acme", "made_by@legacy"))
    with Curator(path) as cur:
        with pytest.raises(CurationError, match="product:b has 2 brands"):
            cur.merge_nodes("brand:bo at", "brand:boat")
        cur.link_brand("b", "boat")                            # the fix: one brand again
        assert table(cur).loc["b", "brand"] == "boAt"


def test_legacy_product_in_inner_category_is_left_alone(tmp_path):
    g = small_graph()
    g.add_edge("product:f", "category:Home", key="in_category", type="in_category")
    path = tmp_path / "inner.sqlite"
    with GraphStore(path) as store:
        store.save(g)
    with Curator(path) as cur:
        cur.update_node("product:f", {"price": 4})            # unrelated edits still work
        renamed = cur.rename_node("category:Home", "House")   # moving edges adds nothing
        assert table(cur).loc["f", "category_path"] == "House"
        cur.revert(renamed.audit_id)                          # nor does moving them back
        assert table(cur).loc["f", "category_path"] == "Home"
        cur.rename_node("category:Home", "House")
        with pytest.raises(CurationError, match="not a leaf"):
            cur.link_category("c", "House")                   # but no new product goes there
        with pytest.raises(CurationError, match="sub-categories and 1 product"):
            cur.add_category("House > Garden")                # nor a new child under f
        cur.link_category("f", "House > Kitchen")             # the fix


def test_merge_categories(cur, db):
    r = cur.merge_nodes("category:Audio > Earbuds", "category:Audio > Headphones",
                        reason="one shelf")
    t = table(cur)
    assert t.loc["b", "category_path"] == "Audio > Headphones"
    assert "category:Audio > Earbuds" not in loaded(cur)
    assert r.versions["product:b"] == 2
    # a whole subtree merged into another root: children move under it
    cur.add_category("Home > Audio")
    cur.merge_nodes("category:Audio", "category:Home")
    g = loaded(cur)
    assert table(cur).loc["a", "category_path"] == "Home > Headphones"
    assert g.nodes["category:Home > Headphones"]["depth"] == 2
    assert_consistent(db)


@pytest.mark.parametrize("source, target, match", [
    ("category:Audio", "category:Audio > Earbuds", "own sub-category"),
    ("brand:acme", "category:Home", "cannot merge a brand"),
    ("competitor:X", "competitor:Y", "brands and categories"),
    ("brand:acme", "brand:acme", "into itself"),
    ("brand:nope", "brand:acme", "no brand 'nope'"),
])
def test_merge_refused(cur, source, target, match):
    with pytest.raises(CurationError, match=match):
        cur.merge_nodes(source, target)


@BOTH
def test_merge_categories_with_clashing_children_is_refused(cur):
    cur.add_category("Home > Headphones")
    with pytest.raises(CurationError, match="merge category:Audio > Headphones into"):
        cur.merge_nodes("category:Audio", "category:Home")


@BOTH
def test_reparent_category(cur, db):
    cur.add_category("Electronics")
    r = cur.reparent_category("Audio", "Electronics", expected=1)
    g = loaded(cur)
    assert g.nodes["category:Electronics > Audio > Earbuds"]["depth"] == 3
    assert table(cur).loc["b", "category_path"] == "Electronics > Audio > Earbuds"
    assert r.versions["category:Electronics > Audio"] == 2
    cur.reparent_category("Electronics > Audio", None)              # back to a root
    assert table(cur).loc["b", "category_path"] == "Audio > Earbuds"
    with pytest.raises(CurationError, match="cycle"):
        cur.reparent_category("Audio", "Audio > Earbuds")
    with pytest.raises(CurationError, match="cycle"):
        cur.reparent_category("Audio", "Audio")
    with pytest.raises(CurationError, match="sub-categories and 3 product"):
        cur.reparent_category("Audio", "Home > Kitchen")
    cur.add_category("kitchen")
    with pytest.raises(CurationError, match="clashes with category 'kitchen'"):
        cur.reparent_category("Home > Kitchen", None)        # same name after normalisation
    assert_consistent(db)


@BOTH
def test_tree_rules_hold_against_hand_made_breakage(cur):
    # A cycle or a second parent can only come from outside; curation refuses to build on it.
    cur.conn.execute("INSERT INTO edges (src, dst, key, type) VALUES "
                     "('category:Audio', 'category:Audio > Earbuds', 'child_of', 'child_of')")
    with pytest.raises(CurationError, match="cycle"):
        cur.update_node("category:Audio", {"note": "x"})
    cur.conn.execute("DELETE FROM edges WHERE src='category:Audio'")
    cur.conn.execute("INSERT INTO edges (src, dst, key, type) VALUES "
                     "('category:Audio > Earbuds', 'category:Home', 'child_of@2', 'child_of')")
    with pytest.raises(CurationError, match="2 parents"):
        cur.link_category("f", "Audio > Earbuds")


# --------------------------------------------------------------------------- links / offers

@BOTH
def test_link_and_unlink(cur, db):
    r = cur.link_category("c", "Audio > Earbuds", expected=1)
    assert r.versions == {"product:c": 2}
    assert [(e.dst, e.action) for e in r.edges] == [("category:Home > Kitchen", "removed"),
                                                    ("category:Audio > Earbuds", "added")]
    assert cur.link_category("c", "audio > earbuds").audit_id is None     # already there
    with pytest.raises(CurationError, match="not a leaf"):
        cur.link_category("c", "Audio")
    r = cur.link_category("f", "Garden > Pots", create_missing=True)
    assert table(cur).loc["f", "category_path"] == "Garden > Pots"
    cur.unlink_category("f")
    assert pd.isna(table(cur).loc["f", "category_path"])
    with pytest.raises(CurationError, match="has no category to unlink"):
        cur.unlink_category("f")

    cur.link_brand("f", "Acme")
    assert table(cur).loc["f", "brand"] == "Acme"
    cur.link_brand("f", "Plato", create_missing=True)
    assert table(cur).loc["f", "brand"] == "Plato"
    cur.unlink_brand("f")
    assert pd.isna(table(cur).loc["f", "brand"])
    with pytest.raises(CurationError, match="no brand to unlink"):
        cur.unlink_brand("f")
    with pytest.raises(CurationError, match="no product 'zz'"):
        cur.link_brand("zz", "Acme")
    assert_consistent(db)


def test_strict_categories(db):
    with Curator(db, strict_categories=True) as cur:
        with pytest.raises(CurationError, match="has no category"):
            cur.unlink_category("a")
        with pytest.raises(CurationError, match="has no category"):
            cur.add_product("g", "Glass")
        cur.add_product("g", "Glass", category="Home > Kitchen")
        with pytest.raises(CurationError, match="product:f has no category"):
            cur.link_brand("f", "Acme")          # touching f means f must be put right
        cur.link_category("f", "Home > Kitchen")


@BOTH
def test_offers(cur, db):
    r = cur.add_offer("x", "c", 5.25, "inr", observed_at="2024-03-01", url="http://x/c",
                      shipping=0, expected=1)
    assert r.versions == {"product:c": 2}
    e = loaded(cur).edges["competitor:X", "product:c", "offers@2024-03-01"]
    assert (e["price"], e["currency"], e["url"], e["shipping"]) == (5.25, "INR", "http://x/c",
                                                                     0.0)
    with pytest.raises(CurationError, match="already exists.*replace=True"):
        cur.add_offer("X", "c", 6, "INR", observed_at="2024-03-01")
    cur.add_offer("X", "c", 6, "INR", observed_at="2024-03-01", replace=True)
    assert loaded(cur).edges["competitor:X", "product:c", "offers@2024-03-01"]["price"] == 6
    for price, currency, match in [(0, "INR", "greater than 0"), (-5, "INR", "greater than 0"),
                                   ("abc", "INR", "must be a number"),
                                   (float("inf"), "INR", "finite"), (5, "ZZZ", "ISO 4217"),
                                   (5, None, "ISO 4217")]:
        with pytest.raises(CurationError, match=match):
            cur.add_offer("X", "c", price, currency, observed_at="2025")
    with pytest.raises(CurationError, match="shipping must be at least 0"):
        cur.add_offer("X", "c", 5, "INR", shipping=-1)
    with pytest.raises(CurationError, match="no competitor 'Zed'"):
        cur.add_offer("Zed", "c", 5, "INR")
    cur.add_offer("Zed", "c", 5, "INR", create_missing=True)
    assert loaded(cur).has_edge("competitor:Zed", "product:c", "offers@")

    cur.add_offer("X", "a", 1500, "INR", observed_at="2023-03")
    with pytest.raises(CurationError, match="3 offers.*give observed_at"):
        cur.remove_offer("X", "a")
    cur.remove_offer("X", "a", observed_at="2023-01")
    assert not loaded(cur).has_edge("competitor:X", "product:a", "offers@2023-01")
    with pytest.raises(CurationError, match="no offer observed at '1999'"):
        cur.remove_offer("X", "a", observed_at="1999")
    cur.remove_offer("Y", "c")                     # the only one: no date needed
    assert_consistent(db)


# --------------------------------------------------------------------------- audit / undo

@BOTH
def test_audit_record_holds_who_when_what_why(cur):
    r = cur.link_category("c", "Audio > Earbuds", reason="it is a speaker", actor="bob")
    e = cur.entry(r.audit_id)
    assert (e.actor, e.op, e.reason) == ("bob", "link_category", "it is a speaker")
    assert e.at.startswith("20") and e.at.endswith("+00:00")
    assert e.params == {"product": "c", "category": "Audio > Earbuds", "create_missing": False}
    assert e.before["nodes"]["product:c"]["version"] == 1
    assert e.after["nodes"]["product:c"]["version"] == 2
    edges = {(s, d): (b, a) for (s, d, _, b), (_, _, _, a) in zip(e.before["edges"],
                                                                  e.after["edges"])}
    assert edges[("product:c", "category:Home > Kitchen")][1] is None
    assert edges[("product:c", "category:Audio > Earbuds")][0] is None
    assert [x.id for x in cur.history("product:c")] == [r.audit_id]
    assert cur.history("product:d") == []
    with pytest.raises(CurationError, match="actor"):
        cur.add_brand("Q", actor=" ")


@BOTH
def test_revert_in_reverse_order_restores_the_graph(cur, db):
    original = loaded(cur)
    ids = [
        cur.merge_nodes("brand:bo at", "brand:boat").audit_id,
        cur.link_category("c", "Audio > Earbuds").audit_id,
        cur.rename_node("category:Audio", "Sound").audit_id,
        cur.reparent_category("Sound > Earbuds", "Home").audit_id,
        cur.add_offer("Y", "d", 19, "INR").audit_id,
        cur.update_node("product:e", {"price": 7}).audit_id,
        cur.delete_node("product:a", cascade=True).audit_id,
    ]
    for i in reversed(ids):
        r = cur.revert(i, reason="undo")
        assert cur.entry(i).reverted_by == r.audit_id
        assert cur.entry(r.audit_id).reverts == i
    assert graph_diff(original, loaded(cur)) == []
    assert cur.version("product:c") == 1
    assert_consistent(db)


@BOTH
def test_revert_refused_when_edited_since(cur):
    r1 = cur.rename_node("brand:acme", "Acme Home")
    r2 = cur.update_node("brand:acme home", {"country": "IN"})
    with pytest.raises(RevertError, match=rf"brand:acme home was edited since.*#{r2.audit_id}"):
        cur.revert(r1.audit_id)
    cur.revert(r2.audit_id)
    cur.revert(r1.audit_id)                               # now it can
    with pytest.raises(RevertError, match="already reverted"):
        cur.revert(r1.audit_id)
    with pytest.raises(RevertError, match="no audit entry #999"):
        cur.revert(999)


def test_revert_refused_when_it_would_break_the_tree(cur):
    moved = cur.link_category("c", "Audio > Earbuds").audit_id
    cur.link_category("d", "Audio > Earbuds")
    cur.link_category("e", "Audio > Earbuds")
    cur.add_category("Home > Kitchen > Pots")            # Kitchen is empty now: allowed
    before = loaded(cur)
    with pytest.raises(RevertError, match="would break a rule.*not a leaf"):
        cur.revert(moved)
    assert graph_diff(before, loaded(cur)) == []


def test_revert_refused_when_an_added_node_got_edges(cur):
    added = cur.add_brand("Zed").audit_id
    cur.link_brand("f", "Zed")
    with pytest.raises(RevertError, match="brand:zed was added by it and has edges added since"):
        cur.revert(added)


@BOTH
def test_reverting_a_revert_redoes(cur):
    r = cur.link_category("c", "Audio > Earbuds")
    undo = cur.revert(r.audit_id)
    assert table(cur).loc["c", "category_path"] == "Home > Kitchen"
    cur.revert(undo.audit_id)
    assert table(cur).loc["c", "category_path"] == "Audio > Earbuds"


# --------------------------------------------------------------------------- concurrency

@BOTH
def test_second_curator_gets_a_conflict_and_nothing_is_lost(db):
    with Curator(db, actor="alice") as alice, Curator(db, actor="bob") as bob:
        va, vb = alice.version("product:c"), bob.version("product:c")
        assert va == vb == 1
        alice.update_node("product:c", {"price": 8}, expected=va)
        with pytest.raises(ConflictError, match="version 2, you edited version 1") as info:
            bob.update_node("product:c", {"price": 9}, expected=vb)
        assert (info.value.expected, info.value.found) == (1, 2)
        assert loaded(bob).nodes["product:c"]["price"] == 8          # alice's edit stands
        bob.update_node("product:c", {"price": 9}, expected=bob.version("product:c"))
        assert loaded(alice).nodes["product:c"]["price"] == 9
        # a renamed / merged node: the stale edit conflicts too
        v = bob.version("brand:bo at")
        alice.merge_nodes("brand:bo at", "brand:boat")
        with pytest.raises(ConflictError, match="no longer exists"):
            bob.rename_node("brand:bo at", "BoAt", expected=v)
        with pytest.raises(ConflictError):
            bob.merge_nodes("brand:acme", "brand:boat", expected={"brand:boat": 1})
        with pytest.raises(CurationError, match="must be an integer"):
            bob.update_node("product:c", {"price": 9}, expected="2")


@BOTH
def test_concurrent_curators_lose_no_update(db):
    """Two threads, each with its own connection, bump a counter with read-check-write."""
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            with Curator(db, actor=name) as c:
                done = 0
                while done < 8:
                    v = c.version("product:c")
                    n = int(loaded_attr(c, "product:c", "counter") or 0)
                    try:
                        c.update_node("product:c", {"counter": n + 1}, expected=v)
                        done += 1
                    except ConflictError:
                        pass
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in ("t1", "t2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    with Curator(db) as c:
        assert loaded_attr(c, "product:c", "counter") == 16
        assert c.version("product:c") == 17
        assert len(c.history("product:c", limit=100)) == 16


def loaded_attr(cur: Curator, nid: str, attr: str):
    row = cur.conn.execute("SELECT attrs FROM nodes WHERE id=?", (nid,)).fetchone()
    return json.loads(row[0]).get(attr)


# --------------------------------------------------------------------------- dry run

@pytest.mark.parametrize("call", [
    lambda c, **kw: c.merge_nodes("brand:bo at", "brand:boat", **kw),
    lambda c, **kw: c.link_category("c", "Audio > Earbuds", **kw),
    lambda c, **kw: c.update_node("product:d", {"price": 2000}, **kw),
    lambda c, **kw: c.reparent_category("Audio > Earbuds", "Home", **kw),
    lambda c, **kw: c.add_offer("X", "c", 4, "INR", **kw),
    lambda c, **kw: c.bulk_import([{"op": "link_brand", "product_id": "f", "brand": "Acme"}],
                                  **kw),
])
def test_dry_run_changes_nothing_and_previews_the_real_run(cur, db, call):
    before = loaded(cur)
    versions = {n: cur.version(n) for n in before}
    preview = call(cur, dry_run=True)
    assert preview.dry_run and preview.audit_id is None and preview.changed
    assert graph_diff(before, loaded(cur)) == [] and n_audit(cur) == 0
    assert {n: cur.version(n) for n in before} == versions
    assert preview.impact is not None and preview.impact.direct
    real = call(cur)
    assert real.summary() == preview.summary()
    json.dumps(preview.to_dict())                        # ready for the REST layer as is
    assert [n.id for n in real.nodes] == [n.id for n in preview.nodes]
    assert real.versions == preview.versions


@BOTH
def test_dry_run_lists_affected_products_and_prices(cur):
    seen = []

    def price_fn(ids, g):
        seen.append(sorted(ids))
        # a stand-in model: the median price of the product's brand
        from graph.features import GraphFeaturizer

        prods = [n for n, d in g.nodes(data=True) if d["type"] == "product"]
        fz = GraphFeaturizer(min_count=1).fit(g, prods)
        x = fz.transform(g, ids)
        return {i: float(x.loc[i, "brand_median"]) for i in ids}

    r = cur.link_brand("f", "Acme", dry_run=True, price_fn=price_fn)
    imp = r.impact
    assert imp.direct == ["f"]
    # f joins Acme: the other Acme products see a new brand price (3.0) in their group
    assert set(imp.products) >= {"c", "d", "e"}
    assert imp.features["c"]["brand_count"] == [2.0, 3.0]
    assert "a" not in imp.products
    assert len(seen) == 2 and seen[0] == seen[1]
    assert imp.prices["c"][0] != imp.prices["c"][1]
    assert r.to_dict()["impact"]["prices"]["c"] == imp.prices["c"]
    # moving a product between categories changes both categories' members
    r = cur.link_category("c", "Audio > Earbuds", dry_run=True)
    assert r.impact.direct == ["c"]
    assert {"d", "e"} <= set(r.impact.products)
    # d and e lose a neighbour (same leaf and brand; leave-one-out counts)
    assert r.impact.features["d"]["nb_count"] == [2.0, 1.0]
    assert r.impact.features["c"]["nb_count"] == [2.0, 0.0]


@BOTH
def test_preview_graph_cache_follows_other_writers(db):
    with Curator(db) as a, Curator(db) as b:
        a.link_category("c", "Audio > Earbuds", dry_run=True)     # loads and caches the graph
        b.link_brand("f", "Acme")                                 # another connection writes
        r = a.link_brand("f", "boAt", dry_run=True)
        # only with b's write is f in Acme, so that Acme products lose a brand mate
        assert r.impact.features["c"]["brand_count"] == [3.0, 2.0]
        a.link_brand("f", "boAt")                                  # own commit: cache replayed
        g = a._graph
        assert g is not None and graph_diff(g, loaded(a)) == []


def test_apply_changes_round_trip(cur):
    g = loaded(cur)
    r = cur.merge_nodes("category:Audio", "category:Home", dry_run=True)
    before = g.copy()
    apply_changes(g, r.nodes, r.edges)
    cur.merge_nodes("category:Audio", "category:Home")
    assert graph_diff(g, loaded(cur)) == []
    apply_changes(g, r.nodes, r.edges, forward=False)
    assert graph_diff(g, before) == []


# --------------------------------------------------------------------------- bulk import

BULK_CSV = """op,product_id,category_path,brand,competitor,price,currency,observed_at
link_category,f,Home > Kitchen,,,,,
link_brand,f,,acme,,,,
link_category,b,audio > headphones,,,,,
add_offer,d,,,Y,18.5,inr,2024-05-01
remove_offer,a,,,X,,,2023-01
unlink_brand,e,,,,,,
"""


@BOTH
def test_bulk_import_applies_all_in_one_audited_transaction(cur, db, tmp_path):
    original = loaded(cur)
    path = tmp_path / "map.csv"
    path.write_text(BULK_CSV)
    progress = []
    r = cur.bulk_import(path, reason="weekly mapping",
                        on_progress=lambda done, total: progress.append((done, total)))
    assert progress[-1] == (6, 6) and len(progress) == 6
    t = table(cur)
    assert (t.loc["f", "category_path"], t.loc["f", "brand"]) == ("Home > Kitchen", "Acme")
    assert t.loc["b", "category_path"] == "Audio > Headphones" and pd.isna(t.loc["e", "brand"])
    g = loaded(cur)
    assert g.edges["competitor:Y", "product:d", "offers@2024-05-01"]["price"] == 18.5
    assert not g.has_edge("competitor:X", "product:a", "offers@2023-01")
    assert n_audit(cur) == 1
    e = cur.entry(r.audit_id)
    assert e.params["rows"] == 6 and e.params["source"] == "map.csv"
    assert e.params["ops"]["link_category"] == 2
    # nodes edited only through their edges are logged as small stamps, not full copies
    assert "stamp" in e.after["nodes"]["product:f"] and "title" not in str(
        e.after["nodes"]["product:f"])
    cur.revert(r.audit_id)
    assert graph_diff(original, loaded(cur)) == []
    assert_consistent(db)


def test_bulk_csv_that_is_not_csv_or_too_long_is_refused_naming_the_source(cur, monkeypatch):
    """issue 19: a field over csv.field_size_limit() was an uncaught csv.Error; row cap."""
    huge = "op,product_id,brand\nlink_brand,a," + "x" * 140_000 + "\n"
    with pytest.raises(CurationError, match="line 2 is not readable CSV") as exc:
        cur.bulk_import(io.StringIO(huge))
    assert exc.value.field == "source"
    import graph.curation as gc
    monkeypatch.setattr(gc, "MAX_BULK_ROWS", 3)
    rows = "op,product_id,brand\n" + "link_brand,a,Acme\n" * 4
    with pytest.raises(CurationError, match="more than 3 rows"):
        cur.bulk_import(io.StringIO(rows))
    with pytest.raises(CurationError, match="more than 3 rows"):
        cur.bulk_import([{"op": "link_brand", "product_id": "a", "brand": "Acme"}] * 4)
    assert n_audit(cur) == 0


@BOTH
def test_bulk_import_reports_every_bad_row_and_applies_nothing(cur):
    before = loaded(cur)
    bad = ("op,product_id,category_path,brand,competitor,price,currency\n"
           "link_category,f,Home > Kitchen,,,,\n"        # fine
           "link_categroy,f,Home > Kitchen,,,,\n"        # 2: unknown op
           "link_category,zz,Home > Kitchen,,,,\n"       # 3: unknown product
           "link_category,f,Home,,,,\n"                  # 4: not a leaf
           "link_brand,f,,,,,\n"                         # 5: brand missing
           "add_offer,c,,,Y,-3,INR\n"                    # 6: bad price
           "add_offer,c,,,Y,3,EURO\n"                    # 7: bad currency
           "unlink_brand,f,,,,,\n")                      # 8: f has no brand
    with pytest.raises(CurationError) as info:
        cur.bulk_import(io.StringIO(bad))
    rows = [(e.row, e.field) for e in info.value.errors]
    assert rows == [(2, "op"), (3, "product_id"), (4, "category_path"), (5, "brand"),
                    (6, "price"), (7, "currency"), (8, "brand")]
    assert "7 of 8 row(s) rejected, nothing applied" in str(info.value)
    assert info.value.errors[2].product_id == "f" and info.value.errors[2].table == "curation"
    assert graph_diff(before, loaded(cur)) == [] and n_audit(cur) == 0
    with pytest.raises(CurationError, match="missing column.*op"):
        cur.bulk_import(io.StringIO("product_id,brand\nf,Acme\n"))
    with pytest.raises(CurationError, match="is not a file"):
        cur.bulk_import(Path("/nonexistent.csv"))
    # rows see the rows before them: a category created by one row takes the next row's product
    r = cur.bulk_import([{"op": "link_category", "product_id": "f", "category_path": "Garden"},
                         {"op": "link_category", "product_id": "e", "category_path": "garden"}],
                        create_missing=True)
    assert r.changed and set(table(cur).query("category_path == 'Garden'").index) == {"e", "f"}


def test_bulk_upsert_product_adds_updates_links_and_reverts_as_one(cur, db):
    """issue 17: catalog rows (op upsert_product) add new products and update known ones."""
    before = loaded(cur)
    r = cur.bulk_import([
        {"op": "upsert_product", "product_id": "n1", "title": "Steel Bottle", "price": 12.5,
         "currency": "inr", "cost": 7, "category_path": "Home > Bottles", "brand": "Milton"},
        {"op": "upsert_product", "product_id": "c", "price": 6.5, "title": None},
        {"op": "upsert_product", "product_id": "d", "title": "Kettle", "brand": "acme"},
    ], create_missing=True)
    t = table(cur)
    assert (t.loc["n1", "title"], t.loc["n1", "price"], t.loc["n1", "currency"]) == \
        ("Steel Bottle", 12.5, "INR")
    assert (t.loc["n1", "category_path"], t.loc["n1", "brand"]) == ("Home > Bottles", "Milton")
    assert (t.loc["c", "price"], t.loc["c", "title"]) == (6.5, "Mug")    # empty cells: kept
    actions = {n.id: n.action for n in r.nodes}
    assert actions["product:n1"] == "added" and actions["product:c"] == "updated"
    assert "product:d" not in actions                  # same title, same brand: untouched
    assert n_audit(cur) == 1
    with pytest.raises(CurationError) as info:        # all or none: row 2 refuses the file
        cur.bulk_import([{"op": "upsert_product", "product_id": "n2", "title": "Cup"},
                         {"op": "upsert_product", "product_id": "n3", "price": 4},
                         {"op": "upsert_product", "product_id": "c", "price": -1}])
    assert [(e.row, e.field) for e in info.value.errors] == [(2, "title"), (3, "price")]
    assert "n2" not in table(cur).index and n_audit(cur) == 1
    cur.revert(r.audit_id)
    assert graph_diff(before, loaded(cur)) == []
    assert_consistent(db)


_CHILD = """
import sys, time
sys.path.insert(0, {root!r})
from graph.curation import Curator
cur = Curator({db!r}, actor="bulk")
# A small page cache makes SQLite spill uncommitted pages into the WAL file before the
# commit: the crash then leaves half a transaction on disk for recovery to ignore.
cur.conn.execute("PRAGMA cache_size=20")
def progress(done, total):
    if done == total // 2:
        print("half", flush=True)
        time.sleep(120)            # killed here, in the middle of the transaction
cur.bulk_import({csv!r}, on_progress=progress)
print("finished", flush=True)
"""


def test_sigkill_mid_bulk_import_leaves_the_store_consistent(tmp_path):
    n = 3000
    products = pd.DataFrame({"product_id": [f"p{i}" for i in range(n)],
                             "title": [f"item {i}" for i in range(n)],
                             "category_path": [f"Shop > Aisle {i % 3}" for i in range(n)],
                             "brand": [f"Brand {i % 40}" for i in range(n)],
                             "price": [10.0 + i % 17 for i in range(n)], "currency": "INR",
                             "description": ["a longer description " * 5] * n,
                             "source": "s"})
    db = tmp_path / "big.sqlite"
    with GraphStore(db) as store:
        store.save(build_graph(Catalog(products=products)))
        original = store.load()
    csv_path = tmp_path / "moves.csv"
    pd.DataFrame({"op": "link_category", "product_id": products.product_id,
                  "category_path": [f"Shop > Aisle {(i + 1) % 3}" for i in range(n)]}
                 ).to_csv(csv_path, index=False)
    with Curator(db):
        pass  # audit table created up front, so the child's transaction is the import alone
    script = _CHILD.format(root=str(ROOT), db=str(db), csv=str(csv_path))
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline().strip()
        assert line == "half", child.stderr.read()
        wal = Path(f"{db}-wal")
        # Half an import is on disk, uncommitted: ~1 MB of WAL frames when this was written.
        assert wal.exists() and wal.stat().st_size > 50 * 4096
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL

    assert_consistent(db)
    with Curator(db) as cur:
        after = cur.store.load()
        # all or none: the kill came before the commit, so none
        assert graph_diff(original, after) == []
        assert n_audit(cur) == 0
        assert cur.version("product:p0") == 1
        r = cur.bulk_import(csv_path)                      # the store works: now all of it
        assert len(r.edges) == 2 * n
        t = product_table(cur.store.load()).set_index("product_id")
        assert t.loc["p0", "category_path"] == "Shop > Aisle 1"
        assert t.loc["p2", "category_path"] == "Shop > Aisle 0"
    assert_consistent(db)


_PG_CHILD = """
import sys, time
sys.path.insert(0, {root!r})
from graph.curation import Curator
cur = Curator({db!r}, actor="bulk")
def progress(done, total):
    if done == total // 2:
        print("half", flush=True)
        time.sleep(120)            # killed here, in the middle of the transaction
cur.bulk_import({csv!r}, on_progress=progress)
print("finished", flush=True)
"""


def test_sigkill_mid_bulk_import_on_postgresql_applies_nothing_and_frees_the_store(
        pg_url, tmp_path):
    n = 300
    products = pd.DataFrame({"product_id": [f"p{i}" for i in range(n)],
                             "title": [f"item {i}" for i in range(n)],
                             "category_path": [f"Shop > Aisle {i % 3}" for i in range(n)],
                             "price": [10.0 + i % 17 for i in range(n)], "currency": "INR",
                             "source": "s"})
    with GraphStore(pg_url) as store:
        store.save(build_graph(Catalog(products=products)))
        original = store.load()
    csv_path = tmp_path / "moves.csv"
    pd.DataFrame({"op": "link_category", "product_id": products.product_id,
                  "category_path": [f"Shop > Aisle {(i + 1) % 3}" for i in range(n)]}
                 ).to_csv(csv_path, index=False)
    with Curator(pg_url):
        pass
    script = _PG_CHILD.format(root=str(ROOT), db=pg_url, csv=str(csv_path))
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline().strip()
        assert line == "half", child.stderr.read()
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    # The server ends the dead client's session: its transaction and writer lock go with it.
    with Curator(pg_url, busy_timeout_ms=30_000) as cur:
        after = cur.store.load()
        assert graph_diff(original, after) == []
        assert n_audit(cur) == 0
        assert cur.version("product:p0") == 1
        r = cur.bulk_import(csv_path)
        assert len(r.edges) == 2 * n
        t = product_table(cur.store.load()).set_index("product_id")
        assert t.loc["p0", "category_path"] == "Shop > Aisle 1"
    assert_consistent(pg_url)


def test_bulk_import_on_postgresql_sends_a_few_statements_per_row(pg_url, monkeypatch):
    """Each statement is a round trip on PostgreSQL: the transaction's read cache and the
    up-front reads of the rows' products keep a bulk row to a handful (~30 before)."""
    import psycopg

    n = 60
    products = pd.DataFrame({"product_id": [f"p{i}" for i in range(n)],
                             "title": [f"item {i}" for i in range(n)],
                             "category_path": [f"Shop > Aisle {i % 3}" for i in range(n)],
                             "brand": [f"Brand {i % 3}" for i in range(n)],
                             "price": [10.0] * n, "currency": "INR", "source": "s"})
    offers = pd.DataFrame({"product_id": ["p0"], "competitor": ["Rival"], "price": [9.0],
                           "currency": ["INR"], "observed_at": ["2024-01-01"], "source": ["s"]})
    with GraphStore(pg_url) as store:
        store.save(build_graph(Catalog(products=products, offers=offers)))
    rows = []
    for i in range(n):
        op = ("link_category", "link_brand", "add_offer")[i % 3]
        rows.append({"op": op, "product_id": f"p{i}",
                     "category_path": f"Shop > Aisle {(i + 1) % 3}",
                     "brand": f"Brand {(i + 1) % 3}", "competitor": "Rival", "price": 8.0,
                     "currency": "INR", "observed_at": "2024-06-01"})
    calls = []
    execute, executemany = psycopg.Connection.execute, psycopg.Cursor.executemany
    monkeypatch.setattr(psycopg.Connection, "execute",
                        lambda self, *a, **kw: calls.append(a[0]) or execute(self, *a, **kw))
    monkeypatch.setattr(psycopg.Cursor, "executemany",
                        lambda self, *a, **kw: calls.append(a[0]) or executemany(self, *a, **kw))
    with Curator(pg_url, actor="bulk") as cur:
        calls.clear()
        r = cur.bulk_import(rows)
        assert len(r.edges) == n + 2 * n // 3  # moves: one out, one in; offers: one in
        assert len(calls) / n <= MAX_PG_STATEMENTS_PER_ROW, calls[:40]
        t = table(cur)
    assert t.loc["p0", "category_path"] == "Shop > Aisle 1" and t.loc["p1", "brand"] == "Brand 2"


@BOTH
def test_idempotency_key_replays_the_stored_outcome(cur):
    r = cur.update_node("brand:acme", {"origin": "IN"}, idempotency_key="k-1")
    again = cur.update_node("brand:acme", {"origin": "IN"}, idempotency_key="k-1")
    assert again.replayed and not r.replayed and again.audit_id == r.audit_id
    assert again.versions == r.versions and again.summary() == r.summary()
    assert n_audit(cur) == 1 and cur.version("brand:acme") == r.versions["brand:acme"]
    with pytest.raises(CurationError, match="already used for another request"):
        cur.update_node("brand:acme", {"origin": "CN"}, idempotency_key="k-1")
    with pytest.raises(CurationError, match="already used"):
        cur.update_node("brand:acme", {"origin": "IN"}, idempotency_key="k-1", actor="bob")
    p = cur.update_node("brand:acme", {"origin": "US"}, idempotency_key="k-1", dry_run=True)
    assert p.dry_run and not p.replayed                    # previews never use the key
