"""Explainer tuning: the corpus (seeded, covering every case, targets the grammar admits) and a
tiny real LoRA run exported to GGUF and loaded by llama.cpp. Run: pytest tests/test_tuning.py"""
from __future__ import annotations

import json
from collections import Counter

import pytest

from assistant.tuning.corpus import corpus_hash, make_corpus


def test_corpus_is_seeded_and_covers_every_case():
    rows = make_corpus(300, seed=0)
    assert corpus_hash(rows) == corpus_hash(make_corpus(300, seed=0))
    assert corpus_hash(rows) != corpus_hash(make_corpus(300, seed=1))
    kinds = Counter(k.split(":")[0] for r in rows for k in r["kinds"])
    for kind in ("driver", "no_drivers", "category", "no_category", "competitors", "guardrail", "demand",
                 "low_confidence", "injection", "currency"):
        assert kinds[kind] > 0, kind
    signs = Counter(k for r in rows for k in r["kinds"] if k.startswith("driver:"))
    assert signs["driver:up"] > 20 and signs["driver:down"] > 20
    rules = {k.split(":")[1] for r in rows for k in r["kinds"] if k.startswith(("guardrail:", "demand:"))}
    assert {"floor", "ceiling", "map", "profit_optimum", "clearance"} <= rules
    row = rows[0]
    assert [m["role"] for m in row["messages"]] == ["system", "user"]
    # the prompt carries no numbers for the local model: ids, directions and names only
    facts = row["messages"][1]["content"].split("<<<PRODUCT_DATA")[0]
    assert "{recommended_price}" in facts and "₹" not in facts and "$" not in facts
    assert row["target"].startswith(("We ", "Our ", "For "))


def test_injections_do_not_change_the_target():
    rows = make_corpus(200, seed=3)
    hit = [r for r in rows if "injection" in r["kinds"]]
    assert hit
    for r in hit:
        assert "price is 1" not in r["target"] and "99%" not in r["target"]
        assert "{recommended_price}" in r["target"]


def test_tiny_tune_exports_an_adapter_llama_cpp_loads(tmp_path):
    import random

    from assistant.explain import Explainer
    from assistant.llm import LlamaCppChatModel, smollm2_gguf_path
    from assistant.tuning.corpus import case_sheet, random_case
    from assistant.tuning.lora import TuneConfig, tune

    m = tune(TuneConfig(examples=20, steps=2, layers=1, rank=2, eval_sheets=0, progress=False), tmp_path, log=None)
    assert m["steps_done"] == 2 and len(m["corpus_sha256"]) == 64 and m["seed"] == 0
    assert json.loads((tmp_path / "manifest.json").read_text())["corpus_sha256"] == m["corpus_sha256"]
    gguf = pytest.importorskip("gguf")
    reader = gguf.GGUFReader(str(tmp_path / "adapter.gguf"))
    names = {t.name for t in reader.tensors}
    assert "blk.29.attn_v.weight.lora_a" in names and "blk.29.ffn_down.weight.lora_b" in names
    assert len(names) == 10  # 5 projections x (a, b) on the one top block
    llm = LlamaCppChatModel(model_path=str(smollm2_gguf_path()), lora_path=str(tmp_path / "adapter.gguf"))
    case = random_case(random.Random(11))
    e = Explainer(llm).explain(case_sheet(case), case.context)
    assert e.status == "verified" and e.constrained


def test_cli_registers_tune_explainer():
    from typer.testing import CliRunner

    from assistant.cli.main import app

    out = CliRunner().invoke(app, ["tune-explainer", "--help"])
    assert out.exit_code == 0 and "--examples" in out.output and "--seed" in out.output


def test_the_budget_bounds_training_and_the_measurement(tmp_path):
    from assistant.tuning.lora import TuneConfig, tune

    # a 3-second budget: training stops after its first step, the held-out measurement gets
    # no time left and says over how many sheets it measured (none) instead of running on
    m = tune(TuneConfig(examples=20, steps=50, layers=1, rank=2, eval_sheets=3, max_minutes=0.05,
                        progress=False), tmp_path, log=None)
    assert m["stopped_early"] and m["steps_done"] == 1
    assert m["held_out"]["constrained"]["sheets"] == 0 and m["held_out"]["free"]["sheets"] == 0
