"""CLI: load catalog data into the knowledge-graph store and inspect it.

Use::

    pricing ingest data/demo                          # -> runs/graph.sqlite, runs/rejections.csv
    pricing ingest products.csv --strict              # exit 1 (and save nothing) on a bad row
    pricing graph stats --db runs/graph.sqlite

``PATH`` is what :func:`graph.adapters.load_path` accepts: a folder of data-set folders, one
data-set folder, or canonical table files. The logic lives in ``graph``; this module only
wires it to the terminal.
"""
from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from graph.contracts import Catalog

DEFAULT_DB = Path("runs/graph.sqlite")
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
    db: Path = typer.Option(DEFAULT_DB, "--db", help="SQLite graph store to write"),
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
    from graph.loader import write_rejections
    from graph.store import GraphStore

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
    with console.status(f"saving to {db} ..."), GraphStore(db) as store:
        store.save(g)
    t3 = time.perf_counter()
    console.print(f"graph: {g.number_of_nodes():,} nodes, {g.number_of_edges():,} edges "
                  f"-> {db}  (load {t_load:.1f}s, build {t2 - t1:.1f}s, save {t3 - t2:.1f}s)")


@graph_app.command("stats")
def stats(db: Path = typer.Option(DEFAULT_DB, "--db", help="SQLite graph store to read")) -> None:
    """Node and edge counts, taxonomy depth, gaps of the stored graph."""
    from graph.stats import graph_stats
    from graph.store import GraphStore

    if not db.is_file():
        console.print(f"[red]error:[/red] {db}: no graph store; run `pricing ingest` first")
        raise typer.Exit(1)
    with console.status(f"loading {db} ..."), GraphStore(db) as store:
        g = store.load()
    rendered = graph_stats(g).render()
    if rendered is not None:
        console.print(rendered)


def register(app: typer.Typer) -> None:
    """Add ``ingest`` and the ``graph`` group to the ``pricing`` app."""
    app.command("ingest")(ingest)
    app.add_typer(graph_app, name="graph")


@graph_app.command("check")
def check(db: Path = typer.Option(DEFAULT_DB, "--db", help="SQLite graph store to read"),
          top: int = typer.Option(10, "--top", min=1, help="items listed per check")) -> None:
    """Suspect data: duplicate-looking brands, price outliers, thin or missing categories."""
    from graph.quality import quality_report
    from graph.store import GraphStore

    if not db.is_file():
        console.print(f"[red]error:[/red] {db}: no graph store; run `pricing ingest` first")
        raise typer.Exit(1)
    with console.status(f"loading {db} ..."), GraphStore(db) as store:
        g = store.load()
    with console.status("checking ..."):
        report = quality_report(g)
    console.print(report.render(top=top))
