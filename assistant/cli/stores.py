"""Store locations on the command line: every ``--db`` takes a SQLite path or a PostgreSQL URL.

Use (in a command module)::

    from assistant.cli.stores import GRAPH_DB_HELP, existing_store, store_location
    db: str = typer.Option("runs/graph.sqlite", "--db", help=GRAPH_DB_HELP)
    loc = store_location(db)                  # Path (SQLite) or the URL; bad scheme: exit 2
    loc = existing_store(db, console)         # ... and it must hold a graph store

The options are strings, not ``pathlib.Path``: a Path folds ``postgresql://host/db`` into
``postgresql:/host/db``. :func:`graph.db.normalize` reads them (``sqlite:///path`` works too).
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

import typer
from rich.console import Console

GRAPH_DB_HELP = "graph store: a SQLite path or a postgresql:// URL"
SUGGESTIONS_DB_HELP = "suggestion store: a SQLite path or a postgresql:// URL"


def store_location(db: str, option: str = "--db") -> str | Path:
    """``db`` as graph.db reads it: a Path for SQLite, the URL for PostgreSQL."""
    from graph.db import normalize

    try:
        return normalize(db)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from None


def existing_store(db: str, console: Console, *, table: str = "nodes", code: int = 1,
                   option: str = "--db") -> str | Path:
    """The location of an existing graph store (exit ``code`` when there is none there,
    exit 2 when the database cannot be reached)."""
    from graph.db import describe, store_exists

    loc = store_location(db, option)
    try:
        found = store_exists(loc, table=table)
    except sqlite3.Error as exc:  # PostgreSQL errors too (graph.db raises sqlite3's)
        console.print(f"[red]error:[/red] {option} {describe(loc)}: cannot open it ({exc})")
        raise typer.Exit(2) from None
    if not found:
        console.print(f"[red]error:[/red] {describe(loc)}: no graph store; run "
                      f"`pricing ingest` first")
        raise typer.Exit(code)
    return loc
