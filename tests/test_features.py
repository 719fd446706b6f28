"""Tests for graph.features: leakage-free, exact leave-one-out graph price features.

Run: .venv/bin/python -m pytest tests/test_features.py -q
"""
from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph.build import build_graph
from graph.contracts import Catalog
from graph.features import FEATURE_NAMES, GraphFeaturizer, NotFittedError, group_quantiles
from graph.schema import normalize_name


def catalog_graph(rows: list[tuple], offers: list[tuple] = ()) -> nx.MultiDiGraph:
    """rows: (product_id, category_path, brand, price[, currency]); offers: (pid, comp, price,
    observed_at[, currency])."""
    prods = pd.DataFrame({
        "product_id": [r[0] for r in rows],
        "title": [f"title {r[0]}" for r in rows],
        "category_path": [r[1] for r in rows],
        "brand": [r[2] for r in rows],
        "price": pd.array([r[3] for r in rows], dtype="Float64"),
        "currency": [r[4] if len(r) > 4 else "INR" for r in rows],
        "source": "test",
    })
    off = pd.DataFrame({
        "product_id": [o[0] for o in offers], "competitor": [o[1] for o in offers],
        "price": [float(o[2]) for o in offers], "observed_at": [o[3] for o in offers],
        "currency": [o[4] if len(o) > 4 else "INR" for o in offers], "source": "test",
    }) if offers else Catalog().offers
    return build_graph(Catalog(products=prods, offers=off))


ROWS = [
    # one leaf with 4 priced products, a sibling leaf with 2, a root with a single product
    ("k1", "Home > Kitchen > Kettles", "Prestige", 800.0),
    ("k2", "Home > Kitchen > Kettles", "Prestige", 1000.0),
    ("k3", "Home > Kitchen > Kettles", "Pigeon", 1200.0),
    ("k4", "Home > Kitchen > Kettles", "Prestige", 1500.0),
    ("m1", "Home > Kitchen > Mugs", "Pigeon", 200.0),
    ("m2", "Home > Kitchen > Mugs", None, 300.0),
    ("t1", "Toys", "Lego", 2500.0),
    ("x1", "Home > Kitchen > Kettles", "Prestige", 900.0),   # test product
    ("x2", "Garden > Hoses", "Unheard", 450.0),              # test product, unseen category
]
TRAIN = ["k1", "k2", "k3", "k4", "m1", "m2", "t1"]
OFFERS = [
    ("k1", "ShopA", 780.0, "2023-01-01"),
    ("k1", "ShopA", 760.0, "2023-03-01"),   # ShopA's latest
    ("k1", "ShopB", 850.0, "2023-02-01"),
    ("k1", "ShopC", 9.0, "2023-02-01", "GBP"),  # other currency: never mixed in
]


@pytest.fixture(scope="module")
def graph() -> nx.MultiDiGraph:
    return catalog_graph(ROWS, OFFERS)


@pytest.fixture(scope="module")
def fitted(graph) -> GraphFeaturizer:
    return GraphFeaturizer(min_count=3).fit(graph, TRAIN)


def test_feature_names_and_index(graph, fitted):
    x = fitted.transform(graph, ["k1", "x1"])
    assert list(x.columns) == FEATURE_NAMES == fitted.feature_names_
    assert list(x.index) == ["k1", "x1"] and x.index.name == "product_id"
    assert (x.dtypes == np.float64).all()


def test_leakage_own_price_change_never_moves_own_features(graph):
    """THE leakage test: a training product's features ignore its own price."""
    before = GraphFeaturizer(min_count=3).fit(graph, TRAIN).transform(graph, ["k2", "k3"])
    g2 = graph.copy()
    g2.nodes["product:k2"]["price"] = 99_999.0
    after = GraphFeaturizer(min_count=3).fit(g2, TRAIN).transform(g2, ["k2", "k3"])
    pd.testing.assert_series_equal(before.loc["k2"], after.loc["k2"])
    # ... while a neighbour in the same category sees the change.
    assert after.loc["k3", "cat_median"] != before.loc["k3", "cat_median"]
    assert after.loc["k3", "cat_p75"] > before.loc["k3", "cat_p75"]


def test_leave_one_out_values_by_hand(graph, fitted):
    x = fitted.transform(graph, ["k1", "k3", "x1"])
    # k1 (800) is left out of the Kettles leaf {800, 1000, 1200, 1500}
    assert x.loc["k1", "cat_median"] == 1200.0 and x.loc["k1", "cat_count"] == 3
    assert x.loc["k1", "cat_p25"] == 1100.0 and x.loc["k1", "cat_p75"] == 1350.0
    assert x.loc["k1", "cat_depth"] == 3 and x.loc["k1", "cat_backoff"] == 0
    # Prestige without k1: {1000, 1500}; below min_count -> NaN median, true count kept
    assert np.isnan(x.loc["k1", "brand_median"]) and x.loc["k1", "brand_count"] == 2
    # neighbours = Kettles AND Prestige, minus itself
    assert x.loc["k1", "nb_median"] == 1250.0 and x.loc["k1", "nb_count"] == 2
    assert x.loc["k3", "nb_count"] == 0 and np.isnan(x.loc["k3", "nb_median"])
    # depth-1 "Home" holds 6 training prices; k1 sees 5 of them
    assert x.loc["k1", "cat_median_d1"] == np.median([1000, 1200, 1500, 200, 300])


def test_test_products_use_all_training_prices(graph, fitted):
    x = fitted.transform(graph, ["x1"]).loc["x1"]
    assert x.cat_count == 4 and x.cat_median == np.median([800, 1000, 1200, 1500])
    assert x.brand_count == 3 and x.brand_median == 1000.0
    assert x.nb_count == 3 and x.nb_median == 1000.0


def test_backoff_to_parent_when_leaf_is_thin(graph, fitted):
    m1 = fitted.transform(graph, ["m1"]).loc["m1"]
    # Mugs has 1 other price (< 3): back off to "Home > Kitchen" (5 others)
    assert m1.cat_depth == 2 and m1.cat_backoff == 1 and m1.cat_count == 5
    assert m1.cat_median == np.median([800, 1000, 1200, 1500, 300])
    assert np.isnan(m1.cat_median_d3)
    # A lone root product backs off to the catalog-wide level (depth 0)
    t1 = fitted.transform(graph, ["t1"]).loc["t1"]
    assert t1.cat_depth == 0 and t1.cat_count == 6 and t1.cat_backoff == 1
    stats = fitted.category_stats("Home > Kitchen > Mugs")
    assert stats["level_path"] == "Home > Kitchen" and stats["backed_off"] is True
    assert stats["n"] == 6 and stats["depth"] == 2


def test_unseen_category_and_brand_back_off_without_error(graph, fitted):
    x = fitted.transform(graph, ["x2"]).loc["x2"]
    assert x.cat_depth == 0 and x.cat_count == 7 and x.cat_backoff == 2
    assert x.brand_count == 0 and np.isnan(x.brand_median) and np.isnan(x.nb_median)
    r = fitted.transform_records([
        {"category_path": "Home>Kitchen> Toasters", "brand": "PRESTIGE"},
        {"category_path": None, "brand": None},
        {},
        {"category_path": float("nan"), "brand": "  "},
    ])
    assert r.iloc[0].cat_depth == 2 and r.iloc[0].brand_count == 3  # brand names normalised
    for i in (1, 2, 3):
        assert r.iloc[i].cat_depth == 0 and r.iloc[i].brand_count == 0
    assert r.iloc[1].cat_median == np.median([800, 1000, 1200, 1500, 200, 300, 2500])
    bs = fitted.brand_stats("Nobody")
    assert bs["n"] == 0 and bs["median"] is None


def test_records_match_graph_features_and_respect_loo(graph, fitted):
    from_graph = fitted.transform(graph, ["k1", "x1"]).drop(
        columns=["comp_min", "comp_median", "comp_max", "comp_count"])
    recs = fitted.transform_records([
        {"product_id": "k1", "category_path": "Home > Kitchen > Kettles", "brand": "Prestige"},
        {"product_id": "x1", "category_path": "Home > Kitchen > Kettles", "brand": "Prestige"},
    ])[from_graph.columns]
    pd.testing.assert_frame_equal(from_graph, recs, check_index_type=False)


def test_competitor_features_and_evidence(graph, fitted):
    x = fitted.transform(graph, ["k1", "k2"])
    # ShopA latest 760, ShopB 850; the GBP offer and ShopA's older offer do not count
    assert x.loc["k1", ["comp_min", "comp_median", "comp_max", "comp_count"]].tolist() == [
        760.0, 805.0, 850.0, 2.0]
    assert x.loc["k2", "comp_count"] == 0 and np.isnan(x.loc["k2", "comp_median"])
    ev = fitted.competitor_evidence(graph, "k1")
    assert ev["own_price"] == 800.0 and ev["median"] == 805.0 and ev["count"] == 2
    assert ev["price_index"] == pytest.approx(800.0 / 805.0)
    assert ev["excluded_currency"] == 1 and len(ev["offers"]) == 4
    assert [o["price"] for o in ev["offers"]] == sorted(o["price"] for o in ev["offers"])
    latest = {(o["competitor"], o["observed_at"]) for o in ev["offers"] if o["latest"]}
    assert ("ShopA", "2023-03-01") in latest and ("ShopA", "2023-01-01") not in latest
    assert fitted.competitor_evidence(graph, "k1", own_price=966.0)["price_index"] == pytest.approx(
        1.2)
    none = fitted.competitor_evidence(graph, "k2")
    assert none["count"] == 0 and none["price_index"] is None and none["offers"] == []
    every = GraphFeaturizer(min_count=3, offers="all").fit(graph, TRAIN)
    assert every.transform(graph, ["k1"]).loc["k1", "comp_count"] == 3
    assert every.competitor_evidence(graph, "k1")["median"] == 780.0


def test_stale_offers_are_shown_and_stop_counting(graph, fitted, monkeypatch):
    from datetime import date

    from graph.features import OFFER_MAX_AGE_ENV, offer_age_days

    as_of = date(2023, 3, 11)
    assert offer_age_days("2023-03-01", as_of) == 10 and offer_age_days(None, as_of) is None
    # ShopB's offer (2023-02-01, 38 days old) is stale at 30 days; ShopA's latest is not
    ev = fitted.competitor_evidence(graph, "k1", max_age_days=30, as_of=as_of)
    assert ev["count"] == 1 and ev["median"] == 760.0
    assert ev["stale"] == 3  # ShopA's older offer, ShopB, ShopC (GBP)
    shown = {(o["competitor"], o["stale"], o["age_days"]) for o in ev["offers"]}
    assert ("ShopB", True, 38) in shown and ("ShopA", False, 10) in shown
    assert fitted.competitor_evidence(graph, "k1", max_age_days=None)["count"] == 2
    # configured by environment: the model's competitor features drop them too (today is
    # years after 2023, so every dated offer is stale at 30 days)
    monkeypatch.setenv(OFFER_MAX_AGE_ENV, "30")
    x = fitted.transform(graph, ["k1"])
    assert x.loc["k1", "comp_count"] == 0 and np.isnan(x.loc["k1", "comp_median"])
    assert fitted.competitor_evidence(graph, "k1")["count"] == 0
    monkeypatch.setenv(OFFER_MAX_AGE_ENV, "soon")
    with pytest.raises(ValueError, match=OFFER_MAX_AGE_ENV):
        fitted.competitor_evidence(graph, "k1")


def test_currencies_are_never_mixed():
    g = catalog_graph([("a", "Toys", "Lego", 100.0, "GBP"), ("b", "Toys", "Lego", 110.0, "GBP"),
                       ("c", "Toys", "Lego", 9000.0, "INR"), ("d", "Toys", "Lego", 9500.0, "INR"),
                       ("e", "Toys", "Lego", 5.0, "GBP")])
    fz = GraphFeaturizer(min_count=1).fit(g, ["a", "b", "c", "d"])
    x = fz.transform(g, ["e"]).loc["e"]
    assert x.cat_count == 2 and x.cat_median == 105.0 and x.brand_median == 105.0
    assert fz.brand_stats("Lego", currency="INR")["median"] == 9250.0
    r = fz.transform_records([{"category_path": "Toys", "currency": "inr"}])
    assert r.iloc[0].cat_median == 9250.0


def test_save_load_round_trip_identical(graph, fitted, tmp_path):
    fitted.save(tmp_path / "fz")
    loaded = GraphFeaturizer.load(tmp_path / "fz")
    ids = [r[0] for r in ROWS]
    pd.testing.assert_frame_equal(fitted.transform(graph, ids), loaded.transform(graph, ids))
    recs = [{"category_path": "Home > Kitchen", "brand": "Pigeon"}, {"product_id": "k4"}]
    pd.testing.assert_frame_equal(fitted.transform_records(recs), loaded.transform_records(recs))
    assert loaded.category_stats("Home > Kitchen > Mugs") == fitted.category_stats(
        "Home > Kitchen > Mugs")
    assert loaded.get_params() == fitted.get_params() == {"min_count": 3, "offers": "latest"}


def test_node_ids_and_catalog_ids_are_the_same_product(graph, fitted):
    by_node = GraphFeaturizer(min_count=3).fit(graph, [f"product:{p}" for p in TRAIN])
    pd.testing.assert_frame_equal(by_node.transform(graph, ["k1"]), fitted.transform(graph, ["k1"]))
    x = fitted.transform(graph, ["product:k1"])
    assert x.iloc[0].cat_count == 3  # still leave-one-out


def test_bad_use_gives_clear_errors(graph, fitted):
    with pytest.raises(NotFittedError):
        GraphFeaturizer().transform(graph, ["k1"])
    with pytest.raises(KeyError, match="nope"):
        fitted.transform(graph, ["k1", "nope"])
    with pytest.raises(KeyError, match="nope"):
        GraphFeaturizer().fit(graph, ["k1", "nope"])
    with pytest.raises(ValueError, match="duplicates"):
        GraphFeaturizer().fit(graph, ["k1", "k1"])
    with pytest.raises(ValueError, match="min_count"):
        GraphFeaturizer(min_count=0).fit(graph, TRAIN)
    with pytest.raises(ValueError, match="record 1: competitor_prices"):
        fitted.transform_records([{}, {"competitor_prices": [-3]}])
    with pytest.raises(KeyError, match="zzz"):
        fitted.competitor_evidence(graph, "zzz")


def test_unpriced_training_products_are_counted_not_used():
    g = catalog_graph([("a", "T", None, 10.0), ("b", "T", None, None), ("c", "T", None, 30.0)])
    fz = GraphFeaturizer(min_count=1).fit(g, ["a", "b", "c"])
    assert fz.n_train_unpriced_ == 1 and fz.train_ids_ == ["a", "c"]
    assert fz.transform(g, ["b"]).loc["b", "cat_count"] == 2


# ----------------------------------------------------------------------- property tests

@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.sampled_from([1.0, 2.0, 2.0, 5.0]) | st.floats(0.01, 1e6),
                         min_size=1, max_size=12), min_size=1, max_size=6),
       st.data())
def test_group_quantiles_equal_numpy_with_one_left_out(groups, data):
    values = np.concatenate([np.sort(g) for g in groups])
    offsets = np.concatenate([[0], np.cumsum([len(g) for g in groups])])
    qs = (0.0, 0.25, 0.5, 0.75, 0.9, 1.0)
    codes, ranks, expected = [], [], []
    for c, grp in enumerate(groups):
        s = np.sort(grp)
        for r in [-1, *range(len(s))]:
            rest = s if r < 0 else np.delete(s, r)
            codes.append(c)
            ranks.append(r)
            expected.append(np.quantile(rest, qs) if len(rest) else np.full(len(qs), np.nan))
    codes.append(-1)
    ranks.append(-1)
    expected.append(np.full(len(qs), np.nan))
    m, out = group_quantiles(values, offsets, np.array(codes), np.array(ranks), qs)
    np.testing.assert_array_equal(out.T, np.array(expected))  # bit-for-bit numpy
    assert m[-1] == 0


PATHS = ["A", "A > B", "A > B > C", "A > B > D", "A > E", "F > G", None]
BRANDS = ["Acme", "acme ", "Zed", None]


def brute_force(rows, train, pid, min_count):
    """Reference features computed naively with numpy from the catalog rows."""
    me = next(r for r in rows if r[0] == pid)
    _, path, brand, _ = me
    brand = normalize_name(brand) if brand else None
    others = [r for r in rows if r[0] in train and r[0] != pid and r[3] is not None]

    def in_cat(r, pre):
        return pre == "" or (r[1] is not None and (r[1] == pre or r[1].startswith(pre + " > ")))

    def prices(pred):
        return np.array([r[3] for r in others if pred(r)], dtype=float)

    out = {}
    parts = path.split(" > ") if path else []
    levels = [""] + [" > ".join(parts[:i]) for i in range(1, len(parts) + 1)]
    per_level = [prices(lambda r, pre=pre: in_cat(r, pre)) for pre in levels]
    ok = [d for d, p in enumerate(per_level) if len(p) >= min_count]
    if ok:
        p = per_level[ok[-1]]
        out.update(cat_median=np.median(p), cat_p25=np.quantile(p, 0.25),
                   cat_p75=np.quantile(p, 0.75), cat_count=len(p), cat_depth=ok[-1],
                   cat_backoff=len(parts) - ok[-1])
    else:
        out.update(cat_median=np.nan, cat_p25=np.nan, cat_p75=np.nan, cat_count=0,
                   cat_depth=-1, cat_backoff=len(parts) + 1)
    for d in (1, 2, 3):
        p = per_level[d] if d < len(per_level) else np.array([])
        out[f"cat_median_d{d}"] = np.median(p) if len(p) >= min_count else np.nan
    def same_brand(r):
        return brand is not None and r[2] is not None and normalize_name(r[2]) == brand

    p = prices(same_brand)
    out.update(brand_median=np.median(p) if len(p) >= min_count else np.nan, brand_count=len(p))
    p = prices(lambda r: path is not None and r[1] == path and same_brand(r))
    out.update(nb_median=np.median(p) if len(p) else np.nan, nb_count=len(p))
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(PATHS), st.sampled_from(BRANDS),
                          st.sampled_from([None, 5.0, 10.0, 10.0]) | st.floats(1, 1e5),
                          st.booleans()),
                min_size=1, max_size=18),
       st.integers(1, 3))
def test_features_equal_brute_force(spec, min_count):
    rows = [(f"p{i}", path, brand, price) for i, (path, brand, price, _) in enumerate(spec)]
    train = {f"p{i}" for i, s in enumerate(spec) if s[3]}
    g = catalog_graph(rows)
    fz = GraphFeaturizer(min_count=min_count).fit(g, sorted(train))
    got = fz.transform(g, [r[0] for r in rows])
    for pid in got.index:
        want = brute_force(rows, train, pid, min_count)
        have = got.loc[pid, list(want)].to_numpy(dtype=float)
        np.testing.assert_allclose(have, np.array(list(want.values()), dtype=float),
                                   rtol=1e-12, equal_nan=True, err_msg=f"{pid}: {list(want)}")


def test_demo_catalog_end_to_end(demo_dir):
    """Real sample data (three currencies, competitor offers): every product gets features."""
    from graph.adapters import load_path

    g = build_graph(load_path(demo_dir))
    ids = sorted(n[len("product:"):] for n, d in g.nodes(data=True) if d["type"] == "product")
    priced = [p for p in ids if "price" in g.nodes[f"product:{p}"]]
    fz = GraphFeaturizer().fit(g, priced[::2])
    x = fz.transform(g, ids)
    assert x.index.is_unique and len(x) == len(ids)
    assert x.cat_median.notna().all()
    offered = x.index[x.comp_count > 0]
    assert len(offered) > 0
    pid = offered[0]
    ev = fz.competitor_evidence(g, pid)
    assert ev["count"] == x.loc[pid, "comp_count"] and ev["median"] == x.loc[pid, "comp_median"]
    assert ev["price_index"] == pytest.approx(g.nodes[f"product:{pid}"]["price"] / ev["median"])
