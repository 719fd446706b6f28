"""Typed knowledge-graph schema: node and edge types, id conventions, name normalisation.

Use::

    from graph.schema import NodeType, EdgeType, node_id, normalize_name
    node_id(NodeType.CATEGORY, "Toys > Puzzles")   # 'category:Toys > Puzzles'

The graph is a ``networkx.MultiDiGraph``. Every node has attributes ``type`` (a NodeType
value), ``name``, ``provenance`` (source file or curator) and ``updated_at`` (ISO-8601 UTC);
every edge has ``type`` (an EdgeType value), ``provenance`` and ``updated_at``. The edge key is
the edge type, except ``offers`` edges whose key is ``offers@<observed_at>`` so that dated
offers of one competitor for one product sit side by side.

Node attributes by type (missing values are absent, never NaN):
- product: title, description, price, currency, cost, rating, rating_count, condition
- category: path (full "A > B > C"), depth (1 = root)
- brand: inferred (bool: guessed from the title, not given by the data)
- competitor: (name only)
- review: rating, title, text

Edges (source -> target):
- in_category: product -> leaf category
- child_of: category -> parent category
- made_by: product -> brand (attribute ``inferred``)
- offers: competitor -> product (price, currency, observed_at, url, shipping)
- review_of: review -> product
"""
from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from enum import StrEnum


class NodeType(StrEnum):
    PRODUCT = "product"
    CATEGORY = "category"
    BRAND = "brand"
    COMPETITOR = "competitor"
    REVIEW = "review"


class EdgeType(StrEnum):
    IN_CATEGORY = "in_category"
    CHILD_OF = "child_of"
    MADE_BY = "made_by"
    OFFERS = "offers"
    REVIEW_OF = "review_of"
    SIMILAR_TO = "similar_to"


SCHEMA_VERSION = 1

_PUNCT = re.compile(r"[^\w\s]")
_SPACE = re.compile(r"\s+")


def normalize_name(name: str) -> str:
    """Case-, spacing- and punctuation-insensitive key for names ("Bo-At " -> "boat")."""
    s = unicodedata.normalize("NFKC", str(name)).casefold()
    s = _PUNCT.sub("", s)
    return _SPACE.sub(" ", s).strip()


def node_id(node_type: NodeType | str, key: str) -> str:
    """Stable node id. Brands are keyed by their normalised name, others by their key."""
    t = NodeType(node_type)
    if t is NodeType.BRAND:
        key = normalize_name(key)
    return f"{t.value}:{key}"


def split_node_id(nid: str) -> tuple[NodeType, str]:
    t, _, key = nid.partition(":")
    return NodeType(t), key


def offer_key(observed_at: str | None) -> str:
    return f"{EdgeType.OFFERS.value}@{observed_at or ''}"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
