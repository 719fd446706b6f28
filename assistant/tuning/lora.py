"""LoRA-tune SmolLM2-135M-Instruct on the explanation corpus, on CPU, and export the adapter
as a GGUF LoRA that llama.cpp applies to the packaged Q4_1 model.

Use:
    pricing tune-explainer --out runs/explainer --examples 1200 --steps 600 --seed 0
    from assistant.tuning.lora import TuneConfig, tune
    manifest = tune(TuneConfig(steps=50), "runs/explainer-dev")

Why this shape:
- The base weights are the packaged GGUF's, dequantized by transformers (``gguf_file=``), so
  the adapter is learned on exactly the weights llama.cpp runs it on.
- LoRA only on the top ``layers`` blocks (value/output projections and the MLP): backward
  stops there, and the loss is computed on the answer's tokens only (the 49k-word output
  layer is the costliest matrix), so a step costs little more than a forward pass.
- q/k projections are left alone: llama.cpp stores them permuted, and an adapter on them
  would have to be permuted the same way.
- The artifact is small (adapter.gguf, ~4 MB) and records its command, seed, corpus hash,
  losses and held-out figures in manifest.json, so the main job never retrains it.
"""
from __future__ import annotations

import json
import math
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from assistant.llm import smollm2_gguf_path
from assistant.tuning.corpus import corpus_hash, make_corpus

TARGETS = ("v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
_GGUF_NAMES = {"v_proj": "attn_v", "o_proj": "attn_output", "gate_proj": "ffn_gate", "up_proj": "ffn_up",
               "down_proj": "ffn_down"}


@dataclass
class TuneConfig:
    examples: int = 1200      # corpus rows generated (seeded); 5% held out (the loss on at most 20)
    steps: int = 600          # optimizer steps of `batch` examples each
    batch: int = 1            # a 2-core CPU gains nothing from larger batches of long rows
    lr: float = 1e-3
    rank: int = 8
    alpha: float = 16.0
    layers: int = 8           # LoRA on the top `layers` of the 30 blocks: backward stops there
    seed: int = 0
    threads: int = 1
    max_minutes: float = 45.0  # the whole run's budget, measurement included
    train_share: float = 0.7  # training stops at this share of max_minutes (then export, measure)
    eval_sheets: int = 10     # held-out sheets the exported adapter is measured on (llama.cpp)
    progress: bool = True
    command: str = field(default_factory=lambda: " ".join(["pricing", *sys.argv[1:]]))


def _chatml(messages: list[dict[str, str]]) -> str:
    # the same text llama.cpp's "chatml" format builds for create_chat_completion
    out = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    return out + "<|im_start|>assistant\n"


def _encode(tok: Any, row: dict[str, Any]) -> tuple[list[int], int]:
    prompt = tok(_chatml(row["messages"]), add_special_tokens=False)["input_ids"]
    answer = tok(row["target"] + "<|im_end|>", add_special_tokens=False)["input_ids"]
    return prompt + answer, len(prompt)


def load_base(threads: int = 1) -> tuple[Any, Any]:
    """(model, tokenizer) from the packaged GGUF, dequantized to float32 on CPU."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(threads)
    path = smollm2_gguf_path()
    tok = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
    return model, tok


def tune(cfg: TuneConfig, out: str | Path, log: Any = print) -> dict[str, Any]:
    """Train, export ``out/adapter.gguf`` and ``out/adapter.safetensors``, measure, write
    ``out/manifest.json``; returns the manifest."""
    import torch
    from peft import LoraConfig, get_peft_model
    from tqdm import tqdm

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    rows = make_corpus(cfg.examples, seed=cfg.seed)
    data_hash = corpus_hash(rows)
    n_held = max(1, cfg.examples // 20)
    train_rows, held_rows = rows[n_held:], rows[:n_held]
    model, tok = load_base(cfg.threads)
    n_layers = model.config.num_hidden_layers
    layers = list(range(max(0, n_layers - cfg.layers), n_layers))
    model = get_peft_model(model, LoraConfig(r=cfg.rank, lora_alpha=cfg.alpha, lora_dropout=0.0,
                                             target_modules=list(TARGETS), layers_to_transform=layers,
                                             bias="none"))
    train = [_encode(tok, r) for r in train_rows]
    held = [_encode(tok, r) for r in held_rows[:20]]  # a forward pass each: keep it short
    log = log or (lambda *_: None)
    log(f"corpus {len(rows)} rows (hash {data_hash[:12]}), mean {sum(len(t) for t, _ in train) / len(train):.0f} "
        f"tokens; LoRA r={cfg.rank} on layers {layers[0]}-{layers[-1]}")
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / 20) * max(0.05, 0.5 * (1 + math.cos(math.pi * s / max(1, cfg.steps)))))
    order = random.Random(cfg.seed).sample(range(len(train)), len(train))
    losses: list[float] = []
    model.train()
    bar = tqdm(range(cfg.steps), desc="tune-explainer", disable=not cfg.progress)
    stopped_early = False
    for step in bar:
        opt.zero_grad()
        total = 0.0
        for b in range(cfg.batch):
            ids, n_prompt = train[order[(step * cfg.batch + b) % len(order)]]
            loss = _loss(model, ids, n_prompt) / cfg.batch
            loss.backward()
            total += float(loss.detach())
        opt.step()
        sched.step()
        losses.append(total)
        bar.set_postfix(loss=f"{sum(losses[-20:]) / len(losses[-20:]):.3f}")
        if (time.perf_counter() - t0) / 60 > cfg.max_minutes * cfg.train_share:
            stopped_early = True  # keep time for the export and the held-out measurement
            break
    model.eval()
    with torch.no_grad():
        held_loss = sum(float(_loss(model, ids, n)) for ids, n in held) / len(held)
    train_s = time.perf_counter() - t0
    export_gguf(model, out / "adapter.gguf", cfg.alpha)
    _save_safetensors(model, out / "adapter.safetensors")
    manifest: dict[str, Any] = {
        "name": "smollm2-explainer", "version": 1, "base": smollm2_gguf_path().name,
        "config": asdict(cfg), "command": cfg.command, "seed": cfg.seed, "corpus_rows": len(rows),
        "corpus_sha256": data_hash, "steps_done": len(losses), "stopped_early": stopped_early,
        "train_loss_first20": round(sum(losses[:20]) / max(1, len(losses[:20])), 4),
        "train_loss_last20": round(sum(losses[-20:]) / max(1, len(losses[-20:])), 4),
        "held_out_loss": round(held_loss, 4), "train_seconds": round(train_s, 1),
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if cfg.eval_sheets:
        # the measurement gets what is left of the budget (minus a margin to write the
        # manifest), so the whole run stays within max_minutes however slow the machine
        manifest["held_out"] = measure(out / "adapter.gguf", cfg.eval_sheets, seed=cfg.seed + 10_000,
                                       threads=cfg.threads, deadline=t0 + cfg.max_minutes * 60 - 15)
    manifest["total_seconds"] = round(time.perf_counter() - t0, 1)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    log(json.dumps({k: manifest[k] for k in ("steps_done", "train_loss_first20", "train_loss_last20",
                                              "held_out_loss", "total_seconds")}))
    return manifest


def _loss(model: Any, ids: list[int], n_prompt: int) -> Any:
    """Cross-entropy on the answer's tokens only, through the output layer on those alone."""
    import torch

    x = torch.tensor([ids])
    base = model.get_base_model()
    hidden = base.model(input_ids=x).last_hidden_state[0, n_prompt - 1:-1]
    logits = base.lm_head(hidden)
    return torch.nn.functional.cross_entropy(logits.float(), x[0, n_prompt:])


def _lora_pairs(model: Any) -> list[tuple[int, str, Any, Any, int]]:
    """(layer, module, A, B, rank) for every LoRA pair in the model."""
    out = []
    for name, module in model.named_modules():
        if not hasattr(module, "lora_A") or "default" not in getattr(module, "lora_A", {}):
            continue
        parts = name.split(".")
        layer = int(parts[parts.index("layers") + 1])
        a = module.lora_A["default"].weight.detach().float().numpy()  # (r, in)
        b = module.lora_B["default"].weight.detach().float().numpy()  # (out, r)
        out.append((layer, parts[-1], a, b, a.shape[0]))
    return out


def export_gguf(model: Any, path: Path, alpha: float) -> Path:
    """Write the LoRA pairs as a llama.cpp GGUF adapter (general.type=adapter, adapter.type=lora)."""
    import gguf
    import numpy as np

    w = gguf.GGUFWriter(str(path), arch="llama")
    w.add_string(gguf.Keys.General.TYPE, "adapter")
    w.add_string(gguf.Keys.Adapter.TYPE, "lora")
    w.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(alpha))
    for layer, mod, a, b, _ in _lora_pairs(model):
        stem = f"blk.{layer}.{_GGUF_NAMES[mod]}.weight"
        # numpy (r, in) is ggml [in, r]; (out, r) is [r, out]: what llama.cpp pairs with W [in, out]
        w.add_tensor(stem + ".lora_a", np.ascontiguousarray(a, dtype=np.float32))
        w.add_tensor(stem + ".lora_b", np.ascontiguousarray(b, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def _save_safetensors(model: Any, path: Path) -> None:
    from safetensors.numpy import save_file

    tensors = {}
    for layer, mod, a, b, _ in _lora_pairs(model):
        tensors[f"layers.{layer}.{mod}.lora_A"] = a
        tensors[f"layers.{layer}.{mod}.lora_B"] = b
    save_file(tensors, str(path))


def measure(adapter: str | Path | None, n: int = 40, seed: int = 10_000, threads: int = 1,
            deadline: float | None = None) -> dict[str, Any]:
    """Held-out figures in llama.cpp: constrained and free explanations of ``n`` corpus sheets
    not trained on (a different seed): verified share, facts cited, specific product nouns.
    ``deadline`` (a time.perf_counter value): each mode stops there, and its figures say over
    how many sheets they were measured (``sheets``)."""
    import re

    from assistant.explain import Explainer
    from assistant.llm import LlamaCppChatModel
    from assistant.tuning.corpus import case_sheet, random_case

    llm = LlamaCppChatModel(model_path=str(smollm2_gguf_path()), lora_path=str(adapter) if adapter else None,
                            n_threads=threads, max_tokens=240)
    rng = random.Random(seed)
    cases = [random_case(rng) for _ in range(n)]
    res: dict[str, Any] = {"sheets": n}
    for i, (mode, constrained) in enumerate((("constrained", True), ("free", False))):
        exp = Explainer(llm, constrained=constrained, max_attempts=1)
        ok = cited = specific = 0
        secs: list[float] = []
        # the constrained mode (what the service uses) may take up to its half of what is left
        stop = None if deadline is None else (
            time.perf_counter() + (deadline - time.perf_counter()) / (2 - i))
        for case in cases:
            if stop is not None and time.perf_counter() > stop:
                break
            e = exp.explain(case_sheet(case), case.context)
            ok += e.status == "verified"
            cited += e.facts_cited if e.status == "verified" else 0
            specific += bool(e.status == "verified" and not re.search(r"this (product|item)", e.text))
            secs.append(e.seconds)
        m = max(1, len(secs))
        res[mode] = {"sheets": len(secs), "verified": round(ok / m, 3),
                     "facts_cited_mean_verified": round(cited / max(1, ok), 2),
                     "specific_noun_share": round(specific / max(1, ok), 3),
                     "seconds_p50": round(sorted(secs)[len(secs) // 2], 2) if secs else None}
    return res
