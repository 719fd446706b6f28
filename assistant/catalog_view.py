"""The catalog view: every product with its current price, latest suggestion and status.

Use::

    view = CatalogView(service.products, service.store, book)       # book: a PriceBook or None
    page = view.query(CatalogQuery(underpriced_by=10, sort="-change_pct", limit=50))
    page.total, [r.product_id for r in page.items]

A read model in an in-memory SQLite database: the catalog's products (one row each, loaded
once), the latest suggestion per product (followed incrementally from the suggestion store:
each query first reads only the suggestions stored since the last one), and the price book's
file ATTACHed read-side, so the applied price and approval status are always current. Filters,
sorting and pagination run in SQL, so a page of a 150k-product catalog costs one indexed scan
(bench: ``bench/catalog_view.py``).

Status: ``applied`` (the latest suggestion's price is in force), ``pending`` (waiting for an
approver), ``rejected``, ``suggested`` (not acted on) or ``none`` (no suggestion yet).
"""
from __future__ import annotations

import math
import sqlite3
import threading
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from assistant.pricebook import PriceBook
from assistant.suggestion_store import SuggestionStore

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
CREATE TABLE IF NOT EXISTS b.approvals (id INTEGER PRIMARY KEY, product_id TEXT, suggestion_id TEXT,
                                        status TEXT);
"""

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
  FROM products p
  LEFT JOIN latest l ON l.product_id = p.product_id
  LEFT JOIN b.prices bp ON bp.product_id = p.product_id
)
SELECT *, CASE WHEN current_price > 0 AND suggested_price IS NOT NULL
               THEN ROUND((suggested_price - current_price) * 100.0 / current_price, 2) END
          AS change_pct
FROM v
"""


def _num(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


class CatalogView:
    """The catalog with prices, suggestions and statuses, queried in SQL."""

    def __init__(self, products: pd.DataFrame, store: SuggestionStore,
                 book: PriceBook | None = None) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._cursor = 0
        con = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None, uri=True)
        con.row_factory = sqlite3.Row
        con.executescript("""
            CREATE TABLE products (product_id TEXT PRIMARY KEY, title TEXT, currency TEXT,
                                   cost REAL, catalog_price REAL);
            CREATE TABLE latest (product_id TEXT PRIMARY KEY, suggestion_id TEXT,
                                 suggested_price REAL, confidence REAL, competitor_min REAL,
                                 competitors INTEGER, interval_low REAL, interval_high REAL,
                                 abstain INTEGER);
        """)
        cols = {c: products[c] if c in products else None for c in ("title", "currency", "cost", "price")}
        rows = zip(products["product_id"].astype(str),
                   *(([None] * len(products)) if s is None else s.tolist() for s in cols.values()))
        con.executemany("INSERT OR REPLACE INTO products VALUES (?, ?, ?, ?, ?)",
                        ((pid, None if t is None else str(t), None if c is None else str(c),
                          _num(cost), _num(price)) for pid, t, c, cost, price in rows))
        if book is not None:
            # read-side: the book's own connections write; uri mode=ro keeps this one reading
            con.execute("ATTACH DATABASE ? AS b", (f"file:{book.path}?mode=ro",))
        else:
            con.execute("ATTACH DATABASE ':memory:' AS b")
            con.executescript(_MEM_BOOK)
        self._con = con

    def _follow(self) -> None:
        """Fold the suggestions stored since the last call into ``latest``."""
        while True:
            batch = self.store.since(self._cursor, limit=5000)
            if not batch:
                return
            rows = []
            for cursor, body in batch:
                self._cursor = cursor
                if not body.get("product_id"):
                    continue
                comps = [_num(c.get("price")) for c in (body.get("evidence") or {}).get("competitors", [])]
                comps = [c for c in comps if c]
                interval = body.get("interval") or {}
                rows.append((body["product_id"], body["suggestion_id"], _num(body.get("recommended_price")),
                             _num(body.get("confidence")), min(comps) if comps else None, len(comps),
                             _num(interval.get("low")), _num(interval.get("high")),
                             bool(body.get("abstain"))))
            self._con.executemany("INSERT OR REPLACE INTO latest VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)

    def query(self, q: CatalogQuery | None = None) -> CatalogPage:
        q = q or CatalogQuery()
        where, args = [], []
        if q.underpriced_by is not None:
            where.append("change_pct > ?")
            args.append(q.underpriced_by)
        if q.overpriced_by is not None:
            where.append("change_pct < ?")
            args.append(-q.overpriced_by)
        if q.below_cost:
            where.append("cost IS NOT NULL AND current_price < cost")
        if q.undercut:
            where.append("competitor_min IS NOT NULL AND competitor_min < current_price")
        if q.status is not None:
            where.append("status = ?")
            args.append(q.status)
        cond = (" WHERE " + " AND ".join(where)) if where else ""
        col = q.sort.lstrip("-")
        order = f" ORDER BY {col} IS NULL, {col} {'DESC' if q.sort.startswith('-') else 'ASC'}"
        if col != "product_id":
            order += ", product_id"
        with self._lock:
            self._follow()
            total = self._con.execute(f"SELECT COUNT(*) FROM ({_ROWS}){cond}", args).fetchone()[0]
            rows = self._con.execute(f"SELECT * FROM ({_ROWS}){cond}{order} LIMIT ? OFFSET ?",
                                     (*args, q.limit, q.offset)).fetchall()
        return CatalogPage(total=int(total), offset=q.offset, limit=q.limit,
                           items=[CatalogRow(**{**dict(r), "applied": bool(r["applied"])}) for r in rows])

    def rows(self, product_ids: list[str]) -> list[CatalogRow]:
        """The rows of these products (in the given order; unknown ids are left out)."""
        ids = list(dict.fromkeys(product_ids))[:10000]
        with self._lock:
            self._follow()
            found = {}
            for i in range(0, len(ids), 500):
                chunk = ids[i:i + 500]
                marks = ",".join("?" * len(chunk))
                for r in self._con.execute(f"SELECT * FROM ({_ROWS}) WHERE product_id IN ({marks})", chunk):
                    found[r["product_id"]] = CatalogRow(**{**dict(r), "applied": bool(r["applied"])})
        return [found[i] for i in ids if i in found]

    def close(self) -> None:
        with self._lock:
            self._con.close()
