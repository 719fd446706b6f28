"""``pricing outcomes``, ``pricing monitor``, ``pricing retrain`` (its refusals) and ``pricing
models list | register | promote | rollback`` through typer's runner, on the real tiny model."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from assistant.cli.main import app
from assistant.outcomes import OutcomeStore
from models.registry import ModelRegistry

runner = CliRunner()


def invoke(*args: str):
    # wide enough that rich tables do not cut version names
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False,
                         env={"COLUMNS": "250"})


@pytest.fixture(scope="module")
def pids(tiny_service) -> list[str]:
    p = tiny_service.products
    return sorted(p.index[p["price"].notna() & (p["currency"] == "INR")])[:3]


def test_models_group(tiny_artifact, tmp_path):
    reg = tmp_path / "reg"
    r = invoke("models", "register", tiny_artifact, "--registry", reg, "--promote", "--note", "v1")
    assert r.exit_code == 0 and "(champion)" in r.output
    v1 = ModelRegistry(reg).champion_version()
    r = invoke("models", "register", tiny_artifact, "--registry", reg)
    assert r.exit_code == 2 and "already registered" in r.output
    r = invoke("models", "list", "--registry", reg, "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)[0]["status"] == "champion"
    assert v1 in invoke("models", "list", "--registry", reg).output
    r = invoke("models", "promote", "nope", "--registry", reg)
    assert r.exit_code == 2 and "unknown model version" in r.output
    r = invoke("models", "rollback", "--registry", reg)
    assert r.exit_code == 2 and "nothing to roll back" in r.output


def test_outcomes_file(tiny_artifact, tmp_path, pids):
    f = tmp_path / "sales.csv"
    f.write_text("product_id,sold_price,units,date\n"
                 f"{pids[0]},100,2,2023-03-01\n{pids[1]},abc,1,2023-03-02\n"
                 f"{pids[2]},90,,2023-03-03\nunknown-id,5,1,2023-03-03\n", encoding="utf-8")
    common = ["--artifact", tiny_artifact, "--db", tmp_path / "no-graph.sqlite",
              "--suggestions-db", tmp_path / "s.sqlite"]
    r = invoke("outcomes", f, *common, "--strict")
    assert r.exit_code == 1 and "nothing stored" in r.output
    assert OutcomeStore(tmp_path / "s.sqlite").count() == 0
    report = tmp_path / "refused.csv"
    r = invoke("outcomes", f, *common, "--report", report)
    assert r.exit_code == 0, r.output
    assert "stored 2 outcome(s), refused 2" in r.output and "row 1" in r.output
    lines = report.read_text().splitlines()
    assert lines[0] == "row,field,error" and lines[1].startswith("1,sold_price")
    assert lines[2].startswith("3,product_id")
    assert OutcomeStore(tmp_path / "s.sqlite").count() == 2
    r = invoke("monitor", "--artifact", tiny_artifact, "--db", tmp_path / "no-graph.sqlite",
               "--suggestions-db", tmp_path / "s.sqlite", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["n"] == 2   # stdout: no progress bars
    r = invoke("outcomes", tmp_path / "missing.csv", *common)
    assert r.exit_code == 2 and "does not exist" in r.output


def test_retrain_refusals(tiny_artifact, tmp_path):
    r = invoke("retrain", "--registry", tmp_path / "reg", "--db", tmp_path / "none.sqlite")
    assert r.exit_code == 2 and "give the catalog" in r.output
    r = invoke("retrain", "--registry", tmp_path / "reg", "--db", tiny_artifact / "graph.sqlite",
               "--outcomes", tmp_path / "s.sqlite")
    assert r.exit_code == 2 and "no champion" in r.output
