"""Shared pieces of the matching tests: a small real catalog store and a matcher trained on it.

Built once per test session (``functools.cache``) in a temporary folder: the demo's
``amazon_in_2023`` products of three sub-categories (about 1,000, colour variants included)
in a SQLite graph store, and a :class:`models.matcher.PairMatcher` trained like the real one:
labelled pairs (``tests/data/walmart_amazon_sample``, 800 Walmart–Amazon pairs shipped with
the tests, so they run without ``../shared``) plus synthetic pairs from that catalog. Tests
that write copy the store first (:func:`store_copy`: a SQLite file, or into a PostgreSQL
database).
"""
from __future__ import annotations

import functools
import shutil
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo"
SUBCATS = ("Headphones", "Wallets", "All Electronics")
PAIRS = ROOT / "tests" / "data" / "walmart_amazon_sample"
RED, BLUE = "B08GG978NG", "B08H9Z3XQW"   # boAt Bassheads 242 ... Mic(Red) / Mic(Blue)


@functools.cache
def workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="pricing-match-tests-"))


@functools.cache
def catalog_db() -> Path:
    from graph.adapters import load_dataset
    from graph.build import build_graph
    from graph.contracts import Catalog
    from graph.store import GraphStore

    cat = load_dataset("amazon_in_2023", DEMO / "amazon_in_2023")
    p = cat.products
    keep = p[p["category_path"].str.split(" > ").str[-1].isin(SUBCATS)]
    db = workdir() / "catalog.sqlite"
    with GraphStore(db) as st:
        st.save(build_graph(Catalog(products=keep.reset_index(drop=True))))
    return db


@functools.cache
def matcher_dir() -> Path:
    from assistant.matching import train_matcher

    out = workdir() / "matcher"
    train_matcher(out, pair_folders=[PAIRS], db=catalog_db(), synthetic=250,
                  cache_dir=workdir() / "cache")
    return out


def store_copy(directory: Path, location: str | None = None) -> Path | str:
    """A private copy of the catalog store (tests that link offers edit it): a SQLite file in
    ``directory``, or the graph saved into the PostgreSQL database ``location`` (a URL)."""
    if location is not None:
        from graph.store import GraphStore

        with GraphStore(catalog_db()) as src, GraphStore(location) as dst:
            dst.save(src.load())
        return location
    db = Path(directory) / "graph.sqlite"
    shutil.copy(catalog_db(), db)
    return db


def cache_dir() -> Path:
    return workdir() / "cache"
