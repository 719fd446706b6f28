"""Chat understanding benchmark (issue 12): action accuracy, slot exact match, non-product
messages priced, and turn latency, on a labelled set written for evaluation
(bench/data/chat_eval.txt, never used for training).

Use::

    python bench/chat_understanding.py                      # the real agent over a bench model
    python bench/chat_understanding.py --ablation           # + rules only / n-grams only / embeddings only
    python bench/chat_understanding.py --artifact runs/model --limit 50

Every conversation runs through the real ChatAgent (understanding, then the handler, so a
follow-up sees the product, the did-you-mean list and the rules that earlier turns left in
the session). A turn is timed end to end without LLM wording (the deterministic verified
explanation). Without --artifact a small model is trained once on a slice of data/demo that
holds every product the set names (cached in runs/bench_chat/). Writes
bench/results/chat_understanding.json.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

EVAL = ROOT / "bench" / "data" / "chat_eval.txt"
OUT = ROOT / "bench" / "results" / "chat_understanding.json"
# Messages that are not about a product: they must never be priced.
NON_PRODUCT = {"unknown", "smalltalk", "feedback", "help", "summary", "reset"}
# Actions whose product words are part of the expected slots.
PRODUCT_ACTIONS = {"price", "competitors", "comparables", "margin", "break_even", "should_drop", "demand",
                   "what_if", "target_price"}
SLOT_KEYS = ("product_id", "query", "cost", "current_price", "price", "margin", "markup", "stock", "days",
             "policy", "feedback", "currency")


@dataclass
class Turn:
    text: str
    action: str
    slots: dict[str, Any]


@dataclass
class Conversation:
    group: str
    turns: list[Turn] = field(default_factory=list)


def _value(key: str, raw: str) -> Any:
    raw = raw.strip()
    if key in ("cost", "current_price", "price", "margin", "markup", "stock", "days"):
        return float(raw)
    if key == "policy":
        out: dict[str, Any] = {}
        for part in raw.split(","):
            k, v = part.split(":", 1)
            out[k] = None if v == "None" else (v if k == "ending" else float(v))
        return out
    return raw


def load_eval(path: Path = EVAL) -> list[Conversation]:
    """The labelled set: one conversation per line outside conversation blocks."""
    convs: list[Conversation] = []
    group, conversation = "", False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            parts = line[3:].split()
            group, conversation = parts[0], "conversation" in parts
            if conversation:
                convs.append(Conversation(group))
            continue
        if line.startswith("--"):
            convs.append(Conversation(group))
            continue
        if not line.strip() or line.startswith("#"):
            continue
        action, text, slots = (x.strip() for x in line.split("|", 2))
        kv = {}
        for item in filter(None, (x.strip() for x in slots.split(";"))):
            k, v = item.split("=", 1)
            kv[k.strip()] = _value(k.strip(), v)
        turn = Turn(text, action, kv)
        if conversation:
            convs[-1].turns.append(turn)
        else:
            convs.append(Conversation(group, [turn]))
    return convs


def _norm_words(s: str | None) -> str:
    """Product words compared as a set: lower case, singular, without connectors (the matcher
    reads words, not their order: "mochila de cuero" glosses to "backpack of leather")."""
    words = re.findall(r"[\w']+", (s or "").lower())
    keep = {w[:-1] if len(w) > 3 and w.endswith("s") else w for w in words} - {"of", "for", "with", "and", "a", "the"}
    return " ".join(sorted(keep))


def predicted_slots(intent: Any) -> dict[str, Any]:
    out = {k: getattr(intent, k, None) for k in SLOT_KEYS if k not in ("query", "policy")}
    out["query"] = intent.query
    out["policy"] = dict(intent.policy) if intent.name == "set_policy" else {}
    if intent.name != "feedback":
        out["feedback"] = None
    return out


def slots_match(expected: Turn, intent: Any) -> tuple[bool, list[str]]:
    """Every labelled slot equal, and no other slot filled (product words only where they matter)."""
    got = predicted_slots(intent)
    wrong = []
    for k in SLOT_KEYS:
        want = expected.slots.get(k)
        have = got.get(k)
        if k == "query":
            if expected.action not in PRODUCT_ACTIONS and want is None:
                continue
            if expected.slots.get("product_id") and want is None:
                continue   # the id names the product; leftover words do not matter
            if _norm_words(want) != _norm_words(have):
                wrong.append(k)
        elif k == "policy":
            if (want or {}) != (have or {}) and not (want is None and expected.action != "set_policy"):
                if not all(abs((have or {}).get(x, -1) - v) < 1e-9 if isinstance(v, float) else
                           (have or {}).get(x, "?") == v for x, v in (want or {}).items()) or \
                        set(have or {}) != set(want or {}):
                    wrong.append(k)
        elif k == "currency":
            if want is not None and want != have:
                wrong.append(k)
        elif isinstance(want, float) or isinstance(have, float):
            if want is None or have is None or abs(float(want) - float(have)) > 1e-6:
                wrong.append(k)
        elif want != have:
            wrong.append(k)
    return not wrong, wrong


def bench_service(artifact: str | None, convs: list[Conversation]) -> Any:
    """The PricingService to chat with: over `artifact`, or a small model over a demo slice
    that holds every product the evaluation set names."""
    import pandas as pd

    from assistant.demand_advisor import DemandAdvisor
    from assistant.service import PricingService
    from graph.adapters import load_path
    from graph.contracts import Catalog

    cat = load_path(ROOT / "data" / "demo")
    runs = ROOT / "runs" / "bench_chat"
    runs.mkdir(parents=True, exist_ok=True)
    if artifact is None:
        artifact = str(runs / "model")
        if not (Path(artifact) / "metadata.json").exists():
            from models.train import TrainConfig, train

            named = {t for c in convs for turn in c.turns for t in re.findall(r"[\w]+", turn.text)}
            p = cat.products
            keep = pd.concat([g.sample(min(len(g), 300), random_state=0) for _, g in p.groupby("source")]
                             + [p[p["product_id"].isin(named)], p[p["product_id"].isin(set(cat.sales["product_id"]))]])
            keep = keep.drop_duplicates("product_id")
            ids = set(keep["product_id"])
            sl = Catalog(products=keep.reset_index(drop=True),
                         reviews=cat.reviews[cat.reviews["product_id"].isin(ids)].reset_index(drop=True),
                         offers=cat.offers[cat.offers["product_id"].isin(ids)].reset_index(drop=True),
                         sales=cat.sales[cat.sales["product_id"].isin(ids)].reset_index(drop=True))
            cfg = TrainConfig(ft_max_texts=600, ft_epochs=1.0, word_features=5000, char_features=5000,
                              head_max_epochs=4, hidden=(64, 32), threads=int(os.environ.get("PRICING_THREADS", 2)),
                              cache_dir=None, progress=False)
            print(f"training the bench model on {len(keep)} products ...", flush=True)
            train(sl, cfg, artifact, log=None)
    svc = PricingService.from_paths(artifact, None, runs / "suggestions.sqlite", llm=None, sales=None)
    svc.demand = DemandAdvisor().fit(cat.sales, cat.products, cat.offers)
    return svc


def run(agent: Any, convs: list[Conversation]) -> list[dict[str, Any]]:
    """Every turn through the agent; what it understood, whether it priced, how long it took."""
    from assistant.chat import ChatSession
    from assistant.chat.understanding import Context

    rows = []
    for ci, conv in enumerate(convs):
        session = ChatSession()
        for ti, turn in enumerate(conv.turns):
            ctx = Context(has_product=session.suggestion is not None, candidates=len(session.candidates),
                          candidate_ids=tuple(m.product_id for m in session.candidates))
            before = {h["suggestion_id"] for h in session.history}
            t0 = time.perf_counter()
            intent = agent.understand(turn.text, session)
            reply = agent.handle(intent, session)
            dt = time.perf_counter() - t0
            priced = any(h["suggestion_id"] not in before for h in session.history)
            ok, wrong = slots_match(turn, intent)
            rows.append({"conversation": ci, "turn": ti, "group": conv.group, "text": turn.text,
                         "expected": turn.action, "predicted": intent.name, "slots_ok": ok, "wrong_slots": wrong,
                         "priced": priced, "seconds": dt, "reply_intent": reply.intent, "context": ctx,
                         "gloss": intent.gloss, "language": intent.language})
    return rows


def figures(rows: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(rows)
    acc = sum(r["expected"] == r["predicted"] for r in rows) / n
    slots = sum(r["slots_ok"] for r in rows) / n
    non = [r for r in rows if r["expected"] in NON_PRODUCT]
    by_group = {}
    for g in sorted({r["group"] for r in rows}):
        rs = [r for r in rows if r["group"] == g]
        by_group[g] = {"messages": len(rs), "action_accuracy": round(sum(r["expected"] == r["predicted"] for r in rs)
                                                                      / len(rs), 4),
                       "slot_exact_match": round(sum(r["slots_ok"] for r in rs) / len(rs), 4)}
    secs = sorted(r["seconds"] for r in rows)
    return {"messages": n, "action_accuracy": round(acc, 4), "slot_exact_match": round(slots, 4),
            "non_product_messages": len(non), "non_product_priced": sum(r["priced"] for r in non),
            "turn_p50_ms": round(1000 * statistics.median(secs), 1),
            "turn_p95_ms": round(1000 * secs[int(0.95 * (n - 1))], 1), "by_group": by_group}


def confusion(rows: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    out: dict[str, Counter] = {}
    for r in rows:
        out.setdefault(r["expected"], Counter())[r["predicted"]] += 1
    return {k: dict(v) for k, v in sorted(out.items())}


def ablation(rows: list[dict[str, Any]], agent: Any, cache: str) -> dict[str, float]:
    """Action accuracy of other understanders on the same turns and contexts."""
    from assistant.chat.intents import IntentClassifier, embed
    from assistant.chat.train import catalog_titles, training_set
    from assistant.chat.understanding import Understander

    titles, ids = catalog_titles(ROOT / "data" / "demo")
    vocab = {w.lower() for t in titles for w in t.split()}
    texts, labels = training_set(titles, ids, vocabulary=vocab)
    E = embed(texts, cache_dir=cache)
    base = agent.understander
    variants = {"rules only (regex parser)": None,
                "n-grams only": IntentClassifier(embeddings=False).fit(texts, labels),
                "embeddings only": IntentClassifier(ngrams=False).fit(texts, labels, embedded=E),
                "embeddings + n-grams (shipped)": base.classifier}
    out = {}
    for name, clf in variants.items():
        u = Understander(clf, is_product_id=base.is_product_id, vocabulary=base.vocabulary)
        right = sum(u.understand(r["text"], r["context"]).name == r["expected"] for r in rows)
        out[name] = round(right / len(rows), 4)
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description="chat understanding benchmark")
    ap.add_argument("--artifact", default=None)
    ap.add_argument("--limit", type=int, default=None, help="first N conversations only")
    ap.add_argument("--ablation", action="store_true")
    ap.add_argument("--cache", default=str(ROOT / "runs" / "cache" / "intents"))
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args(argv)

    from assistant.chat import ChatAgent
    from models.encoder import set_threads

    set_threads()
    convs = load_eval()[: args.limit]
    agent = ChatAgent(bench_service(args.artifact, convs))
    agent.matcher.search("warm up", k=1)
    agent.understander.understand("warm up")
    rows = run(agent, convs)
    res = figures(rows)
    res["confusion"] = confusion(rows)
    res["errors"] = [{k: r[k] for k in ("group", "text", "expected", "predicted", "wrong_slots", "gloss")}
                     for r in rows if r["expected"] != r["predicted"] or not r["slots_ok"]]
    res["priced_non_product"] = [r["text"] for r in rows if r["expected"] in NON_PRODUCT and r["priced"]]
    if args.ablation:
        res["ablation_action_accuracy"] = ablation(rows, agent, args.cache)
    print(f"{res['messages']} messages: action accuracy {res['action_accuracy']:.1%}, slot exact match "
          f"{res['slot_exact_match']:.1%}, non-product messages priced {res['non_product_priced']}"
          f"/{res['non_product_messages']}, turn p50 {res['turn_p50_ms']} ms (p95 {res['turn_p95_ms']} ms)")
    for g, f in res["by_group"].items():
        print(f"  {g:10s} {f['messages']:4d} messages  action {f['action_accuracy']:.1%}  slots "
              f"{f['slot_exact_match']:.1%}")
    for name, a in res.get("ablation_action_accuracy", {}).items():
        print(f"  ablation: {name:32s} action accuracy {a:.1%}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1, ensure_ascii=False, default=str))
    return res


if __name__ == "__main__":
    main()
