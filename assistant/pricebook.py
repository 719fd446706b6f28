"""The merchant's price list: applied prices with their history, and approvals for big changes.

Use::

    book = PriceBook("runs/pricebook.sqlite", ApprovalPolicy(max_auto_change=0.05, min_confidence=0.6))
    r = book.apply(suggestion, actor="alice")      # Applied(...) or Queued(...) by the policy
    book.approve(r.approval_id, actor="bob")       # an approver applies a queued change
    book.reject(r.approval_id, actor="bob", reason="too steep before the sale")
    book.history("B07JW9H4J1")                     # PriceChange rows, newest first
    book.lowest_price("B07JW9H4J1", days=30)       # the reference for a price reduction (EU rules)
    book.current_price("B07JW9H4J1")               # the applied price, or None

Every price change is one history row (old, new, who, when, suggestion id, the rule that set
it), written in the same transaction as the new price, so the list and its history never
disagree. A change the policy does not allow automatically (too large a move, too little
confidence, an abstaining suggestion) waits in the approval queue; a rejection keeps its
reason. SQLite (WAL) with one connection per thread, like the suggestion store.
"""
from __future__ import annotations

import math
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from assistant.suggestion import Suggestion
from graph.schema import now_iso

_SCHEMA = """
CREATE TABLE IF NOT EXISTS prices (
    product_id TEXT PRIMARY KEY,
    price REAL NOT NULL,
    currency TEXT,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    suggestion_id TEXT,
    rule TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS price_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    product_id TEXT NOT NULL,
    old_price REAL,
    new_price REAL NOT NULL,
    currency TEXT,
    actor TEXT NOT NULL,
    at TEXT NOT NULL,
    suggestion_id TEXT,
    rule TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS price_history_product ON price_history(product_id, at);
CREATE TABLE IF NOT EXISTS approvals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    product_id TEXT NOT NULL,
    suggestion_id TEXT NOT NULL,
    currency TEXT,
    old_price REAL,
    proposed_price REAL NOT NULL,
    confidence REAL NOT NULL,
    reason TEXT NOT NULL,
    status TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    requested_at TEXT NOT NULL,
    decided_by TEXT,
    decided_at TEXT,
    decision_note TEXT,
    final_price REAL
);
CREATE INDEX IF NOT EXISTS approvals_status ON approvals(status, id);
CREATE INDEX IF NOT EXISTS approvals_suggestion ON approvals(suggestion_id, status);
-- the catalog view follows decisions by time (assistant.catalog_view)
CREATE INDEX IF NOT EXISTS approvals_decided ON approvals(decided_at);
"""

Status = Literal["pending", "approved", "rejected"]


class ApprovalPolicy(BaseModel):
    """Which suggested changes apply at once; the rest wait for an approver."""

    model_config = ConfigDict(extra="forbid")

    max_auto_change: float = Field(0.05, ge=0, le=10, description="largest move from the current "
                                   "price applied without approval, as a fraction (0.05 = ±5%)")
    min_confidence: float = Field(0.6, ge=0, le=1, description="lowest suggestion confidence "
                                  "applied without approval")

    def needs_approval(self, old_price: float | None, new_price: float, confidence: float,
                       abstain: bool = False) -> str | None:
        """Why this change needs an approver, or None when it may apply at once."""
        if abstain:
            return "the model abstained"
        if confidence < self.min_confidence:
            return f"confidence {confidence:.2f} is below {self.min_confidence:.2f}"
        if old_price is None:
            return "no current price to compare with"
        move = abs(new_price - old_price) / old_price
        if move > self.max_auto_change + 1e-12:
            return f"a {move:.1%} change is more than ±{self.max_auto_change:.0%}"
        return None


class PriceChange(BaseModel):
    """One row of a product's price history (the API answers with this model too)."""

    model_config = ConfigDict(frozen=True)

    product_id: str
    old_price: float | None
    new_price: float
    currency: str | None
    actor: str
    at: str
    suggestion_id: str | None
    rule: str


class Approval(BaseModel):
    """A suggested change waiting for (or decided by) an approver (the API's model too)."""

    model_config = ConfigDict(frozen=True)

    approval_id: int
    product_id: str
    suggestion_id: str
    currency: str | None
    old_price: float | None
    proposed_price: float
    confidence: float
    reason: str
    status: Status
    requested_by: str
    requested_at: str
    decided_by: str | None = None
    decided_at: str | None = None
    decision_note: str | None = None
    final_price: float | None = None


@dataclass(frozen=True)
class Applied:
    """The outcome of :meth:`PriceBook.apply` when the price was set."""

    change: PriceChange


@dataclass(frozen=True)
class Queued:
    """The outcome of :meth:`PriceBook.apply` when the change waits for an approver."""

    approval: Approval


class UnknownApproval(KeyError):
    """An approval id the book has never seen."""


class ApprovalClosed(ValueError):
    """An approval that was already approved or rejected."""


def _price(name: str, value: float) -> float:
    v = float(value)
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name}: must be a finite price above zero, got {value!r}")
    return round(v, 2)


class PriceBook:
    """Applied prices, their history and the approval queue, in one SQLite file."""

    def __init__(self, path: str | Path, policy: ApprovalPolicy | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.policy = policy or ApprovalPolicy()
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        con = self._con()
        con.execute("PRAGMA journal_mode=WAL")
        con.executescript(_SCHEMA)

    # ------------------------------------------------------------------ connections
    def _con(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(self.path, timeout=30, isolation_level=None,
                                  check_same_thread=False)
            con.row_factory = sqlite3.Row
            con.execute("PRAGMA synchronous=NORMAL")
            self._local.con = con
            with self._lock:
                self._all.append(con)
        return con

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        con = self._con()
        con.execute("BEGIN IMMEDIATE")
        try:
            yield con
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            for con in self._all:
                con.close()
            self._all.clear()
        self._local = threading.local()

    # ------------------------------------------------------------------ prices
    def current_price(self, product_id: str) -> float | None:
        row = self._con().execute("SELECT price FROM prices WHERE product_id = ?",
                                  (product_id,)).fetchone()
        return None if row is None else float(row["price"])

    def set_price(self, product_id: str, price: float, *, actor: str, rule: str,
                  currency: str | None = None, suggestion_id: str | None = None,
                  old_price: float | None = None) -> PriceChange:
        """Set a price with its history row (one transaction). ``old_price``: the price before,
        when the book has none yet (e.g. the catalog's)."""
        new = _price("price", price)
        if not actor.strip():
            raise ValueError("actor: who sets the price is required")
        with self._tx() as con:
            return self._set(con, product_id, new, actor, rule, currency, suggestion_id, old_price)

    def _set(self, con: sqlite3.Connection, product_id: str, new: float, actor: str, rule: str,
             currency: str | None, suggestion_id: str | None, old_price: float | None) -> PriceChange:
        row = con.execute("SELECT price FROM prices WHERE product_id = ?", (product_id,)).fetchone()
        old = float(row["price"]) if row is not None else (
            None if old_price is None else _price("old_price", old_price))
        at = now_iso()
        con.execute("INSERT INTO prices VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(product_id) DO UPDATE "
                    "SET price=excluded.price, currency=excluded.currency, updated_at=excluded.updated_at, "
                    "updated_by=excluded.updated_by, suggestion_id=excluded.suggestion_id, rule=excluded.rule",
                    (product_id, new, currency, at, actor, suggestion_id, rule))
        con.execute("INSERT INTO price_history (product_id, old_price, new_price, currency, actor, at, "
                    "suggestion_id, rule) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (product_id, old, new, currency, actor, at, suggestion_id, rule))
        return PriceChange(product_id=product_id, old_price=old, new_price=new, currency=currency,
                           actor=actor, at=at, suggestion_id=suggestion_id, rule=rule)

    def history(self, product_id: str, limit: int = 100) -> list[PriceChange]:
        """The product's price changes, newest first."""
        rows = self._con().execute(
            "SELECT product_id, old_price, new_price, currency, actor, at, suggestion_id, rule "
            "FROM price_history WHERE product_id = ? ORDER BY id DESC LIMIT ?",
            (product_id, int(limit))).fetchall()
        return [PriceChange(**dict(r)) for r in rows]

    def lowest_price(self, product_id: str, days: int = 30, now: datetime | None = None) -> float | None:
        """The lowest price the product had over the last ``days`` days (the reference a
        price reduction must be shown against under EU price-indication rules), counting the
        price in force when the window opened; None when the book has no price for it."""
        now = now or datetime.now(UTC)
        since = (now - timedelta(days=days)).isoformat(timespec="seconds")
        con = self._con()
        rows = con.execute("SELECT new_price FROM price_history WHERE product_id = ? AND at >= ?",
                           (product_id, since)).fetchall()
        before = con.execute("SELECT new_price, old_price FROM price_history WHERE product_id = ? "
                             "AND at < ? ORDER BY id DESC LIMIT 1", (product_id, since)).fetchone()
        first = con.execute("SELECT old_price FROM price_history WHERE product_id = ? AND at >= ? "
                            "ORDER BY id LIMIT 1", (product_id, since)).fetchone()
        prices = [float(r["new_price"]) for r in rows]
        if before is not None:
            prices.append(float(before["new_price"]))
        elif first is not None and first["old_price"] is not None:
            prices.append(float(first["old_price"]))  # the price in force before the first change
        return min(prices) if prices else None

    # ------------------------------------------------------------------ suggestions
    def apply(self, s: Suggestion, *, actor: str, force: bool = False,
              price: float | None = None) -> Applied | Queued:
        """Apply suggestion ``s`` (or ``price`` for it): at once when the policy allows it or
        ``force`` (an approver's own decision), else queue it for approval."""
        if not s.product_id:
            raise ValueError("product_id: only catalog products have a price list entry")
        new = _price("price", price if price is not None else s.recommended_price)
        old = self.current_price(s.product_id)
        old = old if old is not None else s.current_price
        why = None if force else self.policy.needs_approval(old, new, s.confidence, s.abstain)
        if why is None:
            rule = "approver" if force else "auto-apply policy"
            change = self.set_price(s.product_id, new, actor=actor, rule=rule, currency=s.currency,
                                    suggestion_id=s.suggestion_id, old_price=old)
            return Applied(change)
        with self._tx() as con:
            pending = con.execute("SELECT id FROM approvals WHERE product_id = ? AND status = 'pending'",
                                  (s.product_id,)).fetchall()
            for r in pending:  # a newer suggestion replaces the one waiting
                con.execute("UPDATE approvals SET status = 'rejected', decided_by = ?, decided_at = ?, "
                            "decision_note = 'replaced by a newer suggestion' WHERE id = ?",
                            (actor, now_iso(), r["id"]))
            cur = con.execute(
                "INSERT INTO approvals (product_id, suggestion_id, currency, old_price, proposed_price, "
                "confidence, reason, status, requested_by, requested_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
                (s.product_id, s.suggestion_id, s.currency, old, new, float(s.confidence), why, actor,
                 now_iso()))
            approval_id = int(cur.lastrowid)
        return Queued(self.approval(approval_id))

    def approval(self, approval_id: int) -> Approval:
        row = self._con().execute("SELECT * FROM approvals WHERE id = ?", (int(approval_id),)).fetchone()
        if row is None:
            raise UnknownApproval(approval_id)
        d = dict(row)
        d["approval_id"] = d.pop("id")
        return Approval(**d)

    def approvals(self, status: Status | None = "pending", limit: int = 100,
                  offset: int = 0) -> list[Approval]:
        """The queue (oldest first) or decided approvals of one status."""
        sql, args = "SELECT id FROM approvals", []
        if status is not None:
            sql += " WHERE status = ?"
            args.append(status)
        rows = self._con().execute(sql + " ORDER BY id LIMIT ? OFFSET ?",
                                   (*args, int(limit), int(offset))).fetchall()
        return [self.approval(r["id"]) for r in rows]

    def approve(self, approval_id: int, *, actor: str, price: float | None = None,
                note: str | None = None) -> PriceChange:
        """Apply a queued change (at ``price`` when the approver edits it)."""
        a = self._open(approval_id)
        final = _price("price", price if price is not None else a.proposed_price)
        with self._tx() as con:
            if con.execute("SELECT status FROM approvals WHERE id = ?", (a.approval_id,)).fetchone()[0] \
                    != "pending":
                raise ApprovalClosed(f"approval {approval_id} is already decided")
            change = self._set(con, a.product_id, final, actor, "approved" if price is None else "approved (edited)",
                               a.currency, a.suggestion_id, a.old_price)
            con.execute("UPDATE approvals SET status = 'approved', decided_by = ?, decided_at = ?, "
                        "decision_note = ?, final_price = ? WHERE id = ?",
                        (actor, change.at, note, final, a.approval_id))
        return change

    def reject(self, approval_id: int, *, actor: str, reason: str) -> Approval:
        """Close a queued change without applying it; the reason is kept."""
        if not reason or not reason.strip():
            raise ValueError("reason: say why the change is rejected")
        a = self._open(approval_id)
        with self._tx() as con:
            n = con.execute("UPDATE approvals SET status = 'rejected', decided_by = ?, decided_at = ?, "
                            "decision_note = ? WHERE id = ? AND status = 'pending'",
                            (actor, now_iso(), reason.strip()[:2000], a.approval_id)).rowcount
        if n != 1:
            raise ApprovalClosed(f"approval {approval_id} is already decided")
        return self.approval(a.approval_id)

    def _open(self, approval_id: int) -> Approval:
        a = self.approval(approval_id)
        if a.status != "pending":
            raise ApprovalClosed(f"approval {approval_id} is already {a.status}")
        return a
