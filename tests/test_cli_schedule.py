"""``pricing schedule``: jobs from options or a TOML file, ``--once`` runs them now; a failed run
exits 1 with a ``run_failed`` alert in the channel; bad schedules exit 2 naming the field."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from assistant.alerts import AlertLog, FileSink
from assistant.cli.main import app


@pytest.fixture()
def env(tiny_artifact, tmp_path, monkeypatch):
    """Every file the command writes lives in tmp_path; alerts go to a JSON-lines file."""
    monkeypatch.setenv("PRICING_ALERTS", f"file:{tmp_path / 'alerts.jsonl'}")
    monkeypatch.setenv("PRICING_PRICEBOOK_DB", str(tmp_path / "book.sqlite"))
    monkeypatch.chdir(tmp_path)
    return ["--artifact", str(tiny_artifact), "--db", str(tmp_path / "no-graph.sqlite"),
            "--suggestions-db", str(tmp_path / "s.sqlite"), "--sales", "none"]


def test_once_from_options(env, tmp_path):
    r = CliRunner().invoke(app, ["schedule", "--reprice-cron", "*/30 * * * *", "--once", "--json",
                                 "--run-log", str(tmp_path / "runs.jsonl"), *env])
    assert r.exit_code == 0, r.output
    runs = json.loads(r.stdout[r.stdout.index("["):])
    assert [(x["job"], x["kind"], x["ok"]) for x in runs] == [("reprice", "reprice", True)]
    assert len((tmp_path / "runs.jsonl").read_text().splitlines()) == 1


def test_failed_run_exits_1_with_an_alert(env, tmp_path):
    cfg = tmp_path / "schedule.toml"
    cfg.write_text('[[jobs]]\nname = "nightly"\nkind = "score"\ncron = "0 2 * * *"\n'
                   f'catalog = "{tmp_path / "absent.csv"}"\nout = "{tmp_path / "scores"}"\n')
    r = CliRunner().invoke(app, ["schedule", "--config", str(cfg), "--once", *env])
    assert r.exit_code == 1, r.output
    [a] = FileSink(tmp_path / "alerts.jsonl").read()
    assert a["kind"] == "run_failed" and a["details"]["job"] == "nightly"
    assert AlertLog(tmp_path / "s.sqlite").recent()[0]["kind"] == "run_failed"   # for the UI


@pytest.mark.parametrize("args, match", [
    (["--reprice-cron", "every hour"], "fields"),
    ([], "nothing to schedule"),
    (["--score-cron", "0 2 * * *"], "needs catalog and out"),
    (["--reprice-cron", "0 * * * *", "--undercut-pct", "200"], "undercut_pct"),
])
def test_bad_schedules_exit_2(env, args, match):
    r = CliRunner().invoke(app, ["schedule", "--once", *args, *env])
    assert r.exit_code == 2 and match in r.output, r.output
