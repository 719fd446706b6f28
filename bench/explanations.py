"""How often the local LLM's explanations pass verification, what they cite, and how long they
take: tuned vs untuned, constrained vs free, side by side.

Run::

    python bench/explanations.py --artifact runs/model --db runs/graph.sqlite [--n 200] [--threads 2]
        [--variants tuned,untuned,tuned-free:30,untuned-free:30]

For ``--n`` catalog products (fixed seed) it builds each suggestion once (price, interval,
evidence: timed, that is what the chat shows at once), then words the same fact sheets with
each variant: ``tuned`` / ``untuned`` = SmolLM2-135M-Instruct with / without the shipped LoRA
adapter, decoding constrained to the sheet's sentence plan; ``tuned-free`` / ``untuned-free``
= the same models writing freely, verified, retried once. ``variant:N`` runs a variant on
the first N products only (free writing is slow).
Per variant: verified first try / after the retry / fallback, facts cited (mean, share >= 4),
verifier problems of the drafts by kind (numbers, directions, product nouns, references,
rules, confidence, incomplete sentences, ...), seconds per explanation (wall p50/p90, CPU
p50 — the machine is shared, CPU seconds are what one idle core would take), seconds to the
first streamed sentence, and a re-check that every text shown passes the verifier. Writes
bench/results/explanations.json.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]

PROBLEM_KINDS = [
    ("unknown placeholder", "unknown_placeholder"), ("matches no fact", "invented_number"),
    ("written in", "wrong_currency"), ("contradicts", "direction"), ("claims", "direction"),
    ("compares", "reference"), ("names a reference", "reference"), ("is followed by", "reference"),
    ("names the product", "product_noun"), ("names the rule", "rule"), ("confidence", "confidence"),
    ("range needs both ends", "incomplete_sentence"), ("cut off", "incomplete_sentence"),
    ("full sentence", "incomplete_sentence"), ("is not a sentence", "incomplete_sentence"),
    ("must be followed by", "count_noun"), ("no direction word", "direction"), ("ranking", "ranking"),
    ("must state", "missing_price"), ("empty text", "empty"), ("stray brace", "stray_brace"),
    ("LLM call failed", "llm_error"), ("is called", "count_called_price"), ("is a count", "count_called_price"),
    ("chat-template", "instruction_token"), ("instruction or role", "instruction_token"),
    ("template marker", "template_marker"), ("brace is left", "stray_brace"), ("copies", "copied_product_text"),
]


def problem_kind(problem: str) -> str:
    for needle, kind in PROBLEM_KINDS:
        if needle in problem:
            return kind
    return "other"


def _pct(x: float, n: int) -> float:
    return round(x / n, 3) if n else 0.0


def run_variant(name: str, explainer, items, verify_fn) -> dict:
    from assistant.explain import prompt_fact_ids

    statuses: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    wall, cpu, first, cited = [], [], [], []
    unverified_shown = 0
    examples = []
    for sheet, ctx, pid in tqdm(items, desc=name):
        c0 = time.process_time()
        e = explainer.explain(sheet, ctx)
        cpu.append(time.process_time() - c0)
        wall.append(e.seconds)
        if e.first_sentence_s is not None:
            first.append(e.first_sentence_s)
        statuses[e.status] += 1
        for attempt in e.problems:
            for p in attempt:
                kinds[problem_kind(p)] += 1
        if e.status != "fallback":
            cited.append(e.facts_cited)
        if not verify_fn(e.text, sheet).ok:
            unverified_shown += 1
        if len(examples) < 8 and e.status != "fallback":
            examples.append({"product_id": pid, "text": e.text, "draft": e.raw_outputs[-1],
                             "facts_cited": e.facts_cited,
                             "facts": {i: sheet[i].format() for i in prompt_fact_ids(sheet)}})
    n = len(items)
    llm_ok = statuses["verified"] + statuses["verified_after_retry"]
    return {
        "n": n,
        "verified_first_try": _pct(statuses["verified"], n),
        "verified_after_retry": _pct(statuses["verified_after_retry"], n),
        "verified_from_llm": _pct(llm_ok, n),
        "fallback": _pct(statuses["fallback"], n),
        "facts_cited_mean": round(float(np.mean(cited)), 2) if cited else 0.0,
        "share_citing_4_plus": _pct(sum(c >= 4 for c in cited), len(cited)),
        "draft_problems_by_kind": dict(kinds.most_common()),
        "unverified_texts_shown": unverified_shown,
        "seconds_p50": round(float(np.median(wall)), 2), "seconds_p90": round(float(np.percentile(wall, 90)), 2),
        "cpu_seconds_p50": round(float(np.median(cpu)), 2), "cpu_seconds_p90": round(float(np.percentile(cpu, 90)), 2),
        "first_sentence_seconds_p50": round(float(np.median(first)), 2) if first else None,
        "examples": examples,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--artifact", type=Path, default=ROOT / "runs/model")
    ap.add_argument("--db", type=Path, default=ROOT / "runs/graph.sqlite")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--variants", default="tuned,untuned,tuned-free:30,untuned-free:30")
    ap.add_argument("--adapter", default="auto", help="the tuned variants' adapter (default: the shipped one)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/explanations.json")
    ap.add_argument("--merge", action="store_true",
                    help="add these variants to --out's (same products), keeping the others")
    args = ap.parse_args()
    os.environ.setdefault("PRICING_THREADS", str(args.threads))

    from assistant.explain import Explainer, ProductContext
    from assistant.facts import suggestion_fact_sheet
    from assistant.llm import LlamaCppChatModel, adapter_path, smollm2_gguf_path
    from assistant.service import PricingService
    from assistant.suggestion import SuggestOptions
    from assistant.verify import verify

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        service = PricingService.from_paths(args.artifact, args.db, Path(tmp) / "s.sqlite", llm=None)
        load_s = time.perf_counter() - t0
        ids = sorted(service.products.index[service.products["price"].notna()].tolist())
        picks = random.Random(0).sample(ids, min(args.n, len(ids)))
        items, evidence_s = [], []
        for pid in tqdm(picks, desc="suggestions"):
            t = time.perf_counter()
            s = service.suggest(pid, SuggestOptions(explain=False), store=False)
            evidence_s.append(time.perf_counter() - t)
            row = service.products.loc[pid]
            ctx = ProductContext(title=s.title, description=str(row.get("description") or ""),
                                 reviews=tuple(row.get("review_texts") or ())[:3], brand=str(row.get("brand") or ""),
                                 category=str(row.get("category_path") or ""))
            items.append((suggestion_fact_sheet(s, in_catalog=True), ctx, pid))

    gguf = str(smollm2_gguf_path())
    tuned = adapter_path(args.adapter, gguf)
    results: dict[str, dict] = {}
    models: dict[str, LlamaCppChatModel] = {}
    for spec in [v.strip() for v in args.variants.split(",") if v.strip()]:
        variant, _, count = spec.partition(":")
        is_tuned = variant.startswith("tuned")
        if is_tuned and tuned is None:
            results[variant] = {"skipped": "no tuned adapter found"}
            continue
        key = "tuned" if is_tuned else "untuned"
        if key not in models:
            models[key] = LlamaCppChatModel(model_path=gguf, lora_path=tuned if is_tuned else None,
                                            n_threads=args.threads, max_tokens=240)
            models[key].load()
        free = variant.endswith("-free")
        exp = Explainer(models[key], constrained=not free)
        todo = items[: int(count)] if count else items
        results[variant] = run_variant(variant, exp, todo, lambda t, sh: verify(t, sh))
        results[variant]["adapter"] = os.path.basename(tuned) if is_tuned and tuned else None
        results[variant]["decoding"] = "free" if free else "constrained"

    res = {
        "n_products": len(items), "service_load_s": round(load_s, 2),
        "evidence_seconds_p50": round(float(np.median(evidence_s)), 3),
        "evidence_seconds_p90": round(float(np.percentile(evidence_s, 90)), 3),
        "variants": results, "threads": args.threads, "artifact": str(args.artifact),
        # a busy machine slows every wall-clock figure: say how busy it was
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if args.merge and args.out.exists():
        old = json.loads(args.out.read_text())
        if old.get("n_products") == res["n_products"] and old.get("artifact") == res["artifact"]:
            res["variants"] = {**old.get("variants", {}), **results}
            res["runs"] = old.get("runs", []) + [{"variants": list(results), "measured_at": res["measured_at"],
                                                  "load_average_end": res["load_average_end"]}]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2, ensure_ascii=False))
    summary = {k: {m: v.get(m) for m in ("verified_first_try", "verified_after_retry", "fallback",
                                         "facts_cited_mean", "share_citing_4_plus", "unverified_texts_shown",
                                         "seconds_p50", "seconds_p90", "cpu_seconds_p50")}
               for k, v in results.items()}
    print(json.dumps({"evidence_seconds_p50": res["evidence_seconds_p50"], "variants": summary}, indent=2))


if __name__ == "__main__":
    main()
