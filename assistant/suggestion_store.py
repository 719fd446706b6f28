"""SQLite store of suggestions and merchant feedback, for audit.

Use::

    store = SuggestionStore("runs/suggestions.sqlite")
    store.add_suggestion(suggestion)
    store.get_suggestion(suggestion_id)              # the stored Suggestion, evidence included
    store.add_feedback(FeedbackIn(suggestion_id=..., verdict="accepted"))

One connection per thread (reused) keeps it safe across the API's worker threads; WAL lets readers run
while a writer commits.
"""
from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from assistant.suggestion import Suggestion
from graph.contracts import MAX_PRICE
from graph.schema import now_iso

_SCHEMA = """
CREATE TABLE IF NOT EXISTS suggestions (
    id TEXT PRIMARY KEY,
    product_id TEXT,
    created_at TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS suggestions_product ON suggestions(product_id);
CREATE TABLE IF NOT EXISTS feedback (
    id TEXT PRIMARY KEY,
    suggestion_id TEXT NOT NULL REFERENCES suggestions(id),
    verdict TEXT NOT NULL,
    edited_price REAL,
    comment TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS feedback_suggestion ON feedback(suggestion_id);
"""


class UnknownSuggestion(KeyError):
    """Raised for a suggestion id the store has never seen."""


class FeedbackIn(BaseModel):
    model_config = ConfigDict(allow_inf_nan=False)  # 1e999 parses as inf: never stored

    suggestion_id: str = Field(min_length=1, max_length=100)
    verdict: Literal["accepted", "rejected", "edited"]
    edited_price: float | None = Field(default=None, gt=0, le=MAX_PRICE)
    comment: str | None = Field(default=None, max_length=5000)

    @model_validator(mode="after")
    def _edited_needs_price(self) -> FeedbackIn:
        if self.verdict == "edited" and self.edited_price is None:
            raise ValueError("edited_price is required when verdict is 'edited'")
        return self


class Feedback(FeedbackIn):
    feedback_id: str
    created_at: str


class SuggestionStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: list[sqlite3.Connection] = []
        with self._connect() as con:
            con.execute("PRAGMA journal_mode=WAL")
            con.executescript(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # One connection per thread, kept open: opening one per call cost ~3 ms of a ~20 ms
        # suggestion. WAL + synchronous=NORMAL: a commit survives a crash of this process
        # (not necessarily a power cut) without an fsync per suggestion.
        con = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(self.path, timeout=30, check_same_thread=True)
            con.execute("PRAGMA foreign_keys=ON")
            con.execute("PRAGMA synchronous=NORMAL")
            self._local.con = con
            with self._lock:
                self._all.append(con)
        with con:
            yield con

    def close(self) -> None:
        """Close every thread's connection (the store reopens on next use)."""
        with self._lock:
            for con in self._all:
                try:
                    con.close()
                except sqlite3.ProgrammingError:  # made in another thread: it goes with it
                    pass
            self._all.clear()
        self._local = threading.local()

    def add_suggestion(self, s: Suggestion) -> None:
        with self._connect() as con:
            con.execute("INSERT INTO suggestions(id, product_id, created_at, body) VALUES (?,?,?,?)",
                        (s.suggestion_id, s.product_id, s.created_at, s.model_dump_json()))

    def add_suggestions(self, items: list[Suggestion]) -> None:
        with self._connect() as con:
            con.executemany(
                "INSERT INTO suggestions(id, product_id, created_at, body) VALUES (?,?,?,?)",
                [(s.suggestion_id, s.product_id, s.created_at, s.model_dump_json()) for s in items])

    def get_suggestion(self, suggestion_id: str) -> Suggestion:
        with self._connect() as con:
            row = con.execute("SELECT body FROM suggestions WHERE id=?", (suggestion_id,)).fetchone()
        if row is None:
            raise UnknownSuggestion(suggestion_id)
        return Suggestion.model_validate_json(row[0])

    def add_feedback(self, fb: FeedbackIn) -> Feedback:
        out = Feedback(**fb.model_dump(), feedback_id=uuid.uuid4().hex, created_at=now_iso())
        with self._connect() as con:
            exists = con.execute("SELECT 1 FROM suggestions WHERE id=?", (fb.suggestion_id,)).fetchone()
            if exists is None:
                raise UnknownSuggestion(fb.suggestion_id)
            con.execute(
                "INSERT INTO feedback(id, suggestion_id, verdict, edited_price, comment, created_at)"
                " VALUES (?,?,?,?,?,?)",
                (out.feedback_id, out.suggestion_id, out.verdict, out.edited_price, out.comment,
                 out.created_at))
        return out

    def feedback_for(self, suggestion_id: str) -> list[Feedback]:
        with self._connect() as con:
            rows = con.execute(
                "SELECT id, suggestion_id, verdict, edited_price, comment, created_at FROM feedback"
                " WHERE suggestion_id=? ORDER BY rowid", (suggestion_id,)).fetchall()
        return [Feedback(feedback_id=r[0], suggestion_id=r[1], verdict=r[2], edited_price=r[3],
                         comment=r[4], created_at=r[5]) for r in rows]

    def counts(self) -> dict[str, int]:
        with self._connect() as con:
            return {t: con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                    for t in ("suggestions", "feedback")}

