"""CLI: load catalog data into the knowledge-graph store and inspect it.

Use::

    pricing ingest data/demo                          # -> runs/graph.sqlite, runs/rejections.csv
    pricing ingest products.csv --strict              # exit 1 (and save nothing) on a bad row
    pricing graph stats --db runs/graph.sqlite
    pricing ingest data/demo --db postgresql://pricing@db-host/pricing   # or PostgreSQL
    pricing graph export --format graphml --out graph.graphml     # for Gephi, graph databases
    pricing graph import graph.graphml --dry-run                  # the diff; then without

``PATH`` is what :func:`graph.adapters.load_path` accepts: a folder of data-set folders, one
data-set folder, or canonical table files. The logic lives in ``graph``; this module only
wires it to the terminal.
"""
from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table

from assistant.cli.stores import GRAPH_DB_HELP, existing_store, store_location
from graph.contracts import Catalog

if TYPE_CHECKING:
    from graph.curation import CurationResult

DEFAULT_DB = "runs/graph.sqlite"
DEFAULT_REPORT = Path("runs/rejections.csv")
TABLES = ("products", "reviews", "offers", "sales")

console = Console()
graph_app = typer.Typer(add_completion=False, no_args_is_help=True,
                        help="Inspect the knowledge graph in the store.")


def _counts_table(catalog: Catalog) -> Table:
    from graph.loader import rejection_counts

    rejected = rejection_counts(catalog.rejections)
    t = Table(title="Ingested", header_style="bold")
    t.add_column("table")
    t.add_column("accepted", justify="right")
    t.add_column("rejected", justify="right")
    for kind in TABLES:
        bad = rejected.get(kind, 0)
        t.add_row(kind, f"{len(getattr(catalog, kind)):,}",
                  f"[red]{bad:,}[/red]" if bad else "0")
    if rejected.get("other"):
        t.add_row("other", "", f"[red]{rejected['other']:,}[/red]")
    return t


def ingest(
    path: Path = typer.Argument(..., help="data folder, data-set folder or table file"),
    db: str = typer.Option(DEFAULT_DB, "--db", help=f"{GRAPH_DB_HELP} (written)"),
    report: Path = typer.Option(DEFAULT_REPORT, "--report",
                                help="CSV of rejected rows with their reasons"),
    strict: bool = typer.Option(False, "--strict",
                                help="exit 1 and save nothing if any row is rejected"),
    currency: str | None = typer.Option(None, "--currency",
                                        help="ISO code for empty currency cells of "
                                             "canonical tables"),
) -> None:
    """Validate catalog data, build the knowledge graph and save it."""
    from graph.adapters import load_path
    from graph.build import build_graph
    from graph.db import describe
    from graph.loader import write_rejections
    from graph.store import GraphStore

    loc = store_location(db)
    t0 = time.perf_counter()
    with console.status("loading ...") as status:
        try:
            catalog = load_path(path, default_currency=currency,
                                on_step=lambda msg: status.update(f"{msg} ..."))
        except (FileNotFoundError, ValueError) as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from None
    t_load = time.perf_counter() - t0
    console.print(_counts_table(catalog))
    write_rejections(catalog.rejections, report)
    n_bad = len(catalog.rejections)
    if n_bad:
        console.print(f"{n_bad:,} rejected rows with reasons -> {report}")
        for r in catalog.rejections[:3]:
            console.print(f"  {r.file} row {r.row} [{r.field}]: {r.reason}", markup=False)
    else:
        console.print(f"no rejected rows (empty report -> {report})")
    if strict and n_bad:
        console.print("[red]--strict: rows were rejected; graph not saved[/red]")
        raise typer.Exit(1)

    t1 = time.perf_counter()
    with console.status("building the knowledge graph ..."):
        try:
            g = build_graph(catalog)
        except ValueError as exc:  # graph.build.BuildError names table, row and field
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(1) from None
    t2 = time.perf_counter()
    try:
        with console.status(f"saving to {describe(loc)} ..."), GraphStore(loc) as store:
            store.save(g)
    except sqlite3.Error as exc:  # PostgreSQL errors too (graph.db raises sqlite3's)
        console.print(f"[red]error:[/red] --db {describe(loc)}: {exc}")
        raise typer.Exit(2) from None
    t3 = time.perf_counter()
    console.print(f"graph: {g.number_of_nodes():,} nodes, {g.number_of_edges():,} edges "
                  f"-> {describe(loc)}  (load {t_load:.1f}s, build {t2 - t1:.1f}s, save {t3 - t2:.1f}s)")


@graph_app.command("stats")
def stats(db: str = typer.Option(DEFAULT_DB, "--db", help=GRAPH_DB_HELP)) -> None:
    """Node and edge counts, taxonomy depth, gaps of the stored graph."""
    from graph.stats import graph_stats

    g = _load(db)
    rendered = graph_stats(g).render()
    if rendered is not None:
        console.print(rendered)


def _load(db: str) -> Any:
    """The graph stored at ``db`` (exit 1 when there is none, 2 when it cannot be read)."""
    from graph.db import describe
    from graph.store import GraphStore

    loc = existing_store(db, console)
    try:
        with console.status(f"loading {describe(loc)} ..."), GraphStore(loc) as store:
            return store.load()
    except sqlite3.Error as exc:
        console.print(f"[red]error:[/red] --db {describe(loc)}: {exc}")
        raise typer.Exit(2) from None


def register(app: typer.Typer) -> None:
    """Add ``ingest`` and the ``graph`` group to the ``pricing`` app."""
    app.command("ingest")(ingest)
    app.add_typer(graph_app, name="graph")


@graph_app.command("check")
def check(db: str = typer.Option(DEFAULT_DB, "--db", help=GRAPH_DB_HELP),
          top: int = typer.Option(10, "--top", min=1, help="items listed per check")) -> None:
    """Suspect data: duplicate-looking brands, price outliers, thin or missing categories."""
    from graph.quality import quality_report

    g = _load(db)
    with console.status("checking ..."):
        report = quality_report(g)
    console.print(report.render(top=top))


@graph_app.command("export")
def export(out: Path = typer.Option(..., "--out", help="file to write (.graphml, .json, "
                                    "optionally .gz)"),
           fmt: str | None = typer.Option(None, "--format", help="graphml or json (default: "
                                          "from the --out name)"),
           db: str = typer.Option(DEFAULT_DB, "--db", help=GRAPH_DB_HELP)) -> None:
    """Write the stored graph for Gephi or a graph database (GraphML or node-link JSON)."""
    from graph.exchange import export_graph, format_of

    try:
        fmt = format_of(out, fmt)
    except ValueError as exc:
        console.print(f"[red]error:[/red] {exc}", markup=False)
        raise typer.Exit(2) from None
    g = _load(db)
    with console.status(f"writing {out} ..."):
        export_graph(g, out, fmt)
    console.print(f"{g.number_of_nodes():,} nodes, {g.number_of_edges():,} edges -> {out} "
                  f"({fmt})")


def _diff_table(r: CurationResult, show: int) -> Table:
    t = Table(title="Changes" + (" (dry run: nothing stored)" if r.dry_run else ""),
              header_style="bold")
    t.add_column("kind")
    t.add_column("action")
    t.add_column("count", justify="right")
    t.add_column(f"first {show}")
    groups: dict[tuple[str, str], list[str]] = {}
    for n in r.nodes:
        groups.setdefault(("nodes", "updated" if n.action == "stamped" else n.action),
                          []).append(n.id)
    for e in r.edges:
        groups.setdefault(("edges", e.action), []).append(f"{e.src} -> {e.dst} ({e.key})")
    for (kind, action), items in sorted(groups.items()):
        t.add_row(kind, action, f"{len(items):,}", "\n".join(items[:show]))
    return t


@graph_app.command("import")
def import_(file: Path = typer.Argument(..., help="a GraphML or node-link JSON file (as "
                                        "`pricing graph export` writes)"),
            db: str = typer.Option(DEFAULT_DB, "--db", help=GRAPH_DB_HELP + " (to update; "
                                   "a new one is created)"),
            fmt: str | None = typer.Option(None, "--format", help="graphml or json (default: "
                                           "from the file name)"),
            dry_run: bool = typer.Option(False, "--dry-run", help="show the diff, store nothing"),
            actor: str = typer.Option("cli", "--actor", help="who the audit trail names"),
            reason: str | None = typer.Option(None, "--reason", help="why (kept in the audit)"),
            show: int = typer.Option(10, "--show", min=0, help="ids listed per kind/action")) -> None:
    """Make the stored graph the file's, through curation: validated whole, one audit entry
    (revert it with `POST /v1/graph/audit/ID/revert` or the Curate tab). Exit 2: the file is
    unreadable; 1: the graph breaks a rule (every problem listed, nothing stored)."""
    from graph.curation import CurationError, Curator
    from graph.db import describe
    from graph.exchange import GraphFileError, read_graph_file

    if not file.is_file():
        console.print(f"[red]error:[/red] {file}: no such file", markup=False)
        raise typer.Exit(2)
    try:
        with console.status(f"reading {file} ..."):
            g = read_graph_file(file, fmt)
    except (GraphFileError, ValueError) as exc:
        console.print(f"[red]error:[/red] {exc}", markup=False)
        raise typer.Exit(2) from None
    try:
        with console.status("importing ..."), Curator(store_location(db), actor=actor) as cur:
            r = cur.import_graph(g, source=file.name, dry_run=dry_run, reason=reason)
    except sqlite3.Error as exc:  # PostgreSQL errors too (graph.db raises sqlite3's)
        console.print(f"[red]error:[/red] --db {db}: {exc}", markup=False)
        raise typer.Exit(2) from None
    except CurationError as exc:
        if not exc.errors:
            console.print(f"[red]refused:[/red] {exc}", markup=False)
            raise typer.Exit(1) from None
        console.print(f"[red]refused:[/red] {len(exc.errors)} problem(s) in {file}, nothing "
                      f"stored", markup=False)
        t = Table(header_style="bold")
        for col in ("node", "field", "reason"):
            t.add_column(col)
        for p in exc.errors:
            t.add_row(p.edge or p.node or "", p.field, p.reason)  # type: ignore[attr-defined]
        console.print(t)
        raise typer.Exit(1) from None
    console.print(_diff_table(r, show))
    if r.dry_run:
        console.print(f"diff against graph version {r.params['base_version']}; run without "
                      f"--dry-run to apply it")
    elif r.audit_id is None:
        console.print("the store already holds this graph: nothing changed")
    else:
        console.print(f"imported {file} -> {describe(store_location(db))}: audit entry "
                      f"#{r.audit_id}")
