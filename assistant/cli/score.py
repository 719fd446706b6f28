"""``pricing score``: price every product of a catalog, written as Parquet (issue #16).

Run::

    pricing score catalog.parquet --policy policy.json --out runs/scores
    pricing score data/demo --policy policy.json --out runs/scores --engine ray --actors 2
    pricing score s3-mounted/catalog/ --policy policy.json --out /shared/scores \
        --engine ray --address ray://head:10001 --actors 64

Per product: the suggestion with interval, the guardrails applied (``--policy``: a JSON
file with the API's policy fields, e.g. ``{"min_margin": 0.1, "max_change": 0.15}``), the
top drivers and the top comparables' ids (``OUT/scores/*.parquet``). Bad rows are listed per
row (file, row, reason) in ``OUT/errors/*.parquet`` and never stop the run. Interrupted? Run
the same command again: blocks already written are skipped. See ``assistant.batch``.
"""
from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

console = Console(stderr=True)


class _RichProgress:
    """Rows scored against the catalog's rows, a bar per run (rich)."""

    def __init__(self, enabled: bool) -> None:
        self.bar = Progress(TextColumn("[bold]scoring"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[rate]}"), TimeRemainingColumn(),
                            console=console, disable=not enabled)
        self.task = None
        self.bad = 0

    def start(self, total_rows: int, done_rows: int) -> None:
        self.bar.start()
        self.task = self.bar.add_task("score", total=total_rows, completed=done_rows, rate="")
        if done_rows:
            console.print(f"resuming: {done_rows:,} of {total_rows:,} rows already scored")

    def advance(self, r) -> None:
        self.bad += r.bad
        if r.error:
            console.print(f"[red]block {r.index} failed[/red] (rerun to retry it): {r.error}")
        self.bar.update(self.task, advance=r.rows if not r.error else 0,
                        rate=f"{r.rows / max(r.seconds, 1e-9):,.0f} rows/s/worker, {self.bad:,} bad")

    def stop(self) -> None:
        self.bar.stop()


def register(app: typer.Typer) -> None:
    @app.command("score")
    def score_cmd(
        catalog: Path = typer.Argument(..., help="products table (Parquet file or folder, CSV, "
                                       "JSONL) or a data folder as `pricing ingest` reads it"),
        policy_file: Path = typer.Option(..., "--policy", help="JSON guardrail policy "
                                         "(the API's policy fields; {} for none)"),
        out: Path = typer.Option(..., "--out", help="output folder (scores/, errors/, summary)"),
        engine: str = typer.Option("local", "--engine", help="local (this process) or ray"),
        address: str | None = typer.Option(
            None, "--address", help="Ray cluster to join (auto, HOST:6379 or ray://HOST:10001); "
                                    "default: a local Ray instance for this run"),
        actors: int = typer.Option(2, "--actors", min=1, help="Ray actors (each loads the model once)"),
        artifact: Path | None = typer.Option(
            None, "--artifact", help="trained model folder (default: PRICING_ARTIFACT, else runs/model)"),
        db: str | None = typer.Option(
            None, "--db", help="graph store, a SQLite path or a postgresql:// URL (default: "
                               "PRICING_GRAPH_DB, else runs/graph.sqlite; "
                               "when missing: the model's graph snapshot)"),
        sales: str | None = typer.Option(
            None, "--sales", help="catalog with a sales table for demand-aware mode "
                                  "(default: PRICING_SALES; 'none' = market mode)"),
        block_rows: int = typer.Option(1000, "--block-rows", min=1, help="rows per block"),
        k_comparables: int = typer.Option(5, "--k-comparables", min=0, max=50),
        top_drivers: int = typer.Option(3, "--top-drivers", min=0, max=6),
        overwrite: bool = typer.Option(False, "--overwrite", help="discard an earlier run in OUT"),
        quiet: bool = typer.Option(False, "--quiet", help="no progress bar"),
        as_json: bool = typer.Option(False, "--json", help="print the run summary as JSON"),
    ) -> None:
        """Score every product of CATALOG (suggestion, interval, guardrails, drivers, comparables)."""
        from assistant.batch import LocalEngine, RayEngine, ScoreSettings, read_bad_rows, score_catalog
        from assistant.batch.plan import PlanError
        from assistant.batch.settings import PolicyFileError, policy_from_file
        from assistant.settings import Settings
        from graph.db import store_exists

        flags = {"artifact": artifact, "graph_db": db, "sales": sales}
        edge = Settings(**{k: v for k, v in flags.items() if v is not None})
        artifact = edge.artifact
        if engine not in ("local", "ray"):
            raise typer.BadParameter("use local or ray", param_hint="--engine")
        if address and engine != "ray":
            raise typer.BadParameter("--address needs --engine ray", param_hint="--address")
        if not (artifact / "metadata.json").exists():
            console.print(f"[red]error:[/red] no trained model at {artifact} (run `pricing train`)")
            raise typer.Exit(2)
        try:
            policy = policy_from_file(policy_file)
        except PolicyFileError as exc:
            console.print(f"[red]error:[/red] --policy {exc}")
            raise typer.Exit(2) from None
        graph_db = (edge.graph_db if edge.graph_db is not None and store_exists(edge.graph_db)
                    else None)
        settings = ScoreSettings(artifact=str(artifact), graph_db=graph_db and str(graph_db),
                                 sales=edge.sales and str(edge.sales), policy=policy,
                                 k_comparables=k_comparables, top_drivers=top_drivers,
                                 threads=edge.threads or 1)
        eng = LocalEngine() if engine == "local" else RayEngine(actors=actors, address=address)
        progress = _RichProgress(enabled=not quiet)
        try:
            summary = score_catalog(catalog, out, settings, eng, block_rows=block_rows,
                                    overwrite=overwrite, progress=progress)
        except PlanError as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            console.print("[yellow]interrupted[/yellow]: run the same command again to resume")
            raise typer.Exit(130) from None
        finally:
            progress.stop()
        if as_json:
            typer.echo(json.dumps(summary.to_dict(), indent=2))
        else:
            _report(summary, read_bad_rows(out))
        if summary.failed_blocks:
            raise typer.Exit(1)


def _report(summary, bad) -> None:
    t = Table(title=f"pricing score -> {summary.out}", show_header=False)
    rate = f"{summary.products_per_s:,.1f} products/s" if summary.products_per_s else "-"
    rss = ", ".join(f"{v:,.0f}" for v in summary.peak_rss_mib_per_worker.values()) or "-"
    for k, v in [("engine", f"{summary.engine} ({summary.workers} worker(s))"),
                 ("blocks", f"{summary.blocks_run} run, {summary.blocks_resumed} resumed, "
                            f"{len(summary.failed_blocks)} failed"),
                 ("scored products (all runs)", f"{summary.scored_total:,}"),
                 ("bad rows (all runs)", f"{summary.bad_rows_total:,}"),
                 ("this run", f"{summary.seconds:,.1f} s, {rate}, first output after "
                              f"{summary.first_output_s or 0:,.1f} s"),
                 ("peak memory per worker (MiB)", rss)]:
        t.add_row(k, v)
    console.print(t)
    if len(bad):
        b = Table(title=f"bad rows (first 10 of {len(bad):,}; all in {summary.out}/errors/)")
        for c in ("file", "row", "product_id", "reason"):
            b.add_column(c)
        for _, r in bad.head(10).iterrows():
            b.add_row(str(r["file"]), str(r["row"]), str(r["product_id"] or ""), str(r["reason"]))
        console.print(b)
