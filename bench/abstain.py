"""How often the main job's model abstains on its own catalog, and how well its intervals cover.

Run (from the repository root, after ``make demo`` has trained ``runs/model``)::

    .venv/bin/python bench/abstain.py --artifact runs/model --db runs/graph.sqlite
    .venv/bin/python bench/abstain.py --artifact runs/model --limit 0      # every priced product

Prices a deterministic sample of the catalog's priced products through ``PricingService``
(market mode, no explanations, nothing stored) and reports, per split slice of the model
(train / val / calib / test) and overall: the share of suggestions that abstain under the
model's calibrated threshold (``models.abstain``) and under the fixed 1.5 rule it replaces,
by reason, and the 80% interval's coverage of the catalog price (all, and on the suggestions
that do not abstain). Writes ``bench/results/abstain.json``.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from assistant.service import PricingService
from assistant.suggestion import (
    CLOSE_SIMILARITY,
    DEFAULT_MAX_RELATIVE_WIDTH,
    THIN_CATEGORY_N,
    SuggestOptions,
)


def summarise(rows: list[dict], threshold: float) -> dict:
    """Abstain shares (model threshold and the fixed rule) and coverage of a set of rows."""
    if not rows:
        return {"n": 0}
    w = np.array([r["width"] for r in rows])
    thin = np.array([r["thin"] for r in rows])
    inside = np.array([r["inside"] for r in rows])
    wide_model, wide_fixed = w > threshold, w > DEFAULT_MAX_RELATIVE_WIDTH
    ab_model, ab_fixed = wide_model | thin, wide_fixed | thin
    pct = lambda a: round(float(np.mean(a) * 100), 1)  # noqa: E731
    return {"n": len(rows),
            "abstain_pct": pct(ab_model), "too_wide_pct": pct(wide_model),
            "thin_evidence_pct": pct(thin & ~wide_model),
            "abstain_pct_fixed_1_5": pct(ab_fixed),
            "coverage_pct": pct(inside),
            "coverage_kept_pct": pct(inside[~ab_model]) if (~ab_model).any() else None,
            "median_relative_width": round(float(np.median(w)), 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--artifact", default="runs/model")
    ap.add_argument("--db", default=None, help="graph store (default: the model's snapshot)")
    ap.add_argument("--limit", type=int, default=2000, help="products to price (0 = all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="bench/results/abstain.json")
    args = ap.parse_args()

    t0 = time.perf_counter()
    tmp = tempfile.mkdtemp(prefix="abstain-bench-")  # nothing is stored: an empty store
    svc = PricingService.from_paths(args.artifact, args.db, Path(tmp) / "s.sqlite", llm=None,
                                    sales=None)
    pred = svc.predictor
    threshold = pred.abstain_width()
    source = (pred.metadata.get("abstain") or {}).get("fitted", "artifact metadata")
    if threshold is None:
        threshold, source = DEFAULT_MAX_RELATIVE_WIDTH, "fixed default (no calibration rows)"
    cat = pred.catalog_
    split = dict(zip(cat["product_id"].astype(str), cat.get("split", [None] * len(cat))))
    p = svc.products
    ids = sorted(str(i) for i in p.index[p["price"].notna() & (p["price"] > 0)])
    if args.limit and len(ids) > args.limit:
        rng = np.random.default_rng(args.seed)
        ids = sorted(rng.choice(ids, args.limit, replace=False).tolist())
    t1 = time.perf_counter()
    out = svc.suggest_batch(ids, SuggestOptions(explain=False, k_comparables=5), store=False)
    secs = time.perf_counter() - t1
    rows = []
    for pid, s in zip(ids, out):
        if isinstance(s, Exception):
            continue
        price = float(p.at[pid, "price"])
        n_cat = s.evidence.category.n if s.evidence.category else 0
        close = any(c.similarity >= CLOSE_SIMILARITY for c in s.evidence.comparables)
        rows.append({"split": split.get(pid) or "not in model", "width": s.relative_width,
                     "thin": n_cat < THIN_CATEGORY_N and not close,
                     "inside": s.interval.low <= price <= s.interval.high})
    by_split = {k: summarise([r for r in rows if r["split"] == k], threshold)
                for k in sorted({r["split"] for r in rows})}
    res = {"artifact": args.artifact, "model_version": pred.version,
           "threshold": {"max_relative_width": round(threshold, 4), "source": source,
                         **{k: v for k, v in (pred.metadata.get("abstain") or {}).items()
                            if k in ("quantile", "floor", "n", "quantile_width")}},
           "thin_evidence_rule": f"fewer than {THIN_CATEGORY_N} priced products in the category "
                                 "and no comparable with similarity >= 0.5",
           "model_test_metrics": pred.metadata.get("metrics", {}).get("test"),
           "priced": len(ids), "failed": len(ids) - len(rows), "seconds": round(secs, 1),
           "all": summarise(rows, threshold), "by_split": by_split,
           "load_seconds": round(t1 - t0, 1)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=2), encoding="utf-8")
    a = res["all"]
    print(f"threshold {threshold:.0%} ({source}); {a['n']} suggestions in {secs:.0f} s")
    print(f"abstain {a['abstain_pct']}% (too wide {a['too_wide_pct']}%, thin evidence "
          f"{a['thin_evidence_pct']}%); under the fixed 1.5 rule {a['abstain_pct_fixed_1_5']}%")
    print(f"interval coverage {a['coverage_pct']}% (kept suggestions {a['coverage_kept_pct']}%)")
    for k, m in by_split.items():
        print(f"  {k:13s} n={m['n']:5d} abstain {m['abstain_pct']}% (fixed 1.5: "
              f"{m['abstain_pct_fixed_1_5']}%) coverage {m['coverage_pct']}% (kept "
              f"{m['coverage_kept_pct']}%) median width {m['median_relative_width']:.0%}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
