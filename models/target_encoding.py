"""Shrunk mean log price per category, brand, brand x category and title head.

Use::

    from models.target_encoding import KeyTargetEncoder
    te = KeyTargetEncoder().fit(train_frame, log_prices)   # record frame (models.predictor)
    F = te.transform(frame)                                # DataFrame te_cat, te_brand, ...
    te.to_dict(); KeyTargetEncoder.from_dict(d)

Each key is a product's category path, brand, brand x category and first two title words,
all within its currency. scikit-learn's ``TargetEncoder`` learns the encodings (empirical-Bayes
shrinkage of each group's mean towards the global mean, ``smooth="auto"``); they are kept as
plain look-up tables so the artifact is JSON and serving needs no scikit-learn state. An unseen
key gets the global mean. Fitted on training products only; the features are meant for rows
the encoder did not see (the stacker's held-out rows and new products).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.preprocessing import TargetEncoder

KEYS = ("te_cat", "te_brand", "te_brand_cat", "te_title2")


def _s(v: object) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ""
    return " ".join(str(v).lower().split())


def keys_of(frame: pd.DataFrame) -> np.ndarray:
    """(n, 4) key strings of a record frame (title, category_path, brand, currency)."""
    n = len(frame)
    col = lambda c: frame[c].tolist() if c in frame.columns else [None] * n  # noqa: E731
    rows = []
    for t, c, b, cur in zip(col("title"), col("category_path"), col("brand"), col("currency")):
        cur, c, b = _s(cur), _s(c), _s(b)
        head = " ".join(_s(t).split()[:2])
        rows.append((f"{cur}|{c}", f"{cur}|{b}" if b else "", f"{cur}|{b}|{c}" if b else "",
                     f"{cur}|{head}"))
    return np.array(rows, dtype=object).reshape(n, len(KEYS))


class KeyTargetEncoder:
    """Target encoding of the :data:`KEYS` (see module docstring)."""

    def __init__(self, smooth: str | float = "auto", seed: int = 0) -> None:
        self.smooth = smooth
        self.seed = seed

    def fit(self, frame: pd.DataFrame, log_prices: Sequence[float]) -> KeyTargetEncoder:
        y = np.asarray(log_prices, np.float64)
        if len(frame) != len(y) or len(y) < 2:
            raise ValueError("target encoding needs matching frame rows and at least 2 prices")
        X = keys_of(frame)
        te = TargetEncoder(target_type="continuous", smooth=self.smooth,
                           random_state=self.seed).fit(X, y)
        self.mean_ = float(te.target_mean_)
        self.maps_ = {k: {str(c): float(e) for c, e in zip(cats, enc) if c != ""}
                      for k, cats, enc in zip(KEYS, te.categories_, te.encodings_)}
        return self

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        if not hasattr(self, "maps_"):
            raise ValueError("KeyTargetEncoder is not fitted")
        X = keys_of(frame)
        out = np.full(X.shape, self.mean_)
        for j, k in enumerate(KEYS):
            m = self.maps_[k]
            out[:, j] = [m.get(v, self.mean_) for v in X[:, j]]
        return pd.DataFrame(out, columns=list(KEYS))

    def to_dict(self) -> dict:
        return {"smooth": self.smooth, "seed": self.seed, "mean": self.mean_, "maps": self.maps_}

    @classmethod
    def from_dict(cls, d: dict) -> KeyTargetEncoder:
        te = cls(smooth=d.get("smooth", "auto"), seed=d.get("seed", 0))
        te.mean_ = float(d["mean"])
        te.maps_ = {k: dict(v) for k, v in d["maps"].items()}
        return te
