"""The alert channel: file and webhook sinks (a real HTTP receiver on a free port: signed
requests verified, retries on 5xx, a dead receiver), the spec parser, and the log of sent alerts
that keeps a recomputed report from alerting twice."""
from __future__ import annotations

import json
import logging
import socket
import sqlite3
import time

import pytest
from fastapi import FastAPI, Request, Response

from assistant.alerts import (
    Alert,
    AlertLog,
    AlertSink,
    FileSink,
    LogSink,
    NullSink,
    WebhookSink,
    sign,
    sink_from_spec,
    verify_signature,
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
    assert WebhookSink("http://127.0.0.1:9/hook", timeout=1, retries=0).send(A) is False  # refused
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


# --------------------------------------------------------------------------- signed webhooks

SECRET = "test-secret-é"


def _receiver(fail_first: int = 0):
    """A webhook receiver that verifies signatures as a merchant's would; the first
    ``fail_first`` requests answer 500."""
    app = FastAPI()
    seen: list[dict] = []

    @app.post("/hook")
    async def hook(request: Request) -> Response:
        body = await request.body()
        ok = verify_signature(SECRET, body, request.headers.get("X-Pricing-Timestamp"),
                              request.headers.get("X-Pricing-Signature"))
        seen.append({"ok": ok, "alert": json.loads(body), "t": time.monotonic(),
                     "delivery": request.headers.get("X-Pricing-Delivery")})
        if len(seen) <= fail_first:
            return Response(status_code=500)
        return Response(status_code=200 if ok else 401)

    return app, seen


def test_signed_webhook_verifies_on_the_receiver():
    app, seen = _receiver()
    with live_server(app) as url:
        assert WebhookSink(url + "/hook", secret=SECRET).send(A) is True
        # a wrong secret is refused by the receiver (401 is final: no retries)
        assert WebhookSink(url + "/hook", secret="other", retries=3, backoff=0).send(B) is False
    assert [s["ok"] for s in seen] == [True, False]
    assert seen[0]["alert"] == A.to_dict() and seen[0]["delivery"] == A.key


def test_verify_signature_refuses_tampering_and_replays():
    body = json.dumps(A.to_dict()).encode()
    ts = int(time.time())
    sig = sign(SECRET, body, ts)
    assert sig.startswith("sha256=") and len(sig) == 7 + 64
    assert verify_signature(SECRET, body, str(ts), sig)
    assert not verify_signature(SECRET, body + b" ", str(ts), sig)            # body changed
    assert not verify_signature(SECRET, body, str(ts + 1), sig)               # timestamp changed
    assert not verify_signature("nope", body, str(ts), sig)                   # other secret
    assert not verify_signature(SECRET, body, str(ts), sig, now=ts + 301)     # a replay
    assert not verify_signature(SECRET, body, None, sig)
    assert not verify_signature(SECRET, body, "yesterday", sig)


def test_webhook_retries_500s_then_succeeds():
    app, seen = _receiver(fail_first=2)
    with live_server(app) as url:
        sink = WebhookSink(url + "/hook", secret=SECRET, retries=3, backoff=0.2)
        assert sink.send(A) is True
    assert len(seen) == 3 and all(s["ok"] for s in seen)   # each attempt signed afresh
    waits = [b["t"] - a["t"] for a, b in zip(seen, seen[1:])]
    assert waits[0] >= 0.15 and waits[1] >= 0.35            # exponential backoff: 0.2 s, 0.4 s


def test_webhook_gives_up_after_bounded_retries():
    app, seen = _receiver(fail_first=10)
    with live_server(app) as url:
        t0 = time.monotonic()
        assert WebhookSink(url + "/hook", secret=SECRET, retries=2, backoff=0.05).send(A) is False
        assert time.monotonic() - t0 < 5
    assert len(seen) == 3                                    # 1 attempt + 2 retries


def test_dead_receiver_does_not_break_dispatch(tmp_path, caplog):
    with socket.socket() as s:   # a free port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sink = WebhookSink(f"http://127.0.0.1:{port}/hook", timeout=1, secret=SECRET, retries=2,
                       backoff=0.01)
    log = AlertLog(tmp_path / "s.sqlite")
    with caplog.at_level(logging.WARNING, logger="pricing.alerts"):
        assert log.dispatch([A, B], sink) == [A, B]           # both tried, nothing raised
    assert [r["delivered"] for r in log.recent()] == [0, 0]
    assert "after 3 attempts" in caplog.text


def test_spec_passes_secret_and_retries():
    sink = sink_from_spec("webhook:http://127.0.0.1:1/x", secret="k", retries=1)
    assert isinstance(sink, WebhookSink) and sink.secret == "k" and sink.retries == 1
    assert "X-Pricing-Signature" not in WebhookSink("http://x/y").headers(b"{}", A)
    with pytest.raises(ValueError, match="negative"):
        WebhookSink("http://x/y", retries=-1)


def test_alert_log_keeps_severity_details_and_filters(tmp_path):
    log = AlertLog(tmp_path / "s.sqlite")
    u = Alert(kind="competitor_undercut", message="undercut", at="2026-11-30", key="u1",
              details={"product_id": "p1", "gap_pct": 12.5})
    f = Alert(kind="run_failed", message="boom", at="2026-11-30", key="f1", severity="critical")
    log.dispatch([A, u, f], NullSink())
    assert [r["key"] for r in log.recent(kind="competitor_undercut")] == ["u1"]
    r = log.recent(limit=1)[0]
    assert r["severity"] == "critical" and r["details"] == {}
    assert log.recent(kind="competitor_undercut")[0]["details"] == {"product_id": "p1",
                                                                     "gap_pct": 12.5}
    assert [x["key"] for x in log.recent(limit=2, offset=1)] == ["u1", A.key]
    assert log.count() == 3 and log.count("run_failed") == 1


def test_alert_log_upgrades_an_old_file(tmp_path):
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as con:   # the table as monitoring (#18) first wrote it
        con.execute("CREATE TABLE alerts_sent (key TEXT PRIMARY KEY, kind TEXT NOT NULL, at TEXT,"
                    " message TEXT NOT NULL, delivered INTEGER NOT NULL, sent_at TEXT NOT NULL)")
        con.execute("INSERT INTO alerts_sent VALUES ('old', 'input_drift', '2023-01-01', 'm', 1, "
                    "'2023-01-02')")
    con.close()
    log = AlertLog(path)
    log.dispatch([B], NullSink())
    got = {r["key"]: r for r in log.recent()}
    assert got["old"]["severity"] == "warning" and got["old"]["details"] == {}
    assert got[B.key]["kind"] == "detector_bias"
