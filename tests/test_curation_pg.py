"""graph.curation on PostgreSQL: run with `.venv/bin/pytest tests/test_curation_pg.py -q`.

The curation code is written once, in SQLite's dialect (graph.db speaks it to PostgreSQL), so
this file re-runs a selection of tests/test_curation.py - rules, conflicts between two
curators, reverts, previews, bulk import - with its ``db`` fixture on a throwaway PostgreSQL
database, plus a bulk import killed with SIGKILL half-way through its transaction.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import pandas as pd
import pytest

from graph.build import build_graph
from graph.contracts import Catalog
from graph.curation import Curator
from graph.io import graph_diff
from graph.products import product_table
from graph.store import GraphStore
from tests.test_curation import (  # noqa: F401 - collected here with this file's fixtures
    ROOT,
    small_graph,
    test_audit_record_holds_who_when_what_why,
    test_bulk_import_reports_every_bad_row_and_applies_nothing,
    test_concurrent_curators_lose_no_update,
    test_dry_run_lists_affected_products_and_prices,
    test_merge_categories_with_clashing_children_is_refused,
    test_preview_graph_cache_follows_other_writers,
    test_rename_brand_competitor_product,
    test_revert_refused_when_edited_since,
    test_reverting_a_revert_redoes,
    test_second_curator_gets_a_conflict_and_nothing_is_lost,
    test_tree_rules_hold_against_hand_made_breakage,
)


@pytest.fixture()
def db(pg_url) -> str:
    with GraphStore(pg_url) as store:
        store.save(small_graph())
    return pg_url


@pytest.fixture()
def cur(db):
    with Curator(db, actor="alice") as c:
        yield c


_CHILD = """
import sys, time
sys.path.insert(0, {root!r})
from graph.curation import Curator
cur = Curator({db!r}, actor="bulk")
def progress(done, total):
    if done == total // 2:
        print("half", flush=True)
        time.sleep(120)            # killed here, in the middle of the transaction
cur.bulk_import({csv!r}, on_progress=progress)
print("finished", flush=True)
"""


def test_sigkill_mid_bulk_import_applies_nothing_and_frees_the_store(pg_url, tmp_path):
    n = 150  # PostgreSQL curation is chattier than SQLite: ~30 statements a row
    products = pd.DataFrame({"product_id": [f"p{i}" for i in range(n)],
                             "title": [f"item {i}" for i in range(n)],
                             "category_path": [f"Shop > Aisle {i % 3}" for i in range(n)],
                             "price": [10.0 + i % 17 for i in range(n)], "currency": "INR",
                             "source": "s"})
    with GraphStore(pg_url) as store:
        store.save(build_graph(Catalog(products=products)))
        original = store.load()
    csv_path = tmp_path / "moves.csv"
    pd.DataFrame({"op": "link_category", "product_id": products.product_id,
                  "category_path": [f"Shop > Aisle {(i + 1) % 3}" for i in range(n)]}
                 ).to_csv(csv_path, index=False)
    with Curator(pg_url):
        pass
    script = _CHILD.format(root=str(ROOT), db=pg_url, csv=str(csv_path))
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline().strip()
        assert line == "half", child.stderr.read()
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    # The server ends the dead client's session: its transaction and writer lock go with it.
    with Curator(pg_url, busy_timeout_ms=30_000) as cur:
        after = cur.store.load()
        assert graph_diff(original, after) == []
        assert cur.conn.execute("SELECT count(*) FROM audit").fetchone()[0] == 0
        assert cur.version("product:p0") == 1
        r = cur.bulk_import(csv_path)
        assert len(r.edges) == 2 * n
        t = product_table(cur.store.load()).set_index("product_id")
        assert t.loc["p0", "category_path"] == "Shop > Aisle 1"
