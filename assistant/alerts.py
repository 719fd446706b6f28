"""The alert channel: where monitoring and the pricing jobs say "something changed" (a detector
fired, coverage left its band, a competitor undercut us, a price fell below cost, a run failed).

Use::

    from assistant.alerts import Alert, FileSink, LogSink, WebhookSink, sink_from_spec
    sink = sink_from_spec("file:runs/alerts.jsonl")   # or "log", "webhook:https://...", "none"
    sink = sink_from_spec("webhook:https://hooks.example/pricing", secret="s3cret")  # signed
    sink.send(Alert(kind="coverage_band", message="coverage 61% is outside 70-90%",
                    at="2026-11-30", details={"window": "2026-11-24"}))
    AlertLog("runs/suggestions.sqlite").dispatch(report.alerts, sink)   # each key sent once
    AlertLog("runs/suggestions.sqlite").recent(kind="competitor_undercut")  # for the UI / API

One small interface (:class:`AlertSink`: ``send(alert)``) with three implementations: the
log (default), a JSON-lines file, and a webhook (an HTTP POST of the alert as JSON, e.g. to a
chat tool's incoming-webhook URL). Sending never raises into the caller: monitoring and the
scheduled jobs must keep running when the channel is down, so a failed send is logged and
reported as False.

Webhook deliveries are retried (connection errors, timeouts, HTTP 408/429/5xx) with bounded
exponential backoff (``retries`` more attempts, waits capped at ``max_backoff`` seconds), and
signed when a secret is set (``PRICING_ALERTS_SECRET``)::

    X-Pricing-Timestamp: 1764529200                       # Unix seconds of this attempt
    X-Pricing-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + raw body)>
    X-Pricing-Delivery: <alert key>                       # the same on every retry

A receiver checks it with :func:`verify_signature` (or the same three lines in any language):
recompute the HMAC over the timestamp, a dot and the raw request body, compare in constant
time, and refuse timestamps older than a few minutes (a replayed request).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import sqlite3
import threading
import time
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

    # monitoring: detector_error | detector_coverage | detector_bias | coverage_band | input_drift
    # pricing (assistant.price_alerts, assistant.schedule): competitor_undercut |
    # competitor_below_map | price_below_cost | run_failed
    kind: str
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


SIGNATURE_HEADER = "X-Pricing-Signature"
TIMESTAMP_HEADER = "X-Pricing-Timestamp"
DELIVERY_HEADER = "X-Pricing-Delivery"
_RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


def sign(secret: str, body: bytes, timestamp: int | str) -> str:
    """``sha256=<hex>``: HMAC-SHA256 with ``secret`` over ``b"<timestamp>." + body``."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(secret: str, body: bytes, timestamp: str | None, signature: str | None,
                     *, tolerance_s: float = 300, now: float | None = None) -> bool:
    """Whether a webhook request is ours: the signature matches the raw ``body`` and the
    ``timestamp`` header, and the timestamp is within ``tolerance_s`` of ``now`` (replays of
    an old request are refused)."""
    if not timestamp or not signature:
        return False
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - ts) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, body, ts), signature)


class _Retry(Exception):
    """A delivery attempt worth repeating (the receiver may be back in a moment)."""


class WebhookSink:
    """Alerts POSTed as JSON to ``url`` (a 2xx answer counts as delivered).

    ``secret``: sign each request (see the module docstring). ``retries``: more attempts after
    a connection error, a timeout or HTTP 408/425/429/5xx, waiting ``backoff`` × 2^n seconds
    (at most ``max_backoff``) in between; any other answer is final."""

    def __init__(self, url: str, timeout: float = 5.0, *, secret: str | None = None,
                 retries: int = 3, backoff: float = 0.5, max_backoff: float = 8.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"webhook url must start with http:// or https://, got {url!r}")
        if retries < 0 or backoff < 0 or max_backoff < 0:
            raise ValueError("webhook retries, backoff and max_backoff must not be negative")
        self.url = url
        self.timeout = timeout
        self.secret = secret or None
        self.retries = int(retries)
        self.backoff = backoff
        self.max_backoff = max_backoff

    def headers(self, body: bytes, alert: Alert, now: float | None = None) -> dict[str, str]:
        h = {"Content-Type": "application/json", DELIVERY_HEADER: alert.key or alert.kind}
        if self.secret:
            ts = int(time.time() if now is None else now)
            h[TIMESTAMP_HEADER] = str(ts)
            h[SIGNATURE_HEADER] = sign(self.secret, body, ts)
        return h

    def send(self, alert: Alert) -> bool:
        import httpx
        from tenacity import (
            RetryError,
            Retrying,
            retry_if_exception_type,
            stop_after_attempt,
            wait_exponential,
        )

        body = json.dumps(alert.to_dict(), ensure_ascii=False, default=str).encode("utf-8")

        def attempt() -> bool:
            try:  # signed per attempt: the timestamp is this attempt's
                r = httpx.post(self.url, content=body, headers=self.headers(body, alert),
                               timeout=self.timeout)
            except httpx.TransportError as exc:
                log.warning("alert %s: %s unreachable (%s)", alert.key, self.url, exc)
                raise _Retry(str(exc)) from None
            if r.status_code in _RETRY_STATUS:
                log.warning("alert %s: %s answered HTTP %s", alert.key, self.url, r.status_code)
                raise _Retry(f"HTTP {r.status_code}")
            if r.status_code >= 300:
                log.error("alert not delivered to %s: HTTP %s", self.url, r.status_code)
                return False
            return True

        retrying = Retrying(stop=stop_after_attempt(self.retries + 1),
                            wait=wait_exponential(multiplier=self.backoff, max=self.max_backoff),
                            retry=retry_if_exception_type(_Retry), reraise=False)
        try:
            return retrying(attempt)
        except RetryError as exc:
            log.error("alert not delivered to %s after %d attempts: %s", self.url,
                      self.retries + 1, exc.last_attempt.exception())
            return False


class NullSink:
    """Alerts dropped (monitoring still shows them): ``PRICING_ALERTS=none``."""

    def send(self, alert: Alert) -> bool:
        return True


def sink_from_spec(spec: str | None, *, secret: str | None = None,
                   retries: int = 3) -> AlertSink:
    """``log`` (default), ``none``, ``file:PATH`` or ``webhook:URL`` -> a sink; a webhook
    signs with ``secret`` and retries ``retries`` times."""
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
        return WebhookSink(arg, secret=secret, retries=retries)
    raise ValueError(f"alert channel {spec!r}: use log, none, file:PATH or webhook:URL")


class AlertLog:
    """The alerts already sent (SQLite), so a recomputed report sends each alert once.

    ``dispatch(alerts, sink)`` sends the alerts whose key is new and records them (with their
    severity and details, whether delivered or not); ``recent`` lists what was sent, newest
    first (the Monitoring tab, the Alerts panel and ``GET /v1/alerts`` show it)."""

    _SCHEMA = ("CREATE TABLE IF NOT EXISTS alerts_sent (key TEXT PRIMARY KEY, kind TEXT NOT NULL,"
               " at TEXT, message TEXT NOT NULL, delivered INTEGER NOT NULL, sent_at TEXT NOT NULL,"
               " severity TEXT NOT NULL DEFAULT 'warning', details TEXT)")
    # Files written before severity and details were kept get the two columns on open.
    _ADDED = {"severity": "TEXT NOT NULL DEFAULT 'warning'", "details": "TEXT"}
    _COLS = ("key", "kind", "at", "message", "delivered", "sent_at", "severity", "details")

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()  # one dispatcher at a time: a key is claimed once
        with self._db() as con:
            con.execute(self._SCHEMA)
            have = {r[1] for r in con.execute("PRAGMA table_info(alerts_sent)")}
            for col, decl in self._ADDED.items():
                if col not in have:
                    con.execute(f"ALTER TABLE alerts_sent ADD COLUMN {col} {decl}")
            con.execute("CREATE INDEX IF NOT EXISTS alerts_sent_kind ON alerts_sent(kind)")

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
                                "delivered, sent_at, severity, details) VALUES (?,?,?,?,?,?,?,?)",
                                (a.key, a.kind, a.at, a.message, int(bool(ok)), now_iso(),
                                 a.severity, json.dumps(a.details, ensure_ascii=False,
                                                        default=str)))
                known.add(a.key)
                sent.append(a)
        return sent

    def recent(self, limit: int = 50, *, kind: str | None = None,
               offset: int = 0) -> list[dict[str, Any]]:
        """Sent alerts, newest first (``kind``: only that kind)."""
        sql, args = f"SELECT {', '.join(self._COLS)} FROM alerts_sent", []
        if kind:
            sql += " WHERE kind = ?"
            args.append(kind)
        with self._db() as con:
            rows = con.execute(sql + " ORDER BY rowid DESC LIMIT ? OFFSET ?",
                               (*args, int(limit), int(offset))).fetchall()
        out = []
        for r in rows:
            d = dict(zip(self._COLS, r))
            d["details"] = json.loads(d["details"]) if d["details"] else {}
            out.append(d)
        return out

    def count(self, kind: str | None = None) -> int:
        with self._db() as con:
            if kind:
                return int(con.execute("SELECT COUNT(*) FROM alerts_sent WHERE kind = ?",
                                       (kind,)).fetchone()[0])
            return int(con.execute("SELECT COUNT(*) FROM alerts_sent").fetchone()[0])
