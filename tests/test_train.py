"""Training pipeline: artifact contents, reproducibility, no target leakage, bad input."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from graph.build import build_graph
from graph.contracts import Catalog
from graph.features import GraphFeaturizer
from models.predictor import dense_features, record_frame
from models.train import TrainConfig, catalog_table, train

TINY = dict(ft_max_texts=48, ft_batch_size=16, max_seq_length=24, word_features=3000,
            char_features=3000, head_max_epochs=2, hidden=(32, 16), threads=1, cache_dir=None,
            progress=False, save_graph=False)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    from tests.conftest import small_catalog

    return small_catalog(per_source=60)


@pytest.fixture(scope="module")
def artifact(catalog, tmp_path_factory):
    return train(catalog, TrainConfig(**TINY), tmp_path_factory.mktemp("m") / "a", log=None)


def test_artifact_is_self_describing(artifact):
    for name in ("encoder/pricing_encoder.json", "encoder/model.safetensors", "head/head.json",
                 "head/head.safetensors", "lexical/lexical.json",
                 "graph_features/featurizer.json", "catalog.parquet", "catalog_embeddings.npy",
                 "split.json", "metadata.json"):
        assert (artifact / name).exists(), name
    meta = json.loads((artifact / "metadata.json").read_text())
    assert meta["split"]["seed"] == 0 and meta["split"]["test_frac"] == 0.2
    assert len(meta["data"]["hash"]) == 64
    assert meta["config"]["hidden"] == [32, 16]
    assert meta["encoder_fine_tune"]["steps"] == 3
    assert set(meta["versions"]) >= {"torch", "transformers", "sklearn"}
    test = meta["metrics"]["test"]
    assert test["n"] == meta["split"]["sizes"]["test"]
    assert np.isfinite(test["rmsle"]) and 0 <= test["coverage"] <= 100
    split = json.loads((artifact / "split.json").read_text())
    assert not set(split["train"]) & set(split["test"])


def test_same_seed_same_metrics(catalog, artifact, tmp_path):
    again = train(catalog, TrainConfig(**TINY), tmp_path / "b", log=None)
    m1 = json.loads((artifact / "metadata.json").read_text())
    m2 = json.loads((again / "metadata.json").read_text())
    assert m1["data"]["hash"] == m2["data"]["hash"]
    assert abs(m1["metrics"]["test"]["rmsle"] - m2["metrics"]["test"]["rmsle"]) < 0.002


def test_fine_tuned_encoder_is_cached_and_reused(catalog, tmp_path):
    cfg = TrainConfig(**{**TINY, "cache_dir": str(tmp_path / "cache")})
    logs1: list[str] = []
    first = train(catalog, cfg, tmp_path / "c1", log=logs1.append)
    cached = list((tmp_path / "cache").glob("finetuned-*/fine_tune.json"))
    assert len(cached) == 1
    logs2: list[str] = []
    second = train(catalog, cfg, tmp_path / "c2", log=logs2.append)
    assert not any("reused" in line for line in logs1)
    assert any("fine-tuned encoder reused" in line for line in logs2)
    m1 = json.loads((first / "metadata.json").read_text())
    m2 = json.loads((second / "metadata.json").read_text())
    assert m1["encoder_fine_tune"] == m2["encoder_fine_tune"]
    assert m1["metrics"]["test"]["rmsle"] == pytest.approx(m2["metrics"]["test"]["rmsle"], abs=1e-6)
    # a different fine-tune setting is a different cache entry, not a stale hit
    other = train(catalog, TrainConfig(**{**TINY, "cache_dir": str(tmp_path / "cache"),
                                         "ft_lr": 5e-5}), tmp_path / "c3", log=None)
    assert len(list((tmp_path / "cache").glob("finetuned-*/fine_tune.json"))) == 2
    assert json.loads((other / "metadata.json").read_text())["encoder_fine_tune"]["lr"] == 5e-5


def test_target_never_leaks_into_features(catalog):
    """Changing a training product's price leaves its own feature row unchanged."""
    g = build_graph(catalog)
    pt = catalog_table(g)
    train_ids = pt["product_id"].tolist()[::2]
    victim = train_ids[3]
    fz = GraphFeaturizer().fit(g, train_ids)
    before = fz.transform(g, [victim])

    changed = catalog.products.copy()
    changed.loc[changed["product_id"] == victim, "price"] *= 50
    g2 = build_graph(Catalog(products=changed, reviews=catalog.reviews, offers=catalog.offers,
                             sales=catalog.sales))
    fz2 = GraphFeaturizer().fit(g2, train_ids)
    pd.testing.assert_frame_equal(before, fz2.transform(g2, [victim]))
    # ... and the record features never read the price column at all
    row = catalog_table(g2)
    row = row[row["product_id"] == victim]
    emb = np.zeros((1, 4), np.float32)
    a, _ = dense_features(emb, emb, np.zeros(1, np.float32), before, record_frame(row))
    row = row.assign(price=1.0)
    b, _ = dense_features(emb, emb, np.zeros(1, np.float32), before, record_frame(row))
    assert np.array_equal(a, b)


def test_train_all_calibrates_on_a_held_out_slice(catalog, tmp_path):
    """`pricing train DATA --all`: no test slice; intervals and the abstain threshold are
    calibrated on a held-out slice, and the metadata says so."""
    from typer.testing import CliRunner

    from assistant.cli import app
    from graph.contracts import PRODUCT_COLUMNS

    cfg = TrainConfig.all_products(TrainConfig(**TINY))
    assert cfg.mode == "all" and cfg.test_frac == 0 and not cfg.compare_frozen
    data, conf, out = tmp_path / "products.csv", tmp_path / "tiny.json", tmp_path / "all"
    catalog.products[PRODUCT_COLUMNS].to_csv(data, index=False)
    conf.write_text(json.dumps(TrainConfig(**TINY).to_dict()))
    res = CliRunner().invoke(app, ["train", str(data), "--out", str(out), "--all",
                                   "--config", str(conf), "--quiet"])
    assert res.exit_code == 0, res.output
    assert "production (--all)" in res.output and "abstains above" in res.output
    meta = json.loads((out / "metadata.json").read_text())
    sizes = meta["split"]["sizes"]
    assert sizes["test"] == 0 and sizes["train"] + sizes["val"] + sizes["calib"] == \
        meta["data"]["n_priced"]
    assert sizes["train"] >= 0.8 * meta["data"]["n_priced"] > sizes["calib"] > 0
    assert meta["training"]["mode"] == "all"
    assert "calibration slice" in meta["training"]["interval_calibration"]
    assert meta["calibration"]["n"] == sizes["calib"]
    assert "held-out calibration slice" in meta["calibration"]["method"]
    assert "test" not in meta["metrics"] and meta["metrics"]["val"]["n"] == sizes["val"]
    assert meta["abstain"]["n"] == sizes["calib"]
    assert 0 <= meta["metrics"]["abstain"]["val"]["abstain_pct"] <= 100
    split = json.loads((out / "split.json").read_text())
    assert split["test"] == [] and not set(split["calib"]) & set(split["train"])


def test_benchmark_mode_states_its_split(artifact):
    meta = json.loads((artifact / "metadata.json").read_text())
    assert meta["training"]["mode"] == "benchmark"
    ab = meta["metrics"]["abstain"]["test"]
    assert ab["n"] == meta["split"]["sizes"]["test"] and 0 <= ab["abstain_pct"] <= 100


def test_config_round_trip_and_errors(tmp_path):
    cfg = TrainConfig.full(seed=3)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown TrainConfig fields"):
        TrainConfig.from_dict({"sed": 1})
    tiny = Catalog(products=pd.DataFrame({"product_id": ["a", "b"], "title": ["x", "y"],
                                          "price": [1.0, 2.0], "source": ["t", "t"]}))
    with pytest.raises(ValueError, match="too few to train"):
        train(tiny, TrainConfig(**TINY), tmp_path / "x", log=None)
