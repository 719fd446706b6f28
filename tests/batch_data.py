"""A small catalog file for the batch-scoring tests: demo products (some in the tiny model's
catalog, some new to it) plus one row for each kind of bad input."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from assistant.guardrails import GuardrailPolicy

# max_change 0.5 with a cost ten times the current price leaves no acceptable price.
POLICY = GuardrailPolicy(max_change=0.5)
COLUMNS = ["product_id", "title", "description", "category_path", "brand", "price", "currency",
           "cost", "rating", "rating_count"]


def catalog_frame(n_demo: int = 4) -> tuple[pd.DataFrame, list[tuple[int, str, str]]]:
    """(rows as a merchant would send them, [(1-based row, field, words in the reason)]) of
    the bad rows it holds."""
    from tests.conftest import small_catalog

    demo = small_catalog(per_source=n_demo, seed=3).products
    good = demo[[c for c in COLUMNS if c in demo.columns]].copy()
    new = good.head(4).copy()  # the same kind of product, under ids and titles of its own
    new["product_id"] = [f"NEW-{i}" for i in range(len(new))]
    new["title"] = new["title"].str.slice(0, 60) + " (2026 edition)"
    new.iloc[0, new.columns.get_loc("brand")] = None  # fields a merchant left empty
    new.iloc[1, new.columns.get_loc("category_path")] = None
    rows = pd.concat([good, new], ignore_index=True).astype(object)
    first_id = rows.loc[0, "product_id"]
    bad = pd.DataFrame([
        {"product_id": "BAD-NO-TITLE", "title": None, "price": 10},
        {"product_id": "BAD-PRICE", "title": "Steel bottle 1 l", "price": "12,5x"},
        {"product_id": "BAD-CURRENCY", "title": "Steel bottle 2 l", "price": 20, "currency": "XXX"},
        {"product_id": first_id, "title": "the first row's id again", "price": 5},
        {"product_id": "BAD-POLICY", "title": "Steel bottle 3 l", "price": 100, "cost": 1000,
         "currency": "INR", "category_path": good["category_path"].iloc[0]},
    ], columns=COLUMNS)
    # spread the bad rows over the blocks
    at = [3, 7, 11, 15, len(rows) + 4]
    out = rows
    for pos, (_, b) in zip(at, bad.iterrows()):
        out = pd.concat([out.iloc[:pos], b.to_frame().T, out.iloc[pos:]], ignore_index=True)
    expected = [(pos + 1, field, words) for pos, field, words in [
        (at[0], "title", "missing title"), (at[1], "price", "non-numeric price"),
        (at[2], "currency", "unknown currency"), (at[3], "product_id", "duplicate product_id of row 1"),
        (at[4], "policy", "guardrail conflict")]]
    return out.reset_index(drop=True), expected


def write_catalog(path: Path, n_demo: int = 4) -> list[tuple[int, str, str]]:
    frame, expected = catalog_frame(n_demo)
    frame.to_csv(path, index=False)
    return expected
