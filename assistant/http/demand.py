"""REST endpoints for demand what-ifs (issue #7), included by ``assistant.http.app.create_app``.

Use::

    GET /v1/products/bed1/what-if?price=42&cost=30
        -> {"product_id", "currency", "price", "units", "units_low", "units_high", "revenue",
            "revenue_low", "revenue_high", "profit", "profit_low", "profit_high",
            "extrapolated", "level", "period_days", "elasticity": {beta, low, high, ...}}
    GET /v1/products/bed1/what-if/curve?low=35&high=50&n=16&cost=30
        -> {"product_id", "currency", "elasticity": {...}, "points": [what-if, ...]}

Figures are expected values per period (``period_days``, a month for monthly history) with
``level`` intervals from the product's elasticity (``assistant.demand_advisor``). 404: the
product is not in the catalog; 422: it has no usable sales history (none, zero units, a single
month; or no sales table was loaded) or a number is out of range. Authentication is the app's:
``create_app`` includes this router with its API-key dependency.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Query

from assistant.demand_advisor import MAX_CURVE_POINTS, NoSalesHistory
from assistant.http.deps import get_service
from assistant.http.errors import ApiError, field_of
from assistant.http.schemas import CurveResponse, WhatIfResponse
from assistant.service import PricingService, UnknownProduct

MIN_PRICE = 0.01  # one minor unit, the smallest sellable price (as in the guardrails)
MAX_PRICE = 1e9  # far beyond any catalog price; keeps the demand curve's arithmetic finite
ERRORS = {404: {"description": "unknown product"},
          422: {"description": "no usable sales history, or bad input"}}

router = APIRouter(tags=["demand"])


def _call(fn: Callable[..., Any], product_id: str, *args: Any) -> Any:
    try:
        return fn(product_id, *args)
    except UnknownProduct:
        raise ApiError(404, f"unknown product_id {product_id!r}", "product_id") from None
    except NoSalesHistory as exc:
        raise ApiError(422, str(exc), "product_id") from None
    except ValueError as exc:
        raise ApiError(422, str(exc), field_of(str(exc))) from None


@router.get("/v1/products/{product_id}/what-if", response_model=WhatIfResponse, responses=ERRORS)
def what_if(product_id: str,
            price: float = Query(..., ge=MIN_PRICE, le=MAX_PRICE, description="price to try"),
            cost: float | None = Query(None, ge=0, le=MAX_PRICE,
                                       description="unit cost (default: the catalog's)"),
            service: PricingService = Depends(get_service)) -> WhatIfResponse:
    out = _call(service.what_if, product_id, price, cost)
    return WhatIfResponse(**out.model_dump(exclude={"cost"}))


@router.get("/v1/products/{product_id}/what-if/curve", response_model=CurveResponse,
            responses=ERRORS)
def what_if_curve(product_id: str,
                  low: float | None = Query(None, ge=MIN_PRICE, le=MAX_PRICE,
                                            description="default: lowest sold price - 10%"),
                  high: float | None = Query(None, ge=MIN_PRICE, le=MAX_PRICE,
                                             description="default: highest sold price + 10%"),
                  n: int = Query(21, ge=2, le=MAX_CURVE_POINTS),
                  cost: float | None = Query(None, ge=0, le=MAX_PRICE),
                  service: PricingService = Depends(get_service)) -> CurveResponse:
    out = _call(service.what_if_curve, product_id, low, high, n, cost)
    return CurveResponse(product_id=out.product_id, currency=out.currency,
                         elasticity=out.elasticity, points=out.points)
