"""assistant.chat.matching: lexical decisions, embedding re-ranking, and a calibration check on
the tiny demo catalog. Budget < 5 s after the session's `tiny_service` is built."""
from __future__ import annotations

from assistant.chat import CatalogMatcher


def test_matcher_decisions():
    ids = ["P1", "P2", "P3", "P4"]
    titles = ["boAt Rockerz 450 Bluetooth On Ear Headphones with Mic",
              "boAt Rockerz 450 Pro Bluetooth On Ear Headphones",
              "Prestige Iris 750 Watt Mixer Grinder with 3 Jars",
              "Milton Thermosteel Flip Lid Flask, 1000 ml, Silver"]
    m = CatalogMatcher(ids, titles)
    assert m.match("P3").status == "exact"
    r = m.match("prestige iris mixer grinder")
    assert r.status == "confident" and r.best.product_id == "P3"
    r = m.match("boAt Rockerz 450 headphones")
    assert r.status == "ambiguous" and {x.product_id for x in r.matches} >= {"P1", "P2"}
    assert m.match("handmade walnut chess board").status == "none"


def test_matcher_uses_embeddings_to_rerank():
    titles = ["Stainless steel water bottle 1 litre", "Steel wire rope 10 m"]
    vec = {"flask for drinking water": [1, 0], titles[0]: [0.95, 0.1], titles[1]: [0, 1]}
    m = CatalogMatcher(["a", "b"], titles, embed=lambda texts: [vec[t] for t in texts])
    assert m.search("flask for drinking water", k=1)[0].product_id == "a"


def test_matcher_searches_catalog_vectors():
    # "earbuds" shares no words with the title, but the catalog vectors know they are alike
    titles = ["Wireless in-ear headphones with charging case", "Garden hose 15 m", "Desk lamp LED"]
    vectors = [[1, 0, 0], [0, 1, 0], [0, 0, 0]]          # the lamp has no vector: lexical only
    m = CatalogMatcher(["a", "b", "c"], titles, embed=lambda texts: [[0.9, 0.1, 0]] * len(texts),
                       vectors=vectors, n_candidates=1)
    assert m.search("bluetooth earbuds", k=1)[0].product_id == "a"
    assert m.search("desk lamp led", k=1)[0].product_id == "c"


def test_matcher_on_catalog_titles(tiny_service):
    """Calibration check: 4-word title prefixes find their own product when the matcher is sure."""
    t = tiny_service.products
    matcher = CatalogMatcher.from_service(tiny_service)
    rows = t[t["title"].str.split().str.len() >= 6].sort_index().iloc[::max(1, len(t) // 60)]
    hits = confident = right = 0
    for pid, title in zip(rows["product_id"], rows["title"]):
        r = matcher.match(" ".join(title.split()[:4]).lower(), k=3)
        hits += any(m.product_id == pid for m in r.matches)
        if r.status == "confident":
            confident += 1
            right += r.best.product_id == pid
    assert hits / len(rows) >= 0.8
    assert confident >= len(rows) // 3 and right / confident >= 0.95
