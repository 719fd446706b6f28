"""The catalog cut into blocks, and the output folder a run writes and resumes from.

Use::

    plan = make_plan("catalog.parquet", "runs/scores", block_rows=1000)
    plan.blocks            # Block(index, path, name, start, stop, skip): rows of one file
    pending(plan)          # blocks whose output is not written yet (a resumed run skips the rest)
    read_block(block)      # (frame, 1-based rows of the named file)
    read_scores("runs/scores"), read_bad_rows("runs/scores")

What CATALOG may be:

- a Parquet file, or a folder of Parquet files (``part-*.parquet``, as Spark or Ray write
  them): read where they lie, block by block (cut at row-group boundaries, so write big
  catalogs with row groups of about the block size);
- a CSV / JSON lines file: read once and staged as Parquet under ``OUT/input/``;
- a data-set folder or a folder of canonical tables (what ``pricing ingest`` reads): loaded
  with ``graph.adapters.load_path`` (rows it rejects are reported with their own file and
  row; reviews become each product's ``reviews``) and staged; ``source_row`` is then the
  product's row in the loaded catalog.

Output folder::

    OUT/manifest.json          inputs, settings and blocks of the run (a resume must match)
    OUT/scores/part-NNNNNN.parquet   one per block, written atomically (temp file + rename):
                               a block is done exactly when its file exists
    OUT/errors/part-NNNNNN.parquet   bad rows of that block (file, row, field, reason)
    OUT/errors/plan.parquet    bad rows found before scoring (duplicate ids, load rejections)
    OUT/summary.json           counts and speed of the last run

A product id seen twice is scored once (the first row); each later row is a bad row naming
the first one, even when the two rows sit in different blocks or files.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from assistant.batch.settings import path_fingerprint
from graph.contracts import Rejection

MANIFEST, SCORES, ERRORS, INPUT, SUMMARY = "manifest.json", "scores", "errors", "input", "summary.json"
PLAN_ERRORS = "plan.parquet"
_PARQUET = (".parquet", ".pq")
_STAGED_ROW_GROUP = 1000

ERROR_SCHEMA = pa.schema([("file", pa.string()), ("row", pa.int64()), ("product_id", pa.string()),
                          ("field", pa.string()), ("reason", pa.string())])


class PlanError(ValueError):
    """The catalog or the output folder cannot be used as given (the message says why)."""


@dataclass(frozen=True)
class Block:
    """Rows ``start``..``stop`` (0-based, stop excluded) of one Parquet file."""

    index: int
    path: str          # the Parquet file read
    name: str          # the file named in reports (the original, not a staged copy)
    start: int
    stop: int
    row_group: int     # the row group holding these rows
    group_start: int   # first row of that row group in the file
    skip: tuple[int, ...] = ()  # rows (0-based) left out: later duplicates, reported by the plan

    @property
    def n_rows(self) -> int:
        return self.stop - self.start

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "skip": list(self.skip)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Block:
        d = dict(d)
        d["skip"] = tuple(int(x) for x in (d.get("skip") if d.get("skip") is not None else ()))
        return cls(**{k: (int(v) if k in ("index", "start", "stop", "row_group", "group_start")
                          else v) for k, v in d.items()})


@dataclass
class Plan:
    catalog: str
    out: Path
    block_rows: int
    blocks: list[Block]
    bad_rows: list[Rejection] = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)

    @property
    def n_rows(self) -> int:
        return sum(b.n_rows for b in self.blocks)


# --------------------------------------------------------------------------- output files

def scores_path(out: Path, index: int) -> Path:
    return Path(out) / SCORES / f"part-{index:06d}.parquet"


def errors_path(out: Path, index: int) -> Path:
    return Path(out) / ERRORS / f"part-{index:06d}.parquet"


def write_atomic(table: pa.Table, path: Path, **kwargs: Any) -> None:
    """Write a Parquet file under a temporary name and rename it: a reader (or a resume)
    sees the whole file or none of it, even when the writer is killed half-way."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    pq.write_table(table, tmp, **kwargs)
    os.replace(tmp, path)


def errors_table(bad: Iterable[Rejection]) -> pa.Table:
    rows = [{"file": r.file, "row": r.row, "product_id": r.product_id, "field": r.field,
             "reason": r.reason} for r in bad]
    return pa.Table.from_pylist(rows, schema=ERROR_SCHEMA)


def pending(plan: Plan) -> list[Block]:
    """Blocks whose scores file is not there yet."""
    return [b for b in plan.blocks if not scores_path(plan.out, b.index).exists()]


def _parts(folder: Path) -> list[Path]:
    return sorted(folder.glob("part-*.parquet")) if folder.is_dir() else []


def read_scores(out: str | Path) -> pd.DataFrame:
    """Every scored row of a run, in catalog order (block by block)."""
    parts = _parts(Path(out) / SCORES)
    if not parts:
        raise FileNotFoundError(f"{out}: no scores written (run `pricing score` first)")
    return pa.concat_tables([pq.read_table(p) for p in parts]).to_pandas()


def read_bad_rows(out: str | Path) -> pd.DataFrame:
    """Every bad row of a run (plan-time ones first), with file, row, product_id, field, reason."""
    folder = Path(out) / ERRORS
    files = ([folder / PLAN_ERRORS] if (folder / PLAN_ERRORS).exists() else []) + _parts(folder)
    if not files:
        return ERROR_SCHEMA.empty_table().to_pandas()
    return pa.concat_tables([pq.read_table(p) for p in files]).to_pandas()


# --------------------------------------------------------------------------- the plan

def make_plan(catalog: str | Path, out: str | Path, block_rows: int = 1000, *,
              fingerprint: dict[str, Any] | None = None, overwrite: bool = False) -> Plan:
    """Cut ``catalog`` into blocks and prepare ``out``.

    ``fingerprint``: what else decides the output (the settings). When ``out`` already holds a
    run, it is resumed if its catalog, block size and fingerprint match; otherwise a
    PlanError says what differs, unless ``overwrite`` clears the old outputs first.
    """
    if block_rows < 1:
        raise PlanError(f"block_rows must be at least 1, got {block_rows}")
    src, out = Path(catalog).absolute(), Path(out).absolute()
    if not src.exists():
        raise PlanError(f"{catalog}: no such file or folder")
    manifest = {"version": 1, "catalog": str(src), "catalog_files": path_fingerprint(src),
                "block_rows": block_rows, "settings": fingerprint or {}}
    _prepare_out(out, manifest, overwrite)
    sources, bad = _sources(src, out)
    blocks, dup_bad = _blocks(sources, block_rows)
    bad += dup_bad
    write_atomic(errors_table(bad), out / ERRORS / PLAN_ERRORS)
    manifest["blocks"] = len(blocks)
    manifest["rows"] = sum(b.n_rows for b in blocks)
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    for tmp in list((out / SCORES).glob(".*.tmp-*")) + list((out / ERRORS).glob(".*.tmp-*")):
        tmp.unlink(missing_ok=True)  # left by a writer killed mid-file: that block reruns
    return Plan(str(src), out, block_rows, blocks, bad,
                [{"name": n, "path": str(p), "rows": r} for n, p, r, _ in sources])


def _prepare_out(out: Path, manifest: dict[str, Any], overwrite: bool) -> None:
    old_file = out / MANIFEST
    if old_file.exists() and not overwrite:
        old = json.loads(old_file.read_text(encoding="utf-8"))
        for key in ("catalog", "catalog_files", "block_rows", "settings"):
            if old.get(key) != manifest[key]:
                what = _first_difference(old.get(key), manifest[key])
                raise PlanError(f"{out} holds a run with a different {key}{what}: resume needs "
                                "the same inputs; use --overwrite to start again or another --out")
    elif overwrite:
        for folder in (SCORES, ERRORS, INPUT):
            for f in (out / folder).glob("*") if (out / folder).is_dir() else ():
                if f.is_file():
                    f.unlink()
        for f in (old_file, out / SUMMARY):
            f.unlink(missing_ok=True)
    elif out.exists() and any(f.is_file() for f in out.rglob("*")):
        raise PlanError(f"{out} is not empty and holds no batch run: choose an empty --out")
    for folder in (SCORES, ERRORS):
        (out / folder).mkdir(parents=True, exist_ok=True)


def _first_difference(a: Any, b: Any) -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if a.get(k) != b.get(k):
                return f" ({k}: {a.get(k)!r} then, {b.get(k)!r} now)"[:300]
    return ""


# One source: (name in reports, Parquet path, rows, explicit 1-based rows or None).
_Source = tuple[str, Path, int, bool]


def _sources(src: Path, out: Path) -> tuple[list[_Source], list[Rejection]]:
    if src.is_file() and src.name.lower().endswith(_PARQUET):
        return [(src.name, src, pq.ParquetFile(src).metadata.num_rows, False)], []
    if src.is_dir():
        # markers such as Spark's _SUCCESS and hidden files are not tables
        files = sorted(f for f in src.rglob("*") if f.is_file() and not f.name.startswith((".", "_")))
        if files and all(f.name.lower().endswith(_PARQUET) for f in files):
            return [(str(f.relative_to(src)), f, pq.ParquetFile(f).metadata.num_rows, False)
                    for f in files], []
    staged = out / INPUT / "products.parquet"
    rows_file = out / INPUT / "rows.json"
    if staged.exists() and rows_file.exists():  # a resumed run: staged by the first one
        info = json.loads(rows_file.read_text(encoding="utf-8"))
        bad = [Rejection(**r) for r in info["bad"]]
        return [(info["name"], staged, info["rows"], info["row_column"])], bad
    if src.is_file():
        from graph.loader import read_table

        try:
            frame, bad, name, row_column = read_table(src), [], src.name, False
        except ValueError as exc:
            raise PlanError(str(exc)) from None
    else:
        frame, bad, name = _load_folder(src)
        row_column = True
    frame = _arrow_friendly(frame)
    staged.parent.mkdir(parents=True, exist_ok=True)
    # small row groups: a block reads one row group
    write_atomic(pa.Table.from_pandas(frame, preserve_index=False), staged,
                 row_group_size=_STAGED_ROW_GROUP)
    rows_file.write_text(json.dumps({"name": name, "rows": len(frame), "row_column": row_column,
                                     "bad": [r.__dict__ for r in bad]}), encoding="utf-8")
    return [(name, staged, len(frame), row_column)], bad


def _load_folder(src: Path) -> tuple[pd.DataFrame, list[Rejection], str]:
    """A data-set folder or canonical tables -> validated products (+ reviews as lists)."""
    from graph.adapters import load_path

    try:
        cat = load_path(src)
    except (ValueError, FileNotFoundError) as exc:
        raise PlanError(str(exc)) from None
    products = cat.products.reset_index(drop=True).copy()
    if len(cat.reviews):
        texts = cat.reviews.dropna(subset=["text"]).groupby("product_id")["text"].agg(list)
        products["reviews"] = [list(texts.get(p, []))[:500] for p in products["product_id"]]
    products["_source_row"] = np.arange(1, len(products) + 1)
    return products, list(cat.rejections), src.name


def _arrow_friendly(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns mixing numbers and text (JSON free attributes) become text: Parquet columns
    have one type. Lists (reviews) stay lists."""
    def plain(v: Any) -> bool:  # a scalar that is present
        return not isinstance(v, (list, tuple, dict, np.ndarray)) and not pd.isna(v)

    out = frame.copy()
    for c in out.columns:
        if out[c].dtype != object:
            continue
        kinds = {type(v) for v in out[c] if plain(v)}
        if kinds - {str}:
            out[c] = out[c].map(lambda v: str(v) if plain(v) else v)
    return out


def _blocks(sources: Sequence[_Source], block_rows: int) -> tuple[list[Block], list[Rejection]]:
    blocks: list[Block] = []
    dup_skip, bad = _duplicates(sources)
    for name, path, _, _ in sources:
        md = pq.ParquetFile(path).metadata
        at = 0
        for g in range(md.num_row_groups):
            n = md.row_group(g).num_rows
            for s in range(0, n, block_rows):
                a, b = at + s, at + min(n, s + block_rows)
                skip = tuple(r for r in dup_skip.get(str(path), ()) if a <= r < b)
                blocks.append(Block(len(blocks), str(path), name, a, b, g, at, skip))
            at += n
    return blocks, bad


def _duplicates(sources: Sequence[_Source]) -> tuple[dict[str, list[int]], list[Rejection]]:
    """Later rows of a product id already seen (in any file): skipped and reported."""
    frames = []
    for k, (name, path, _, row_column) in enumerate(sources):
        cols = ["product_id", "_source_row"] if row_column else ["product_id"]
        if "product_id" not in pq.ParquetFile(path).schema_arrow.names:
            raise PlanError(f"{name}: no product_id column (required: every scored row names "
                            "its product)")
        t = pq.read_table(path, columns=cols).to_pandas()
        t["_file"], t["_pos"] = k, np.arange(len(t))
        t["_row"] = t["_source_row"] if row_column else t["_pos"] + 1
        frames.append(t)
    if not frames:
        return {}, []
    ids = pd.concat(frames, ignore_index=True)
    key = ids["product_id"].astype("object").where(ids["product_id"].notna())
    key = key.map(lambda v: str(v).strip() if v is not None and v == v else None)
    ids["_key"] = key.where(key.fillna("") != "")
    known = ids[ids["_key"].notna()]
    dup = known.duplicated("_key", keep="first")
    if not dup.any():
        return {}, []
    first = known[~dup].set_index("_key")
    skip: dict[str, list[int]] = {}
    bad = []
    for _, r in known[dup].iterrows():
        f = first.loc[r["_key"]]
        name, path = sources[int(r["_file"])][:2]
        first_name = sources[int(f["_file"])][0]
        where = f"row {int(f['_row'])}" + (f" of {first_name}" if first_name != name else "")
        skip.setdefault(str(path), []).append(int(r["_pos"]))
        bad.append(Rejection(file=name, row=int(r["_row"]), field="product_id",
                             reason=f"duplicate product_id of {where}; first occurrence kept",
                             product_id=r["_key"], table="products"))
    return skip, bad


# --------------------------------------------------------------------------- reading a block

def read_block(block: Block) -> tuple[pd.DataFrame, np.ndarray]:
    """The block's rows (later duplicates left out) and their 1-based rows in ``block.name``."""
    table = pq.ParquetFile(block.path).read_row_group(block.row_group)
    table = table.slice(block.start - block.group_start, block.n_rows)
    frame = table.to_pandas()
    pos = np.arange(block.start, block.stop)
    if "_source_row" in frame.columns:
        rows = frame.pop("_source_row").to_numpy(dtype=np.int64)
    else:
        rows = pos + 1
    if block.skip:
        keep = ~np.isin(pos, np.asarray(block.skip))
        frame, rows = frame.loc[keep].reset_index(drop=True), rows[keep]
    return frame, rows
