"""Train the chat's intent classifier on generated messages and save it into the package.

Use::

    python -m assistant.chat.train                       # data/demo titles -> assistant/chat/model
    python -m assistant.chat.train --catalog data/demo --per-action 500 --out /tmp/intents

The messages come from assistant.chat.training_data (templates × catalog titles × amounts ×
typos × languages), normalised exactly as messages are at run time (gloss, typo fixes); the
labelled evaluation set (bench/data/chat_eval.jsonl) is never read here.
"""
from __future__ import annotations

import argparse
import hashlib
import time
from pathlib import Path

from assistant.chat.intents import PACKAGED, IntentClassifier, embed
from assistant.chat.training_data import generate
from assistant.chat.understanding import Understander


def catalog_titles(catalog: str | Path, limit: int = 3000, seed: int = 0) -> tuple[list[str], list[str]]:
    """(titles, ids): a sample of the catalog's products."""
    from graph.adapters import load_path

    p = load_path(catalog).products
    p = p.sample(min(limit, len(p)), random_state=seed)
    return [str(t) for t in p["title"].fillna("")], [str(i) for i in p["product_id"]]


def training_set(titles: list[str], ids: list[str], per_action: int = 300, seed: int = 0,
                 vocabulary: set[str] | None = None) -> tuple[list[str], list[str]]:
    """Generated messages, normalised as at run time, and their actions."""
    rows = generate(titles, ids, n_per_action=per_action, seed=seed)
    u = Understander(None, vocabulary=vocabulary or set())
    return [u.normalize(t)[0] for t, _ in rows], [a for _, a in rows]


def main(argv: list[str] | None = None) -> Path:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--catalog", default="data/demo")
    ap.add_argument("--per-action", type=int, default=300)
    ap.add_argument("--cache", default="runs/cache/intents", help="embedding cache ('' for none)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(PACKAGED))
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    titles, ids = catalog_titles(args.catalog, seed=args.seed)
    vocab = {w.lower() for t in titles for w in t.split()}
    texts, labels = training_set(titles, ids, args.per_action, args.seed, vocab)
    clf = IntentClassifier().fit(texts, labels, embedded=embed(texts, cache_dir=args.cache or None))
    digest = hashlib.sha1("\n".join(f"{t}\t{a}" for t, a in zip(texts, labels)).encode()).hexdigest()[:12]
    out = clf.save(args.out, meta={"examples": len(texts), "per_action": args.per_action, "seed": args.seed,
                                   "catalog": str(args.catalog), "data_sha1": digest})
    acc = sum(p == y for p, y in zip(clf.predict(texts), labels)) / len(labels)
    print(f"trained on {len(texts)} generated messages in {time.perf_counter() - t0:.0f}s; "
          f"training accuracy {acc:.3f}; saved to {out}")
    return out


if __name__ == "__main__":
    main()
