"""``/v1/monitoring``: how the served model does on recorded outcomes, whether its inputs drift,
what the change detectors and alerts say, and which model versions exist.

Use::

    curl -H "X-API-Key: $KEY" 'localhost:8000/v1/monitoring?window=7D&windows=12'

Included by :func:`assistant.http.app.create_app` behind the API-key dependency. The report
is :class:`assistant.monitoring.MonitoringReport` over the latest stored outcomes (see that
module for every figure's definition); ``windows`` keeps only the latest windows in the
answer. ``models`` lists the registry's versions when the server has a registry
(``PRICING_REGISTRY``), with the one being served.
"""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from assistant.http.outcomes import get_learning
from assistant.http.schemas import ErrorBody
from assistant.learning import Learning

router = APIRouter(tags=["learning"])


class WindowOut(BaseModel):
    start: str
    end: str
    n: int
    rmsle: float | None = None
    within_20: float | None = None
    coverage: float | None = None
    width: float | None = None
    bias: float | None = None
    category_js: float | None = None
    unseen_share: float | None = None
    price_psi: float | None = None
    embedding_shift: float | None = None
    feedback: dict[str, int] = Field(default_factory=dict)


class DetectionOut(BaseModel):
    detector: str
    stream: str
    segment: str
    index: int
    at: str
    before: float | None = None
    after: float | None = None
    worse: bool


class AlertOut(BaseModel):
    kind: str
    message: str
    at: str
    key: str
    severity: str


class SentAlertOut(BaseModel):
    key: str
    kind: str
    at: str | None = None
    message: str
    delivered: bool
    sent_at: str


class ModelOut(BaseModel):
    version: str
    status: str
    created_at: str | None = None
    data_hash: str | None = None
    test_rmsle: float | None = None
    gate: dict[str, Any] | None = None
    parent: str | None = None


class MonitoringOut(BaseModel):
    served_model: str
    n: int
    nominal_coverage: float
    coverage_band: tuple[float, float]
    overall: WindowOut | None = None
    windows: list[WindowOut]
    detections: list[DetectionOut]
    alerts: list[AlertOut]
    alerts_sent: list[SentAlertOut]
    models: list[ModelOut]
    watcher_error: str | None = None


@router.get("/v1/monitoring", response_model=MonitoringOut, responses={
    401: {"model": ErrorBody}, 422: {"model": ErrorBody}})
async def monitoring(
    window: str = Query("7D", pattern=r"^[1-9][0-9]{0,2}[DW]$",
                        description="window length: days (e.g. 7D) or weeks (e.g. 2W)"),
    windows: int = Query(26, ge=1, le=1000, description="the latest this many windows"),
    learning: Learning = Depends(get_learning),
) -> MonitoringOut:
    report = await run_in_threadpool(learning.report, window)
    models = [ModelOut(version=m.version, status=m.status, created_at=m.created_at,
                       data_hash=m.data_hash, gate=m.gate, parent=m.parent,
                       test_rmsle=(m.metrics.get("test") or {}).get("rmsle"))
              for m in learning.models()]
    return MonitoringOut(
        served_model=learning.service.model_version, n=report.n,
        nominal_coverage=report.nominal_coverage, coverage_band=report.band,
        overall=WindowOut.model_validate(report.overall.__dict__) if report.overall else None,
        windows=[WindowOut.model_validate(w.__dict__) for w in report.windows[-windows:]],
        detections=[DetectionOut.model_validate(d.__dict__) for d in report.detections],
        alerts=[AlertOut.model_validate(a.to_dict()) for a in report.alerts],
        alerts_sent=[SentAlertOut.model_validate(a) for a in learning.alert_log.recent()],
        models=models, watcher_error=learning.last_error)
