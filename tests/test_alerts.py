"""The alert channel: file and webhook sinks (a real HTTP receiver on a free port), the spec
parser, and the log of sent alerts that keeps a recomputed report from alerting twice."""
from __future__ import annotations

import logging

import pytest
from fastapi import FastAPI, Request

from assistant.alerts import (
    Alert,
    AlertLog,
    AlertSink,
    FileSink,
    LogSink,
    NullSink,
    WebhookSink,
    sink_from_spec,
)
from tests.conftest import live_server

A = Alert(kind="coverage_band", message="coverage 61% is outside 70-90%", at="2023-03-08",
          key="coverage_band:2023-03-08", details={"n": 120})
B = Alert(kind="detector_bias", message="prices rose", at="2023-03-09", key="ph:bias:x:o1")


def test_file_sink_appends_json_lines(tmp_path):
    sink = FileSink(tmp_path / "deep" / "alerts.jsonl")
    assert sink.send(A) and sink.send(B)
    got = sink.read()
    assert [a["key"] for a in got] == [A.key, B.key] and got[0]["details"] == {"n": 120}
    assert isinstance(sink, AlertSink)


def test_file_sink_failure_is_reported_not_raised(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert FileSink(blocker / "alerts.jsonl").send(A) is False  # parent is a file


def test_webhook_posts_the_alert(tmp_path):
    got: list[dict] = []
    app = FastAPI()

    @app.post("/hook")
    async def hook(request: Request) -> dict:
        got.append(await request.json())
        return {"ok": True}

    @app.post("/broken")
    async def broken() -> None:
        raise RuntimeError("receiver down")

    with live_server(app) as url:
        assert WebhookSink(url + "/hook").send(A) is True
        assert WebhookSink(url + "/missing").send(A) is False   # 404
    assert got == [A.to_dict()]
    assert WebhookSink("http://127.0.0.1:9/hook", timeout=1).send(A) is False  # refused
    with pytest.raises(ValueError, match="http"):
        WebhookSink("ftp://x")


def test_spec(tmp_path, caplog):
    assert isinstance(sink_from_spec(None), LogSink)
    assert isinstance(sink_from_spec("none"), NullSink)
    assert isinstance(sink_from_spec(f"file:{tmp_path}/a.jsonl"), FileSink)
    assert sink_from_spec("webhook:http://127.0.0.1:1/x").url == "http://127.0.0.1:1/x"
    for bad in ("file:", "email:x@y", "webhook:"):
        with pytest.raises(ValueError, match="alert channel"):
            sink_from_spec(bad)
    with caplog.at_level(logging.WARNING, logger="pricing.alerts"):
        LogSink().send(A)
    assert "coverage_band" in caplog.text and "61%" in caplog.text


def test_alert_log_sends_each_key_once(tmp_path):
    sink = FileSink(tmp_path / "alerts.jsonl")
    log = AlertLog(tmp_path / "store.sqlite")
    assert log.dispatch([A, B], sink) == [A, B]
    assert log.dispatch([A, B], sink) == []          # same report again: nothing new
    C = Alert(kind="input_drift", message="drift", at="2023-03-15", key="input_drift:2023-03-15")
    assert log.dispatch([A, C], sink) == [C]
    assert [a["key"] for a in sink.read()] == [A.key, B.key, C.key]
    recent = AlertLog(tmp_path / "store.sqlite").recent()   # persisted
    assert [r["key"] for r in recent] == [C.key, B.key, A.key] and recent[0]["delivered"] == 1


def test_alert_log_records_undelivered(tmp_path):
    log = AlertLog(tmp_path / "s.sqlite")
    blocked = tmp_path / "f"
    blocked.write_text("")
    log.dispatch([A], FileSink(blocked / "x.jsonl"))
    assert log.recent()[0]["delivered"] == 0
