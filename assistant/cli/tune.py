"""CLI: ``pricing tune-explainer`` — LoRA-tune SmolLM2-135M-Instruct to word explanations.

Use::

    pricing tune-explainer --out runs/explainer                      # the shipped adapter's run
    pricing tune-explainer --out runs/explainer-dev --steps 100 --examples 300 --eval-sheets 5
    PRICING_LLM_ADAPTER=runs/explainer/adapter.gguf pricing serve ...   # use a new adapter

Generates the corpus (assistant.tuning.corpus, seeded), trains a LoRA adapter on CPU with a
progress bar, writes ``adapter.gguf`` (llama.cpp), ``adapter.safetensors`` and
``manifest.json`` (command, seed, corpus hash, losses, held-out figures). The logic lives in
``assistant.tuning.lora``; this module only wires it to the terminal.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("tune-explainer")
    def tune_explainer(
        out: Path = typer.Option(Path("runs/explainer"), help="folder for adapter.gguf and manifest.json"),
        examples: int = typer.Option(1200, min=20, help="corpus rows to generate"),
        steps: int = typer.Option(2000, min=1, help="optimizer steps (the time budget may stop it first)"),
        seed: int = typer.Option(0, help="seeds the corpus, the data order and the weights"),
        threads: int = typer.Option(int(os.environ.get("PRICING_THREADS", "1")), min=1),
        rank: int = typer.Option(8, min=1),
        layers: int = typer.Option(8, min=1, max=30, help="top transformer blocks that get LoRA"),
        lr: float = typer.Option(1e-3, min=0.0),
        max_minutes: float = typer.Option(45.0, min=1.0, help="the whole run's budget"),
        eval_sheets: int = typer.Option(10, min=0, help="held-out sheets measured in llama.cpp"),
    ) -> None:
        """Fine-tune the local LLM on the project's (fact sheet -> explanation) corpus."""
        from assistant.tuning.lora import TuneConfig, tune

        cfg = TuneConfig(examples=examples, steps=steps, seed=seed, threads=threads, rank=rank, layers=layers,
                         lr=lr, max_minutes=max_minutes, eval_sheets=eval_sheets)
        manifest = tune(cfg, out, log=typer.echo)
        typer.echo(json.dumps(manifest.get("held_out", {}), indent=2))
        typer.echo(f"wrote {out / 'adapter.gguf'} and {out / 'manifest.json'}")
