"""Time the knowledge graph on the full amazon_in_2023 catalog: build, save, load.

Run::

    .venv/bin/python bench/graph_speed.py                       # ../shared/data/amazon_in_2023
    .venv/bin/python bench/graph_speed.py PATH --db /tmp/g.sqlite --out bench/results/x.json

Loads the data set through ``graph.adapters.load_dataset("amazon_in_2023", PATH)`` (not timed
as part of the graph), then times ``build_graph``, ``GraphStore.save`` and ``GraphStore.load``,
checks the loaded graph equals the built one, prints a table and writes the figures to
``bench/results/graph_speed.json``. Targets: build + save < 60 s, load < 20 s.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from graph.adapters import load_dataset  # noqa: E402
from graph.build import build_graph  # noqa: E402
from graph.io import graph_diff  # noqa: E402
from graph.stats import graph_stats  # noqa: E402
from graph.store import GraphStore  # noqa: E402

TARGET_BUILD_SAVE_S = 60.0
TARGET_LOAD_S = 20.0


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("path", nargs="?", default=str(ROOT.parent / "shared/data/amazon_in_2023"),
                    help="amazon_in_2023 folder (default: ../shared/data/amazon_in_2023)")
    ap.add_argument("--db", default=None, help="SQLite file (default: a temporary file)")
    ap.add_argument("--out", default=str(ROOT / "bench/results/graph_speed.json"))
    ap.add_argument("--no-check", action="store_true", help="skip the equality check")
    args = ap.parse_args(argv)
    console = Console(stderr=True)

    def step(msg: str) -> float:
        console.print(f"[bold]>[/bold] {msg} ...")
        return time.perf_counter()

    t = step(f"loading {args.path} via graph.adapters")
    catalog = load_dataset("amazon_in_2023", args.path)
    t_adapter = time.perf_counter() - t
    console.print(f"  {catalog.counts()} in {t_adapter:.1f} s")

    t = step("build_graph")
    g = build_graph(catalog)
    t_build = time.perf_counter() - t
    console.print(f"  {g.number_of_nodes():,} nodes, {g.number_of_edges():,} edges "
                  f"in {t_build:.1f} s")

    tmp = None
    if args.db is None:
        tmp = tempfile.TemporaryDirectory()
        db = Path(tmp.name) / "graph.sqlite"
    else:
        db = Path(args.db)
        db.unlink(missing_ok=True)
    t = step(f"GraphStore.save -> {db}")
    with GraphStore(db) as store:
        store.save(g)
    t_save = time.perf_counter() - t
    size_mb = sum(p.stat().st_size for p in db.parent.glob(db.name + "*")) / 2**20
    console.print(f"  {t_save:.1f} s, {size_mb:.0f} MB on disk")

    t = step("GraphStore.load")
    with GraphStore(db) as store:
        back = store.load()
    t_load = time.perf_counter() - t
    console.print(f"  {t_load:.1f} s")

    equal = None
    if not args.no_check:
        step("checking loaded == built")
        diff = graph_diff(g, back)
        equal = not diff
        for d in diff:
            console.print(f"  [red]{d}[/red]")
    stats = graph_stats(g)
    if tmp is not None:
        tmp.cleanup()

    result = {
        "dataset": "amazon_in_2023", "path": str(args.path),
        "products": len(catalog.products), "rejected": len(catalog.rejections),
        "nodes": g.number_of_nodes(), "edges": g.number_of_edges(),
        "nodes_by_type": stats.nodes, "edges_by_type": stats.edges,
        "adapter_s": round(t_adapter, 2), "build_s": round(t_build, 2),
        "save_s": round(t_save, 2), "build_save_s": round(t_build + t_save, 2),
        "load_s": round(t_load, 2), "db_mb": round(size_mb, 1), "max_rss_mb": round(_rss_mb()),
        "roundtrip_equal": equal,
        "target_build_save_s": TARGET_BUILD_SAVE_S, "target_load_s": TARGET_LOAD_S,
        "meets_targets": (t_build + t_save) < TARGET_BUILD_SAVE_S and t_load < TARGET_LOAD_S,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "platform": platform.platform()},
    }

    table = Table(title="graph speed (amazon_in_2023)")
    table.add_column("step")
    table.add_column("seconds", justify="right")
    table.add_column("target", justify="right")
    table.add_row("adapter (read + validate)", f"{t_adapter:.1f}", "")
    table.add_row("build_graph", f"{t_build:.1f}", "")
    table.add_row("save to SQLite", f"{t_save:.1f}", "")
    table.add_row("build + save", f"{t_build + t_save:.1f}", f"< {TARGET_BUILD_SAVE_S:.0f}")
    table.add_row("load from SQLite", f"{t_load:.1f}", f"< {TARGET_LOAD_S:.0f}")
    Console().print(table)
    Console().print(f"{result['nodes']:,} nodes, {result['edges']:,} edges, "
                    f"{result['db_mb']} MB, max RSS {result['max_rss_mb']} MB, "
                    f"round trip equal: {equal}, targets met: {result['meets_targets']}")

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
