"""Suspect data in a knowledge graph, for curators to look at (``pricing graph check``).

Use::

    from graph.quality import quality_report
    rep = quality_report(g)                 # g: networkx graph from graph.build / GraphStore.load
    rep.counts()                            # {"duplicate_brands": 3, "price_outliers": 12, ...}
    rich.print(rep.render(top=10))

Six checks, each a list sorted worst first (or by name):

- ``duplicate_brands``: brand groups with the same name once case, punctuation AND spaces are
  ignored ("Bo At" / "boAt"), and pairs whose such names are alike: difflib ratio >= 0.9 on
  names of at least 4 characters. Fuzzy pairs are only looked for among names starting with
  the same two characters (a typo in the first two letters is missed: that is the price of
  speed), within the length window where the ratio is reachable, and only where the
  character-count bound (difflib's quick_ratio, computed with numpy for the whole window)
  reaches it.
- ``price_outliers``: products priced far outside their leaf category (same currency):
  robust z-score of log price, ``0.6745 * (x - median) / max(MAD, 0.05)`` (MAD: median
  absolute deviation of log prices), ``|z| > 3.5``, for categories with at least
  ``min_group`` (5) priced products. The floor keeps a category whose prices are nearly all
  equal (MAD ~ 0) from flagging a 5% difference with a z of thousands: with it, a flagged
  price is at least ~30% away from the category median.
- ``single_product_categories``: categories holding exactly one product.
- ``competitors_without_offers``: competitor nodes with no ``offers`` edge.
- ``products_without_category``: product nodes with no ``in_category`` edge.
- ``products_in_inner_categories``: (product id, category path) of products whose category
  has sub-categories - products belong in leaves; curation refuses to add such links but
  catalogs arrive with them.
"""
from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from difflib import SequenceMatcher

import networkx as nx
import numpy as np
import pandas as pd
from rich.console import Group
from rich.table import Table

from graph.schema import EdgeType, NodeType, normalize_name

_P, _C, _B, _K = (NodeType.PRODUCT.value, NodeType.CATEGORY.value, NodeType.BRAND.value,
                  NodeType.COMPETITOR.value)
_IN_CATEGORY, _OFFERS, _CHILD_OF = (EdgeType.IN_CATEGORY.value, EdgeType.OFFERS.value,
                                    EdgeType.CHILD_OF.value)
_MAD_SCALE = 0.6745  # makes the MAD of a normal sample estimate one standard deviation


@dataclass
class BrandDuplicate:
    """Brands that look like one: node ids, display names, why, and the name ratio."""

    brands: list[str]
    names: list[str]
    reason: str          # "same normalised name" or "similar names"
    score: float         # 1.0 for the same normalised name


@dataclass
class PriceOutlier:
    product_id: str      # catalog id
    category: str        # category path
    price: float
    currency: str | None
    category_median: float
    z: float             # robust z-score of log price (positive: dearer than the category)
    n: int               # priced products in the category and currency


@dataclass
class QualityReport:
    duplicate_brands: list[BrandDuplicate] = field(default_factory=list)
    price_outliers: list[PriceOutlier] = field(default_factory=list)
    single_product_categories: list[str] = field(default_factory=list)   # category paths
    competitors_without_offers: list[str] = field(default_factory=list)  # competitor names
    products_without_category: list[str] = field(default_factory=list)   # catalog ids
    products_in_inner_categories: list[tuple[str, str]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {"duplicate_brands": len(self.duplicate_brands),
                "price_outliers": len(self.price_outliers),
                "single_product_categories": len(self.single_product_categories),
                "competitors_without_offers": len(self.competitors_without_offers),
                "products_without_category": len(self.products_without_category),
                "products_in_inner_categories": len(self.products_in_inner_categories)}

    @property
    def clean(self) -> bool:
        return not any(self.counts().values())

    def to_dict(self) -> dict:
        return {"counts": self.counts(), **asdict(self)}

    def render(self, top: int = 10) -> Group:
        """Rich tables: the counts, then the first ``top`` items of each non-empty check."""
        summary = Table(title="Graph quality", header_style="bold")
        summary.add_column("check")
        summary.add_column("suspects", justify="right")
        for k, v in self.counts().items():
            summary.add_row(k.replace("_", " "), f"[yellow]{v:,}[/yellow]" if v else "0")
        parts: list = [summary]
        if self.duplicate_brands:
            t = Table(title=f"Duplicate-looking brands (top {top})", header_style="bold")
            for c in ("names", "reason", "score", "ids"):
                t.add_column(c)
            for d in self.duplicate_brands[:top]:
                t.add_row(" | ".join(d.names), d.reason, f"{d.score:.2f}", ", ".join(d.brands))
            parts.append(t)
        if self.price_outliers:
            t = Table(title=f"Prices far outside their category (top {top})",
                      header_style="bold")
            for c in ("product", "category", "price", "median", "z", "n"):
                t.add_column(c, justify="right" if c in ("price", "median", "z", "n") else "left")
            for o in self.price_outliers[:top]:
                cur = f" {o.currency}" if o.currency else ""
                t.add_row(o.product_id, o.category, f"{o.price:,.2f}{cur}",
                          f"{o.category_median:,.2f}", f"{o.z:+.1f}", str(o.n))
            parts.append(t)
        for title, items in (("Categories with a single product", self.single_product_categories),
                             ("Competitors without offers", self.competitors_without_offers),
                             ("Products without a category", self.products_without_category),
                             ("Products in a category that has sub-categories",
                              [f"{p}  ({c})" for p, c in self.products_in_inner_categories])):
            if items:
                t = Table(title=f"{title} (top {top} of {len(items):,})", header_style="bold",
                          show_header=False)
                t.add_column("item")
                for x in items[:top]:
                    t.add_row(x)
                parts.append(t)
        return Group(*parts)


def quality_report(g: nx.MultiDiGraph, *, ratio: float = 0.9, min_name_len: int = 4,
                   block_chars: int = 2, z_threshold: float = 3.5,
                   min_group: int = 5, mad_floor: float = 0.05) -> QualityReport:
    """Run every check on ``g`` (see the module docstring for what each one means)."""
    nodes = g.nodes
    brands: list[tuple[str, str]] = []
    competitors: list[str] = []
    products: list[str] = []
    for n, d in nodes(data=True):
        t = d.get("type")
        if t == _B:
            brands.append((n, str(d.get("name") or n.partition(":")[2])))
        elif t == _K:
            competitors.append(n)
        elif t == _P:
            products.append(n)

    category_of: dict[str, str] = {}
    members: dict[str, int] = defaultdict(int)
    with_offers: set[str] = set()
    parents: set[str] = set()
    for u, v, d in g.edges(data=True):
        t = d.get("type")
        if t == _IN_CATEGORY:
            category_of[u] = v
            members[v] += 1
        elif t == _OFFERS:
            with_offers.add(u)
        elif t == _CHILD_OF:
            parents.add(v)

    def path(cid: str) -> str:
        return str(nodes[cid].get("path") or cid.partition(":")[2])

    return QualityReport(
        duplicate_brands=duplicate_brands(brands, ratio=ratio, min_len=min_name_len,
                                          block_chars=block_chars),
        price_outliers=price_outliers(g, products, category_of, path, z_threshold, min_group,
                                      mad_floor),
        single_product_categories=sorted(path(c) for c, n in members.items() if n == 1),
        competitors_without_offers=sorted(str(nodes[c].get("name") or c.partition(":")[2])
                                          for c in competitors if c not in with_offers),
        products_without_category=sorted(p.partition(":")[2] for p in products
                                         if p not in category_of),
        products_in_inner_categories=sorted((p.partition(":")[2], path(c))
                                            for p, c in category_of.items() if c in parents),
    )


def _compact(name: str) -> str:
    return normalize_name(name).replace(" ", "")


def duplicate_brands(brands: list[tuple[str, str]], *, ratio: float = 0.9, min_len: int = 4,
                     block_chars: int = 2) -> list[BrandDuplicate]:
    """Groups of (id, name) brands with equal compact names, then similar pairs."""
    by_key: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for nid, name in brands:
        key = _compact(name)
        if key:
            by_key[key].append((nid, name))
    out: list[BrandDuplicate] = []
    for group in by_key.values():
        if len(group) > 1:
            group.sort()
            out.append(BrandDuplicate([i for i, _ in group], [n for _, n in group],
                                      "same normalised name", 1.0))
    out.sort(key=lambda d: (-len(d.brands), d.names))

    blocks: dict[str, list[str]] = defaultdict(list)
    for key in by_key:
        if len(key) >= min_len:
            blocks[key[:block_chars]].append(key)
    similar: list[BrandDuplicate] = []
    for keys in blocks.values():
        if len(keys) < 2:
            continue
        keys.sort(key=lambda k: (len(k), k))
        lens = np.array([len(k) for k in keys], dtype=np.int64)
        # Character counts per name: min-overlap / total length is difflib's quick_ratio, an
        # upper bound of ratio(), computed for a whole length window at once.
        alphabet = {c: i for i, c in enumerate(sorted(set("".join(keys))))}
        counts = np.zeros((len(keys), len(alphabet)), dtype=np.int32)
        for r, k in enumerate(keys):
            for ch in k:
                counts[r, alphabet[ch]] += 1
        # Names of lengths a <= b reach at most 2a / (a + b): b <= a (2 - ratio) / ratio.
        limits = np.searchsorted(lens, lens * (2 - ratio) / ratio + 1e-9, side="right")
        for i, a in enumerate(keys):
            hi = int(limits[i])
            if hi <= i + 1:
                continue
            overlap = np.minimum(counts[i + 1:hi], counts[i]).sum(axis=1)
            bound = 2.0 * overlap / (lens[i] + lens[i + 1:hi])
            cand = np.flatnonzero(bound >= ratio)
            if not len(cand):
                continue
            sm = SequenceMatcher(None, autojunk=False)
            sm.set_seq2(a)  # SequenceMatcher caches facts about seq2: keep it fixed
            for j in cand:
                b = keys[i + 1 + int(j)]
                sm.set_seq1(b)
                r = sm.ratio()
                if r >= ratio:
                    ga, gb = sorted((by_key[a][0], by_key[b][0]))
                    similar.append(BrandDuplicate([ga[0], gb[0]], [ga[1], gb[1]],
                                                  "similar names", round(r, 4)))
    similar.sort(key=lambda d: (-d.score, d.names))
    return out + similar


def price_outliers(g: nx.MultiDiGraph, products: list[str], category_of: dict[str, str],
                   path: Callable[[str], str], z_threshold: float = 3.5, min_group: int = 5,
                   mad_floor: float = 0.05) -> list[PriceOutlier]:
    """Products whose log price has a robust z-score above ``z_threshold`` in their leaf."""
    rows = []
    nodes = g.nodes
    for p in products:
        cid = category_of.get(p)
        if cid is None:
            continue
        d = nodes[p]
        price = d.get("price")
        try:
            price = float(price)
        except (TypeError, ValueError):
            continue
        if not (math.isfinite(price) and price > 0):
            continue
        cur = d.get("currency")
        rows.append((p, cid, str(cur).upper() if cur else "", price))
    if not rows:
        return []
    df = pd.DataFrame(rows, columns=["node", "cat", "cur", "price"])
    df["x"] = np.log(df["price"].to_numpy())
    grp = df.groupby(["cat", "cur"], sort=False)["x"]
    df["n"] = grp.transform("size")
    df = df[df["n"] >= min_group].copy()
    if df.empty:
        return []
    grp = df.groupby(["cat", "cur"], sort=False)["x"]
    df["med"] = grp.transform("median")
    df["dev"] = (df["x"] - df["med"]).abs()
    mad = df.groupby(["cat", "cur"], sort=False)["dev"].transform("median").to_numpy()
    diff = (df["x"] - df["med"]).to_numpy()
    z = _MAD_SCALE * diff / np.maximum(mad, mad_floor)
    df["z"] = z
    hit = df[np.abs(df["z"]) > z_threshold].copy()
    hit["az"] = hit["z"].abs()
    hit = hit.sort_values(["az", "node"], ascending=[False, True])
    return [PriceOutlier(product_id=r.node.partition(":")[2], category=path(r.cat),
                         price=float(r.price), currency=r.cur or None,
                         category_median=float(math.exp(r.med)), z=round(float(r.z), 3),
                         n=int(r.n))
            for r in hit.itertuples(index=False)]
