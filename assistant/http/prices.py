"""Applying suggestions to the price list: apply, price history, the approval queue.

Use::

    curl -X POST -H "X-API-Key: $KEY" localhost:8000/v1/suggestions/<id>/apply      # or -d '{"price": 799}'
    curl -H "X-API-Key: $KEY" localhost:8000/v1/products/B07JW9H4J1/price-history
    curl -H "X-API-Key: $KEY" 'localhost:8000/v1/approvals?status=pending'
    curl -X POST -H "X-API-Key: $APPROVER" localhost:8000/v1/approvals/3/approve -d '{"price": 790}'
    curl -X POST -H "X-API-Key: $APPROVER" localhost:8000/v1/approvals/3/reject -d '{"reason": "..."}'

Applying answers 200 ``{"status": "applied", "change": ...}`` when the approval policy lets
the change through, else 202 ``{"status": "queued", "approval": ...}``. Any key may apply
and read; approving and rejecting need the ``approver`` role (403 otherwise). A decision is
also stored as feedback on the suggestion (an edited price or a rejection's reason), for the
model. Wherever a reduction is shown, ``lowest_price_30d`` gives the lowest price of the last
30 days (the EU price-indication reference). Included by
:func:`assistant.http.app.create_app` when it has a price book (``PRICING_PRICEBOOK_DB``).
"""
from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from assistant.http.deps import actor_of, approver_actor, get_service
from assistant.http.errors import error_response
from assistant.http.schemas import ErrorBody
from assistant.pricebook import Applied, Approval, ApprovalClosed, PriceBook, PriceChange, UnknownApproval
from assistant.service import PricingService
from assistant.suggestion_store import FeedbackIn, UnknownSuggestion

ERRORS = {401: {"model": ErrorBody}, 403: {"model": ErrorBody}, 404: {"model": ErrorBody},
          409: {"model": ErrorBody}, 422: {"model": ErrorBody}, 503: {"model": ErrorBody}}

router = APIRouter()


class ApplyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    price: float | None = Field(None, gt=0, le=1e9, description="apply this price instead of "
                                "the recommended one (still subject to the approval policy)")


class ApproveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    price: float | None = Field(None, gt=0, le=1e9, description="the approver's edited price")
    note: str | None = Field(None, max_length=2000)


class RejectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000, description="why; kept as feedback")


class ApprovalOut(Approval):
    """An approval as the API shows it: the book's own model plus the reduction reference."""

    lowest_price_30d: float | None = Field(None, description="lowest price of the last 30 days "
                                           "(shown with a reduction)")


class ApplyOut(BaseModel):
    status: Literal["applied", "queued"]
    change: PriceChange | None = None
    approval: ApprovalOut | None = None
    lowest_price_30d: float | None = None


class PriceHistoryOut(BaseModel):
    product_id: str
    current_price: float | None = Field(description="the applied price, else the catalog's")
    applied: bool = Field(description="whether the price comes from the price list")
    lowest_price_30d: float | None
    history: list[PriceChange]


class ApprovalsOut(BaseModel):
    status: str | None
    offset: int
    items: list[ApprovalOut]


def get_pricebook(request: Request) -> PriceBook | None:
    """The app's price book (``create_app(..., pricebook=...)``), or None."""
    return getattr(request.app.state, "pricebook", None)


def _no_book() -> JSONResponse:
    return error_response(503, "no price book configured: start the server with "
                               "PRICING_PRICEBOOK_DB to apply prices")


def _lowest(book: PriceBook, product_id: str, old: float | None) -> float | None:
    """The 30-day lowest price; with no history yet, the price in force (``old``)."""
    low = book.lowest_price(product_id)
    return low if low is not None else old


def _approval(book: PriceBook, a: Approval) -> ApprovalOut:
    low = _lowest(book, a.product_id, a.old_price) if a.old_price and a.proposed_price < a.old_price \
        else None
    return ApprovalOut(**a.model_dump(), lowest_price_30d=low)


@router.post("/v1/suggestions/{suggestion_id}/apply", response_model=ApplyOut, responses=ERRORS)
def apply_suggestion(suggestion_id: str, body: ApplyIn | None = None,
                     service: PricingService = Depends(get_service),
                     book: PriceBook | None = Depends(get_pricebook),
                     actor: str = Depends(actor_of)):
    if book is None:
        return _no_book()
    try:
        s = service.store.get_suggestion(suggestion_id)
    except UnknownSuggestion:
        return error_response(404, f"unknown suggestion_id {suggestion_id!r}", "suggestion_id")
    if not s.product_id:
        return error_response(422, "this suggestion is for an inline product: only catalog "
                                   "products have a price list entry", "product_id")
    try:
        r = book.apply(s, actor=actor, price=body.price if body else None)
    except ValueError as exc:
        return error_response(422, exc, "price")
    if isinstance(r, Applied):
        c = r.change
        low = _lowest(book, c.product_id, c.old_price) if c.old_price and c.new_price < c.old_price \
            else None
        return ApplyOut(status="applied", change=c, lowest_price_30d=low)
    out = ApplyOut(status="queued", approval=_approval(book, r.approval))
    out.lowest_price_30d = out.approval.lowest_price_30d  # type: ignore[union-attr]
    return JSONResponse(status_code=202, content=out.model_dump(mode="json"))


@router.get("/v1/products/{product_id}/price-history", response_model=PriceHistoryOut,
            responses=ERRORS)
def price_history(product_id: str, limit: int = Query(100, ge=1, le=1000),
                  service: PricingService = Depends(get_service),
                  book: PriceBook | None = Depends(get_pricebook)):
    if book is None:
        return _no_book()
    applied = book.current_price(product_id)
    history = book.history(product_id, limit=limit)
    catalog = None
    if product_id in service.products.index:
        p = service.products.at[product_id, "price"]
        catalog = None if p != p or p is None else float(p)  # NaN: no catalog price
    elif not history:
        return error_response(404, f"unknown product_id {product_id!r}", "product_id")
    return PriceHistoryOut(product_id=product_id, current_price=applied if applied is not None else catalog,
                           applied=applied is not None,
                           lowest_price_30d=book.lowest_price(product_id) if history else catalog,
                           history=history)


@router.get("/v1/approvals", response_model=ApprovalsOut, responses=ERRORS)
def list_approvals(status: Literal["pending", "approved", "rejected", "all"] = "pending",
                   limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0, le=10**9),
                   book: PriceBook | None = Depends(get_pricebook)):
    if book is None:
        return _no_book()
    st = None if status == "all" else status
    items = book.approvals(st, limit=limit, offset=offset)  # type: ignore[arg-type]
    return ApprovalsOut(status=st, offset=offset, items=[_approval(book, a) for a in items])


def _decide_errors(book: PriceBook | None, approval_id: int) -> JSONResponse | Approval:
    if book is None:
        return _no_book()
    try:
        a = book.approval(approval_id)
    except UnknownApproval:
        return error_response(404, f"unknown approval_id {approval_id}", "approval_id")
    if a.status != "pending":
        return error_response(409, f"approval {approval_id} is already {a.status}", "approval_id")
    return a


def _feedback(service: PricingService, fb: FeedbackIn) -> None:
    try:
        service.store.add_feedback(fb)
    except UnknownSuggestion:  # a suggestion from another store: the decision still stands
        pass


@router.post("/v1/approvals/{approval_id}/approve", response_model=PriceChange, responses=ERRORS)
def approve(approval_id: int = Path(ge=1, le=2**62), body: ApproveIn | None = None,
            service: PricingService = Depends(get_service),
            book: PriceBook | None = Depends(get_pricebook),
            actor: str = Depends(approver_actor)):
    a = _decide_errors(book, approval_id)
    if isinstance(a, JSONResponse):
        return a
    body = body or ApproveIn()
    try:
        change = book.approve(approval_id, actor=actor, price=body.price, note=body.note)  # type: ignore[union-attr]
    except ApprovalClosed as exc:  # decided by someone else meanwhile
        return error_response(409, exc, "approval_id")
    except ValueError as exc:
        return error_response(422, exc, "price")
    if body.price is not None:
        _feedback(service, FeedbackIn(suggestion_id=a.suggestion_id, verdict="edited",
                                      edited_price=change.new_price, comment=body.note))
    else:
        _feedback(service, FeedbackIn(suggestion_id=a.suggestion_id, verdict="accepted",
                                      comment=body.note))
    return change


@router.post("/v1/approvals/{approval_id}/reject", response_model=ApprovalOut, responses=ERRORS)
def reject(body: RejectIn, approval_id: int = Path(ge=1, le=2**62), service: PricingService = Depends(get_service),
           book: PriceBook | None = Depends(get_pricebook),
           actor: str = Depends(approver_actor)):
    a = _decide_errors(book, approval_id)
    if isinstance(a, JSONResponse):
        return a
    if not body.reason.strip():
        return error_response(422, "reason: say why the change is rejected", "reason")
    try:
        out = book.reject(approval_id, actor=actor, reason=body.reason)  # type: ignore[union-attr]
    except ApprovalClosed as exc:
        return error_response(409, exc, "approval_id")
    _feedback(service, FeedbackIn(suggestion_id=a.suggestion_id, verdict="rejected",
                                  comment=body.reason.strip()))
    return _approval(book, out)  # type: ignore[arg-type]
