"""Scheduled jobs: competitor repricing and catalog scoring on cron expressions, with alerts.

Use::

    pricing schedule --config schedule.toml            # runs until stopped (Ctrl-C)
    pricing schedule --config schedule.toml --once     # every job once, now

    from assistant.schedule import JobRunner, ScheduleConfig, build_scheduler
    config = ScheduleConfig.from_file("schedule.toml")
    runner = JobRunner(service, alert_log, sink, config.alerts, book=book, score_base=settings)
    result = runner.run(config.jobs[0])      # one run now: RunResult (never raises)
    build_scheduler(config, runner).start()  # APScheduler, one cron trigger per job

A schedule file (TOML; relative paths are read from the working directory)::

    timezone = "UTC"
    run_log = "runs/schedule-runs.jsonl"    # one JSON line per run (optional)

    [alerts]                                # assistant.price_alerts.AlertRules
    undercut_pct = 5                        # a competitor more than 5% below our price
    map_file = "map.csv"                    # product_id,map_price

    [[jobs]]
    name = "competitors"
    kind = "reprice"                        # products whose competitor offers changed
    cron = "*/30 * * * *"                   # minute hour day month weekday (6 fields: seconds first)
    lookback_days = 1                       # offers observed since yesterday
    policy = { max_above_cheapest = 0 }     # GuardrailPolicy fields

    [[jobs]]
    name = "nightly"
    kind = "score"                          # the whole catalog, as `pricing score`
    cron = "0 2 * * *"
    catalog = "data/demo"
    out = "runs/scores-nightly"             # rewritten by every run

Each run catches the service's graph up with its store first (offers written by other
processes), then prices, then checks every priced product with
:func:`assistant.price_alerts.price_alerts` (our price: the price list's, else the catalog's).
A run that raises sends a ``run_failed`` alert and is logged; the scheduler goes on with the
next run. Alerts go through the :class:`assistant.alerts.AlertLog` (each sent once, stored for
the UI and ``GET /v1/alerts``) to the configured sink (log, file, signed webhook).
"""
from __future__ import annotations

import json
import logging
import threading
import time
import tomllib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from assistant.alerts import Alert, AlertLog, AlertSink, LogSink
from assistant.guardrails import GuardrailPolicy
from assistant.price_alerts import AlertRules, PriceContext, price_alerts, read_map_prices
from assistant.suggestion import Suggestion, SuggestOptions
from graph.contracts import finite_or_none
from graph.schema import now_iso

if TYPE_CHECKING:
    from apscheduler.schedulers.base import BaseScheduler
    from apscheduler.triggers.cron import CronTrigger

    from assistant.batch import ScoreSettings
    from assistant.pricebook import PriceBook
    from assistant.service import PricingService

log = logging.getLogger("pricing.schedule")
_CRON_FIELDS = ("second", "minute", "hour", "day", "month", "day_of_week")


def cron_trigger(expr: str, timezone: str = "UTC") -> CronTrigger:
    """A trigger from a crontab line (5 fields) or one with seconds first (6 fields)."""
    from apscheduler.triggers.cron import CronTrigger

    parts = expr.split()
    if len(parts) == 5:
        return CronTrigger.from_crontab(expr, timezone=timezone)
    if len(parts) == 6:
        return CronTrigger(**dict(zip(_CRON_FIELDS, parts)), timezone=timezone)
    raise ValueError(f"{expr!r} has {len(parts)} fields: use 5 (minute hour day month "
                     "weekday) or 6 (seconds first)")


class JobSpec(BaseModel):
    """One scheduled job: what it runs and when."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=r"^[\w.-]+$")
    kind: Literal["reprice", "score"]
    cron: str = Field(description="when: a crontab line, e.g. '*/30 * * * *'")
    policy: GuardrailPolicy = Field(default_factory=GuardrailPolicy)
    # reprice: products with competitor offers observed on/after `since`, else in the last days
    since: date | None = None
    lookback_days: int = Field(1, ge=0, le=3650)
    # score: the catalog and the output folder (rewritten by every run)
    catalog: Path | None = None
    out: Path | None = None
    block_rows: int = Field(1000, ge=1, le=1_000_000)

    @field_validator("cron")
    @classmethod
    def _cron(cls, v: str) -> str:
        cron_trigger(v)  # raises ValueError with the reason
        return " ".join(v.split())

    @model_validator(mode="after")
    def _score_paths(self) -> JobSpec:
        if self.kind == "score" and (self.catalog is None or self.out is None):
            raise ValueError("a score job needs catalog and out")
        return self


class ScheduleConfig(BaseModel):
    """The jobs, their alert rules and the scheduler's time zone."""

    model_config = ConfigDict(extra="forbid")

    timezone: str = "UTC"
    alerts: AlertRules = Field(default_factory=AlertRules)
    run_log: Path | None = Field(None, description="JSON lines file: one line per run")
    jobs: list[JobSpec] = Field(min_length=1)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r} (e.g. UTC, Asia/Kolkata)") from None
        return v

    @model_validator(mode="after")
    def _unique(self) -> ScheduleConfig:
        names = [j.name for j in self.jobs]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"job names must be unique: {', '.join(dup)}")
        return self

    @classmethod
    def from_file(cls, path: str | Path) -> ScheduleConfig:
        """Read a TOML schedule; errors name the file and the field (``jobs.0.cron``)."""
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ValueError(f"{p}: {exc.strerror or exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{p}: not TOML ({exc})") from None
        return cls.parse(data, str(p))

    @classmethod
    def parse(cls, data: dict[str, Any], source: str = "schedule") -> ScheduleConfig:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(map(str, err["loc"])) or "schedule"
            raise ValueError(f"{source}: {where}: {err['msg']}") from None


@dataclass
class RunResult:
    """What one run did (logged, written to the run log, printed by the CLI)."""

    job: str
    kind: str
    run_id: str
    started_at: str
    seconds: float = 0.0
    ok: bool = True
    error: str | None = None
    checked: int = 0          # products priced
    moved: int = 0            # reprice: suggestions that moved; score: not counted
    failed_items: int = 0     # products that could not be priced (bad rows, conflicts)
    alerts: list[Alert] = field(default_factory=list)   # sent by this run (new ones)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["alerts"] = [a.to_dict() for a in self.alerts]
        return d


Progress = Callable[[str], None]


class JobRunner:
    """Runs jobs over one loaded service; each run's alerts go through ``alert_log`` to ``sink``.

    ``book``: the price list (our applied prices; None: the catalog's prices).
    ``score_base``: the batch settings score jobs start from (model, graph, sales); the job's
    policy replaces its policy. ``today``: the run's date (tests pin it)."""

    def __init__(self, service: PricingService, alert_log: AlertLog, sink: AlertSink,
                 rules: AlertRules | None = None, *, book: PriceBook | None = None,
                 score_base: ScoreSettings | None = None, run_log: Path | None = None,
                 progress: Progress | None = None,
                 today: Callable[[], date] = lambda: datetime.now(UTC).date()) -> None:
        self.service = service
        self.alert_log = alert_log
        self.sink = sink
        self.rules = rules or AlertRules()
        self.book = book
        self.score_base = score_base
        self.run_log = Path(run_log) if run_log is not None else None
        self.progress = progress
        self.today = today
        self.map_prices = read_map_prices(self.rules.map_file) if self.rules.map_file else {}
        self.history: list[RunResult] = []
        self._lock = threading.Lock()   # one run at a time: the service's graph is shared

    # ------------------------------------------------------------------ one run
    def run(self, job: JobSpec) -> RunResult:
        """Run ``job`` now. Never raises: a failure is a ``run_failed`` alert and a result
        with ``ok=False``."""
        with self._lock:
            started = now_iso()
            result = RunResult(job.name, job.kind, f"{job.name}-{uuid.uuid4().hex[:8]}", started)
            self._say(f"run {result.run_id}: {job.kind} started")
            t0 = time.perf_counter()
            try:
                self._catch_up()
                found = self._reprice(job, result) if job.kind == "reprice" else \
                    self._score(job, result)
                result.alerts = self._dispatch(self.check(found, job.name))
            except Exception as exc:  # noqa: BLE001 - a failed run must not stop the scheduler
                log.exception("scheduled job %s failed", job.name)
                result.ok = False
                result.error = f"{type(exc).__name__}: {exc}"
            result.seconds = round(time.perf_counter() - t0, 3)
            if not result.ok:
                result.alerts.extend(self._dispatch([self._failed(job, result)]))
            self._finish(result)
            return result

    def run_all(self, jobs: Sequence[JobSpec]) -> list[RunResult]:
        return [self.run(j) for j in jobs]

    def check(self, suggestions: Sequence[Suggestion], source: str = "") -> list[Alert]:
        """The pricing alerts of these suggestions (see :mod:`assistant.price_alerts`)."""
        day = self.today().isoformat()
        return [a for s in suggestions for a in price_alerts(s, self.context(s), self.rules,
                                                               day, source)]

    def context(self, s: Suggestion) -> PriceContext:
        """Our price (the price list's, else the catalog's), cost and MAP of ``s``'s product."""
        pid = s.product_id
        applied = self.book.current_price(pid) if self.book is not None and pid else None
        cost = catalog = None
        products = self.service.products
        if pid and pid in products.index:
            catalog = finite_or_none(products.at[pid, "price"]) if "price" in products else None
            cost = finite_or_none(products.at[pid, "cost"]) if "cost" in products else None
        if applied is not None:
            ours, source = applied, "price list"
        else:
            ours, source = catalog if catalog is not None else s.current_price, "catalog"
        return PriceContext(ours, source, cost, self.map_prices.get(pid or ""))

    # ------------------------------------------------------------------ the jobs
    def _catch_up(self) -> None:
        if getattr(self.service, "graph_db", None) is not None:
            from assistant.graph_sync import ensure_current

            if ensure_current(self.service):
                self._say("graph caught up with its store")

    def _reprice(self, job: JobSpec, result: RunResult) -> list[Suggestion]:
        from assistant.reprice import reprice

        since = job.since or (self.today() - timedelta(days=job.lookback_days))
        opts = SuggestOptions(explain=False, policy=job.policy)
        priced: list[Suggestion] = []

        def suggest_many(ids: Sequence[str]) -> Sequence[Suggestion | Exception]:
            self._say(f"repricing {len(ids):,} products with offers since {since}")
            out = self.service.suggest_batch(ids, opts, store=False)
            priced.extend(s for s in out if isinstance(s, Suggestion))
            return out

        report = reprice(self.service, since, opts, suggest_many=suggest_many)
        result.checked, result.moved = len(report.items), len(report.moved)
        result.failed_items = len(report.errors)
        return priced

    def _score(self, job: JobSpec, result: RunResult) -> list[Suggestion]:
        import pyarrow.parquet as pq

        from assistant.batch import LocalEngine, score_catalog
        from assistant.batch.plan import SCORES

        if self.score_base is None:
            raise ValueError("score jobs need the batch settings (model, graph, sales)")
        settings = self.score_base.model_copy(update={"policy": job.policy,
                                                      "keep_suggestion": True})
        assert job.catalog is not None and job.out is not None  # checked by JobSpec
        summary = score_catalog(job.catalog, job.out, settings, LocalEngine(self.service),
                                block_rows=job.block_rows, overwrite=True,
                                progress=_BlockProgress(self._say))
        result.checked, result.failed_items = summary.scored_total, summary.bad_rows_total
        found: list[Suggestion] = []
        for part in sorted((Path(job.out) / SCORES).glob("part-*.parquet")):
            for body in pq.read_table(part, columns=["suggestion_json"]).column(0).to_pylist():
                if body:
                    found.append(Suggestion.model_validate_json(body))
        if summary.failed_blocks:
            # the blocks that were scored still raise their alerts; the run counts as failed
            result.alerts = self._dispatch(self.check(found, job.name))
            first = summary.failed_blocks[0]
            raise RuntimeError(f"{len(summary.failed_blocks)} of {summary.blocks} blocks failed "
                               f"(block {first['index']}: {first['error'][:300]})")
        return found

    # ------------------------------------------------------------------ bookkeeping
    def _dispatch(self, alerts: list[Alert]) -> list[Alert]:
        sent = self.alert_log.dispatch(alerts, self.sink) if alerts else []
        if not isinstance(self.sink, LogSink):   # every alert is also in the log
            for a in sent:
                LogSink().send(a)
        return sent

    def _failed(self, job: JobSpec, result: RunResult) -> Alert:
        return Alert(kind="run_failed", severity="critical", at=result.started_at[:10],
                     key=f"run_failed:{result.run_id}",
                     message=f"scheduled {job.kind} job {job.name!r} failed: {result.error}",
                     details={"job": job.name, "kind": job.kind, "run_id": result.run_id,
                              "started_at": result.started_at, "error": result.error})

    def _finish(self, r: RunResult) -> None:
        self.history.append(r)
        del self.history[:-100]   # the latest runs are enough for the CLI and tests
        kinds: dict[str, int] = {}
        for a in r.alerts:
            kinds[a.kind] = kinds.get(a.kind, 0) + 1
        msg = (f"run {r.run_id}: {'ok' if r.ok else 'FAILED'} in {r.seconds:.1f} s, "
               f"{r.checked:,} checked, {r.moved:,} moved, {r.failed_items:,} not priced, "
               f"{len(r.alerts)} new alert(s)"
               + (f" ({', '.join(f'{k} {n}' for k, n in sorted(kinds.items()))})" if kinds else "")
               + (f": {r.error}" if r.error else ""))
        (log.info if r.ok else log.error)(msg)
        if self.progress is not None:
            self.progress(msg)
        if self.run_log is not None:
            try:
                self.run_log.parent.mkdir(parents=True, exist_ok=True)
                with self.run_log.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(r.to_dict(), ensure_ascii=False, default=str) + "\n")
            except OSError as exc:
                log.error("run log %s not written: %s", self.run_log, exc)

    def _say(self, msg: str) -> None:
        log.info(msg)
        if self.progress is not None:
            self.progress(msg)


class _BlockProgress:
    """Score runs: one line per block done (``assistant.batch.run.Progress``)."""

    def __init__(self, say: Progress) -> None:
        self.say = say
        self.total = self.done = 0

    def start(self, total_rows: int, done_rows: int) -> None:
        self.total, self.done = total_rows, done_rows
        self.say(f"scoring {total_rows:,} rows")

    def advance(self, r: Any) -> None:
        self.done += r.rows
        self.say(f"block {r.index}: {r.rows:,} rows" + (f", FAILED: {r.error}" if r.error else "")
                 + f" ({self.done:,}/{self.total:,})")


def build_scheduler(config: ScheduleConfig, runner: JobRunner,
                    scheduler: BaseScheduler | None = None) -> BaseScheduler:
    """An APScheduler scheduler (default: blocking) with one cron job per ``config`` job.

    A job still running when its next time comes is not started twice (``max_instances``);
    runs missed while the process was busy or asleep collapse into one (``coalesce``)."""
    from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED
    from apscheduler.schedulers.blocking import BlockingScheduler

    sched = scheduler if scheduler is not None else BlockingScheduler(timezone=config.timezone)
    for job in config.jobs:
        sched.add_job(runner.run, cron_trigger(job.cron, config.timezone), args=[job],
                      id=job.name, name=f"{job.kind}:{job.name}", max_instances=1,
                      coalesce=True, misfire_grace_time=300, replace_existing=True)

    def on_event(event: Any) -> None:
        # runner.run never raises; this is the net for anything outside it
        if event.code == EVENT_JOB_ERROR:
            log.error("job %s raised: %s", event.job_id, event.exception)
        elif event.code == EVENT_JOB_MISSED:
            log.warning("job %s missed its time (%s)", event.job_id, event.scheduled_run_time)
        else:
            log.warning("job %s still running: this run is skipped", event.job_id)

    sched.add_listener(on_event, EVENT_JOB_ERROR | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)
    return sched


__all__ = ["JobSpec", "ScheduleConfig", "JobRunner", "RunResult", "build_scheduler",
           "cron_trigger"]
