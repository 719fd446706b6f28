"""ScoreSettings: paths made absolute for the workers (URLs kept), the policy file read with
errors naming the field, and a fingerprint that changes when the graph store is edited."""
from __future__ import annotations

import json

import networkx as nx
import pytest

from assistant.batch.settings import PolicyFileError, ScoreSettings, policy_from_file
from graph.store import GraphStore


def test_paths_are_absolute_and_urls_stay(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = ScoreSettings(artifact="model", graph_db="postgresql://u@db/pricing", sales="data")
    assert s.artifact == str(tmp_path / "model") and s.sales == str(tmp_path / "data")
    assert s.graph_db == "postgresql://u@db/pricing"
    assert ScoreSettings.model_validate(s.model_dump(mode="json")) == s  # what actors receive


def test_policy_file_errors_name_the_field(tmp_path):
    f = tmp_path / "policy.json"
    f.write_text(json.dumps({"min_margin": 0.1, "ending": "9"}))
    assert policy_from_file(f).min_margin == 0.1 and policy_from_file(None).max_change is None
    for text, words in [('{"max_change": 3}', "policy.max_change"), ("[1]", "JSON object"),
                        ("{oops", "not JSON"), ('{"margin": 1}', "policy.margin")]:
        f.write_text(text)
        with pytest.raises(PolicyFileError, match=words):
            policy_from_file(f)
    with pytest.raises(PolicyFileError, match="missing.json"):
        policy_from_file(tmp_path / "missing.json")


def test_fingerprint_follows_model_and_graph_store(tmp_path):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "metadata.json").write_text(json.dumps({"model_version": "m1"}))
    g = nx.MultiDiGraph()
    g.add_node("product:A", type="product", name="A")
    with GraphStore(tmp_path / "graph.sqlite") as store:
        store.save(g)
    s = ScoreSettings(artifact=str(tmp_path / "model"), graph_db=str(tmp_path / "graph.sqlite"))
    before = s.fingerprint()
    assert before["model_version"] == "m1" and before["graph_version"]["version"] >= 1
    assert s.fingerprint() == before
    with GraphStore(tmp_path / "graph.sqlite") as store:
        store.save(g)  # a full save is a new graph version
    assert s.fingerprint()["graph_version"] != before["graph_version"]
    assert ScoreSettings(artifact=str(tmp_path / "model")).fingerprint()["graph_version"] is None
