"""``/v1/outcomes``: record what happened (sold price, units, date, optional suggestion id) and
list what was recorded.

Use::

    curl -X POST -H "X-API-Key: $KEY" -H 'Content-Type: application/json' localhost:8000/v1/outcomes \\
         -d '{"outcomes": [{"product_id": "B07JW9H4J1", "sold_price": 1299, "units": 2,
                            "date": "2023-03-14", "suggestion_id": "6f1c..."}]}'
    curl -H "X-API-Key: $KEY" 'localhost:8000/v1/outcomes?since=2023-03-01&limit=100'

Included by :func:`assistant.http.app.create_app` behind the API-key dependency. A batch is
all or nothing unless ``"partial": true``: any refused row answers 422 naming it
(``field`` = ``outcomes.<row>.<field>``, every refused row in ``rows``) and stores nothing.
After a stored batch the monitoring report is recomputed in the background and new alerts
go out through the alert channel (:mod:`assistant.learning`).
"""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from assistant.http.deps import get_service
from assistant.http.errors import error_response
from assistant.http.schemas import ErrorBody
from assistant.learning import Learning, learning_for
from assistant.outcomes import MAX_ROWS, Outcome, OutcomeIn
from assistant.service import PricingService


class OutcomeBatch(BaseModel):
    outcomes: list[OutcomeIn] = Field(min_length=1, max_length=MAX_ROWS)
    partial: bool = Field(False, description="store the valid rows even when others are refused")


class RowErrorOut(BaseModel):
    row: int
    field: str | None = None
    error: str


class OutcomesStored(BaseModel):
    stored: int
    outcomes: list[Outcome]
    errors: list[RowErrorOut] = Field(default_factory=list, description="refused rows "
                                      "(only with partial: true)")


class OutcomeRowsError(BaseModel):
    error: str
    field: str | None = None
    rows: list[RowErrorOut] | None = None


class OutcomeOut(BaseModel):
    outcome_id: str
    product_id: str
    date: dt.date
    sold_price: float
    units: int
    suggestion_id: str | None = None
    currency: str | None = None
    category_path: str | None = None
    model_version: str | None = None
    pred_price: float | None = None
    pred_low: float | None = None
    pred_high: float | None = None
    feedback_verdict: str | None = None
    feedback_price: float | None = None


class OutcomeList(BaseModel):
    total: int
    outcomes: list[OutcomeOut]


router = APIRouter(tags=["learning"])
log = logging.getLogger("pricing.learning")


def get_learning(service: PricingService = Depends(get_service)) -> Learning:
    return learning_for(service)


@router.post("/v1/outcomes", response_model=OutcomesStored, status_code=201,
             responses={401: {"model": ErrorBody}, 422: {"model": OutcomeRowsError}})
async def post_outcomes(batch: OutcomeBatch, background: BackgroundTasks,
                        learning: Learning = Depends(get_learning)) -> Any:
    result = await run_in_threadpool(_record, learning, batch)
    rows = [RowErrorOut(**e.as_dict()).model_dump() for e in result.errors]
    if not result.stored and result.errors:
        first = result.errors[0]
        fld = f"outcomes.{first.row}.{first.field}" if first.field else f"outcomes.{first.row}"
        n = len(batch.outcomes)
        return error_response(422, f"{len(result.errors)} of {n} outcome(s) refused, nothing "
                                   f"stored; first: row {first.row}: {first.error}", fld, rows=rows)
    if result.stored:
        background.add_task(_check, learning)
    return JSONResponse(status_code=201, content=OutcomesStored(
        stored=len(result.stored), outcomes=result.stored, errors=rows).model_dump(mode="json"))


def _check(learning: Learning) -> None:
    try:
        learning.check()
    except Exception:  # noqa: BLE001 - the batch is stored; monitoring retries on the next one
        log.exception("monitoring after POST /v1/outcomes failed")


def _record(learning: Learning, batch: OutcomeBatch) -> Any:
    return learning.record(batch.outcomes, partial=batch.partial, check=False)


@router.get("/v1/outcomes", response_model=OutcomeList, responses={401: {"model": ErrorBody}})
def list_outcomes(since: dt.date | None = Query(None, description="first date (inclusive)"),
                  until: dt.date | None = Query(None, description="last date (exclusive)"),
                  limit: int = Query(100, ge=1, le=MAX_ROWS, description="the latest this many"),
                  learning: Learning = Depends(get_learning)) -> OutcomeList:
    frame = learning.outcomes.frame(since=since, until=until, limit=limit)
    recs = []
    for r in frame.to_dict("records"):
        r = {k: (None if _nan(v) else v) for k, v in r.items()}
        r["date"] = r["date"].date()
        recs.append(OutcomeOut.model_validate(r))
    return OutcomeList(total=learning.outcomes.count(), outcomes=recs[::-1])


def _nan(v: Any) -> bool:
    return isinstance(v, float) and v != v
