"""Sparse lexical features of a product: title TF-IDF (words and characters) + one-hot tokens.

Use::

    from models.lexical import LexicalFeaturizer
    lex = LexicalFeaturizer().fit(frame)        # frame: title, category_path, brand, currency
    X = lex.transform(frame)                    # scipy.sparse CSR, float32, (n, lex.n_features_)
    lex.save("runs/model/lexical"); lex = LexicalFeaturizer.load("runs/model/lexical")

Why: model numbers, sizes and pack counts in a title set prices, and sentence embeddings
blur them; TF-IDF of word 1-2 grams and character 3-4 grams keeps them (the Mercari price
challenge winners' recipe). One-hot tokens add each prefix of the category path (so an unseen
leaf still shares its parents' weights), the brand and the currency. The matrix feeds the
head's sparse first layer.

Saved as one JSON file: vocabularies as term lists and idf vectors (no pickle).
"""
from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

LEXICAL_FILE = "lexical.json"
FORMAT = "pricing-lexical"
FORMAT_VERSION = 1
_SEP = " > "


def _clean(x: object) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    return str(x).strip()


def _as_frame(data: pd.DataFrame | Sequence[Mapping]) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        frame = data
    else:
        frame = pd.DataFrame(list(data))
    if "title" not in frame.columns:
        raise ValueError("lexical features need a 'title' column/field")
    return frame


def tokens_of(category_path: object, brand: object, currency: object) -> list[str]:
    """One-hot tokens: every category-path prefix, the brand (casefolded) and the currency."""
    out: list[str] = []
    path = _clean(category_path)
    if path:
        parts = [p.strip() for p in path.split(">") if p.strip()]
        for i in range(1, len(parts) + 1):
            out.append("cat=" + _SEP.join(parts[:i]).casefold())
    b = " ".join(_clean(brand).casefold().split())
    if b:
        out.append("brand=" + b)
    c = _clean(currency).upper()
    if c:
        out.append("cur=" + c)
    return out


class LexicalFeaturizer:
    """TF-IDF of titles (word 1-2 grams, char 3-4 grams) + category/brand/currency one-hots.

    Parameters
    ----------
    word_features, char_features: vocabulary caps (most frequent terms kept).
    min_df: fewest training titles a term must appear in.
    min_token_count: fewest training products a one-hot token needs (rarer brands are
        left out: a weight learned from one product is noise).
    binary: TF is 0/1 (titles rarely repeat a term; this is what worked for Mercari).
    """

    def __init__(self, word_features: int = 100_000, char_features: int = 50_000,
                 min_df: int = 2, min_token_count: int = 2, binary: bool = True) -> None:
        self.word_features = word_features
        self.char_features = char_features
        self.min_df = min_df
        self.min_token_count = min_token_count
        self.binary = binary

    def _word(self) -> TfidfVectorizer:
        return TfidfVectorizer(ngram_range=(1, 2), max_features=self.word_features,
                               min_df=self.min_df, binary=self.binary, sublinear_tf=True,
                               token_pattern=r"(?u)\b\w+\b", dtype=np.float32)

    def _char(self) -> TfidfVectorizer:
        return TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 4),
                               max_features=self.char_features, min_df=self.min_df,
                               binary=self.binary, sublinear_tf=True, dtype=np.float32)

    def fit(self, data: pd.DataFrame | Sequence[Mapping]) -> LexicalFeaturizer:
        frame = _as_frame(data)
        if len(frame) < 2:
            raise ValueError("lexical features need at least 2 training products")
        titles = self._titles(frame)
        self.word_ = self._word().fit(titles) if self.word_features else None
        self.char_ = self._char().fit(titles) if self.char_features else None
        counts: Counter[str] = Counter()
        for toks in self._tokens(frame):
            counts.update(set(toks))
        self.tokens_ = sorted(t for t, n in counts.items() if n >= self.min_token_count)
        self._index()
        return self

    def _index(self) -> None:
        self._token_pos = {t: i for i, t in enumerate(self.tokens_)}
        nw = len(self.word_.vocabulary_) if self.word_ is not None else 0
        nc = len(self.char_.vocabulary_) if self.char_ is not None else 0
        self.blocks_ = {"word": nw, "char": nc, "token": len(self.tokens_)}
        self.n_features_ = nw + nc + len(self.tokens_)

    @staticmethod
    def _titles(frame: pd.DataFrame) -> list[str]:
        titles = [_clean(t) for t in frame["title"].tolist()]
        empty = [i for i, t in enumerate(titles) if not t]
        if empty:
            raise ValueError(f"row {empty[0]}: title is empty ({len(empty)} such rows)")
        return titles

    @staticmethod
    def _tokens(frame: pd.DataFrame) -> list[list[str]]:
        n = len(frame)
        col = lambda c: frame[c].tolist() if c in frame.columns else [None] * n  # noqa: E731
        return [tokens_of(p, b, c) for p, b, c in
                zip(col("category_path"), col("brand"), col("currency"))]

    def transform(self, data: pd.DataFrame | Sequence[Mapping]) -> sp.csr_matrix:
        if not hasattr(self, "tokens_"):
            raise ValueError("LexicalFeaturizer is not fitted: call fit(frame) first")
        frame = _as_frame(data)
        titles = self._titles(frame)
        blocks = []
        if self.word_ is not None:
            blocks.append(self.word_.transform(titles))
        if self.char_ is not None:
            blocks.append(self.char_.transform(titles))
        rows, cols = [], []
        for i, toks in enumerate(self._tokens(frame)):
            for t in toks:
                j = self._token_pos.get(t)
                if j is not None:
                    rows.append(i)
                    cols.append(j)
        blocks.append(sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)),
                                    shape=(len(frame), len(self.tokens_))))
        X = sp.hstack(blocks, format="csr", dtype=np.float32)
        X.sort_indices()
        return X

    def columns(self, block: str) -> np.ndarray:
        """Column indices of a block: "word", "char", or one-hot "cat", "brand", "cur"."""
        if not hasattr(self, "tokens_"):
            raise ValueError("LexicalFeaturizer is not fitted")
        nw, nc = self.blocks_["word"], self.blocks_["char"]
        if block == "word":
            return np.arange(nw)
        if block == "char":
            return np.arange(nw, nw + nc)
        if block in ("cat", "brand", "cur"):
            prefix = block + "="
            return np.asarray([nw + nc + i for i, t in enumerate(self.tokens_)
                               if t.startswith(prefix)], dtype=np.int64)
        raise ValueError(f"unknown block {block!r}: use word, char, cat, brand or cur")

    def fit_transform(self, data: pd.DataFrame | Sequence[Mapping]) -> sp.csr_matrix:
        return self.fit(data).transform(data)

    # ---------------------------------------------------------- save/load
    def save(self, directory: str | Path) -> Path:
        if not hasattr(self, "tokens_"):
            raise ValueError("LexicalFeaturizer is not fitted")
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)

        def vec(v: TfidfVectorizer | None) -> dict | None:
            if v is None:
                return None
            terms = [""] * len(v.vocabulary_)
            for t, i in v.vocabulary_.items():
                terms[i] = t
            return {"terms": terms, "idf": [float(x) for x in v.idf_]}

        doc = {"format": FORMAT, "version": FORMAT_VERSION,
               "params": {"word_features": self.word_features,
                          "char_features": self.char_features, "min_df": self.min_df,
                          "min_token_count": self.min_token_count, "binary": self.binary},
               "word": vec(self.word_), "char": vec(self.char_), "tokens": self.tokens_}
        (out / LEXICAL_FILE).write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
        return out

    @classmethod
    def load(cls, directory: str | Path) -> LexicalFeaturizer:
        path = Path(directory) / LEXICAL_FILE
        doc = json.loads(path.read_text(encoding="utf-8"))
        if doc.get("format") != FORMAT or doc.get("version") != FORMAT_VERSION:
            raise ValueError(f"{path}: not a {FORMAT} v{FORMAT_VERSION} file")
        lex = cls(**doc["params"])

        def vec(make, d: dict | None) -> TfidfVectorizer | None:
            if d is None:
                return None
            v = make()
            v.vocabulary_ = {t: i for i, t in enumerate(d["terms"])}
            v.idf_ = np.asarray(d["idf"], dtype=np.float64)
            return v

        lex.word_ = vec(lex._word, doc["word"])
        lex.char_ = vec(lex._char, doc["char"])
        lex.tokens_ = list(doc["tokens"])
        lex._index()
        return lex
