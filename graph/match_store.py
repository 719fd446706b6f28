"""Matching proposals and curator labels, kept in the graph's SQLite store.

Use::

    from graph.match_store import MatchStore, Proposal
    ms = MatchStore(store.conn)                         # creates the tables once
    pid = ms.upsert(Proposal(run_id="r1", competitor="Flipkart", listing_key="url:...",
                             listing={...}, product_id="B07X", score=0.97, rank=1,
                             features={"code_shared": 2.1}, status="pending"))
    ms.queue(competitor="Flipkart")                     # pending proposals, best first
    ms.decide(pid, "confirmed", actor="alice", audit_id=12)
    ms.add_label("Flipkart", "url:...", "B07X", 1, listing={...}, product={...}, actor="alice")
    ms.is_rejected("Flipkart", "url:...", "B07X")      # True after a curator's rejection

Two tables next to the graph (same file, so a proposal can name the audit entry of the link
it made):

- ``match_proposals``: one row per (competitor, listing, catalog product) the matcher scored
  high enough to link or to ask about: the listing as read (JSON), the score, the features
  that decided it (JSON: feature -> contribution), ``status`` (``linked``: linked
  automatically; ``pending``: waits for a curator; ``confirmed``, ``rejected``,
  ``superseded``: another product was confirmed for that listing; ``reverted``: the link's
  audit entry was reverted), who decided, when, and the audit id of the offer it wrote.
- ``match_labels``: what curators said about a pair (1 = same product, 0 = not), with the
  listing and a snapshot of the catalog product, so the next matcher trains on them even
  after the product changed. A rejection here is never proposed again.
"""
from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict, dataclass, field
from typing import Any

from graph.schema import now_iso

STATUSES = ("pending", "linked", "confirmed", "rejected", "superseded", "reverted")

_DDL = """
CREATE TABLE IF NOT EXISTS match_proposals (
    id          INTEGER PRIMARY KEY,
    run_id      TEXT NOT NULL,
    competitor  TEXT NOT NULL,
    listing_key TEXT NOT NULL,
    listing     TEXT NOT NULL,
    product_id  TEXT NOT NULL,
    score       REAL NOT NULL,
    rank        INTEGER NOT NULL,
    features    TEXT NOT NULL DEFAULT '{}',
    status      TEXT NOT NULL,
    decided_by  TEXT,
    decided_at  TEXT,
    audit_id    INTEGER,
    reason      TEXT,
    created_at  TEXT NOT NULL,
    UNIQUE (competitor, listing_key, product_id)
);
CREATE INDEX IF NOT EXISTS match_proposals_status ON match_proposals(status, score);
CREATE INDEX IF NOT EXISTS match_proposals_listing ON match_proposals(competitor, listing_key);
CREATE TABLE IF NOT EXISTS match_labels (
    competitor  TEXT NOT NULL,
    listing_key TEXT NOT NULL,
    product_id  TEXT NOT NULL,
    label       INTEGER NOT NULL CHECK (label IN (0, 1)),
    listing     TEXT NOT NULL,
    product     TEXT NOT NULL,
    actor       TEXT NOT NULL,
    at          TEXT NOT NULL,
    proposal_id INTEGER,
    PRIMARY KEY (competitor, listing_key, product_id)
);
"""


@dataclass
class Proposal:
    """One scored (listing, catalog product) pair and what became of it."""

    run_id: str
    competitor: str
    listing_key: str
    listing: dict[str, Any]
    product_id: str
    score: float
    rank: int
    features: dict[str, float] = field(default_factory=dict)
    status: str = "pending"
    decided_by: str | None = None
    decided_at: str | None = None
    audit_id: int | None = None
    reason: str | None = None
    created_at: str | None = None
    id: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Label:
    competitor: str
    listing_key: str
    product_id: str
    label: int
    listing: dict[str, Any]
    product: dict[str, Any]
    actor: str
    at: str
    proposal_id: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


_COLS = ("id", "run_id", "competitor", "listing_key", "listing", "product_id", "score", "rank",
         "features", "status", "decided_by", "decided_at", "audit_id", "reason", "created_at")


def _proposal(row: tuple) -> Proposal:
    d = dict(zip(_COLS, row))
    d["listing"] = json.loads(d["listing"])
    d["features"] = json.loads(d["features"])
    return Proposal(**d)


class MatchStore:
    """The two matching tables on an open SQLite connection of the graph store."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        conn.executescript(_DDL)

    # ------------------------------------------------------------------ proposals
    def upsert(self, p: Proposal) -> int:
        """Insert a proposal, or refresh the listing, score and features of the one already
        there for that (competitor, listing, product); returns its id. The status of an
        existing row is kept unless it was pending (then ``p.status`` applies)."""
        if p.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {p.status!r}")
        now = now_iso()
        row = self.conn.execute(
            "SELECT id, status FROM match_proposals WHERE competitor=? AND listing_key=? AND "
            "product_id=?", (p.competitor, p.listing_key, p.product_id)).fetchone()
        listing = json.dumps(p.listing, ensure_ascii=False, sort_keys=True)
        feats = json.dumps(p.features, sort_keys=True)
        with self.conn:
            if row is None:
                cur = self.conn.execute(
                    "INSERT INTO match_proposals (run_id, competitor, listing_key, listing, "
                    "product_id, score, rank, features, status, decided_by, decided_at, "
                    "audit_id, reason, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (p.run_id, p.competitor, p.listing_key, listing, p.product_id, float(p.score),
                     int(p.rank), feats, p.status, p.decided_by, p.decided_at, p.audit_id,
                     p.reason, p.created_at or now))
                return int(cur.lastrowid)
            pid, status = row
            if status == "pending":
                self.conn.execute(
                    "UPDATE match_proposals SET run_id=?, listing=?, score=?, rank=?, features=?, "
                    "status=?, decided_by=?, decided_at=?, audit_id=?, reason=? WHERE id=?",
                    (p.run_id, listing, float(p.score), int(p.rank), feats, p.status,
                     p.decided_by, p.decided_at, p.audit_id, p.reason, pid))
            else:
                self.conn.execute("UPDATE match_proposals SET run_id=?, listing=?, score=?, "
                                  "rank=?, features=? WHERE id=?",
                                  (p.run_id, listing, float(p.score), int(p.rank), feats, pid))
            return int(pid)

    def get(self, proposal_id: int) -> Proposal:
        row = self.conn.execute(f"SELECT {', '.join(_COLS)} FROM match_proposals WHERE id=?",
                                (int(proposal_id),)).fetchone()
        if row is None:
            raise KeyError(f"no match proposal #{proposal_id}")
        return _proposal(row)

    def find(self, *, competitor: str | None = None, status: str | None = None,
             listing_key: str | None = None, product_id: str | None = None,
             limit: int = 100, offset: int = 0) -> list[Proposal]:
        """Proposals filtered by the given fields, highest score first."""
        where, args = [], []
        for col, val in (("competitor", competitor), ("status", status),
                         ("listing_key", listing_key), ("product_id", product_id)):
            if val is not None:
                where.append(f"{col}=?")
                args.append(val)
        sql = f"SELECT {', '.join(_COLS)} FROM match_proposals"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY score DESC, id LIMIT ? OFFSET ?"
        return [_proposal(r) for r in self.conn.execute(sql, (*args, int(limit), int(offset)))]

    def queue(self, competitor: str | None = None, limit: int = 100,
              offset: int = 0) -> list[Proposal]:
        """Pending proposals (the curators' review queue), highest score first."""
        return self.find(competitor=competitor, status="pending", limit=limit, offset=offset)

    def counts(self, competitor: str | None = None) -> dict[str, int]:
        sql = "SELECT status, COUNT(*) FROM match_proposals"
        args: tuple = ()
        if competitor is not None:
            sql += " WHERE competitor=?"
            args = (competitor,)
        return {s: int(n) for s, n in self.conn.execute(sql + " GROUP BY status", args)}

    def link_of(self, competitor: str, listing_key: str) -> Proposal | None:
        """The listing's current link (status linked or confirmed), if any."""
        rows = self.conn.execute(
            f"SELECT {', '.join(_COLS)} FROM match_proposals WHERE competitor=? AND "
            f"listing_key=? AND status IN ('linked', 'confirmed') ORDER BY id DESC LIMIT 1",
            (competitor, listing_key)).fetchall()
        return _proposal(rows[0]) if rows else None

    def decide(self, proposal_id: int, status: str, *, actor: str, audit_id: int | None = None,
               reason: str | None = None) -> None:
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
        with self.conn:
            cur = self.conn.execute(
                "UPDATE match_proposals SET status=?, decided_by=?, decided_at=?, "
                "audit_id=COALESCE(?, audit_id), reason=COALESCE(?, reason) WHERE id=?",
                (status, actor, now_iso(), audit_id, reason, int(proposal_id)))
            if cur.rowcount == 0:
                raise KeyError(f"no match proposal #{proposal_id}")

    def supersede_others(self, competitor: str, listing_key: str, keep_id: int,
                         actor: str) -> int:
        """Close the listing's other pending proposals once one product is confirmed."""
        with self.conn:
            cur = self.conn.execute(
                "UPDATE match_proposals SET status='superseded', decided_by=?, decided_at=? "
                "WHERE competitor=? AND listing_key=? AND status='pending' AND id<>?",
                (actor, now_iso(), competitor, listing_key, int(keep_id)))
        return int(cur.rowcount)

    def mark_reverted(self, reverted_audit_ids: set[int]) -> int:
        """Proposals whose link's audit entry was reverted: status ``reverted``."""
        if not reverted_audit_ids:
            return 0
        ids = sorted(int(i) for i in reverted_audit_ids)
        marks = ",".join("?" * len(ids))
        with self.conn:
            cur = self.conn.execute(
                f"UPDATE match_proposals SET status='reverted' WHERE status IN "
                f"('linked', 'confirmed') AND audit_id IN ({marks})", ids)
        return int(cur.rowcount)

    # ------------------------------------------------------------------ labels
    def add_label(self, competitor: str, listing_key: str, product_id: str, label: int, *,
                  listing: dict, product: dict, actor: str,
                  proposal_id: int | None = None) -> None:
        """Record (or overwrite) a curator's verdict on a pair."""
        if label not in (0, 1):
            raise ValueError(f"label must be 0 or 1, got {label!r}")
        with self.conn:
            self.conn.execute(
                "INSERT OR REPLACE INTO match_labels (competitor, listing_key, product_id, label, "
                "listing, product, actor, at, proposal_id) VALUES (?,?,?,?,?,?,?,?,?)",
                (competitor, listing_key, product_id, int(label),
                 json.dumps(listing, ensure_ascii=False, sort_keys=True),
                 json.dumps(product, ensure_ascii=False, sort_keys=True), actor, now_iso(),
                 proposal_id))

    def is_rejected(self, competitor: str, listing_key: str, product_id: str) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM match_labels WHERE competitor=? AND listing_key=? AND product_id=? "
            "AND label=0", (competitor, listing_key, product_id)).fetchone()
        return row is not None

    def rejected_products(self, competitor: str, listing_key: str) -> set[str]:
        return {r[0] for r in self.conn.execute(
            "SELECT product_id FROM match_labels WHERE competitor=? AND listing_key=? AND "
            "label=0", (competitor, listing_key))}

    def labels(self, competitor: str | None = None) -> list[Label]:
        sql = ("SELECT competitor, listing_key, product_id, label, listing, product, actor, at, "
               "proposal_id FROM match_labels")
        args: tuple = ()
        if competitor is not None:
            sql += " WHERE competitor=?"
            args = (competitor,)
        out = []
        for r in self.conn.execute(sql + " ORDER BY at, competitor, listing_key", args):
            out.append(Label(r[0], r[1], r[2], int(r[3]), json.loads(r[4]), json.loads(r[5]),
                             r[6], r[7], r[8]))
        return out
