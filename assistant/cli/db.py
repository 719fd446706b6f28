"""``pricing db migrate``: copy the SQLite stores into PostgreSQL (or back).

Run::

    pricing db migrate --to postgresql://pricing@db-host/pricing
    pricing db migrate --from runs/graph.sqlite --suggestions-from runs/suggestions.sqlite \
        --to postgresql://pricing@db-host/pricing --suggestions-to postgresql://pricing@db-host/pricing

The graph store keeps node versions, edge ids, the audit trail (ids and revert links) and the
graph version (:func:`graph.migrate.migrate_graph`); the suggestion store keeps every
suggestion and feedback row. Each target must be empty and is written in one transaction.
Stop the servers writing to the source first; afterwards start them with ``--db`` and
``--suggestions-db`` pointing at the target.
"""
from __future__ import annotations

import sqlite3

import typer
from rich.console import Console
from rich.table import Table

console = Console()


def register(app: typer.Typer) -> None:
    group = typer.Typer(no_args_is_help=True, help="Store maintenance: migrate between backends.")
    app.add_typer(group, name="db")

    @group.command("migrate")
    def migrate(
        target: str = typer.Option(..., "--to", help="graph store to create: a postgresql:// "
                                   "URL (or a SQLite path, to copy back)"),
        source: str = typer.Option("runs/graph.sqlite", "--from", help="graph store to copy"),
        suggestions_from: str | None = typer.Option(
            "runs/suggestions.sqlite", help="suggestion store to copy ('none': skip it)"),
        suggestions_to: str | None = typer.Option(
            None, help="where the suggestions go (default: the --to store)"),
    ) -> None:
        """Copy the graph store (with its audit trail) and the suggestion store to another
        backend, all or nothing per store."""
        from assistant.suggestion_store import SuggestionStore
        from graph.db import describe, store_exists
        from graph.migrate import MigrationError, migrate_graph

        t = Table(title="pricing db migrate")
        for col in ("store", "from", "to", "rows"):
            t.add_column(col)
        try:
            with console.status(f"copying the graph store to {describe(target)}"):
                counts = migrate_graph(source, target)
            t.add_row("graph", describe(source), describe(target),
                      ", ".join(f"{k} {v:,}" for k, v in counts.items()))
            src_s = None if (suggestions_from or "").lower() in ("", "none") else suggestions_from
            if src_s is not None:
                if not store_exists(src_s, table="suggestions"):
                    raise MigrationError(f"no suggestion store at {describe(src_s)} "
                                         f"(--suggestions-from none skips it)")
                dst_s = suggestions_to or target
                with console.status(f"copying suggestions to {describe(dst_s)}"):
                    n = SuggestionStore(src_s).copy_into(SuggestionStore(dst_s))
                t.add_row("suggestions", describe(src_s), describe(dst_s),
                          ", ".join(f"{k} {v:,}" for k, v in n.items()))
        except (MigrationError, ValueError, TypeError, OSError, sqlite3.Error) as exc:
            # sqlite3.Error: PostgreSQL errors too (graph.db raises them as sqlite3's)
            console.print(t)
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from None
        console.print(t)
