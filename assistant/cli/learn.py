"""CLI: record outcomes, retrain behind a gate, and manage model versions.

Use::

    pricing outcomes sales.csv --artifact runs/model          # product_id,sold_price,units,date[,suggestion_id]
    pricing monitor --window 7D                               # the monitoring report as a table
    pricing models register runs/model --registry runs/registry
    pricing models promote VERSION --registry runs/registry
    pricing retrain --registry runs/registry --db runs/graph.sqlite --holdout-days 7
    pricing models list --registry runs/registry
    pricing models rollback --registry runs/registry --reason "coverage alert"

The logic lives in :mod:`assistant.outcomes`, :mod:`assistant.monitoring`,
:mod:`assistant.retrain` and :mod:`models.registry`; this module only wires it to the terminal.
A server started with ``PRICING_REGISTRY`` switches to a promoted (or rolled-back) champion by
itself within ``PRICING_REGISTRY_POLL_S`` seconds.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from assistant.cli.stores import GRAPH_DB_HELP, SUGGESTIONS_DB_HELP, store_location

console = Console()
models_app = typer.Typer(add_completion=False, no_args_is_help=True,
                         help="Model versions: list, register, promote, rollback.")

REGISTRY = typer.Option(Path("runs/registry"), "--registry", help="model registry folder")


def _fail(msg: str) -> None:
    console.print(f"[red]error:[/red] {msg}")
    raise typer.Exit(2)


def _artifact(artifact: Path, registry: Path | None) -> Path:
    """The champion's folder when a registry with a champion is given, else ``artifact``."""
    if registry is not None and registry.exists():
        from models.registry import ModelRegistry

        champ = ModelRegistry(registry).champion()
        if champ is not None:
            return champ.path
    if not (artifact / "metadata.json").exists():
        _fail(f"no trained model at {artifact} (run `pricing train`, or give --registry)")
    return artifact


def outcomes_cmd(
    file: Path = typer.Argument(..., help="CSV, JSONL, JSON or Parquet: product_id, sold_price, "
                                "units, date, optional suggestion_id and currency"),
    artifact: Path = typer.Option(Path("runs/model"), help="served model (its predictions are "
                                  "stored with each outcome)"),
    registry: Path | None = typer.Option(None, "--registry", help="use the registry's champion"),
    db: str = typer.Option("runs/graph.sqlite", help=GRAPH_DB_HELP),
    suggestions_db: str = typer.Option("runs/suggestions.sqlite",
                                       help=f"{SUGGESTIONS_DB_HELP}; outcomes are stored "
                                            f"beside it"),
    strict: bool = typer.Option(False, "--strict", help="store nothing when any row is refused"),
    report: Path | None = typer.Option(None, "--report", help="write refused rows to this CSV"),
) -> None:
    """Record outcomes from FILE (refused rows are listed with row, field and reason)."""
    from assistant.learning import LearningSettings, learning_for
    from assistant.outcomes import read_outcome_file
    from assistant.service import PricingService
    from assistant.settings import Settings

    if not file.exists():
        _fail(f"{file} does not exist")
    with console.status("loading model and graph"):
        settings = Settings(artifact=_artifact(artifact, registry), graph_db=store_location(db),
                            suggestions_db=store_location(suggestions_db, "--suggestions-db"),
                            llm_backend="none")
        service = PricingService.from_settings(settings, explain=False)
    learning = learning_for(service, LearningSettings(registry=registry))
    stored, errors = 0, []
    try:
        chunks = list(read_outcome_file(file))
    except (ValueError, OSError) as exc:
        _fail(f"{file}: {exc}")
    for first, rows in chunks:
        res = learning.record(rows, partial=not strict, first_row=first, check=False)
        stored += len(res.stored)
        errors.extend(res.errors)
    sent = learning.check() if stored else []
    for e in errors[:20]:
        console.print(f"[yellow]row {e.row}[/yellow] {e.field or ''}: {e.error}")
    if len(errors) > 20:
        console.print(f"... and {len(errors) - 20} more refused rows")
    if report is not None and errors:
        with report.open("w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=["row", "field", "error"])
            w.writeheader()
            w.writerows(e.as_dict() for e in errors)
    console.print(f"stored {stored} outcome(s), refused {len(errors)}"
                  + (" (nothing stored: --strict)" if strict and errors else "")
                  + f"; {len(sent)} new alert(s)")
    for a in sent:
        console.print(f"[bold yellow]alert[/bold yellow] [{a.kind}] {a.message}")
    if errors and (strict or not stored):
        raise typer.Exit(1)


def monitor_cmd(
    window: str = typer.Option("7D", help="window length (pandas offset, e.g. 7D, 2W)"),
    artifact: Path = typer.Option(Path("runs/model")),
    registry: Path | None = typer.Option(None, "--registry"),
    db: str = typer.Option("runs/graph.sqlite", help=GRAPH_DB_HELP),
    suggestions_db: str = typer.Option("runs/suggestions.sqlite", help=SUGGESTIONS_DB_HELP),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Error, coverage and input drift per window; detections and alerts."""
    from assistant.learning import LearningSettings, learning_for
    from assistant.service import PricingService
    from assistant.settings import Settings

    with console.status("loading model and graph"):
        service = PricingService.from_settings(Settings(
            artifact=_artifact(artifact, registry), graph_db=store_location(db),
            suggestions_db=store_location(suggestions_db, "--suggestions-db"),
            llm_backend="none"), explain=False)
    try:
        rep = learning_for(service, LearningSettings(registry=registry)).report(window)
    except ValueError as exc:
        _fail(f"--window: {exc}")
    if as_json:
        typer.echo(json.dumps(rep.to_dict(), indent=2, default=str))
        return
    t = Table(title=f"{rep.n} outcomes; coverage band {rep.band[0]:.0f}-{rep.band[1]:.0f}%")
    for c in ("window", "n", "RMSLE", "±20%", "coverage", "bias", "cat JS", "unseen %", "PSI",
              "emb shift"):
        t.add_column(c, justify="right")

    def f(v: float | None, fmt: str) -> str:
        return "-" if v is None else format(v, fmt)

    for w in rep.windows:
        t.add_row(w.start, str(w.n), f(w.rmsle, ".3f"), f(w.within_20, ".1f"), f(w.coverage, ".1f"),
                  f(w.bias, "+.3f"), f(w.category_js, ".3f"), f(w.unseen_share, ".1f"),
                  f(w.price_psi, ".3f"), f(w.embedding_shift, ".4f"))
    console.print(t)
    for a in rep.alerts:
        console.print(f"[bold yellow]{a.at}[/bold yellow] [{a.kind}] {a.message}")


def retrain_cmd(
    registry: Path = REGISTRY,
    db: str | None = typer.Option("runs/graph.sqlite", "--db", help=f"{GRAPH_DB_HELP} (the "
                                  "curated catalog); falls back to --data"),
    data: Path | None = typer.Option(None, "--data", help="catalog data path instead of --db"),
    suggestions_db: Path = typer.Option(Path("runs/suggestions.sqlite"), "--outcomes",
                                        help="the store holding the outcomes"),
    holdout_days: int = typer.Option(7, min=1, help="latest days of outcomes held out"),
    min_holdout: int = typer.Option(30, min=1, help="fewest holdout outcomes to judge on"),
    price_window_days: int = typer.Option(60, min=1, help="outcomes this recent set prices"),
    min_gain: float = typer.Option(0.0, help="RMSLE the challenger must win by"),
    promote: bool = typer.Option(True, "--promote/--no-promote", help="promote when it passes"),
    config: Path | None = typer.Option(None, "--config", help="JSON with TrainConfig overrides"),
    cache_dir: Path = typer.Option(Path("runs/cache"), "--cache-dir", help="embedding cache"),
) -> None:
    """Train a challenger on catalog + outcomes; promote it only if it beats the champion."""
    from assistant.outcomes import OutcomeStore
    from assistant.retrain import GateConfig, RetrainError, retrain
    from graph.db import store_exists
    from models.registry import ModelRegistry, RegistryError
    from models.train import load_graph

    graph_db = None if db is None else store_location(db)
    if graph_db is not None and store_exists(graph_db):
        from graph.store import GraphStore

        with GraphStore(graph_db) as gs:
            graph = gs.load()
    elif data is not None and data.exists():
        graph = load_graph(data)
    else:
        _fail("give the catalog: --db (an existing graph store) or --data")
    overrides = json.loads(config.read_text(encoding="utf-8")) if config is not None else None
    outcomes = OutcomeStore(suggestions_db).frame()
    gate = GateConfig(holdout_days=holdout_days, min_holdout=min_holdout,
                      price_window_days=price_window_days, min_gain=min_gain)
    try:
        res = retrain(ModelRegistry(registry), graph, outcomes, gate=gate, overrides=overrides,
                      cache_dir=cache_dir, promote=promote, log=console.print)
    except (RetrainError, RegistryError) as exc:
        _fail(str(exc))
    g = res.gate
    t = Table(title=f"holdout from {g.cutoff} (n={g.n_holdout})")
    for c in ("model", "RMSLE", "±20%", "coverage"):
        t.add_column(c, justify="right")
    for name, m in ((f"champion {g.champion_version}", g.champion),
                    (f"challenger {res.version}", g.challenger)):
        t.add_row(name, f"{m['rmsle']:.4f}", f"{m['within_20']:.1f}%", f"{m['coverage']:.1f}%")
    console.print(t)
    verdict = "promoted" if res.promoted else ("passed (not promoted: --no-promote)"
                                               if g.passed else "refused")
    console.print(f"[bold]{verdict}[/bold]: {g.reason}")
    if not g.passed:
        raise typer.Exit(1)


@models_app.command("list")
def models_list(registry: Path = REGISTRY, as_json: bool = typer.Option(False, "--json")) -> None:
    """Registered versions, newest first, with their metrics and gate verdicts."""
    from models.registry import ModelRegistry

    versions = ModelRegistry(registry).list()
    if as_json:
        typer.echo(json.dumps([v.to_dict() for v in versions], indent=2, default=str))
        return
    t = Table(title=str(registry))
    for c in ("version", "status", "registered", "data", "test RMSLE", "gate"):
        t.add_column(c)
    for v in versions:
        test = (v.metrics.get("test") or {}).get("rmsle")
        gate = "-" if not v.gate else (("passed" if v.gate["passed"] else "refused") +
                                       f" {v.gate['challenger']['rmsle']:.4f} vs "
                                       f"{v.gate['champion']['rmsle']:.4f}")
        t.add_row(v.version, v.status, v.registered_at, (v.data_hash or "")[:8],
                  "-" if test is None else f"{test:.4f}", gate)
    console.print(t)


@models_app.command("register")
def models_register(artifact: Path = typer.Argument(..., help="artifact folder (pricing train)"),
                    registry: Path = REGISTRY,
                    promote: bool = typer.Option(False, "--promote", help="also make it champion"),
                    note: str | None = typer.Option(None, "--note")) -> None:
    """Copy a trained model into the registry."""
    from models.registry import ModelRegistry, RegistryError

    reg = ModelRegistry(registry)
    try:
        v = reg.register(artifact, note=note)
        if promote:
            reg.promote(v.version, reason=note or "registered as champion")
    except RegistryError as exc:
        _fail(str(exc))
    console.print(f"registered {v.version}" + (" (champion)" if promote else ""))


@models_app.command("promote")
def models_promote(version: str = typer.Argument(...), registry: Path = REGISTRY,
                   reason: str | None = typer.Option(None, "--reason")) -> None:
    """Make VERSION the champion (servers watching the registry switch to it)."""
    from models.registry import ModelRegistry, RegistryError

    try:
        v = ModelRegistry(registry).promote(version, reason=reason)
    except RegistryError as exc:
        _fail(str(exc))
    console.print(f"champion: {v.version}")


@models_app.command("rollback")
def models_rollback(registry: Path = REGISTRY,
                    reason: str | None = typer.Option(None, "--reason")) -> None:
    """Go back to the previous champion."""
    from models.registry import ModelRegistry, RegistryError

    try:
        v = ModelRegistry(registry).rollback(reason=reason)
    except RegistryError as exc:
        _fail(str(exc))
    console.print(f"rolled back; champion: {v.version}")


def register(app: typer.Typer) -> None:
    """Add ``outcomes``, ``monitor``, ``retrain`` and the ``models`` group to ``pricing``."""
    app.command("outcomes")(outcomes_cmd)
    app.command("monitor")(monitor_cmd)
    app.command("retrain")(retrain_cmd)
    app.add_typer(models_app, name="models")
