"""Training pairs for the matcher: labelled pair folders and synthetic pairs from a catalog.

Use::

    from models.match_data import read_pair_folder, synthetic_pairs
    d = read_pair_folder("../shared/data/product_matching/abt_buy")
    left, right, y = d["train"]                 # Listing lists and 0/1 labels; also "valid",
                                                # "test" and "texts" (every listing's text)
    L, R, y = synthetic_pairs(ids, listings, index, n=4000, exclude={"B07X"})

A pair folder holds two listing files and ``pairs.csv`` (the ER-Magellan / Ditto layout of
``product_matching/``): ``<left>.csv`` and ``<right>.csv`` with ``listing_id`` and listing
columns, and ``pairs.csv`` with ``<left>_id``, ``<right>_id``, ``match`` (1/0) and ``split``
(train / valid / test). Column names map to :class:`models.match_features.Listing` fields
through ``COLUMNS`` (``name`` -> title, ``modelno`` -> model_number, ``manufacturer`` ->
brand, ...).

Synthetic pairs teach the matcher the catalog's own vocabulary without labels: a catalog
title with words dropped and swapped (and sometimes cut short) is paired with its product
(match) and with the nearest other products the blocking search returns (no match: the hard
negatives a real run meets).
"""
from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from models.match_features import Listing

COLUMNS = {"title": "title", "name": "title", "brand": "brand", "manufacturer": "brand",
           "modelno": "model_number", "model_number": "model_number",
           "category": "category", "description": "description", "price": "price",
           "currency": "currency"}

Pairs = tuple[list[Listing], list[Listing], np.ndarray]


def read_pair_folder(folder: str | Path) -> dict:
    """{"train" | "valid" | "test": (left, right, labels), "texts": [...]} of a pair folder."""
    d = Path(folder)
    pf = d / "pairs.csv"
    if not pf.is_file():
        raise FileNotFoundError(f"{pf}: a pair folder needs pairs.csv")
    pairs = pd.read_csv(pf, dtype=str, keep_default_na=False)
    ids = [c for c in pairs.columns if c.endswith("_id")]
    if len(ids) != 2 or not {"match", "split"} <= set(pairs.columns):
        raise ValueError(f"{pf}: need columns <left>_id, <right>_id, match, split (found "
                         f"{', '.join(pairs.columns)})")

    def listings(col: str) -> dict[str, Listing]:
        f = d / f"{col[:-3]}.csv"
        df = pd.read_csv(f, dtype=str, keep_default_na=False)
        if "listing_id" not in df.columns:
            raise ValueError(f"{f}: no listing_id column")
        out = {}
        for r in df.to_dict("records"):
            m = {COLUMNS[k.lower()]: v for k, v in r.items() if k.lower() in COLUMNS}
            out[r["listing_id"]] = Listing.from_mapping(m)
        return out

    L, R = listings(ids[0]), listings(ids[1])
    bad = pairs[~pairs["match"].isin(["0", "1"])]
    if len(bad):
        raise ValueError(f"{pf}: row {int(bad.index[0]) + 1}: match must be 0 or 1, got "
                         f"{bad['match'].iloc[0]!r}")
    out: dict = {}
    for split in ("train", "valid", "test"):
        p = pairs[pairs["split"] == split]
        out[split] = ([L[i] for i in p[ids[0]]], [R[i] for i in p[ids[1]]],
                      p["match"].astype(int).to_numpy())
    out["texts"] = [x.text() for x in (*L.values(), *R.values())]
    return out


def perturb(title: str, rng: random.Random) -> str:
    """A noisy copy of a title: up to a quarter of its words dropped, neighbours swapped,
    maybe the tail cut and the case lowered (generic noise, no knowledge of brands or units)."""
    w = str(title).split()
    if len(w) > 4:
        for _ in range(rng.randint(1, max(1, len(w) // 4))):
            w.pop(rng.randrange(len(w)))
        for _ in range(rng.randint(1, 2)):
            i = rng.randrange(len(w) - 1)
            w[i], w[i + 1] = w[i + 1], w[i]
    if len(w) > 8 and rng.random() < 0.5:
        w = w[:rng.randint(6, len(w))]
    out = " ".join(w)
    return out.lower() if rng.random() < 0.3 else out


def synthetic_pairs(ids: Sequence[str], listings: Sequence[Listing], index, n: int, *,
                    exclude: set[str] = frozenset(), negatives: int = 3,
                    seed: int = 0) -> Pairs:
    """``n`` perturbed catalog listings, each paired with its product (1) and with its
    ``negatives`` nearest other products among the blocking candidates (0). Products in
    ``exclude`` (e.g. an evaluation set) are never used."""
    rng = random.Random(seed)
    pool = [i for i, pid in enumerate(ids) if pid not in exclude and listings[i].price]
    pick = rng.sample(pool, min(n, len(pool)))
    left = [Listing(title=perturb(listings[i].title, rng),
                    price=listings[i].price * float(np.exp(rng.gauss(0, 0.1))),
                    currency=listings[i].currency) for i in pick]
    L: list[Listing] = []
    R: list[Listing] = []
    y: list[int] = []
    for x, i, c in zip(left, pick, index.candidates(left)):
        L.append(x)
        R.append(listings[i])
        y.append(1)
        # the nearest others (not exact title twins: those are the same product listed twice)
        others = np.asarray([j for j in c if j != i and listings[j].title != listings[i].title],
                            dtype=np.int64)
        if len(others):
            if index.emb_ is not None:
                sims = index.emb_[others] @ index.emb_[i]
            else:
                sims = (index.lex_[others] @ index.lex_[i].T).toarray().ravel()
            for j in others[np.argsort(-sims)[:negatives]]:
                L.append(x)
                R.append(listings[int(j)])
                y.append(0)
    return L, R, np.asarray(y, dtype=np.int64)


def split_pairs(pairs: Pairs, valid_share: float = 0.25) -> tuple[Pairs, Pairs]:
    """Cut pairs into train / valid at a listing boundary (a listing's pairs stay together:
    they follow each other, a positive first)."""
    L, R, y = pairs
    cut = int((1 - valid_share) * len(y))
    while 0 < cut < len(y) and y[cut] == 0:
        cut += 1
    return (L[:cut], R[:cut], y[:cut]), (L[cut:], R[cut:], y[cut:])
