"""Candidate search for matching: which catalog products could a competitor listing be?

Use::

    from models.blocking import CatalogIndex
    idx = CatalogIndex(k_embedding=20, k_lexical=20, k_brand=10)
    idx.fit(ids, listings, cache_dir="runs/cache")     # 148k catalog products: encode once
    cands = idx.candidates(competitor_listings)         # [array of catalog row numbers] each
    E = idx.embed(competitor_listings)                  # their embeddings (for the scorer)

Scoring every listing against every product is 150k x 100k pairs; blocking keeps a few
dozen candidates per listing from three cheap searches, whose union the trained scorer ranks:

- embedding neighbours: cosine of frozen all-MiniLM-L6-v2 title embeddings (one matrix
  product per batch of listings; the catalog side is encoded once and cached on disk);
- lexical neighbours: word TF-IDF cosine, where model numbers and rare words weigh most
  (separators dropped inside codes, so "DSW16GB-001" finds "dsw16gb001");
- same brand: when the listing names a brand the catalog knows, the nearest products of
  that brand by embedding (a listing whose title lost its brand still finds them).

The index holds the catalog embeddings (float32, 384 per product: 227 MB for 148k) and a
sparse TF-IDF matrix; nothing is saved besides the embedding cache. ``k_embedding=0`` builds
a lexical + brand index without encoding the catalog at all (same-brand products are then
ranked by TF-IDF cosine): the choice for a first run on a busy machine, where encoding 148k
titles takes long.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from models.match_features import Listing, normalize, words

_CODE = re.compile(r"[a-z0-9]+(?:[-./][a-z0-9]+)+")


def lexical_text(x: Listing) -> str:
    """Words of the listing plus its dotted/dashed codes squashed ("dsw16gb-001" ->
    "dsw16gb001"), so both spellings of a model number meet."""
    t = normalize(x.text())
    extra = [c.replace("-", "").replace(".", "").replace("/", "") for c in _CODE.findall(t)]
    return " ".join(words(t) + extra)


def _brand_key(b: str | None) -> str:
    return " ".join(words(normalize(b or "")))


class CatalogIndex:
    """Embedding + lexical + brand blocking over a fixed catalog.

    Parameters
    ----------
    k_embedding, k_lexical, k_brand: candidates from each search (their union is returned).
    chunk: catalog products encoded (and cached) per chunk, so a long first encoding that is
        interrupted resumes where it stopped.
    batch: listings per matrix product.
    """

    def __init__(self, k_embedding: int = 20, k_lexical: int = 20, k_brand: int = 10,
                 chunk: int = 4096, batch: int = 256) -> None:
        self.k_embedding = k_embedding
        self.k_lexical = k_lexical
        self.k_brand = k_brand
        self.chunk = chunk
        self.batch = batch
        self._encoder = None

    def set_encoder(self, encoder) -> None:
        self._encoder = encoder

    def encoder(self):
        if self._encoder is None:
            from models.encoder import TextEncoder

            self._encoder = TextEncoder(max_seq_length=40)
        return self._encoder

    def embed(self, listings: Sequence[Listing], cache_dir: str | Path | None = None,
              progress: bool = False) -> np.ndarray:
        """L2-normalised embeddings of the listings' texts, encoded chunk by chunk."""
        texts = [x.text() for x in listings]
        enc = self.encoder()
        # Chunks of the texts in sorted order: the same catalog read in another order hits
        # the same cached chunks.
        order = sorted(range(len(texts)), key=texts.__getitem__)
        srt = [texts[i] for i in order]
        parts = []
        steps = range(0, len(srt), self.chunk)
        if progress:
            from tqdm.auto import tqdm

            steps = tqdm(steps, desc="encode catalog", unit="chunk")
        for s in steps:
            parts.append(enc.encode(srt[s:s + self.chunk], cache_dir=cache_dir))
        out = np.zeros((len(texts), enc.dim_), dtype=np.float32)
        if parts:
            out[np.asarray(order, dtype=np.int64)] = np.vstack(parts)
        return out

    def fit(self, ids: Sequence[str], listings: Sequence[Listing], *,
            embeddings: np.ndarray | None = None, cache_dir: str | Path | None = None,
            progress: bool = False) -> CatalogIndex:
        """Index the catalog (``ids[i]`` is the product of ``listings[i]``)."""
        from sklearn.feature_extraction.text import TfidfVectorizer

        if len(ids) != len(listings):
            raise ValueError(f"fit: {len(ids)} ids but {len(listings)} listings")
        self.ids_ = list(ids)
        self.listings_ = list(listings)
        if embeddings is not None:
            self.emb_ = np.asarray(embeddings, dtype=np.float32)
        elif self.k_embedding > 0:
            self.emb_ = self.embed(listings, cache_dir=cache_dir, progress=progress)
        else:
            self.emb_ = None
        if self.emb_ is not None and len(self.emb_) != len(ids):
            raise ValueError(f"fit: {len(self.emb_)} embeddings for {len(ids)} products")
        self.tfidf_ = TfidfVectorizer(token_pattern=r"\S+", sublinear_tf=True, min_df=1,
                                      dtype=np.float32)
        self.lex_ = self.tfidf_.fit_transform([lexical_text(x) for x in listings]).tocsr()
        self.lex_t_ = self.lex_.T.tocsr()
        brands: dict[str, list[int]] = {}
        for i, x in enumerate(listings):
            k = _brand_key(x.brand)
            if k:
                brands.setdefault(k, []).append(i)
        self.brands_ = {k: np.asarray(v, dtype=np.int64) for k, v in brands.items()}
        return self

    def __len__(self) -> int:
        return len(self.ids_)

    @staticmethod
    def _topk(S: np.ndarray, k: int) -> np.ndarray:
        k = min(k, S.shape[1])
        if k <= 0:
            return np.zeros((S.shape[0], 0), dtype=np.int64)
        part = np.argpartition(-S, k - 1, axis=1)[:, :k]
        return part

    def candidates(self, listings: Sequence[Listing], *, emb: np.ndarray | None = None,
                   cache_dir: str | Path | None = None) -> list[np.ndarray]:
        """Catalog row numbers to score for each listing (union of the three searches)."""
        if emb is None and self.emb_ is not None:
            emb = self.embed(listings, cache_dir=cache_dir)
        Q = self.tfidf_.transform([lexical_text(x) for x in listings]).tocsr()
        out: list[np.ndarray] = []
        for s in range(0, len(listings), self.batch):
            L = (Q[s:s + self.batch] @ self.lex_t_).toarray()
            top_l = self._topk(L, self.k_lexical)
            if self.emb_ is not None:
                E = emb[s:s + self.batch]
                top_e = self._topk(E @ self.emb_.T, self.k_embedding)
            for j in range(L.shape[0]):
                parts = [top_l[j][L[j, top_l[j]] > 0]]
                if self.emb_ is not None:
                    parts.append(top_e[j])
                b = self.brands_.get(_brand_key(listings[s + j].brand))
                if b is not None and self.k_brand > 0:
                    # nearest of that brand: by embedding, else by TF-IDF cosine
                    sims = self.emb_[b] @ E[j] if self.emb_ is not None else L[j, b]
                    parts.append(b[self._topk(sims[None, :], self.k_brand)[0]])
                out.append(np.unique(np.concatenate(parts)))
        return out
