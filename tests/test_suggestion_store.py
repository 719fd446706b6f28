"""SuggestionStore: suggestions and feedback survive in SQLite and PostgreSQL (``store_location``,
a throwaway server), bad feedback is refused, and ``copy_into`` moves a store between them."""
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


def test_round_trip_and_reopen(store_location):
    path = store_location
    SuggestionStore(path).add_suggestion(_suggestion("a", 512.5))
    again = SuggestionStore(path)  # a new process would open it like this
    got = again.get_suggestion("a")
    assert got.recommended_price == 512.5 and got.interval.high == 600
    if not isinstance(path, str):
        assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_unknown_suggestion_and_feedback(store_location):
    store = SuggestionStore(store_location)
    with pytest.raises(UnknownSuggestion):
        store.get_suggestion("nope")
    with pytest.raises(UnknownSuggestion):
        store.add_feedback(FeedbackIn(suggestion_id="nope", verdict="accepted"))
    assert store.counts() == {"suggestions": 0, "feedback": 0}


def test_feedback_is_stored_in_order(store_location):
    store = SuggestionStore(store_location)
    assert store.latest_for("B0TEST") is None
    store.add_suggestion(_suggestion("a"))
    store.add_feedback(FeedbackIn(suggestion_id="a", verdict="accepted", comment="good"))
    store.add_feedback(FeedbackIn(suggestion_id="a", verdict="edited", edited_price=479.0))
    fb = store.feedback_for("a")
    assert [f.verdict for f in fb] == ["accepted", "edited"]
    assert fb[1].edited_price == 479.0 and fb[0].comment == "good"
    store.add_suggestion(_suggestion("b", 7.0))              # same product, same created_at
    assert store.latest_for("B0TEST").suggestion_id == "b"   # the later row wins


@pytest.mark.parametrize("bad", [
    {"suggestion_id": "a", "verdict": "maybe"},
    {"suggestion_id": "a", "verdict": "edited"},
    {"suggestion_id": "a", "verdict": "edited", "edited_price": -3},
    {"suggestion_id": "", "verdict": "accepted"},
])
def test_bad_feedback_rejected(bad):
    with pytest.raises(ValidationError):
        FeedbackIn(**bad)


def test_duplicate_id_keeps_the_first(store_location):
    store = SuggestionStore(store_location)
    store.add_suggestion(_suggestion("a", 100.0))
    with pytest.raises(sqlite3.IntegrityError):
        store.add_suggestion(_suggestion("a", 999.0))
    assert store.get_suggestion("a").recommended_price == 100.0


def test_concurrent_writers(store_location):
    store = SuggestionStore(store_location)
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
    assert SuggestionStore(store_location).get_suggestion("3-19").suggestion_id == "3-19"
    store.close()
    assert store.counts()["suggestions"] == 80



def test_copy_into_another_backend_keeps_every_row_in_order(tmp_path, pg_url):
    src = SuggestionStore(tmp_path / "s.sqlite")
    for i in range(5):
        src.add_suggestion(_suggestion(f"s{i}", 100.0 + i))
    src.add_feedback(FeedbackIn(suggestion_id="s1", verdict="rejected", comment="too high"))
    src.add_feedback(FeedbackIn(suggestion_id="s1", verdict="edited", edited_price=90.0))
    dst = SuggestionStore(pg_url)
    assert src.copy_into(dst) == {"suggestions": 5, "feedback": 2}
    assert dst.get_suggestion("s3").recommended_price == 103.0
    assert [f.verdict for f in dst.feedback_for("s1")] == ["rejected", "edited"]
    assert dst.latest_for("B0TEST").suggestion_id == "s4"
    with pytest.raises(ValueError, match="already holds"):
        src.copy_into(dst)                                 # never merged into a used store
    back = SuggestionStore(tmp_path / "back.sqlite")
    assert dst.copy_into(back) == {"suggestions": 5, "feedback": 2}
