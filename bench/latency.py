"""Inference speed and memory of a saved price model (``models.Predictor``).

Run::

    .venv/bin/python bench/latency.py --artifact runs/full [--n-batch 2000] [--n-single 200]

Measures, in a fresh process (so imports and file reads count):

- ``Predictor.load(dir)`` wall time, and the process's resident memory before and after it
  (``/proc/self/status`` VmRSS; the delta is the loaded predictor);
- batch scoring (``predict`` on ``--n-batch`` products at once, chunks of 1,000), products/s:
  *catalog* products by id (their stored text embeddings are reused) and *new* products given
  as records without an id (title, category, brand, description: the encoder runs);
- one product at a time, p50 / p99 ms over ``--n-single`` products, both kinds, with and
  without the Shapley drivers.

Issue targets (2 cores): load < 10 s, batch >= 200 products/s, one product p50 < 50 ms.
Figures are printed and written to ``bench/results/latency.json`` with the machine's load
average, since a busy machine slows every figure.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "results" / "latency.json"
TARGETS = {"load_s": 10.0, "batch_per_s": 200.0, "single_p50_ms": 50.0}


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _per_second(predict, items: list, chunk: int = 1000) -> float:
    t = time.perf_counter()
    for s in range(0, len(items), chunk):
        predict(items[s:s + chunk])
    return len(items) / (time.perf_counter() - t)


def _single_ms(predict, items: list) -> tuple[float, float]:
    predict(items[:3])  # warm caches (category look-ups, torch kernels)
    ts = []
    for it in items:
        t = time.perf_counter()
        predict([it])
        ts.append((time.perf_counter() - t) * 1000)
    p50, p99 = np.percentile(ts, [50, 99])
    return round(float(p50), 2), round(float(p99), 2)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--artifact", default=str(ROOT / "runs" / "model"))
    ap.add_argument("--n-batch", type=int, default=2000)
    ap.add_argument("--n-single", type=int, default=200)
    ap.add_argument("--threads", type=int, default=int(os.environ.get("PRICING_THREADS", "2")))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args(argv)

    rss0 = rss_mib()
    t = time.perf_counter()
    from models.predictor import Predictor

    import_s = time.perf_counter() - t
    rss1 = rss_mib()
    t = time.perf_counter()
    pred = Predictor.load(args.artifact, threads=args.threads)
    load_s = time.perf_counter() - t
    rss2 = rss_mib()

    cat = pred.catalog_
    priced = cat[cat["price"].notna()]
    rng = np.random.default_rng(args.seed)
    n = min(len(priced), max(args.n_batch, args.n_single))
    rows = priced.iloc[np.sort(rng.choice(len(priced), n, replace=False))]
    ids = rows["product_id"].astype(str).tolist()
    # "new" products: the same texts with no id, so the encoder and lexical features run
    records = [{k: r[k] for k in ("title", "description", "category_path", "brand", "currency")}
               for r in rows.to_dict("records")]

    res: dict = {"artifact": str(args.artifact), "model_version": pred.version,
                 "catalog_products": len(cat), "threads": args.threads,
                 "load_s": round(load_s, 2), "import_s": round(import_s, 2),
                 "rss_before_mib": round(rss1, 1), "rss_loaded_mib": round(rss2, 1),
                 "predictor_mib": round(rss2 - rss1, 1), "rss_start_mib": round(rss0, 1)}
    print(f"load {load_s:.2f} s (imports {import_s:.2f} s before it); "
          f"memory {rss2 - rss1:.0f} MiB for the predictor, {rss2:.0f} MiB process")

    nb = min(args.n_batch, n)
    res["batch_catalog_per_s"] = round(_per_second(pred.predict, ids[:nb]), 1)
    res["batch_new_per_s"] = round(_per_second(pred.predict, records[:nb]), 1)
    res["batch_catalog_drivers_per_s"] = round(
        _per_second(lambda x: pred.predict(x, drivers=True), ids[:nb]), 1)
    print(f"batch of {nb}: catalog {res['batch_catalog_per_s']}/s, new "
          f"{res['batch_new_per_s']}/s, catalog + drivers {res['batch_catalog_drivers_per_s']}/s")

    ns = min(args.n_single, n)
    for name, items, kw in (("catalog", ids[:ns], {}), ("new", records[:ns], {}),
                            ("catalog_drivers", ids[:ns], {"drivers": True})):
        p50, p99 = _single_ms(lambda x, kw=kw: pred.predict(x, **kw), items)
        res[f"single_{name}_p50_ms"], res[f"single_{name}_p99_ms"] = p50, p99
        print(f"one {name.replace('_', ' + ')} product: p50 {p50} ms, p99 {p99} ms")
    res["rss_after_mib"] = round(rss_mib(), 1)
    res["load_average"] = [round(x, 2) for x in os.getloadavg()]
    res["cpu_count"] = os.cpu_count()
    res["python"] = platform.python_version()
    res["targets"] = TARGETS
    res["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=2) + "\n")
    print(f"load average {res['load_average']}; written to {args.out}")
    return res


if __name__ == "__main__":
    main()
