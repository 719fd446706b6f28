"""Competitor-matching benchmark: pairwise F1 on three public benchmarks, then a catalog-scale run.

Run::

    .venv/bin/python bench/matching.py                           # both parts
    .venv/bin/python bench/matching.py --part pairs --datasets abt_buy
    .venv/bin/python bench/matching.py --part catalog --listings 1000

Part 1, pairs (``../shared/data/product_matching``: walmart_amazon, abt_buy, amazon_google):
each benchmark's own train / valid / test split. Our matcher (:class:`models.matcher.PairMatcher`:
pair features + frozen-MiniLM cosine -> LightGBM) trains on train, picks its threshold on
valid, and is scored on test (precision, recall, F1), next to a character n-gram TF-IDF
cosine baseline (title + brand + model number, threshold on valid) and the published
DeepMatcher and Ditto figures (Li et al., VLDB 2021). Training and scoring times are
wall-clock on this machine (2 cores, shared; the load average is recorded).

Part 2, catalog: a competitor file made from ``amazon_in_sales`` (1,132 listings) by rules
written here (:func:`reword`: brand dropped from the title, clauses and words reordered,
units abbreviated; the brand column kept for half of them; price from that data set,
which was scraped at another time), matched against the whole ``amazon_in_2023`` catalog
(148,197 products) through the product path (:class:`assistant.matching.MatchService`
on a copy of the SQLite graph store: blocking, scoring, decisions, audited offer writes).
The ASIN is the ground truth and is not in the file the matcher reads. Reported: precision
of the automatic links (target >= 98%), their recall over listings whose product is in the
catalog, the review queue's size and how often it holds the right product, and the time
for the listings (index building, done once per catalog, timed apart).

The catalog matcher is trained on the three benchmarks' train splits (thresholds on their
valid splits) plus ``--synthetic`` pairs made from catalog products that are NOT in the
competitor file, reworded by a different rule set (:func:`models.match_data.perturb`: word
drops, truncation, swaps; no brand-dropping, no unit table, no clause shuffling) with hard
negatives from blocking.

Writes ``bench/results/matching.json`` and ``bench/results/matching.md``.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import re
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models.match_data import read_pair_folder, split_pairs, synthetic_pairs  # noqa: E402
from models.matcher import PairMatcher, best_f1_threshold  # noqa: E402

# ../shared/data beside the checkout (a git worktree may sit one level deeper)
DATA = next((p / "shared" / "data" for p in ROOT.parents if (p / "shared" / "data").is_dir()),
            ROOT.parent / "shared" / "data")
PM = DATA / "product_matching"
DATASETS = ("walmart_amazon", "abt_buy", "amazon_google")
# Test-split F1 as published in the Ditto paper (Li et al., VLDB 2021, Table 4).
PUBLISHED = {"walmart_amazon": {"deepmatcher": 66.9, "ditto": 86.76},
             "abt_buy": {"deepmatcher": 62.8, "ditto": 89.33},
             "amazon_google": {"deepmatcher": 69.3, "ditto": 75.58}}
# The issue's baseline figures (char n-gram TF-IDF cosine, threshold on valid).
ISSUE_BASELINE = {"walmart_amazon": 67.7, "abt_buy": 62.8, "amazon_google": 54.4}


# ----------------------------------------------------------------------------- data

def load_benchmark(name: str, root: Path = PM) -> dict:
    """{split: (left listings, right listings, labels), "texts": [...]} of one benchmark."""
    return read_pair_folder(root / name)


def prf(y: np.ndarray, yhat: np.ndarray) -> dict[str, float]:
    tp = int(np.sum(yhat & (y == 1)))
    fp = int(np.sum(yhat & (y == 0)))
    fn = int(np.sum(~yhat & (y == 1)))
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(100 * p, 1), "recall": round(100 * r, 1), "f1": round(100 * f, 1)}


def tfidf_baseline(data: dict) -> dict:
    """Character n-gram TF-IDF cosine of title + brand + model number; threshold on valid."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    t0 = time.perf_counter()
    vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True,
                          lowercase=True).fit(data["texts"])

    def cos(split: str) -> np.ndarray:
        left, right, _ = data[split]
        A = vec.transform([x.text() for x in left])
        B = vec.transform([x.text() for x in right])
        return np.asarray(A.multiply(B).sum(axis=1)).ravel()

    thr, _ = best_f1_threshold(data["valid"][2], cos("valid"))
    res = prf(data["test"][2], cos("test") >= thr)
    res.update(threshold=round(thr, 3), seconds=round(time.perf_counter() - t0, 1))
    return res


def run_pairs(names: list[str], cache_dir: str, log) -> dict:
    out = {}
    for name in names:
        data = load_benchmark(name)
        base = tfidf_baseline(data)
        t0 = time.perf_counter()
        m = PairMatcher().fit(*data["train"], valid=data["valid"], idf_texts=data["texts"],
                              cache_dir=cache_dir)
        t_fit = time.perf_counter() - t0
        left, right, y = data["test"]
        t1 = time.perf_counter()
        p = m.predict_proba(left, right, cache_dir=cache_dir)
        t_score = time.perf_counter() - t1
        ours = prf(y, p >= m.threshold_)
        auto = prf(y, p >= m.auto_threshold_)
        ours.update(threshold=round(m.threshold_, 3), fit_s=round(t_fit, 1),
                    score_s=round(t_score, 1), pairs_per_s=round(len(y) / max(t_score, 1e-9)),
                    auto_threshold=round(m.auto_threshold_, 3),
                    auto_precision=auto["precision"], auto_recall=auto["recall"])
        pub = PUBLISHED[name]
        out[name] = {"test_pairs": int(len(y)), "test_matches": int(y.sum()), "ours": ours,
                     "tfidf_baseline": base, "issue_baseline_f1": ISSUE_BASELINE[name],
                     "deepmatcher_f1": pub["deepmatcher"], "ditto_f1": pub["ditto"],
                     "vs_baseline": round(ours["f1"] - base["f1"], 1),
                     "vs_ditto": round(ours["f1"] - pub["ditto"], 1)}
        log(f"{name}: ours F1 {ours['f1']} (P {ours['precision']} R {ours['recall']}), "
            f"TF-IDF {base['f1']}, Ditto {pub['ditto']}; fit {t_fit:.0f} s")
    return out


# ----------------------------------------------------------------------------- rewording

_UNIT_RULES = [
    (r"\b(\d+(?:\.\d+)?)\s*(?:inches|inch)\b", r"\1in"),
    (r"\b(\d+(?:\.\d+)?)\s*(?:litres|liters|litre|liter|ltrs|ltr)\b", r"\1L"),
    (r"\b(\d+(?:\.\d+)?)\s*(?:millilitres|milliliters|millilitre|milliliter)\b", r"\1ml"),
    (r"\b(\d+(?:\.\d+)?)\s*(?:meters|metres|meter|metre|mtrs|mtr)\b", r"\1m"),
    (r"\b(\d+(?:\.\d+)?)\s*(?:centimeters|centimetres|centimeter|centimetre)\b", r"\1cm"),
    (r"\b(\d+(?:\.\d+)?)\s*(?:feet|foot|ft)\b", r"\1ft"),
    (r"\b(\d+(?:\.\d+)?)\s*(?:watts|watt)\b", r"\1W"),
    (r"\b(\d+(?:\.\d+)?)\s*(?:kilograms|kilogram|kgs)\b", r"\1kg"),
    (r"\b(\d+(?:\.\d+)?)\s*(?:grams|gram|gms)\b", r"\1g"),
    (r"\b(\d+(?:\.\d+)?)\s*(?:hours|hrs|hour)\b", r"\1h"),
    (r"\b(\d+(?:\.\d+)?)\s*(?:gigabytes|gigabyte)\b", r"\1GB"),
    (r"\bpack of (\d+)\b", r"\1-pack"),
    (r"\b(\d+)\s*(?:pieces|piece)\b", r"\1pcs"),
    (r"\bwith\b", "w/"),
    (r"\band\b", "&"),
]


def reword(title: str, rng: random.Random) -> str:
    """A competitor's version of a catalog title: brand dropped, clauses shuffled and words
    rotated, units abbreviated (the catalog-scale benchmark's rules)."""
    from graph.brands import infer_brand

    t = " ".join(str(title).split())
    brand = infer_brand(t)
    if brand:
        t = re.sub(r"^\W*" + re.escape(brand) + r"\b\W*", "", t, count=1, flags=re.I) or t
    for pat, rep in _UNIT_RULES:
        t = re.sub(pat, rep, t, flags=re.I)
    paren = re.search(r"\(([^()]*)\)\s*$", t)
    tail = ""
    if paren:
        tail, t = paren.group(1), t[:paren.start()].strip()
    segs = [s.strip() for s in re.split(r"\s*[,|;]\s*|\s+-\s+", t) if s.strip()]
    if not segs:
        segs = [t]
    head, rest = segs[0].split(), segs[1:]
    if len(head) > 3:
        k = rng.randint(1, min(3, len(head) - 2))
        head = head[k:] + head[:k]
    rng.shuffle(rest)
    parts = [" ".join(head)] + rest
    if tail:
        parts.insert(0 if rng.random() < 0.5 else len(parts), f"({tail})")
    return ", ".join(parts)


def competitor_file(out_dir: Path, seed: int = 0) -> tuple[Path, dict[str, str | None]]:
    """Write the reworded amazon_in_sales listings; return (file, listing_id -> true ASIN or
    None when the ASIN is not in amazon_in_2023)."""
    rng = random.Random(seed)
    sales = pd.read_csv(DATA / "amazon_in_sales" / "products.csv", dtype={"product_id": str})
    catalog_ids = set(pd.read_csv(DATA / "amazon_in_2023" / "products.csv.gz",
                                  usecols=["product_id"], dtype=str)["product_id"])
    rows, truth = [], {}
    from graph.brands import infer_brand

    for i, r in enumerate(sales.to_dict("records")):
        lid = f"L{i:05d}"
        title = str(r["title"])
        brand = infer_brand(title) if rng.random() < 0.5 else None
        days = rng.randint(0, 60)
        rows.append({"listing_id": lid, "title": reword(title, rng), "brand": brand,
                     "category": str(r.get("category_path") or "").split(" > ")[-1] or None,
                     "price": r["price"], "currency": "INR",
                     "url": f"https://shop.example/item/{hashlib.sha1(lid.encode()).hexdigest()[:10]}",
                     "observed_at": (pd.Timestamp("2023-03-01")
                                     + pd.Timedelta(days=days)).date().isoformat()})
        truth[lid] = r["product_id"] if r["product_id"] in catalog_ids else None
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "competitor_amazon_in_sales.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path, truth


# ----------------------------------------------------------------------------- catalog run

def catalog_store(db: Path, log) -> Path:
    """The amazon_in_2023 graph store (built once)."""
    if db.exists():
        return db
    from graph.adapters import load_dataset
    from graph.build import build_graph
    from graph.store import GraphStore

    t0 = time.perf_counter()
    g = build_graph(load_dataset("amazon_in_2023", DATA / "amazon_in_2023"))
    db.parent.mkdir(parents=True, exist_ok=True)
    with GraphStore(db) as st:
        st.save(g)
    log(f"catalog store built in {time.perf_counter() - t0:.0f} s -> {db}")
    return db


def run_catalog(n_listings: int, n_synthetic: int, cache_dir: str, work: Path, log,
                embedding: bool = True) -> dict:
    from assistant.matching import MatchService, catalog_listings, read_listings
    from graph.store import GraphStore
    from models.blocking import CatalogIndex

    db = catalog_store(work / "amazon_in_2023.sqlite", log)
    path, truth = competitor_file(work)
    listings, rejected = read_listings(path)
    listings = listings[:n_listings]

    # the matcher: benchmarks' train splits + synthetic catalog pairs (held-out products)
    t0 = time.perf_counter()
    with GraphStore(db) as st:
        ids, cat = catalog_listings(st.conn)
    idx = CatalogIndex(k_embedding=20 if embedding else 0).fit(ids, cat, cache_dir=cache_dir,
                                                              progress=True)
    t_index = time.perf_counter() - t0
    log(f"catalog index: {len(ids):,} products in {t_index:.0f} s")
    exclude = {a for a in truth.values() if a}
    L, R, Y, VL, VR, VY = [], [], [], [], [], []
    for name in DATASETS:
        d = load_benchmark(name)
        L += d["train"][0]
        R += d["train"][1]
        Y += list(d["train"][2])
        VL += d["valid"][0]
        VR += d["valid"][1]
        VY += list(d["valid"][2])
    if n_synthetic:
        tr, va = split_pairs(synthetic_pairs(ids, cat, idx, n_synthetic, exclude=exclude,
                                             seed=1))
        L += tr[0]
        R += tr[1]
        Y += list(tr[2])
        VL += va[0]
        VR += va[1]
        VY += list(va[2])
    texts = [x.text() for x in cat] + [x.text() for x in L]
    t1 = time.perf_counter()
    m = PairMatcher(use_embedding=embedding)
    m.set_encoder(idx.encoder())
    m.fit(L, R, Y, valid=(VL, VR, VY), idf_texts=texts, cache_dir=cache_dir)
    t_train = time.perf_counter() - t1
    log(f"catalog matcher: {len(Y):,} training pairs, fit {t_train:.0f} s, thresholds "
        f"auto {m.auto_threshold_:.3f} review {m.review_threshold_:.3f}")

    run_db = work / "catalog_run.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{run_db}{suffix}").unlink(missing_ok=True)
    shutil.copy(db, run_db)
    svc = MatchService(run_db, m, cache_dir=cache_dir)
    svc._index, svc._index_token = idx, svc.store.conn.execute(
        "SELECT COUNT(*), MAX(updated_at) FROM nodes WHERE type='product'").fetchone()
    t2 = time.perf_counter()
    report = svc.run(listings, "ShopExample", actor="bench")
    t_run = time.perf_counter() - t2
    svc.close()

    in_cat = [x for x in listings if truth[x.listing_id]]
    linked = [d for d in report.decisions if d.action == "linked"]
    correct = sum(1 for d, x in zip(report.decisions, listings)
                  if d.action == "linked" and d.product_id == truth[x.listing_id])
    queued = [(d, x) for d, x in zip(report.decisions, listings) if d.action == "queued"]
    q_right = 0
    if queued:
        with GraphStore(run_db) as st:
            from graph.match_store import MatchStore

            ms = MatchStore(st.conn)
            for d, x in queued:
                prods = {p.product_id for p in ms.find(competitor="ShopExample",
                                                       listing_key=d.listing_key, limit=10)}
                q_right += int(truth[x.listing_id] in prods)
    res = {"listings": len(listings), "listings_in_catalog": len(in_cat),
           "catalog_products": len(ids), "rejected_rows": len(rejected),
           "auto_links": len(linked), "auto_correct": correct,
           "auto_precision": round(100 * correct / len(linked), 2) if linked else None,
           "auto_recall": round(100 * correct / len(in_cat), 1) if in_cat else None,
           "queued": len(queued), "queued_with_true_product": q_right,
           "dropped": report.counts.get("dropped", 0),
           "linked_or_queued_recall": round(100 * (correct + q_right) / len(in_cat), 1),
           "seconds_for_listings": round(t_run, 1), "run_seconds": report.seconds,
           "index_seconds": round(t_index, 1), "matcher_fit_seconds": round(t_train, 1),
           "training_pairs": len(Y), "synthetic_listings": n_synthetic,
           "embedding": embedding,
           "auto_threshold": round(m.auto_threshold_, 3),
           "review_threshold": round(m.review_threshold_, 3)}
    log(f"catalog: {res}")
    return res


# ----------------------------------------------------------------------------- report

def markdown(result: dict) -> str:
    lines = []
    pairs = result.get("pairs") or {}
    if pairs:
        lines += ["| benchmark | test pairs | TF-IDF baseline F1 | DeepMatcher F1 | Ditto F1 | "
                  "ours P / R / F1 | ours − baseline | ours − Ditto | fit s | scored pairs/s |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for name, r in pairs.items():
            o = r["ours"]
            lines.append(f"| {name} | {r['test_pairs']:,} | {r['tfidf_baseline']['f1']} | "
                         f"{r['deepmatcher_f1']} | {r['ditto_f1']} | {o['precision']} / "
                         f"{o['recall']} / **{o['f1']}** | {r['vs_baseline']:+} | "
                         f"{r['vs_ditto']:+} | {o['fit_s']} | {o['pairs_per_s']} |")
    cat = result.get("catalog")
    if cat:
        lines += ["", "| catalog run | value |", "|---|---:|"]
        for k, v in cat.items():
            lines.append(f"| {k} | {v} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--part", choices=("pairs", "catalog", "both"), default="both")
    ap.add_argument("--datasets", nargs="*", default=list(DATASETS))
    ap.add_argument("--listings", type=int, default=1000)
    ap.add_argument("--synthetic", type=int, default=4000,
                    help="synthetic catalog pairs' listings for the catalog matcher")
    ap.add_argument("--no-embedding", action="store_true",
                    help="catalog run: lexical + brand blocking and no embedding feature "
                         "(nothing encodes the 148k catalog titles)")
    ap.add_argument("--cache-dir", default=str(ROOT / "runs" / "cache"))
    ap.add_argument("--work", default=str(ROOT / "runs" / "bench"))
    ap.add_argument("--threads", type=int, default=int(os.environ.get("PRICING_THREADS", "2")))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "matching.json"))
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)

    def log(msg: str) -> None:
        print(msg, flush=True)

    out = Path(args.out)
    result: dict = json.loads(out.read_text()) if out.exists() else {}
    result.update({"machine": platform.platform(), "cpus": os.cpu_count(),
                   "threads": args.threads, "load_average_start": os.getloadavg()[0]})
    if args.part in ("pairs", "both"):
        result["pairs"] = {**result.get("pairs", {}),
                           **run_pairs(args.datasets, args.cache_dir, log)}
    if args.part in ("catalog", "both"):
        result["catalog"] = run_catalog(args.listings, args.synthetic, args.cache_dir,
                                        Path(args.work), log, embedding=not args.no_embedding)
    result["load_average_end"] = os.getloadavg()[0]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    md = markdown(result)
    out.with_suffix(".md").write_text(md)
    print(md)
    return result


if __name__ == "__main__":
    main()
