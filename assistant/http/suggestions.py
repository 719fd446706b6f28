"""``/v1/suggestions``: one suggestion, a batch (JSON or JSON Lines), a stored one by id.

Use::

    curl -X POST -H "X-API-Key: $KEY" -H 'Content-Type: application/json' \\
         localhost:8000/v1/suggestions -d '{"product_id": "B07JW9H4J1"}'
    curl -X POST ... localhost:8000/v1/suggestions/batch -d '{"items": [{"product_id": "B07"}]}'
    curl -H "X-API-Key: $KEY" localhost:8000/v1/suggestions/<suggestion_id>

Included by :func:`assistant.http.app.create_app` behind the API-key dependency.
"""
from __future__ import annotations

import time
from collections.abc import Iterator

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse

from assistant.guardrails import GuardrailConflict
from assistant.http.deps import ApiSettings, get_service, get_settings
from assistant.http.errors import ApiError, field_of
from assistant.http.schemas import (
    BatchItemResult,
    BatchRequest,
    BatchResponse,
    ErrorBody,
    SuggestionRequest,
)
from assistant.service import PricingService, UnknownProduct
from assistant.suggestion import Suggestion, SuggestOptions
from assistant.suggestion_store import UnknownSuggestion

ERRORS = {401: {"model": ErrorBody}, 404: {"model": ErrorBody}, 422: {"model": ErrorBody}}
BATCH_CHUNK = 64  # one vectorised model pass per chunk

router = APIRouter()


def options_of(req: SuggestionRequest, explain: bool | None = None) -> SuggestOptions:
    return SuggestOptions(explain=req.explain if explain is None else explain,
                          k_comparables=req.k_comparables, policy=req.policy,
                          inventory=req.inventory)


@router.post("/v1/suggestions", response_model=Suggestion, responses=ERRORS)
def create_suggestion(req: SuggestionRequest,
                      service: PricingService = Depends(get_service)) -> Suggestion:
    target = req.product if req.product is not None else req.product_id
    if target is None:
        raise ApiError(422, "give product_id or product", "product_id")
    try:
        return service.suggest(target, options_of(req))
    except UnknownProduct as exc:
        raise ApiError(404, f"unknown product_id {exc.args[0]!r}", "product_id") from None
    except GuardrailConflict as exc:
        raise ApiError(422, f"policy: {exc}", "policy") from None
    except ValueError as exc:  # out-of-range numbers found while applying the rules
        raise ApiError(422, str(exc), field_of(str(exc), "policy")) from None


@router.post("/v1/suggestions/batch", response_model=BatchResponse, responses=ERRORS, description=(
    "Suggestions for many products (vectorised). Limits: `batch_max_items` items "
    "(default 10,000), `batch_max_explained` with `explain: true` (default 20); a batch stops "
    "starting new items after the request deadline (default 60 s): the items not started "
    "answer an error beginning with `timeout:`, the others their suggestion."))
def create_batch(req: BatchRequest, service: PricingService = Depends(get_service),
                 settings: ApiSettings = Depends(get_settings)):
    cap = settings.batch_max_explained if req.explain else settings.batch_max_items
    if len(req.items) > cap:
        more = " with explain: true (each may call the LLM)" if req.explain else ""
        raise ApiError(422, f"items: a batch takes at most {cap:,} items{more}; got "
                            f"{len(req.items):,}; split it", "items")
    deadline = time.monotonic() + settings.deadline_s

    def timed_out(start: int, items: list[SuggestionRequest]) -> list[BatchItemResult]:
        return [BatchItemResult(index=start + j, error=(
                    f"timeout: not started within the request's {settings.deadline_s:g} s "
                    f"deadline; send it again")) for j in range(len(items))]

    def chunk(start: int, items: list[SuggestionRequest]) -> list[BatchItemResult]:
        if start > 0 and time.monotonic() > deadline:
            return timed_out(start, items)
        # errors stay with their item
        out: list[BatchItemResult | None] = [None] * len(items)
        todo = []
        for j, item in enumerate(items):
            target = item.product if item.product is not None else item.product_id
            if target is None:
                out[j] = BatchItemResult(index=start + j, error="give product_id or product")
            else:
                todo.append((j, target, options_of(item, req.explain)))
        results = service.suggest_batch([t for _, t, _ in todo], [o for _, _, o in todo])
        for (j, _t, _o), res in zip(todo, results):
            if isinstance(res, Exception):
                msg = (f"unknown product_id {res.args[0]!r}" if isinstance(res, UnknownProduct)
                       else f"policy: {res}" if isinstance(res, GuardrailConflict) else str(res))
                out[j] = BatchItemResult(index=start + j, error=msg)
            else:
                out[j] = BatchItemResult(index=start + j, suggestion=res)
        return out  # type: ignore[return-value]

    size = 1 if req.explain else BATCH_CHUNK  # explained items: the deadline is checked per item
    if req.stream:
        def lines() -> Iterator[str]:
            for start in range(0, len(req.items), size):
                for r in chunk(start, req.items[start:start + size]):
                    yield r.model_dump_json(exclude_none=True) + "\n"
        return StreamingResponse(lines(), media_type="application/x-ndjson")
    results: list[BatchItemResult] = []
    for start in range(0, len(req.items), size):
        results.extend(chunk(start, req.items[start:start + size]))
    return BatchResponse(results=results)


@router.get("/v1/suggestions/{suggestion_id}", response_model=Suggestion, responses=ERRORS)
def get_suggestion(suggestion_id: str, service: PricingService = Depends(get_service)) -> Suggestion:
    try:
        return service.store.get_suggestion(suggestion_id)
    except UnknownSuggestion:
        raise ApiError(404, f"unknown suggestion_id {suggestion_id!r}",
                       "suggestion_id") from None
