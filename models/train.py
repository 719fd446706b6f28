"""Train the price model end to end and write a self-describing artifact folder.

Use::

    pricing train data/main --out runs/model --all     # the main job's model (<= 15 min, 2 cores)
    pricing train ../shared/data/amazon_in_2023 --out runs/full --full

    from models.train import TrainConfig, train
    out = train("data/demo", TrainConfig.demo(), "runs/model")

Pipeline (each step's code lives in its own module):

1. catalog (``graph.adapters.load_path``) -> knowledge graph (``graph.build.build_graph``) ->
   product table (``graph.products.product_table``); priced products are split by
   ``models.split.make_split`` (train / val / calib / test, fixed seed).
2. Leakage-free graph features (``graph.features.GraphFeaturizer``) fitted on the training
   products only; title TF-IDF + one-hots (``models.lexical``) fitted on training titles.
3. Encoder stage 1 (``models.encoder``): the top layers of all-MiniLM-L6-v2 are fine-tuned
   on training products' log prices with a linear probe (MSE); then every catalog product
   and its reviews are embedded with it.
4. Head (``models.head``): quantile MLP on [lexical | text emb | review emb | graph | numeric],
   early-stopped on the validation slice.
5. Stack (``models.price_stack``, when the held-out slices hold >= ``stack_min_rows``):
   LightGBM over the head's quantiles, the k nearest training products' prices in the
   fine-tuned embedding and title TF-IDF spaces (``models.neighbour_prices``), target
   encodings (``models.target_encoding``) and the graph statistics, cross-fitted on the
   validation + calibration products; intervals by split-conformal CQR (``models.conformal``)
   on its out-of-fold prices (without the stack: the head's on the calibration slice);
   metrics (``models.metrics``) on the test slice.

Artifact folder: ``encoder/`` (sentence-transformers folder), ``head/`` (JSON + safetensors),
``lexical/`` (JSON), ``graph_features/`` (``GraphFeaturizer.save``), ``stack/`` (LightGBM
text models + manifest) and ``target_encoding.json``, ``catalog.parquet`` and
``catalog_embeddings.npy`` (comparables search), ``split.json`` (ids), ``metadata.json``
(data hash, split seed and fractions, metrics, timings, library versions, config).
Reproducible: fixed seeds for split, shuffles and initialisation; torch deterministic mode.
"""
from __future__ import annotations

import hashlib
import json
import platform
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import torch

from graph.contracts import Catalog
from graph.features import GraphFeaturizer
from models.abstain import WidthThreshold, relative_widths
from models.conformal import ConformalCalibrator
from models.encoder import TextEncoder, product_text, set_threads
from models.head import PriceHead
from models.lexical import LexicalFeaturizer
from models.metrics import price_metrics
from models.predictor import (
    Predictor,
    dense_features,
    neighbour_frames,
    neighbour_references,
    record_frame,
    tfidf_view,
)
from models.price_stack import PriceStack, shift_quantiles, stack_features
from models.split import make_split
from models.target_encoding import KeyTargetEncoder


@dataclass
class TrainConfig:
    """Every knob of a training run; saved in metadata.json."""

    seed: int = 0
    # Split fractions of the priced products (models.split recipe; test 20% = the benchmark).
    test_frac: float = 0.2
    val_frac: float = 0.1
    calib_frac: float = 0.1
    coverage: float = 0.8            # nominal interval coverage after conformal calibration
    # Abstain threshold (models.abstain): this quantile of the calibration slice's relative
    # interval widths, never below abstain_floor (the fixed rule before issue #14).
    abstain_quantile: float = 0.8
    abstain_floor: float = 1.5
    # Encoder. Cost grows with length: 32 tokens encode 210 texts/s on 2 cores, 48 tokens
    # 134/s. Titles come first (median 26 word pieces); the category path, cut off for long
    # titles, also reaches the head as one-hot tokens and graph features.
    max_seq_length: int = 32
    review_max_seq_length: int = 96
    encode_batch_size: int = 128
    use_reviews: bool = True
    fine_tune: bool = True
    ft_layers: int = 2               # top transformer layers trained in stage 1 (of 6)
    ft_max_texts: int | None = 20000  # stage-1 examples per epoch (CPU budget), None = all
    ft_epochs: float = 1.0
    ft_batch_size: int = 32
    ft_lr: float = 1e-4
    compare_frozen: bool = False     # also train a head on frozen embeddings (evidence)
    # Retraining (assistant.retrain): an artifact folder whose (fine-tuned) encoder is reused
    # as is, with its catalog embeddings for every product whose text is unchanged; only new
    # or edited texts are encoded, and no fine-tune runs (fine_tune and the encoder lengths
    # above are then ignored: the reused encoder keeps its own).
    encoder_from: str | None = None
    # Lexical features.
    word_features: int = 100_000
    char_features: int = 50_000
    min_df: int = 2
    # Graph features (use_graph=False: the ablation without them; one-hot tokens stay).
    use_graph: bool = True
    graph_min_count: int = 3
    # Head.
    hidden: tuple[int, ...] = (256, 64, 64)
    head_lr: float = 3e-3
    head_batch_size: int = 256
    head_max_batch_size: int = 4096
    head_max_epochs: int = 6
    head_patience: int = 1
    head_models: int = 1
    point_loss: str = "huber"
    # Embedding columns are multiplied by this after standardisation: 2 x 384 unit-variance
    # inputs would otherwise swamp the TF-IDF layer early on (slice of 30k: RMSLE 0.703 at
    # 1.0, 0.682 at 0.03; 0.691 without embeddings).
    embedding_scale: float = 0.03
    # Stack (models.price_stack): trees over the head's quantiles, nearest-neighbour prices
    # (fine-tuned embeddings and title TF-IDF) and target encodings, cross-fitted on the
    # held-out slices. Each switch is one README ablation.
    stack: bool = True
    stack_emb_neighbours: bool = True
    stack_tfidf_neighbours: bool = True
    stack_target_encoding: bool = True
    stack_folds: int = 5
    stack_min_rows: int = 200        # fewer held-out products: serve the head's price
    neighbours_k: int = 20
    neighbours_max_df: float = 0.01
    # Runtime.
    threads: int | None = None
    save_graph: bool = True          # graph snapshot (graph.sqlite) for the pricing service
    cache_dir: str | None = "runs/cache"
    progress: bool = True

    @classmethod
    def demo(cls, **kw) -> TrainConfig:
        """The main job's model (`make demo`): the whole amazon_in_2023 catalog plus the demo
        sets (~158k products) within 15 minutes on 2 cores. Encoding every title is the cost
        that scales (MiniLM on 2 cores: ~165 titles/s at 32 word pieces, ~330/s at 16), so
        the encoder stays frozen (no stage-1 fine-tune) and reads the first 16 word pieces,
        and the head is one model; the stacker's neighbour prices and target encodings make
        up most of the difference (README: the demo preset against the full one)."""
        base = dict(fine_tune=False, max_seq_length=16, head_models=1, head_batch_size=512,
                    compare_frozen=False)
        base.update(kw)
        return cls(**base)

    @classmethod
    def full(cls, **kw) -> TrainConfig:
        """The whole amazon_in_2023 training split within an hour on 2 cores."""
        base = dict(ft_max_texts=40000, head_batch_size=512, head_models=2)
        base.update(kw)
        return cls(**base)

    @classmethod
    def all_products(cls, base: TrainConfig) -> TrainConfig:
        """Production training (`pricing train --all`): no test slice, so every priced product
        but a 5% early-stopping slice and a 10% calibration slice (held out: the conformal
        intervals and the abstain threshold are calibrated on it) is trained on."""
        d = base.to_dict() | {"test_frac": 0.0, "val_frac": 0.05, "calib_frac": 0.1,
                               "compare_frozen": False}
        return cls.from_dict(d)

    @property
    def mode(self) -> str:
        return "all" if self.test_frac == 0 else "benchmark"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown TrainConfig fields: {sorted(unknown)}")
        d = dict(d)
        if "hidden" in d:
            d["hidden"] = tuple(d["hidden"])
        return cls(**d)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def load_graph(data: str | Path | Catalog | nx.MultiDiGraph) -> nx.MultiDiGraph:
    """A data path (any layout ``graph.adapters.load_path`` reads), a Catalog or a graph."""
    if isinstance(data, nx.MultiDiGraph):
        return data
    from graph.build import build_graph

    if isinstance(data, Catalog):
        return build_graph(data)
    from graph.adapters import load_path

    catalog = load_path(Path(data))
    if len(catalog.products) == 0:
        raise ValueError(f"{data}: no products found")
    return build_graph(catalog)


def catalog_table(g: nx.MultiDiGraph, fz: GraphFeaturizer | None = None) -> pd.DataFrame:
    """The graph's products as record rows (+ competitor prices, as the features see them)."""
    from graph.products import product_table

    pt = product_table(g)
    if pt["product_id"].duplicated().any():
        raise ValueError("duplicate product ids in the graph")
    pt = pt.rename(columns={"review_texts": "reviews"})
    comp: list[list[float]] = [[] for _ in range(len(pt))]
    if fz is not None:
        pos = {p: i for i, p in enumerate(pt["product_id"])}
        with_offers = {v for _, v, d in g.edges(data=True) if d.get("type") == "offers"}
        for nid in with_offers:
            pid = nid.partition(":")[2]
            if pid not in pos:
                continue
            ev = fz.competitor_evidence(g, pid)
            cur = ev["currency"]
            comp[pos[pid]] = [o["price"] for o in ev["offers"]
                              if (o["latest"] or fz.offers == "all")
                              and not (cur and o["currency"] and o["currency"] != cur)]
    pt["competitor_prices"] = comp
    return pt.reset_index(drop=True)


def data_hash(pt: pd.DataFrame) -> str:
    cols = ["product_id", "title", "description", "category_path", "brand", "price",
            "currency", "rating", "rating_count"]
    h = pd.util.hash_pandas_object(pt[cols].astype(str), index=False).to_numpy()
    return hashlib.sha256(h.tobytes()).hexdigest()


def _versions() -> dict:
    import sentence_transformers
    import sklearn
    import transformers

    return {"python": platform.python_version(), "torch": torch.__version__,
            "transformers": transformers.__version__,
            "sentence_transformers": sentence_transformers.__version__,
            "sklearn": sklearn.__version__, "numpy": np.__version__, "pandas": pd.__version__,
            "networkx": nx.__version__}


def _bands(cal: ConformalCalibrator, q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(p50, low, high) prices of log1p quantiles ``q`` with the calibrated interval, as the
    predictor serves them."""
    q = np.maximum(q, 0.0)  # log1p price: a price is never below 0
    lo, hi = cal.apply(q[:, 0], q[:, 2])
    lo, hi = np.clip(np.minimum(lo, q[:, 1]), 0.0, None), np.maximum(hi, q[:, 1])
    return np.expm1(q[:, 1]), np.expm1(lo), np.expm1(hi)


def calibrate(cfg: TrainConfig, y: np.ndarray, Q: np.ndarray, idx: dict,
              stacked: bool) -> ConformalCalibrator:
    """Split-conformal intervals on the held-out rows the final price never trained on: the
    calibration slice, or (stacked) every held-out row's out-of-fold price (cross-fitting)."""
    rows = np.concatenate([idx["val"], idx["calib"]]) if stacked else idx["calib"]
    return ConformalCalibrator(cfg.coverage).fit(y[rows], Q[rows, 0], Q[rows, 2])


def _eval(cal: ConformalCalibrator | None, q: np.ndarray, prices) -> dict:
    if cal is None:
        return price_metrics(prices, np.expm1(np.maximum(q[:, 1], 0.0)))
    return price_metrics(prices, *_bands(cal, q))


def _abstain_metrics(cal: ConformalCalibrator, thr: WidthThreshold, q: np.ndarray,
                     prices) -> dict:
    """Share of a slice the threshold abstains on, and the interval coverage of the rest."""
    p50, lo, hi = _bands(cal, q)
    wide = relative_widths(p50, lo, hi) > thr.threshold_
    kept = ~wide
    inside = (prices >= lo) & (prices <= hi)
    return {"n": int(len(prices)), "abstain_pct": float(wide.mean() * 100),
            "coverage_kept_pct": float(inside[kept].mean() * 100) if kept.any() else None,
            "coverage_abstained_pct": float(inside[wide].mean() * 100) if wide.any() else None}


def train(data: str | Path | Catalog | nx.MultiDiGraph, config: TrainConfig | None = None,
          out_dir: str | Path = "runs/model", *,
          log: Callable[[str], None] | None = print) -> Path:
    """Train on ``data`` and write the artifact folder ``out_dir``; returns its path."""
    cfg = config or TrainConfig()
    say = log or (lambda s: None)
    out = Path(out_dir)
    timings: dict[str, float] = {}
    t_all = t0 = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal t0
        now = time.perf_counter()
        timings[name] = round(now - t0, 2)
        t0 = now
        say(f"[{timings[name]:7.1f}s] {name}")

    threads = set_threads(cfg.threads)
    seed_everything(cfg.seed)
    cache = cfg.cache_dir

    # 1. data -> graph -> table -> split
    g = load_graph(data)
    lap("graph")
    pt = catalog_table(g)
    priced = pt["price"].notna() & (pt["price"] > 0)
    if priced.sum() < 20:
        raise ValueError(f"only {int(priced.sum())} priced products: too few to train on")
    split = make_split(pt.loc[priced, "product_id"], seed=cfg.seed, test_frac=cfg.test_frac,
                       val_frac=cfg.val_frac, calib_frac=cfg.calib_frac)
    say(f"products: {len(pt)} ({int(priced.sum())} priced), split {split.sizes()}")

    # 2. graph features (training prices only) and lexical features
    fz = GraphFeaturizer(min_count=cfg.graph_min_count).fit(g, split.train)
    pt = catalog_table(g, fz)
    frame = record_frame(pt)
    G = fz.transform(g, pt["product_id"].tolist())
    G.index = range(len(G))
    if not cfg.use_graph:
        G = G[[]]
    pos = {p: i for i, p in enumerate(pt["product_id"])}
    idx = {k: np.asarray([pos[p] for p in ids], dtype=np.int64)
           for k, ids in split.to_dict().items()}
    lap("graph features")
    lex = LexicalFeaturizer(word_features=cfg.word_features, char_features=cfg.char_features,
                            min_df=cfg.min_df).fit(frame.iloc[idx["train"]])
    Xs = lex.transform(frame)
    lap("lexical features")

    # 3. encoder: stage-1 fine-tune, then embed the catalog
    enc = TextEncoder(max_seq_length=cfg.max_seq_length,
                      review_max_seq_length=cfg.review_max_seq_length,
                      batch_size=cfg.encode_batch_size)
    texts = [product_text(r) for r in frame.to_dict("records")]
    y = np.log1p(pt["price"].to_numpy(dtype=np.float64))
    frozen_emb = None
    if not cfg.encoder_from and (cfg.compare_frozen or not cfg.fine_tune):
        frozen_emb = enc.encode(texts, progress=cfg.progress, cache_dir=cache)
        lap("encode catalog (frozen)")
    ft_summary = None
    if cfg.encoder_from:
        enc, text_emb, ft_summary = _reuse_encoder(Path(cfg.encoder_from), texts, cache,
                                                   cfg.progress)
        say(f"encoder reused from {cfg.encoder_from}: {ft_summary['encoded']} of "
            f"{len(texts)} texts encoded, the rest from its catalog embeddings")
        lap("encode catalog (reused encoder)")
    elif cfg.fine_tune:
        rng = np.random.default_rng(cfg.seed)
        tr = idx["train"]
        if cfg.ft_max_texts and len(tr) > cfg.ft_max_texts:
            tr = np.sort(rng.choice(tr, cfg.ft_max_texts, replace=False))
        va = idx["val"][:2000]
        ft_args = dict(val_texts=[texts[i] for i in va], val_y=y[va],
                       train_layers=cfg.ft_layers, epochs=cfg.ft_epochs,
                       batch_size=cfg.ft_batch_size, lr=cfg.ft_lr, seed=cfg.seed)
        ft_texts = [texts[i] for i in tr]
        ft_dir = _finetune_cache(cache, enc, ft_texts, y[tr], ft_args)
        if ft_dir is not None and (ft_dir / "fine_tune.json").exists():
            # Same base weights, texts, targets and settings: the fine-tune is deterministic,
            # so reuse it (ablation runs share one encoder).
            enc = TextEncoder.load(ft_dir)
            ft_summary = json.loads((ft_dir / "fine_tune.json").read_text(encoding="utf-8"))
            say(f"fine-tuned encoder reused from {ft_dir}")
        else:
            ft_summary = enc.fine_tune(ft_texts, y[tr], progress=cfg.progress, log=say, **ft_args)
            if ft_dir is not None:
                enc.save(ft_dir)
                (ft_dir / "fine_tune.json").write_text(json.dumps(ft_summary), encoding="utf-8")
        lap("fine-tune encoder")
        text_emb = enc.encode(texts, progress=cfg.progress, cache_dir=cache)
        lap("encode catalog")
    else:
        text_emb = frozen_emb
    if cfg.use_reviews:
        rev_emb, has_rev = enc.encode_reviews(frame["reviews"].tolist(), progress=cfg.progress,
                                              cache_dir=cache)
    else:
        rev_emb = np.zeros_like(text_emb)
        has_rev = np.zeros(len(text_emb), np.float32)
    lap("encode reviews")

    # The artifact stores embeddings as float16; train on exactly those values so a reloaded
    # model reproduces the training-time predictions bit for bit.
    text_emb = text_emb.astype(np.float16).astype(np.float32)
    rev_emb = rev_emb.astype(np.float16).astype(np.float32)
    if frozen_emb is not None:
        frozen_emb = frozen_emb.astype(np.float16).astype(np.float32)

    # 4. head, calibration, evaluation
    Xd, dense_names = dense_features(text_emb, rev_emb, has_rev, G, frame)
    prices = pt["price"].to_numpy(dtype=np.float64)

    scale = [cfg.embedding_scale if n.startswith(("text_", "review_")) else 1.0
             for n in dense_names]

    def fit_head(Xd_: np.ndarray) -> PriceHead:
        return PriceHead(hidden=cfg.hidden, point_loss=cfg.point_loss, lr=cfg.head_lr,
                         batch_size=cfg.head_batch_size, max_batch_size=cfg.head_max_batch_size,
                         max_epochs=cfg.head_max_epochs, patience=cfg.head_patience,
                         n_models=cfg.head_models, dense_scale=scale, seed=cfg.seed).fit(
            Xs[idx["train"]], Xd_[idx["train"]], y[idx["train"]],
            Xs[idx["val"]], Xd_[idx["val"]], y[idx["val"]], progress=cfg.progress, log=say)

    head = fit_head(Xd)
    lap("train head")
    # Log1p quantiles of every held-out row, as the saved model will price them: the head's,
    # or (stacked) the head's interval around the stacker's out-of-fold / fold-mean price.
    Q = np.full((len(pt), 3), np.nan)
    scored = [part for part in ("val", "calib", "test") if len(idx[part])]
    for part in scored:
        Q[idx[part]] = head.predict(Xs[idx[part]], Xd[idx[part]])
    held = np.concatenate([idx["val"], idx["calib"]])
    head_Q = Q.copy()  # the head alone, for the comparison in the metrics
    stack, te_enc, stack_meta = None, None, {"used": False}
    if cfg.stack and len(held) >= cfg.stack_min_rows:
        stack, te_enc, stack_meta = _fit_stack(cfg, threads, idx, held, Q, Xs, Xd, dense_names,
                                               lex, text_emb, frame, pt, y, say)
        lap("stack (neighbour prices, target encoding, trees)")
    elif cfg.stack:
        stack_meta["reason"] = (f"{len(held)} held-out products, fewer than stack_min_rows="
                                f"{cfg.stack_min_rows}: the head's price is served as is")
        say(f"stack skipped: {stack_meta['reason']}")
    cal = calibrate(cfg, y, Q, idx, stacked=stack is not None)
    thr = WidthThreshold(cfg.abstain_quantile, cfg.abstain_floor).fit(
        *_bands(cal, Q[idx["calib"]]))
    # Without a test slice (--all) the validation slice is the only held-out score.
    scored = [part for part in ("val", "test") if len(idx[part])]
    metrics = {part: _eval(cal, Q[idx[part]], prices[idx[part]]) for part in scored}
    last = scored[-1]
    if stack is not None:
        metrics[f"{last}_head_only"] = _eval(None, head_Q[idx[last]], prices[idx[last]])
        say(f"{last} (head alone): {_fmt(metrics[f'{last}_head_only'])}")
    say(f"{last}: {_fmt(metrics[last])}")
    metrics["abstain"] = {part: _abstain_metrics(cal, thr, Q[idx[part]], prices[idx[part]])
                          for part in scored}
    say(f"abstain above {thr.threshold_:.0%} relative width: "
        f"{metrics['abstain'][last]['abstain_pct']:.1f}% of {last}")
    by_source = {}
    src = pt["source"].fillna("").astype(str).str.split("/").str[0].to_numpy()
    for s in sorted(set(src[idx["test"]])):
        sel = idx["test"][src[idx["test"]] == s]
        if len(sel) >= 20:
            by_source[s] = _eval(cal, Q[sel], prices[sel])
    metrics["test_by_source"] = by_source
    if frozen_emb is not None and cfg.fine_tune and not cfg.encoder_from and len(idx["test"]):
        Xd_f, _ = dense_features(frozen_emb, rev_emb, has_rev, G, frame)
        head_f = fit_head(Xd_f)
        metrics["test_frozen_encoder"] = _eval(None, head_f.predict(Xs[idx["test"]],
                                                                    Xd_f[idx["test"]]),
                                               prices[idx["test"]])
        say(f"test with the frozen encoder instead (head alone): "
            f"{_fmt(metrics['test_frozen_encoder'])}")
        lap("frozen-encoder comparison")

    # 5. artifact: the predictor owns its format (Predictor.save writes what load reads)
    snap = pt[["product_id", "title", "description", "category_path", "brand", "currency",
               "price", "rating", "rating_count", "reviews", "competitor_prices",
               "source"]].copy()
    for c in ("title", "description", "category_path", "brand", "currency", "source"):
        snap[c] = [None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)
                   for v in snap[c].tolist()]
    snap["brand_inferred"] = pt["brand_inferred"].astype(object)
    snap["split"] = None
    for part, ids in idx.items():
        snap.loc[ids, "split"] = part
    created = pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds")
    dhash = data_hash(pt)
    meta = {
        "format": "pricing-model", "version": 1,
        "model_version": f"{created[:10].replace('-', '')}-{dhash[:8]}-" + hashlib.sha1(
            json.dumps(cfg.to_dict(), sort_keys=True).encode()).hexdigest()[:6],
        "created_at": created,
        "data": {"source": str(data) if isinstance(data, (str, Path)) else type(data).__name__,
                 "hash": dhash, "n_products": int(len(pt)),
                 "n_priced": int(priced.sum()),
                 "currencies": pt["currency"].value_counts(dropna=False).to_dict()},
        "split": {"seed": cfg.seed, "test_frac": cfg.test_frac, "val_frac": cfg.val_frac,
                  "calib_frac": cfg.calib_frac, "sizes": split.sizes(), "ids": "split.json"},
        "target": "log1p(price)",
        "config": cfg.to_dict(),
        "encoder_fine_tune": ft_summary,
        "training": _training_note(cfg, split.sizes()),
        "calibration": cal.to_dict() | {"method": (
            "split-conformal CQR on the stacker's out-of-fold prices of every held-out "
            "product (validation + calibration slices; cross-fitting)" if stack is not None
            else "split-conformal CQR on the held-out calibration slice")},
        "stack": stack_meta,
        "abstain": thr.to_dict(),
        "dense_features": dense_names,
        "lexical_blocks": lex.blocks_,
        "metrics": metrics,
        "timings_s": timings,
        "threads": threads,
        "versions": _versions(),
    }
    rev_map = ({int(r): rev_emb[r] for r in np.flatnonzero(has_rev > 0)} if cfg.use_reviews else None)
    predictor = Predictor(encoder=enc, head=head, lexical=lex, graph_features=fz, calibrator=cal,
                          metadata=meta, catalog=snap, catalog_embeddings=text_emb.astype(np.float32),
                          catalog_review_embeddings=rev_map, stack=stack, target_encoder=te_enc)
    predictor.save(out, graph=g if cfg.save_graph else None, split=split.to_dict())
    lap("save artifact")
    timings["total"] = round(time.perf_counter() - t_all, 2)
    predictor.write_metadata(out)  # with the total time, now known
    say(f"wrote {out} in {timings['total']:.0f}s")
    return out


def _fit_stack(cfg: TrainConfig, threads: int, idx: dict, held: np.ndarray, Q: np.ndarray,
               Xs, Xd: np.ndarray, dense_names: list[str], lex: LexicalFeaturizer,
               text_emb: np.ndarray, frame: pd.DataFrame, pt: pd.DataFrame, y: np.ndarray,
               say: Callable[[str], None]) -> tuple[PriceStack, KeyTargetEncoder | None, dict]:
    """Fit the stacker on the held-out rows (models.price_stack); fills ``Q`` in place with
    the final quantiles of the held-out (out-of-fold) and test rows."""
    settings = {"used": True, "k": cfg.neighbours_k, "max_df": cfg.neighbours_max_df,
                "emb_neighbours": cfg.stack_emb_neighbours,
                "tfidf_neighbours": cfg.stack_tfidf_neighbours,
                "target_encoding": cfg.stack_target_encoding,
                "trained_on": f"{len(held)} held-out products (validation + calibration), "
                              f"{cfg.stack_folds} folds"}
    tr = idx["train"]
    ids = pt["product_id"].astype(str).tolist()
    cur = frame["currency"].tolist()
    tf = tfidf_view(lex, Xs)
    refs = neighbour_references(settings, text_emb[tr], tf[tr], y[tr], [cur[i] for i in tr],
                                [ids[i] for i in tr])
    te_enc = (KeyTargetEncoder(seed=cfg.seed).fit(frame.iloc[tr], y[tr])
              if cfg.stack_target_encoding else None)

    def features(rows: np.ndarray) -> pd.DataFrame:
        frames = neighbour_frames(refs, text_emb[rows], tf[rows], [cur[i] for i in rows],
                                  [ids[i] for i in rows])
        te = te_enc.transform(frame.iloc[rows]) if te_enc is not None else None
        return stack_features(Q[rows], Xd[rows], dense_names, frames, te)

    stack = PriceStack(n_folds=cfg.stack_folds, seed=cfg.seed, threads=threads).fit(
        features(held), y[held])
    Q[held] = shift_quantiles(Q[held], stack.oof_)
    if len(idx["test"]):
        Q[idx["test"]] = shift_quantiles(Q[idx["test"]], stack.predict(features(idx["test"])))
    settings |= {"rounds": stack.rounds_, "oof_rmsle": float(np.sqrt(np.mean(
        (stack.oof_ - y[held]) ** 2))), "importance_top": dict(
        list(stack.importance().items())[:12])}
    say(f"stack: {len(stack.feature_names_)} features, out-of-fold RMSLE "
        f"{settings['oof_rmsle']:.4f} on {len(held)} held-out products")
    return stack, te_enc, settings


def _training_note(cfg: TrainConfig, sizes: dict[str, int]) -> dict:
    """What the model was trained on and how its intervals were calibrated, in words."""
    if cfg.mode == "all":
        what = ("production (--all): every priced product except the calibration and "
                "early-stopping slices; no test slice, so no held-out accuracy beyond "
                "the validation slice")
    else:
        what = "benchmark: the fixed train/val/calib/test split (models.split), test held out"
    return {"mode": cfg.mode, "description": what, "sizes": sizes,
            "interval_calibration": f"held-out calibration slice ({sizes['calib']} products, "
                                    "not trained on)",
            "early_stopping": f"validation slice ({sizes['val']} products)"}


def evaluate(artifact: str | Path, data: str | Path | Catalog | nx.MultiDiGraph,
             part: str | None = None) -> dict:
    """Score the priced products of ``data`` with a saved model.

    ``part`` ("test", "val", "calib", "train") keeps only that slice of the model's own
    split (by id); None scores every priced product given. Returns price_metrics + n_in_catalog.
    """

    pred = Predictor.load(artifact)
    g = load_graph(data)
    pt = catalog_table(g, pred.graph_features)
    pt = pt[pt["price"].notna() & (pt["price"] > 0)]
    if part is not None:
        ids = set(json.loads((Path(artifact) / "split.json").read_text())[part])
        pt = pt[pt["product_id"].isin(ids)]
    if len(pt) == 0:
        raise ValueError("no priced products to evaluate")
    recs = pt.drop(columns=["price"]).to_dict("records")
    res = pred.predict(recs)
    m = price_metrics(pt["price"].to_numpy(), [r.p50 for r in res], [r.low for r in res],
                      [r.high for r in res])
    m["n_in_catalog"] = int(sum(r.in_catalog for r in res))
    m["nominal_coverage"] = pred.calibrator.coverage * 100
    return m


def _fmt(m: dict) -> str:
    parts = [f"rmsle={m['rmsle']:.4f}", f"within_20={m['within_20']:.1f}%",
             f"mdape={m['mdape']:.1f}%"]
    if m.get("coverage") is not None:
        parts.append(f"coverage={m['coverage']:.1f}%")
    return ", ".join(parts) + f" (n={m['n']})"


def _reuse_encoder(artifact: Path, texts: list[str], cache_dir: str | None, progress: bool
                   ) -> tuple[TextEncoder, np.ndarray, dict]:
    """The encoder of ``artifact`` and the embeddings of ``texts``: rows whose text the
    artifact's catalog holds are copied from its stored embeddings (float16, as training uses
    them), the others encoded (through the embedding cache)."""
    from models.predictor import CATALOG, CATALOG_EMB, ENCODER_DIR

    enc = TextEncoder.load(artifact / ENCODER_DIR)
    known: dict[str, int] = {}
    if (artifact / CATALOG).exists() and (artifact / CATALOG_EMB).exists():
        old = pd.read_parquet(artifact / CATALOG)
        for j, t in enumerate(product_text(r) for r in old.to_dict("records")):
            known.setdefault(t, j)
        old_emb = np.load(artifact / CATALOG_EMB).astype(np.float32)
    out = np.zeros((len(texts), enc.dim_), np.float32)
    missing = []
    for i, t in enumerate(texts):
        j = known.get(t)
        if j is None:
            missing.append(i)
        else:
            out[i] = old_emb[j]
    if missing:
        out[missing] = enc.encode([texts[i] for i in missing], progress=progress,
                                  cache_dir=cache_dir)
    return enc, out, {"reused_from": str(artifact), "encoded": len(missing),
                      "reused": len(texts) - len(missing)}


def _finetune_cache(cache_dir: str | None, enc: TextEncoder, texts: list[str], y: np.ndarray,
                    args: dict) -> Path | None:
    """Cache folder of a fine-tuned encoder, keyed by everything the fine-tune depends on."""
    if not cache_dir:
        return None
    h = hashlib.sha256(f"{enc.fingerprint()}|{enc.max_seq_length}|".encode())
    h.update(json.dumps({k: v for k, v in args.items() if k not in ("val_texts", "val_y")},
                        sort_keys=True).encode())
    for t in [*texts, "\x01", *args["val_texts"]]:
        h.update(t.encode("utf-8", "replace") + b"\x00")
    h.update(np.ascontiguousarray(y, np.float64).tobytes())
    h.update(np.ascontiguousarray(args["val_y"], np.float64).tobytes())
    return Path(cache_dir) / f"finetuned-{h.hexdigest()[:24]}"

