"""Batch plan: blocks cut at row groups, rows numbered as in the file, duplicate ids reported
across blocks and files, staged CSV / data-set folders, resume only with the same inputs."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from assistant.batch.plan import (
    PlanError,
    errors_path,
    make_plan,
    pending,
    read_bad_rows,
    read_block,
    scores_path,
    write_atomic,
)

FP = {"model_version": "v1"}


def _products(n: int, start: int = 0) -> pd.DataFrame:
    return pd.DataFrame({"product_id": [f"P{i:04d}" for i in range(start, start + n)],
                         "title": [f"product {i}" for i in range(start, start + n)],
                         "price": np.arange(start, start + n, dtype=float) + 1})


def test_parquet_blocks_follow_row_groups(tmp_path):
    f = tmp_path / "cat.parquet"
    pq.write_table(pa.Table.from_pandas(_products(25)), f, row_group_size=10)
    plan = make_plan(f, tmp_path / "out", block_rows=4, fingerprint=FP)
    # row groups of 10, 10, 5 -> blocks of 4, 4, 2 | 4, 4, 2 | 4, 1
    assert [b.n_rows for b in plan.blocks] == [4, 4, 2, 4, 4, 2, 4, 1]
    assert plan.n_rows == 25 and [b.index for b in plan.blocks] == list(range(8))
    frame, rows = read_block(plan.blocks[4])
    assert frame["product_id"].tolist() == ["P0014", "P0015", "P0016", "P0017"]
    assert rows.tolist() == [15, 16, 17, 18]  # 1-based data rows of cat.parquet
    assert all(b.name == "cat.parquet" for b in plan.blocks)
    assert plan.bad_rows == [] and len(read_bad_rows(plan.out)) == 0


def test_duplicate_ids_across_files_are_reported_once_and_skipped(tmp_path):
    folder = tmp_path / "parts"
    folder.mkdir()
    a = _products(6)
    b = _products(4, start=4)  # P0004, P0005 again, P0006, and:
    b.loc[3, "product_id"] = " P0000 "  # spaces do not make it another product
    (folder / "_SUCCESS").write_text("")  # as Spark leaves it: not a table
    pq.write_table(pa.Table.from_pandas(a), folder / "part-0.parquet")
    pq.write_table(pa.Table.from_pandas(b), folder / "part-1.parquet")
    plan = make_plan(folder, tmp_path / "out", block_rows=3, fingerprint=FP)
    bad = read_bad_rows(plan.out)
    assert bad[["file", "row", "product_id"]].values.tolist() == [
        ["part-1.parquet", 1, "P0004"], ["part-1.parquet", 2, "P0005"],
        ["part-1.parquet", 4, "P0000"]]
    assert bad["reason"].tolist()[0] == ("duplicate product_id of row 5 of part-0.parquet; "
                                         "first occurrence kept")
    seen = []
    for block in plan.blocks:
        frame, rows = read_block(block)
        seen += list(zip(frame["product_id"].str.strip(), [block.name] * len(rows), rows))
    assert [s[0] for s in seen] == [f"P{i:04d}" for i in range(7)]
    assert seen[-1] == ("P0006", "part-1.parquet", 3)


def test_csv_is_staged_with_its_own_row_numbers(tmp_path):
    f = tmp_path / "cat.csv"
    _products(7).to_csv(f, index=False)
    plan = make_plan(f, tmp_path / "out", block_rows=3, fingerprint=FP)
    assert [b.n_rows for b in plan.blocks] == [3, 3, 1]
    frame, rows = read_block(plan.blocks[2])
    assert frame["product_id"].tolist() == ["P0006"] and rows.tolist() == [7]
    assert plan.blocks[2].name == "cat.csv"
    with pytest.raises(PlanError, match="no such file"):
        make_plan(tmp_path / "missing.csv", tmp_path / "out2", fingerprint=FP)


def test_data_set_folder_reports_load_rejections(tmp_path):
    folder = tmp_path / "cat"
    folder.mkdir()
    p = _products(4).astype({"price": object})
    p.loc[2, "price"] = "abc"
    p.to_csv(folder / "products.csv", index=False)
    pd.DataFrame({"product_id": ["P0001", "P0001"], "text": ["great", "ok"]}).to_csv(
        folder / "reviews.csv", index=False)
    plan = make_plan(folder, tmp_path / "out", block_rows=10, fingerprint=FP)
    bad = read_bad_rows(plan.out)
    assert bad[["file", "row", "field"]].values.tolist() == [["products.csv", 3, "price"]]
    assert "non-numeric price" in bad["reason"][0]
    frame, rows = read_block(plan.blocks[0])
    assert frame["product_id"].tolist() == ["P0000", "P0001", "P0003"]
    assert list(frame.loc[1, "reviews"]) == ["great", "ok"] and rows.tolist() == [1, 2, 3]


def test_resume_needs_the_same_inputs(tmp_path):
    f = tmp_path / "cat.parquet"
    pq.write_table(pa.Table.from_pandas(_products(10)), f)
    out = tmp_path / "out"
    plan = make_plan(f, out, block_rows=4, fingerprint=FP)
    assert len(pending(plan)) == 3
    # block 1 done; a writer killed mid-file left a temporary file behind
    write_atomic(pa.table({"x": [1]}), scores_path(out, 1))
    (out / "scores" / ".part-000002.parquet.tmp-123").write_bytes(b"half")
    again = make_plan(f, out, block_rows=4, fingerprint=FP)
    assert [b.index for b in pending(again)] == [0, 2]
    assert not (out / "scores" / ".part-000002.parquet.tmp-123").exists()
    with pytest.raises(PlanError, match="different settings.*model_version"):
        make_plan(f, out, block_rows=4, fingerprint={"model_version": "v2"})
    with pytest.raises(PlanError, match="different block_rows"):
        make_plan(f, out, block_rows=5, fingerprint=FP)
    fresh = make_plan(f, out, block_rows=5, fingerprint=FP, overwrite=True)
    assert len(pending(fresh)) == 2 and not errors_path(out, 1).exists()
    assert json.loads((out / "manifest.json").read_text())["block_rows"] == 5
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(PlanError, match="not empty"):
        make_plan(f, other, fingerprint=FP)


def test_a_catalog_without_product_ids_is_refused(tmp_path):
    f = tmp_path / "cat.parquet"
    pq.write_table(pa.table({"title": ["a", "b"]}), f)
    with pytest.raises(PlanError, match="no product_id column"):
        make_plan(f, tmp_path / "out", fingerprint=FP)
    # the refused run left nothing that blocks the next one in the same folder
    good = tmp_path / "good.parquet"
    pq.write_table(pa.Table.from_pandas(_products(3)), good)
    assert make_plan(good, tmp_path / "out", fingerprint=FP).n_rows == 3
