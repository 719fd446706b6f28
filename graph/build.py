"""Build the typed knowledge graph from a validated :class:`~graph.contracts.Catalog`.

Use::

    from graph.adapters import load_dataset
    from graph.build import build_graph
    g = build_graph(load_dataset("amazon_in_2023", path))   # networkx.MultiDiGraph

Node/edge types, ids and attributes follow the docstring of :mod:`graph.schema`. Every node
and edge carries ``provenance`` (the row's ``source``; nodes shared by several rows - categories,
brands, competitors, reviews - list their distinct sources joined by ``"; "``) and
``updated_at`` (one timestamp per build). Missing values are left out, never stored as NaN.
Columns beyond the contract (free attributes, e.g. an offer's ``competitor_score``) are kept
as attributes of the product node, offer edge or review node (numbers as float).

Speed matters (148k products in a few seconds): each table is turned into plain Python lists
once, rows become ``(id, attrs)`` tuples and go into networkx through ``add_nodes_from`` and
:func:`add_edges_fast`; no per-row pandas access. Ids are the f-strings that
:func:`graph.schema.node_id` would give (``"product:<id>"``; brands by normalised name).

Bad input raises :class:`BuildError` naming table, row (1-based position in the table), field
and product id: duplicate product ids, offers or reviews of unknown products, duplicate dated
offers, rows without ``source``.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import date, datetime
from operator import itemgetter

import networkx as nx
import numpy as np
import pandas as pd

from graph.contracts import COLUMNS, NUMERIC, Catalog
from graph.products import gc_paused as paused_gc
from graph.schema import (
    SCHEMA_VERSION,
    EdgeType,
    NodeType,
    node_id,
    normalize_name,
    now_iso,
    offer_key,
)

SOURCE_JOIN = "; "
_RESERVED = {"type", "name", "provenance", "updated_at"}
_PRODUCT_TEXT = ["title", "description", "currency", "condition"]
_MAX_EXAMPLES = 5

# Plain strings: enum attribute access costs ~1 us, paid 100k times per table otherwise.
P, C, B, K, R = (NodeType.PRODUCT.value, NodeType.CATEGORY.value, NodeType.BRAND.value,
                 NodeType.COMPETITOR.value, NodeType.REVIEW.value)
IN_CATEGORY, CHILD_OF, MADE_BY, OFFERS, REVIEW_OF = (
    EdgeType.IN_CATEGORY.value, EdgeType.CHILD_OF.value, EdgeType.MADE_BY.value,
    EdgeType.OFFERS.value, EdgeType.REVIEW_OF.value)


class BuildError(ValueError):
    """The catalog cannot become a consistent graph; the message names the rows."""


def build_graph(catalog: Catalog, *, updated_at: str | None = None) -> nx.MultiDiGraph:
    """Build the knowledge graph of ``catalog``.

    ``updated_at`` fixes the timestamp stamped on every node and edge (default: now, UTC).
    """
    ts = updated_at or now_iso()
    g = nx.MultiDiGraph(schema_version=SCHEMA_VERSION, built_at=ts)
    with paused_gc():
        products = _product_ids(catalog.products)
        _add_products(g, catalog.products, products, ts)
        _add_reviews(g, catalog.reviews, products, ts)
        _add_offers(g, catalog.offers, products, ts)
    return g


def add_edges_fast(g: nx.MultiDiGraph, edges: Iterable[tuple]) -> None:
    """``g.add_edges_from(edges)`` for ``(u, v, key, attrs)`` between existing nodes, ~3x faster.

    networkx spends most of ``add_edges_from`` building adjacency views per edge; with 300k
    edges that is seconds. This writes the adjacency dicts of a plain MultiDiGraph directly
    (other graph classes take the public path). ``attrs`` dicts are kept, not copied, so each
    edge needs its own. An edge to a node that is not in ``g`` raises ValueError instead of
    creating an untyped node.
    """
    if type(g) is not nx.MultiDiGraph:
        g.add_edges_from(edges)
        return
    succ, pred = g._succ, g._pred
    for u, v, k, d in edges:
        su = succ.get(u)
        if su is None or v not in succ:
            raise ValueError(f"edge {u!r} -> {v!r}: {(u if su is None else v)!r} is not a node")
        keydict = su.get(v)
        if keydict is None:
            keydict = su[v] = {}
            pred[v][u] = keydict
        old = keydict.get(k)
        if old is None:
            keydict[k] = d
        else:
            old.update(d)
    clear = getattr(nx, "_clear_cache", None)
    if clear is not None:  # networkx >= 3.3 caches backend conversions per graph
        clear(g)


# --------------------------------------------------------------------------- column helpers

def _column(frame: pd.DataFrame, name: str) -> list:
    """Column as a Python list with every missing value (NaN, NA, NaT, None) as None."""
    if name not in frame.columns:
        return [None] * len(frame)
    s = frame[name]
    values = s.tolist()
    for i in np.flatnonzero(s.isna().to_numpy()):
        values[i] = None
    return values


def _numeric(frame: pd.DataFrame, name: str, table: str) -> list:
    """Numeric column as floats (None when missing); a non-number names its row."""
    if name not in frame.columns:
        return [None] * len(frame)
    s = frame[name]
    if not (pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)):
        coerced = pd.to_numeric(s, errors="coerce")
        bad = np.flatnonzero((coerced.isna() & s.notna()).to_numpy())
        if len(bad):
            _fail(table, bad, name, "is not a number", frame,
                  values=[s.iloc[i] for i in bad[:_MAX_EXAMPLES]])
        s = coerced
    s = s.astype("float64")
    bad = np.flatnonzero(np.isinf(s.to_numpy()))
    if len(bad):
        _fail(table, bad, name, "is infinite", frame)
    return _column(pd.DataFrame({name: s}), name)


def _text(values: list, *, blank_is_missing: bool = True) -> list:
    """Strings; blank strings count as missing (an empty description says nothing)."""
    out = []
    for v in values:
        if v is None:
            out.append(None)
            continue
        if not isinstance(v, str):
            v = v.isoformat() if isinstance(v, (datetime, date, pd.Timestamp)) else str(v)
        out.append(None if blank_is_missing and not v.strip() else v)
    return out


def _bool(values: list, table: str, frame: pd.DataFrame, name: str) -> list:
    out = []
    for i, v in enumerate(values):
        if v is None or isinstance(v, bool):
            out.append(v)
        elif isinstance(v, (int, float, np.integer, np.floating)) and v in (0, 1):
            out.append(bool(v))
        elif isinstance(v, str) and v.strip().lower() in _BOOL_WORDS:
            out.append(_BOOL_WORDS[v.strip().lower()])
        else:
            _fail(table, [i], name, f"is not a boolean ({v!r})", frame)
    return out


_BOOL_WORDS = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}


def _fail(table: str, rows: Iterable[int], field: str, reason: str, frame: pd.DataFrame,
          values: list | None = None) -> None:
    rows = list(rows)
    pids = frame["product_id"].tolist() if "product_id" in frame.columns else None
    examples = []
    for j, i in enumerate(rows[:_MAX_EXAMPLES]):
        ex = f"row {int(i) + 1}"
        if pids is not None:
            ex += f" (product_id={pids[i]!r})"
        if values is not None:
            ex += f" value={values[j]!r}"
        examples.append(ex)
    more = f" and {len(rows) - _MAX_EXAMPLES} more" if len(rows) > _MAX_EXAMPLES else ""
    raise BuildError(f"{table}: field '{field}' {reason}: {', '.join(examples)}{more}")


def _free_attributes(df: pd.DataFrame, table: str) -> list[tuple[str, list]]:
    """Columns beyond the contract ("plus free attributes"), typed: float, bool or str."""
    out = []
    for name in df.columns:
        if name in COLUMNS[table] or name in _RESERVED:
            continue
        s = df[name]
        if pd.api.types.is_bool_dtype(s):
            col = _column(df, name)
        elif pd.api.types.is_numeric_dtype(s):
            col = _numeric(df, name, table)
        else:
            col = _column(df, name)
            # A boolean column with gaps arrives as object dtype: keep its bools as bools.
            if not all(v is None or isinstance(v, (bool, np.bool_)) for v in col):
                col = _text(col)
            else:
                col = [None if v is None else bool(v) for v in col]
        out.append((str(name), col))
    return out


def _sources(values: list, table: str, frame: pd.DataFrame) -> list[str]:
    src = _text(values)
    missing = [i for i, s in enumerate(src) if s is None]
    if missing:
        _fail(table, missing, "source", "is missing (provenance is required)", frame)
    return src


def _join_sources(sources: Iterable[str]) -> str:
    return SOURCE_JOIN.join(sorted(set(sources)))


# --------------------------------------------------------------------------- products

def _product_ids(products: pd.DataFrame) -> list[str]:
    raw = _text(_column(products, "product_id"))
    missing = [i for i, v in enumerate(raw) if v is None]
    if missing:
        _fail("products", missing, "product_id", "is missing", products)
    ids = [v.strip() for v in raw]
    seen: dict[str, int] = {}
    dups = []
    for i, pid in enumerate(ids):
        if pid in seen:
            dups.append(i)
        else:
            seen[pid] = i
    if dups:
        _fail("products", dups, "product_id", "is duplicated (merge the catalogs first)", products)
    return ids


def _split_path(path: str) -> list[str]:
    return [p.strip() for p in path.split(">") if p.strip()]


def _add_products(g: nx.MultiDiGraph, df: pd.DataFrame, pids: list[str], ts: str) -> None:
    n = len(df)
    if n == 0:
        return
    src = _sources(_column(df, "source"), "products", df)
    titles = _text(_column(df, "title"))
    missing = [i for i, t in enumerate(titles) if t is None]
    if missing:
        _fail("products", missing, "title", "is missing", df)

    # Attribute columns: schema fields first, then free attributes as they come.
    attr_cols: list[tuple[str, list]] = []
    for name in _PRODUCT_TEXT:
        attr_cols.append((name, titles if name == "title" else _text(_column(df, name))))
    for name in NUMERIC["products"]:
        attr_cols.append((name, _numeric(df, name, "products")))
    attr_cols += _free_attributes(df, "products")
    names = [a for a, _ in attr_cols]
    columns = [c for _, c in attr_cols]

    nodes = []
    for i, row in enumerate(zip(*columns)):
        attrs = {k: v for k, v in zip(names, row) if v is not None}
        attrs.update(type=P, name=titles[i], provenance=src[i], updated_at=ts)
        nodes.append((f"{P}:{pids[i]}", attrs))
    g.add_nodes_from(nodes)

    _add_categories(g, df, pids, src, ts)
    _add_brands(g, df, pids, src, ts)


def _add_categories(g: nx.MultiDiGraph, df: pd.DataFrame, pids: list[str], src: list[str],
                    ts: str) -> None:
    paths = _text(_column(df, "category_path"))
    # Work per distinct (path, source): a catalog has thousands of rows per category.
    leaf_of: dict[str, str | None] = {}
    cat_sources: dict[str, set[str]] = defaultdict(set)
    edges = []
    for pid, path, s in zip(pids, paths, src):
        if path is None:
            continue
        leaf = leaf_of.get(path, "")
        if leaf == "":
            parts = _split_path(path)
            leaf = " > ".join(parts) if parts else None
            leaf_of[path] = leaf
        if leaf is None:
            continue
        cat_sources[leaf].add(s)
        edges.append((f"{P}:{pid}", f"{C}:{leaf}", IN_CATEGORY,
                      {"type": IN_CATEGORY, "provenance": s, "updated_at": ts}))

    # Every prefix of a leaf path is a category; it inherits its descendants' sources.
    prefix_sources: dict[str, set[str]] = defaultdict(set)
    for leaf, sources in cat_sources.items():
        parts = leaf.split(" > ")
        for d in range(1, len(parts) + 1):
            prefix_sources[" > ".join(parts[:d])] |= sources
    cat_nodes, tree = [], []
    for path in sorted(prefix_sources):
        parts = path.split(" > ")
        prov = _join_sources(prefix_sources[path])
        cid = node_id(C, path)
        cat_nodes.append((cid, {"type": C, "name": parts[-1], "path": path, "depth": len(parts),
                                "provenance": prov, "updated_at": ts}))
        if len(parts) > 1:
            parent = node_id(C, " > ".join(parts[:-1]))
            tree.append((cid, parent, CHILD_OF,
                         {"type": CHILD_OF, "provenance": prov, "updated_at": ts}))
    g.add_nodes_from(cat_nodes)
    add_edges_fast(g, tree)
    add_edges_fast(g, edges)


def _add_brands(g: nx.MultiDiGraph, df: pd.DataFrame, pids: list[str], src: list[str],
                ts: str) -> None:
    brands = _text(_column(df, "brand"))
    inferred = _bool(_column(df, "brand_inferred"), "products", df, "brand_inferred")
    spellings: dict[str, Counter] = defaultdict(Counter)
    sources: dict[str, set[str]] = defaultdict(set)
    all_inferred: dict[str, bool] = {}
    edges = []
    unnamed = []
    keys: dict[str, str] = {}  # normalize_name is the slow part; brands repeat a lot
    for i, (pid, brand, inf, s) in enumerate(zip(pids, brands, inferred, src)):
        if brand is None:
            continue
        key = keys.get(brand)
        if key is None:
            key = keys[brand] = normalize_name(brand)
        if not key:
            unnamed.append(i)
            continue
        spellings[key][brand.strip()] += 1
        sources[key].add(s)
        inf = bool(inf)  # no flag on a given brand means the data set named it
        all_inferred[key] = all_inferred.get(key, True) and inf
        edges.append((f"{P}:{pid}", f"{B}:{key}", MADE_BY,
                      {"type": MADE_BY, "inferred": inf, "provenance": s, "updated_at": ts}))
    if unnamed:
        _fail("products", unnamed, "brand", "has no letters or digits (leave it empty instead)",
              df, values=[brands[i] for i in unnamed[:_MAX_EXAMPLES]])
    nodes = []
    for key, counter in spellings.items():
        # Most common spelling; ties go to the first seen (max keeps the first maximum).
        display = max(counter.items(), key=itemgetter(1))[0]
        nodes.append((f"{B}:{key}", {"type": B, "name": display, "inferred": all_inferred[key],
                                     "provenance": _join_sources(sources[key]),
                                     "updated_at": ts}))
    g.add_nodes_from(nodes)
    add_edges_fast(g, edges)


# --------------------------------------------------------------------------- reviews, offers

def _known_products(table: str, df: pd.DataFrame, products: set[str]) -> list[str]:
    pids = [None if v is None else v.strip() for v in _text(_column(df, "product_id"))]
    missing = [i for i, p in enumerate(pids) if p is None]
    if missing:
        _fail(table, missing, "product_id", "is missing", df)
    unknown = [i for i, p in enumerate(pids) if p not in products]
    if unknown:
        _fail(table, unknown, "product_id", "names no product in the catalog", df)
    return pids


def _add_reviews(g: nx.MultiDiGraph, df: pd.DataFrame, products: list[str], ts: str) -> None:
    if len(df) == 0:
        return
    pids = _known_products("reviews", df, set(products))
    src = _sources(_column(df, "source"), "reviews", df)
    rids = _text(_column(df, "review_id"))
    rating = _numeric(df, "rating", "reviews")
    title = _text(_column(df, "title"))
    text = _text(_column(df, "text"))
    extra = _free_attributes(df, "reviews")
    extra_names = [a for a, _ in extra]
    extra_rows = list(zip(*[c for _, c in extra])) if extra else [()] * len(df)
    # One node per review id: marketplaces show one review on every variant of a product,
    # so a review may point at several products.
    nodes: dict[str, dict] = {}
    node_sources: dict[str, set[str]] = defaultdict(set)
    edges = []
    per_product: Counter = Counter()
    for pid, rid, r, t, x, s, more in zip(pids, rids, rating, title, text, src, extra_rows):
        if rid is None:
            per_product[pid] += 1
            rid = f"{pid}#{per_product[pid]}"
        nid = f"{R}:{rid.strip()}"
        if nid not in nodes:
            attrs = {"type": R, "name": rid.strip()}
            for k, v in (("rating", r), ("title", t), ("text", x), *zip(extra_names, more)):
                if v is not None:
                    attrs[k] = v
            nodes[nid] = attrs
        node_sources[nid].add(s)
        edges.append((nid, f"{P}:{pid}", REVIEW_OF,
                      {"type": REVIEW_OF, "provenance": s, "updated_at": ts}))
    for nid, attrs in nodes.items():
        attrs["provenance"] = _join_sources(node_sources[nid])
        attrs["updated_at"] = ts
    g.add_nodes_from(nodes.items())
    add_edges_fast(g, edges)


def _add_offers(g: nx.MultiDiGraph, df: pd.DataFrame, products: list[str], ts: str) -> None:
    if len(df) == 0:
        return
    pids = _known_products("offers", df, set(products))
    src = _sources(_column(df, "source"), "offers", df)
    comp = _text(_column(df, "competitor"))
    missing = [i for i, c in enumerate(comp) if c is None]
    if missing:
        _fail("offers", missing, "competitor", "is missing", df)
    price = _numeric(df, "price", "offers")
    missing = [i for i, p in enumerate(price) if p is None]
    if missing:
        _fail("offers", missing, "price", "is missing", df)
    currency = _text(_column(df, "currency"))
    observed = _text(_column(df, "observed_at"))
    url = _text(_column(df, "url"))
    shipping = _numeric(df, "shipping", "offers")
    extra = _free_attributes(df, "offers")
    extra_names = [a for a, _ in extra]
    extra_rows = list(zip(*[c for _, c in extra])) if extra else [()] * len(df)

    comp_sources: dict[str, set[str]] = defaultdict(set)
    comp_names: dict[str, str] = {}
    edges = []
    seen: dict[tuple[str, str, str], int] = {}
    dups = []
    for i, row in enumerate(zip(pids, comp, price, currency, observed, url, shipping, src,
                                extra_rows)):
        pid, c, p, cur, obs, u, ship, s, more = row
        c = c.strip()
        cid = f"{K}:{c}"
        comp_names.setdefault(cid, c)
        comp_sources[cid].add(s)
        key = offer_key(obs)
        pnode = f"{P}:{pid}"
        if (cid, pnode, key) in seen:
            dups.append(i)
            continue
        seen[(cid, pnode, key)] = i
        attrs = {"type": OFFERS, "price": p}
        for k, v in (("currency", cur), ("observed_at", obs), ("url", u), ("shipping", ship),
                     *zip(extra_names, more)):
            if v is not None:
                attrs[k] = v
        attrs.update(provenance=s, updated_at=ts)
        edges.append((cid, pnode, key, attrs))
    if dups:
        _fail("offers", dups, "observed_at",
              "repeats an offer of the same competitor for the same product", df)
    g.add_nodes_from((cid, {"type": K, "name": name,
                            "provenance": _join_sources(comp_sources[cid]), "updated_at": ts})
                     for cid, name in comp_names.items())
    add_edges_fast(g, edges)
