"""``pricing score``: a whole catalog scored to Parquet from the command line, bad rows listed,
a second run resumes (nothing left to do), bad options get exit code 2 with a clear message."""
from __future__ import annotations

import json

import pandas as pd
from typer.testing import CliRunner

from assistant.batch import read_bad_rows, read_scores
from assistant.cli import app
from tests.batch_data import write_catalog


def test_score_command_writes_parquet_and_lists_bad_rows(tiny_artifact, tmp_path):
    expected = write_catalog(tmp_path / "catalog.csv")
    (tmp_path / "policy.json").write_text(json.dumps({"max_change": 0.5}))
    out = tmp_path / "scores"
    args = ["score", str(tmp_path / "catalog.csv"), "--policy", str(tmp_path / "policy.json"),
            "--out", str(out), "--artifact", str(tiny_artifact), "--db",
            str(tmp_path / "none.sqlite"), "--sales", "none", "--block-rows", "10", "--quiet"]
    runner = CliRunner()
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "bad rows (first 10 of 5" in first.stderr and "guardrail conflict" in first.stderr
    scores = read_scores(out)
    assert len(scores) == len(pd.read_csv(tmp_path / "catalog.csv")) - len(expected)
    assert scores["recommended_price"].gt(0).all() and scores["model_version"].nunique() == 1
    assert sorted(read_bad_rows(out)["row"]) == [r for r, _, _ in expected]

    again = runner.invoke(app, args + ["--json"])
    assert again.exit_code == 0, again.output
    summary = json.loads(again.stdout)
    assert (summary["blocks_run"], summary["blocks_resumed"]) == (0, summary["blocks"])
    assert summary["scored_total"] == len(scores)

    (tmp_path / "policy.json").write_text(json.dumps({"max_change": 5}))
    bad_policy = runner.invoke(app, args)
    assert bad_policy.exit_code == 2 and "policy.max_change" in bad_policy.stderr
    (tmp_path / "policy.json").write_text(json.dumps({"max_change": 0.25}))
    changed = runner.invoke(app, args)
    assert changed.exit_code == 2 and "different settings" in changed.stderr
    assert runner.invoke(app, args + ["--overwrite"]).exit_code == 0
    assert runner.invoke(app, args + ["--engine", "spark"]).exit_code == 2
    missing = runner.invoke(app, [*args[:1], str(tmp_path / "nope.csv"), *args[2:]])
    assert missing.exit_code == 2 and "no such file" in missing.stderr
