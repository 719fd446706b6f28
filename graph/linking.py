"""Link a new product (given only as words) to the graph: its brand from known brand nodes,
its category from its nearest catalog products.

Use::

    from graph.linking import BrandLinker, category_from_neighbours
    linker = BrandLinker.from_graph(graph)
    linker.link("boAt Rockerz 450 Bluetooth Headphones")
    # Link(field='brand', value='boAt', node_id='brand:boat', method='title prefix', confidence=0.95)
    category_from_neighbours([("Electronics > Headphones", 0.81), ("Electronics > Headphones", 0.78),
                              ("Electronics > Speakers", 0.52)])
    # Link(field='category_path', value='Electronics > Headphones', ..., confidence=0.75)

Brands: the first one to three words of the title against the graph's brand names (the same
normalised key as brand node ids, so "BOAT" and "boAt" agree), then against their aliases
with spaces and punctuation removed ("bo at" / "bo-At" -> "boat"), then the title-based
heuristic of :mod:`graph.brands` for a brand the graph does not know yet. Every link says how
it was found and how sure it is, so the evidence can show it.
"""
from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import networkx as nx

from graph.brands import infer_brand
from graph.contracts import CATEGORY_SEPARATOR
from graph.schema import NodeType, normalize_name

# How sure each way of finding a brand is (shown to the merchant, not a learned probability).
_CONFIDENCE = {"title prefix": 0.95, "alias": 0.85, "title heuristic": 0.5}


@dataclass(frozen=True)
class Link:
    """A graph link inferred for a product: which field, the value, how it was found."""

    field: str
    value: str
    node_id: str | None
    method: str
    confidence: float


def _compact(key: str) -> str:
    return re.sub(r"[^0-9a-z\u0080-\uffff]", "", key)


class BrandLinker:
    """Known brands of a graph, looked up from a product title."""

    def __init__(self, brands: Iterable[tuple[str, str]]) -> None:
        """brands: (node id, display name) of every brand node."""
        self._by_key: dict[str, tuple[str, str]] = {}
        self._by_compact: dict[str, tuple[str, str]] = {}
        for nid, name in brands:
            key = normalize_name(name)
            if len(key) < 2:
                continue
            self._by_key.setdefault(key, (nid, name))
            compact = _compact(key)
            if len(compact) >= 3:
                self._by_compact.setdefault(compact, (nid, name))

    @classmethod
    def from_graph(cls, graph: nx.MultiDiGraph) -> BrandLinker:
        return cls((n, str(d.get("name") or n.split(":", 1)[1]))
                   for n, d in graph.nodes(data=True) if d.get("type") == NodeType.BRAND.value)

    def __len__(self) -> int:
        return len(self._by_key)

    def link(self, title: str | None) -> Link | None:
        """The brand of a product titled ``title``, or None when nothing names one."""
        if not title or not title.strip():
            return None
        words = title.split()
        for n in (3, 2, 1):  # the longest known name first: "Amazon Basics" before "Amazon"
            if len(words) < n:
                continue
            key = normalize_name(" ".join(words[:n]))
            if key in self._by_key:
                nid, name = self._by_key[key]
                return Link("brand", name, nid, "title prefix", _CONFIDENCE["title prefix"])
            compact = _compact(key)
            if len(compact) >= 3 and compact in self._by_compact:
                nid, name = self._by_compact[compact]
                return Link("brand", name, nid, "alias", _CONFIDENCE["alias"])
        guess = infer_brand(title)
        if guess:
            hit = self._by_key.get(normalize_name(guess))
            if hit is not None:
                return Link("brand", hit[1], hit[0], "title prefix", _CONFIDENCE["title prefix"])
            return Link("brand", guess, None, "title heuristic", _CONFIDENCE["title heuristic"])
        return None


def category_from_neighbours(neighbours: Sequence[tuple[str | None, float]],
                             min_share: float = 0.5) -> Link | None:
    """The category most of a product's nearest products share, with that share as confidence.

    neighbours: (category path, similarity) of the nearest catalog products. Votes are
    weighted by similarity and counted at every level of the tree; the answer is the deepest
    level that holds at least ``min_share`` of the weight (so two close headphones and one
    speaker give "Electronics > Headphones", while a three-way split stops at "Electronics").
    """
    weight: dict[str, float] = defaultdict(float)
    total = 0.0
    for path, sim in neighbours:
        if not path or sim is None or sim <= 0:
            continue
        total += sim
        parts = [p.strip() for p in str(path).split(CATEGORY_SEPARATOR.strip())]
        for i in range(1, len(parts) + 1):
            weight[CATEGORY_SEPARATOR.join(parts[:i])] += sim
    if total <= 0:
        return None
    best = max(((p, w / total) for p, w in weight.items() if w / total >= min_share),
               key=lambda pw: (pw[0].count(CATEGORY_SEPARATOR), pw[1]), default=None)
    if best is None:
        return None
    path, share = best
    return Link("category_path", path, f"category:{path}", "nearest products", round(share, 3))
