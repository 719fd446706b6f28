"""The ``pricing`` command line: ``pricing --help`` lists the commands.

Each group of commands lives in its own module (``assistant/cli_*.py``) and is registered
here, so this file stays a table of contents.
"""
from __future__ import annotations

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="LLM- and knowledge-graph-augmented pricing assistant.")


def _register() -> None:
    import importlib

    for name in ("assistant.cli_graph", "assistant.cli_model", "assistant.cli_serve",
                 "assistant.cli_reprice"):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:  # a command group not written yet
            if exc.name == name:
                continue
            raise
        module.register(app)


_register()

if __name__ == "__main__":
    app()
