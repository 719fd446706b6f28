"""One-switch ablations of the stacker's levers on a trained benchmark-mode model.

Run (from the repository root, after ``pricing train ../shared/data/amazon_in_2023 --out
runs/full --full``)::

    .venv/bin/python bench/stack_ablation.py --artifact runs/full

The head, encoder and split stay those of the artifact; the stacker (``models.price_stack``)
is refitted on the held-out slices once per variant with the same code training uses
(``models.train._fit_stack``): all levers, the head alone (no stacker), and each lever
switched off in turn (embedding neighbours, TF-IDF neighbours, target encoding). Intervals are
calibrated as in training (conformal on the out-of-fold prices of the held-out slices).

Output: a markdown table on stdout and ``bench/results/stack_ablation.json``.
"""
from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import typer

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from models.metrics import price_metrics  # noqa: E402
from models.predictor import Predictor, record_frame  # noqa: E402
from models.train import TrainConfig, _bands, _fit_stack, calibrate  # noqa: E402

VARIANTS = {
    "stack (all levers)": {},
    "head alone (no stack)": {"stack": False},
    "no embedding neighbours": {"stack_emb_neighbours": False},
    "no TF-IDF neighbours": {"stack_tfidf_neighbours": False},
    "no target encoding": {"stack_target_encoding": False},
}


def main(artifact: Path = typer.Option(ROOT / "runs" / "full", help="benchmark-mode model"),
         out: Path = typer.Option(ROOT / "bench" / "results" / "stack_ablation.json"),
         threads: int = typer.Option(2, help="threads")) -> None:
    pred = Predictor.load(artifact, threads=threads)
    meta = pred.metadata
    if meta["config"].get("test_frac", 0) == 0:
        raise typer.BadParameter("the artifact has no test slice (trained with --all)")
    cfg0 = TrainConfig.from_dict(meta["config"])
    cat = pred.catalog_
    priced = cat["price"].notna().to_numpy()
    cat = cat[priced].reset_index(drop=True)
    split = json.loads((artifact / "split.json").read_text(encoding="utf-8"))
    pos = {str(p): i for i, p in enumerate(cat["product_id"].astype(str))}
    idx = {k: np.array([pos[str(i)] for i in ids if str(i) in pos], dtype=np.int64)
           for k, ids in split.items()}
    t = time.perf_counter()
    frame = record_frame(cat.drop(columns=["price"]))
    Xs, Xd = pred.features(frame)
    Q0 = pred.head.predict(Xs, Xd)
    y = np.log1p(cat["price"].to_numpy(np.float64))
    print(f"features of {len(cat)} products in {time.perf_counter() - t:.0f}s", flush=True)
    held = np.concatenate([idx["val"], idx["calib"]])
    te = idx["test"]
    prices = cat["price"].to_numpy(np.float64)
    results = {}
    for name, switch in VARIANTS.items():
        cfg = dataclasses.replace(cfg0, **switch)
        Q = Q0.copy()
        t = time.perf_counter()
        if cfg.stack:
            _fit_stack(cfg, threads, idx, held, Q, Xs, Xd, pred.dense_names_, pred.lexical,
                       Xd[:, :pred.encoder.dim_], frame, cat, y, lambda s: None)
        cal = calibrate(cfg, y, Q, idx, stacked=cfg.stack)
        m = price_metrics(prices[te], *_bands(cal, Q[te]))
        m["fit_s"] = round(time.perf_counter() - t, 1)
        results[name] = m
        print(f"{name:28s} RMSLE {m['rmsle']:.4f}  within 20% {m['within_20']:.1f}%  "
              f"coverage {m['coverage']:.1f}%  ({m['fit_s']} s)", flush=True)
    base = results["stack (all levers)"]["rmsle"]
    print("\n| variant | RMSLE | Δ vs all | within ±20% | coverage % | fit s |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, m in results.items():
        print(f"| {name} | {m['rmsle']:.3f} | {m['rmsle'] - base:+.3f} | {m['within_20']:.1f}% "
              f"| {m['coverage']:.1f} | {m['fit_s']} |")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"artifact": str(artifact), "n_test": int(len(te)),
                               "model_version": pred.version, "results": results}, indent=1),
                   encoding="utf-8")


if __name__ == "__main__":
    typer.run(main)
