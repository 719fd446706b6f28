"""Bulk curation import on SQLite and PostgreSQL: wall time and statements sent per row.

Run::

    .venv/bin/python bench/curation_bulk.py                    # 300 rows -> bench/results/curation_bulk.json
    .venv/bin/python bench/curation_bulk.py --rows 100 --out bench/results/curation_bulk_small.json
    PYTHONPATH=/path/to/other/checkout .venv/bin/python bench/curation_bulk.py   # compare code

A synthetic catalog of ``--rows`` products in three leaf categories, three brands and one
competitor is saved to a fresh SQLite file and to a throwaway PostgreSQL server
(tests/pgserver.py, fsync on); then one :meth:`graph.curation.Curator.bulk_import` applies
``--rows`` mapping rows (a third each: move to another category, change the brand, add an
offer) in one transaction. Statements are counted on PostgreSQL at the psycopg level (each
``execute`` is one round trip; an ``executemany`` counts its rows and its calls).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.append(str(ROOT))  # after PYTHONPATH: a comparison run can point at other code


def catalog_graph(n: int):
    import pandas as pd

    from graph.build import build_graph
    from graph.contracts import Catalog

    products = pd.DataFrame({"product_id": [f"p{i}" for i in range(n)],
                             "title": [f"item {i}" for i in range(n)],
                             "category_path": [f"Shop > Aisle {i % 3}" for i in range(n)],
                             "brand": [f"Brand {i % 3}" for i in range(n)],
                             "price": [10.0 + i % 17 for i in range(n)], "currency": "INR",
                             "source": "s"})
    offers = pd.DataFrame({"product_id": ["p0"], "competitor": ["Rival"], "price": [9.0],
                           "currency": ["INR"], "observed_at": ["2024-01-01"], "source": ["s"]})
    return build_graph(Catalog(products=products, offers=offers),
                       updated_at="2024-01-01T00:00:00+00:00")


def mapping_rows(n: int) -> list[dict]:
    rows = []
    for i in range(n):
        pid = f"p{i}"
        if i % 3 == 0:
            rows.append({"op": "link_category", "product_id": pid,
                         "category_path": f"Shop > Aisle {(i + 1) % 3}"})
        elif i % 3 == 1:
            rows.append({"op": "link_brand", "product_id": pid, "brand": f"Brand {(i + 1) % 3}"})
        else:
            rows.append({"op": "add_offer", "product_id": pid, "competitor": "Rival",
                         "price": 5.0 + i % 11, "currency": "INR", "observed_at": "2024-06-01"})
    return rows


class StatementCounter:
    """Counts psycopg round trips: Connection.execute calls, executemany calls and rows."""

    def __init__(self) -> None:
        self.execute = self.executemany = self.many_rows = 0

    def __enter__(self) -> StatementCounter:
        import psycopg

        self._saved = (psycopg.Connection.execute, psycopg.Cursor.executemany)
        conn_execute, cur_executemany = self._saved
        counter = self

        def execute(conn, *a, **kw):
            counter.execute += 1
            return conn_execute(conn, *a, **kw)

        def executemany(cur, query, params_seq, *a, **kw):
            params_seq = list(params_seq)
            counter.executemany += 1
            counter.many_rows += len(params_seq)
            return cur_executemany(cur, query, params_seq, *a, **kw)

        psycopg.Connection.execute = execute
        psycopg.Cursor.executemany = executemany
        return self

    def __exit__(self, *exc: object) -> None:
        import psycopg

        psycopg.Connection.execute, psycopg.Cursor.executemany = self._saved


def run_once(location: str | Path, n: int) -> dict:
    from graph.curation import Curator
    from graph.store import GraphStore

    g = catalog_graph(n)
    with GraphStore(location) as store:
        store.save(g)
    rows = mapping_rows(n)
    with Curator(location, actor="bench") as cur:
        is_pg = cur.store.kind == "postgresql"
        with StatementCounter() as count:
            t0 = time.perf_counter()
            r = cur.bulk_import(rows)
            seconds = time.perf_counter() - t0
        after = cur.store.load()
    moved = sum(1 for i in range(0, n, 3)
                if after.has_edge(f"product:p{i}", f"category:Shop > Aisle {(i + 1) % 3}"))
    assert moved == len(range(0, n, 3)), "the import did not apply"
    out = {"rows": n, "seconds": round(seconds, 3), "rows_per_s": round(n / seconds, 1),
           "nodes_changed": len(r.nodes), "edges_changed": len(r.edges)}
    if is_pg:
        out.update({"execute_calls": count.execute, "executemany_calls": count.executemany,
                    "executemany_rows": count.many_rows,
                    "round_trips_per_row": round((count.execute + count.executemany) / n, 1)})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=300)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "curation_bulk.json")
    ap.add_argument("--label", default="", help="what code this measures (kept in the JSON)")
    args = ap.parse_args()

    from graph.db import close_pools
    from tests.pgserver import PgServer

    results: dict = {"label": args.label, "load_average": [round(x, 2) for x in os.getloadavg()]}
    with tempfile.TemporaryDirectory(prefix="curation-bulk-") as tmp:
        results["sqlite"] = run_once(Path(tmp) / "graph.sqlite", args.rows)
        print(f"sqlite:     {results['sqlite']}", flush=True)
    with PgServer(fast=False) as pg:
        results["postgresql"] = run_once(pg.new_database("bench"), args.rows)
        print(f"postgresql: {results['postgresql']}", flush=True)
        close_pools()
    results["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
