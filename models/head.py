"""Regression head: a torch MLP over sparse lexical + dense features, with quantile outputs.

Use::

    from models.head import PriceHead
    head = PriceHead(hidden=(256, 64, 64), seed=0).fit(Xs, Xd, y, Xs_val, Xd_val, y_val)
    q = head.predict(Xs, Xd)          # (n, 3) log1p-price quantiles: q0.1, q0.5, q0.9
    head.save("runs/model/head"); head = PriceHead.load("runs/model/head")

Architecture (why): the sparse first layer (a scipy sparse x dense product that never
materialises the 150k-wide input, see :class:`_SparseMatMul`) and a dense linear
layer over embeddings / graph / numeric features are summed into the first hidden layer, then
ReLU layers, then three outputs. The median output is the point prediction; the low and high
outputs are the median minus / plus a softplus, so quantiles never cross. Loss: pinball at the
outer quantiles plus, for the median, pinball (``point_loss="pinball"``) or Huber (closer to
the RMSLE metric). Training follows the Mercari winners: Adam, few epochs, the batch size
doubling each epoch; here with early stopping on a validation slice (best epoch restored) and
an ensemble of ``n_models`` seeds averaged in log space.

Dense inputs are standardised with the training mean/std, kept in the JSON config. Saved as
``head.json`` (config, scaler, training summary) + ``head.safetensors`` (weights).

Measured on a 30k-product slice of amazon_in_2023 (18k train, 6k test; test RMSLE): TF-IDF
alone 0.725; + graph and rating features 0.691; + text embeddings at full scale 0.699-0.703,
at ``dense_scale`` 0.03 0.682; two seeds 0.676. Huber and pinball medians differ by < 0.003;
alternating 0/1 and TF-IDF inputs across the ensemble (a Mercari trick) was worse (0.686).
"""
from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch
from safetensors.torch import load_file, save_file
from torch import nn

HEAD_CONFIG = "head.json"
HEAD_WEIGHTS = "head.safetensors"
FORMAT = "pricing-head"
FORMAT_VERSION = 1


class _SparseMatMul(torch.autograd.Function):
    """``X @ W`` for a scipy CSR batch ``X``: scipy's sparse kernels forward and backward.

    Measured on 2 shared cores (92k features x 256): about twice as fast as
    ``nn.EmbeddingBag`` with per-sample weights, whose dense backward dominated training.
    """

    @staticmethod
    def forward(ctx, W: torch.Tensor, X: sp.csr_matrix) -> torch.Tensor:  # type: ignore[override]
        ctx.X = X
        return torch.from_numpy(np.ascontiguousarray(X @ W.detach().numpy()))

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        gw = ctx.X.T @ grad.detach().numpy()
        return torch.from_numpy(np.ascontiguousarray(gw, dtype=np.float32)), None


class QuantileMLP(nn.Module):
    """Sparse + dense first layer, ReLU MLP, three monotone quantile outputs."""

    def __init__(self, n_sparse: int, n_dense: int, hidden: Sequence[int] = (256, 64, 64),
                 dropout: float = 0.0) -> None:
        super().__init__()
        h1 = int(hidden[0])
        self.n_sparse, self.n_dense = n_sparse, n_dense
        self.sparse_weight = nn.Parameter(torch.randn(max(n_sparse, 1), h1) * 0.01)
        self.dense = nn.Linear(max(n_dense, 1), h1)
        layers: list[nn.Module] = []
        prev = h1
        for h in hidden[1:]:
            layers += [nn.ReLU(), nn.Dropout(dropout), nn.Linear(prev, int(h))]
            prev = int(h)
        layers += [nn.ReLU()]
        self.body = nn.Sequential(*layers)
        self.out = nn.Linear(prev, 3)

    def forward(self, Xs: sp.csr_matrix, dense: torch.Tensor) -> torch.Tensor:
        h = self.dense(dense)
        if self.n_sparse:
            h = h + _SparseMatMul.apply(self.sparse_weight, Xs)
        o = self.out(self.body(h))
        mid = o[:, 1]
        low = mid - nn.functional.softplus(o[:, 0])
        high = mid + nn.functional.softplus(o[:, 2])
        return torch.stack([low, mid, high], dim=1)


def pinball(pred: torch.Tensor, y: torch.Tensor, q: float) -> torch.Tensor:
    d = y - pred
    return torch.mean(torch.maximum(q * d, (q - 1) * d))


class PriceHead:
    """Ensemble of :class:`QuantileMLP` trained on log1p prices (sklearn-style estimator).

    Parameters
    ----------
    hidden: layer widths; the first is the sparse/dense input layer.
    quantiles: (low, 0.5, high) levels of the three outputs.
    point_loss: "huber" or "pinball" for the median output.
    lr, weight_decay: Adam(W) settings.
    batch_size: first epoch's batch; it doubles every epoch up to ``max_batch_size``.
    max_epochs, patience: early stopping on validation RMSE of the median (log space).
    n_models: seeds averaged (each a full model).
    dense_scale: optional per-column multiplier after standardisation (a value < 1 shrinks a
        block's initial influence, e.g. 384 embedding dimensions next to a few graph features).
    seed: base seed (model k uses seed + k).
    """

    def __init__(self, hidden: Sequence[int] = (256, 64, 64),
                 quantiles: Sequence[float] = (0.1, 0.5, 0.9), point_loss: str = "huber",
                 huber_delta: float = 1.0, lr: float = 3e-3, weight_decay: float = 0.0,
                 dropout: float = 0.0, batch_size: int = 256, max_batch_size: int = 4096,
                 max_epochs: int = 6, patience: int = 1, n_models: int = 1,
                 dense_scale: Sequence[float] | None = None, seed: int = 0) -> None:
        self.hidden = tuple(int(h) for h in hidden)
        self.quantiles = tuple(float(q) for q in quantiles)
        self.point_loss = point_loss
        self.huber_delta = huber_delta
        self.lr = lr
        self.weight_decay = weight_decay
        self.dropout = dropout
        self.batch_size = batch_size
        self.max_batch_size = max_batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.n_models = n_models
        self.dense_scale = None if dense_scale is None else [float(x) for x in dense_scale]
        self.seed = seed

    def get_params(self) -> dict:
        return {k: getattr(self, k) for k in (
            "hidden", "quantiles", "point_loss", "huber_delta", "lr", "weight_decay",
            "dropout", "batch_size", "max_batch_size", "max_epochs", "patience",
            "n_models", "dense_scale", "seed")}

    # ---------------------------------------------------------------- fit
    def _check(self, Xs: sp.spmatrix, Xd: np.ndarray, y: np.ndarray | None = None):
        Xs = sp.csr_matrix(Xs, dtype=np.float32)
        Xd = np.asarray(Xd, dtype=np.float32)
        if Xd.ndim != 2 or Xd.shape[0] != Xs.shape[0]:
            raise ValueError(f"dense features have shape {Xd.shape}, sparse {Xs.shape}: "
                             "need one row per product in both")
        bad = np.argwhere(~np.isfinite(Xd))
        if len(bad):
            raise ValueError(f"dense feature row {bad[0][0]}, column {bad[0][1]} is not finite")
        if y is not None:
            y = np.asarray(y, dtype=np.float32)
            if y.shape != (Xs.shape[0],):
                raise ValueError(f"y has shape {y.shape}, expected ({Xs.shape[0]},)")
            bady = np.flatnonzero(~np.isfinite(y))
            if bady.size:
                raise ValueError(f"target row {bady[0]} is not finite")
        return Xs, Xd, y

    def fit(self, Xs: sp.spmatrix, Xd: np.ndarray, y: np.ndarray,
            Xs_val: sp.spmatrix | None = None, Xd_val: np.ndarray | None = None,
            y_val: np.ndarray | None = None, *, progress: bool = False,
            log: Callable[[str], None] | None = None) -> PriceHead:
        """Train on log-space targets ``y``; the validation slice drives early stopping."""
        if self.point_loss not in ("huber", "pinball"):
            raise ValueError(f"point_loss must be 'huber' or 'pinball', got {self.point_loss!r}")
        if len(self.quantiles) != 3 or not (0 < self.quantiles[0] < 0.5 == self.quantiles[1]
                                            < self.quantiles[2] < 1):
            raise ValueError(f"quantiles must be (low, 0.5, high), got {self.quantiles}")
        Xs, Xd, y = self._check(Xs, Xd, y)
        if len(y) < 2:
            raise ValueError("need at least 2 training rows")
        has_val = Xs_val is not None and y_val is not None
        if has_val:
            Xs_val, Xd_val, y_val = self._check(Xs_val, Xd_val, y_val)
        self.n_sparse_, self.n_dense_ = int(Xs.shape[1]), int(Xd.shape[1])
        self.dense_mean_ = Xd.mean(0) if len(Xd) else np.zeros(self.n_dense_, np.float32)
        sd = Xd.std(0) if len(Xd) else np.ones(self.n_dense_, np.float32)
        self.dense_std_ = np.where(sd > 1e-6, sd, 1.0).astype(np.float32)
        if self.dense_scale is not None:
            # Per-column scale on top of standardisation (e.g. < 1 for embedding blocks).
            scale = np.asarray(self.dense_scale, np.float32)
            if scale.shape != (self.n_dense_,):
                raise ValueError(f"dense_scale has {scale.size} values, the dense features "
                                 f"{self.n_dense_} columns")
            self.dense_std_ = (self.dense_std_ / np.where(scale > 0, scale, 1.0)).astype(
                np.float32)
        self.y_mean_ = float(y.mean())
        # Column means of the sparse input: the "training mean" a feature group is replaced
        # by when measuring what it contributes (see predict_groups).
        self.sparse_mean_ = np.asarray(Xs.mean(axis=0), dtype=np.float32).reshape(-1)
        self.models_: list[QuantileMLP] = []
        self.history_: list[list[dict]] = []
        for k in range(self.n_models):
            model, hist = self._fit_one(k, Xs, Xd, y, Xs_val if has_val else None, Xd_val,
                                        y_val, progress, log)
            self.models_.append(model)
            self.history_.append(hist)
        return self

    def _dense(self, Xd: np.ndarray) -> np.ndarray:
        if self.n_dense_ == 0:
            return np.zeros((len(Xd), 1), np.float32)
        return ((Xd - self.dense_mean_) / self.dense_std_).astype(np.float32)

    def _fit_one(self, k, Xs, Xd, y, Xs_val, Xd_val, y_val, progress, log):
        seed = self.seed + k
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        model = QuantileMLP(self.n_sparse_, self.n_dense_, self.hidden, self.dropout)
        with torch.no_grad():
            model.out.bias[1] = self.y_mean_
        # fused: one kernel over the 10^7-parameter sparse layer, ~5x faster than the default.
        opt = torch.optim.AdamW(model.parameters(), lr=self.lr, weight_decay=self.weight_decay,
                                fused=True)
        D = torch.from_numpy(self._dense(Xd))
        Y = torch.from_numpy(y)
        q_lo, _, q_hi = self.quantiles
        hist: list[dict] = []
        best, best_state, bad_epochs = math.inf, None, 0
        bs = self.batch_size
        for epoch in range(self.max_epochs):
            model.train()
            perm = rng.permutation(len(y))
            steps = range(0, len(y), bs)
            if progress:
                from tqdm.auto import tqdm

                steps = tqdm(steps, desc=f"head {k + 1}/{self.n_models} epoch {epoch + 1}",
                             unit="batch", leave=False)
            total = 0.0
            for s in steps:
                rows = perm[s:s + bs]
                out = model(Xs[rows], D[rows])
                yb = Y[rows]
                if self.point_loss == "huber":
                    point = nn.functional.huber_loss(out[:, 1], yb, delta=self.huber_delta)
                else:
                    point = 2 * pinball(out[:, 1], yb, 0.5)
                loss = point + pinball(out[:, 0], yb, q_lo) + pinball(out[:, 2], yb, q_hi)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(rows)
            rec = {"model": k, "epoch": epoch + 1, "batch_size": bs,
                   "train_loss": total / len(y)}
            if Xs_val is not None:
                pv = self._predict_model(model, Xs_val, Xd_val)[:, 1]
                rec["val_rmse"] = float(np.sqrt(np.mean((pv - y_val) ** 2)))
                if rec["val_rmse"] < best - 1e-5:
                    best, bad_epochs = rec["val_rmse"], 0
                    best_state = {n: t.detach().clone() for n, t in model.state_dict().items()}
                else:
                    bad_epochs += 1
            hist.append(rec)
            if log:
                log(f"head {k + 1}/{self.n_models} epoch {epoch + 1}: " +
                    ", ".join(f"{a}={b:.4f}" if isinstance(b, float) else f"{a}={b}"
                              for a, b in rec.items() if a not in ("model", "epoch")))
            if Xs_val is not None and bad_epochs >= max(1, self.patience):
                break
            bs = min(bs * 2, self.max_batch_size)
        if best_state is not None:
            model.load_state_dict(best_state)
        model.eval()
        return model, hist

    # ------------------------------------------------------------- predict
    def _predict_model(self, model: QuantileMLP, Xs, Xd, batch: int = 8192) -> np.ndarray:
        model.eval()
        D = self._dense(Xd)
        out = np.zeros((Xs.shape[0], 3), np.float32)
        with torch.inference_mode():
            for s in range(0, Xs.shape[0], batch):
                rows = slice(s, s + batch)
                out[s:s + batch] = model(Xs[s:s + batch], torch.from_numpy(D[rows])).numpy()
        return out

    def predict(self, Xs: sp.spmatrix, Xd: np.ndarray) -> np.ndarray:
        """(n, 3) log-space quantiles (low, median, high), averaged over the ensemble."""
        if not hasattr(self, "models_"):
            raise ValueError("PriceHead is not fitted: call fit(...) or PriceHead.load(dir)")
        Xs, Xd, _ = self._check(Xs, Xd)
        if Xs.shape[1] != self.n_sparse_ or Xd.shape[1] != self.n_dense_:
            raise ValueError(f"features have {Xs.shape[1]} sparse / {Xd.shape[1]} dense "
                             f"columns, the head was trained on {self.n_sparse_} / "
                             f"{self.n_dense_}")
        preds = [self._predict_model(m, Xs, Xd) for m in self.models_]
        return np.mean(preds, axis=0)

    def predict_groups(self, Xs: sp.spmatrix, Xd: np.ndarray,
                       groups: Sequence[tuple[np.ndarray, np.ndarray]],
                       masks: np.ndarray) -> np.ndarray:
        """Median (log space) with feature groups kept or replaced by their training mean.

        ``groups``: (sparse columns, dense columns) per group; ``masks``: (S, k) booleans,
        True = keep group j. The first layer is linear, so replacing a group's inputs by their
        training means is exactly replacing its first-layer contribution by the mean one.
        Returns (S, n), averaged over the ensemble.
        """
        if not hasattr(self, "models_"):
            raise ValueError("PriceHead is not fitted")
        Xs, Xd, _ = self._check(Xs, Xd)
        masks = np.asarray(masks, dtype=bool)
        if masks.ndim != 2 or masks.shape[1] != len(groups):
            raise ValueError(f"masks must have shape (S, {len(groups)}), got {masks.shape}")
        labels, dense_cols, means = self._group_layout(groups)
        D = torch.from_numpy(self._dense(Xd))
        keep = torch.from_numpy(masks.astype(np.float32))
        Xs = sp.csr_matrix(Xs)
        # Split the rows' non-zeros by group once: each group's first-layer contribution then
        # costs O(nnz x h), never a copy of the 10^7-parameter sparse weight.
        nz_group = labels[Xs.indices] if self.n_sparse_ else np.zeros(0, np.int64)
        sparse_parts = [sp.csr_matrix((np.where(nz_group == j, Xs.data, 0.0).astype(np.float32),
                                       Xs.indices, Xs.indptr), shape=Xs.shape)
                        for j in range(len(groups))] if self.n_sparse_ else []
        out = np.zeros((len(masks), Xs.shape[0]), np.float32)
        with torch.inference_mode():
            for m, M in zip(self.models_, means):
                Ws = m.sparse_weight.detach().numpy()
                Wd = m.dense.weight
                total = m.dense(D)
                if self.n_sparse_:
                    total = total + torch.from_numpy(np.ascontiguousarray(Xs @ Ws))
                parts = []
                for j, dc in enumerate(dense_cols):
                    part = torch.zeros_like(total)
                    if sparse_parts and sparse_parts[j].nnz:
                        part = part + torch.from_numpy(np.ascontiguousarray(sparse_parts[j] @ Ws))
                    if len(dc) and self.n_dense_:
                        part = part + D[:, dc] @ Wd[:, dc].T
                    parts.append(part)
                P = torch.stack(parts)                    # (k, n, h)
                rest = total - P.sum(0)                   # bias + ungrouped columns
                h = (rest[None] + torch.einsum("sk,knh->snh", keep, P)
                     + ((1 - keep) @ M)[:, None, :])
                o = m.out(m.body(h.reshape(-1, h.shape[-1])))
                out += o[:, 1].reshape(len(masks), -1).numpy()
        return out / len(self.models_)

    def _group_layout(self, groups: Sequence[tuple[np.ndarray, np.ndarray]]
                      ) -> tuple[np.ndarray, list[torch.Tensor], list[torch.Tensor]]:
        """Sparse column -> group label, dense columns per group, and per model the groups'
        mean first-layer contributions; cached, as the groups rarely change between calls."""
        groups = [(np.asarray(sc, np.int64), np.asarray(dc, np.int64)) for sc, dc in groups]
        cached = getattr(self, "_layout_cache", None)
        if cached is not None and len(cached[0]) == len(groups) and all(
                np.array_equal(a, c) and np.array_equal(b, d)
                for (a, b), (c, d) in zip(groups, cached[0])):
            return cached[1]
        labels = np.full(max(self.n_sparse_, 1), -1, np.int64)
        for j, (sc, _) in enumerate(groups):
            if len(sc) and self.n_sparse_:
                labels[sc] = j
        dense_cols = [torch.from_numpy(dc) for _, dc in groups]
        means = []
        with torch.inference_mode():
            for m in self.models_:
                rows = []
                for sc, _ in groups:
                    mean = torch.zeros(m.sparse_weight.shape[1])
                    if len(sc) and self.n_sparse_:
                        mean = torch.from_numpy(self.sparse_mean_[sc] @ m.sparse_weight.detach().numpy()[sc])
                    rows.append(mean)
                means.append(torch.stack(rows))       # (k, h)
        layout = (labels, dense_cols, means)
        self._layout_cache = (groups, layout)
        return layout

    # ---------------------------------------------------------- save/load
    def save(self, directory: str | Path) -> Path:
        if not hasattr(self, "models_"):
            raise ValueError("PriceHead is not fitted")
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        params = self.get_params()
        params["hidden"], params["quantiles"] = list(self.hidden), list(self.quantiles)
        cfg = {"format": FORMAT, "version": FORMAT_VERSION, "params": params,
               "n_sparse": self.n_sparse_, "n_dense": self.n_dense_, "y_mean": self.y_mean_,
               "dense_mean": self.dense_mean_.tolist(), "dense_std": self.dense_std_.tolist(),
               "history": self.history_}
        (out / HEAD_CONFIG).write_text(json.dumps(cfg), encoding="utf-8")
        tensors = {f"m{k}.{n}": t.detach().contiguous() for k, m in enumerate(self.models_)
                   for n, t in m.state_dict().items()}
        tensors["sparse_mean"] = torch.from_numpy(self.sparse_mean_)
        save_file(tensors, str(out / HEAD_WEIGHTS))
        return out

    @classmethod
    def load(cls, directory: str | Path) -> PriceHead:
        d = Path(directory)
        cfg = json.loads((d / HEAD_CONFIG).read_text(encoding="utf-8"))
        if cfg.get("format") != FORMAT or cfg.get("version") != FORMAT_VERSION:
            raise ValueError(f"{d / HEAD_CONFIG}: not a {FORMAT} v{FORMAT_VERSION} file")
        head = cls(**cfg["params"])
        head.n_sparse_, head.n_dense_ = int(cfg["n_sparse"]), int(cfg["n_dense"])
        head.y_mean_ = float(cfg["y_mean"])
        head.dense_mean_ = np.asarray(cfg["dense_mean"], np.float32)
        head.dense_std_ = np.asarray(cfg["dense_std"], np.float32)
        head.history_ = cfg.get("history", [])
        tensors = load_file(str(d / HEAD_WEIGHTS))
        head.sparse_mean_ = tensors.pop("sparse_mean").numpy()
        head.models_ = []
        for k in range(head.n_models):
            m = QuantileMLP(head.n_sparse_, head.n_dense_, head.hidden, head.dropout)
            prefix = f"m{k}."
            m.load_state_dict({n[len(prefix):]: t for n, t in tensors.items()
                               if n.startswith(prefix)})
            m.eval()
            head.models_.append(m)
        return head
