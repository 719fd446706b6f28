"""``pricing schedule``: competitor repricing and catalog scoring on cron expressions, with alerts.

Run::

    pricing schedule --config schedule.toml                   # until Ctrl-C (see assistant.schedule)
    pricing schedule --reprice-cron "*/30 * * * *" --undercut-pct 5 --map-file map.csv
    pricing schedule --score-cron "0 2 * * *" --catalog data/demo --out runs/scores-nightly
    pricing schedule --config schedule.toml --once --json     # every job once, now (exit 1: a run failed)

Alerts (competitor undercut, competitor below MAP, price below cost, failed run) go to the
channel of ``PRICING_ALERTS`` (log, file:PATH, webhook:URL; ``PRICING_ALERTS_SECRET`` signs
webhooks) and are stored beside the suggestions, where the server's Alerts panel and
``GET /v1/alerts`` read them. Our price is the price list's (``PRICING_PRICEBOOK_DB``), else
the catalog's. A failed run raises a ``run_failed`` alert; the scheduler keeps going.
"""
from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

console = Console(stderr=True)


def register(app: typer.Typer) -> None:
    @app.command("schedule")
    def schedule_cmd(
        config: Path | None = typer.Option(None, "--config", help="TOML schedule (jobs, [alerts])"),
        reprice_cron: str | None = typer.Option(
            None, "--reprice-cron", help="reprice products whose competitor offers changed, on "
                                         "this crontab line, e.g. '*/30 * * * *'"),
        lookback_days: int = typer.Option(1, "--lookback-days", min=0,
                                          help="reprice: offers observed in the last N days"),
        score_cron: str | None = typer.Option(None, "--score-cron",
                                              help="score the whole --catalog on this crontab line"),
        catalog: Path | None = typer.Option(None, "--catalog", help="score: the catalog"),
        out: Path | None = typer.Option(None, "--out", help="score: output folder (rewritten)"),
        policy_file: Path | None = typer.Option(None, "--policy",
                                                help="JSON guardrail policy for these jobs"),
        undercut_pct: float | None = typer.Option(
            None, "--undercut-pct", help="alert when a competitor is more than this % below our "
                                         "price (default 5)"),
        map_file: Path | None = typer.Option(None, "--map-file",
                                             help="CSV of product_id,map_price (MAP alerts)"),
        timezone: str = typer.Option("UTC", "--timezone", help="time zone of the cron lines"),
        run_log: Path | None = typer.Option(None, "--run-log", help="JSON lines: one per run"),
        once: bool = typer.Option(False, "--once", help="run every job now, once, and exit"),
        as_json: bool = typer.Option(False, "--json", help="--once: print the runs as JSON"),
        db: Path = typer.Option(Path("runs/graph.sqlite"), help="graph store"),
        artifact: Path = typer.Option(Path("runs/model"), help="trained model directory"),
        sales: str | None = typer.Option(None, help="catalog with a sales table (default: "
                                                    "PRICING_SALES; 'none' = market mode)"),
        suggestions_db: Path = typer.Option(Path("runs/suggestions.sqlite"),
                                            help="suggestion store (alerts are stored beside it)"),
    ) -> None:
        """Run repricing and/or catalog scoring on a schedule, raising pricing alerts."""
        from assistant.schedule import ScheduleConfig

        try:
            cfg = _config(config, reprice_cron, lookback_days, score_cron, catalog, out,
                          policy_file, undercut_pct, map_file, timezone, run_log)
        except ValueError as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from None
        assert isinstance(cfg, ScheduleConfig)
        if not artifact.exists():
            console.print(f"[red]error:[/red] no trained model at {artifact} (run `pricing train`)")
            raise typer.Exit(2)
        runner = _runner(cfg, artifact, db, sales, suggestions_db)
        if once:
            results = runner.run_all(cfg.jobs)
            if as_json:
                typer.echo(json.dumps([r.to_dict() for r in results], indent=2,
                                      ensure_ascii=False, default=str))
            raise typer.Exit(0 if all(r.ok for r in results) else 1)
        from assistant.schedule import build_scheduler

        sched = build_scheduler(cfg, runner)
        for job in sched.get_jobs():
            console.print(f"[bold]{job.name}[/bold]: {job.trigger}")
        console.print("scheduler running (Ctrl-C to stop)")
        try:
            sched.start()
        except (KeyboardInterrupt, SystemExit):
            console.print("stopped")


def _config(config, reprice_cron, lookback_days, score_cron, catalog, out, policy_file,
            undercut_pct, map_file, timezone, run_log):
    """The schedule from --config, or from the job options (not both)."""
    from assistant.batch import policy_from_file
    from assistant.schedule import ScheduleConfig

    by_options = reprice_cron or score_cron
    if config is not None and by_options:
        raise ValueError("give --config or --reprice-cron/--score-cron, not both")
    if config is not None:
        cfg = ScheduleConfig.from_file(config)
        alerts = cfg.alerts.model_copy(update={k: v for k, v in (
            ("undercut_pct", undercut_pct), ("map_file", map_file)) if v is not None})
        return cfg.model_copy(update={"alerts": alerts})
    if not by_options:
        raise ValueError("nothing to schedule: give --config, --reprice-cron or --score-cron")
    policy = policy_from_file(policy_file).model_dump(exclude_none=True)
    jobs = []
    if reprice_cron:
        jobs.append({"name": "reprice", "kind": "reprice", "cron": reprice_cron,
                     "lookback_days": lookback_days, "policy": policy})
    if score_cron:
        jobs.append({"name": "score", "kind": "score", "cron": score_cron, "policy": policy,
                     "catalog": catalog, "out": out})
    alerts = {k: v for k, v in (("undercut_pct", undercut_pct), ("map_file", map_file))
              if v is not None}
    return ScheduleConfig.parse({"timezone": timezone, "alerts": alerts, "run_log": run_log,
                                 "jobs": jobs}, "options")


def _runner(cfg, artifact: Path, db: Path, sales: str | None, suggestions_db: Path):
    """Load the service once; the runner reuses it for every run."""
    from assistant.batch import ScoreSettings
    from assistant.learning import LearningSettings, learning_for
    from assistant.schedule import JobRunner
    from assistant.service import PricingService
    from assistant.settings import Settings
    from graph.db import store_exists

    with console.status("loading model, graph and sales"):
        settings = Settings(artifact=artifact, graph_db=db, suggestions_db=suggestions_db,
                            **({} if sales is None else {"sales": sales}))
        service = PricingService.from_settings(settings, explain=False)
    learning = learning_for(service, LearningSettings())   # PRICING_ALERTS, _SECRET, _RETRIES
    graph_db = settings.graph_db if settings.graph_db is not None and \
        store_exists(settings.graph_db) else None
    score_base = ScoreSettings(artifact=str(artifact), graph_db=graph_db and str(graph_db),
                               sales=settings.sales and str(settings.sales),
                               threads=settings.threads or 1)
    try:
        return JobRunner(service, learning.alert_log, learning.sink, cfg.alerts,
                         book=settings.make_pricebook(), score_base=score_base,
                         run_log=cfg.run_log, progress=lambda m: console.print(m, highlight=False))
    except ValueError as exc:   # a bad MAP file
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
