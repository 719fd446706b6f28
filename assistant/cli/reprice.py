"""``pricing reprice``: re-suggest the products whose competitor offers changed (issue #7).

Run::

    pricing reprice --since 2018-08-01 --max-above-cheapest 0
    pricing reprice --since 2018-08-01 --db runs/graph.sqlite --artifact runs/model \
        --sales data/demo --policy policy.json --json
    pricing reprice --since 2018-08-01 --db postgresql://pricing@db-host/pricing \
        --suggestions-db postgresql://pricing@db-host/pricing
    pricing reprice --since 2018-08-01 --engine ray --actors 4 [--address ray://head:10001]

Each product with a competitor offer observed on/after ``--since`` gets a fresh suggestion
(stored in the suggestions database); the table lists which moved, from what to what and which
competitor changed. See ``assistant.reprice`` for why this never chases its own price.
``--engine ray`` prices the changed products on the batch engine of ``pricing score`` (Ray
actors that load the model, the graph store and the sales once each); the report and the
stored suggestions are the same as in process.
"""
from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from assistant.cli.stores import GRAPH_DB_HELP, SUGGESTIONS_DB_HELP, store_location

console = Console()


def register(app: typer.Typer) -> None:
    @app.command("reprice")
    def reprice_cmd(
        since: str = typer.Option(..., help="offers observed on/after this date (YYYY-MM-DD)"),
        db: str = typer.Option("runs/graph.sqlite", help=GRAPH_DB_HELP),
        artifact: Path = typer.Option(Path("runs/model"), help="trained model directory"),
        sales: str | None = typer.Option(
            None, help="catalog with a sales table for demand-aware mode "
                       "(default: PRICING_SALES, else data/demo; 'none' = market mode only)"),
        suggestions_db: str = typer.Option("runs/suggestions.sqlite", help=SUGGESTIONS_DB_HELP),
        policy_file: Path | None = typer.Option(
            None, "--policy", help="JSON guardrail policy (GuardrailPolicy fields)"),
        max_above_cheapest: float | None = typer.Option(
            None, help="competitor-position rule: at most this fraction above the cheapest "
                       "competitor (0 = match it, -0.05 = undercut by 5%)"),
        engine: str = typer.Option("local", "--engine", help="local (this process) or ray"),
        address: str | None = typer.Option(
            None, "--address", help="Ray cluster to join; default: a local Ray instance"),
        actors: int = typer.Option(2, "--actors", min=1, help="Ray actors"),
        work_dir: Path | None = typer.Option(
            None, "--work-dir", help="scratch folder of the Ray run (on a cluster: a shared "
                                     "path); default: a temporary folder"),
        show_all: bool = typer.Option(False, "--all", help="also list products that did not move"),
        as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
    ) -> None:
        """Reprice products whose competitor offers changed since a date."""
        from datetime import date

        from pydantic import ValidationError

        from assistant.guardrails import GuardrailPolicy
        from assistant.reprice import reprice
        from assistant.service import PricingService
        from assistant.settings import Settings
        from assistant.suggestion import SuggestOptions

        if engine not in ("local", "ray"):
            raise typer.BadParameter("use local or ray", param_hint="--engine")
        try:
            day = date.fromisoformat(since)
        except ValueError:
            raise typer.BadParameter(f"--since must be YYYY-MM-DD, got {since!r}") from None
        try:
            fields = json.loads(policy_file.read_text(encoding="utf-8")) if policy_file else {}
            if max_above_cheapest is not None:
                fields["max_above_cheapest"] = max_above_cheapest
            policy = GuardrailPolicy.model_validate(fields)
        except (OSError, json.JSONDecodeError) as exc:
            console.print(f"[red]error:[/red] --policy: {exc}")
            raise typer.Exit(2) from None
        except ValidationError as exc:
            err = exc.errors()[0]
            console.print(f"[red]error:[/red] policy.{'.'.join(map(str, err['loc']))}: "
                          f"{err['msg']}")
            raise typer.Exit(2) from None
        if not artifact.exists():
            console.print(f"[red]error:[/red] no trained model at {artifact} (run `pricing train`)")
            raise typer.Exit(2)
        graph_db = store_location(db)
        suggestions = store_location(suggestions_db, "--suggestions-db")
        with console.status("loading model, graph and sales"):
            settings = Settings(artifact=artifact, graph_db=graph_db, suggestions_db=suggestions,
                                **({} if sales is None else {"sales": sales}))
            service = PricingService.from_settings(settings, explain=False)
        options = SuggestOptions(explain=False, policy=policy)
        suggest_many = (None if engine == "local" else
                        _ray_suggester(settings, options, actors, address, work_dir))
        report = reprice(service, day, options, suggest_many=suggest_many)
        if as_json:
            typer.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
            return
        shown = report.items if show_all else report.moved + report.errors
        t = Table(title=f"reprice: {len(report.items)} products with offers since {report.since}, "
                        f"{len(report.moved)} moved")
        for c in ("product", "from", "to", "change", "mode", "why"):
            t.add_column(c)
        for i in shown:
            t.add_row(i.product_id, "—" if i.before is None else f"{i.before:,.2f}",
                      "—" if i.after is None else f"{i.after:,.2f}",
                      "" if i.change_pct is None else f"{i.change_pct:+.1f}%", i.mode or "",
                      i.error or i.reason)
        console.print(t)


def _ray_suggester(settings, options, actors: int, address: str | None, work_dir: Path | None):
    """Price a list of catalog ids on Ray actors (``assistant.batch``) with ``options``."""
    import tempfile

    from assistant.batch import RayEngine, ScoreSettings, suggest_with_engine
    from graph.db import store_exists

    db = (settings.graph_db if settings.graph_db is not None and store_exists(settings.graph_db)
          else None)
    score = ScoreSettings(artifact=str(settings.artifact), graph_db=db and str(db),
                          sales=settings.sales and str(settings.sales), policy=options.policy,
                          k_comparables=options.k_comparables,
                          max_relative_width=options.max_relative_width,
                          threads=settings.threads or 1)
    engine = RayEngine(actors=actors, address=address)

    def suggest_many(ids):
        with console.status(f"pricing {len(ids):,} products on Ray ({actors} actors)"):
            if work_dir is not None:
                return suggest_with_engine(ids, score, engine, work_dir)
            with tempfile.TemporaryDirectory(prefix="reprice-") as tmp:
                return suggest_with_engine(ids, score, engine, tmp)

    return suggest_many
