"""``/v1/feedback``: a merchant's verdict on a stored suggestion (accepted, edited, rejected).

Use::

    curl -X POST -H "X-API-Key: $KEY" -H 'Content-Type: application/json' \\
         localhost:8000/v1/feedback -d '{"suggestion_id": "...", "verdict": "edited",
                                         "edited_price": 799}'

Included by :func:`assistant.http.app.create_app` behind the API-key dependency.
"""
from __future__ import annotations

from fastapi import APIRouter, Depends

from assistant.http.deps import get_service
from assistant.http.errors import ApiError
from assistant.http.schemas import ErrorBody
from assistant.service import PricingService
from assistant.suggestion_store import Feedback, FeedbackIn, UnknownSuggestion

ERRORS = {401: {"model": ErrorBody}, 404: {"model": ErrorBody}, 422: {"model": ErrorBody}}

router = APIRouter()


@router.post("/v1/feedback", response_model=Feedback, status_code=201, responses=ERRORS)
def post_feedback(fb: FeedbackIn, service: PricingService = Depends(get_service)) -> Feedback:
    try:
        return service.store.add_feedback(fb)
    except UnknownSuggestion:
        raise ApiError(404, f"unknown suggestion_id {fb.suggestion_id!r}",
                       "suggestion_id") from None
