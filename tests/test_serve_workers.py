"""``pricing serve --workers 2`` as real processes (gunicorn, forked uvicorn workers) on SQLite
and PostgreSQL: run with `.venv/bin/pytest tests/test_serve_workers.py -q` (~2 min).

- an edit made through one worker is visible through the other on its next request, and so
  is its revert;
- two curators on two workers edit one node at the same version: one 200, one 409, nothing
  lost;
- PostgreSQL: a worker killed with SIGKILL in the middle of a bulk edit leaves nothing half
  applied, gunicorn forks a fresh worker, and the next edit goes through.

Each keep-alive connection stays with the worker that accepted it; which worker that is comes
from the worker processes' sockets (psutil).
"""
from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from graph.db import WRITER_LOCK
from graph.schema import node_id
from graph.store import GraphStore

ROOT = Path(__file__).resolve().parents[1]
# The session's tiny model is trained in the first test's setup; servers load it twice.
pytestmark = pytest.mark.timeout(1800)
# Keys of at least 16 characters: the server refuses shorter ones at start-up (issue #19).
CUR_A, CUR_B, MERCHANT = "curator-a-0123456789", "curator-b-0123456789", "merchant-0123456789"
KEYS = {CUR_A: "curator", CUR_B: "curator", MERCHANT: "merchant"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``pricing serve --workers N`` in a subprocess, stopped on close."""

    def __init__(self, artifact: Path, db: str, suggestions_db: str, workers: int = 2) -> None:
        self.port = _free_port()
        env = dict(os.environ, PRICING_THREADS="1", PRICING_LLM_BACKEND="none",
                   PRICING_API_KEYS=",".join(f"{k}:{r}" for k, r in KEYS.items()))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "assistant.cli", "serve", "--artifact", str(artifact),
             "--db", db, "--suggestions-db", suggestions_db, "--port", str(self.port),
             "--workers", str(workers)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True)
        self.workers = workers
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"server exited: {self.proc.stderr.read()[-3000:]}")
            if len(self.worker_pids()) == workers:
                try:
                    if self.request("GET", "/readyz")[0] == 200:
                        return
                except OSError:
                    pass
            time.sleep(0.5)
        self.close()
        pytest.fail("server did not become ready in 600 s")

    def worker_pids(self) -> list[int]:
        try:
            return sorted(c.pid for c in psutil.Process(self.proc.pid).children())
        except psutil.NoSuchProcess:
            return []

    def connection(self) -> tuple[http.client.HTTPConnection, int]:
        """A kept-alive connection and the pid of the worker serving it."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        conn.connect()
        port = conn.sock.getsockname()[1]
        for _ in range(100):
            for pid in self.worker_pids():
                try:
                    peers = psutil.Process(pid).net_connections(kind="tcp")
                except psutil.NoSuchProcess:
                    continue
                if any(c.raddr and c.raddr.port == port for c in peers):
                    return conn, pid
            time.sleep(0.05)
        raise AssertionError("no worker holds the connection")

    def request(self, method: str, path: str, body: dict | None = None, key: str = MERCHANT,
                conn: http.client.HTTPConnection | None = None) -> tuple[int, dict]:
        own = conn is None
        conn = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            conn.request(method, path, body=None if body is None else json.dumps(body),
                         headers={"X-API-Key": key, "Content-Type": "application/json"})
            r = conn.getresponse()
            data = r.read()
            return r.status, (json.loads(data) if data else {})
        finally:
            if own:
                conn.close()

    def close(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)


def one_per_worker(server: Server) -> tuple[http.client.HTTPConnection, http.client.HTTPConnection]:
    """Two connections served by two different workers."""
    first, pid = server.connection()
    for _ in range(60):
        other, pid2 = server.connection()
        if pid2 != pid:
            return first, other
        other.close()
    raise AssertionError("every connection went to one worker")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request, tiny_artifact, tiny_service, tmp_path_factory):
    if request.param == "sqlite":
        d = tmp_path_factory.mktemp("workers")
        db, sdb = str(d / "graph.sqlite"), str(d / "suggestions.sqlite")
    else:
        db = sdb = request.getfixturevalue("pg_server").new_database("workers")
    with GraphStore(db) as store:
        store.save(tiny_service.graph)
    srv = Server(tiny_artifact, db, sdb)
    srv.db = db
    yield srv
    srv.close()


def _brand_of(server: Server, conn: http.client.HTTPConnection, pid: str) -> str | None:
    status, body = server.request("GET", f"/v1/products/{pid}", conn=conn)
    assert status == 200, body
    return body.get("brand")


def _branded_product(tiny_service) -> tuple[str, str]:
    p = tiny_service.products
    p = p[p["brand"].notna() & p["brand"].str.isascii()].sort_index()
    row = p.iloc[len(p) // 3]
    return row["product_id"], row["brand"]


def test_an_edit_through_one_worker_is_seen_by_the_other_and_so_is_its_revert(server,
                                                                           tiny_service):
    a, b = one_per_worker(server)
    pid, brand = _branded_product(tiny_service)
    assert _brand_of(server, b, pid) == brand
    node = node_id("brand", brand)
    status, body = server.request("POST", "/v1/graph/ops", {
        "op": "rename_node", "params": {"node": node, "new_name": brand + " Renamed"}, "force": True},
        key=CUR_A, conn=a)
    assert status == 200, body
    assert _brand_of(server, b, pid) == brand + " Renamed"      # the other worker, next request
    status, body = server.request("POST", f"/v1/graph/audit/{body['audit_id']}/revert",
                                  {"reason": "test"}, key=CUR_B, conn=b)
    assert status == 200, body
    assert _brand_of(server, a, pid) == brand                   # and the revert, back on a
    assert _brand_of(server, b, pid) == brand
    a.close()
    b.close()


def test_two_curators_on_two_workers_one_wins_one_gets_409(server, tiny_service):
    a, b = one_per_worker(server)
    comps = sorted(n for n, d in tiny_service.graph.nodes(data=True)
                   if d.get("type") == "competitor")
    node = comps[-1]
    status, before = server.request("GET", f"/v1/graph/nodes/{node}", conn=a)
    assert status == 200, before
    v = before["version"]
    results: dict[str, tuple[int, dict]] = {}
    go = threading.Barrier(2)

    def edit(name: str, conn: http.client.HTTPConnection, key: str) -> None:
        go.wait()
        results[name] = server.request("POST", "/v1/graph/ops", {
            "op": "update_node", "params": {"node": node, "changes": {"note": name}},
            "expected": v}, key=key, conn=conn)
    ts = [threading.Thread(target=edit, args=("from-a", a, CUR_A)),
          threading.Thread(target=edit, args=("from-b", b, CUR_B))]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    codes = sorted(r[0] for r in results.values())
    assert codes == [200, 409], results
    winner = next(n for n, r in results.items() if r[0] == 200)
    loser = next(r for r in results.values() if r[0] == 409)
    assert "version" in json.dumps(loser[1])
    for conn in (a, b):                                         # both workers agree
        status, after = server.request("GET", f"/v1/graph/nodes/{node}", conn=conn)
        assert after["version"] == v + 1 and after["attrs"]["note"] == winner
    status, audit = server.request("GET", f"/v1/graph/audit?node={node}", conn=b)
    assert [e["op"] for e in audit["entries"]][:1] == ["update_node"]
    assert sum(e["op"] == "update_node" for e in audit["entries"]) == 1
    a.close()
    b.close()


def test_sigkill_of_a_worker_mid_bulk_edit_applies_nothing_and_the_server_goes_on(
        server, tiny_service):
    if not server.db.startswith("postgresql"):
        return  # the SQLite variant of this is tests/test_curation.py's SIGKILL test
    import psycopg

    comp = sorted(n for n, d in tiny_service.graph.nodes(data=True)
                  if d.get("type") == "competitor")[0].partition(":")[2]
    pids = sorted(tiny_service.products.index)[:400]
    rows = [{"op": "add_offer", "product_id": p, "competitor": comp, "price": 10 + i,
             "currency": "INR", "observed_at": "2031-02-03"} for i, p in enumerate(pids)]
    with psycopg.connect(server.db, autocommit=True) as pg:
        audit_before = pg.execute("SELECT count(*) FROM audit").fetchone()[0]
        edges_before = pg.execute("SELECT count(*) FROM edges").fetchone()[0]
        conn, _ = server.connection()
        outcome: dict = {}

        def bulk() -> None:
            try:
                outcome["r"] = server.request("POST", "/v1/graph/bulk", {"rows": rows, "force": True},
                                              key=CUR_A, conn=conn)
            except (OSError, http.client.HTTPException) as exc:
                outcome["error"] = exc
        th = threading.Thread(target=bulk)
        th.start()
        victim = None
        deadline = time.monotonic() + 60
        while victim is None and time.monotonic() < deadline and th.is_alive():
            row = pg.execute("SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity "
                             "a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
                             "AND (l.classid::bigint << 32) + l.objid::bigint = %s "
                             "AND a.application_name LIKE 'pricing-%%'",
                             (WRITER_LOCK,)).fetchone()
            if row is not None:  # the worker's bulk transaction holds the writer lock
                victim = int(row[0].split("-")[1])
            else:
                time.sleep(0.02)
        assert victim is not None, outcome
        assert victim in server.worker_pids()
        os.kill(victim, signal.SIGKILL)
        th.join(60)
        assert "error" in outcome, outcome                       # the request died with it
        # The server ended the dead worker's session: transaction rolled back, lock freed.
        for _ in range(200):
            held = pg.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                              ).fetchone()[0]
            if not held:
                break
            time.sleep(0.1)
        assert held == 0
        assert pg.execute("SELECT count(*) FROM audit").fetchone()[0] == audit_before
        assert pg.execute("SELECT count(*) FROM edges").fetchone()[0] == edges_before
    # gunicorn forks a fresh worker from the preloaded master; the edit then goes through
    for _ in range(240):
        if len(server.worker_pids()) == server.workers and victim not in server.worker_pids():
            break
        time.sleep(0.5)
    assert len(server.worker_pids()) == server.workers and victim not in server.worker_pids()
    status, body = server.request("POST", "/v1/graph/bulk", {"rows": rows[:20], "force": True},
                                  key=CUR_B)
    assert status == 200, body
    assert body["summary"].get("edges added") == 20, body["summary"]
    for _ in range(2):  # every worker, the new one included, sees it
        c, _pid = server.connection()
        status, node = server.request("GET", f"/v1/graph/nodes/product:{pids[0]}?edges=1000",
                                      conn=c)
        assert any(e["type"] == "offers" and e["key"].endswith("2031-02-03")
                   for e in node["in_edges"]), node
        c.close()
