"""``/healthz`` (the process answers) and ``/readyz`` (the model is loaded); no key needed.

Use::

    curl localhost:8000/healthz     # {"status": "ok"}
    curl localhost:8000/readyz      # {"status": "ready", "model_version": ...} or 503
"""
from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from assistant.http.deps import get_service
from assistant.http.schemas import ErrorBody
from assistant.service import PricingService

router = APIRouter()


@router.get("/healthz")
def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"model": ErrorBody}})
def readyz(service: PricingService = Depends(get_service)) -> JSONResponse:
    ok = service.ready()
    return JSONResponse(status_code=200 if ok else 503,
                        content={"status": "ready" if ok else "loading",
                                 "model_version": service.model_version if ok else None})
