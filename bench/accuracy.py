"""Side-by-side price accuracy of the baselines and our model on the fixed split.

Run (from the repository root)::

    .venv/bin/python bench/accuracy.py                                  # everything, full data
    .venv/bin/python bench/accuracy.py --limit 20000                    # stratified subsample
    .venv/bin/python bench/accuracy.py --datasets amazon_uk_toys --methods tfidf_ridge,sparse_mlp
    .venv/bin/python bench/accuracy.py --data-root data/demo --limit 0  # the bundled demo sample

Data sets are read through ``graph.adapters.load_dataset`` from ``--data-root`` (default
``$PRICING_DATA_ROOT``, else ``../shared/data`` beside the repository, else ``data/demo``):

- ``amazon_in_2023``: every product (all priced), split by ``models.split.make_split`` with
  seed 0 — 60% train, 10% validation, 10% calibration, 20% test. When ``amazon_in_sales`` sits
  beside it, it is merged in (``graph.adapters.merge_catalogs``) for descriptions and reviews;
  only the amazon_in_2023 products are split and scored.
- ``amazon_uk_toys``: the priced products only (the unpriced ones are counted and reported),
  same split recipe.

``--limit N`` keeps a stratified subsample of N products per data set (proportional per
category path, deterministic in ``--seed``) before splitting.

Methods: ``global_median``, ``leaf_category_median``, ``tfidf_ridge``, ``frozen_minilm_ridge``,
``sparse_mlp`` (``models.baselines``; fitted on train + validation, intervals calibrated on the
calibration slice) and ``ours`` with ablations ``ours_no_graph``, ``ours_frozen_encoder`` and
``ours_no_reviews`` (``models.train``, preset ``--ours-preset``, coverage set to the bench's;
each variant is skipped with a notice while that module is not importable or its TrainConfig
lacks the variant's switch: ``use_graph``, ``fine_tune``, ``use_reviews``). Our model makes its
own split with the same recipe; the bench checks that its test ids are the bench's.
``ours_no_reviews`` and ``ours@reviewed`` are scored on the test products that have reviews,
so the two compare like with like.

Output: ``bench/results/accuracy.json`` keyed by data set, then method, each with ``rmsle``,
``mae``, ``mdape``, ``within_20``, ``coverage``, ``width`` (see ``models.metrics``), ``n``,
``fit_s`` and ``predict_s``; a ``_meta`` entry per data set (split sizes, limit, seed). Results
of methods not run this time are kept when the data set settings match. A markdown table is
printed and written to ``bench/results/accuracy.md``. Frozen-MiniLM embeddings are cached in
``runs/cache/`` (the first full amazon_in_2023 encoding takes ~20 min on 2 free cores).
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
import traceback
from pathlib import Path

import numpy as np
import pandas as pd
import typer

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from models.baselines import BASELINES, FrozenMiniLMRidge, SparseMLP  # noqa: E402
from models.metrics import price_metrics  # noqa: E402
from models.split import Split, make_split  # noqa: E402

DATASETS = ("amazon_in_2023", "amazon_uk_toys")
# Our model and its ablations: TrainConfig fields each variant overrides.
OURS: dict[str, dict[str, object]] = {
    "ours": {},
    "ours_no_graph": {"use_graph": False},
    "ours_frozen_encoder": {"fine_tune": False},
    "ours_no_reviews": {"use_reviews": False},
    # The stacker's levers (models.price_stack), one switch each.
    "ours_head_only": {"stack": False},
    "ours_no_emb_neighbours": {"stack_emb_neighbours": False},
    "ours_no_tfidf_neighbours": {"stack_tfidf_neighbours": False},
    "ours_no_target_encoding": {"stack_target_encoding": False},
}
METHODS = (*BASELINES, *OURS)
# Reference figures from ../shared/data/README.md (random 80/20 split, fit on 80%), shown
# beside results on the same full data set (REFERENCE_N products) only.
REFERENCE_N = {"amazon_in_2023": 148_197}
REFERENCE = {
    "amazon_in_2023": {
        "global_median": (1.331, 12.3), "leaf_category_median": (1.093, 19.9),
        "tfidf_ridge": (0.609, 36.0), "frozen_minilm_ridge": (0.924, 19.6),
        "sparse_mlp": (0.563, 41.3),
    },
}

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False,
                  help=__doc__.split("\n\n")[0])


def default_data_root() -> Path:
    env = os.environ.get("PRICING_DATA_ROOT")
    if env:
        return Path(env)
    shared = ROOT.parent / "shared" / "data"
    return shared if shared.is_dir() else ROOT / "data" / "demo"


# --------------------------------------------------------------------------- data

def load_products(name: str, root: Path):
    """(catalog, products to score) for one data set; unpriced products are reported."""
    from graph.adapters import load_dataset, merge_catalogs

    catalog = load_dataset(name, root / name)
    own_ids = set(catalog.products["product_id"])
    if name == "amazon_in_2023" and (root / "amazon_in_sales").is_dir():
        catalog = merge_catalogs(catalog, load_dataset("amazon_in_sales", root / "amazon_in_sales"))
    if catalog.rejections:
        print(f"  {name}: {len(catalog.rejections)} source rows rejected by the loader "
              f"(first: {catalog.rejections[0].as_dict()})")
    products = catalog.products[catalog.products["product_id"].isin(own_ids)]
    price = pd.to_numeric(products["price"], errors="coerce")
    priced = products[price.notna() & (price > 0)].reset_index(drop=True)
    if len(priced) < len(products):
        print(f"  {name}: {len(products) - len(priced)} products without a price are not scored")
    return catalog, priced


def stratified_sample(products: pd.DataFrame, n: int, seed: int = 0) -> pd.DataFrame:
    """Exactly ``n`` products, each category path represented in proportion to its size.

    Rows are sorted by id and shuffled with ``seed`` (order independent); each row gets its
    position within its category as a fraction of the category size, and the ``n`` lowest
    fractions are kept — so every category keeps ~n/N of its products.
    """
    if n >= len(products):
        return products
    frame = products.sort_values("product_id", kind="stable").reset_index(drop=True)
    frame = frame.iloc[np.random.default_rng(seed).permutation(len(frame))]
    group = frame["category_path"].fillna("")
    rank = frame.groupby(group, sort=False).cumcount()
    size = group.map(group.value_counts())
    frac = (rank + 0.5) / size
    keep = frac.sort_values(kind="stable").index[:n]
    return frame.loc[keep].sort_values("product_id").reset_index(drop=True)


# --------------------------------------------------------------------------- methods

def _score(y: np.ndarray, p50, low, high, fit_s: float, predict_s: float) -> dict:
    out = price_metrics(y, p50, low, high)
    out.update(fit_s=round(fit_s, 2), predict_s=round(predict_s, 2))
    return out


def run_baseline(method: str, by_id: pd.DataFrame, split: Split, *, cache_dir: Path,
                 threads: int, coverage: float) -> dict:
    params: dict[str, object] = {}
    if BASELINES[method] is FrozenMiniLMRidge:
        params = {"cache_dir": cache_dir, "progress": True}
    elif BASELINES[method] is SparseMLP:
        params = {"threads": threads, "progress": True}
    model = BASELINES[method](**params)
    started = time.time()
    model.fit(by_id.loc[split.fit_ids()])
    model.calibrate(by_id.loc[split.calib], coverage=coverage)
    fit_s = time.time() - started
    test = by_id.loc[split.test]
    started = time.time()
    p50, low, high = model.predict_interval(test)
    return _score(test["price"].to_numpy(float), p50, low, high, fit_s, time.time() - started)


def _ours_modules():
    """(models.train, models.predictor), or None and the reason while they are not usable."""
    try:
        import models.predictor as predictor
        import models.train as train
    except ImportError as exc:
        return None, f"models.train / models.predictor not importable yet ({exc})"
    missing = [a for a in ("TrainConfig", "train") if not hasattr(train, a)]
    if missing or not hasattr(predictor, "Predictor"):
        return None, f"models.train lacks {missing or ['Predictor']}"
    return (train, predictor), ""


def eval_catalog(catalog, products: pd.DataFrame):
    """The scored products and the rows that point at them: what our model trains on, so
    its own split (``models.split`` over the priced ids, same seed) is this bench's split."""
    from graph.contracts import Catalog

    ids = set(products["product_id"])
    keep = {kind: getattr(catalog, kind) for kind in ("reviews", "offers", "sales")}
    return Catalog(products=products.reset_index(drop=True),
                   **{k: v[v["product_id"].isin(ids)].reset_index(drop=True)
                      for k, v in keep.items()})


def run_ours(variant: str, catalog, by_id: pd.DataFrame, split: Split, modules, *,
             out_dir: Path, reviewed: list[str], coverage: float, seed: int, preset: str,
             threads: int) -> dict[str, dict]:
    """Train one variant of our model and score it on this bench's test ids.

    ``models.train.train(catalog, config, out_dir)`` builds the graph, splits the priced
    products with ``make_split`` (same seed and fractions as here: checked against the
    artifact's ``split.json``), fits on train, early-stops on val, calibrates on calib and
    returns the artifact folder, which ``models.predictor.Predictor`` loads.
    """
    train_mod, predictor_mod = modules
    fields = {f.name for f in dataclasses.fields(train_mod.TrainConfig)}
    overrides = dict(OURS[variant])
    unknown = [k for k in overrides if k not in fields]
    if unknown:
        raise LookupError(f"TrainConfig has no field {unknown} for {variant}")
    overrides.update({k: v for k, v in {"coverage": coverage, "threads": threads,
                                        "seed": seed}.items()
                      if k in fields})
    make = getattr(train_mod.TrainConfig, preset, None) if preset != "default" else None
    config = make(**overrides) if make else train_mod.TrainConfig(**overrides)
    started = time.time()
    artifact = Path(train_mod.train(catalog, config, out_dir / variant))
    fit_s = time.time() - started
    theirs = json.loads((artifact / "split.json").read_text())
    if sorted(theirs["test"]) != split.test:
        raise ValueError(f"{variant}: the model's test split ({len(theirs['test'])} ids) is "
                         f"not this bench's ({len(split.test)} ids): scores would not compare")
    predictor = predictor_mod.Predictor.load(artifact)

    def score(ids: list[str]) -> dict:
        rows = by_id.loc[ids]
        t0 = time.time()
        preds = predictor.predict(rows.drop(columns=["price"]).to_dict("records"))
        return _score(rows["price"].to_numpy(float), [p.p50 for p in preds],
                      [p.low for p in preds], [p.high for p in preds], fit_s, time.time() - t0)

    if variant == "ours_no_reviews":
        return {variant: score(reviewed)}
    out = {variant: score(split.test)}
    if variant == "ours" and reviewed:
        out["ours@reviewed"] = score(reviewed)
    return out


# --------------------------------------------------------------------------- reporting

def _fmt(v: object, digits: int) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def markdown(results: dict) -> str:
    lines = ["# Price accuracy, fixed split (seed 0; test = 20%)", "",
             "rmsle on log1p prices; mdape, within_20 and coverage in %; width = mean "
             "(high − low) / p50; coverage = share of test prices inside the calibrated "
             "interval (target per data set below); fit s = wall-clock seconds to "
             "fit and calibrate on the machine that ran it (frozen MiniLM: including encoding "
             "the texts its cache lacked).", ""]
    for ds, block in results.items():
        meta = block.get("_meta", {})
        lines += [f"## {ds}", "",
                  f"{meta.get('n_products', '?')} products scored; split "
                  f"{meta.get('split', {})}; limit {meta.get('limit') or 'none'}; intervals "
                  f"aim at {meta.get('coverage_target', '?')}% coverage.", "",
                  "| method | n | rmsle | mae | mdape | within_20 | coverage | width | fit s |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        order = [k for m in METHODS for k in (m, f"{m}@reviewed")]
        rows = sorted((k for k in block if not k.startswith("_")),
                      key=lambda k: order.index(k) if k in order else len(order))
        for method in rows:
            m = block[method]
            lines.append(f"| {method} | {m['n']} | {_fmt(m['rmsle'], 3)} | {_fmt(m['mae'], 1)} "
                         f"| {_fmt(m['mdape'], 1)} | {_fmt(m['within_20'], 1)} "
                         f"| {_fmt(m['coverage'], 1)} | {_fmt(m['width'], 2)} "
                         f"| {_fmt(m['fit_s'], 0)} |")
        if meta.get("skipped"):
            lines += ["", "Skipped: " + "; ".join(f"{k} ({v})" for k, v in meta["skipped"].items())]
        not_run = [m for m in METHODS if m not in block and m not in meta.get("skipped", {})]
        if not_run:
            lines += ["", "Not run yet: " + ", ".join(not_run) + "."]
        if ds in REFERENCE and meta.get("n_products") == REFERENCE_N[ds]:
            lines += ["", "Reference (shared data README, 80/20 split, fit on 80%): " + "; ".join(
                f"{k} {r:.3f} / {w:.1f}%" for k, (r, w) in REFERENCE[ds].items())]
        lines.append("")
    return "\n".join(lines)


def _write(results: dict, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "accuracy.json").write_text(json.dumps(results, indent=2) + "\n")
    (out_dir / "accuracy.md").write_text(markdown(results))


@app.command()
def main(
    datasets: str = typer.Option(",".join(DATASETS), help="comma-separated data set names"),
    methods: str = typer.Option(",".join(METHODS), help="comma-separated method names"),
    limit: int = typer.Option(0, help="stratified subsample of N products per data set (0: all)"),
    seed: int = typer.Option(0, help="split and subsample seed"),
    coverage: float = typer.Option(0.8, help="target interval coverage (the issue: 80%)"),
    data_root: Path = typer.Option(None, help="folder of data set folders [default: see doc]"),
    out_dir: Path = typer.Option(ROOT / "bench" / "results", help="where results go"),
    cache_dir: Path = typer.Option(ROOT / "runs" / "cache", help="embedding cache"),
    runs_dir: Path = typer.Option(ROOT / "runs" / "bench_accuracy", help="our model's artifacts"),
    threads: int = typer.Option(int(os.environ.get("PRICING_THREADS", "2")),
                                help="torch threads"),
    ours_preset: str = typer.Option("full", help="TrainConfig preset for ours*: full, demo "
                                    "or default (the TrainConfig() defaults)"),
) -> None:
    """Evaluate every method on every data set and write the results."""
    import torch

    torch.set_num_threads(threads)
    root = data_root or default_data_root()
    names = [d.strip() for d in datasets.split(",") if d.strip()]
    chosen = [m.strip() for m in methods.split(",") if m.strip()]
    unknown = [m for m in chosen if m not in METHODS] + [d for d in names if d not in DATASETS]
    if unknown:
        raise typer.BadParameter(f"unknown {unknown}; methods: {', '.join(METHODS)}; "
                                 f"data sets: {', '.join(DATASETS)}")
    path = out_dir / "accuracy.json"
    results: dict = json.loads(path.read_text()) if path.is_file() else {}
    modules, why_not = (_ours_modules() if any(m in OURS for m in chosen) else (None, ""))

    for name in names:
        print(f"== {name} (from {root / name})", flush=True)
        catalog, products = load_products(name, root)
        if limit:
            products = stratified_sample(products, limit, seed)
        catalog = eval_catalog(catalog, products)
        split = make_split(products["product_id"], seed=seed)
        meta = {"n_products": len(products), "split": split.sizes(), "limit": limit or None,
                "seed": seed, "coverage_target": coverage * 100, "skipped": {}}
        block = results.get(name, {})
        old = block.get("_meta", {})
        if any(old.get(k) != meta[k] for k in ("n_products", "limit", "seed", "coverage_target")):
            block = {}  # earlier results came from other settings: do not mix them
        else:  # keep why methods not run this time were skipped before
            meta["skipped"] = {k: v for k, v in old.get("skipped", {}).items()
                               if k not in chosen}
        block["_meta"] = meta
        results[name] = block
        by_id = products.set_index("product_id", drop=False)
        test = set(split.test)
        reviewed = sorted(set(catalog.reviews["product_id"]) & test) if len(catalog.reviews) else []
        print(f"  {len(products)} products, split {split.sizes()}, "
              f"{len(reviewed)} test products with reviews", flush=True)

        for method in chosen:
            started = time.time()
            print(f"-- {name} / {method}", flush=True)
            try:
                if method in BASELINES:
                    scores = {method: run_baseline(method, by_id, split, cache_dir=cache_dir,
                                                   threads=threads, coverage=coverage)}
                elif modules is None:
                    meta["skipped"][method] = why_not
                    print(f"  skipped: {why_not}", flush=True)
                    continue
                elif method == "ours_no_reviews" and not reviewed:
                    meta["skipped"][method] = "no test product has reviews"
                    print("  skipped: no test product has reviews", flush=True)
                    continue
                else:
                    scores = run_ours(method, catalog, by_id, split, modules,
                                      out_dir=runs_dir / name, reviewed=reviewed,
                                      coverage=coverage, seed=seed, preset=ours_preset,
                                      threads=threads)
            except Exception as exc:  # one failing method must not lose the others' results
                if method in BASELINES:
                    raise
                if not isinstance(exc, LookupError):  # a missing config knob needs no trace
                    traceback.print_exc()
                meta["skipped"][method] = f"{type(exc).__name__}: {exc}"
                print(f"  skipped: {meta['skipped'][method]}", flush=True)
                continue
            block.update(scores)
            for key, m in scores.items():
                print(f"  {key}: rmsle {m['rmsle']:.3f}  within_20 {m['within_20']:.1f}%  "
                      f"mdape {m['mdape']:.1f}%  coverage {_fmt(m['coverage'], 1)}%  "
                      f"width {_fmt(m['width'], 2)}  ({time.time() - started:.0f}s)", flush=True)
            _write(results, out_dir)
        _write(results, out_dir)

    print()
    print(markdown({k: v for k, v in results.items() if k in names}))


if __name__ == "__main__":
    app()
