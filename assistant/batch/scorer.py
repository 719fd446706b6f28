"""One block of catalog rows -> one Parquet file of suggestions and one of bad rows.

Use::

    scorer = BlockScorer(settings)                 # loads the model, graph and sales once
    rows, bad = scorer.score_frame(frame, "catalog.csv", rows=np.arange(1, len(frame) + 1))
    result = scorer.run_block(block, out)          # read, score, write; never raises

Engines differ only in *where* ``run_block`` runs (this process, or a Ray actor): the same
code on the same block gives the same rows, so a Ray run and a local run agree.

A row is checked as ``pricing ingest`` checks a products table (``graph.loader.validate``:
required fields, numbers, currencies), then priced with the service's vectorised
``suggest_batch``. A row that fails either step becomes a bad row (file, row, product id,
field, reason) and the rest of the block is scored; if the batch call itself fails, the
block is re-priced row by row so that only the guilty rows are lost. A frame without a
``title`` column lists catalog products by id (priced as they are in the graph).
"""
from __future__ import annotations

import resource
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from pydantic import ValidationError

from assistant.batch.plan import Block, errors_path, errors_table, read_block, scores_path, write_atomic
from assistant.batch.settings import ScoreSettings
from assistant.guardrails import GuardrailConflict
from assistant.suggestion import Suggestion
from graph.contracts import Rejection
from graph.loader import validate

_GUARDRAIL = pa.struct([("rule", pa.string()), ("before", pa.float64()), ("after", pa.float64()),
                        ("detail", pa.string())])
_DRIVER = pa.struct([("group", pa.string()), ("effect_pct", pa.float64())])
_LINK = pa.struct([("field", pa.string()), ("value", pa.string()), ("method", pa.string()),
                   ("confidence", pa.float64())])
SCORE_SCHEMA = pa.schema([
    ("product_id", pa.string()), ("source_file", pa.string()), ("source_row", pa.int64()),
    ("title", pa.string()), ("currency", pa.string()),
    ("current_price", pa.float64()), ("recommended_price", pa.float64()),
    ("model_price", pa.float64()),   # the model's p50 before guardrails
    ("interval_low", pa.float64()), ("interval_high", pa.float64()),
    ("interval_coverage", pa.float64()), ("change_pct", pa.float64()),
    ("mode", pa.string()), ("confidence", pa.float64()), ("abstain", pa.bool_()),
    ("abstain_reason", pa.string()),
    ("guardrails", pa.list_(_GUARDRAIL)),          # the rules that moved the price, in order
    ("drivers", pa.list_(_DRIVER)),                # the top feature groups by |effect|
    ("comparable_ids", pa.list_(pa.string())),     # most similar priced catalog products first
    ("comparable_similarity", pa.list_(pa.float64())),
    ("inferred", pa.list_(_LINK)),                 # brand / category inferred for a new product
    ("model_version", pa.string()),
    ("suggestion_json", pa.string()),              # the full Suggestion, with keep_suggestion
])
# ProductIn's fields: what a catalog row may say about a product.
_PRODUCT_FIELDS = ("product_id", "title", "description", "category_path", "brand", "condition",
                   "price", "currency", "cost", "rating", "rating_count")


@dataclass(frozen=True)
class BlockResult:
    """What one block did (engines return these; the run sums them up)."""

    index: int
    rows: int            # rows read (later duplicates excluded)
    scored: int
    bad: int
    seconds: float
    cpu_seconds: float   # CPU time the worker spent on it (all its threads): a per-core rate
    worker: str          # "host:pid" of the process that scored it
    peak_rss_mib: float  # that process's peak resident memory so far
    error: str | None = None  # the block could not be scored at all (it reruns on resume)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _worker() -> str:
    import os
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"


def _plain(v: Any) -> Any:
    if isinstance(v, (list, tuple, np.ndarray)):
        return [str(x) for x in v]
    if v is None or (isinstance(v, float) and v != v) or v is pd.NA:
        return None
    return v.item() if hasattr(v, "item") else v


def describe_error(exc: BaseException) -> tuple[str, str]:
    """(field, reason) for a per-row failure, short enough for a report."""
    if isinstance(exc, ValidationError):
        errs = exc.errors()
        field = ",".join(dict.fromkeys(".".join(map(str, e["loc"])) for e in errs))
        return field, "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errs)
    if isinstance(exc, GuardrailConflict):
        return "policy", f"guardrail conflict: {exc}"
    if isinstance(exc, KeyError):  # UnknownProduct
        return "product_id", (f"product id {exc.args[0]!r} is not in the catalog graph "
                              "(give a title to price it as a new product)")
    if isinstance(exc, ValueError):
        return "", str(exc)
    return "", f"{type(exc).__name__}: {exc}"


class BlockScorer:
    """Prices blocks of catalog rows with one loaded service (one per worker)."""

    def __init__(self, settings: ScoreSettings, service: Any | None = None) -> None:
        self.settings = settings
        self.service = service if service is not None else settings.load_service()
        self.options = settings.options()

    # ------------------------------------------------------------------ scoring
    def score_frame(self, frame: pd.DataFrame, file: str, rows: np.ndarray
                    ) -> tuple[list[dict[str, Any]], list[Rejection]]:
        """Rows of one file -> (output rows in input order, bad rows)."""
        if "title" in frame.columns:
            checked = validate(frame, "products", file=file, rows=rows)
            bad = list(checked.rejections)
            recs = checked.frame.to_dict("records")
            targets: list[Any] = [self._product(r) for r in recs]
            kept_rows = checked.rows
            ids = [t["product_id"] for t in targets]
        else:  # catalog products by id: priced as they are in the graph
            bad, targets, kept_rows = [], [], []
            for pid, row in zip(frame["product_id"].tolist(), rows.tolist()):
                pid = None if _plain(pid) is None else str(pid).strip()
                if not pid:
                    bad.append(Rejection(file, int(row), "product_id", "missing product_id",
                                         None, "products"))
                    continue
                targets.append(pid)
                kept_rows.append(row)
            ids = list(targets)
        out: list[dict[str, Any]] = []
        for pid, row, res in zip(ids, kept_rows, self._suggest(targets)):
            if isinstance(res, BaseException):
                field, reason = describe_error(res)
                bad.append(Rejection(file, int(row), field, reason, pid, "products"))
            else:
                out.append(self._row(res, pid, file, int(row)))
        bad.sort(key=lambda r: r.row)
        return out, bad

    def _product(self, rec: dict[str, Any]) -> dict[str, Any]:
        p = {k: _plain(rec.get(k)) for k in _PRODUCT_FIELDS}
        reviews = rec.get("reviews")
        if isinstance(reviews, (list, tuple, np.ndarray)):
            p["reviews"] = [str(x) for x in reviews if isinstance(x, str) and x.strip()]
        return p

    def _suggest(self, targets: list[Any]) -> list[Suggestion | BaseException]:
        if not targets:
            return []
        svc, opts = self.service, self.options
        try:
            return svc.suggest_batch(targets, opts, store=False)
        except Exception:  # noqa: BLE001 - one bad row must not sink its block: isolate it
            out: list[Suggestion | BaseException] = []
            for t in targets:
                try:
                    out.extend(svc.suggest_batch([t], opts, store=False))
                except Exception as exc:  # noqa: BLE001 - reported as this row's reason
                    out.append(exc)
            return out

    def _row(self, s: Suggestion, pid: str | None, file: str, row: int) -> dict[str, Any]:
        k = self.settings.top_drivers
        comps = s.evidence.comparables
        return {
            "product_id": s.product_id or pid, "source_file": file, "source_row": row,
            "title": s.title, "currency": s.currency, "current_price": s.current_price,
            "recommended_price": s.recommended_price, "model_price": s.model_price,
            "interval_low": s.interval.low, "interval_high": s.interval.high,
            "interval_coverage": s.interval.coverage, "change_pct": s.change_pct,
            "mode": s.mode, "confidence": s.confidence, "abstain": s.abstain,
            "abstain_reason": s.abstain_reason,
            "guardrails": [g.model_dump() for g in s.guardrails],
            "drivers": [d.model_dump() for d in s.evidence.drivers[:k]],
            "comparable_ids": [c.product_id for c in comps],
            "comparable_similarity": [c.similarity for c in comps],
            "inferred": [link.model_dump(include={"field", "value", "method", "confidence"})
                         for link in s.evidence.links],
            "model_version": s.model_version,
            "suggestion_json": s.model_dump_json() if self.settings.keep_suggestion else None,
        }

    # ------------------------------------------------------------------ one block
    def run_block(self, block: Block, out: str | Path) -> BlockResult:
        """Read, score and write one block. Never raises: a block that cannot be read or
        written comes back with ``error`` set and no scores file, so a resume retries it."""
        t, cpu = time.perf_counter(), time.process_time()
        n = scored = nbad = 0
        try:
            frame, rows = read_block(block)
            n = len(frame)
            out_rows, bad = self.score_frame(frame, block.name, rows)
            scored, nbad = len(out_rows), len(bad)
            # errors first: once the scores file exists the block counts as done
            if bad:
                write_atomic(errors_table(bad), errors_path(Path(out), block.index))
            write_atomic(pa.Table.from_pylist(out_rows, schema=SCORE_SCHEMA),
                         scores_path(Path(out), block.index))
            error = None
        except Exception as exc:  # noqa: BLE001 - reported per block; the run goes on
            error = f"{type(exc).__name__}: {exc} [{traceback.format_exc(limit=-2).strip()[-300:]}]"
        return BlockResult(block.index, n, scored, nbad, round(time.perf_counter() - t, 4),
                           round(time.process_time() - cpu, 4), _worker(),
                           round(_peak_rss_mib(), 1), error)
