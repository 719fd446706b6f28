"""`pricing match` and `pricing matches ...` through typer's CliRunner, on a copy of a small
real catalog with the test matcher (tests/match_fixtures.py): the runs and the review queue
on a SQLite file and on a PostgreSQL database given as a ``postgresql://`` URL."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from assistant.cli import app
from tests.match_fixtures import RED, cache_dir, matcher_dir, store_copy

runner = CliRunner()


def _flat(output: str) -> str:
    return " ".join(output.split())


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path) -> str:
    """The --db of a private copy of the catalog store: a SQLite path or a postgresql:// URL."""
    pg = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    return str(store_copy(tmp_path, pg))


def test_match_links_queues_and_reports_bad_rows(tmp_path, db):
    f = tmp_path / "shop.csv"
    f.write_text("listing_id,title,brand,price,currency,observed_at\n"
                 "C1,\"Bassheads 242 Wired in-Ear Earphones w/ Mic, Red\",boAt,549,INR,2023-03-05\n"
                 "C2,,boAt,10,INR,2023-03-05\n"
                 "C3,Some kettle,,abc,INR,2023-03-05\n", encoding="utf-8")
    report = tmp_path / "rej.csv"
    args = ["match", str(f), "--competitor", "ShopX", "--db", str(db), "--matcher",
            str(matcher_dir()), "--cache-dir", str(cache_dir()), "--report", str(report),
            "--auto-threshold", "0.95"]  # pinned: see FLOW in tests/test_matching.py
    r = runner.invoke(app, args + ["--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output[r.output.index("{"):])
    assert out["counts"]["linked"] == 1 and out["counts"]["rejected_rows"] == 2
    assert out["decisions"][0]["product_id"] == RED
    assert {(x["row"], x["field"]) for x in out["rejected_rows"]} == {(2, "title"), (3, "price")}
    assert report.read_text().count("\n") == 3   # header + 2 rows

    # run again: the listing is known now (not matched again)
    r = runner.invoke(app, args + ["--json"])
    assert r.exit_code == 0
    again = json.loads(r.output[r.output.index("{"):])
    assert again["counts"] == {"known": 1, "rejected_rows": 2}

    r = runner.invoke(app, ["matches", "queue", "--db", str(db), "--json"])
    assert r.exit_code == 0
    assert json.loads(r.output)["counts"].get("linked") == 1
    # the link is an audited competitor offer in that store
    from graph.store import GraphStore

    with GraphStore(db) as st:
        g = st.load()
    assert [(d["price"], d["observed_at"]) for _, _, d in g.in_edges(f"product:{RED}", data=True)
            if d["type"] == "offers"] == [(549.0, "2023-03-05")]


def test_review_queue_commands(tmp_path, db):
    f = tmp_path / "shop.jsonl"
    f.write_text(json.dumps({"id": "C1", "name": "Bassheads 242 Earphones with Mic, Red",
                             "manufacturer": "boAt", "price": 549, "currency": "INR"}) + "\n",
                 encoding="utf-8")
    r = runner.invoke(app, ["match", str(f), "--competitor", "ShopX", "--db", str(db),
                            "--matcher", str(matcher_dir()), "--cache-dir", str(cache_dir()),
                            "--auto-threshold", "1.01"])
    assert r.exit_code == 0, r.output
    assert "pricing matches queue" in _flat(r.output)
    q = json.loads(runner.invoke(app, ["matches", "queue", "--db", str(db), "--json"]).output)
    ids = [i["id"] for i in q["items"]]
    assert ids and q["items"][0]["status"] == "pending"
    r = runner.invoke(app, ["matches", "reject", str(ids[0]), "--db", str(db), "--actor", "al"])
    assert r.exit_code == 0 and "rejected" in r.output
    if len(ids) > 1:
        r = runner.invoke(app, ["matches", "confirm", str(ids[1]), "--db", str(db),
                                "--actor", "al"])
        assert r.exit_code == 0 and "confirmed" in r.output
    r = runner.invoke(app, ["matches", "relink", str(ids[0]), "NOPE", "--db", str(db),
                            "--actor", "al"])
    assert r.exit_code == 2 and "does not exist" in _flat(r.output)
    r = runner.invoke(app, ["matches", "confirm", "999", "--db", str(db), "--actor", "al"])
    assert r.exit_code == 2 and "no match proposal" in _flat(r.output)
    q = json.loads(runner.invoke(app, ["matches", "queue", "--db", str(db), "--json"]).output)
    assert q["counts"].get("rejected") == 1 and q["counts"].get("pending", 0) == 0


def test_match_refuses_missing_matcher_store_and_columns(tmp_path):
    db = store_copy(tmp_path)
    f = tmp_path / "x.csv"
    f.write_text("title\nmouse\n", encoding="utf-8")
    r = runner.invoke(app, ["match", str(f), "--competitor", "S", "--db", str(db),
                            "--matcher", str(tmp_path / "none")])
    assert r.exit_code == 2 and "pricing matches train" in _flat(r.output)
    r = runner.invoke(app, ["match", str(f), "--competitor", "S", "--db", str(db),
                            "--matcher", str(matcher_dir())])
    assert r.exit_code == 2 and "price" in _flat(r.output)
    r = runner.invoke(app, ["match", str(f), "--competitor", "S", "--db",
                            str(tmp_path / "no.sqlite")])
    assert r.exit_code == 2 and "pricing ingest" in _flat(r.output)
    r = runner.invoke(app, ["matches", "train", "--out", str(tmp_path / "m"), "--synthetic", "5"])
    assert r.exit_code != 0


def test_a_postgresql_url_without_a_store_or_server_is_refused(tmp_path, pg_url):
    r = runner.invoke(app, ["matches", "queue", "--db", pg_url])       # an empty database
    assert r.exit_code == 2 and "pricing ingest" in _flat(r.output)
    r = runner.invoke(app, ["matches", "queue", "--db",
                            f"postgresql://nobody@/none?host={tmp_path}"])
    assert r.exit_code == 2 and "cannot open it" in _flat(r.output)
    r = runner.invoke(app, ["matches", "queue", "--db", "mysql://x/y"])
    assert r.exit_code == 2 and "postgresql://" in _flat(r.output)
