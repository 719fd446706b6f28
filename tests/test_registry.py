"""Model registry: versions from metadata.json, copies that do not move, promote / rollback
history, refusals. The registry only reads metadata.json and copies folders, so these tests use
small artifact folders (the real-model path is covered by tests/test_retrain.py)."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from models.registry import ModelRegistry, RegistryError


def fake_artifact(root: Path, version: str, rmsle: float = 0.5) -> Path:
    d = root / f"art-{version}"
    (d / "head").mkdir(parents=True)
    (d / "head" / "head.json").write_text("{}")
    (d / "metadata.json").write_text(json.dumps({
        "model_version": version, "created_at": "2026-11-30T10:00:00+00:00",
        "data": {"hash": "ab" * 32, "n_products": 10},
        "metrics": {"test": {"rmsle": rmsle, "coverage": 80.0}},
        "config": {"seed": 0, "hidden": [64, 32]}}))
    return d


@pytest.fixture()
def reg(tmp_path) -> ModelRegistry:
    return ModelRegistry(tmp_path / "registry")


def test_register_copies_and_reads_metadata(reg, tmp_path):
    src = fake_artifact(tmp_path, "v1", rmsle=0.61)
    v = reg.register(src, note="first")
    assert v.version == "v1" and v.status == "registered" and v.note == "first"
    assert v.metrics["test"]["rmsle"] == 0.61 and v.config["hidden"] == [64, 32]
    assert v.data_hash == "ab" * 32 and v.created_at.startswith("2026-11-30")
    assert (v.path / "head" / "head.json").exists() and src.exists()  # copied, not moved
    assert reg.path("v1") == v.path and reg.champion() is None
    assert [e["action"] for e in reg.events()] == ["register"]


def test_promote_and_rollback_walk_the_history(reg, tmp_path):
    for name in ("v1", "v2", "v3"):
        reg.register(fake_artifact(tmp_path, name))
    reg.promote("v1", reason="initial")
    reg.promote("v2")
    reg.promote("v3")
    assert reg.champion_version() == "v3"
    assert {v.version: v.status for v in reg.list()} == {"v1": "previous", "v2": "previous",
                                                         "v3": "champion"}
    assert reg.rollback(reason="coverage alert").version == "v2"
    assert reg.champion_version() == "v2"
    assert reg.rollback().version == "v1"
    with pytest.raises(RegistryError, match="nothing to roll back"):
        reg.rollback()
    assert reg.champion_version() == "v1"
    reg.promote("v3")  # promoting again after rollbacks starts from the current champion
    assert reg.rollback().version == "v1"
    hist = reg.get("v2").history
    assert [e["action"] for e in hist] == ["register", "promote", "rollback"]


def test_refusals(reg, tmp_path):
    reg.register(fake_artifact(tmp_path, "v1"))
    with pytest.raises(RegistryError, match="already registered"):
        reg.register(fake_artifact(tmp_path / "again", "v1"))
    with pytest.raises(RegistryError, match="unknown model version"):
        reg.promote("nope")
    with pytest.raises(RegistryError, match="not a trained model folder"):
        reg.register(tmp_path)
    bad = fake_artifact(tmp_path, "x")
    (bad / "metadata.json").write_text(json.dumps({"model_version": "../escape"}))
    with pytest.raises(RegistryError, match="model_version"):
        reg.register(bad)
    reg.promote("v1")
    with pytest.raises(RegistryError, match="already the champion"):
        reg.promote("v1")
    assert [v.version for v in reg.list()] == ["v1"]


def test_move_and_newest_first(reg, tmp_path):
    reg.register(fake_artifact(tmp_path, "old"))
    src = fake_artifact(tmp_path, "new")
    reg.register(src, move=True, gate={"passed": True}, parent="old")
    assert not src.exists()
    new = reg.get("new")
    assert new.gate == {"passed": True} and new.parent == "old"
    assert [v.version for v in reg.list()] == ["new", "old"]
    # a second process sees the same state (one SQLite file)
    with sqlite3.connect(reg.root / "registry.sqlite") as con:
        assert con.execute("SELECT COUNT(*) FROM versions").fetchone()[0] == 2
    assert [v.version for v in ModelRegistry(reg.root).list()] == ["new", "old"]
