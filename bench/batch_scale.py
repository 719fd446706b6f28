"""Catalog-wide batch scoring at scale: a synthetic 1M-product catalog scored locally and on Ray.

Run::

    .venv/bin/python bench/batch_scale.py --artifact runs/model \\
        --source ../shared/data/amazon_in_2023 --n 1000000 --slice 20000

1. **Catalog.** ``--n`` products recombined from the real ``amazon_in_2023`` titles: each
   synthetic product takes a real product (its category path, its brand — the title's first
   words, as the adapter infers brands — and its current price) and joins the head of that
   title (up to the first separator: ``,``, ``|``, ``(``, `` - ``, `` with ``, `` for ``) with
   the tail of another real title *from the same category*; rating and rating count come from
   that second product. So categories and brands stay consistent, the titles are new (the
   encoder runs for every one: the expensive path), and the category mix is the real one.
   Written as Parquet with row groups of one block.
2. **Plan.** ``make_plan`` on the whole file: duplicate-id check and blocks, timed (driver side).
3. **Scoring.** The first ``--slice`` products scored by ``pricing score`` in a fresh process
   each (imports, model loading and Ray start-up count): ``--engine local``, then Ray with 1
   and 2 actors, one torch thread per worker. Figures per run: products/s (wall, whole run),
   steady products/s (after the first block), products per CPU-second (the per-core rate:
   unlike wall rates it does not depend on what else the shared machine runs), time to first
   output, peak memory per worker.

The machine has 2 cores shared with other users: the load average before and after each run
is recorded, and the README extrapolates from the per-CPU-second rate. Results go to
``bench/results/batch_scale.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "results" / "batch_scale.json"
_SPLIT = re.compile(r"^(.+?)((?:,|\||\(| - | with | for ).*)$", re.IGNORECASE)


def real_products(source: Path) -> pd.DataFrame:
    """The real catalog, through the project's own adapter (brands inferred, paths built)."""
    from graph.adapters import load_dataset

    p = load_dataset("amazon_in_2023", source).products
    p = p.dropna(subset=["title", "category_path"]).reset_index(drop=True)
    return p[["title", "category_path", "brand", "price", "currency", "rating", "rating_count"]]


def synthesize(real: pd.DataFrame, n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` new products recombined from ``real`` (see the module docstring)."""
    rng = np.random.default_rng(seed)
    parts = real["title"].str.strip().str.extract(_SPLIT)
    head = parts[0].fillna(real["title"].str.strip()).str.strip().to_numpy(dtype=object)
    tail = parts[1].fillna("").str.strip().to_numpy(dtype=object)
    cat = pd.Categorical(real["category_path"])
    codes = cat.codes.astype(np.int64)
    order = np.argsort(codes, kind="stable")
    counts = np.bincount(codes, minlength=len(cat.categories))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    a = rng.integers(0, len(real), n)                      # the product a synthetic one copies
    ca = codes[a]
    b = order[starts[ca] + (rng.random(n) * counts[ca]).astype(np.int64)]  # same category
    titles = [h + ("" if not t or t.startswith(",") else " ") + t for h, t in zip(head[a], tail[b])]
    price = real["price"].to_numpy(dtype=float)[a]
    return pd.DataFrame({
        "product_id": [f"SYN{i:07d}" for i in range(n)],
        "title": titles,
        "category_path": real["category_path"].to_numpy(dtype=object)[a],
        "brand": real["brand"].to_numpy(dtype=object)[a],
        "price": np.round(price, 2),
        "currency": "INR",
        "rating": real["rating"].to_numpy(dtype=float)[b],
        "rating_count": real["rating_count"].to_numpy(dtype=float)[b],
    })


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def score(catalog: Path, out: Path, artifact: str, policy: Path, engine: str, actors: int,
          block_rows: int) -> dict:
    """One ``pricing score`` run in a fresh process; its JSON summary plus wall time."""
    cmd = [sys.executable, "-m", "assistant.cli", "score", str(catalog), "--policy", str(policy),
           "--out", str(out), "--artifact", artifact, "--db", str(out.parent / "no-graph.sqlite"),
           "--sales", "none", "--block-rows", str(block_rows), "--engine", engine, "--quiet",
           "--json", "--overwrite"]
    if engine == "ray":
        cmd += ["--actors", str(actors)]
    env = {**os.environ, "PRICING_THREADS": "1", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    load0, t = load_average(), time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    summary = json.loads(proc.stdout)
    summary.update(command_wall_s=round(wall, 2), load_before=load0, load_after=load_average())
    return summary


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--artifact", default=str(ROOT / "runs" / "model"))
    ap.add_argument("--source", default=str(ROOT.parent / "shared" / "data" / "amazon_in_2023"))
    ap.add_argument("--n", type=int, default=1_000_000, help="synthetic catalog size")
    ap.add_argument("--slice", type=int, default=20_000, help="products scored per run")
    ap.add_argument("--block-rows", type=int, default=1000)
    ap.add_argument("--work", default=str(ROOT / "runs" / "bench_batch"))
    ap.add_argument("--runs", default="local,ray:1,ray:2", help="engine[:actors], comma-separated")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args(argv)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    res: dict = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                 "artifact": args.artifact, "n": args.n, "slice": args.slice,
                 "block_rows": args.block_rows}

    # 1. the synthetic catalog
    full = work / f"synthetic_{args.n}.parquet"
    t = time.perf_counter()
    real = real_products(Path(args.source))
    cat = synthesize(real, args.n, args.seed)
    pq.write_table(pa.Table.from_pandas(cat, preserve_index=False), full,
                   row_group_size=args.block_rows)
    res["catalog"] = {
        "seconds": round(time.perf_counter() - t, 2), "real_products": len(real),
        "file_mib": round(full.stat().st_size / 2**20, 1),
        "distinct_titles": int(cat["title"].nunique()),
        "titles_also_real": int(cat["title"].isin(set(real["title"])).sum()),
        "categories": int(cat["category_path"].nunique()), "brands": int(cat["brand"].nunique()),
        "examples": cat.head(3)[["title", "category_path", "brand"]].to_dict("records")}
    print("catalog:", json.dumps(res["catalog"], ensure_ascii=False))
    sliced = work / f"synthetic_{args.n}_first_{args.slice}.parquet"
    pq.write_table(pq.read_table(full).slice(0, args.slice), sliced, row_group_size=args.block_rows)
    del cat

    # 2. planning the whole catalog (what the driver does before any block runs)
    from assistant.batch.plan import make_plan

    t = time.perf_counter()
    plan = make_plan(full, work / "plan_only", args.block_rows, fingerprint={}, overwrite=True)
    res["plan_1m"] = {"seconds": round(time.perf_counter() - t, 2), "blocks": len(plan.blocks),
                      "bad_rows": len(plan.bad_rows)}
    print("plan of the whole catalog:", res["plan_1m"])

    # 3. scoring the slice: local, then Ray
    policy = work / "policy.json"
    policy.write_text(json.dumps({"min_margin": 0.1, "max_change": 0.3}), encoding="utf-8")
    res["runs"] = {}
    for spec in args.runs.split(","):
        engine, _, actors = spec.partition(":")
        name = f"{engine} x{actors}" if actors else engine
        s = score(sliced, work / f"out_{engine}_{actors or 1}", args.artifact, policy, engine,
                  int(actors or 1), args.block_rows)
        keep = ("workers", "rows_run", "scored_total", "bad_rows_total", "seconds",
                "first_output_s", "products_per_s", "steady_products_per_s", "cpu_seconds",
                "products_per_cpu_s", "peak_rss_mib_per_worker", "command_wall_s",
                "load_before", "load_after", "failed_blocks")
        res["runs"][name] = {k: s[k] for k in keep}
        print(f"{name}: {json.dumps(res['runs'][name])}")

    rates = [r["products_per_cpu_s"] for r in res["runs"].values() if r["products_per_cpu_s"]]
    if rates:
        per_core = float(np.median(rates))
        res["per_core_products_per_s"] = round(per_core, 1)
        res["extrapolated_10m_core_hours"] = round(10_000_000 / per_core / 3600, 1)
        print(f"per-core rate (median over runs): {per_core:.1f} products per CPU-second; "
              f"10M products = {res['extrapolated_10m_core_hours']} core-hours")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=2, ensure_ascii=False), encoding="utf-8")
    return res


if __name__ == "__main__":
    main()
