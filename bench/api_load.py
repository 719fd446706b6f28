"""Load test of the REST API over loopback: 1 and N workers, 10 and 50 clients, SQLite and
PostgreSQL stores - latency, throughput, errors and the memory each extra worker costs.

Run::

    python bench/api_load.py --artifact runs/model --db runs/graph.sqlite \
        [--workers 1,2] [--clients 10,50] [--backends sqlite,postgresql] [--requests 400] \
        [--uvicorn-workers] [--batch 1000] [--explained 20 [--explained-llm local]] [--no-cache]

For every (backend, workers, clients) it starts ``pricing serve --workers N --no-ui`` on a free
loopback port (PostgreSQL: a throwaway server from the Debian packages, tests/pgserver.py,
fsync on, the SQLite stores copied in with graph.migrate), then ``--clients`` threads with one
kept-alive httpx connection each send ``--requests`` single suggestions for catalog products
(no explanation): p50 / p99 ms, requests per second, errors (non-2xx or no answer). After the
run it reads the memory of the master and of each worker (psutil: USS = pages only that
process holds, PSS = its share of the shared ones). ``--uvicorn-workers`` also measures
uvicorn's own ``--workers`` mode (each worker loads the model itself: no sharing) for
comparison. Servers warm the catalog's suggestions before serving (``pricing serve --warm``);
``--no-cache`` measures the computed path instead. ``--batch`` / ``--explained`` add the
batch-throughput and explained-suggestion figures of one single-worker SQLite server
(``--explained-llm local``: worded by the local SmolLM2, one thread). Results: printed, and written to
bench/results/api_load_workers.json. Requests go to 127.0.0.1 only and every loop is bounded.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
KEY = "bench-key-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(cmd: list[str], port: int, env_extra: dict[str, str], workers: int
                 ) -> subprocess.Popen:
    env = dict(os.environ, PRICING_API_KEYS=f"bench:{KEY}:merchant", PRICING_RATE_LIMIT="0",
               PRICING_THREADS="1", PRICING_LLM_BACKEND="none")
    env.update(env_extra)
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read()[-2000:]}")
        try:
            kids = psutil.Process(proc.pid).children(recursive=True)
            if (workers == 1 or len(kids) >= workers) and httpx.get(
                    f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except (httpx.HTTPError, psutil.NoSuchProcess):
            pass
        time.sleep(0.5)
    proc.kill()
    raise RuntimeError("server did not become ready in 300 s")


def serve_cmd(artifact: Path, db: str, sdb: str, port: int, workers: int,
              warm: bool = True) -> list[str]:
    return [sys.executable, "-m", "assistant.cli", "serve", "--artifact", str(artifact),
            "--db", db, "--suggestions-db", sdb, "--port", str(port), "--workers",
            str(workers), "--no-ui", "--warm" if warm else "--no-warm"]


def memory(proc: subprocess.Popen) -> dict:
    """MB of the server's processes: the master's RSS/PSS, each worker's USS/PSS."""
    def mb(x: float) -> float:
        return round(x / 2**20, 1)
    root = psutil.Process(proc.pid)
    kids = root.children(recursive=True)
    out = {"master": {}, "workers": []}
    m = root.memory_full_info()
    out["master"] = {"rss_mb": mb(m.rss), "pss_mb": mb(m.pss), "uss_mb": mb(m.uss)}
    for k in kids:
        try:
            w = k.memory_full_info()
        except psutil.NoSuchProcess:
            continue
        out["workers"].append({"rss_mb": mb(w.rss), "pss_mb": mb(w.pss), "uss_mb": mb(w.uss)})
    if out["workers"]:
        out["uss_per_worker_mb"] = round(float(np.mean([w["uss_mb"] for w in out["workers"]])), 1)
    return out


def load(base: str, ids: list[str], clients: int, n: int, seed: int = 0) -> dict:
    rng = random.Random(seed)
    picks = [rng.choice(ids) for _ in range(n)]
    local = threading.local()
    made: list[httpx.Client] = []
    errors: list[str] = []

    def one(pid: str) -> float | None:
        c = getattr(local, "c", None)
        if c is None:  # one kept-alive connection per client thread, as a real client keeps
            c = local.c = httpx.Client(base_url=base, headers={"X-API-Key": KEY}, timeout=120)
            made.append(c)
        t = time.perf_counter()
        try:
            r = c.post("/v1/suggestions", json={"product_id": pid, "explain": False})
        except httpx.HTTPError as exc:
            errors.append(type(exc).__name__)
            return None
        if r.status_code != 200:
            errors.append(str(r.status_code))
            return None
        return (time.perf_counter() - t) * 1000

    with ThreadPoolExecutor(clients) as pool:          # warm-up: every connection once
        list(pool.map(one, picks[:clients * 2]))
        errors.clear()
        t0 = time.perf_counter()
        lat = [x for x in pool.map(one, picks) if x is not None]
        wall = time.perf_counter() - t0
    for c in made:
        c.close()
    return {"n": n, "ok": len(lat), "errors": len(errors),
            "error_kinds": sorted(set(errors))[:5],
            "p50_ms": round(float(np.percentile(lat, 50)), 1) if lat else None,
            "p99_ms": round(float(np.percentile(lat, 99)), 1) if lat else None,
            "mean_ms": round(float(np.mean(lat)), 1) if lat else None,
            "throughput_rps": round(len(lat) / wall, 1)}


def extras(base: str, ids: list[str], batch: int, explained: int) -> dict:
    out: dict = {}
    h = {"X-API-Key": KEY}
    if batch:
        with httpx.Client(base_url=base, headers=h, timeout=600) as c:
            t = time.perf_counter()
            r = c.post("/v1/suggestions/batch", json={
                "items": [{"product_id": p} for p in ids[:batch]], "explain": False})
            r.raise_for_status()
            s = time.perf_counter() - t
        out["batch"] = {"n": min(batch, len(ids)), "seconds": round(s, 2),
                        "products_per_s": round(min(batch, len(ids)) / s, 1)}
    if explained:
        times, status = [], Counter()
        with httpx.Client(base_url=base, headers=h, timeout=300) as c:
            for pid in ids[:explained]:
                t = time.perf_counter()
                r = c.post("/v1/suggestions", json={"product_id": pid, "explain": True})
                r.raise_for_status()
                times.append(time.perf_counter() - t)
                status[r.json()["explanation"]["status"]] += 1
        out["explained_status"] = dict(status)  # verified = the LLM's wording passed
        out["explained_p50_s"] = round(float(np.percentile(times, 50)), 2)
        out["explained_p90_s"] = round(float(np.percentile(times, 90)), 2)
        out["explained_n"] = len(times)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--artifact", type=Path, default=ROOT / "runs/model")
    ap.add_argument("--db", type=Path, default=ROOT / "runs/graph.sqlite")
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--clients", default="10,50")
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--uvicorn-workers", action="store_true")
    ap.add_argument("--batch", type=int, default=0)
    ap.add_argument("--explained", type=int, default=0)
    ap.add_argument("--explained-llm", default="none",
                    help="LLM backend of the explained requests (local = SmolLM2; none = the "
                         "deterministic text)")
    ap.add_argument("--no-cache", action="store_true",
                    help="compute every suggestion (no warmed catalog cache: PRICING_CACHE_ITEMS=0)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/api_load_workers.json")
    args = ap.parse_args()
    workers = [int(x) for x in args.workers.split(",")]
    clients = [int(x) for x in args.clients.split(",")]
    backends = [x.strip() for x in args.backends.split(",")]

    from graph.migrate import migrate_graph
    from tests.pgserver import PgServer

    tmp = Path(tempfile.mkdtemp(prefix="api-load-"))
    pg = None
    runs: list[dict] = []
    mem: dict = {}
    try:
        for backend in backends:
            if backend == "postgresql":
                pg = PgServer(fast=False).start()
                db = sdb = pg.new_database("bench")
                migrate_graph(args.db, db)
            else:
                db, sdb = str(args.db), str(tmp / "suggestions.sqlite")
            for w in workers:
                port = free_port()
                base = f"http://127.0.0.1:{port}"
                t0 = time.perf_counter()
                env_extra = {"PRICING_CACHE_ITEMS": "0"} if args.no_cache else {}
                if backend == "sqlite" and w == 1 and args.explained:
                    env_extra["PRICING_LLM_BACKEND"] = args.explained_llm
                proc = start_server(serve_cmd(args.artifact, db, sdb, port, w,
                                              warm=not args.no_cache), port, env_extra, w)
                startup = round(time.perf_counter() - t0, 1)
                try:
                    with httpx.Client(base_url=base, headers={"X-API-Key": KEY}) as c:
                        ids = c.get("/v1/products", params={"limit": 2000}).json()["product_ids"]
                    for n_clients in clients:
                        r = load(base, ids, n_clients, args.requests)
                        r.update(backend=backend, workers=w, clients=n_clients,
                                 cache=not args.no_cache,
                                 server_startup_s=startup,
                                 load_average=[round(x, 2) for x in os.getloadavg()])
                        runs.append(r)
                        print(json.dumps(r), flush=True)
                    mem[f"{backend}/gunicorn/{w}"] = memory(proc)
                    if backend == "sqlite" and w == 1 and (args.batch or args.explained):
                        mem["extras"] = extras(base, ids, args.batch, args.explained)
                        mem["extras"]["explained_llm"] = args.explained_llm
                finally:
                    proc.terminate()
                    proc.wait(timeout=60)
            if args.uvicorn_workers and backend == "sqlite":
                port = free_port()
                env = {"PRICING_ARTIFACT": str(args.artifact), "PRICING_GRAPH_DB": db,
                       "PRICING_SUGGESTIONS_DB": sdb}
                proc = start_server([sys.executable, "-m", "uvicorn", "--factory",
                                     "assistant.http.app:app_from_env", "--port", str(port),
                                     "--workers", str(max(workers)), "--log-level", "warning"],
                                    port, env, max(workers))
                try:
                    base = f"http://127.0.0.1:{port}"
                    with httpx.Client(base_url=base, headers={"X-API-Key": KEY}) as c:
                        ids = c.get("/v1/products", params={"limit": 2000}).json()["product_ids"]
                    load(base, ids, 10, 100)  # touch the model in every worker
                    mem[f"sqlite/uvicorn-workers/{max(workers)}"] = memory(proc)
                finally:
                    proc.terminate()
                    proc.wait(timeout=60)
    finally:
        if pg is not None:
            pg.stop()
    res = {"artifact": str(args.artifact), "requests_per_run": args.requests,
           "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "cpus": os.cpu_count(),
           # a busy machine slows every figure: say how busy it was
           "load_average_end": [round(x, 2) for x in os.getloadavg()],
           "runs": runs, "memory": mem}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2))
    print(json.dumps(res["memory"], indent=2))


if __name__ == "__main__":
    main()
