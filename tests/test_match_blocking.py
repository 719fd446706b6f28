"""Candidate search over a real catalog slice: embedding, lexical and brand neighbours."""
from __future__ import annotations

import numpy as np
import pytest

from assistant.matching import catalog_listings
from graph.store import GraphStore
from models.blocking import CatalogIndex, lexical_text
from models.match_features import Listing
from tests.match_fixtures import RED, cache_dir, catalog_db


@pytest.fixture(scope="module")
def index():
    with GraphStore(catalog_db()) as st:
        ids, ls = catalog_listings(st.conn)
    return CatalogIndex(k_embedding=5, k_lexical=5, k_brand=3).fit(ids, ls, cache_dir=cache_dir())


def test_lexical_text_squashes_codes():
    assert "tlwn725n" in lexical_text(Listing("TP-Link adapter (TL-WN725N)")).split()


def test_reworded_title_finds_its_product(index):
    q = [Listing("Wired Earphones Bassheads 242 w/ Mic, Red", brand="boAt")]
    c = index.candidates(q)[0]
    assert index.ids_.index(RED) in set(c.tolist())
    assert len(c) <= 5 + 5 + 3 and len(set(c.tolist())) == len(c)


def test_brand_search_adds_that_brands_products(index):
    q = [Listing("headphones", brand="boAt")]
    c = index.candidates(q)[0]
    assert any(index.listings_[j].brand == "boAt" for j in c)


def test_embeddings_are_cached_and_order_free(index):
    ls = index.listings_[:50]
    a = index.embed(ls, cache_dir=cache_dir())
    b = index.embed(ls[::-1], cache_dir=cache_dir())
    np.testing.assert_allclose(a, b[::-1], atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1, atol=1e-5)
    with pytest.raises(ValueError):
        CatalogIndex().fit(["a"], [])
