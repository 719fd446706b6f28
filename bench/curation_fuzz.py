"""Long stateful fuzz of graph curation over HTTP: real committed edits, checked after every step.

Run::

    python bench/curation_fuzz.py --artifact runs/model --db runs/graph.sqlite \
        [--examples 20] [--steps 40]

Copies the graph store (or, without one, the model's graph snapshot) to a temporary folder,
serves the API on it (uvicorn, a free loopback port, a curator key) and runs the Hypothesis
state machine of ``tests/curation_machine.py`` (hostile ids and titles, links, merges,
re-pricing, bulk links, reverts, suggestions) for ``--examples`` runs of ``--steps`` steps,
with the same checks as the suite's bounded run: no 5xx, the store passes the graph check,
the newest edit can be reverted, touched products stay computable, and undoing everything
restores the store. Prints the figures and writes
bench/results/curation_fuzz.json (status codes per rule, steps, seconds, failure if any:
with Hypothesis's blob to reproduce it).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests/curation_machine.py holds the machine the suite runs

KEY = "bench-curator-key-0123456789"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--artifact", default="runs/model")
    ap.add_argument("--db", default="runs/graph.sqlite")
    ap.add_argument("--examples", type=int, default=20)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--out", default=str(ROOT / "bench/results/curation_fuzz.json"))
    args = ap.parse_args()

    import uvicorn
    from hypothesis import HealthCheck, Phase, settings
    from hypothesis.stateful import run_state_machine_as_test

    from assistant.http.app import ApiSettings, create_app
    from assistant.service import PricingService
    from graph.store import GraphStore
    from tests.curation_machine import curation_machine

    tmp = Path(tempfile.mkdtemp(prefix="curation-fuzz-"))
    db = tmp / "graph.sqlite"
    if Path(args.db).is_file():
        with GraphStore(args.db) as src:
            graph = src.load()
    else:  # no store yet: the graph snapshot the model was trained with
        from models.predictor import Predictor

        graph = Predictor.load(args.artifact).graph_
    with GraphStore(db) as dst:
        dst.save(graph)
    svc = PricingService.from_paths(args.artifact, db, tmp / "suggestions.sqlite", llm=None,
                                    sales=None)
    app = create_app(svc, ApiSettings(api_keys={KEY: "curator"}, key_names={KEY: "bench"},
                                      rate_limit=0))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    th = threading.Thread(target=server.run, daemon=True)
    th.start()
    while not server.started:
        time.sleep(0.05)

    ids = sorted(svc.products.index[svc.products["price"].notna()])[:200]
    machine = curation_machine(f"http://127.0.0.1:{port}", KEY, db, ids)
    t0 = time.perf_counter()
    failure = None
    try:
        run_state_machine_as_test(machine, settings=settings(
            max_examples=args.examples, stateful_step_count=args.steps, deadline=None,
            database=None, phases=[Phase.generate], print_blob=True,
            suppress_health_check=list(HealthCheck)))
    except BaseException as exc:  # noqa: BLE001 - the report says what failed
        failure = "".join(traceback.format_exception_only(type(exc), exc))[-4000:]
    seconds = time.perf_counter() - t0
    server.should_exit = True
    th.join(10)
    svc.close()

    stats = dict(sorted(machine.stats.items()))
    requests = sum(stats.values())
    server_errors = sum(n for k, n in stats.items() if k.split()[-1].startswith("5"))
    committed = sum(n for k, n in stats.items()
                    if k.endswith(" 200") and k.split()[0] in (
                        "add_product", "add_brand", "link_brand", "set_price", "retitle",
                        "merge_brands", "bulk", "revert", "undo"))
    out = {"examples": args.examples, "steps": args.steps,
           "requests": requests, "server_errors": server_errors, "committed_edits": committed,
           "seconds": round(seconds, 1), "requests_per_s": round(requests / seconds, 2),
           "failure": failure, "by_rule_and_status": stats,
           "machine": platform.node(), "load_avg": os.getloadavg()}
    print(json.dumps({k: v for k, v in out.items() if k != "by_rule_and_status"}, indent=1))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    if failure:
        sys.exit(1)


if __name__ == "__main__":
    main()
