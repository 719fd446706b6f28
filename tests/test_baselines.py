"""Tests for models.baselines on a synthetic catalog whose prices follow its text and categories.

Prices are set by the category (base price), an adjective ("premium" ×3) and a pack size
("pack of two" ×2 ...) with 10% noise, so a model that reads titles must beat the category
median, which must beat the global median.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.baselines import (
    BASELINES,
    FrozenMiniLMRidge,
    GlobalMedian,
    LeafCategoryMedian,
    SparseMLP,
    TfidfRidge,
    category_levels,
    embed_texts,
)
from models.metrics import price_metrics

CATEGORIES = {"Toys > Trains": 50.0, "Toys > Dolls": 20.0, "Home > Kitchen > Knives": 30.0,
              "Home > Kitchen": 80.0, "Books": 10.0}
PACKS = {"one": 1, "two": 2, "three": 3, "four": 4}


def catalog(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        cat = list(CATEGORIES)[rng.integers(len(CATEGORIES))]
        adj = ["premium", "basic", "classic"][rng.integers(3)]
        pack = list(PACKS)[rng.integers(len(PACKS))]
        noun = cat.split(" > ")[-1].lower()
        price = (CATEGORIES[cat] * (3.0 if adj == "premium" else 1.0) * PACKS[pack]
                 * rng.lognormal(0, 0.1))
        rating = float(rng.uniform(1, 5)) if i % 3 else np.nan
        rows.append({"product_id": f"P{seed}-{i:05d}", "title": f"Acme {adj} {noun} pack of {pack}",
                     "category_path": cat, "price": round(price, 2), "rating": rating,
                     "rating_count": float(rng.integers(0, 500)) if i % 3 else np.nan})
    return pd.DataFrame(rows)


TRAIN, CALIB, TEST = catalog(600, 0), catalog(200, 1), catalog(200, 2)
FAST = {
    "sparse_mlp": {"word_features": 2000, "char_features": 2000, "hidden": (32, 16, 16),
                   "batch_size": 32, "lr": 1e-2, "threads": 1},
}


def rmsle(model, frame=TEST) -> float:
    return price_metrics(frame["price"], model.predict(frame))["rmsle"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("emb")


def fitted(name: str, cache_dir=None):
    params = dict(FAST.get(name, {}))
    if name == "frozen_minilm_ridge":
        params["cache_dir"] = cache_dir
    return BASELINES[name](**params).fit(TRAIN)


def test_category_levels():
    assert category_levels("A > B > C") == ["A", "A > B", "A > B > C"]
    assert category_levels("A>B") == ["A", "A > B"]
    assert category_levels(None) == [] and category_levels(float("nan")) == []


def test_global_median_is_the_training_median():
    model = GlobalMedian().fit(TRAIN)
    assert np.all(model.predict(TEST) == np.median(TRAIN["price"]))


def test_leaf_median_backs_off_to_parent_then_global():
    model = LeafCategoryMedian(min_count=3).fit(TRAIN)
    kitchen = TRAIN["category_path"].str.startswith("Home > Kitchen")
    probe = pd.DataFrame({"title": ["x", "y", "z", "w"],
                          "category_path": ["Toys > Dolls", "Home > Kitchen > Spoons",
                                            "Garden > Tools", np.nan]})
    got = model.predict(probe)
    dolls = TRAIN.loc[TRAIN["category_path"] == "Toys > Dolls", "price"]
    assert got[0] == pytest.approx(np.median(dolls))
    assert got[1] == pytest.approx(np.median(TRAIN.loc[kitchen, "price"]))  # parent level
    assert got[2] == got[3] == pytest.approx(np.median(TRAIN["price"]))  # global


def test_leaf_median_min_count_skips_rare_leaves():
    frame = pd.DataFrame({"title": ["a", "b", "c"], "price": [10.0, 20.0, 1000.0],
                          "category_path": ["A > B", "A > B", "A > C"]})
    model = LeafCategoryMedian(min_count=2).fit(frame)
    assert model.predict(frame.iloc[[2]])[0] == pytest.approx(20.0)  # "A" median, not 1000


@pytest.mark.parametrize("name", ["leaf_category_median", "tfidf_ridge", "frozen_minilm_ridge",
                                  "sparse_mlp"])
def test_baseline_beats_global_median(name, cache):
    model = fitted(name, cache)
    pred = model.predict(TEST)
    assert pred.shape == (len(TEST),) and np.all(np.isfinite(pred)) and np.all(pred >= 0)
    assert rmsle(model) < 0.8 * rmsle(GlobalMedian().fit(TRAIN))


@pytest.mark.parametrize("name", ["tfidf_ridge", "sparse_mlp"])
def test_text_models_beat_category_median(name):
    # only the title tells "premium" and pack size apart
    assert rmsle(fitted(name)) < 0.7 * rmsle(LeafCategoryMedian().fit(TRAIN))


def test_conformal_interval_covers_held_out_prices():
    model = TfidfRidge().fit(TRAIN).calibrate(CALIB, coverage=0.9)
    p50, low, high = model.predict_interval(TEST)
    assert np.all(low <= p50) and np.all(p50 <= high)
    m = price_metrics(TEST["price"], p50, low, high)
    assert 75.0 <= m["coverage"] <= 100.0
    wider = TfidfRidge().fit(TRAIN).calibrate(CALIB, coverage=0.99)
    assert wider.q_ >= model.q_


def test_misuse_is_refused():
    with pytest.raises(RuntimeError, match="not fitted"):
        TfidfRidge().predict(TEST)
    with pytest.raises(RuntimeError, match="calibrate"):
        GlobalMedian().fit(TRAIN).predict_interval(TEST)
    bad = TRAIN.copy()
    bad.loc[5, "price"] = -3.0
    with pytest.raises(ValueError, match="P0-00005"):
        LeafCategoryMedian().fit(bad)
    with pytest.raises(ValueError, match="lacks column"):
        TfidfRidge().fit(TRAIN.drop(columns="title"))
    with pytest.raises(ValueError, match="title at row 2"):
        TfidfRidge().fit(TRAIN.assign(title=TRAIN["title"].where(TRAIN.index != 2)))


def test_embeddings_come_from_the_cache_the_second_time(cache, monkeypatch):
    texts = ["Acme premium trains pack of two | Toys > Trains", "a second text"]
    first = embed_texts(texts, cache_dir=cache)
    assert first.shape == (2, 384)
    assert np.allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-4)
    import sentence_transformers

    def no_model(*args, **kwargs):
        raise AssertionError("the cache should have answered")

    monkeypatch.setattr(sentence_transformers, "SentenceTransformer", no_model)
    again = embed_texts(list(reversed(texts)), cache_dir=cache)
    assert np.array_equal(again, first[::-1])


def test_frozen_minilm_text_includes_category():
    model = FrozenMiniLMRidge()
    assert model.texts(TEST.iloc[:1]) == [f"{TEST.title[0]} | {TEST.category_path[0]}"]


def test_sparse_mlp_is_deterministic():
    a = SparseMLP(**FAST["sparse_mlp"], n_seeds=1).fit(TRAIN).predict(TEST[:20])
    b = SparseMLP(**FAST["sparse_mlp"], n_seeds=1).fit(TRAIN).predict(TEST[:20])
    assert np.allclose(a, b)


def test_on_demo_sample_through_the_adapters(demo_dir):
    """Real listings: the bench's recipe (adapter, split, fit on train+val) on data/demo."""
    folder = demo_dir / "amazon_in_2023"
    from graph.adapters import load_dataset
    from models.split import make_split

    products = load_dataset("amazon_in_2023", folder).products.set_index("product_id",
                                                                           drop=False)
    split = make_split(products.index)
    fit, test = products.loc[split.fit_ids()], products.loc[split.test]
    scores = {name: price_metrics(test["price"], BASELINES[name]().fit(fit).predict(test))
              for name in ("global_median", "leaf_category_median", "tfidf_ridge")}
    assert scores["leaf_category_median"]["rmsle"] < scores["global_median"]["rmsle"]
    assert scores["tfidf_ridge"]["rmsle"] < scores["leaf_category_median"]["rmsle"]
    assert scores["tfidf_ridge"]["within_20"] > scores["global_median"]["within_20"]
