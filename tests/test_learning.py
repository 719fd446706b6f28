"""Continuous learning around a real service: outcomes in, report on the real model's reference,
alerts out once each, and the served model following the registry's champion (directly and
through the watcher thread), via ``PricingService.swap_predictor``."""
from __future__ import annotations

import json
import shutil
import time

import pytest

from assistant.alerts import FileSink
from assistant.explain import Explainer
from assistant.learning import Learning, LearningSettings, champion_artifact, learning_for
from assistant.service import PricingService
from assistant.suggestion_store import SuggestionStore
from models.registry import ModelRegistry


def copy_as(artifact, dest, version: str):
    """A real, loadable copy of the model under another version name."""
    shutil.copytree(artifact, dest)
    meta = json.loads((dest / "metadata.json").read_text())
    meta["model_version"] = version
    (dest / "metadata.json").write_text(json.dumps(meta))
    return dest


@pytest.fixture()
def svc(tiny_service, tmp_path) -> PricingService:
    return PricingService(tiny_service.graph, tiny_service.predictor,
                          SuggestionStore(tmp_path / "s.sqlite"), Explainer(None))


@pytest.fixture(scope="module")
def registry(tiny_artifact, tmp_path_factory) -> ModelRegistry:
    root = tmp_path_factory.mktemp("learning")
    reg = ModelRegistry(root / "registry")
    v1 = reg.register(tiny_artifact)
    reg.promote(v1.version)
    reg.register(copy_as(tiny_artifact, root / "copy", "copy-v2"), move=True)
    return reg


def settings(**kw) -> LearningSettings:
    return LearningSettings(**{"alerts": "log", "registry_poll_s": 0.2, **kw})


def test_one_learning_per_service(svc, tmp_path):
    first = learning_for(svc, settings(), sink=FileSink(tmp_path / "a.jsonl"))
    assert learning_for(svc) is first and isinstance(first, Learning)
    assert first.outcomes.path == svc.store.path and first.registry is None


def test_outcomes_in_alerts_out_once(svc, tiny_service, tmp_path):
    sink = FileSink(tmp_path / "alerts.jsonl")
    learning = Learning(svc, settings(), sink=sink)
    p = svc.products
    p = p[p["price"].notna() & (p["currency"] == "INR")].sort_index()

    def rows(factor: float) -> list[dict]:
        return [{"product_id": pid, "sold_price": float(price) * factor, "units": 1,
                 "date": f"2023-03-{1 + i % 28:02d}"} for i, (pid, price) in
                enumerate(zip(p["product_id"], p["price"]))][:600]

    res = learning.record(rows(3.0))
    assert len(res.stored) == 600 and res.errors == []
    rep = learning.report()
    assert rep.n == 600 and rep.model_versions == [svc.model_version]
    # the same sales at catalog prices, in another store: the bias moves by ~log 3
    plain = PricingService(tiny_service.graph, tiny_service.predictor,
                           SuggestionStore(tmp_path / "plain.sqlite"), Explainer(None))
    base = Learning(plain, settings(), sink=FileSink(tmp_path / "plain.jsonl"))
    base.record(rows(1.0))
    assert rep.overall.bias - base.report().overall.bias == pytest.approx(1.1, abs=0.1)
    assert rep.overall.embedding_shift is not None and rep.overall.price_psi > 0.25
    sent = [a["key"] for a in sink.read()]
    assert sent and len(sent) == len(set(sent))
    assert any(k.startswith("input_drift") for k in sent)
    assert learning.check() == [] and len(sink.read()) == len(sent)   # nothing twice
    assert {r["key"] for r in learning.alert_log.recent(1000)} == set(sent)
    # a weekly report and a daily one over the same outcomes
    assert len(learning.report("1D").windows) > len(rep.windows)


def test_follow_the_champion(svc, registry, tiny_artifact):
    learning = Learning(svc, settings(registry=registry.root))
    v1 = registry.champion_version()
    assert svc.model_version == v1 and learning.sync_champion() is False
    assert champion_artifact(learning.settings, tiny_artifact) == registry.path(v1)
    registry.promote("copy-v2", reason="test")
    try:
        assert learning.sync_champion() is True
        assert svc.model_version == "copy-v2" == svc.predictor.version
        assert svc.featurizer is svc.predictor.featurizer_
        s = svc.suggest(svc.products.index[0], store=False)
        assert s.model_version == "copy-v2"
        assert learning.reference().model_version == "copy-v2"
        assert [m.status for m in learning.models() if m.version == "copy-v2"] == ["champion"]
    finally:
        registry.rollback(reason="test done")
    assert learning.sync_champion() is True and svc.model_version == v1


def test_watcher_switches_by_itself(svc, registry):
    learning = Learning(svc, settings(registry=registry.root))
    learning.start_watching(interval=0.2)
    try:
        registry.promote("copy-v2")
        deadline = time.monotonic() + 60
        while svc.model_version != "copy-v2" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert svc.model_version == "copy-v2" and learning.last_error is None
    finally:
        registry.rollback()
        learning.stop()


def test_swap_without_store_serves_the_new_snapshot(tiny_service, tiny_artifact, tmp_path):
    from models.predictor import Predictor

    svc = PricingService(tiny_service.graph, tiny_service.predictor,
                         SuggestionStore(tmp_path / "s.sqlite"), Explainer(None))
    assert svc.graph_db is None
    new = Predictor.load(copy_as(tiny_artifact, tmp_path / "m", "snap-v3"))
    old = svc.swap_predictor(new)
    assert old == tiny_service.model_version and svc.model_version == "snap-v3"
    assert svc.predictor is new and svc.graph is new.graph_            # its own snapshot
    assert len(svc.products) == len(tiny_service.products)
    assert tiny_service.model_version == old                           # the shared one untouched
    # the stacker's neighbour search was built during the swap, not by the first request
    assert new.stack is not None and "_neighbour_refs" in new.__dict__
