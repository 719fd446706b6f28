"""``pricing db migrate`` and graph.migrate: run with `.venv/bin/pytest tests/test_cli_db.py -q`.

A SQLite graph store with curation history goes to PostgreSQL and back: the graph, node
versions, audit ids and revert links, the graph version and the suggestions all survive; a
target that already holds data is refused and left alone; curation goes on on the copy.
"""
from __future__ import annotations

from typer.testing import CliRunner

from assistant.cli.main import app
from assistant.suggestion_store import FeedbackIn, SuggestionStore
from graph.curation import Curator
from graph.io import graph_diff
from graph.match_store import MatchStore, Proposal
from graph.store import GraphStore
from tests.test_curation import small_graph
from tests.test_suggestion_store import _suggestion


def _history(db) -> dict:
    with Curator(db, actor="alice") as cur:
        r1 = cur.rename_node("brand:boat", "boAt Lifestyle")
        cur.link_category("product:f", "Home > Kitchen")
        cur.revert(r1.audit_id, reason="keep the old name")
        return {"entries": [(e.id, e.op, e.reverts, e.reverted_by) for e in cur.history()],
                "versions": {n: cur.version(n) for n in ("product:f", "brand:boat")}}


def test_migrate_to_postgres_and_back_keeps_graph_history_and_suggestions(tmp_path, pg_url):
    src = tmp_path / "graph.sqlite"
    with GraphStore(src) as store:
        store.save(small_graph())
    before = _history(src)
    with GraphStore(src) as store:
        g, v = store.load(), store.version()
        ms = MatchStore(store.conn)      # competitor matching's proposals and labels too
        p1 = ms.upsert(Proposal("r1", "ShopX", "id:1", {"title": "Mouse"}, "f", 0.97, 1,
                                {"code_shared": 1.5}, "linked", audit_id=2))
        ms.upsert(Proposal("r1", "ShopX", "id:2", {"title": "Kettle"}, "g", 0.6, 1))
        ms.add_label("ShopX", "id:1", "f", 1, listing={"title": "Mouse"}, product={"t": 1},
                     actor="alice", proposal_id=p1)
        proposals, labels = ms.find(), ms.labels()
    sugg = SuggestionStore(tmp_path / "s.sqlite")
    sugg.add_suggestion(_suggestion("x1"))
    sugg.add_feedback(FeedbackIn(suggestion_id="x1", verdict="accepted"))

    run = CliRunner().invoke(app, ["db", "migrate", "--from", str(src), "--to", pg_url,
                                   "--suggestions-from", str(tmp_path / "s.sqlite")])
    assert run.exit_code == 0, run.output
    assert "graph" in run.output and "suggestions" in run.output
    with GraphStore(pg_url) as store:
        assert graph_diff(g, store.load()) == []
        assert store.version().version == v.version and store.version().audit_head == 3
    with Curator(pg_url) as cur:
        assert [(e.id, e.op, e.reverts, e.reverted_by) for e in cur.history()] == before["entries"]
        assert {n: cur.version(n) for n in before["versions"]} == before["versions"]
        # curation goes on where it stopped: the next audit id and an optimistic lock
        r = cur.add_brand("Zed", expected=None)
        assert r.audit_id == 4
    with GraphStore(pg_url) as store:
        ms = MatchStore(store.conn)
        assert ms.find() == proposals and ms.labels() == labels
        assert ms.upsert(Proposal("r2", "ShopX", "id:3", {}, "f", 0.5, 1)) == p1 + 2
    assert SuggestionStore(pg_url).feedback_for("x1")[0].verdict == "accepted"

    # a target that holds a graph is refused, and keeps what it had
    again = CliRunner().invoke(app, ["db", "migrate", "--from", str(src), "--to", pg_url,
                                     "--suggestions-from", "none"])
    assert again.exit_code == 2 and "empty store" in again.output
    with GraphStore(pg_url) as store:
        assert store.version().audit_head == 4

    back = tmp_path / "back.sqlite"
    run = CliRunner().invoke(app, ["db", "migrate", "--from", pg_url, "--to", str(back),
                                   "--suggestions-from", pg_url, "--suggestions-to",
                                   str(tmp_path / "s2.sqlite")])
    assert run.exit_code == 0, run.output
    with GraphStore(back) as b, GraphStore(pg_url) as p:
        assert graph_diff(p.load(), b.load()) == [] and b.version() == p.version()


def test_missing_source_is_a_clear_error(tmp_path, pg_url):
    run = CliRunner().invoke(app, ["db", "migrate", "--from", str(tmp_path / "nope.sqlite"),
                                   "--to", pg_url])
    assert run.exit_code == 2 and "no graph store" in run.output
