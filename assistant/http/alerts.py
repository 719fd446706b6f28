"""``/v1/alerts``: the alerts sent so far, newest first (pricing jobs and monitoring).

Use::

    curl -H "X-API-Key: $KEY" 'localhost:8000/v1/alerts?kind=competitor_undercut&limit=20'

Kinds: ``competitor_undercut``, ``competitor_below_map``, ``price_below_cost``, ``run_failed``
(``pricing schedule``, :mod:`assistant.schedule`) and the monitoring ones (``coverage_band``,
``input_drift``, ``detector_*``). Each alert is listed once, with whether its channel
(log, file, webhook) took it, its severity and its details (product, competitor, prices).
Included by :func:`assistant.http.app.create_app` behind the API-key dependency; any key may
read.
"""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from assistant.http.outcomes import get_learning
from assistant.learning import Learning

router = APIRouter(tags=["learning"])


class AlertItemOut(BaseModel):
    key: str
    kind: str
    severity: str
    at: str | None = Field(None, description="the date of what triggered it (an offer, a run)")
    message: str
    delivered: bool = Field(description="whether the alert channel took it")
    sent_at: str
    details: dict[str, Any] = Field(default_factory=dict)


class AlertsOut(BaseModel):
    total: int = Field(description="alerts of this kind (all kinds without a filter)")
    offset: int
    items: list[AlertItemOut]


@router.get("/v1/alerts", response_model=AlertsOut)
def list_alerts(kind: str | None = Query(None, max_length=100, pattern=r"^[\w.-]+$",
                                         description="only this kind"),
                limit: int = Query(50, ge=1, le=1000), offset: int = Query(0, ge=0, le=10**9),
                learning: Learning = Depends(get_learning)) -> AlertsOut:
    log = learning.alert_log
    items = log.recent(limit, kind=kind, offset=offset)
    return AlertsOut(total=log.count(kind), offset=offset,
                     items=[AlertItemOut.model_validate(a) for a in items])
