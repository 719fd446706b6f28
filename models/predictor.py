"""The saved price model as one object: load an artifact folder, price products, find comparables.

Use::

    from models.predictor import Predictor
    pred = Predictor.load("runs/model")                  # written by ``pricing train``
    [p] = pred.predict([{"title": "boAt Airdopes 141", "category_path": "tv, audio & cameras > Headphones"}])
    p.p50, p.low, p.high, p.coverage                     # price and calibrated interval
    pred.predict(["B0BQRJ1F1M"])                         # catalog products by id
    pred.drivers(record)                                 # {group: change in log price}
    pred.neighbours(record, k=5)                         # comparable catalog products
    pred.embed(["title ..."])                            # fine-tuned text embeddings

A record has the product fields of ``graph.contracts.ProductIn`` (title, description,
category_path, brand, currency, rating, rating_count, reviews: list[str]) and optionally
``product_id`` and ``competitor_prices``. When the id is a catalog product, fields the record
leaves out come from the catalog snapshot, and its graph features are the training ones (a
training product's own price is left out of them, as in training).

This module also holds the feature assembly that training uses (:func:`dense_features`), so
training and serving build the model inputs with the same code.
"""
from __future__ import annotations

import bisect
import copy
import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from graph.features import GraphFeaturizer
from models.abstain import WidthThreshold
from models.conformal import ConformalCalibrator
from models.encoder import TextEncoder, product_text, set_threads
from models.head import PriceHead
from models.lexical import LexicalFeaturizer
from models.neighbour_prices import NeighbourPrices
from models.price_stack import PriceStack, shift_quantiles, stack_features
from models.target_encoding import KeyTargetEncoder

# Artifact layout (written by models.train).
ENCODER_DIR, HEAD_DIR, LEXICAL_DIR, GRAPH_DIR = "encoder", "head", "lexical", "graph_features"
METADATA = "metadata.json"
CATALOG = "catalog.parquet"
CATALOG_EMB = "catalog_embeddings.npy"
# Only products with reviews: (rows, float16 embeddings); most catalogs have few.
CATALOG_REV = "catalog_review_embeddings.npz"
GRAPH_DB = "graph.sqlite"
SPLIT = "split.json"
STACK_DIR = "stack"
TARGET_ENCODING = "target_encoding.json"

RECORD_FIELDS = ("product_id", "title", "description", "category_path", "brand", "currency",
                 "rating", "rating_count", "reviews", "competitor_prices")
# Graph features that are prices or counts are log-scaled (they span 4 orders of magnitude).
PRICE_FEATURES = ("cat_median", "cat_p25", "cat_p75", "cat_median_d1", "cat_median_d2",
                  "cat_median_d3", "brand_median", "comp_min", "comp_median", "comp_max",
                  "nb_median")
COUNT_FEATURES = ("cat_count", "brand_count", "comp_count", "nb_count")
# Driver groups (names shared with assistant.facts.DRIVER_LABELS); "neighbours" is the
# stacker's move from the head's price (similar products' prices, group averages).
GROUPS = ("text", "reviews", "category", "brand", "competitors", "attributes")
STACK_GROUP = "neighbours"


@dataclass
class Prediction:
    """One product's predicted price (in its currency) and calibrated interval."""

    p50: float
    low: float
    high: float
    coverage: float          # nominal coverage of [low, high]
    log_p50: float           # log1p space, the model's own scale
    log_low: float
    log_high: float
    product_id: str | None = None
    currency: str | None = None
    in_catalog: bool = False
    drivers: dict[str, float] | None = None
    # The (fine-tuned) text embedding the prediction used: for comparables (neighbours_many).
    embedding: np.ndarray | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict:
        d = asdict(replace(self, embedding=None))
        d.pop("embedding")
        return d


# ------------------------------------------------------------------ features
def _missing(x: object) -> bool:
    if x is None:
        return True
    if isinstance(x, float) and math.isnan(x):
        return True
    return isinstance(x, str) and not x.strip()


def record_frame(records: Sequence[Mapping] | pd.DataFrame) -> pd.DataFrame:
    """Records -> a frame with every :data:`RECORD_FIELDS` column; titles are required."""
    if isinstance(records, pd.DataFrame):
        frame = records.reset_index(drop=True).copy()
        if "reviews" not in frame.columns and "review_texts" in frame.columns:
            frame["reviews"] = frame["review_texts"]
    else:
        rows = []
        for i, r in enumerate(records):
            if not isinstance(r, Mapping):
                raise TypeError(f"record {i}: expected a dict, got {type(r).__name__}")
            rows.append(dict(r))
        frame = pd.DataFrame(rows)
    for c in RECORD_FIELDS:
        if c not in frame.columns:
            frame[c] = None
    frame = frame.astype({c: object for c in RECORD_FIELDS})
    for i, t in enumerate(frame["title"].tolist()):
        if _missing(t):
            raise ValueError(f"record {i}: field 'title' is required and must not be blank")
    for c in ("rating", "rating_count"):
        vals = []
        for i, v in enumerate(frame[c].tolist()):
            if _missing(v):
                vals.append(np.nan)
                continue
            try:
                vals.append(float(v))
            except (TypeError, ValueError):
                raise ValueError(f"record {i}: field {c!r} is not a number: {v!r}") from None
        frame[c] = np.asarray(vals, dtype=np.float64)
    frame["reviews"] = [list(v) if isinstance(v, (list, tuple, np.ndarray)) else [] for v in
                        frame["reviews"].tolist()]
    return frame


def graph_block(G: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Graph features -> log-scaled values (NaN -> 0) + missing indicators for price features."""
    cols, names = [], []
    for c in G.columns:
        v = G[c].to_numpy(dtype=np.float64)
        if c in PRICE_FEATURES or c in COUNT_FEATURES:
            v = np.log1p(np.maximum(v, 0.0))
        miss = ~np.isfinite(v)
        cols.append(np.where(miss, 0.0, v))
        names.append(c)
        if c in PRICE_FEATURES:
            cols.append(miss.astype(np.float64))
            names.append(f"{c}_missing")
    return (np.column_stack(cols) if cols else np.zeros((len(G), 0))), names


def numeric_block(frame: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    r = frame["rating"].to_numpy(dtype=np.float64)
    c = frame["rating_count"].to_numpy(dtype=np.float64)
    return (np.column_stack([np.nan_to_num(r), np.isnan(r).astype(np.float64),
                             np.log1p(np.nan_to_num(np.maximum(c, 0.0)))]),
            ["rating", "rating_missing", "log_rating_count"])


def dense_features(text_emb: np.ndarray, review_emb: np.ndarray, has_reviews: np.ndarray,
                   graph: pd.DataFrame, frame: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """The head's dense input: [text emb, review emb, has_reviews, graph, numeric]."""
    g, gnames = graph_block(graph)
    num, nnames = numeric_block(frame)
    names = ([f"text_{i}" for i in range(text_emb.shape[1])] +
             [f"review_{i}" for i in range(review_emb.shape[1])] + ["has_reviews"] +
             gnames + nnames)
    X = np.hstack([text_emb, review_emb, has_reviews[:, None], g, num]).astype(np.float32)
    return X, names


def feature_groups(dense_names: Sequence[str], lex: LexicalFeaturizer
                   ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Group -> (sparse columns, dense columns) for driver attribution."""
    dense: dict[str, list[int]] = {g: [] for g in GROUPS}
    for j, n in enumerate(dense_names):
        if n.startswith("text_"):
            dense["text"].append(j)
        elif n.startswith("review_") or n == "has_reviews":
            dense["reviews"].append(j)
        elif n.startswith("cat_"):
            dense["category"].append(j)
        elif n.startswith(("brand_", "nb_")):
            dense["brand"].append(j)
        elif n.startswith("comp_"):
            dense["competitors"].append(j)
        elif n in ("rating", "rating_missing", "log_rating_count"):
            dense["attributes"].append(j)
    sparse = {"text": np.concatenate([lex.columns("word"), lex.columns("char")]),
              "category": lex.columns("cat"), "brand": lex.columns("brand")}
    return {g: (sparse.get(g, np.zeros(0, np.int64)), np.asarray(dense[g], np.int64))
            for g in GROUPS}


def tfidf_view(lex: LexicalFeaturizer, Xs: sp.csr_matrix) -> sp.csr_matrix:
    """The title TF-IDF columns (word and character n-grams) of the lexical features."""
    cols = np.concatenate([lex.columns("word"), lex.columns("char")]).astype(np.int64)
    return sp.csr_matrix(Xs)[:, cols]


def neighbour_references(settings: Mapping, emb: np.ndarray, tfidf: sp.csr_matrix,
                         log_prices: np.ndarray, currencies: Sequence[object],
                         ids: Sequence[object]) -> dict[str, NeighbourPrices]:
    """The reference sets of the neighbour-price features (training products), built the
    same way at training and at serving time from ``settings`` (``metadata["stack"]``)."""
    k = int(settings.get("k", 20))
    refs: dict[str, NeighbourPrices] = {}
    if settings.get("emb_neighbours", True):
        refs["emb"] = NeighbourPrices(k=k, prefix="nbe_").fit(
            emb, log_prices, currencies=currencies, ids=ids)
    if settings.get("tfidf_neighbours", True):
        refs["tfidf"] = NeighbourPrices(k=k, prefix="nbt_",
                                        max_df=float(settings.get("max_df", 0.01))).fit(
            tfidf, log_prices, currencies=currencies, ids=ids)
    return refs


def neighbour_frames(refs: Mapping[str, NeighbourPrices], emb: np.ndarray,
                     tfidf: sp.csr_matrix, currencies: Sequence[object],
                     ids: Sequence[object]) -> list[pd.DataFrame]:
    out = []
    for name, nb in refs.items():
        X = emb if name == "emb" else tfidf
        out.append(nb.transform(X, currencies=currencies, exclude_ids=ids))
    return out


# ----------------------------------------------------------------- predictor
class Predictor:
    """A trained price model loaded from an artifact folder (see :meth:`load`)."""

    def __init__(self, encoder: TextEncoder, head: PriceHead, lexical: LexicalFeaturizer,
                 graph_features: GraphFeaturizer, calibrator: ConformalCalibrator,
                 metadata: dict, catalog: pd.DataFrame | None = None,
                 catalog_embeddings: np.ndarray | None = None,
                 catalog_review_embeddings: dict[int, np.ndarray] | None = None,
                 stack: PriceStack | None = None,
                 target_encoder: KeyTargetEncoder | None = None) -> None:
        self.encoder = encoder
        self.stack = stack
        self.target_encoder = target_encoder
        self.head = head
        self.lexical = lexical
        self.graph_features = graph_features
        self.calibrator = calibrator
        self.metadata = metadata
        self.dense_names_ = list(metadata["dense_features"])
        sorted_paths = None
        if catalog is not None and len(catalog) and catalog_embeddings is not None:
            # Comparables are searched one category (with its sub-categories) at a time: with
            # the catalog sorted by category path each such set is at most two contiguous
            # slices of the embedding matrix, searched without copying it.
            paths = catalog["category_path"].fillna("").astype(str).to_numpy(dtype=object)
            order = np.argsort(paths, kind="stable")
            sorted_paths = paths[order].tolist()
            if (order != np.arange(len(order))).any():
                catalog = catalog.iloc[order].reset_index(drop=True)
                catalog_embeddings = catalog_embeddings[order]
                if catalog_review_embeddings:
                    new_row = np.empty_like(order)
                    new_row[order] = np.arange(len(order))
                    catalog_review_embeddings = {int(new_row[k]): v for k, v in
                                                 catalog_review_embeddings.items()}
        self.catalog_ = catalog if catalog is not None else pd.DataFrame(
            columns=["product_id", *RECORD_FIELDS[1:]])
        self._sorted_paths = sorted_paths  # catalog_'s category paths, for _category_slices
        self.catalog_embeddings_ = catalog_embeddings
        self.catalog_review_embeddings_ = catalog_review_embeddings
        self._pos = {str(p): i for i, p in enumerate(self.catalog_["product_id"].tolist())}
        self._cat_reviews = (self.catalog_["reviews"].tolist() if "reviews" in self.catalog_
                             else [[] for _ in range(len(self.catalog_))])
        self._cat_text = None
        self.groups_ = feature_groups(self.dense_names_, lexical)
        self.directory: Path | None = None
        self._graph = None
        self._train_ids: list[str] | None = None
        self._abstain_tried = False

    @property
    def version(self) -> str:
        """Model version: training time + data hash (changes with every retrain)."""
        return str(self.metadata.get("model_version", "unversioned"))

    @property
    def featurizer_(self) -> GraphFeaturizer:
        return self.graph_features

    @property
    def graph_(self):
        """The knowledge graph the model was trained on (loaded on first use)."""
        if self._graph is None:
            db = self.directory / GRAPH_DB if self.directory else None
            if db is None or not db.exists():
                raise FileNotFoundError("this model folder has no graph snapshot "
                                        f"({GRAPH_DB})")
            from graph.store import GraphStore

            with GraphStore(db) as store:
                self._graph = store.load()
        return self._graph

    @property
    def train_ids(self) -> list[str]:
        """Ids of the products the model was trained on (the graph features' reference set)."""
        if self._train_ids is None:
            split = self.directory / SPLIT if self.directory is not None else None
            ids = (json.loads(split.read_text(encoding="utf-8"))["train"]
                   if split is not None and split.exists() else list(self.graph_features.train_ids_))
            self._train_ids = [str(i) for i in ids]
        return self._train_ids

    def abstain_width(self) -> float | None:
        """The relative interval width ((high - low) / p50) above which a suggestion abstains:
        this model's calibrated threshold (``models.abstain``), from ``metadata["abstain"]``;
        for a model trained before it existed, fitted once on the catalog snapshot's
        calibration rows (held out from training) and kept in memory. None without either."""
        d = self.metadata.get("abstain")
        if d is None and not self._abstain_tried:
            self._abstain_tried = True
            d = self._fit_abstain()
            if d is not None:
                self.metadata["abstain"] = d | {"fitted": "at load (older artifact)"}
        return None if d is None else float(d["max_relative_width"])

    def _fit_abstain(self) -> dict | None:
        cat = self.catalog_
        if "split" not in cat or not len(cat):
            return None
        price = pd.to_numeric(cat["price"], errors="coerce")
        ids = cat.loc[(cat["split"] == "calib") & (price > 0), "product_id"].astype(str).tolist()
        if not ids:
            return None
        preds = self.predict(ids)
        return WidthThreshold().fit([p.p50 for p in preds], [p.low for p in preds],
                                    [p.high for p in preds]).to_dict()

    def with_graph(self, graph) -> Predictor:  # noqa: ANN001 - a networkx MultiDiGraph
        """A copy that prices against ``graph`` (e.g. after a curation edit): its graph features
        are refit on ``graph`` with the same training ids and parameters, so on an unchanged
        graph it prices exactly as before. ``self`` is left alone (others may share it)."""
        p = copy.copy(self)
        ids = [i for i in self.train_ids if f"product:{i}" in graph]
        p.graph_features = GraphFeaturizer(**self.graph_features.get_params()).fit(graph, ids)
        p._graph = graph
        return p

    def save(self, directory: str | Path, *, graph=None, split: Mapping | None = None) -> Path:  # noqa: ANN001
        """Write the artifact folder that :meth:`load` reads, with a manifest of its components.

        graph: a knowledge-graph snapshot to store beside the model (``graph.sqlite``, what the
        service serves from when no store is given). split: the train/val/calib/test ids.
        """
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        self.encoder.save(out / ENCODER_DIR)
        self.head.save(out / HEAD_DIR)
        self.lexical.save(out / LEXICAL_DIR)
        self.graph_features.save(out / GRAPH_DIR)
        files = {"encoder": ENCODER_DIR, "head": HEAD_DIR, "lexical": LEXICAL_DIR,
                 "graph_features": GRAPH_DIR}
        if self.stack is not None:
            self.stack.save(out / STACK_DIR)
            files["stack"] = STACK_DIR
        if self.target_encoder is not None:
            (out / TARGET_ENCODING).write_text(json.dumps(self.target_encoder.to_dict()),
                                               encoding="utf-8")
            files["target_encoding"] = TARGET_ENCODING
        if len(self.catalog_) and self.catalog_embeddings_ is not None:
            self.catalog_.to_parquet(out / CATALOG, index=False)
            np.save(out / CATALOG_EMB, self.catalog_embeddings_.astype(np.float16))
            files |= {"catalog": CATALOG, "catalog_embeddings": CATALOG_EMB}
            if self.catalog_review_embeddings_ is not None:
                rows = np.array(sorted(self.catalog_review_embeddings_), dtype=np.int64)
                emb = (np.stack([self.catalog_review_embeddings_[int(r)] for r in rows])
                       if len(rows) else np.zeros((0, self.catalog_embeddings_.shape[1])))
                np.savez(out / CATALOG_REV, rows=rows, emb=emb.astype(np.float16))
                files["catalog_review_embeddings"] = CATALOG_REV
        if split is not None:
            (out / SPLIT).write_text(json.dumps(dict(split)), encoding="utf-8")
            files["split"] = SPLIT
        if graph is not None:
            from graph.store import GraphStore

            (out / GRAPH_DB).unlink(missing_ok=True)
            with GraphStore(out / GRAPH_DB) as store:
                store.save(graph)
            files["graph"] = GRAPH_DB
        self.metadata["components"] = files
        self.write_metadata(out)
        self.directory = out
        return out

    def write_metadata(self, directory: str | Path) -> None:
        """(Re)write ``metadata.json`` (the manifest: format, version, components, metrics)."""
        (Path(directory) / METADATA).write_text(
            json.dumps(self.metadata, indent=2, default=_json_default), encoding="utf-8")

    @classmethod
    def load(cls, directory: str | Path, threads: int | None = None) -> Predictor:
        """Load everything :meth:`save` wrote into ``directory``."""
        d = Path(directory)
        meta_file = d / METADATA
        if not meta_file.exists():
            raise FileNotFoundError(f"{meta_file}: not a trained model folder "
                                    "(run `pricing train DATA --out DIR` first)")
        set_threads(threads)
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        catalog = emb = rev = None
        if (d / CATALOG).exists():
            catalog = pd.read_parquet(d / CATALOG)
            catalog["reviews"] = [list(v) if v is not None else [] for v in catalog["reviews"]]
            catalog["competitor_prices"] = [list(v) if v is not None else [] for v in
                                            catalog["competitor_prices"]]
            emb = np.load(d / CATALOG_EMB).astype(np.float32)
            if (d / CATALOG_REV).exists():
                with np.load(d / CATALOG_REV) as z:
                    rev = dict(zip(z["rows"].tolist(), z["emb"].astype(np.float32)))
        stack = PriceStack.load(d / STACK_DIR) if (d / STACK_DIR).exists() else None
        te = (KeyTargetEncoder.from_dict(json.loads((d / TARGET_ENCODING).read_text(
            encoding="utf-8"))) if (d / TARGET_ENCODING).exists() else None)
        pred = cls(encoder=TextEncoder.load(d / ENCODER_DIR), head=PriceHead.load(d / HEAD_DIR),
                   lexical=LexicalFeaturizer.load(d / LEXICAL_DIR),
                   graph_features=GraphFeaturizer.load(d / GRAPH_DIR),
                   calibrator=ConformalCalibrator.from_dict(meta["calibration"]),
                   metadata=meta, catalog=catalog, catalog_embeddings=emb,
                   catalog_review_embeddings=rev, stack=stack, target_encoder=te)
        pred.directory = d
        return pred

    # ------------------------------------------------------------ inputs
    def _resolve(self, records: Sequence[Mapping | str] | pd.DataFrame) -> pd.DataFrame:
        """Records (or catalog ids) -> record frame, catalog fields filling the gaps."""
        if isinstance(records, pd.DataFrame):
            records = records.to_dict("records")
        rows = []
        for i, r in enumerate(records):
            if isinstance(r, str):
                if r not in self._pos:
                    raise KeyError(f"record {i}: product id {r!r} is not in the catalog")
                r = {"product_id": r}
            elif not isinstance(r, Mapping):
                raise TypeError(f"record {i}: expected a dict or a product id, "
                                f"got {type(r).__name__}")
            r = dict(r)
            pid = r.get("product_id")
            if not _missing(pid) and str(pid) in self._pos:
                known = self.catalog_.iloc[self._pos[str(pid)]]
                for c in RECORD_FIELDS[1:]:
                    v = r.get(c)
                    if _missing(v) or (c in ("reviews", "competitor_prices") and v is None):
                        r[c] = known[c]
                r["product_id"] = str(pid)
            rows.append(r)
        return record_frame(rows)

    def _catalog_rows(self, frame: pd.DataFrame) -> np.ndarray:
        """Catalog position of each record whose product text is unchanged (else -1)."""
        out = np.full(len(frame), -1, dtype=np.int64)
        if self.catalog_embeddings_ is None:
            return out
        for i, (pid, text) in enumerate(zip(frame["product_id"], self._texts(frame))):
            j = self._pos.get(str(pid), -1) if not _missing(pid) else -1
            if j >= 0 and self._catalog_text(j) == text:
                out[i] = j
        return out

    def _catalog_text(self, j: int) -> str:
        if self._cat_text is None:
            # All at once on first use (about 1 s per 100k products), then a list look-up.
            self._cat_text = self._texts(self.catalog_)
        return self._cat_text[j]

    @staticmethod
    def _texts(frame: pd.DataFrame) -> list[str]:
        return [product_text(r) for r in frame.to_dict("records")]

    def features(self, frame: pd.DataFrame) -> tuple[sp.csr_matrix, np.ndarray]:
        """Sparse lexical and dense inputs of the head for a record frame."""
        n = len(frame)
        text_emb = np.zeros((n, self.encoder.dim_), np.float32)
        rev_emb = np.zeros((n, self.encoder.dim_), np.float32)
        has_rev = np.zeros(n, np.float32)
        cat = self._catalog_rows(frame)
        hit = cat >= 0
        if hit.any():
            text_emb[hit] = self.catalog_embeddings_[cat[hit]]
        miss = np.flatnonzero(~hit)
        if len(miss):
            texts = self._texts(frame.iloc[miss])
            text_emb[miss] = self.encoder.encode(texts)
        if self.metadata["config"].get("use_reviews", True):
            reviews = frame["reviews"].tolist()
            # Catalog products with their own reviews unchanged: the stored review embedding.
            same = [i for i in range(n) if hit[i] and self.catalog_review_embeddings_ is not None
                    and list(reviews[i]) == list(self._cat_reviews[cat[i]])]
            for i in same:
                vec = self.catalog_review_embeddings_.get(int(cat[i]))
                if vec is not None:
                    rev_emb[i], has_rev[i] = vec, 1.0
            done = set(same)
            rest = [i for i in range(n) if i not in done]
            if rest:
                r, h = self.encoder.encode_reviews([reviews[i] for i in rest])
                rev_emb[rest], has_rev[rest] = r, h
        recs = frame[["product_id", "category_path", "brand", "currency",
                      "competitor_prices"]].to_dict("records")
        for r in recs:
            if _missing(r["product_id"]):
                r["product_id"] = None
            if not isinstance(r["competitor_prices"], (list, tuple, np.ndarray)):
                r["competitor_prices"] = []
        G = self.graph_features.transform_records(recs)
        if not self.metadata["config"].get("use_graph", True):
            G = G[[]]
        Xd, names = dense_features(text_emb, rev_emb, has_rev, G, frame)
        if names != self.dense_names_:
            raise ValueError("dense feature layout differs from the trained model's")
        return self.lexical.transform(frame), Xd

    # ----------------------------------------------------------- predict
    def predict(self, records: Sequence[Mapping | str] | pd.DataFrame, *,
                drivers: bool = False) -> list[Prediction]:
        """Price each record (dict, or a catalog product id); intervals are calibrated."""
        frame = self._resolve(records)
        if len(frame) == 0:
            return []
        Xs, Xd = self.features(frame)
        head_q = self.head.predict(Xs, Xd)
        q = self.final_quantiles(frame, Xs, Xd, head_q)
        lo, hi = self.calibrator.apply(q[:, 0], q[:, 2])
        # A price is never negative: log1p space starts at 0.
        lo, hi = np.clip(np.minimum(lo, q[:, 1]), 0.0, None), np.maximum(hi, q[:, 1])
        drv = None
        if drivers:
            drv = [{g: v for g, v in d.items() if not g.startswith("_")}
                   for d in self._drivers(Xs, Xd)]
            if self.stack is not None:
                for i, d in enumerate(drv):
                    d[STACK_GROUP] = float(q[i, 1] - head_q[i, 1])
        out = []
        for i, rec in enumerate(frame.to_dict("records")):
            pid = None if _missing(rec["product_id"]) else str(rec["product_id"])
            out.append(Prediction(
                p50=float(np.expm1(q[i, 1])), low=float(np.expm1(lo[i])),
                high=float(np.expm1(hi[i])), coverage=float(self.calibrator.coverage),
                log_p50=float(q[i, 1]), log_low=float(lo[i]), log_high=float(hi[i]),
                product_id=pid, currency=None if _missing(rec["currency"]) else rec["currency"],
                in_catalog=pid is not None and pid in self._pos,
                drivers=drv[i] if drv is not None else None,
                embedding=Xd[i, :self.encoder.dim_].copy()))
        return out

    # ------------------------------------------------------------- stack
    def final_quantiles(self, frame: pd.DataFrame, Xs: sp.csr_matrix, Xd: np.ndarray,
                        head_q: np.ndarray) -> np.ndarray:
        """(q10, q50, q90) in log1p space: the head's, moved to the stacked median when the
        model has a stacker (``models.price_stack``)."""
        if self.stack is None:
            return head_q
        return shift_quantiles(head_q, self.stack.predict(self.stack_frame(frame, Xs, Xd, head_q)))

    def stack_frame(self, frame: pd.DataFrame, Xs: sp.csr_matrix, Xd: np.ndarray,
                    head_q: np.ndarray) -> pd.DataFrame:
        """The stacker's input rows for a record frame (as training built them)."""
        ids = [None if _missing(p) else str(p) for p in frame["product_id"].tolist()]
        cur = frame["currency"].tolist()
        refs = self._neighbour_refs
        emb = Xd[:, :self.encoder.dim_]
        tf = tfidf_view(self.lexical, Xs) if "tfidf" in refs else None
        frames = neighbour_frames(refs, emb, tf, cur, ids)
        # training saves a target encoder only when the stack used one
        te = self.target_encoder.transform(frame) if self.target_encoder is not None else None
        return stack_features(head_q, Xd, self.dense_names_, frames, te)

    def prepare(self) -> Predictor:
        """Build what the first prediction would otherwise build (the stacker's neighbour
        references: ~25 s at 130k training products), e.g. when a server starts."""
        if self.stack is not None:
            self._neighbour_refs  # noqa: B018 - a cached property: computing it is the point
        return self

    @cached_property
    def _neighbour_refs(self) -> dict[str, NeighbourPrices]:
        """The training products as neighbour references (built once, on first use: the
        TF-IDF view of ~90k titles takes ~20 s)."""
        settings = self.metadata.get("stack") or {}
        cat = self.catalog_
        price = pd.to_numeric(cat["price"], errors="coerce").to_numpy(np.float64)
        # In the training split's order, as training built them: equally similar neighbours
        # (duplicate titles) are then picked the same way.
        rows = np.array([j for j in (self._pos.get(i, -1) for i in self.train_ids)
                         if j >= 0 and np.isfinite(price[j]) and price[j] > 0], dtype=np.int64)
        sub = cat.iloc[rows]
        emb = (self.catalog_embeddings_[rows] if self.catalog_embeddings_ is not None
               else np.zeros((len(rows), self.encoder.dim_), np.float32))
        tf = (tfidf_view(self.lexical, self.lexical.transform(record_frame(sub)))
              if settings.get("tfidf_neighbours", True) else None)
        return neighbour_references(settings, emb, tf, np.log1p(price[rows]),
                                    sub["currency"].tolist(), sub["product_id"].tolist())

    def drivers(self, record: Mapping | str, method: str = "shapley") -> dict[str, float]:
        """What moved the model's price for one record: {group: change in log1p price}.

        Groups: text, reviews, category, brand, competitors, attributes (rating, count), and
        for a stacked model ``neighbours`` (the stacker's move from the head's price).
        ``method="ablation"``: the change in log p50 when the group is replaced by its training
        mean (absent reviews, unknown brand...) while the others stay. ``"shapley"``
        (default): the same ablation averaged over every order of removing the groups, so the
        values add up exactly to ``log p50 - baseline`` (see :meth:`drivers_detail`).
        """
        d = self.drivers_detail(record, method)
        return d["drivers"]

    def drivers_detail(self, record: Mapping | str, method: str = "shapley") -> dict:
        """``drivers`` plus ``log_p50`` and ``baseline_log`` (every group at its mean)."""
        frame = self._resolve([record])
        Xs, Xd = self.features(frame)
        d = self._drivers(Xs, Xd, method=method)[0]
        base = d.pop("_baseline")
        full = d.pop("_full")
        if self.stack is not None:
            # The stacker's move from the head's price, so the drivers still add up to
            # log p50 - baseline.
            head_q = self.head.predict(Xs, Xd)
            final = float(self.final_quantiles(frame, Xs, Xd, head_q)[0, 1])
            d[STACK_GROUP] = final - full
            full = final
        return {"drivers": d, "log_p50": full, "baseline_log": base, "method": method}

    def _drivers(self, Xs: sp.csr_matrix, Xd: np.ndarray, method: str = "shapley"
                 ) -> list[dict[str, float]]:
        if method not in ("shapley", "ablation"):
            raise ValueError(f"method must be 'shapley' or 'ablation', got {method!r}")
        groups = [g for g in GROUPS if len(self.groups_[g][0]) or len(self.groups_[g][1])]
        k = len(groups)
        if method == "ablation":
            subsets = ([tuple(range(k))] + [tuple(j for j in range(k) if j != i) for i in range(k)]
                       + [()])
        else:
            subsets = [s for r in range(k + 1) for s in itertools.combinations(range(k), r)]
        masks = np.zeros((len(subsets), k), dtype=bool)
        for s, sub in enumerate(subsets):
            masks[s, list(sub)] = True
        v = self.head.predict_groups(Xs, Xd, [self.groups_[g] for g in groups], masks)
        out = []
        for i in range(v.shape[1]):
            vals = dict(zip(subsets, v[:, i]))
            full = vals[tuple(range(k))]
            res: dict[str, float] = {}
            res["_baseline"] = float(vals.get((), np.nan))
            res["_full"] = float(full)
            if method == "ablation":
                for j, g in enumerate(groups):
                    res[g] = float(full - vals[tuple(x for x in range(k) if x != j)])
            else:
                for j, g in enumerate(groups):
                    phi = 0.0
                    others = [x for x in range(k) if x != j]
                    for r in range(k):
                        w = math.factorial(r) * math.factorial(k - r - 1) / math.factorial(k)
                        for sub in itertools.combinations(others, r):
                            with_j = tuple(sorted(sub + (j,)))
                            phi += w * (vals[with_j] - vals[sub])
                    res[g] = float(phi)
            out.append(res)
        return out

    # ------------------------------------------------------- comparables
    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Fine-tuned text embeddings (L2-normalised), comparable to ``catalog_embeddings_``."""
        return self.encoder.encode(list(texts))

    def neighbours(self, record_or_embedding: Mapping | str | np.ndarray,
                   category_path: str | None = None, k: int = 5,
                   exclude_id: str | None = None, currency: str | None = None) -> list[dict]:
        """The ``k`` most similar priced catalog products (cosine of text embeddings).

        ``category_path`` restricts the search to that category and its sub-categories
        (default: the record's own category; ``""`` searches the whole catalog); ``currency``
        to products priced in that currency (default: the record's own, when it has one). The
        record's own catalog entry and ``exclude_id`` are left out. Each item: product_id,
        title, category_path, brand, price, currency, similarity; most similar first.
        """
        self._need_catalog()
        if k < 1:
            return []
        own = None
        if isinstance(record_or_embedding, np.ndarray):
            e = np.asarray(record_or_embedding, np.float32).reshape(-1)
        else:
            frame = self._resolve([record_or_embedding])
            own = frame["product_id"].iloc[0]
            if category_path is None and not _missing(frame["category_path"].iloc[0]):
                category_path = str(frame["category_path"].iloc[0])
            if currency is None and not _missing(frame["currency"].iloc[0]):
                currency = str(frame["currency"].iloc[0])
            cat = self._catalog_rows(frame)
            e = (self.catalog_embeddings_[cat[0]] if cat[0] >= 0
                 else self.encoder.encode(self._texts(frame))[0])
        return self.neighbours_many(e[None, :], [category_path], k=k,
                                    exclude_ids=[[own, exclude_id]], currencies=[currency])[0]

    def neighbours_many(self, embeddings: np.ndarray, category_paths: Sequence[str | None],
                        k: int = 5, exclude_ids: Sequence[Sequence[str | None]] | None = None,
                        currencies: Sequence[str | None] | None = None) -> list[list[dict]]:
        """:meth:`neighbours` for many embeddings at once (one matrix product per category).

        ``embeddings``: (n, d), e.g. ``Prediction.embedding`` rows; ``category_paths[i]``
        restricts row i's search to that category and below (None or "" = whole catalog);
        ``exclude_ids[i]``: product ids left out of row i's result; ``currencies[i]``: only
        products priced in that currency (None = any) — a price in another currency is no
        evidence for this one.
        """
        self._need_catalog()
        E = np.asarray(embeddings, np.float32)
        if E.ndim != 2 or E.shape[1] != self.catalog_embeddings_.shape[1]:
            raise ValueError(f"embeddings must have shape (n, {self.catalog_embeddings_.shape[1]}),"
                             f" got {E.shape}")
        if len(category_paths) != len(E):
            raise ValueError(f"{len(category_paths)} category paths for {len(E)} embeddings")
        out: list[list[dict]] = [[] for _ in range(len(E))]
        if k < 1:
            return out
        by_cat: dict[str, list[int]] = {}
        for i, c in enumerate(category_paths):
            by_cat.setdefault("" if _missing(c) else str(c), []).append(i)
        priced = self._priced
        for path, rows in by_cat.items():
            slices = self._category_slices(path)
            if not slices:
                continue
            idx = np.concatenate([np.arange(a, b) for a, b in slices])
            sims = np.concatenate([E[rows] @ self.catalog_embeddings_[a:b].T for a, b in slices],
                                  axis=1)                      # (len(rows), len(idx))
            ok = priced[idx]
            idx, sims = idx[ok], sims[:, ok]
            if len(idx) == 0:
                continue
            for r, i in enumerate(rows):
                skip = {self._pos[str(x)] for x in (exclude_ids[i] if exclude_ids else ())
                        if x is not None and not _missing(x) and str(x) in self._pos}
                row_sims = sims[r]
                cur = currencies[i] if currencies is not None else None
                if cur is not None and not _missing(cur):
                    same = self._currencies[idx] == str(cur).upper()
                    row_sims = np.where(same, row_sims, -np.inf)
                    n_ok = int(same.sum())
                else:
                    n_ok = len(idx)
                want = min(k + len(skip), n_ok)
                if want < 1:
                    continue
                top = np.argpartition(-row_sims, want - 1)[:want] if want < len(idx) else \
                    np.arange(len(idx))
                top = top[np.argsort(-row_sims[top], kind="stable")]
                out[i] = [self._comparable(int(idx[t]), float(row_sims[t])) for t in top
                          if int(idx[t]) not in skip and np.isfinite(row_sims[t])][:k]
        return out

    def _need_catalog(self) -> None:
        if self.catalog_embeddings_ is None or len(self.catalog_) == 0:
            raise ValueError("this model was saved without a catalog snapshot")

    @cached_property
    def _currencies(self) -> np.ndarray:
        """Each catalog row's currency code, upper case ("" when missing)."""
        return np.array(["" if _missing(c) else str(c).upper() for c in self.catalog_["currency"]],
                        dtype=object)

    @cached_property
    def _priced(self) -> np.ndarray:
        """Catalog rows with a usable price (the only ones offered as comparables)."""
        price = self.catalog_["price"].to_numpy(dtype=np.float64)
        return np.isfinite(price) & (price > 0)

    @cached_property
    def _rows(self) -> list[tuple]:
        """The fields a comparable shows, per catalog row (plain tuples: no pandas per hit)."""
        cols = self.catalog_[["product_id", "title", "category_path", "brand", "price",
                              "currency"]]
        return list(zip(*(cols[c].tolist() for c in cols.columns)))

    def _category_slices(self, category_path: str) -> list[tuple[int, int]]:
        """Catalog rows in ``category_path`` or below ("" = all) as contiguous slices.

        The catalog is sorted by path, so the path itself and the paths under it
        (``path + " > " ...``) are each one run of rows (found by bisection).
        """
        paths = self._sorted_paths
        if not category_path:
            return [(0, len(paths))] if paths else []
        out = []
        a, b = bisect.bisect_left(paths, category_path), bisect.bisect_right(paths, category_path)
        if b > a:
            out.append((a, b))
        prefix = category_path + " > "
        a = bisect.bisect_left(paths, prefix)
        b = bisect.bisect_left(paths, prefix[:-1] + chr(ord(prefix[-1]) + 1))
        if b > a:
            out.append((a, b))
        return out

    def _comparable(self, j: int, similarity: float) -> dict:
        pid, title, path, brand, price, currency = self._rows[j]
        return {"product_id": str(pid), "title": title,
                "category_path": None if _missing(path) else path,
                "brand": None if _missing(brand) else brand, "price": float(price),
                "currency": None if _missing(currency) else currency, "similarity": similarity}


def _json_default(o: object):
    """numpy scalars and arrays, paths and timestamps in the metadata, as JSON."""
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)
