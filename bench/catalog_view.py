"""Speed of the catalog view (``GET /v1/products``, the Catalog tab) at 150k products.

Run::

    .venv/bin/python bench/catalog_view.py [--n 150000] [--out bench/results/catalog_view.json]

Builds a synthetic catalog of ``--n`` products in a temporary folder, one stored suggestion
per product (real SuggestionStore, minimal evidence with two competitor offers), 5% of them
applied and 5% waiting for approval in a real PriceBook; then times: building the view (the
materialised, indexed read model: every stored suggestion folded in), the first query, p50 /
max of repeated filtered, sorted page queries (first pages and deep pages, every sort), and a
query right after the book or the store changed (an approval, a rejection, a new suggestion:
the incremental update). Prints the figures and writes them as JSON with the machine's load
average.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from assistant.catalog_view import CatalogQuery, CatalogView
from assistant.pricebook import ApprovalPolicy, PriceBook
from assistant.suggestion import CompetitorOfferOut, Evidence, Interval, Suggestion
from assistant.suggestion_store import SuggestionStore


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=150_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", type=Path, default=Path("bench/results/catalog_view.json"))
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    n = args.n
    ids = [f"P{i:07d}" for i in range(n)]
    price = rng.uniform(5, 500, n).round(2)
    products = pd.DataFrame({"product_id": ids, "title": [f"product {i}" for i in range(n)],
                             "currency": "INR", "cost": (price * rng.uniform(0.5, 1.1, n)).round(2),
                             "price": price})
    with tempfile.TemporaryDirectory() as tmp:
        store = SuggestionStore(Path(tmp) / "s.sqlite")
        book = PriceBook(Path(tmp) / "b.sqlite", ApprovalPolicy(max_auto_change=0.05, min_confidence=0.0))
        t0 = time.perf_counter()
        rec = price * rng.uniform(0.8, 1.25, n)
        batch = []
        for i, pid in enumerate(ids):
            r = float(rec[i].round(2))
            batch.append(Suggestion(
                suggestion_id=f"s{i}", product_id=pid, title="t", currency="INR", recommended_price=r,
                model_price=r, interval=Interval(low=r * 0.9, high=r * 1.1, coverage=0.8),
                current_price=float(price[i]), confidence=float(rng.uniform()), model_version="b",
                created_at="2026-11-30",
                evidence=Evidence(competitors=[CompetitorOfferOut(competitor="a", price=float(price[i]) * 0.97),
                                               CompetitorOfferOut(competitor="b", price=float(price[i]) * 1.1)])))
            if len(batch) == 5000:
                store.add_suggestions(batch)
                batch = []
        store.add_suggestions(batch)
        fill_s = time.perf_counter() - t0
        for i in range(0, n, 10):  # 10%: half within ±5% (applied), half beyond (queued)
            s = store.get_suggestion(f"s{i}")
            book.apply(s, actor="bench", price=s.current_price * (1.02 if i % 20 == 0 else 1.3))
        t0 = time.perf_counter()
        view = CatalogView(products, store, book)
        build_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        first = view.query(CatalogQuery(limit=50))
        first_s = time.perf_counter() - t0
        queries = {
            "first page": CatalogQuery(limit=50),
            "underpriced >10%, by change desc": CatalogQuery(underpriced_by=10, sort="-change_pct", limit=50),
            "overpriced >10%, by change asc": CatalogQuery(overpriced_by=10, sort="change_pct", limit=50),
            "below cost": CatalogQuery(below_cost=True, limit=50),
            "undercut, deep page": CatalogQuery(undercut=True, limit=50, offset=n // 4),
            "pending": CatalogQuery(status="pending", limit=50),
            "pending, by confidence": CatalogQuery(status="pending", sort="confidence", limit=50),
            "by confidence desc, deep page": CatalogQuery(sort="-confidence", limit=50, offset=n // 2),
            "by current price, last page": CatalogQuery(sort="current_price", limit=50, offset=n - 50),
            "undercut + below cost, by change desc": CatalogQuery(undercut=True, below_cost=True,
                                                                  sort="-change_pct", limit=50),
            "rejected, by product desc": CatalogQuery(status="rejected", sort="-product_id", limit=50),
        }
        timings = {}
        for name, q in queries.items():
            ms = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                page = view.query(q)
                ms.append((time.perf_counter() - t0) * 1000)
            timings[name] = {"p50_ms": round(statistics.median(ms), 1), "max_ms": round(max(ms), 1),
                             "total": page.total}
        # Incremental: a query right after the book or the store changed (p50 / max of 5).
        pending = book.approvals("pending", limit=10)
        fresh = iter(range(1, 10**6, 7))
        changes = {
            "after an approval": lambda k: book.approve(pending[k].approval_id, actor="bench"),
            "after a rejection": lambda k: book.reject(pending[5 + k].approval_id, actor="bench",
                                                       reason="no"),
            "after 100 new suggestions": lambda k: store.add_suggestions(
                [store.get_suggestion(f"s{i}").model_copy(update={"suggestion_id": f"t{k}-{i}"})
                 for i in (next(fresh) % n for _ in range(100))]),
        }
        after = {}
        for name, change in changes.items():
            ms = []
            for k in range(5):
                change(k)
                t0 = time.perf_counter()
                page = view.query(CatalogQuery(status="pending", limit=50))
                ms.append((time.perf_counter() - t0) * 1000)
            after[name] = {"p50_ms": round(statistics.median(ms), 1), "max_ms": round(max(ms), 1)}
        after["pending_total_after"] = page.total  # fewer: approved, rejected, superseded
        view.close()
        book.close()
        store.close()
    out = {"n_products": n, "store_fill_s": round(fill_s, 1), "view_build_s": round(build_s, 2),
           "first_query_ms": round(first_s * 1000, 1), "first_total": first.total, "queries": timings,
           "query_after_change_ms": after,
           "loadavg": os.getloadavg(), "cpus": os.cpu_count()}
    print(json.dumps(out, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
