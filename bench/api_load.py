"""Load test of the REST API over loopback: suggestion latency, batch throughput, explanations.

Run::

    python bench/api_load.py --artifact runs/model --db runs/graph.sqlite \
        [--requests 500] [--clients 10] [--batch 1000] [--explained 20]

Starts ``pricing serve`` on a free loopback port in a subprocess, then measures with httpx:
- single suggestions without explanation, ``--clients`` concurrent clients: p50 / p99 ms;
- ``POST /v1/suggestions/batch`` with ``--batch`` catalog products: products per second;
- suggestions with the local-LLM explanation (sequential): p50 seconds and the status mix.
Figures are printed and written to bench/results/api_load.json. Requests go to 127.0.0.1 only
and the loops are bounded by the counts above.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
KEY = "bench-key-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(artifact: Path, db: Path, port: int, threads: int, suggestions_db: Path
                 ) -> subprocess.Popen:
    env = dict(os.environ, PRICING_API_KEYS=f"bench:{KEY}:merchant", PRICING_RATE_LIMIT="0",
               PRICING_THREADS=str(threads))
    proc = subprocess.Popen(
        [sys.executable, "-m", "assistant.cli", "serve", "--artifact", str(artifact), "--db", str(db),
         "--suggestions-db", str(suggestions_db), "--port", str(port), "--no-ui"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 180
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise RuntimeError("server did not become ready in 180 s")


def product_ids(base: str, n: int) -> list[str]:
    with httpx.Client(base_url=base, headers={"X-API-Key": KEY}, timeout=30) as c:
        ids = c.get("/v1/products", params={"limit": n}).json()["product_ids"]
    return ids


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--artifact", type=Path, default=ROOT / "runs/model")
    ap.add_argument("--db", type=Path, default=ROOT / "runs/graph.sqlite")
    ap.add_argument("--requests", type=int, default=500)
    ap.add_argument("--clients", type=int, default=10)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--explained", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads per request in the server (requests run in parallel)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/api_load.json")
    args = ap.parse_args()

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    tmp_db = ROOT / "runs" / f"bench_suggestions_{port}.sqlite"
    t0 = time.perf_counter()
    proc = start_server(args.artifact, args.db, port, args.threads, tmp_db)
    startup = time.perf_counter() - t0
    try:
        ids = product_ids(base, max(args.batch, 200))
        rng = random.Random(0)
        headers = {"X-API-Key": KEY}

        local = threading.local()
        clients: list[httpx.Client] = []

        def one(pid: str) -> float:
            # one kept-alive connection per client thread, as a real API client would use
            c = getattr(local, "client", None)
            if c is None:
                c = local.client = httpx.Client(base_url=base, headers=headers, timeout=60)
                clients.append(c)
            t = time.perf_counter()
            r = c.post("/v1/suggestions", json={"product_id": pid, "explain": False})
            r.raise_for_status()
            return (time.perf_counter() - t) * 1000

        picks = [rng.choice(ids) for _ in range(args.requests)]
        for pid in picks[:10]:  # warm-up
            one(pid)
        lat: list[float] = []
        with ThreadPoolExecutor(args.clients) as pool:
            for ms in tqdm(pool.map(one, picks), total=len(picks), desc="single suggestions"):
                lat.append(ms)

        for c in clients:
            c.close()
        batch_ids = ids[: args.batch]
        with httpx.Client(base_url=base, headers=headers, timeout=600) as c:
            t = time.perf_counter()
            r = c.post("/v1/suggestions/batch",
                       json={"items": [{"product_id": p} for p in batch_ids], "explain": False})
            r.raise_for_status()
            batch_s = time.perf_counter() - t
            ok = sum(1 for x in r.json()["results"] if x.get("suggestion"))

        explained: list[float] = []
        statuses: dict[str, int] = {}
        with httpx.Client(base_url=base, headers=headers, timeout=300) as c:
            for pid in tqdm(picks[: args.explained], desc="explained suggestions"):
                t = time.perf_counter()
                r = c.post("/v1/suggestions", json={"product_id": pid, "explain": True})
                r.raise_for_status()
                explained.append(time.perf_counter() - t)
                st = r.json()["explanation"]["status"]
                statuses[st] = statuses.get(st, 0) + 1
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        for suffix in ("", "-wal", "-shm"):
            Path(str(tmp_db) + suffix).unlink(missing_ok=True)

    res = {
        "server_startup_s": round(startup, 2),
        "artifact": str(args.artifact), "server_threads": args.threads,
        # a busy machine slows every figure: say how busy it was
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "clients": args.clients,
        "single": {"n": len(lat), "p50_ms": round(float(np.percentile(lat, 50)), 1),
                   "p99_ms": round(float(np.percentile(lat, 99)), 1),
                   "mean_ms": round(float(np.mean(lat)), 1)},
        "batch": {"n": len(batch_ids), "ok": ok, "seconds": round(batch_s, 2),
                  "products_per_s": round(len(batch_ids) / batch_s, 1)},
        "explained": {"n": len(explained),
                      "p50_s": round(float(np.percentile(explained, 50)), 2) if explained else None,
                      "statuses": statuses},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
