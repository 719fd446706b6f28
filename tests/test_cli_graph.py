"""`pricing ingest` and `pricing graph stats` through typer's CliRunner."""
from __future__ import annotations

import shutil

import pandas as pd
import pytest
from typer.testing import CliRunner

from assistant.cli import app

runner = CliRunner()


def _flat(output: str) -> str:
    return " ".join(output.split())  # rich wraps long lines at the terminal width


def _row(output: str, name: str) -> list[str]:
    line = next(ln for ln in output.splitlines() if ln.strip("│ ").startswith(name))
    return [cell.strip() for cell in line.strip().strip("│").split("│")]


@pytest.fixture()
def catalog_dir(tmp_path):
    folder = tmp_path / "catalog"
    folder.mkdir()
    (folder / "products.csv").write_text(
        "product_id,title,price,currency,brand,category_path\n"
        "a,Alpha kettle,10,INR,Acme,Home > Kitchen\n"
        "b,Beta kettle,-4,INR,Acme,Home > Kitchen\n"
        "c,Gamma kettle,12,INR,Bolt,Home > Kitchen\n")
    (folder / "offers.jsonl").write_text(
        '{"product_id": "a", "competitor": "shop1", "price": 9.5, "observed_at": "2024-05-01"}\n'
        '{"product_id": "c", "competitor": "shop1", "price": 11, "observed_at": "2024-05-01"}\n')
    return folder


def test_ingest_prints_counts_and_writes_report(tmp_path, catalog_dir):
    db, report = tmp_path / "g.sqlite", tmp_path / "rej.csv"
    result = runner.invoke(app, ["ingest", str(catalog_dir), "--db", str(db),
                                 "--report", str(report)])
    assert result.exit_code == 0, result.output
    assert "products" in result.output and "offers" in result.output
    assert _row(result.output, "products") == ["products", "2", "1"]  # accepted, rejected
    assert _row(result.output, "offers") == ["offers", "2", "0"]
    rejected = pd.read_csv(report)
    assert rejected[["table", "row", "field"]].values.tolist() == [["products", 2, "price"]]
    assert "negative price" in rejected["reason"].iloc[0]
    assert db.is_file()

    stats = runner.invoke(app, ["graph", "stats", "--db", str(db)])
    assert stats.exit_code == 0, stats.output
    assert "product" in stats.output and "competitor" in stats.output


def test_strict_fails_and_saves_nothing(tmp_path, catalog_dir):
    db, report = tmp_path / "g.sqlite", tmp_path / "rej.csv"
    result = runner.invoke(app, ["ingest", str(catalog_dir), "--db", str(db),
                                 "--report", str(report), "--strict"])
    assert result.exit_code == 1
    assert report.is_file() and len(pd.read_csv(report)) == 1
    assert not db.exists()


def test_strict_passes_on_clean_data(tmp_path, demo_dir):
    folder = tmp_path / "retail_price"
    shutil.copytree(demo_dir / "retail_price", folder)
    db, report = tmp_path / "g.sqlite", tmp_path / "rej.csv"
    result = runner.invoke(app, ["ingest", str(folder), "--db", str(db), "--report",
                                 str(report), "--strict"])
    assert result.exit_code == 0, result.output
    assert _row(result.output, "offers") == ["offers", "2,028", "0"]
    assert len(pd.read_csv(report)) == 0 and db.is_file()


def test_errors_are_reported_not_raised(tmp_path):
    result = runner.invoke(app, ["ingest", str(tmp_path / "nothing"), "--db",
                                 str(tmp_path / "g.sqlite")])
    assert result.exit_code == 2 and "no such file" in _flat(result.output)
    result = runner.invoke(app, ["graph", "stats", "--db", str(tmp_path / "none.sqlite")])
    assert result.exit_code == 1 and "pricing ingest" in _flat(result.output)


def test_ingest_stats_and_check_on_postgresql(tmp_path, catalog_dir, pg_url):
    """--db takes a postgresql:// URL like a SQLite path (a typer Path would fold its '//')."""
    from graph.store import GraphStore

    result = runner.invoke(app, ["ingest", str(catalog_dir), "--db", pg_url,
                                 "--report", str(tmp_path / "rej.csv")])
    assert result.exit_code == 0, result.output
    assert _row(result.output, "products") == ["products", "2", "1"]
    with GraphStore(pg_url) as store:
        assert store.kind == "postgresql"
        lite = tmp_path / "g.sqlite"
        assert runner.invoke(app, ["ingest", str(catalog_dir), "--db", str(lite), "--report",
                                   str(tmp_path / "rej2.csv")]).exit_code == 0
        with GraphStore(lite) as other:
            assert store.counts() == other.counts()
            assert store.counts()["nodes"] > 0

    stats = runner.invoke(app, ["graph", "stats", "--db", pg_url])
    assert stats.exit_code == 0, stats.output
    assert "product" in stats.output and "competitor" in stats.output
    assert stats.output == runner.invoke(app, ["graph", "stats", "--db", str(lite)]).output
    check = runner.invoke(app, ["graph", "check", "--db", pg_url])
    assert check.exit_code == 0, check.output
    assert check.output == runner.invoke(app, ["graph", "check", "--db", str(lite)]).output


def test_postgresql_errors_are_reported_not_raised(pg_server, pg_url):
    empty = runner.invoke(app, ["graph", "stats", "--db", pg_url])  # a database, no store
    assert empty.exit_code == 1 and "pricing ingest" in _flat(empty.output)
    gone = runner.invoke(app, ["graph", "check", "--db", pg_server.url("nosuchdb")])
    assert gone.exit_code == 2 and "nosuchdb" in _flat(gone.output)
    odd = runner.invoke(app, ["graph", "stats", "--db", "mysql://x@y/z"])
    assert odd.exit_code == 2 and "mysql" in _flat(odd.output)


@pytest.mark.parametrize("fmt", ["graphml", "json"])
def test_export_then_import_round_trips_through_the_audit(tmp_path, catalog_dir, fmt):
    from graph.curation import Curator
    from graph.io import graph_diff
    from graph.store import GraphStore

    db = tmp_path / "g.sqlite"
    assert runner.invoke(app, ["ingest", str(catalog_dir), "--db", str(db), "--report",
                               str(tmp_path / "r.csv")]).exit_code == 0
    out = tmp_path / "graph.out"
    r = runner.invoke(app, ["graph", "export", "--format", fmt, "--out", str(out), "--db", str(db)])
    assert r.exit_code == 0, r.output
    assert out.stat().st_size > 0 and fmt in r.output

    target = tmp_path / "copy.sqlite"
    dry = runner.invoke(app, ["graph", "import", str(out), "--format", fmt, "--db", str(target),
                              "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "dry run" in _flat(dry.output) and "product:a" in dry.output
    with GraphStore(target) as store:
        assert store.counts() == {"nodes": 0, "edges": 0}   # a dry run stores nothing
    done = runner.invoke(app, ["graph", "import", str(out), "--format", fmt, "--db",
                               str(target), "--actor", "alice", "--reason", "restore"])
    assert done.exit_code == 0, done.output
    assert "audit entry #1" in _flat(done.output)
    with GraphStore(db) as a, GraphStore(target) as b:
        assert graph_diff(a.load(), b.load()) == []
    with Curator(target) as cur:
        e = cur.history(limit=1)[0]
        assert (e.op, e.actor, e.reason) == ("import_graph", "alice", "restore")
    check = runner.invoke(app, ["graph", "check", "--db", str(target)])
    assert check.exit_code == 0, check.output


def test_import_refuses_bad_files_and_bad_graphs(tmp_path, catalog_dir):
    import json

    db = tmp_path / "g.sqlite"
    runner.invoke(app, ["ingest", str(catalog_dir), "--db", str(db), "--report",
                        str(tmp_path / "r.csv")])
    junk = tmp_path / "junk.graphml"
    junk.write_text("<graphml><graph>")
    r = runner.invoke(app, ["graph", "import", str(junk), "--db", str(db)])
    assert r.exit_code == 2 and "not a readable GraphML" in _flat(r.output)
    r = runner.invoke(app, ["graph", "import", str(tmp_path / "g.txt"), "--db", str(db)])
    assert r.exit_code == 2

    out = tmp_path / "g.json"
    runner.invoke(app, ["graph", "export", "--out", str(out), "--db", str(db)])
    data = json.loads(out.read_text())
    for n in data["nodes"]:
        if n["id"] == "product:a":
            n["price"] = -1
    out.write_text(json.dumps(data))
    r = runner.invoke(app, ["graph", "import", str(out), "--db", str(db)])
    assert r.exit_code == 1, r.output
    flat = _flat(r.output)
    assert "nothing stored" in flat and "product:a" in flat and "price" in flat
    from graph.store import GraphStore
    with GraphStore(db) as store:
        assert store.load().nodes["product:a"]["price"] == 10.0
