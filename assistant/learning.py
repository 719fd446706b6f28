"""Continuous learning around one PricingService: outcomes in, monitoring and alerts out, and the
served model following the registry's champion.

Use::

    PRICING_REGISTRY=runs/registry PRICING_ALERTS=file:runs/alerts.jsonl pricing serve ...

    from assistant.learning import LearningSettings, learning_for
    learning = learning_for(service, LearningSettings())   # at the edge (server, CLI)
    learning.record(rows)            # RecordResult; new alerts go out through the channel
    learning.report()                # MonitoringReport over the stored outcomes
    learning.sync_champion()         # load the registry's champion if it changed
    learning.start_watching()        # ... every ``registry_poll_s`` seconds, in a thread

The API's ``/v1/outcomes`` and ``/v1/monitoring`` and the UI's Monitoring tab all use
``learning_for(service)``: one object per service (created with default settings on first use
when the edge configured none), so they share the alert log and the watcher.
"""
from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from assistant.alerts import Alert, AlertLog, AlertSink, sink_from_spec
from assistant.monitoring import Monitor, MonitorConfig, MonitoringReport, Reference
from assistant.outcomes import OutcomeIn, OutcomeStore, RecordResult, record_outcomes
from models.predictor import Predictor
from models.registry import ModelRegistry, ModelVersion

if TYPE_CHECKING:
    from assistant.service import PricingService

log = logging.getLogger("pricing.learning")
# Outcomes a report looks at (the latest ones): bounds the time of GET /v1/monitoring.
REPORT_LIMIT = 50_000


class LearningSettings(BaseSettings):
    """Where outcomes, alerts and model versions go (PRICING_* variables, read at the edge)."""

    model_config = SettingsConfigDict(env_prefix="PRICING_", extra="ignore")

    registry: Path | None = Field(None, description="model registry folder (pricing models); "
                                  "when set, the server follows its champion")
    alerts: str = Field("log", description="alert channel: log, none, file:PATH, webhook:URL")
    alerts_secret: str | None = Field(None, description="webhook signing secret "
                                      "(X-Pricing-Signature: sha256=HMAC of timestamp.body)")
    alerts_retries: int = Field(3, ge=0, le=10, description="webhook retries after a failed "
                                "attempt (exponential backoff)")
    outcomes_db: Path | None = Field(None, description="outcome store (default: the "
                                     "suggestion store's file, so feedback joins in)")
    monitor_window: str = Field("7D", description="monitoring window (pandas offset)")
    registry_poll_s: float = Field(5.0, gt=0, description="how often the server checks the "
                                   "registry's champion")


class Learning:
    """Outcome store + monitor + alert channel (+ registry watcher) of one service."""

    def __init__(self, service: PricingService, settings: LearningSettings | None = None,
                 sink: AlertSink | None = None) -> None:
        self.service = service
        self.settings = settings or LearningSettings.model_construct(
            **{k: f.default for k, f in LearningSettings.model_fields.items()})
        s = self.settings
        # Outcomes live beside suggestions and feedback (the SQL join); a PostgreSQL suggestion
        # store has no file, so they go to their own SQLite file there (PRICING_OUTCOMES_DB).
        path = s.outcomes_db or service.store.path or Path("runs/outcomes.sqlite")
        self.outcomes = OutcomeStore(path)
        self.alert_log = AlertLog(path)
        self.sink = sink if sink is not None else sink_from_spec(
            s.alerts, secret=s.alerts_secret, retries=s.alerts_retries)
        self.registry = ModelRegistry(s.registry) if s.registry is not None else None
        self.monitor_config = MonitorConfig(window=s.monitor_window)
        self._ref: tuple[str, Reference] | None = None
        self._lock = threading.Lock()        # one champion switch at a time
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None   # the watcher's last failure (shown in the UI)

    # ------------------------------------------------------------- outcomes
    def record(self, rows: Iterable[Mapping[str, Any]] | list[OutcomeIn], *,
               partial: bool = False, first_row: int = 0, check: bool = True) -> RecordResult:
        """Store outcomes (see :func:`assistant.outcomes.record_outcomes`), then (``check``)
        send any new alert the updated report raises. The API passes ``check=False`` and runs
        :meth:`check` after answering."""
        result = record_outcomes(self.service, self.outcomes, rows, partial=partial,
                                 first_row=first_row)
        if result.stored and check:
            try:
                self.check()
            except Exception:  # noqa: BLE001 - monitoring must not lose a stored batch
                log.exception("monitoring after recording outcomes failed")
        return result

    # ----------------------------------------------------------- monitoring
    def reference(self) -> Reference:
        """The serving model's training catalog (recomputed when the model changes)."""
        predictor = self.service.predictor
        if self._ref is None or self._ref[0] != predictor.version:
            self._ref = (predictor.version, Reference.from_predictor(predictor))
        return self._ref[1]

    def report(self, window: str | None = None, limit: int = REPORT_LIMIT) -> MonitoringReport:
        cfg = self.monitor_config
        if window is not None and window != cfg.window:
            cfg = MonitorConfig(**{**cfg.to_dict(), "window": window})
        frame = self.outcomes.frame(limit=limit, embeddings=True)
        return Monitor(self.reference(), cfg).report(frame)

    def check(self) -> list[Alert]:
        """Send the alerts of the current report not sent before; returns them."""
        return self.alert_log.dispatch(self.report().alerts, self.sink)

    # -------------------------------------------------------------- models
    def models(self) -> list[ModelVersion]:
        return self.registry.list() if self.registry is not None else []

    def sync_champion(self) -> bool:
        """Serve the registry's champion if it is not the served model; True when switched.
        The new model is loaded before the switch (requests keep being answered meanwhile)."""
        if self.registry is None:
            return False
        with self._lock:
            version = self.registry.champion_version()
            if version is None or version == self.service.model_version:
                return False
            predictor = Predictor.load(self.registry.path(version))
            old = self.service.swap_predictor(predictor)
            log.warning("switched model %s -> %s (registry champion)", old, version)
            return True

    def start_watching(self, interval: float | None = None) -> None:
        """Check the registry's champion every ``interval`` seconds in a daemon thread."""
        if self.registry is None or self._thread is not None:
            return
        every = interval or self.settings.registry_poll_s

        def loop() -> None:
            while not self._stop.wait(every):
                try:
                    self.sync_champion()
                    self.last_error = None
                except Exception as exc:  # noqa: BLE001 - keep serving the current model
                    self.last_error = f"{type(exc).__name__}: {exc}"
                    log.exception("could not switch to the registry's champion")

        self._thread = threading.Thread(target=loop, daemon=True, name="champion-watcher")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None


_LEARNING: weakref.WeakKeyDictionary[Any, Learning] = weakref.WeakKeyDictionary()
_LEARNING_LOCK = threading.Lock()


def learning_for(service: PricingService, settings: LearningSettings | None = None,
                 sink: AlertSink | None = None) -> Learning:
    """The service's one Learning object: created on first call (with ``settings``, or the
    defaults), returned as is afterwards (later ``settings`` are ignored)."""
    with _LEARNING_LOCK:
        learning = _LEARNING.get(service)
        if learning is None:
            learning = _LEARNING[service] = Learning(service, settings, sink)
        return learning


def champion_artifact(settings: LearningSettings, default: Path) -> Path:
    """The registry champion's folder when ``settings.registry`` has one, else ``default``
    (what ``pricing serve`` loads at start)."""
    if settings.registry is not None and Path(settings.registry).exists():
        champ = ModelRegistry(settings.registry).champion()
        if champ is not None:
            return champ.path
    return default
