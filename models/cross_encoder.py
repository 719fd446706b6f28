"""Cross-encoder for product matching: MiniLM reads both listings at once and says "same product".

Use::

    from models.cross_encoder import CrossEncoder
    ce = CrossEncoder()                                   # the packaged all-MiniLM-L6-v2 body
    ce.fit(left_texts, right_texts, labels, epochs=3)     # fine-tune on labelled pairs
    logits = ce.predict(left_texts, right_texts)          # (n,) float32, > 0 leans "match"
    ce.save("runs/matcher/cross_encoder"); ce = CrossEncoder.load("runs/matcher/cross_encoder")

Why a cross-encoder: a bi-encoder embeds each title alone, so "16 GB" and "32 GB" land close;
reading the pair together lets attention compare the two model numbers token by token (the
Ditto recipe, here with a 6-layer MiniLM so it trains on 2 CPU cores in minutes). Training
swaps the two sides at random (matching is symmetric) and keeps the word-embedding table
frozen (11.7M of the 22.7M weights: cheaper steps, and the rare words of a few thousand
pairs do not drift). Saved as a transformers folder (config JSON + safetensors) plus
``pricing_cross_encoder.json``.
"""
from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from models.encoder import base_model_path

CONFIG_FILE = "pricing_cross_encoder.json"


class CrossEncoder:
    """MiniLM with a one-logit head over a (left, right) text pair.

    Parameters
    ----------
    model_path: a BERT-style folder (default: the packaged all-MiniLM-L6-v2).
    max_length: token cap for the pair (both texts together; the longer one is cut first).
    batch_size: pairs per step when training, and per forward pass when predicting (x4).
    """

    def __init__(self, model_path: str | Path | None = None, max_length: int = 128,
                 batch_size: int = 32) -> None:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
        from transformers.utils import logging as hf_logging

        self.model_path = Path(model_path) if model_path else base_model_path()
        self.max_length = int(max_length)
        self.batch_size = int(batch_size)
        level = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()  # "newly initialised classifier" is expected here
        try:
            self.model_ = AutoModelForSequenceClassification.from_pretrained(
                str(self.model_path), num_labels=1)
        finally:
            hf_logging.set_verbosity(level)
        self.tokenizer_ = AutoTokenizer.from_pretrained(str(self.model_path))
        self.model_.eval()
        self.fitted_: dict | None = None

    def _batch(self, left: Sequence[str], right: Sequence[str]) -> dict:
        return self.tokenizer_(list(left), list(right), padding=True, truncation="longest_first",
                               max_length=self.max_length, return_tensors="pt")

    def fit(self, left: Sequence[str], right: Sequence[str], labels: Sequence[int], *,
            epochs: float = 3.0, lr: float = 5e-5, weight_decay: float = 0.01,
            seed: int = 0, log: Callable[[str], None] | None = None) -> CrossEncoder:
        """Fine-tune on labelled pairs (1 = same product) with binary cross-entropy."""
        y = np.asarray(labels, dtype=np.float32)
        if not (len(left) == len(right) == len(y)):
            raise ValueError(f"fit: {len(left)} left, {len(right)} right, {len(y)} labels")
        if len(y) < 2 or y.min() == y.max():
            raise ValueError("fit: need pairs of both classes (match and no match)")
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        model = self.model_
        emb = model.base_model.embeddings.word_embeddings
        emb.weight.requires_grad_(False)
        params = [p for p in model.parameters() if p.requires_grad]
        n = len(y)
        steps_per_epoch = math.ceil(n / self.batch_size)
        total = max(1, int(round(steps_per_epoch * epochs)))
        opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
        warm = max(1, total // 10)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: min(1.0, (s + 1) / warm) * max(0.0, (total - s) / max(1, total - warm)))
        # Batches of similar length: pad less. Shuffle within length buckets each epoch.
        lengths = np.array([len(a) + len(b) for a, b in zip(left, right)])
        t0 = time.perf_counter()
        model.train()
        losses: list[float] = []
        step = 0
        while step < total:
            order = rng.permutation(n)
            chunks = [order[i:i + self.batch_size * 20] for i in range(0, n, self.batch_size * 20)]
            batches = []
            for ch in chunks:
                ch = ch[np.argsort(lengths[ch], kind="stable")]
                batches += [ch[i:i + self.batch_size] for i in range(0, len(ch), self.batch_size)]
            rng.shuffle(batches)
            for idx in batches:
                if step >= total:
                    break
                swap = rng.random(len(idx)) < 0.5
                a = [right[i] if s else left[i] for i, s in zip(idx, swap)]
                b = [left[i] if s else right[i] for i, s in zip(idx, swap)]
                enc = self._batch(a, b)
                logits = model(**enc).logits.squeeze(-1)
                loss = nn.functional.binary_cross_entropy_with_logits(
                    logits, torch.from_numpy(y[idx]))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                opt.step()
                sched.step()
                losses.append(float(loss.detach()))
                step += 1
                if log and step % 50 == 0:
                    log(f"cross-encoder step {step}/{total} loss {np.mean(losses[-50:]):.4f} "
                        f"({time.perf_counter() - t0:.0f} s)")
        model.eval()
        k = max(1, len(losses) // 10)
        self.fitted_ = {"pairs": n, "positives": int(y.sum()), "epochs": epochs, "steps": total,
                        "lr": lr, "seed": seed, "loss_first": float(np.mean(losses[:k])),
                        "loss_last": float(np.mean(losses[-k:])),
                        "seconds": round(time.perf_counter() - t0, 1)}
        return self

    def predict(self, left: Sequence[str], right: Sequence[str]) -> np.ndarray:
        """Match logits of the pairs, symmetrised (mean of both orders)."""
        if len(left) != len(right):
            raise ValueError(f"predict: {len(left)} left texts but {len(right)} right ones")
        n = len(left)
        out = np.zeros(n, dtype=np.float32)
        if n == 0:
            return out
        order = np.argsort([len(a) + len(b) for a, b in zip(left, right)], kind="stable")
        bs = self.batch_size * 4
        self.model_.eval()
        with torch.inference_mode():
            for s in range(0, n, bs):
                idx = order[s:s + bs]
                a = [left[i] for i in idx]
                b = [right[i] for i in idx]
                l1 = self.model_(**self._batch(a, b)).logits.squeeze(-1)
                l2 = self.model_(**self._batch(b, a)).logits.squeeze(-1)
                out[idx] = ((l1 + l2) / 2).numpy()
        return out

    def save(self, directory: str | Path) -> Path:
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        self.model_.save_pretrained(str(out), safe_serialization=True)
        self.tokenizer_.save_pretrained(str(out))
        cfg = {"max_length": self.max_length, "batch_size": self.batch_size,
               "base_model": "all-MiniLM-L6-v2", "fitted": self.fitted_}
        (out / CONFIG_FILE).write_text(json.dumps(cfg, indent=2), encoding="utf-8")
        return out

    @classmethod
    def load(cls, directory: str | Path) -> CrossEncoder:
        d = Path(directory)
        cfg_file = d / CONFIG_FILE
        if not cfg_file.exists():
            raise FileNotFoundError(f"{cfg_file}: not a saved CrossEncoder folder")
        cfg = json.loads(cfg_file.read_text(encoding="utf-8"))
        ce = cls(d, max_length=cfg["max_length"], batch_size=cfg["batch_size"])
        ce.fitted_ = cfg.get("fitted")
        return ce
