"""Leakage-free knowledge-graph features for price models, and price evidence look-ups.

Use::

    from graph.features import GraphFeaturizer
    fz = GraphFeaturizer(min_count=3).fit(g, train_ids)   # g: graph.build.build_graph(...)
    X = fz.transform(g, ids)                   # DataFrame, index product_id, fz.feature_names_
    X_new = fz.transform_records([{"category_path": "Toys > Puzzles", "brand": "Ravensburger"}])
    fz.competitor_evidence(g, "B07X", own_price=499.0)    # for the pricing service, not the model
    fz.category_stats("Toys > Puzzles"); fz.brand_stats("Ravensburger")
    fz.save("runs/features"); fz = GraphFeaturizer.load("runs/features")

``fit`` learns only from the prices of the TRAINING products. Every statistic is computed
leave-one-out: a training product's own price never enters its own features, whichever group
(category level, brand, neighbours) it is in, so a model trained on these features cannot read
its target back. Products outside ``train_ids`` see all training prices. Quantiles are numpy's
default ("linear"); leave-one-out quantiles are exact and vectorised (index arithmetic on each
group's sorted prices, see :func:`group_quantiles`).

Groups are kept apart by currency (a brand sold in INR and GBP has two price groups). A product
or record without a currency takes the dominant currency of its deepest known category level,
else of its brand, else the most common training currency.

Features (columns of ``transform``, in this order; NaN where missing, counts are 0 then):

- ``cat_median``, ``cat_p25``, ``cat_p75``, ``cat_count``: training prices of the product's
  category path, backed off from the leaf towards the root to the deepest level that has at
  least ``min_count`` prices (depth 0 is the whole catalog in that currency).
- ``cat_depth``: depth of that level (0 = catalog-wide, 1 = root category; -1 = none qualified);
  ``cat_backoff``: how many levels above the leaf it is (leaf depth - cat_depth).
- ``cat_median_d1``, ``cat_median_d2``, ``cat_median_d3``: median at depth 1, 2, 3 of the path
  (NaN when the path is shallower or the level has fewer than ``min_count`` prices).
- ``brand_median``, ``brand_count``: prices of the same brand (median NaN below ``min_count``).
- ``comp_min``, ``comp_median``, ``comp_max``, ``comp_count``: competitor offers in the graph for
  this product (``offers`` edges): other sellers' prices, never the product's own. With
  ``offers="latest"`` only each competitor's most recent offer counts; offers in a currency other
  than the product's are left out, and so are stale offers (below).
- ``nb_median``, ``nb_count``: nearest graph neighbours, the training products sharing the leaf
  category AND the brand (median from one neighbour up: this is the narrowest, most specific
  group and the count says how far to trust it).

Offer age: an offer observed more than ``max_offer_age_days`` days before today (or
``as_of``) is *stale*: ``competitor_evidence`` still lists it, with ``age_days`` and
``stale: true``, but it stops counting in the statistics and in the ``comp_*`` features. The
default age comes from ``$PRICING_OFFER_MAX_AGE_DAYS`` (unset: no offer goes stale). Undated
offers never go stale (their age is unknown).

The product's own price relative to its competitors is NOT a feature (it would leak the target);
:meth:`GraphFeaturizer.competitor_evidence` returns it as ``price_index`` for the service.
"""
from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd

from graph.contracts import CATEGORY_SEPARATOR
from graph.products import gc_paused
from graph.schema import EdgeType, NodeType, normalize_name

FEATURE_NAMES: list[str] = [
    "cat_median", "cat_p25", "cat_p75", "cat_count", "cat_depth", "cat_backoff",
    "cat_median_d1", "cat_median_d2", "cat_median_d3",
    "brand_median", "brand_count",
    "comp_min", "comp_median", "comp_max", "comp_count",
    "nb_median", "nb_count",
]
FORMAT = "graph-featurizer"
FORMAT_VERSION = 1
CONFIG_FILE = "featurizer.json"
ARRAYS_FILE = "featurizer_arrays.npz"

_SEP = "\x1f"  # cannot occur in category paths or brand names typed by people
_PRODUCT_PREFIX = f"{NodeType.PRODUCT.value}:"
_BRAND_PREFIX = f"{NodeType.BRAND.value}:"
_OFFERS = EdgeType.OFFERS.value
_IN_CATEGORY = EdgeType.IN_CATEGORY.value
_MADE_BY = EdgeType.MADE_BY.value


class NotFittedError(ValueError, AttributeError):
    """Raised when a featurizer is used before ``fit`` (same bases as scikit-learn's)."""


def group_quantiles(values: np.ndarray, offsets: np.ndarray, codes: np.ndarray,
                    ranks: np.ndarray, qs: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Quantiles of many groups at once, each optionally with one element left out.

    ``values`` holds every group's values, sorted ascending within each group; group ``c``
    is ``values[offsets[c]:offsets[c + 1]]``. For query ``i`` the group is ``codes[i]`` (-1: no
    group) and ``ranks[i]`` is the position inside that group of the element to leave out
    (-1: none). Leaving out position ``r`` of a sorted array shifts every index ``j >= r`` of the
    remaining array up by one, so quantile positions map back by index arithmetic. Returns
    ``(counts, out)``: the number of values each query sees and ``out[k, i]``, quantile
    ``qs[k]`` with numpy's "linear" method (bit-for-bit its interpolation), NaN for no values.
    """
    codes = np.asarray(codes, dtype=np.int64)
    ranks = np.asarray(ranks, dtype=np.int64)
    valid = codes >= 0
    c = np.where(valid, codes, 0)
    start = offsets[c] if len(offsets) > 1 else np.zeros_like(c)
    n = (offsets[c + 1] - start) if len(offsets) > 1 else np.zeros_like(c)
    drop = valid & (ranks >= 0)
    m = np.where(valid, n - drop, 0)
    out = np.full((len(qs),) + codes.shape, np.nan)
    has = m > 0
    if not has.any():
        return m, out
    mm = np.maximum(m, 1)
    for k, q in enumerate(qs):
        pos = (mm - 1) * float(q)
        lo = np.floor(pos).astype(np.int64)
        frac = pos - lo
        hi = np.minimum(lo + 1, mm - 1)
        lo_i = start + lo + (drop & (lo >= ranks))
        hi_i = start + hi + (drop & (hi >= ranks))
        a = values[np.where(has, lo_i, 0)]
        b = values[np.where(has, hi_i, 0)]
        diff = b - a
        # numpy's _lerp: interpolate from the nearer end for a monotone, exact result.
        v = np.where(frac >= 0.5, b - diff * (1 - frac), a + diff * frac)
        out[k] = np.where(has, v, np.nan)
    return m, out


@lru_cache(maxsize=1 << 16)
def _norm_path(path: str) -> str | None:
    parts = [p.strip() for p in path.split(">")]
    parts = [p for p in parts if p]
    return CATEGORY_SEPARATOR.join(parts) if parts else None


@lru_cache(maxsize=1 << 16)
def _prefixes(path: str) -> tuple[str, ...]:
    parts = path.split(CATEGORY_SEPARATOR)
    return tuple(CATEGORY_SEPARATOR.join(parts[:i]) for i in range(1, len(parts) + 1))


def _clean(x: object) -> str | None:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return None
    s = str(x).strip()
    return s or None


def _path_of(x: object) -> str | None:
    s = _clean(x)
    return _norm_path(s) if s is not None else None


def _brand_of(x: object) -> str | None:
    s = _clean(x)
    return (normalize_name(s) or None) if s is not None else None


def _cur_of(x: object) -> str | None:
    s = _clean(x)
    return s.upper() if s is not None else None


def _cat_key(cur: str, path: str) -> str:
    return f"c{_SEP}{cur}{_SEP}{path}"


def _brand_key(cur: str, brand: str) -> str:
    return f"b{_SEP}{cur}{_SEP}{brand}"


def _nb_key(cur: str, path: str, brand: str) -> str:
    return f"n{_SEP}{cur}{_SEP}{path}{_SEP}{brand}"


def _node_of(pid: str) -> str:
    return pid if pid.startswith(_PRODUCT_PREFIX) else _PRODUCT_PREFIX + pid


def _none(x: float) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


class GraphFeaturizer:
    """Category, brand, competitor and neighbour price features from a product graph.

    Parameters
    ----------
    min_count:
        fewest training prices a category level or brand needs before its statistics are used
        (the category backs off to its parent below that).
    offers:
        ``"latest"`` (each competitor's most recent offer) or ``"all"`` (every dated offer) for
        the competitor features and evidence statistics.
    """

    def __init__(self, min_count: int = 3, offers: str = "latest") -> None:
        self.min_count = min_count
        self.offers = offers

    def get_params(self, deep: bool = True) -> dict:
        return {"min_count": self.min_count, "offers": self.offers}

    def set_params(self, **params) -> GraphFeaturizer:
        for k, v in params.items():
            if k not in ("min_count", "offers"):
                raise ValueError(f"unknown parameter {k!r}")
            setattr(self, k, v)
        return self

    # ------------------------------------------------------------------ fit
    def fit(self, g: nx.MultiDiGraph, train_ids: Iterable[str]) -> GraphFeaturizer:
        """Learn group price arrays from the priced products among ``train_ids``."""
        if not isinstance(self.min_count, (int, np.integer)) or self.min_count < 1:
            raise ValueError(f"min_count must be an integer >= 1, got {self.min_count!r}")
        if self.offers not in ("latest", "all"):
            raise ValueError(f"offers must be 'latest' or 'all', got {self.offers!r}")
        ids = [_strip(str(i)) for i in train_ids]
        dup = [i for i, n in Counter(ids).items() if n > 1]
        if dup:
            raise ValueError(f"train_ids has duplicates, e.g. {dup[:5]}")
        with gc_paused():
            return self._fit(ids, _graph_facts(g, ids, with_offers=False))

    def _fit(self, ids: list[str], facts: list[tuple]) -> GraphFeaturizer:
        price = np.array([f[3] for f in facts], dtype=np.float64)
        priced = np.isfinite(price) & (price > 0)
        curs = Counter(f[0] for f, ok in zip(facts, priced) if ok and f[0])
        default = curs.most_common(1)[0][0] if curs else None
        if default is None and priced.any():
            default = "XXX"  # ISO 4217 "no currency": every price is in one unnamed currency

        kept: list[str] = []
        mem_p: list[int] = []
        mem_key: list[str] = []
        mem_price: list[float] = []
        for pid, (cur, path, brand, _, _), p, ok in zip(ids, facts, price, priced):
            if not ok:
                continue
            cur = cur or default
            idx = len(kept)
            kept.append(pid)
            keys = [_cat_key(cur, "")]
            if path:
                keys.extend(_cat_key(cur, pre) for pre in _prefixes(path))
            if brand:
                keys.append(_brand_key(cur, brand))
                if path:
                    keys.append(_nb_key(cur, path, brand))
            mem_p.extend([idx] * len(keys))
            mem_key.extend(keys)
            mem_price.extend([p] * len(keys))

        codes, uniques = pd.factorize(pd.Index(mem_key, dtype=object)) if mem_key else (
            np.zeros(0, dtype=np.int64), pd.Index([], dtype=object))
        codes = np.asarray(codes, dtype=np.int64)
        n_groups = len(uniques)
        mp = np.asarray(mem_price, dtype=np.float64)
        order = np.lexsort((mp, codes))
        offsets = np.zeros(n_groups + 1, dtype=np.int64)
        np.cumsum(np.bincount(codes, minlength=n_groups), out=offsets[1:])
        rank = np.empty(len(codes), dtype=np.int64)
        rank[order] = np.arange(len(codes)) - offsets[codes[order]]
        # (product, group) -> rank of the product's price inside the group, as a sorted int key.
        key = np.asarray(mem_p, dtype=np.int64) * max(n_groups, 1) + codes
        korder = np.argsort(key, kind="stable")

        self.train_ids_ = kept
        self.groups_ = [str(u) for u in uniques]
        self.offsets_ = offsets
        self.prices_ = mp[order]
        self.member_key_ = key[korder]
        self.member_rank_ = rank[korder]
        self.default_currency_ = default
        self.n_train_unpriced_ = int((~priced).sum())
        self.feature_names_ = list(FEATURE_NAMES)
        self._index()
        return self

    def _index(self) -> None:
        """Derived look-ups (rebuilt on load, never saved)."""
        self._code = {k: i for i, k in enumerate(self.groups_)}
        self._train_pos = {pid: i for i, pid in enumerate(self.train_ids_)}
        sizes = np.diff(self.offsets_)
        best_path: dict[str, tuple[int, str]] = {}
        best_brand: dict[str, tuple[int, str]] = {}
        for k, n in zip(self.groups_, sizes.tolist()):
            kind, cur, rest = k.split(_SEP, 2)
            table = best_path if kind == "c" else best_brand if kind == "b" else None
            if table is not None and rest and n > table.get(rest, (0, ""))[0]:
                table[rest] = (n, cur)
        self._path_currency = {k: v[1] for k, v in best_path.items()}
        self._brand_currency = {k: v[1] for k, v in best_brand.items()}

    def _check_fitted(self) -> None:
        if not hasattr(self, "groups_"):
            raise NotFittedError("GraphFeaturizer is not fitted: call fit(g, train_ids) first")

    # ------------------------------------------------------------ transform
    def transform(self, g: nx.MultiDiGraph, product_ids: Iterable[str]) -> pd.DataFrame:
        """Features of products in ``g`` (catalog ids, or node ids ``product:<id>``)."""
        self._check_fitted()
        ids = [str(i) for i in product_ids]
        facts = _graph_facts(g, ids, with_offers=True, latest=self.offers == "latest",
                             max_age=offer_max_age_days())
        rows = [(self._train_pos.get(_strip(pid), -1), cur, path, brand, offers)
                for pid, (cur, path, brand, _, offers) in zip(ids, facts)]
        return self._frame(rows, pd.Index(ids, name="product_id"))

    def transform_records(self, records: Sequence[Mapping]) -> pd.DataFrame:
        """Features of products described by dicts (not necessarily in the graph).

        Keys: ``category_path``, ``brand`` (display name), optional ``product_id`` (a training
        product's own price is then left out, as in :meth:`transform`), ``currency`` and
        ``competitor_prices`` (list of other sellers' prices). Index: product_id (None if absent).
        """
        self._check_fitted()
        rows = []
        index = []
        for i, r in enumerate(records):
            if not isinstance(r, Mapping):
                raise TypeError(f"record {i}: expected a dict, got {type(r).__name__}")
            pid = _clean(r.get("product_id"))
            pid = _strip(pid) if pid else None
            prices = r.get("competitor_prices") or []
            try:
                offers = [float(x) for x in prices]
            except (TypeError, ValueError):
                raise ValueError(f"record {i}: competitor_prices must be numbers, "
                                 f"got {prices!r}") from None
            if any(not (np.isfinite(x) and x > 0) for x in offers):
                raise ValueError(f"record {i}: competitor_prices must be positive, got {offers}")
            rows.append((self._train_pos.get(pid, -1) if pid else -1, _cur_of(r.get("currency")),
                         _path_of(r.get("category_path")), _brand_of(r.get("brand")), offers))
            index.append(pid)
        return self._frame(rows, pd.Index(index, name="product_id", dtype=object))

    def currency_for(self, category_path: str | None, brand: str | None = None) -> str | None:
        """The currency a product without one is priced in: its category's (deepest level
        known), else its brand's, else the training data's most common one."""
        return self._currency(None, _path_of(category_path), _brand_of(brand))

    def _currency(self, cur: str | None, path: str | None, brand: str | None) -> str | None:
        if cur:
            return cur
        if path:
            for pre in reversed(_prefixes(path)):
                if pre in self._path_currency:
                    return self._path_currency[pre]
        if brand and brand in self._brand_currency:
            return self._brand_currency[brand]
        return self.default_currency_

    def _ranks(self, p: np.ndarray, codes: np.ndarray) -> np.ndarray:
        """Rank of product ``p``'s own price inside group ``codes`` (-1: not a member)."""
        n_groups = max(len(self.groups_), 1)
        key = p * n_groups + codes
        member = (p >= 0) & (codes >= 0)
        if not len(self.member_key_):
            return np.full(codes.shape, -1, dtype=np.int64)
        idx = np.minimum(np.searchsorted(self.member_key_, key), len(self.member_key_) - 1)
        found = member & (self.member_key_[idx] == key)
        return np.where(found, self.member_rank_[idx], -1)

    def _stats(self, codes: np.ndarray, p: np.ndarray, qs: Sequence[float]):
        return group_quantiles(self.prices_, self.offsets_, codes, self._ranks(p, codes), qs)

    def _frame(self, rows: list[tuple], index: pd.Index) -> pd.DataFrame:
        q = len(rows)
        depth_cap = 3
        for _, _, path, _, _ in rows:
            if path:
                depth_cap = max(depth_cap, len(_prefixes(path)))
        cat = np.full((q, depth_cap + 1), -1, dtype=np.int64)
        brand_c = np.full(q, -1, dtype=np.int64)
        nb_c = np.full(q, -1, dtype=np.int64)
        leaf = np.zeros(q, dtype=np.int64)
        p = np.fromiter((r[0] for r in rows), dtype=np.int64, count=q)
        off_idx: list[int] = []
        off_val: list[float] = []
        code = self._code.get
        for i, (_, cur, path, brand, offers) in enumerate(rows):
            if offers:
                off_idx.extend([i] * len(offers))
                off_val.extend(offers)
            cur = self._currency(cur, path, brand)
            if cur is None:
                continue
            cat[i, 0] = code(_cat_key(cur, ""), -1)
            if path:
                pres = _prefixes(path)
                leaf[i] = len(pres)
                for d, pre in enumerate(pres, 1):
                    cat[i, d] = code(_cat_key(cur, pre), -1)
                if brand:
                    nb_c[i] = code(_nb_key(cur, path, brand), -1)
            if brand:
                brand_c[i] = code(_brand_key(cur, brand), -1)

        f: dict[str, np.ndarray] = {}
        pp = np.repeat(p, cat.shape[1])
        counts, _ = self._stats(cat.ravel(), pp, ())
        counts = counts.reshape(cat.shape)
        ok = counts >= self.min_count
        level = np.where(ok, np.arange(cat.shape[1]), -1).max(axis=1)
        chosen = np.where(level >= 0, cat[np.arange(q), np.maximum(level, 0)], -1)
        m, (med, p25, p75) = self._stats(chosen, p, (0.5, 0.25, 0.75))
        f["cat_median"], f["cat_p25"], f["cat_p75"] = med, p25, p75
        f["cat_count"] = m.astype(np.float64)
        f["cat_depth"] = level.astype(np.float64)
        f["cat_backoff"] = (leaf - level).astype(np.float64)
        for d in (1, 2, 3):
            m, (med,) = self._stats(cat[:, d], p, (0.5,))
            f[f"cat_median_d{d}"] = np.where(m >= self.min_count, med, np.nan)
        m, (med,) = self._stats(brand_c, p, (0.5,))
        f["brand_median"] = np.where(m >= self.min_count, med, np.nan)
        f["brand_count"] = m.astype(np.float64)

        # Competitor prices: one group per query, sorted, no element left out.
        oi = np.asarray(off_idx, dtype=np.int64)
        ov = np.asarray(off_val, dtype=np.float64)
        order = np.lexsort((ov, oi))
        offsets = np.zeros(q + 1, dtype=np.int64)
        np.cumsum(np.bincount(oi, minlength=q), out=offsets[1:])
        has = np.diff(offsets) > 0
        m, (lo, med, hi) = group_quantiles(ov[order], offsets, np.where(has, np.arange(q), -1),
                                           np.full(q, -1), (0.0, 0.5, 1.0))
        f["comp_min"], f["comp_median"], f["comp_max"] = lo, med, hi
        f["comp_count"] = m.astype(np.float64)

        m, (med,) = self._stats(nb_c, p, (0.5,))
        f["nb_median"] = med
        f["nb_count"] = m.astype(np.float64)
        return pd.DataFrame({k: f[k] for k in self.feature_names_}, index=index)

    # ------------------------------------------------------------- evidence
    def category_stats(self, path: str | None, currency: str | None = None,
                       exclude_product_id: str | None = None) -> dict:
        """Price statistics of a category path after back-off, for evidence.

        Returns path, level_path (the level used), depth, backed_off, median, p25, p75, n,
        currency (None for what is missing). ``exclude_product_id`` leaves that training
        product's own price out.
        """
        self._check_fitted()
        norm = _path_of(path)
        cur = self._currency(_cur_of(currency), norm, None)
        levels = [""] + (list(_prefixes(norm)) if norm else [])
        codes = np.array([self._code.get(_cat_key(cur, lv), -1) if cur else -1 for lv in levels])
        p = np.full(len(codes), self._train_pos.get(exclude_product_id, -1) if
                    exclude_product_id else -1, dtype=np.int64)
        m, (med, p25, p75) = self._stats(codes, p, (0.5, 0.25, 0.75))
        ok = np.flatnonzero(m >= self.min_count)
        out = {"path": norm, "currency": cur, "level_path": None, "depth": None,
               "backed_off": None, "median": None, "p25": None, "p75": None, "n": 0}
        if len(ok):
            d = int(ok[-1])
            out.update(level_path=levels[d] or None, depth=d, backed_off=d < len(levels) - 1,
                       median=_none(med[d]), p25=_none(p25[d]), p75=_none(p75[d]), n=int(m[d]))
        return out

    def brand_stats(self, brand: str | None, currency: str | None = None,
                    exclude_product_id: str | None = None) -> dict:
        """Price statistics of a brand: brand, level ("brand"), median, p25, p75, n, currency.

        The quantiles are None when the brand has fewer than ``min_count`` training prices.
        """
        self._check_fitted()
        key = _brand_of(brand)
        cur = self._currency(_cur_of(currency), None, key)
        code = self._code.get(_brand_key(cur, key), -1) if key and cur else -1
        p = self._train_pos.get(exclude_product_id, -1) if exclude_product_id else -1
        m, (med, p25, p75) = self._stats(np.array([code]), np.array([p]), (0.5, 0.25, 0.75))
        n = int(m[0])
        enough = n >= self.min_count
        return {"brand": _clean(brand), "level": "brand", "currency": cur, "n": n,
                "median": _none(med[0]) if enough else None,
                "p25": _none(p25[0]) if enough else None,
                "p75": _none(p75[0]) if enough else None}

    def competitor_evidence(self, g: nx.MultiDiGraph, product_id: str,
                            own_price: float | None = None, *,
                            max_age_days: float | None | str = "env",
                            as_of: date | None = None) -> dict:
        """Competitor offers for one product and its own price index against them.

        Returns min, median, max, count (over each competitor's latest offer, or all offers,
        per ``offers``; stale offers left out), own_price (given, else the product's price in
        the graph), price_index (own_price / median), currency, excluded_currency (offers in
        another currency, not counted), stale (how many offers are stale), max_age_days and
        offers: every offer as {competitor, price, currency, observed_at, url, latest,
        age_days, stale}, cheapest first. ``max_age_days``: "env" reads
        ``$PRICING_OFFER_MAX_AGE_DAYS``; None: no offer is stale. Needs no fit.
        """
        nid = _node_of(str(product_id))
        if nid not in g or g.nodes[nid].get("type") != NodeType.PRODUCT.value:
            raise KeyError(f"product {product_id!r} is not in the graph")
        max_age = offer_max_age_days() if max_age_days == "env" else max_age_days
        node = g.nodes[nid]
        cur = _cur_of(node.get("currency"))
        offers = _offers(g, nid)
        latest: dict[str, str] = {}
        for o in offers:
            if o["observed_at"] >= latest.get(o["competitor"], ""):
                latest[o["competitor"]] = o["observed_at"]
        listed, used, excluded, stale = [], [], 0, 0
        for o in offers:
            is_latest = o["observed_at"] == latest[o["competitor"]]
            old = _is_stale(o["observed_at"], max_age, as_of)
            listed.append({"competitor": o["competitor"], "price": o["price"],
                           "currency": o["currency"], "observed_at": o["observed_at"] or None,
                           "url": o["url"], "latest": is_latest,
                           "age_days": offer_age_days(o["observed_at"], as_of), "stale": old})
            if old:
                stale += 1
            elif cur and o["currency"] and o["currency"] != cur:
                excluded += 1
            elif is_latest or self.offers == "all":
                used.append(o["price"])
        listed.sort(key=lambda o: (o["price"], o["competitor"]))
        if own_price is None:
            own_price = node.get("price")
        own = _none(float(own_price)) if own_price is not None else None
        arr = np.sort(np.asarray(used, dtype=np.float64))
        _, (lo, med, hi) = group_quantiles(arr, np.array([0, len(arr)]), np.array([0]),
                                           np.array([-1]), (0.0, 0.5, 1.0))
        median = _none(med[0])
        return {"product_id": str(product_id), "currency": cur, "count": len(used),
                "min": _none(lo[0]), "median": median, "max": _none(hi[0]),
                "own_price": own,
                "price_index": own / median if own is not None and median else None,
                "excluded_currency": excluded, "stale": stale, "max_age_days": max_age,
                "offers": listed}

    # ------------------------------------------------------------ save/load
    def save(self, directory: str | Path) -> Path:
        """Write ``featurizer.json`` (params, ids, group keys) and ``featurizer_arrays.npz``."""
        self._check_fitted()
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        config = {
            "format": FORMAT, "version": FORMAT_VERSION,
            "params": {"min_count": int(self.min_count), "offers": self.offers},
            "feature_names": self.feature_names_,
            "default_currency": self.default_currency_,
            "n_train_unpriced": self.n_train_unpriced_,
            "train_ids": self.train_ids_,
            "groups": self.groups_,
        }
        (out / CONFIG_FILE).write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")
        np.savez_compressed(out / ARRAYS_FILE, offsets=self.offsets_, prices=self.prices_,
                            member_key=self.member_key_, member_rank=self.member_rank_)
        return out

    @classmethod
    def load(cls, directory: str | Path) -> GraphFeaturizer:
        """Load a featurizer written by :meth:`save`; it gives identical features."""
        d = Path(directory)
        config = json.loads((d / CONFIG_FILE).read_text(encoding="utf-8"))
        if config.get("format") != FORMAT or config.get("version") != FORMAT_VERSION:
            raise ValueError(f"{d / CONFIG_FILE}: not a {FORMAT} v{FORMAT_VERSION} file")
        fz = cls(**config["params"])
        with np.load(d / ARRAYS_FILE) as a:
            fz.offsets_ = a["offsets"]
            fz.prices_ = a["prices"]
            fz.member_key_ = a["member_key"]
            fz.member_rank_ = a["member_rank"]
        fz.feature_names_ = list(config["feature_names"])
        fz.default_currency_ = config["default_currency"]
        fz.n_train_unpriced_ = int(config["n_train_unpriced"])
        fz.train_ids_ = list(config["train_ids"])
        fz.groups_ = list(config["groups"])
        if len(fz.offsets_) != len(fz.groups_) + 1 or fz.offsets_[-1] != len(fz.prices_):
            raise ValueError(f"{d}: arrays do not match the group list")
        fz._index()
        return fz


def _strip(pid: str) -> str:
    return pid[len(_PRODUCT_PREFIX):] if pid.startswith(_PRODUCT_PREFIX) else pid


def _offers(g: nx.MultiDiGraph, nid: str) -> list[dict]:
    out = []
    nodes = g.nodes
    for u, keydict in g.pred[nid].items():
        for d in keydict.values():
            if d.get("type") != _OFFERS:
                continue
            try:
                price = float(d["price"])
            except (KeyError, TypeError, ValueError):
                raise ValueError(f"offers edge {u!r} -> {nid!r}: price is missing or not a "
                                 f"number: {d.get('price')!r}") from None
            out.append({"competitor": nodes[u].get("name") or u.partition(":")[2],
                        "price": price, "currency": _cur_of(d.get("currency")),
                        "observed_at": str(d.get("observed_at") or ""), "url": d.get("url")})
    return out


OFFER_MAX_AGE_ENV = "PRICING_OFFER_MAX_AGE_DAYS"


def offer_max_age_days() -> float | None:
    """The configured age (days) after which an offer is stale; None: offers never are."""
    raw = os.environ.get(OFFER_MAX_AGE_ENV, "").strip()
    if not raw or raw.lower() == "none":
        return None
    try:
        days = float(raw)
    except ValueError:
        raise ValueError(f"{OFFER_MAX_AGE_ENV}={raw!r}: give a number of days") from None
    if not (math.isfinite(days) and days >= 0):
        raise ValueError(f"{OFFER_MAX_AGE_ENV}={raw!r}: must be a number of days >= 0")
    return days


def offer_age_days(observed_at: str | None, as_of: date | None = None) -> int | None:
    """Whole days from ``observed_at`` (ISO date or timestamp) to ``as_of`` (default: today,
    UTC); None for an undated or unreadable date."""
    if not observed_at:
        return None
    try:
        seen = date.fromisoformat(str(observed_at)[:10])
    except ValueError:
        return None
    return ((as_of or datetime.now(UTC).date()) - seen).days


def _is_stale(observed_at: str | None, max_age: float | None, as_of: date | None) -> bool:
    if max_age is None:
        return False
    age = offer_age_days(observed_at, as_of)
    return age is not None and age > max_age


def _graph_facts(g: nx.MultiDiGraph, ids: list[str], with_offers: bool,
                 latest: bool = True, max_age: float | None = None,
                 as_of: date | None = None) -> list[tuple]:
    """(currency, category path, brand key, price, competitor prices) per product id; offers
    older than ``max_age`` days (before ``as_of``) are left out."""
    # networkx's documented backing dicts (G._node, G._succ) instead of its views: the views
    # cost more than the look-ups themselves and fit touches every training product.
    nodes = getattr(g, "_node", None) or dict(g.nodes(data=True))
    succ = getattr(g, "_succ", None) or g.succ
    pred = getattr(g, "_pred", None) or g.pred
    paths: dict[str, str | None] = {}
    out: list[tuple] = []
    missing: list[str] = []
    product = NodeType.PRODUCT.value
    for pid in ids:
        nid = _node_of(pid)
        d = nodes.get(nid)
        if d is None or d.get("type") != product:
            missing.append(pid)
            continue
        path = brand = None
        for v, keydict in succ[nid].items():
            for e in keydict.values():
                t = e.get("type")
                if t == _IN_CATEGORY:
                    path = paths.get(v, "")
                    if path == "":
                        path = paths[v] = _path_of(nodes[v].get("path") or v.partition(":")[2])
                elif t == _MADE_BY:
                    brand = v[len(_BRAND_PREFIX):] if v.startswith(_BRAND_PREFIX) else _brand_of(
                        nodes[v].get("name"))
                    brand = brand or None
        cur = d.get("currency")
        cur = _cur_of(cur) if cur is not None else None
        price = d.get("price")
        try:
            price = float(price) if price is not None else np.nan
        except (TypeError, ValueError):
            raise ValueError(f"product {pid!r}: price is not a number: {price!r}") from None
        offers: list[float] = []
        if with_offers and pred[nid]:
            found = _offers(g, nid)
            if found and max_age is not None:
                found = [o for o in found if not _is_stale(o["observed_at"], max_age, as_of)]
            if found:
                if cur:
                    found = [o for o in found if not o["currency"] or o["currency"] == cur]
                if latest:
                    last: dict[str, dict] = {}
                    for o in found:
                        prev = last.get(o["competitor"])
                        if prev is None or o["observed_at"] >= prev["observed_at"]:
                            last[o["competitor"]] = o
                    found = list(last.values())
                offers = [o["price"] for o in found]
        out.append((cur, path, brand, price, offers))
    if missing:
        raise KeyError(f"{len(missing)} product id(s) not in the graph, e.g. {missing[:5]}")
    return out
