"""The ``pricing`` command line: ``pricing --help`` lists the commands.

Each group of commands lives in its own module (``assistant/cli/*.py``) and is registered
here, so this file stays a table of contents.
"""
from __future__ import annotations

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="LLM- and knowledge-graph-augmented pricing assistant.")


def _register() -> None:
    import importlib

    for name in ("assistant.cli.graph", "assistant.cli.model", "assistant.cli.serve",
                 "assistant.cli.reprice", "assistant.cli.score", "assistant.cli.tune",
                 "assistant.cli.db", "assistant.cli.match", "assistant.cli.learn",
                 "assistant.cli.schedule"):
        importlib.import_module(name).register(app)


_register()

if __name__ == "__main__":
    app()
