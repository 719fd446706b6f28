"""Thumbs up/down (+ comment) on a suggestion, as both the Chat and the Workspace tab take it.

Use::

    from assistant.web.feedback import save_feedback
    message = save_feedback(service.store, suggestion_id, liked=True, comment="fair")

The answer is the line the tab shows: a confirmation, or why nothing was saved (no suggestion
yet, an id the store does not know, a comment the store refuses), never an exception.
"""
from __future__ import annotations

from pydantic import ValidationError

from assistant.suggestion_store import FeedbackIn, SuggestionStore, UnknownSuggestion


def save_feedback(store: SuggestionStore, suggestion_id: str | None, liked: bool,
                  comment: str | None) -> str:
    """Store thumbs up/down (+ comment) for a suggestion; returns the confirmation to show."""
    if not suggestion_id:
        return "There is no suggestion to rate yet."
    comment = (comment or "").strip() or None
    try:
        fb = store.add_feedback(FeedbackIn(
            suggestion_id=suggestion_id, verdict="accepted" if liked else "rejected", comment=comment))
    except UnknownSuggestion:
        return f"Could not save feedback: suggestion `{suggestion_id}` is not in the store."
    except ValidationError as exc:
        err = exc.errors()[0]
        return f"Could not save feedback: {'.'.join(map(str, err['loc']))}: {err['msg']}"
    thumb = "✓ (good)" if liked else "✗ (not right)"
    extra = " with your comment" if comment else ""
    return f"✓ Thanks — feedback {thumb} saved{extra} for suggestion `{fb.suggestion_id}`."
