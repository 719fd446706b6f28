"""Predictor: load, round trip with training, odd records, drivers, comparables, bad input."""
from __future__ import annotations

import json

import numpy as np
import pytest

from models.predictor import GROUPS, Predictor
from models.train import TrainConfig, evaluate, train

TINY = dict(ft_max_texts=48, ft_batch_size=16, max_seq_length=24, word_features=3000,
            char_features=3000, head_max_epochs=2, hidden=(32, 16), threads=1, cache_dir=None,
            progress=False, save_graph=True)


@pytest.fixture(scope="module")
def catalog():
    from tests.conftest import small_catalog

    return small_catalog(per_source=60)


@pytest.fixture(scope="module")
def artifact(catalog, tmp_path_factory):
    return train(catalog, TrainConfig(**TINY), tmp_path_factory.mktemp("p") / "a", log=None)


@pytest.fixture(scope="module")
def pred(artifact) -> Predictor:
    return Predictor.load(artifact)


def test_round_trip_reproduces_training_metrics(artifact, catalog):
    meta = json.loads((artifact / "metadata.json").read_text())
    m = evaluate(artifact, catalog, part="test")
    assert m["n"] == meta["metrics"]["test"]["n"] == m["n_in_catalog"]
    assert m["rmsle"] == pytest.approx(meta["metrics"]["test"]["rmsle"], abs=1e-6)
    assert m["coverage"] == pytest.approx(meta["metrics"]["test"]["coverage"], abs=1e-9)


def test_predict_ids_and_records(pred):
    ids = pred.catalog_["product_id"].tolist()[:3]
    by_id = pred.predict(ids)
    assert [p.product_id for p in by_id] == ids and all(p.in_catalog for p in by_id)
    for p in by_id:
        assert p.low <= p.p50 <= p.high and p.coverage == 0.8
        assert p.log_p50 == pytest.approx(np.log1p(p.p50), rel=1e-6)
    # the same product described in full (fields from the catalog) gets the same price
    row = pred.catalog_.iloc[0].to_dict()
    again = pred.predict([{k: row[k] for k in ("product_id", "title", "category_path",
                                               "brand", "currency")}])[0]
    assert again.p50 == pytest.approx(by_id[0].p50, rel=1e-5)


def test_odd_records_still_priced(pred):
    recs = [{"title": "Plain steel water bottle 1 litre"},                       # nothing else
            {"title": "Wireless earbuds", "category_path": "Gadgets > Never Seen > Before",
             "brand": "UnknownBrandXYZ", "rating": 4.1, "rating_count": 10},
            {"title": "Wireless earbuds", "reviews": ["great bass", "battery lasts"],
             "competitor_prices": [999.0, 1099.0], "currency": "INR"}]
    out = pred.predict(recs)
    assert len(out) == 3
    for p in out:
        assert np.isfinite([p.p50, p.low, p.high]).all() and p.p50 > 0 and not p.in_catalog


def test_drivers_sum_and_ablation(pred):
    rec = {"title": "boAt Airdopes 141 wireless earbuds", "brand": "boAt",
           "category_path": "tv, audio & cameras > Headphones", "reviews": ["nice"],
           "rating": 4.0, "rating_count": 1200, "currency": "INR"}
    d = pred.drivers_detail(rec)
    assert set(d["drivers"]) == set(GROUPS)
    # Shapley values over the group ablations add up to prediction minus baseline
    assert sum(d["drivers"].values()) == pytest.approx(d["log_p50"] - d["baseline_log"],
                                                       abs=1e-4)
    assert d["log_p50"] == pytest.approx(pred.predict([rec])[0].log_p50, abs=1e-5)
    ab = pred.drivers(rec, method="ablation")
    assert set(ab) == set(GROUPS) and all(np.isfinite(list(ab.values())))
    # a product with no offers: replacing "no offers" by the (mostly no-offer) mean moves
    # the price far less than the text does
    assert abs(d["drivers"]["competitors"]) < max(abs(d["drivers"]["text"]), 1e-3) + 0.05
    p = pred.predict([rec], drivers=True)[0]
    assert set(p.drivers) == set(GROUPS)


def test_neighbours_and_embed(pred):
    priced = pred.catalog_.dropna(subset=["category_path", "price"])
    path = priced["category_path"].value_counts().index[0]       # the fullest category
    pid = priced.loc[priced["category_path"] == path, "product_id"].iloc[0]
    nb = pred.neighbours(pid, k=3)
    assert 0 < len(nb) <= 3 and all(n["product_id"] != pid for n in nb)
    assert all(n["category_path"] == path or n["category_path"].startswith(path + " > ")
               for n in nb)
    sims = [n["similarity"] for n in nb]
    assert sims == sorted(sims, reverse=True)
    E = pred.embed(["a title", "another title"])
    assert E.shape == (2, pred.catalog_embeddings_.shape[1])
    assert np.allclose(np.linalg.norm(E, axis=1), 1.0, atol=1e-5)
    whole = pred.neighbours(E[0], category_path="", k=5)
    assert len(whole) == 5


def test_neighbours_many_matches_one_by_one_search(pred):
    priced = pred.catalog_.dropna(subset=["category_path", "price"])
    ids = priced["product_id"].astype(str).tolist()[:12]
    preds = pred.predict(ids)
    E = np.stack([p.embedding for p in preds])
    # the prediction carries the embedding it used: the catalog's stored one
    rows = [pred.catalog_.index[pred.catalog_["product_id"] == i][0] for i in ids]
    assert np.allclose(E, pred.catalog_embeddings_[rows], atol=1e-6)
    paths = priced["category_path"].tolist()[:12]
    paths[0] = None                                           # whole catalog for one row
    many = pred.neighbours_many(E, paths, k=4, exclude_ids=[[i] for i in ids])
    for i, pid in enumerate(ids):
        one = pred.neighbours(E[i], category_path=paths[i] or "", k=4, exclude_id=pid)
        assert [n["product_id"] for n in many[i]] == [n["product_id"] for n in one]
        assert pid not in [n["product_id"] for n in many[i]]
    # brute force over the whole catalog agrees with the sorted-slice search
    cat = pred.catalog_
    for i in (1, 5):
        path = paths[i]
        inside = ((cat["category_path"] == path) | cat["category_path"].fillna("").str.startswith(
            path + " > ")) & cat["price"].notna() & (cat["product_id"] != ids[i])
        rows_in = np.flatnonzero(inside.to_numpy())
        sims = pred.catalog_embeddings_[rows_in] @ E[i]
        best = cat["product_id"].to_numpy()[rows_in[np.argsort(-sims, kind="stable")[:4]]]
        assert [n["product_id"] for n in many[i]] == list(best)
    with pytest.raises(ValueError, match="embeddings must have shape"):
        pred.neighbours_many(E[:, :5], paths, k=3)
    with pytest.raises(ValueError, match="category paths for"):
        pred.neighbours_many(E, paths[:3], k=3)
    assert pred.neighbours_many(E, paths, k=0) == [[] for _ in ids]
    assert "embedding" not in preds[0].to_dict()


def test_service_facing_attributes(pred):
    assert pred.version and pred.featurizer_ is pred.graph_features
    assert pred.graph_.number_of_nodes() > len(pred.catalog_)


def test_save_writes_what_load_reads(pred, tmp_path):
    """Predictor.save owns the format: a saved copy loads back and prices identically."""
    out = pred.save(tmp_path / "copy", split={"train": pred.train_ids})
    meta = json.loads((out / "metadata.json").read_text())
    assert set(meta["components"]) >= {"encoder", "head", "lexical", "graph_features", "catalog",
                                       "catalog_embeddings", "split"}
    again = Predictor.load(out)
    ids = pred.catalog_["product_id"].tolist()[:5]
    rec = {"title": "Stainless steel water bottle 1 litre", "category_path": "Home & Kitchen"}
    for a, b in zip(pred.predict(ids + [rec]), again.predict(ids + [rec])):
        assert a.p50 == pytest.approx(b.p50, rel=1e-6) and a.high == pytest.approx(b.high, rel=1e-6)
    assert again.train_ids == pred.train_ids and again.version == pred.version


def test_with_graph_is_a_refit_copy(pred):
    """A predictor for an unchanged graph prices as before; the original is left alone."""
    g = pred.graph_
    copy = pred.with_graph(g)
    assert copy is not pred and copy.graph_features is not pred.graph_features
    assert copy.graph_ is g
    ids = pred.catalog_["product_id"].tolist()[:5]
    assert [p.p50 for p in copy.predict(ids)] == pytest.approx([p.p50 for p in pred.predict(ids)])


def test_bad_input(pred, tmp_path):
    with pytest.raises(ValueError, match="record 1: field 'title'"):
        pred.predict([{"title": "ok"}, {"title": "  "}])
    with pytest.raises(KeyError, match="not in the catalog"):
        pred.predict(["no-such-id"])
    with pytest.raises(ValueError, match="'rating' is not a number"):
        pred.predict([{"title": "x", "rating": "five"}])
    with pytest.raises(FileNotFoundError, match="pricing train"):
        Predictor.load(tmp_path)
    assert pred.predict([]) == []


def test_cli_evaluate_and_predict(artifact, catalog, tmp_path):
    """`pricing evaluate` reloads the artifact and reproduces the training-time metrics."""
    from typer.testing import CliRunner

    from assistant.cli import app
    from graph.contracts import PRODUCT_COLUMNS

    data = tmp_path / "products.csv"
    catalog.products[PRODUCT_COLUMNS].to_csv(data, index=False)
    res = CliRunner().invoke(app, ["evaluate", str(artifact), str(data), "--part", "test",
                                   "--json"])
    assert res.exit_code == 0, res.output
    out = res.stdout
    m = json.loads(out[out.index("{\n"):])
    meta = json.loads((artifact / "metadata.json").read_text())
    assert m["n"] == meta["metrics"]["test"]["n"]
    pid = json.loads((artifact / "split.json").read_text())["test"][0]
    res = CliRunner().invoke(app, ["predict", str(artifact), pid, "Steel bottle | Kitchen",
                                   "--drivers"])
    assert res.exit_code == 0, res.output
    assert pid in res.output and "interval" in res.output


def test_abstain_width_from_metadata_or_refit_for_older_artifacts(artifact):
    meta = json.loads((artifact / "metadata.json").read_text())
    stored = meta["abstain"]
    assert stored["source"] == "calibration slice"
    assert stored["n"] == meta["split"]["sizes"]["calib"]
    assert stored["max_relative_width"] >= stored["floor"] == 1.5
    p = Predictor.load(artifact)
    assert p.abstain_width() == stored["max_relative_width"]
    # an artifact trained before the threshold existed: refit on its calibration rows, the
    # same number training wrote (the same rows, predicted from the stored embeddings)
    del p.metadata["abstain"]
    assert p.abstain_width() == pytest.approx(stored["max_relative_width"], rel=1e-4)
    assert p.metadata["abstain"]["fitted"].startswith("at load")
    # no calibration rows to fit on: no model threshold (the service falls back to 1.5)
    q = Predictor.load(artifact)
    del q.metadata["abstain"]
    q.catalog_ = q.catalog_.assign(split="train")
    assert q.abstain_width() is None


# ----------------------------------------------------------------- stacked model
@pytest.fixture(scope="module")
def stacked(tmp_path_factory) -> Predictor:
    """A tiny model with the stacker (neighbour prices, target encoding, trees)."""
    from tests.conftest import small_catalog

    cfg = TrainConfig(**(TINY | {"stack_min_rows": 60, "stack_folds": 3}))
    out = train(small_catalog(per_source=250), cfg, tmp_path_factory.mktemp("s") / "a", log=None)
    return Predictor.load(out)


def test_stacked_model_round_trip_and_drivers(stacked):
    meta = stacked.metadata
    assert meta["stack"]["used"] and stacked.stack is not None
    assert "cross-fitting" in meta["calibration"]["method"]
    assert "test_head_only" in meta["metrics"]
    # the saved model scores its test slice exactly as training did
    test_ids = json.loads((stacked.directory / "split.json").read_text())["test"]
    preds = stacked.predict(test_ids)
    price = stacked.catalog_.set_index("product_id").loc[test_ids, "price"].to_numpy()
    from models.metrics import price_metrics

    m = price_metrics(price, [p.p50 for p in preds], [p.low for p in preds],
                      [p.high for p in preds])
    assert m["rmsle"] == pytest.approx(meta["metrics"]["test"]["rmsle"], abs=1e-6)
    d = stacked.drivers_detail(test_ids[0])
    assert set(d["drivers"]) == set(GROUPS) | {"neighbours"}
    assert sum(d["drivers"].values()) == pytest.approx(d["log_p50"] - d["baseline_log"],
                                                       abs=1e-4)
    assert d["log_p50"] == pytest.approx(preds[0].log_p50, abs=1e-6)
    p = stacked.predict([test_ids[0]], drivers=True)[0]
    assert p.drivers["neighbours"] == pytest.approx(d["drivers"]["neighbours"], abs=1e-6)


def test_stacked_neighbour_features_leave_a_training_product_out(stacked):
    refs = stacked._neighbour_refs
    train = set(stacked.train_ids)
    cat = stacked.catalog_
    row = cat[cat["product_id"].astype(str).isin(train) & cat["price"].notna()].iloc[0]
    frame = stacked._resolve([str(row["product_id"])])
    Xs, Xd = stacked.features(frame)
    F = stacked.stack_frame(frame, Xs, Xd, stacked.head.predict(Xs, Xd))
    emb = Xd[:, :stacked.encoder.dim_]
    alone = refs["emb"].transform(emb, currencies=frame["currency"].tolist())
    assert alone["nbe_sim1"].iloc[0] == pytest.approx(1.0, abs=1e-3)     # itself, if allowed
    assert F["nbe_sim1"].iloc[0] < alone["nbe_sim1"].iloc[0] or \
        F["nbe_top1"].iloc[0] != pytest.approx(np.log1p(row["price"]))


def test_stacked_neighbour_prices_stay_in_the_products_currency(stacked):
    cat = stacked.catalog_
    train = cat[cat["product_id"].astype(str).isin(set(stacked.train_ids))
                & cat["price"].notna()]
    gbp = set(np.round(np.log1p(train.loc[train["currency"] == "GBP", "price"]), 9))
    inr = set(np.round(np.log1p(train.loc[train["currency"] == "INR", "price"]), 9))
    recs = [{"title": "Wooden jigsaw puzzle 1000 pieces", "currency": "GBP"},
            {"title": "Stainless steel electric kettle 1.5 litre", "currency": "INR"}]
    frame = stacked._resolve(recs)
    Xs, Xd = stacked.features(frame)
    F = stacked.stack_frame(frame, Xs, Xd, stacked.head.predict(Xs, Xd))
    for col in ("nbe_top1", "nbt_top1"):
        assert round(F[col].iloc[0], 9) in gbp and round(F[col].iloc[0], 9) not in inr
        assert round(F[col].iloc[1], 9) in inr


def test_prepare_builds_the_neighbour_search_once(stacked):
    assert stacked.prepare() is stacked
    refs = stacked.__dict__["_neighbour_refs"]          # built by prepare, not by a request
    assert set(refs) == {"emb", "tfidf"}
    stacked.predict([{"title": "Wooden jigsaw puzzle", "currency": "GBP"}])
    assert stacked.__dict__["_neighbour_refs"] is refs
