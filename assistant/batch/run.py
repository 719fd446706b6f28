"""``score_catalog``: plan the blocks, skip those already written, run the rest on an engine.

Use::

    summary = score_catalog("catalog.parquet", "runs/scores", settings, RayEngine(actors=2),
                            progress=my_progress)        # start(total, done) / advance(result)
    summary.products_per_s, summary.first_output_s, summary.peak_rss_mib_per_worker
    suggest_with_engine(["B07JW9H4J1", ...], settings, engine, work_dir)   # Suggestion objects

Interrupt a run (Ctrl-C, a lost node) and start it again with the same arguments: blocks
whose output exists are skipped, the others are scored, and the output is the same as an
uninterrupted run's.
"""
from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.parquet as pq

from assistant.batch.engines import Engine
from assistant.batch.plan import (
    SCORES,
    SUMMARY,
    make_plan,
    pending,
    read_bad_rows,
    read_scores,
    scores_path,
)
from assistant.batch.scorer import BlockResult
from assistant.batch.settings import ScoreSettings
from assistant.suggestion import Suggestion


class Progress(Protocol):
    def start(self, total_rows: int, done_rows: int) -> None: ...

    def advance(self, result: BlockResult) -> None: ...


@dataclass
class RunSummary:
    catalog: str
    out: str
    engine: str
    workers: int
    blocks: int
    blocks_resumed: int           # already written by an earlier run: skipped
    blocks_run: int
    rows_run: int                 # rows read by this run's blocks
    scored_total: int             # rows in the output (all runs)
    bad_rows_total: int           # bad rows reported (all runs, plan-time ones included)
    seconds: float                # this run, planning and model loading included
    first_output_s: float | None  # until the first block of this run was written
    products_per_s: float | None  # rows_run / time after planning (model loading included)
    steady_products_per_s: float | None  # rows after the first block / time after it
    cpu_seconds: float            # CPU time the workers spent scoring this run's blocks
    products_per_cpu_s: float | None  # rows_run / cpu_seconds: the per-core rate, whatever
    #                                   else the machine runs (wall rates are not)
    peak_rss_mib_per_worker: dict[str, float] = field(default_factory=dict)
    failed_blocks: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def score_catalog(catalog: str | Path, out: str | Path, settings: ScoreSettings, engine: Engine,
                  *, block_rows: int = 1000, overwrite: bool = False,
                  progress: Progress | None = None) -> RunSummary:
    """Score every product of ``catalog`` into ``out`` (see :mod:`assistant.batch.plan`)."""
    t0 = time.perf_counter()
    plan = make_plan(catalog, out, block_rows, fingerprint=settings.fingerprint(),
                     overwrite=overwrite)
    todo = pending(plan)
    if progress is not None:
        progress.start(plan.n_rows, plan.n_rows - sum(b.n_rows for b in todo))
    results: list[BlockResult] = []
    done_at: list[float] = []  # when each good block came back (seconds since t0)
    t_run = time.perf_counter()

    def on_block(r: BlockResult) -> None:
        results.append(r)
        if r.error is None:
            done_at.append(time.perf_counter() - t0)
        if progress is not None:
            progress.advance(r)

    engine.run(settings, todo, plan.out, on_block)
    run_s = time.perf_counter() - t_run
    rss: dict[str, float] = {}
    for r in results:
        rss[r.worker] = max(rss.get(r.worker, 0.0), r.peak_rss_mib)
    good = [r for r in results if r.error is None]
    rows_run = sum(r.rows for r in good)
    steady = (round(sum(r.rows for r in good[1:]) / (done_at[-1] - done_at[0]), 2)
              if len(done_at) > 1 and done_at[-1] > done_at[0] else None)
    summary = RunSummary(
        catalog=plan.catalog, out=str(plan.out), engine=engine.name, workers=engine.workers,
        blocks=len(plan.blocks), blocks_resumed=len(plan.blocks) - len(todo),
        blocks_run=len(results), rows_run=rows_run,
        scored_total=sum(pq.ParquetFile(p).metadata.num_rows
                         for p in sorted((plan.out / SCORES).glob("part-*.parquet"))),
        bad_rows_total=len(read_bad_rows(plan.out)),
        seconds=round(time.perf_counter() - t0, 3),
        first_output_s=round(done_at[0], 3) if done_at else None,
        products_per_s=round(rows_run / run_s, 2) if rows_run and run_s > 0 else None,
        steady_products_per_s=steady,
        cpu_seconds=round(sum(r.cpu_seconds for r in good), 3),
        products_per_cpu_s=(round(rows_run / sum(r.cpu_seconds for r in good), 2)
                            if rows_run and sum(r.cpu_seconds for r in good) > 0 else None),
        peak_rss_mib_per_worker=rss,
        failed_blocks=[{"index": r.index, "error": r.error} for r in results if r.error])
    (plan.out / SUMMARY).write_text(json.dumps(summary.to_dict(), indent=2), encoding="utf-8")
    return summary


def suggest_with_engine(product_ids: Sequence[str], settings: ScoreSettings, engine: Engine,
                        work_dir: str | Path, *, block_rows: int = 500
                        ) -> list[Suggestion | Exception]:
    """Full suggestions for catalog products (by id) scored on ``engine``, in input order; an
    item that could not be priced is a ValueError with its reason (as ``suggest_batch``)."""
    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    ids_file = work / "ids.parquet"
    pq.write_table(pa.table({"product_id": pa.array([str(i) for i in product_ids], pa.string())}),
                   ids_file, row_group_size=block_rows)
    settings = settings.model_copy(update={"keep_suggestion": True})
    score_catalog(ids_file, work / "out", settings, engine, block_rows=block_rows, overwrite=True)
    found: dict[str, Suggestion | Exception] = {}
    if any((work / "out" / SCORES).glob("part-*.parquet")):
        scores = read_scores(work / "out")
        for pid, body in zip(scores["product_id"], scores["suggestion_json"]):
            found[str(pid)] = Suggestion.model_validate_json(body)
    for _, r in read_bad_rows(work / "out").iterrows():
        found.setdefault(str(r["product_id"]), ValueError(str(r["reason"])))
    return [found.get(str(p), ValueError("not scored: its block failed (see the engine's log)"))
            for p in product_ids]


__all__ = ["score_catalog", "suggest_with_engine", "RunSummary", "Progress", "scores_path"]
