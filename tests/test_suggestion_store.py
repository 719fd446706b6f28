"""SuggestionStore: suggestions and feedback survive in SQLite and bad feedback is refused."""
from __future__ import annotations

import sqlite3
import threading

import pytest
from pydantic import ValidationError

from assistant.suggestion import Evidence, Interval, Suggestion
from assistant.suggestion_store import FeedbackIn, SuggestionStore, UnknownSuggestion


def _suggestion(sid: str, price: float = 499.0) -> Suggestion:
    return Suggestion(suggestion_id=sid, product_id="B0TEST", title="boAt Rockerz 450",
                      currency="INR", recommended_price=price, model_price=price,
                      interval=Interval(low=400, high=600, coverage=0.8), evidence=Evidence(),
                      confidence=0.7, model_version="test", created_at="2026-11-28T00:00:00+00:00")


def test_round_trip_and_reopen(tmp_path):
    path = tmp_path / "s.sqlite"
    SuggestionStore(path).add_suggestion(_suggestion("a", 512.5))
    again = SuggestionStore(path)  # a new process would open it like this
    got = again.get_suggestion("a")
    assert got.recommended_price == 512.5 and got.interval.high == 600
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_unknown_suggestion_and_feedback(tmp_path):
    store = SuggestionStore(tmp_path / "s.sqlite")
    with pytest.raises(UnknownSuggestion):
        store.get_suggestion("nope")
    with pytest.raises(UnknownSuggestion):
        store.add_feedback(FeedbackIn(suggestion_id="nope", verdict="accepted"))
    assert store.counts() == {"suggestions": 0, "feedback": 0}


def test_feedback_is_stored_in_order(tmp_path):
    store = SuggestionStore(tmp_path / "s.sqlite")
    store.add_suggestion(_suggestion("a"))
    store.add_feedback(FeedbackIn(suggestion_id="a", verdict="accepted", comment="good"))
    store.add_feedback(FeedbackIn(suggestion_id="a", verdict="edited", edited_price=479.0))
    fb = store.feedback_for("a")
    assert [f.verdict for f in fb] == ["accepted", "edited"]
    assert fb[1].edited_price == 479.0 and fb[0].comment == "good"


@pytest.mark.parametrize("bad", [
    {"suggestion_id": "a", "verdict": "maybe"},
    {"suggestion_id": "a", "verdict": "edited"},
    {"suggestion_id": "a", "verdict": "edited", "edited_price": -3},
    {"suggestion_id": "", "verdict": "accepted"},
])
def test_bad_feedback_rejected(bad):
    with pytest.raises(ValidationError):
        FeedbackIn(**bad)


def test_duplicate_id_keeps_the_first(tmp_path):
    store = SuggestionStore(tmp_path / "s.sqlite")
    store.add_suggestion(_suggestion("a", 100.0))
    with pytest.raises(sqlite3.IntegrityError):
        store.add_suggestion(_suggestion("a", 999.0))
    assert store.get_suggestion("a").recommended_price == 100.0


def test_concurrent_writers(tmp_path):
    store = SuggestionStore(tmp_path / "s.sqlite")
    errors: list[Exception] = []

    def write(t: int) -> None:
        try:
            store.add_suggestions([_suggestion(f"{t}-{i}") for i in range(20)])
        except Exception as exc:  # pragma: no cover - surfaced by the assert
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors and store.counts()["suggestions"] == 80
    # each thread wrote through its own kept-open connection: all visible to a fresh store,
    # and the store reopens after close()
    assert SuggestionStore(tmp_path / "s.sqlite").get_suggestion("3-19").suggestion_id == "3-19"
    store.close()
    assert store.counts()["suggestions"] == 80

