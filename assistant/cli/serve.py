"""``pricing suggest`` (one explained suggestion in the terminal) and ``pricing serve`` (the API).

Run::

    pricing suggest "boAt Rockerz 450 Bluetooth Headphones" --category "electronics > Headphones" \
        --cost 900 --current-price 1499 --explain
    pricing suggest --id B07JW9H4J1
    PRICING_API_KEYS=secret:merchant pricing serve --artifact runs/model --port 8000
    PRICING_API_KEYS=secret:merchant pricing serve --workers 4 --no-ui \
        --db postgresql://pricing@db-host/pricing --suggestions-db postgresql://pricing@db-host/pricing

``--workers N`` (N > 1): gunicorn with uvicorn workers and ``preload_app``: the model, graph and
catalog are loaded once in the master process, the GC is frozen, then N workers are forked and
share those pages copy-on-write; one torch thread per worker unless PRICING_THREADS says
otherwise. A worker that dies is replaced by a fresh fork of the master. Each worker checks the
store's graph version per request and replays edits other workers committed
(:mod:`assistant.graph_sync`). The merchant UI keeps per-session state in its process, so it is
served by single-process servers only (``--workers 1``, the default).

``--warm-in-background`` (one worker; ``make demo`` uses it): serve at once and compute the
catalog's suggestions behind the server (:func:`warm_behind`) instead of before it - at 150k
products the warm-up takes minutes, during which a look-up not yet warm is computed as with
``--no-warm``.
"""
from __future__ import annotations

import gc
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from assistant.cli.stores import GRAPH_DB_HELP, SUGGESTIONS_DB_HELP, store_location

console = Console()


def _money(v: float | None, cur: str) -> str:
    return "—" if v is None else f"{v:,.2f} {cur}"


def render_suggestion(s) -> None:  # noqa: ANN001 - a Suggestion
    cur = s.currency
    head = (f"[bold]{s.title}[/bold]\nrecommended [bold green]{_money(s.recommended_price, cur)}"
            f"[/bold green]  (model {_money(s.model_price, cur)}; {s.interval.coverage:.0%} interval "
            f"{s.interval.low:,.2f}–{s.interval.high:,.2f})\nconfidence {s.confidence:.2f}")
    if s.current_price:
        head += f"   current {_money(s.current_price, cur)} ({s.change_pct:+.1f}%)"
    if s.abstain:
        head += f"\n[bold yellow]abstain: {s.abstain_reason}[/bold yellow]"
    console.print(Panel(head, title=f"suggestion {s.suggestion_id[:12]}", subtitle=s.model_version))
    ev = s.evidence
    if ev.comparables:
        t = Table(title="comparable products")
        for c in ("product", "title", "price", "similarity"):
            t.add_column(c)
        for c in ev.comparables:
            t.add_row(c.product_id, c.title[:60], f"{c.price:,.2f}", f"{c.similarity:.2f}")
        console.print(t)
    if ev.competitors:
        t = Table(title="competitor offers")
        for c in ("competitor", "price", "observed", "our index"):
            t.add_column(c)
        for c in ev.competitors:
            t.add_row(c.competitor, f"{c.price:,.2f}", c.observed_at or "", f"{c.price_index or 0:.2f}")
        console.print(t)
    t = Table(title="statistics and drivers")
    t.add_column("what")
    t.add_column("value")
    for label, g in (("category", ev.category), ("brand", ev.brand)):
        if g and g.median is not None:
            t.add_row(f"{label}: {g.name}", f"median {g.median:,.2f} (p25 {g.p25 or 0:,.2f}, "
                                            f"p75 {g.p75 or 0:,.2f}, n={g.n})")
    for d in ev.drivers:
        t.add_row(f"driver: {d.group}", f"{d.effect_pct:+.1f}%")
    for g in s.guardrails:
        t.add_row(f"guardrail: {g.rule}", f"{g.before:,.2f} → {g.after:,.2f} {g.detail}")
    console.print(t)
    if s.explanation and s.explanation.status != "not_requested":
        console.print(Panel(s.explanation.text, title=f"explanation ({s.explanation.status})"))


def register(app: typer.Typer) -> None:
    @app.command()
    def suggest(
        title: str | None = typer.Argument(None, help="title of a new product"),
        product_id: str | None = typer.Option(None, "--id", help="a catalog product id instead"),
        category: str | None = typer.Option(None, help='category path, "A > B > C"'),
        brand: str | None = typer.Option(None),
        description: str | None = typer.Option(None),
        cost: float | None = typer.Option(None, help="unit cost (sets the cost floor)"),
        current_price: float | None = typer.Option(None, help="the price charged today"),
        currency: str | None = typer.Option(None, help="ISO code, e.g. INR"),
        min_margin: float | None = typer.Option(None, help="e.g. 0.2: margin = (price − cost) / price ≥ 20%"),
        map_price: float | None = typer.Option(None, "--map", help="minimum advertised price"),
        ceiling: float | None = typer.Option(None),
        max_change: float | None = typer.Option(None, help="e.g. 0.15 = at most ±15%"),
        ending: str = typer.Option("none", help='"none", ".99" or "9"'),
        explain: bool = typer.Option(False, "--explain/--no-explain"),
        as_json: bool = typer.Option(False, "--json", help="print the suggestion as JSON"),
        artifact: Path = typer.Option(Path("runs/model"), help="trained model directory"),
        db: str = typer.Option("runs/graph.sqlite", help=GRAPH_DB_HELP),
        suggestions_db: str = typer.Option("runs/suggestions.sqlite", help=SUGGESTIONS_DB_HELP),
    ) -> None:
        """Recommend a price for one product, with evidence, guardrails and explanation."""
        from assistant.guardrails import GuardrailConflict, GuardrailPolicy
        from assistant.service import PricingService, UnknownProduct
        from assistant.settings import Settings
        from assistant.suggestion import SuggestOptions
        from graph.contracts import ProductIn

        if not title and not product_id:
            raise typer.BadParameter("give a TITLE or --id")
        try:
            policy = GuardrailPolicy(min_margin=min_margin, map_price=map_price, ceiling=ceiling,
                                     max_change=max_change, ending=ending)
            target = product_id or ProductIn(title=title, category_path=category, brand=brand,
                                             description=description, cost=cost,
                                             price=current_price, currency=currency)
            if product_id and (cost is not None or current_price is not None):
                policy = policy.model_copy(update={"cost": cost})
        except ValidationError as exc:
            err = exc.errors()[0]
            console.print(f"[red]error:[/red] {'.'.join(map(str, err['loc']))}: {err['msg']}")
            raise typer.Exit(2) from None
        if not artifact.exists():
            console.print(f"[red]error:[/red] no trained model at {artifact} (run `pricing train`)")
            raise typer.Exit(2)
        with console.status("loading model and graph"):
            settings = Settings(artifact=artifact, graph_db=store_location(db),
                                suggestions_db=store_location(suggestions_db,
                                                              "--suggestions-db"))
            service = PricingService.from_settings(settings, explain=explain)
        try:
            s = service.suggest(target, SuggestOptions(explain=explain, policy=policy))
        except UnknownProduct:
            console.print(f"[red]error:[/red] unknown product id {product_id!r}")
            raise typer.Exit(2) from None
        except GuardrailConflict as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from None
        if as_json:
            typer.echo(json.dumps(s.model_dump(mode="json"), indent=2, ensure_ascii=False))
        else:
            render_suggestion(s)

    @app.command()
    def serve(
        artifact: Path = typer.Option(Path("runs/model"), help="trained model directory"),
        db: str = typer.Option("runs/graph.sqlite",
                               help="graph store: a SQLite path or a postgresql:// URL"),
        suggestions_db: str = typer.Option("runs/suggestions.sqlite",
                                           help="suggestion store: a SQLite path or a "
                                                "postgresql:// URL"),
        host: str = typer.Option("127.0.0.1"),
        port: int = typer.Option(8000),
        workers: int = typer.Option(1, min=1, max=64,
                                    help="worker processes sharing one loaded model (forked "
                                         "after loading; the API only when more than 1)"),
        no_auth: bool = typer.Option(False, "--no-auth", help="explicitly disable API keys"),
        ui: bool | None = typer.Option(None, "--ui/--no-ui",
                                       help="also serve the merchant UI at /ui (default: with "
                                            "one worker)"),
        warm: bool = typer.Option(True, "--warm/--no-warm",
                                  help="compute the catalog's suggestions before serving so that "
                                       "look-ups by id answer from memory (shared by workers)"),
        warm_in_background: bool = typer.Option(
            False, "--warm-in-background",
            help="with one worker: serve at once and compute the catalog's suggestions behind "
                 "it (a product asked for before its turn is computed as with --no-warm); "
                 "more workers warm before the fork as usual"),
    ) -> None:
        """Serve the REST API (OpenAPI at /openapi.json, docs at /docs) and the UI at /ui."""
        from assistant.server import ApiSettings, build_server
        from assistant.service import PricingService
        from assistant.settings import Settings
        from graph.db import describe

        if ui and workers > 1:
            console.print("[red]error:[/red] the UI keeps per-session state in its process: "
                          "serve it with --workers 1 (another port), the API with --workers N "
                          "--no-ui")
            raise typer.Exit(2)
        ui = (workers == 1) if ui is None else ui
        try:
            settings = ApiSettings(auth_disabled=True) if no_auth else ApiSettings.from_env()
        except ValueError as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from None
        from assistant.learning import LearningSettings, champion_artifact, learning_for

        learning = LearningSettings()  # PRICING_REGISTRY, PRICING_ALERTS (issue 18)
        if workers > 1:
            # One torch thread per worker unless told otherwise: N workers on N cores beat N
            # workers each spinning up every core. Set before the model loads.
            os.environ.setdefault("PRICING_THREADS", "1")
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        with console.status("loading model and graph"):
            cfg = Settings(artifact=champion_artifact(learning, artifact), graph_db=db,
                           suggestions_db=suggestions_db)
            try:
                service = PricingService.from_settings(cfg)
            except Exception as exc:  # a bad URL, a server that refuses: say where
                console.print(f"[red]error:[/red] cannot open the stores ({describe(db)}, "
                              f"{describe(suggestions_db)}): {exc}")
                raise typer.Exit(2) from None
        with console.status("preparing the model's neighbour search"):
            service.predictor.prepare()  # else the first request waits for it
        behind = warm and warm_in_background and workers == 1
        if warm and not behind:  # before the fork: every worker starts with the same catalog
            n = service.warm_cache()
            console.print(f"{n:,} catalog suggestions ready")
        learning_for(service, learning).start_watching()  # follows the registry's champion
        # the price list (PRICING_PRICEBOOK_DB; auto-apply policy PRICING_AUTO_APPLY_*)
        # PRICING_LOGIN_MAX_FAILURES / PRICING_LOGIN_WINDOW_S: the UI's sign-in limit
        app = build_server(service, settings, ui=ui, pricebook=cfg.make_pricebook(),
                           login_limit=cfg.login_limit)
        console.print(f"serving on http://{host}:{port}  (docs: /docs" + (", UI: /ui" if ui else "")
                      + (f"; {workers} workers)" if workers > 1 else ")")
                      + ("; computing the catalog's suggestions in the background" if behind
                         else ""))
        # The graph and catalog are millions of long-lived Python objects: keep them out of the
        # cyclic GC's full passes, which otherwise pause every request now and then - and, with
        # workers, would write to (and so un-share) every page they live on.
        gc.collect()
        gc.freeze()
        if behind:
            warm_behind(service)
        if workers == 1:
            import uvicorn

            uvicorn.run(app, host=host, port=port, log_level="warning")
        else:
            serve_workers(app, host, port, workers)


def warm_behind(service: Any, log: Callable[[str], Any] = console.print) -> threading.Thread:
    """Fill ``service``'s suggestion cache (``PricingService.warm_cache``, with its progress
    bar) in a daemon thread while the server answers; returns the started thread. The cache is
    thread-safe and drops results of a state cleared meanwhile, so requests, curation edits and
    model swaps may run alongside."""
    def run() -> None:
        start = time.perf_counter()
        try:
            n = service.warm_cache()
        except Exception as exc:  # noqa: BLE001 - the server keeps answering without the cache
            log(f"[yellow]warming the suggestion cache stopped:[/yellow] {exc}")
            return
        log(f"{n:,} catalog suggestions ready ({time.perf_counter() - start:.0f} s)")

    thread = threading.Thread(target=run, name="warm-suggestions", daemon=True)
    thread.start()
    return thread


def serve_workers(app: Any, host: str, port: int, workers: int) -> None:
    """Run ``app`` (already built: the model is loaded) under gunicorn with ``workers`` uvicorn
    workers forked from this process (``preload_app``)."""
    from gunicorn.app.base import BaseApplication

    threads = int(os.environ.get("PRICING_THREADS") or 1)

    def post_fork(server: Any, worker: Any) -> None:
        import torch

        torch.set_num_threads(threads)

    class Preloaded(BaseApplication):
        def load_config(self) -> None:
            for key, value in {"bind": f"{host}:{port}", "workers": workers,
                               "worker_class": "uvicorn_worker.UvicornWorker",
                               "preload_app": True, "timeout": 120, "graceful_timeout": 30,
                               "keepalive": 5, "loglevel": "warning",
                               "post_fork": post_fork}.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            return app

    Preloaded().run()
