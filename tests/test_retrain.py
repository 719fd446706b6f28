"""Retraining behind a gate, on the real tiny model: outcomes reprice the catalog, the
challenger reuses the champion's encoder and embeddings, the gate compares both on the latest
outcomes, the registry keeps the challenger with its verdict and promotes it when it wins."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from assistant.retrain import (
    GateConfig,
    RetrainError,
    holdout_cutoff,
    judge,
    reprice_graph,
    retrain,
)
from models.predictor import Predictor
from models.registry import ModelRegistry

FACTOR = 3.0  # every sold price is 3x the catalog's: a drift no model trained before can see


@pytest.fixture(scope="module")
def champion(tiny_artifact) -> Predictor:
    return Predictor.load(tiny_artifact)


@pytest.fixture(scope="module")
def outcomes(champion) -> pd.DataFrame:
    cat = champion.catalog_
    cat = cat[cat["price"].notna() & (cat["currency"] == "INR")]
    rng = np.random.default_rng(0)
    pick = cat.sample(min(len(cat), 600), random_state=0)
    return pd.DataFrame({
        "outcome_id": [f"o{i}" for i in range(len(pick))],
        "product_id": pick["product_id"].to_numpy(),
        "date": pd.Timestamp("2023-03-01") + pd.to_timedelta(rng.integers(0, 20, len(pick)), unit="D"),
        "sold_price": pick["price"].to_numpy() * FACTOR, "units": 1})


@pytest.fixture(scope="module")
def run(tiny_artifact, champion, outcomes, tmp_path_factory):
    reg = ModelRegistry(tmp_path_factory.mktemp("reg") / "registry")
    v1 = reg.register(tiny_artifact, note="initial")
    reg.promote(v1.version)
    # The tiny model's intervals are meaningless (relative width ~14), so the coverage rule is
    # off here; test_cutoff_and_judge covers it.
    gate = GateConfig(holdout_days=5, min_holdout=30, coverage_tolerance=1.0)
    res = retrain(reg, champion.graph_, outcomes, gate=gate, cache_dir=None, log=None)
    return reg, v1, res


def test_reprice_graph_uses_units_weighted_median(champion):
    pid = champion.catalog_["product_id"].iloc[0]
    f = pd.DataFrame({"product_id": [pid, pid, pid, "not-in-graph"],
                      "sold_price": [10.0, 20.0, 1000.0, 5.0], "units": [5, 1, 1, 1]})
    before = champion.graph_.nodes[f"product:{pid}"].get("price")
    g, n, skipped = reprice_graph(champion.graph_, f)
    assert (n, skipped) == (1, 1) and g.nodes[f"product:{pid}"]["price"] == 10.0
    assert champion.graph_.nodes[f"product:{pid}"].get("price") == before  # a copy was edited


def test_cutoff_and_judge():
    f = pd.DataFrame({"date": pd.to_datetime(["2023-03-01", "2023-03-10"])})
    assert holdout_cutoff(f, 7) == pd.Timestamp("2023-03-04")
    champ = {"rmsle": 0.60, "coverage": 80.0, "nominal_coverage": 80.0}
    ok, why = judge(champ, {"rmsle": 0.50, "coverage": 78.0, "nominal_coverage": 80.0}, GateConfig())
    assert ok and "gain 0.1000" in why
    ok, why = judge(champ, {"rmsle": 0.59, "coverage": 80.0, "nominal_coverage": 80.0},
                    GateConfig(min_gain=0.02))
    assert not ok and "does not beat" in why
    ok, why = judge(champ, {"rmsle": 0.40, "coverage": 50.0, "nominal_coverage": 80.0}, GateConfig())
    assert not ok and "coverage 50.0%" in why
    # coverage outside the band but closer to nominal than the champion's: allowed
    ok, _ = judge({"rmsle": 0.6, "coverage": 40.0}, {"rmsle": 0.5, "coverage": 60.0,
                                                     "nominal_coverage": 80.0}, GateConfig())
    assert ok


def test_challenger_wins_and_is_promoted(run, outcomes):
    reg, v1, res = run
    g = res.gate
    assert g.champion_version == v1.version and g.cutoff == "2023-03-16"
    assert g.n_holdout == int((outcomes["date"] >= "2023-03-16").sum())
    assert g.challenger["n"] == g.champion["n"] == g.n_holdout
    assert g.passed and res.promoted, g.reason
    assert g.challenger["rmsle"] < g.champion["rmsle"]
    assert reg.champion_version() == res.version != v1.version
    v2 = reg.get(res.version)
    assert v2.parent == v1.version and v2.gate["passed"] and v2.gate["cutoff"] == "2023-03-16"
    assert res.n_repriced == int((outcomes["date"] < "2023-03-16").sum())
    assert v2.data_hash != v1.data_hash                 # the outcomes changed the training data


def test_challenger_reuses_the_encoder_and_embeddings(run, champion):
    reg, _, res = run
    meta = json.loads((res.path / "metadata.json").read_text())
    ft = meta["encoder_fine_tune"]
    assert ft["reused_from"] == str(reg.path(reg.get(res.version).parent))
    assert ft["encoded"] == 0 and ft["reused"] == meta["data"]["n_products"]
    assert meta["config"]["encoder_from"] == ft["reused_from"]
    new = Predictor.load(res.path)
    a = champion.catalog_.set_index("product_id")
    b = new.catalog_.set_index("product_id")
    pid = a.index[0]
    ea = champion.catalog_embeddings_[champion.catalog_.index[champion.catalog_["product_id"] == pid][0]]
    eb = new.catalog_embeddings_[new.catalog_.index[new.catalog_["product_id"] == pid][0]]
    assert np.array_equal(ea, eb)
    assert set(a.index) == set(b.index)
    # the challenger prices the drifted products higher: it learned the outcomes
    ids = [p for p in a.index if pd.notna(a.loc[p, "price"])][:50]
    assert np.median([q.p50 for q in new.predict(ids)]) > np.median([q.p50 for q in champion.predict(ids)])


def test_refusals(tiny_artifact, champion, outcomes, tmp_path):
    empty = ModelRegistry(tmp_path / "r")
    with pytest.raises(RetrainError, match="no champion"):
        retrain(empty, champion.graph_, outcomes, log=None)
    v = empty.register(tiny_artifact)
    empty.promote(v.version)
    with pytest.raises(RetrainError, match="no outcomes"):
        retrain(empty, champion.graph_, outcomes.iloc[:0], log=None)
    with pytest.raises(RetrainError, match="at least 10000"):
        retrain(empty, champion.graph_, outcomes, gate=GateConfig(min_holdout=10000), log=None)
    assert [m.version for m in empty.list()] == [v.version]
