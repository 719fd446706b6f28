"""Trained pair scorer: P(listing A and product B are the same product), with thresholds.

Use::

    from models.matcher import PairMatcher
    m = PairMatcher().fit(left, right, labels, valid=(vl, vr, vy))   # Listing sequences, 0/1
    p = m.predict_proba(left, right)            # (n,) in [0, 1]
    m.threshold_, m.auto_threshold_             # best-F1 and >= 98%-precision cut-offs (valid)
    m.explain(left[:1], right[:1])              # [{feature: contribution}] per pair
    m.save("runs/matcher"); m = PairMatcher.load("runs/matcher")

How it scores: :class:`models.match_features.PairFeaturizer` features (word overlap weighted by
rarity, fuzzy ratios, model-number agreement or conflict, size/quantity and colour conflicts,
brand, price ratio) plus the cosine of the two titles' MiniLM embeddings (the packaged
all-MiniLM-L6-v2, frozen: the bi-encoder the catalog search uses) and, optionally, the logit
of a fine-tuned MiniLM cross-encoder (:mod:`models.cross_encoder`), go into a LightGBM
classifier. Its threshold for the best F1 and the lowest score with at least
``target_precision`` on the validation pairs are learned too, so a caller can link
automatically above one and ask a person between the two.

``explain`` gives LightGBM's exact per-feature contributions (TreeSHAP, log-odds) for a pair:
the "features that decided it" a link records.

Saved as a folder: ``matcher.json`` (manifest: parameters, feature names, thresholds, the
featurizer's word IDF, training summary), ``scorer.lgb.txt`` (LightGBM's own text model
format) and ``cross_encoder/`` (transformers folder, safetensors) when one is used. No pickle.
"""
from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from models.match_features import FEATURES, Listing, PairFeaturizer

MANIFEST = "matcher.json"
SCORER_FILE = "scorer.lgb.txt"
CE_DIR = "cross_encoder"
FORMAT = "pricing-matcher"
FORMAT_VERSION = 1

Pairs = tuple[Sequence[Listing], Sequence[Listing], Sequence[int]]


def best_f1_threshold(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """(threshold, F1) that maximises F1 of ``p >= threshold`` on labels ``y``."""
    order = np.argsort(-p, kind="stable")
    ys, ps = np.asarray(y)[order], np.asarray(p)[order]
    tp = np.cumsum(ys)
    k = np.arange(1, len(ys) + 1)
    pos = max(int(ys.sum()), 1)
    f1 = 2 * tp / (k + pos)
    # only cut between distinct scores
    last = np.r_[ps[1:] != ps[:-1], True]
    f1 = np.where(last, f1, -1)
    i = int(np.argmax(f1))
    return float(ps[i]), float(f1[i])


def recall_threshold(y: np.ndarray, p: np.ndarray, target: float) -> float:
    """Highest threshold that keeps at least ``target`` of the positives (``p >= t``)."""
    pos = np.sort(np.asarray(p)[np.asarray(y) == 1])[::-1]
    if len(pos) == 0:
        return 0.0
    k = min(len(pos) - 1, max(0, int(math.ceil(target * len(pos))) - 1))
    return float(pos[k])


def precision_threshold(y: np.ndarray, p: np.ndarray, target: float, min_hits: int = 20
                        ) -> float:
    """Lowest threshold whose links (``p >= t``) reach ``target`` precision on ``y``, counted
    over at least ``min_hits`` links (a handful of lucky top scores proves nothing); 1.0 when
    no threshold does."""
    order = np.argsort(-p, kind="stable")
    ys, ps = np.asarray(y)[order], np.asarray(p)[order]
    tp = np.cumsum(ys)
    k = np.arange(1, len(ys) + 1)
    prec = tp / k
    last = np.r_[ps[1:] != ps[:-1], True]
    ok = (prec >= target) & last & (k >= min_hits)
    if not ok.any():
        return 1.0
    # the deepest cut-off at which precision (from the top down to it) still holds
    i = int(np.flatnonzero(ok)[-1])
    return float(ps[i])


class PairMatcher:
    """LightGBM over pair features (+ embedding cosine, + optional cross-encoder logit).

    Parameters
    ----------
    use_embedding: add the frozen MiniLM cosine of the two texts.
    use_cross_encoder: fine-tune a MiniLM cross-encoder on the training pairs and add its logit
        (costly on CPU: about 0.5-1 s per 32-pair step on 2 cores).
    ce_epochs: cross-encoder epochs.
    target_precision: precision the automatic-link threshold must reach on the valid pairs.
    review_recall: share of the valid true pairs the review threshold keeps.
    n_estimators, learning_rate, num_leaves, min_child_samples: LightGBM settings.
    description_words: words of the description appended to the text the models read.
    seed: for LightGBM's bagging and the cross-encoder.
    """

    def __init__(self, use_embedding: bool = True, use_cross_encoder: bool = False,
                 ce_epochs: float = 2.0, target_precision: float = 0.98,
                 review_recall: float = 0.95,
                 n_estimators: int = 400, learning_rate: float = 0.05, num_leaves: int = 31,
                 min_child_samples: int = 10, description_words: int = 0, seed: int = 0) -> None:
        self.use_embedding = use_embedding
        self.use_cross_encoder = use_cross_encoder
        self.ce_epochs = ce_epochs
        self.target_precision = target_precision
        self.review_recall = review_recall
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.description_words = description_words
        self.seed = seed
        self._encoder = None

    # ------------------------------------------------------------------ parts
    @property
    def feature_names(self) -> list[str]:
        names = list(FEATURES)
        if self.use_embedding:
            names.append("embedding_cosine")
        if self.use_cross_encoder:
            names.append("cross_encoder_logit")
        return names

    def encoder(self):
        """The frozen bi-encoder (loaded on first use; shared with the catalog search)."""
        if self._encoder is None:
            from models.encoder import TextEncoder

            self._encoder = TextEncoder(max_seq_length=40)
        return self._encoder

    def set_encoder(self, encoder) -> None:
        """Use an already loaded frozen :class:`models.encoder.TextEncoder` (saves a load)."""
        self._encoder = encoder

    def texts(self, xs: Sequence[Listing]) -> list[str]:
        return [x.text(self.description_words) for x in xs]

    def features(self, left: Sequence[Listing], right: Sequence[Listing], *,
                 emb_left: np.ndarray | None = None, emb_right: np.ndarray | None = None,
                 cache_dir: str | Path | None = None) -> np.ndarray:
        """(n, len(feature_names)) float32 features of the pairs (left[i], right[i]).

        ``emb_left``/``emb_right``: the texts' L2-normalised bi-encoder embeddings, row-aligned
        with the pairs, when the caller has them (the catalog search does); else encoded here.
        """
        self._check_fitted()
        X = self.featurizer_.transform(left, right)
        cols = [X]
        if self.use_embedding:
            if emb_left is None or emb_right is None:
                emb_left, emb_right = self._embed_pairs(left, right, cache_dir)
            cols.append(np.sum(emb_left * emb_right, axis=1, keepdims=True).astype(np.float32))
        if self.use_cross_encoder:
            logit = self.cross_encoder_.predict(self.texts(left), self.texts(right))
            cols.append(logit[:, None].astype(np.float32))
        return np.hstack(cols)

    def _embed_pairs(self, left, right, cache_dir) -> tuple[np.ndarray, np.ndarray]:
        # Encode each distinct text once (benchmark listings recur in many pairs).
        texts = [x.text() for x in left] + [x.text() for x in right]
        uniq = list(dict.fromkeys(texts))
        pos = {t: i for i, t in enumerate(uniq)}
        E = self.encoder().encode(uniq, cache_dir=cache_dir)
        idx = np.array([pos[t] for t in texts], dtype=np.int64)
        n = len(left)
        return E[idx[:n]], E[idx[n:]]

    # ------------------------------------------------------------------ training
    def fit(self, left: Sequence[Listing], right: Sequence[Listing], labels: Sequence[int], *,
            valid: Pairs | None = None, idf_texts: Sequence[str] | None = None,
            cache_dir: str | Path | None = None,
            log: Callable[[str], None] | None = None) -> PairMatcher:
        """Train on labelled pairs; learn thresholds on ``valid`` (else on the training pairs'
        out-of-fold scores would be needed: without ``valid`` the thresholds come from the
        training pairs themselves and are optimistic)."""
        import lightgbm as lgb

        y = np.asarray(labels, dtype=np.int32)
        if not (len(left) == len(right) == len(y)):
            raise ValueError(f"fit: {len(left)} left, {len(right)} right, {len(y)} labels")
        if len(y) < 10 or y.min() == y.max():
            raise ValueError("fit: need at least 10 labelled pairs of both classes")
        t0 = time.perf_counter()
        texts = idf_texts if idf_texts is not None else [x.text() for x in (*left, *right)]
        self.featurizer_ = PairFeaturizer().fit(texts)
        self.cross_encoder_ = None
        if self.use_cross_encoder:
            from models.cross_encoder import CrossEncoder

            self.cross_encoder_ = CrossEncoder().fit(self.texts(left), self.texts(right), y,
                                                     epochs=self.ce_epochs, seed=self.seed,
                                                     log=log)
        t_ce = time.perf_counter() - t0
        X = self.features(left, right, cache_dir=cache_dir)
        scorer = lgb.LGBMClassifier(
            n_estimators=self.n_estimators, learning_rate=self.learning_rate,
            num_leaves=self.num_leaves, min_child_samples=self.min_child_samples,
            subsample=0.8, subsample_freq=1, colsample_bytree=0.8, random_state=self.seed,
            n_jobs=1, verbose=-1).fit(X, y)
        self.booster_ = scorer.booster_
        if valid is not None:
            vl, vr, vy = valid
            pv = self.predict_proba(vl, vr, cache_dir=cache_dir)
            vy = np.asarray(vy)
        else:
            pv, vy = self._proba(X), y
        self.threshold_, f1 = best_f1_threshold(vy, pv)
        self.auto_threshold_ = max(self.threshold_,
                                   precision_threshold(vy, pv, self.target_precision))
        # the review queue starts where 95% of the true pairs are kept (not below 0.05: a
        # queue of near-certain non-matches wastes curators' time)
        self.review_threshold_ = float(np.clip(recall_threshold(vy, pv, self.review_recall),
                                               0.05, self.threshold_))
        self.summary_ = {"pairs": int(len(y)), "positives": int(y.sum()),
                         "valid_pairs": int(len(vy)), "valid_f1": round(f1, 4),
                         "threshold": self.threshold_, "auto_threshold": self.auto_threshold_,
                         "review_threshold": self.review_threshold_,
                         "cross_encoder": getattr(self.cross_encoder_, "fitted_", None),
                         "seconds": round(time.perf_counter() - t0, 1),
                         "cross_encoder_seconds": round(t_ce, 1)}
        if log:
            log(f"matcher: {self.summary_}")
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "featurizer_"):
            raise RuntimeError("PairMatcher is not fitted: call fit() or PairMatcher.load()")

    # ------------------------------------------------------------------ scoring
    def _proba(self, X: np.ndarray) -> np.ndarray:
        if len(X) == 0:
            return np.zeros(0, dtype=np.float64)
        return self.booster_.predict(X)

    def predict_proba(self, left: Sequence[Listing], right: Sequence[Listing], *,
                      emb_left: np.ndarray | None = None, emb_right: np.ndarray | None = None,
                      cache_dir: str | Path | None = None) -> np.ndarray:
        """P(same product) for each pair."""
        return self._proba(self.features(left, right, emb_left=emb_left, emb_right=emb_right,
                                         cache_dir=cache_dir))

    def predict_features(self, X: np.ndarray) -> np.ndarray:
        """P(same product) from features already computed by :meth:`features`."""
        self._check_fitted()
        return self._proba(np.asarray(X, dtype=np.float32))

    def explain(self, X: np.ndarray, top: int = 5) -> list[dict[str, float]]:
        """The ``top`` features that moved each pair's score most (log-odds contributions,
        exact TreeSHAP), from features computed by :meth:`features`."""
        self._check_fitted()
        X = np.asarray(X, dtype=np.float32)
        if len(X) == 0:
            return []
        contrib = self.booster_.predict(X, pred_contrib=True)[:, :-1]
        names = self.feature_names
        out = []
        for row in contrib:
            idx = np.argsort(-np.abs(row))[:top]
            out.append({names[j]: round(float(row[j]), 3) for j in idx})
        return out

    # ------------------------------------------------------------------ save/load
    def get_params(self) -> dict:
        return {"use_embedding": self.use_embedding, "use_cross_encoder": self.use_cross_encoder,
                "ce_epochs": self.ce_epochs, "target_precision": self.target_precision,
                "review_recall": self.review_recall,
                "n_estimators": self.n_estimators, "learning_rate": self.learning_rate,
                "num_leaves": self.num_leaves, "min_child_samples": self.min_child_samples,
                "description_words": self.description_words, "seed": self.seed}

    def save(self, directory: str | Path) -> Path:
        self._check_fitted()
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        self.booster_.save_model(str(out / SCORER_FILE))
        if self.cross_encoder_ is not None:
            self.cross_encoder_.save(out / CE_DIR)
        manifest = {"format": FORMAT, "version": FORMAT_VERSION, "params": self.get_params(),
                    "feature_names": self.feature_names, "threshold": self.threshold_,
                    "auto_threshold": self.auto_threshold_,
                    "review_threshold": self.review_threshold_, "summary": self.summary_,
                    "featurizer": self.featurizer_.to_dict()}
        (out / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
        return out

    @classmethod
    def load(cls, directory: str | Path) -> PairMatcher:
        """A matcher saved by :meth:`save` (scores identically)."""
        import lightgbm as lgb

        d = Path(directory)
        f = d / MANIFEST
        if not f.exists():
            raise FileNotFoundError(f"{f}: not a saved matcher (run `pricing matches train`)")
        m = json.loads(f.read_text(encoding="utf-8"))
        if m.get("format") != FORMAT or m.get("version") != FORMAT_VERSION:
            raise ValueError(f"{f}: not a {FORMAT} v{FORMAT_VERSION} manifest")
        obj = cls(**m["params"])
        if obj.feature_names != m["feature_names"]:
            raise ValueError(f"{f}: feature list differs from this code's "
                             f"({len(m['feature_names'])} vs {len(obj.feature_names)})")
        obj.featurizer_ = PairFeaturizer.from_dict(m["featurizer"])
        obj.booster_ = lgb.Booster(model_file=str(d / SCORER_FILE))
        obj.cross_encoder_ = None
        if obj.use_cross_encoder:
            from models.cross_encoder import CrossEncoder

            obj.cross_encoder_ = CrossEncoder.load(d / CE_DIR)
        obj.threshold_ = float(m["threshold"])
        obj.auto_threshold_ = float(m["auto_threshold"])
        obj.review_threshold_ = float(m["review_threshold"])
        obj.summary_ = m.get("summary", {})
        return obj
