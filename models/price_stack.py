"""The stacked price: gradient-boosted trees over the head's quantiles, neighbour prices,
graph statistics and target encodings, cross-fitted on held-out products.

Use::

    from models.price_stack import PriceStack, stack_features, shift_quantiles
    F = stack_features(q, Xd, dense_names, nb_frames, te_frame)   # one row per product
    st = PriceStack().fit(F_heldout, y_heldout)        # 5 folds; st.oof_ = out-of-fold log prices
    s = st.predict(F)                                  # mean of the fold models (log1p price)
    q_final = shift_quantiles(q, s)                    # head's interval moved to the stacked p50
    st.save("runs/model/stack"); PriceStack.load("runs/model/stack")

Why held-out rows: the head saw the training products' prices (and the fine-tuned encoder
memorised many of them), so its predictions and the embedding neighbours' prices on training
rows are optimistic. The stacker learns only from products the head never trained on (the
validation and calibration slices), in K folds, so every held-out product also gets an honest
out-of-fold prediction (``oof_``) on which the intervals are calibrated (cross-fitting).
Measured on amazon_in_2023's fixed split (README ablation table): head 0.528 -> stack 0.486.

The interval keeps the head's quantile offsets around the stacked median (the head's pinball
outputs know how uncertain a product is; the trees only move its centre); split-conformal
calibration on the out-of-fold predictions then sets the coverage.

LightGBM models are kept as text (``model_to_string``), with a JSON manifest.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.model_selection import KFold

MANIFEST = "stack.json"


def stack_features(q: np.ndarray, Xd: np.ndarray, dense_names: Sequence[str],
                   neighbour_frames: Sequence[pd.DataFrame] = (),
                   te_frame: pd.DataFrame | None = None) -> pd.DataFrame:
    """The stacker's input: head quantiles, the head's non-embedding dense inputs (graph
    statistics, rating, review flag), neighbour-price features and target encodings."""
    keep = [j for j, n in enumerate(dense_names) if not n.startswith(("text_", "review_"))]
    parts = [pd.DataFrame(np.asarray(q, np.float64)[:, :3], columns=["head_q10", "head_q50",
                                                                    "head_q90"]),
             pd.DataFrame(np.asarray(Xd)[:, keep], columns=[dense_names[j] for j in keep])]
    parts += [f.reset_index(drop=True) for f in neighbour_frames]
    if te_frame is not None:
        parts.append(te_frame.reset_index(drop=True))
    return pd.concat(parts, axis=1)


def shift_quantiles(q: np.ndarray, s: np.ndarray) -> np.ndarray:
    """The head's (q10, q50, q90) moved so that the median is the stacked price ``s``."""
    q = np.asarray(q, np.float64)
    s = np.asarray(s, np.float64)
    return np.column_stack([s + (q[:, 0] - q[:, 1]), s, s + (q[:, 2] - q[:, 1])])


class PriceStack:
    """Cross-fitted LightGBM over :func:`stack_features` (see module docstring)."""

    def __init__(self, n_folds: int = 5, learning_rate: float = 0.03, num_leaves: int = 31,
                 min_data_in_leaf: int = 40, max_rounds: int = 3000, patience: int = 100,
                 objective: str = "huber", seed: int = 0, threads: int | None = None) -> None:
        self.n_folds = n_folds
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_data_in_leaf = min_data_in_leaf
        self.max_rounds = max_rounds
        self.patience = patience
        self.objective = objective
        self.seed = seed
        self.threads = threads

    def _params(self, n: int) -> dict:
        return {"objective": self.objective, "learning_rate": self.learning_rate,
                "num_leaves": self.num_leaves,
                # small held-out sets (a demo catalog) need smaller leaves to split at all
                "min_data_in_leaf": int(min(self.min_data_in_leaf, max(5, n // 50))),
                "feature_fraction": 0.8, "bagging_fraction": 0.8, "bagging_freq": 1,
                "lambda_l2": 1.0, "num_threads": int(self.threads or 0), "verbose": -1,
                "seed": self.seed, "deterministic": True, "force_row_wise": True}

    def fit(self, F: pd.DataFrame, log_prices: Sequence[float]) -> PriceStack:
        y = np.asarray(log_prices, np.float64)
        if len(F) != len(y):
            raise ValueError(f"{len(F)} feature rows for {len(y)} prices")
        if len(y) < 5 * self.n_folds:
            raise ValueError(f"{len(y)} held-out products: too few for {self.n_folds} folds")
        X = F.to_numpy(np.float64)
        params = self._params(len(y) * (self.n_folds - 1) // self.n_folds)
        self.feature_names_ = list(F.columns)
        self.models_: list[lgb.Booster] = []
        self.rounds_: list[int] = []
        self.oof_ = np.zeros(len(y))
        folds = KFold(self.n_folds, shuffle=True, random_state=self.seed)
        for a, b in folds.split(X):
            m = lgb.train(params, lgb.Dataset(X[a], y[a]), self.max_rounds,
                          valid_sets=[lgb.Dataset(X[b], y[b])],
                          callbacks=[lgb.early_stopping(self.patience, verbose=False)])
            self.models_.append(m)
            self.rounds_.append(int(m.best_iteration or m.current_iteration()))
            self.oof_[b] = m.predict(X[b], num_iteration=self.rounds_[-1])
        return self

    def predict(self, F: pd.DataFrame) -> np.ndarray:
        """Log1p price: the mean of the fold models."""
        if not hasattr(self, "models_"):
            raise ValueError("PriceStack is not fitted")
        if list(F.columns) != self.feature_names_:
            raise ValueError("stack feature layout differs from the trained one")
        X = F.to_numpy(np.float64)
        if len(X) == 0:
            return np.zeros(0)
        return np.mean([m.predict(X, num_iteration=r) for m, r in
                        zip(self.models_, self.rounds_)], axis=0)

    def importance(self) -> dict[str, float]:
        """Total gain per feature over the fold models, as shares of the whole."""
        g = np.sum([m.feature_importance("gain") for m in self.models_], axis=0)
        g = g / max(float(g.sum()), 1e-12)
        return dict(sorted(zip(self.feature_names_, map(float, g)), key=lambda t: -t[1]))

    def save(self, directory: str | Path) -> Path:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        files = []
        for i, m in enumerate(self.models_):
            name = f"fold{i}.txt"
            (d / name).write_text(m.model_to_string(num_iteration=self.rounds_[i]),
                                  encoding="utf-8")
            files.append(name)
        manifest = {"format": "pricing-stack", "version": 1,
                    "params": {k: getattr(self, k) for k in
                               ("n_folds", "learning_rate", "num_leaves", "min_data_in_leaf",
                                "max_rounds", "patience", "objective", "seed")},
                    "feature_names": self.feature_names_, "rounds": self.rounds_,
                    "models": files}
        (d / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        return d

    @classmethod
    def load(cls, directory: str | Path) -> PriceStack:
        d = Path(directory)
        manifest = json.loads((d / MANIFEST).read_text(encoding="utf-8"))
        st = cls(**manifest["params"])
        st.feature_names_ = list(manifest["feature_names"])
        st.rounds_ = [int(r) for r in manifest["rounds"]]
        st.models_ = [lgb.Booster(model_str=(d / f).read_text(encoding="utf-8"))
                      for f in manifest["models"]]
        return st
