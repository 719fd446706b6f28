"""The alert channel: where monitoring says "something changed" (a detector fired, coverage left
its band, the inputs drifted).

Use::

    from assistant.alerts import Alert, FileSink, LogSink, WebhookSink, sink_from_spec
    sink = sink_from_spec("file:runs/alerts.jsonl")   # or "log", "webhook:https://...", "none"
    sink.send(Alert(kind="coverage_band", message="coverage 61% is outside 70-90%",
                    at="2026-11-30", details={"window": "2026-11-24"}))
    AlertLog("runs/suggestions.sqlite").dispatch(report.alerts, sink)   # each key sent once

One small interface (:class:`AlertSink`: ``send(alert)``) with three implementations: the
log (default), a JSON-lines file, and a webhook (an HTTP POST of the alert as JSON, e.g. to a
chat tool's incoming-webhook URL). Sending never raises into the caller: monitoring must keep
running when the channel is down, so a failed send is logged and reported as False.
"""
from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from graph.schema import now_iso

log = logging.getLogger("pricing.alerts")


@dataclass(frozen=True)
class Alert:
    """One alert: what fired (``kind``), a sentence for people, when (the data's date)."""

    kind: str           # detector_error | detector_coverage | detector_bias | coverage_band | input_drift
    message: str
    at: str             # date of the outcome / window that triggered it (ISO)
    key: str = ""       # identity for de-duplication (the same alert is sent once)
    severity: str = "warning"
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@runtime_checkable
class AlertSink(Protocol):
    """Where alerts go. ``send`` returns whether the alert was delivered."""

    def send(self, alert: Alert) -> bool: ...


class LogSink:
    """Alerts as WARNING records on the ``pricing.alerts`` logger."""

    def send(self, alert: Alert) -> bool:
        log.warning("[%s] %s (%s)", alert.kind, alert.message, alert.at)
        return True


class FileSink:
    """Alerts appended to a JSON-lines file (one alert per line)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def send(self, alert: Alert) -> bool:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            line = json.dumps(alert.to_dict(), ensure_ascii=False, default=str)
            with self._lock, self.path.open("a", encoding="utf-8") as f:
                f.write(line + "\n")
            return True
        except OSError as exc:
            log.error("alert not written to %s: %s", self.path, exc)
            return False

    def read(self) -> list[dict[str, Any]]:
        """Every alert written so far (for the UI and tests)."""
        if not self.path.exists():
            return []
        return [json.loads(s) for s in self.path.read_text(encoding="utf-8").splitlines() if s]


class WebhookSink:
    """Alerts POSTed as JSON to ``url`` (a 2xx answer counts as delivered)."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"webhook url must start with http:// or https://, got {url!r}")
        self.url = url
        self.timeout = timeout

    def send(self, alert: Alert) -> bool:
        import httpx

        try:
            r = httpx.post(self.url, json=alert.to_dict(), timeout=self.timeout)
        except httpx.HTTPError as exc:
            log.error("alert not delivered to %s: %s", self.url, exc)
            return False
        if r.status_code >= 300:
            log.error("alert not delivered to %s: HTTP %s", self.url, r.status_code)
            return False
        return True


class NullSink:
    """Alerts dropped (monitoring still shows them): ``PRICING_ALERTS=none``."""

    def send(self, alert: Alert) -> bool:
        return True


def sink_from_spec(spec: str | None) -> AlertSink:
    """``log`` (default), ``none``, ``file:PATH`` or ``webhook:URL`` -> a sink."""
    spec = (spec or "log").strip()
    kind, _, arg = spec.partition(":")
    kind = kind.lower()
    if kind == "log":
        return LogSink()
    if kind == "none":
        return NullSink()
    if kind == "file" and arg:
        return FileSink(arg)
    if kind == "webhook" and arg:
        return WebhookSink(arg)
    raise ValueError(f"alert channel {spec!r}: use log, none, file:PATH or webhook:URL")


class AlertLog:
    """The alerts already sent (SQLite), so a recomputed report sends each alert once.

    ``dispatch(alerts, sink)`` sends the alerts whose key is new and records them; ``recent``
    lists what was sent, newest first (the Monitoring tab shows it)."""

    _SCHEMA = ("CREATE TABLE IF NOT EXISTS alerts_sent (key TEXT PRIMARY KEY, kind TEXT NOT NULL,"
               " at TEXT, message TEXT NOT NULL, delivered INTEGER NOT NULL, sent_at TEXT NOT NULL)")

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()  # one dispatcher at a time: a key is claimed once
        with self._db() as con:
            con.execute(self._SCHEMA)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self.path, timeout=30)) as con, con:
            yield con

    def dispatch(self, alerts: list[Alert], sink: AlertSink) -> list[Alert]:
        """Send the alerts not sent before; returns those sent now."""
        sent = []
        with self._lock:
            with self._db() as con:
                known = {r[0] for r in con.execute("SELECT key FROM alerts_sent")}
            for a in alerts:
                if a.key in known:
                    continue
                ok = sink.send(a)
                with self._db() as con:
                    con.execute("INSERT OR IGNORE INTO alerts_sent(key, kind, at, message, "
                                "delivered, sent_at) VALUES (?,?,?,?,?,?)",
                                (a.key, a.kind, a.at, a.message, int(bool(ok)), now_iso()))
                known.add(a.key)
                sent.append(a)
        return sent

    def recent(self, limit: int = 50) -> list[dict[str, Any]]:
        with self._db() as con:
            rows = con.execute("SELECT key, kind, at, message, delivered, sent_at FROM "
                               "alerts_sent ORDER BY rowid DESC LIMIT ?", (int(limit),)).fetchall()
        return [dict(zip(("key", "kind", "at", "message", "delivered", "sent_at"), r))
                for r in rows]
