"""The catalog view: every product with its current price, latest suggestion and status.

Use::

    view = CatalogView(service.products, service.store, book)       # book: a PriceBook or None
    page = view.query(CatalogQuery(underpriced_by=10, sort="-change_pct", limit=50))
    page.total, [r.product_id for r in page.items]

A materialised read model in an in-memory SQLite database: one row per catalog product with
its current price, latest suggestion, status, change %, below-cost and undercut flags, built
once when the view is created (every stored suggestion is read then: ~33 s for 150k products
on a busy 2-core machine, mostly JSON decoding; bench: ``bench/catalog_view.py``) and
indexed for every filter and sort (see ``_INDEXES``), so a page is an index scan (<= 31 ms
at 150k in the bench) and its total an index count or, for status and flag filters, a sum
over trigger-kept counters - not a recompute of the catalog. Each query first updates only
the rows that changed: products with suggestions stored since the last query (the store is
followed by position), and products whose price or approvals changed in the price book (its
file is ATTACHed read-side; ``PRAGMA data_version`` says whether anyone committed, history
and approval ids and decision times say which products). Applying, approving or rejecting
through any process is therefore visible on the next query.

Status: ``applied`` (the latest suggestion's price is in force), ``pending`` (waiting for an
approver), ``rejected``, ``suggested`` (not acted on) or ``none`` (no suggestion yet).
"""
from __future__ import annotations

import sqlite3
import threading
from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from assistant.pricebook import PriceBook
from assistant.suggestion_store import SuggestionStore
from graph.contracts import finite_or_none

Sort = Literal["product_id", "-product_id", "change_pct", "-change_pct", "confidence",
               "-confidence", "current_price", "-current_price"]
CatalogStatus = Literal["applied", "pending", "rejected", "suggested", "none"]


class CatalogQuery(BaseModel):
    """Filters, sort and page of the catalog view."""

    model_config = ConfigDict(extra="forbid")

    underpriced_by: float | None = Field(None, ge=0, le=10000, description="only products whose "
                                         "suggested price is more than this many % above the current")
    overpriced_by: float | None = Field(None, ge=0, le=100, description="only products whose "
                                        "suggested price is more than this many % below the current")
    below_cost: bool = Field(False, description="only products priced below their unit cost")
    undercut: bool = Field(False, description="only products a competitor sells for less")
    status: CatalogStatus | None = None
    sort: Sort = "product_id"
    limit: int = Field(50, ge=1, le=200_000)
    offset: int = Field(0, ge=0, le=10**9)


class CatalogRow(BaseModel):
    product_id: str
    title: str | None
    currency: str | None
    cost: float | None
    catalog_price: float | None
    current_price: float | None = Field(description="the applied price, else the catalog's")
    applied: bool
    suggestion_id: str | None
    suggested_price: float | None
    change_pct: float | None = Field(description="suggested vs current price, in %")
    confidence: float | None
    competitor_min: float | None = Field(description="the cheapest competitor offer in the "
                                         "latest suggestion's evidence")
    competitors: int | None = Field(None, description="competitor offers in that evidence")
    interval_low: float | None = None
    interval_high: float | None = None
    abstain: bool | None = None
    status: CatalogStatus


class CatalogPage(BaseModel):
    total: int
    offset: int
    limit: int
    items: list[CatalogRow]


_MEM_BOOK = """
CREATE TABLE IF NOT EXISTS b.prices (product_id TEXT PRIMARY KEY, price REAL, suggestion_id TEXT);
CREATE TABLE IF NOT EXISTS b.price_history (id INTEGER PRIMARY KEY, product_id TEXT);
CREATE TABLE IF NOT EXISTS b.approvals (id INTEGER PRIMARY KEY, product_id TEXT, suggestion_id TEXT,
                                        status TEXT, decided_at TEXT);
"""

_TABLES = """
CREATE TABLE products (product_id TEXT PRIMARY KEY, title TEXT, currency TEXT,
                       cost REAL, catalog_price REAL);
CREATE TABLE latest (product_id TEXT PRIMARY KEY, suggestion_id TEXT,
                     suggested_price REAL, confidence REAL, competitor_min REAL,
                     competitors INTEGER, interval_low REAL, interval_high REAL,
                     abstain INTEGER);
CREATE TABLE view_rows (product_id TEXT PRIMARY KEY, title TEXT, currency TEXT, cost REAL,
                   catalog_price REAL, current_price REAL, applied INTEGER, suggestion_id TEXT,
                   suggested_price REAL, confidence REAL, competitor_min REAL,
                   competitors INTEGER, interval_low REAL, interval_high REAL, abstain INTEGER,
                   status TEXT, change_pct REAL, below_cost INTEGER, undercut INTEGER);
CREATE TEMP TABLE dirty (product_id TEXT PRIMARY KEY);
CREATE TABLE counts (status TEXT, below_cost INTEGER, undercut INTEGER, n INTEGER NOT NULL,
                     PRIMARY KEY (status, below_cost, undercut));
"""
# Rows per (status, below cost, undercut), kept by triggers once the build filled them: the
# total of a query that filters by those alone is a sum over at most 20 rows, not a count of
# up to the whole catalog (counting 150k index entries costs tens of ms on a busy machine).
_COUNTERS = """
INSERT INTO counts SELECT status, below_cost, undercut, count(*) FROM view_rows GROUP BY 1, 2, 3;
CREATE TRIGGER rows_added AFTER INSERT ON view_rows BEGIN
  INSERT INTO counts VALUES (new.status, new.below_cost, new.undercut, 1)
  ON CONFLICT (status, below_cost, undercut) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER rows_removed AFTER DELETE ON view_rows BEGIN
  UPDATE counts SET n = n - 1 WHERE status = old.status AND below_cost = old.below_cost
                                AND undercut = old.undercut;
END;
"""
# Every filter and sort of CatalogQuery is served by one of these. Sorts put "no value"
# last in both directions, so each sortable column has an ascending and a descending index
# on (col IS NULL, col, product_id): the ORDER BY matches one exactly and a page stops after
# `limit` rows instead of sorting the catalog. Partial indexes make the flag filters' counts
# cheap, the plain change_pct index the "under/overpriced by" counts.
_SORTABLE = ("change_pct", "confidence", "current_price")
_INDEXES = [
    "CREATE INDEX rows_status ON view_rows(status, product_id)",
    "CREATE INDEX rows_below ON view_rows(product_id) WHERE below_cost = 1",
    "CREATE INDEX rows_undercut ON view_rows(product_id) WHERE undercut = 1",
    "CREATE INDEX rows_change ON view_rows(change_pct)",
] + [f"CREATE INDEX rows_{c}_{d} ON view_rows({c} IS NULL, {c} {'DESC' if d == 'd' else ''}, "
     f"product_id)" for c in _SORTABLE for d in "ad"]

# One product's row: the catalog, its latest suggestion, the price book. {products}: every
# product at build time; later the dirty ones, looked up from `dirty` (CROSS JOIN keeps
# SQLite from scanning the catalog to test membership).
_ROWS = """
WITH v AS (
  SELECT p.product_id, p.title, p.currency, p.cost, p.catalog_price,
         COALESCE(bp.price, p.catalog_price) AS current_price, bp.price IS NOT NULL AS applied,
         l.suggestion_id, l.suggested_price, l.confidence, l.competitor_min, l.competitors,
         l.interval_low, l.interval_high, l.abstain,
         CASE WHEN l.suggestion_id IS NULL THEN 'none'
              WHEN bp.suggestion_id = l.suggestion_id THEN 'applied'
              WHEN EXISTS (SELECT 1 FROM b.approvals a WHERE a.suggestion_id = l.suggestion_id
                           AND a.status = 'pending') THEN 'pending'
              WHEN EXISTS (SELECT 1 FROM b.approvals a WHERE a.suggestion_id = l.suggestion_id
                           AND a.status = 'rejected') THEN 'rejected'
              ELSE 'suggested' END AS status
  FROM {products}
  LEFT JOIN latest l ON l.product_id = p.product_id
  LEFT JOIN b.prices bp ON bp.product_id = p.product_id
)
INSERT OR REPLACE INTO view_rows
SELECT *, CASE WHEN current_price > 0 AND suggested_price IS NOT NULL
               THEN ROUND((suggested_price - current_price) * 100.0 / current_price, 2) END,
       COALESCE(cost IS NOT NULL AND current_price < cost, 0),
       COALESCE(competitor_min IS NOT NULL AND competitor_min < current_price, 0)
FROM v
"""
_COLUMNS = ", ".join(f for f in CatalogRow.model_fields)


class CatalogView:
    """The catalog with prices, suggestions and statuses: a materialised, indexed read model."""

    def __init__(self, products: pd.DataFrame, store: SuggestionStore,
                 book: PriceBook | None = None) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._cursor = 0
        con = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None, uri=True)
        con.row_factory = sqlite3.Row
        con.executescript(_TABLES)
        cols = {c: products[c] if c in products else None for c in ("title", "currency", "cost", "price")}
        rows = zip(products["product_id"].astype(str),
                   *(([None] * len(products)) if s is None else s.tolist() for s in cols.values()))
        con.executemany("INSERT OR REPLACE INTO products VALUES (?, ?, ?, ?, ?)",
                        ((pid, None if t is None else str(t), None if c is None else str(c),
                          finite_or_none(cost), finite_or_none(price)) for pid, t, c, cost, price in rows))
        self._book = book is not None
        if book is not None:
            # read-side: the book's own connections write; uri mode=ro keeps this one reading
            con.execute("ATTACH DATABASE ? AS b", (f"file:{book.path}?mode=ro",))
        else:
            con.execute("ATTACH DATABASE ':memory:' AS b")
            con.executescript(_MEM_BOOK)
        self._con = con
        # Where the book stood: changes after these marks make products dirty (see _book_dirty).
        self._book_version: int | None = None
        self._history_id = self._approval_id = 0
        self._decided_at = ""
        self._book_dirty()
        self._follow(mark=False)
        con.execute("BEGIN")
        con.execute(_ROWS.format(products="products p"))
        con.execute("DELETE FROM dirty")  # the build read everything marked so far
        for ddl in _INDEXES:
            con.execute(ddl)
        con.execute("COMMIT")
        con.executescript(_COUNTERS)
        con.execute("ANALYZE main")  # the planner picks the status index for "pending", etc.

    # ------------------------------------------------------------------ keeping up
    def _follow(self, mark: bool = True) -> None:
        """Fold the suggestions stored since the last call into ``latest`` (and mark their
        products dirty)."""
        while True:
            batch = self.store.since(self._cursor, limit=5000)
            if not batch:
                return
            rows = []
            for cursor, body in batch:
                self._cursor = cursor
                if not body.get("product_id"):
                    continue
                comps = [finite_or_none(c.get("price")) for c in (body.get("evidence") or {}).get("competitors", [])]
                comps = [c for c in comps if c]
                interval = body.get("interval") or {}
                rows.append((body["product_id"], body["suggestion_id"], finite_or_none(body.get("recommended_price")),
                             finite_or_none(body.get("confidence")), min(comps) if comps else None, len(comps),
                             finite_or_none(interval.get("low")), finite_or_none(interval.get("high")),
                             bool(body.get("abstain"))))
            self._con.executemany("INSERT OR REPLACE INTO latest VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            if mark:
                self._con.executemany("INSERT OR IGNORE INTO dirty VALUES (?)",
                                      ((r[0],) for r in rows))

    def _book_dirty(self) -> None:
        """Mark the products whose price or approvals changed in the book since the last call.

        ``PRAGMA data_version`` moves only when another connection committed to the book, so
        an unchanged book costs one pragma. Prices change with a history row (its id grows),
        approvals are added (their id grows) or decided (``decided_at``, ISO seconds: ``>=``
        re-reads the last second, which is harmless)."""
        if not self._book:
            return
        c = self._con
        version = c.execute("PRAGMA b.data_version").fetchone()[0]
        if version == self._book_version:
            return
        self._book_version = version
        h = c.execute("SELECT max(id) FROM b.price_history").fetchone()[0] or 0
        a = c.execute("SELECT max(id) FROM b.approvals").fetchone()[0] or 0
        d = c.execute("SELECT max(decided_at) FROM b.approvals").fetchone()[0] or ""
        c.execute("INSERT OR IGNORE INTO dirty SELECT product_id FROM b.price_history "
                  "WHERE id > ? AND id <= ?", (self._history_id, h))
        c.execute("INSERT OR IGNORE INTO dirty SELECT product_id FROM b.approvals "
                  "WHERE id > ? AND id <= ?", (self._approval_id, a))
        c.execute("INSERT OR IGNORE INTO dirty SELECT product_id FROM b.approvals "
                  "WHERE decided_at >= ?", (self._decided_at,))  # "": every decided one
        self._history_id, self._approval_id, self._decided_at = h, a, d

    def _sync(self) -> None:
        """Bring the rows of changed products up to date (caller holds the lock)."""
        self._follow()
        self._book_dirty()
        c = self._con
        if c.execute("SELECT 1 FROM dirty LIMIT 1").fetchone() is None:
            return
        c.execute("BEGIN")
        try:
            # delete, then insert: the counters' triggers see both sides of every change
            c.execute("DELETE FROM view_rows WHERE product_id IN (SELECT product_id FROM dirty)")
            c.execute(_ROWS.format(
                products="dirty d CROSS JOIN products p ON p.product_id = d.product_id"))
            c.execute("DELETE FROM dirty")
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise

    # ------------------------------------------------------------------ reading
    @staticmethod
    def _sql(q: CatalogQuery) -> tuple[str, str, list]:
        """(WHERE clause, ORDER BY clause, arguments) of a query."""
        where, args = [], []
        if q.underpriced_by is not None:
            where.append("change_pct > ?")
            args.append(q.underpriced_by)
        if q.overpriced_by is not None:
            where.append("change_pct < ?")
            args.append(-q.overpriced_by)
        if q.below_cost:
            where.append("below_cost = 1")
        if q.undercut:
            where.append("undercut = 1")
        if q.status is not None:
            where.append("status = ?")
            args.append(q.status)
        cond = (" WHERE " + " AND ".join(where)) if where else ""
        col = q.sort.lstrip("-")
        desc = " DESC" if q.sort.startswith("-") else ""
        order = (f" ORDER BY product_id{desc}" if col == "product_id"
                 else f" ORDER BY {col} IS NULL, {col}{desc}, product_id")
        return cond, order, args

    def query(self, q: CatalogQuery | None = None) -> CatalogPage:
        q = q or CatalogQuery()
        cond, order, args = self._sql(q)
        with self._lock:
            self._sync()
            counted = q.underpriced_by is None and q.overpriced_by is None
            total = self._con.execute(  # the counters hold status and flags, not change %
                f"SELECT {'COALESCE(SUM(n), 0)' if counted else 'COUNT(*)'} "
                f"FROM {'counts' if counted else 'view_rows'}{cond}", args).fetchone()[0]
            rows = self._con.execute(f"SELECT {_COLUMNS} FROM view_rows{cond}{order} LIMIT ? OFFSET ?",
                                     (*args, q.limit, q.offset)).fetchall()
        return CatalogPage(total=int(total), offset=q.offset, limit=q.limit,
                           items=[_row(r) for r in rows])

    def plan(self, q: CatalogQuery) -> list[str]:
        """SQLite's plan for the page query of ``q`` (tests and the bench check that pages
        are index scans)."""
        cond, order, args = self._sql(q)
        with self._lock:
            return [r[3] for r in self._con.execute(
                f"EXPLAIN QUERY PLAN SELECT {_COLUMNS} FROM view_rows{cond}{order} LIMIT ? OFFSET ?",
                (*args, q.limit, q.offset))]

    def rows(self, product_ids: list[str]) -> list[CatalogRow]:
        """The rows of these products (in the given order; unknown ids are left out)."""
        ids = list(dict.fromkeys(product_ids))[:10000]
        with self._lock:
            self._sync()
            found = {}
            for i in range(0, len(ids), 500):
                chunk = ids[i:i + 500]
                marks = ",".join("?" * len(chunk))
                for r in self._con.execute(f"SELECT {_COLUMNS} FROM view_rows WHERE product_id IN ({marks})",
                                           chunk):
                    found[r["product_id"]] = _row(r)
        return [found[i] for i in ids if i in found]

    def close(self) -> None:
        with self._lock:
            self._con.close()


def _row(r: sqlite3.Row) -> CatalogRow:
    d = dict(r)
    return CatalogRow(**{**d, "applied": bool(d["applied"]),
                         "abstain": None if d["abstain"] is None else bool(d["abstain"])})
