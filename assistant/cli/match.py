"""``pricing match`` and ``pricing matches``: link a competitor's listings to the catalog (#20).

Run::

    pricing matches train --out runs/matcher --pairs ../shared/data/product_matching/abt_buy \
        --db runs/graph.sqlite --synthetic 2000        # benchmarks + labels + catalog pairs
    pricing match listings.csv --competitor Flipkart --db runs/graph.sqlite [--dry-run]
    pricing matches queue --db runs/graph.sqlite       # what waits for a curator
    pricing matches confirm 12 --actor alice           # same product: the offer is linked
    pricing matches reject 13 --actor alice            # not the same: never proposed again
    pricing matches relink 14 B07JW9H4J1 --actor alice
    pricing matches queue --db postgresql://pricing@db-host/pricing   # any store: --db URL

``pricing match`` validates every row (bad rows are listed with row, field and reason, and
written to ``--report``; the good rows still run), links confident matches as competitor
offers through the audited curation path, queues doubtful ones and prints the counts. The
logic lives in :mod:`assistant.matching`; this module wires it to the terminal.
"""
from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from assistant.cli.stores import GRAPH_DB_HELP, existing_store

console = Console()
DEFAULT_DB = "runs/graph.sqlite"
DEFAULT_MATCHER = Path("runs/matcher")
DEFAULT_CACHE = Path("runs/cache")
matches_app = typer.Typer(add_completion=False, no_args_is_help=True,
                          help="Train the matcher and work the review queue.")


def _need_db(db: str) -> str | Path:
    """The graph store's location (a SQLite path or a PostgreSQL URL); exit 2 without one."""
    return existing_store(db, console, code=2)


def match(
    listings: Path = typer.Argument(..., help="competitor listings: CSV, JSON lines or Parquet"),
    competitor: str = typer.Option(..., "--competitor", help="the competitor's name"),
    db: str = typer.Option(DEFAULT_DB, "--db", help=f"{GRAPH_DB_HELP} to link offers in"),
    matcher: Path = typer.Option(DEFAULT_MATCHER, "--matcher", help="trained matcher folder"),
    currency: str | None = typer.Option(None, "--currency",
                                        help="ISO code for rows without a currency"),
    actor: str = typer.Option("matcher", "--actor", help="who the audit trail names"),
    dry_run: bool = typer.Option(False, "--dry-run", help="decide, but write nothing"),
    report: Path = typer.Option(Path("runs/match_rejections.csv"), "--report",
                                help="CSV of rejected rows with their reasons"),
    auto: float | None = typer.Option(None, "--auto-threshold",
                                      help="link automatically at or above (default: the "
                                           "matcher's 98%-precision threshold)"),
    review: float | None = typer.Option(None, "--review-threshold",
                                        help="queue for review at or above"),
    cache_dir: Path = typer.Option(DEFAULT_CACHE, "--cache-dir",
                                   help="embedding cache for the catalog"),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
) -> None:
    """Match a competitor's listings to catalog products; link, queue or drop each."""
    from assistant.matching import MatchService, MatchSettings, read_listings
    from graph.db import describe
    from graph.loader import write_rejections

    loc = _need_db(db)
    if not (matcher / "matcher.json").is_file():
        console.print(f"[red]error:[/red] {matcher}: no trained matcher; run "
                      f"`pricing matches train --out {matcher}` first")
        raise typer.Exit(2)
    try:
        rows, rejected = read_listings(listings, default_currency=currency)
    except (FileNotFoundError, ValueError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    if rejected:
        write_rejections(rejected, report)
        console.print(f"{len(rejected):,} rejected rows with reasons -> {report}")
        for r in rejected[:5]:
            console.print(f"  {r.file} row {r.row} [{r.field}]: {r.reason}", markup=False)
    settings = MatchSettings(auto_threshold=auto, review_threshold=review)
    with console.status("matching ...") as status:
        status.update("loading the matcher and indexing the catalog ...")
        with MatchService(loc, matcher, settings=settings, cache_dir=cache_dir) as svc:
            try:
                res = svc.run(rows, competitor, actor=actor, rejected_rows=rejected,
                              dry_run=dry_run)
            except ValueError as exc:
                console.print(f"[red]error:[/red] {exc}")
                raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(res.to_dict(), indent=2, ensure_ascii=False))
        return
    t = Table(title=f"{competitor}: {res.listings:,} listings"
                    f"{' (dry run: nothing written)' if dry_run else ''}")
    for c in ("linked", "queued", "known", "dropped", "rejected_rows"):
        t.add_column(c, justify="right")
    t.add_row(*(f"{res.counts.get(c, 0):,}" for c in ("linked", "queued", "known", "dropped",
                                                       "rejected_rows")))
    console.print(t)
    console.print(f"time: {res.seconds}  run id: {res.run_id}")
    if res.counts.get("queued"):
        console.print(f"review them: pricing matches queue --db {describe(loc)}")


@matches_app.command("train")
def train(
    out: Path = typer.Option(DEFAULT_MATCHER, "--out", help="folder to write the matcher to"),
    pairs: list[Path] = typer.Option([], "--pairs",
                                     help="labelled pair folder (pairs.csv + two listing "
                                          "files); repeat for several"),
    db: str | None = typer.Option(None, "--db",
                                  help=f"{GRAPH_DB_HELP}: its curator labels train too"),
    synthetic: int = typer.Option(0, "--synthetic", min=0,
                                  help="synthetic pairs from this many catalog products "
                                       "(needs --db)"),
    cache_dir: Path = typer.Option(DEFAULT_CACHE, "--cache-dir"),
) -> None:
    """Train the pair scorer and its thresholds."""
    from assistant.matching import train_matcher

    loc = _need_db(db) if db is not None else None
    if synthetic and loc is None:
        raise typer.BadParameter("--synthetic needs --db (the catalog to draw from)")
    try:
        m = train_matcher(out, pair_folders=pairs, db=loc, synthetic=synthetic,
                          cache_dir=cache_dir, log=console.print)
    except (FileNotFoundError, ValueError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    console.print(f"matcher -> {out}: best-F1 threshold {m.threshold_:.3f}, automatic links "
                  f"from {m.auto_threshold_:.3f}, review from {m.review_threshold_:.3f}")


@matches_app.command("queue")
def queue(db: str = typer.Option(DEFAULT_DB, "--db", help=GRAPH_DB_HELP),
          competitor: str | None = typer.Option(None, "--competitor"),
          limit: int = typer.Option(20, "--limit", min=1),
          as_json: bool = typer.Option(False, "--json")) -> None:
    """Pending proposals, highest score first."""
    from assistant.matching import MatchService

    with MatchService(_need_db(db)) as svc:
        items = svc.queue(competitor, limit=limit)
        counts = svc.matches.counts(competitor)
    if as_json:
        typer.echo(json.dumps({"counts": counts, "items": [p.to_dict() for p in items]},
                              indent=2, ensure_ascii=False))
        return
    t = Table(title=f"review queue ({counts.get('pending', 0):,} pending; {counts})")
    for c in ("id", "competitor", "listing", "product", "score", "why"):
        t.add_column(c)
    for p in items:
        feats = ", ".join(f"{k} {v:+.2f}" for k, v in list(p.features.items())[:3])
        t.add_row(str(p.id), p.competitor, str(p.listing.get("title", ""))[:60], p.product_id,
                  f"{p.score:.3f}", feats)
    console.print(t)


def _decide(kind: str, proposal: int, db: str, actor: str, reason: str | None,
            product: str | None = None) -> None:
    from assistant.matching import MatchService
    from graph.curation import CurationError

    with MatchService(_need_db(db)) as svc:
        try:
            if kind == "confirm":
                p = svc.confirm(proposal, actor=actor, reason=reason)
            elif kind == "reject":
                p = svc.reject(proposal, actor=actor, reason=reason)
            else:
                p = svc.relink(proposal, product or "", actor=actor, reason=reason)
        except KeyError as exc:
            console.print(f"[red]error:[/red] {exc.args[0]}")
            raise typer.Exit(2) from None
        except CurationError as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from None
    console.print(f"proposal #{p.id}: {p.competitor} listing -> {p.product_id} is {p.status}"
                  f"{f' (audit #{p.audit_id})' if p.audit_id else ''}")


@matches_app.command("confirm")
def confirm(proposal: int = typer.Argument(..., help="proposal id (see `queue`)"),
            db: str = typer.Option(DEFAULT_DB, "--db", help=GRAPH_DB_HELP),
            actor: str = typer.Option(..., "--actor", help="your name (audit trail)"),
            reason: str | None = typer.Option(None, "--reason")) -> None:
    """Same product: link the offer and keep the pair as a training label."""
    _decide("confirm", proposal, db, actor, reason)


@matches_app.command("reject")
def reject(proposal: int = typer.Argument(...),
           db: str = typer.Option(DEFAULT_DB, "--db", help=GRAPH_DB_HELP),
           actor: str = typer.Option(..., "--actor"),
           reason: str | None = typer.Option(None, "--reason")) -> None:
    """Not the same product: never proposed again (an existing link is removed)."""
    _decide("reject", proposal, db, actor, reason)


@matches_app.command("relink")
def relink(proposal: int = typer.Argument(...),
           product: str = typer.Argument(..., help="the catalog product id it really is"),
           db: str = typer.Option(DEFAULT_DB, "--db", help=GRAPH_DB_HELP),
           actor: str = typer.Option(..., "--actor"),
           reason: str | None = typer.Option(None, "--reason")) -> None:
    """The listing is another catalog product: link that one instead."""
    _decide("relink", proposal, db, actor, reason, product)


def register(app: typer.Typer) -> None:
    """Add ``match`` and the ``matches`` group to the ``pricing`` app."""
    app.command("match")(match)
    app.add_typer(matches_app, name="matches")
