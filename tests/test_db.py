"""Tests for graph.db: run with `.venv/bin/pytest tests/test_db.py -q` (~10 s).

The SQLite dialect rewrites, and PostgreSQL connections (a throwaway server) keeping sqlite3's
semantics: exception classes, a failed INSERT that leaves its transaction usable, writers
serialised by BEGIN IMMEDIATE, busy_timeout, the sqlite_master view and json_extract.
"""
from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from graph.db import (
    PgConnection,
    connect,
    describe,
    is_postgres,
    normalize,
    prepare_postgres,
    snapshot,
    split_statements,
    store_exists,
    translate,
)


def test_locations():
    assert is_postgres("postgresql://u@h/db") and is_postgres("postgres://u@h/db")
    assert not is_postgres("runs/graph.sqlite") and not is_postgres(Path("x"))
    assert normalize("runs/g.sqlite") == Path("runs/g.sqlite")
    assert normalize("sqlite:///runs/g.sqlite") == Path("runs/g.sqlite")
    assert normalize("sqlite:////abs/g.sqlite") == Path("/abs/g.sqlite")
    assert normalize("postgresql://u@h/db") == "postgresql://u@h/db"
    with pytest.raises(ValueError, match="mysql"):
        normalize("mysql://u@h/db")
    assert describe("postgresql://u:secret@h/db") == "postgresql://u:***@h/db"


def test_translate_rewrites_the_sqlite_isms():
    assert translate("SELECT a FROM t WHERE x=? AND y LIKE '%?%'").sql == \
        "SELECT a FROM t WHERE x=%s AND y LIKE '%%?%%'"
    assert translate("BEGIN IMMEDIATE").kind == "begin_write"
    assert translate("BEGIN").sql == "BEGIN ISOLATION LEVEL REPEATABLE READ"
    p = translate("PRAGMA busy_timeout=500")
    assert (p.kind, p.sql, p.arg) == ("pragma", "busy_timeout", "500")
    assert translate("INSERT OR REPLACE INTO meta VALUES (?, ?)").sql == (
        "INSERT INTO meta VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value")
    assert translate("INSERT OR IGNORE INTO meta VALUES ('a', ?)").sql.endswith(
        "ON CONFLICT DO NOTHING")
    a = translate("INSERT INTO audit (at) VALUES (?)")
    assert a.returning and a.sql.endswith("RETURNING id")
    assert translate("SELECT 1 FROM edges WHERE src=? AND +type=?").sql == \
        "SELECT 1 FROM edges WHERE src=%s AND type=%s"
    assert "x + 1" in translate("SELECT x + 1 FROM t").sql
    assert "IDENTITY PRIMARY KEY" in translate("CREATE TABLE a (id INTEGER PRIMARY KEY)").sql
    with pytest.raises(NotImplementedError, match="nodes"):
        translate("INSERT OR REPLACE INTO nodes VALUES (?)")
    assert split_statements("CREATE TABLE a (x TEXT DEFAULT ';'); -- c;\nSELECT 1;") == [
        "CREATE TABLE a (x TEXT DEFAULT ';')", "SELECT 1"]


@pytest.fixture()
def pg(pg_url):
    conn = PgConnection(pg_url)
    prepare_postgres(conn, "CREATE TABLE t (id TEXT PRIMARY KEY, doc TEXT);"
                           "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);")
    yield conn
    conn.close()


def test_postgres_errors_are_sqlite3_errors_and_a_failed_insert_keeps_the_transaction(pg):
    pg.execute("BEGIN IMMEDIATE")
    assert pg.in_transaction
    pg.execute("INSERT INTO t VALUES (?, ?)", ("a", '{"path": "A > B"}'))
    with pytest.raises(sqlite3.IntegrityError):
        pg.execute("INSERT INTO t VALUES (?, ?)", ("a", "{}"))   # duplicate key
    pg.execute("INSERT INTO t VALUES (?, ?)", ("b", "{bad json"))  # the transaction goes on
    pg.execute("COMMIT")
    assert not pg.in_transaction
    assert pg.execute("SELECT count(*) FROM t").fetchone()[0] == 2
    assert pg.total_changes == 2
    assert pg.execute("SELECT json_extract(doc, '$.path') FROM t ORDER BY id").fetchall() == [
        ("A > B",), (None,)]
    names = {r[0] for r in pg.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"t", "meta"} <= names
    with pytest.raises(sqlite3.DatabaseError, match="nosuch"):
        pg.execute("SELECT * FROM nosuch")


def test_begin_immediate_serialises_writers_and_busy_timeout_gives_up(pg, pg_url):
    other = PgConnection(pg_url)
    try:
        pg.execute("BEGIN IMMEDIATE")
        other.execute("PRAGMA busy_timeout=200")
        t0 = time.perf_counter()
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        assert time.perf_counter() - t0 >= 0.15
        other.execute("ROLLBACK")
        other.execute("PRAGMA busy_timeout=10000")
        got: list[float] = []

        def second() -> None:
            other.execute("BEGIN IMMEDIATE")       # waits for the first writer's commit
            got.append(time.perf_counter())
            other.execute("INSERT INTO t VALUES ('late', '{}')")
            other.execute("COMMIT")
        th = threading.Thread(target=second)
        th.start()
        time.sleep(0.3)
        assert not got                              # still waiting
        pg.execute("INSERT INTO t VALUES ('first', '{}')")
        done = time.perf_counter()
        pg.execute("COMMIT")
        th.join(10)
        assert got and got[0] >= done
        assert pg.execute("SELECT count(*) FROM t").fetchone()[0] == 2
    finally:
        other.close()


def test_snapshot_reads_one_state_on_both_backends(tmp_path, pg, pg_url):
    for loc in (tmp_path / "s.sqlite", pg_url):
        w = connect(loc)
        if not isinstance(w, PgConnection):
            w.execute("PRAGMA journal_mode=WAL")
            w.execute("CREATE TABLE t (id TEXT PRIMARY KEY, doc TEXT)")
        w.execute("INSERT INTO t VALUES ('x', '{}')")
        with snapshot(loc) as r:
            assert r.execute("SELECT count(*) FROM t").fetchone()[0] == 1
            w.execute("INSERT INTO t VALUES ('y', '{}')")      # committed meanwhile
            assert r.execute("SELECT count(*) FROM t").fetchone()[0] == 1
        with snapshot(loc) as r:
            assert r.execute("SELECT count(*) FROM t").fetchone()[0] == 2
        w.close()
    assert store_exists(pg_url, "t") and not store_exists(pg_url, "nodes")
    assert not store_exists(tmp_path / "missing.sqlite")
