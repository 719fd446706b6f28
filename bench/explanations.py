"""How often the local LLM's explanations pass verification, and how long they take.

Run::

    python bench/explanations.py --artifact runs/model --db runs/graph.sqlite [--n 200] [--threads 2]

For ``--n`` catalog products (fixed seed) it asks the pricing service for an explained
suggestion with the configured LLM backend (default: SmolLM2-135M-Instruct in process) and
counts the share verified first time, verified after the one retry, and replaced by the
deterministic fallback, plus seconds per explanation. Writes bench/results/explanations.json.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--artifact", type=Path, default=ROOT / "runs/model")
    ap.add_argument("--db", type=Path, default=ROOT / "runs/graph.sqlite")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/explanations.json")
    args = ap.parse_args()
    os.environ.setdefault("PRICING_THREADS", str(args.threads))

    from assistant.service import PricingService
    from assistant.suggestion import SuggestOptions

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        service = PricingService.from_paths(args.artifact, args.db, Path(tmp) / "s.sqlite")
        load_s = time.perf_counter() - t0
        ids = sorted(service.products.index[service.products["price"].notna()].tolist())
        picks = random.Random(0).sample(ids, min(args.n, len(ids)))
        statuses: Counter[str] = Counter()
        seconds: list[float] = []
        for pid in tqdm(picks, desc="explanations"):
            s = service.suggest(pid, SuggestOptions(explain=True), store=False)
            statuses[s.explanation.status] += 1
            seconds.append(float(s.explanation.seconds or 0.0))
    n = len(picks)
    res = {
        "backend": os.environ.get("PRICING_LLM_BACKEND", "local"),
        "n": n, "service_load_s": round(load_s, 2),
        "verified_first_time": round(statuses["verified"] / n, 3),
        "verified_after_retry": round(statuses["verified_after_retry"] / n, 3),
        "fallback": round(statuses["fallback"] / n, 3),
        "seconds_per_explanation_mean": round(float(np.mean(seconds)), 2),
        "seconds_per_explanation_p50": round(float(np.median(seconds)), 2),
        "seconds_per_explanation_p90": round(float(np.percentile(seconds, 90)), 2),
        "threads": args.threads, "artifact": str(args.artifact),
        # a busy machine slows every figure: say how busy it was
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
