"""``/v1/products``: the catalog's ids, one product, its competitors' latest offers.

Use::

    curl -H "X-API-Key: $KEY" 'localhost:8000/v1/products?limit=10&offset=0'
    curl -H "X-API-Key: $KEY" localhost:8000/v1/products/B07JW9H4J1
    curl -H "X-API-Key: $KEY" localhost:8000/v1/products/B07JW9H4J1/competitors

Included by :func:`assistant.http.app.create_app` behind the API-key dependency.
"""
from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from assistant.http.deps import get_service
from assistant.http.errors import ApiError
from assistant.http.schemas import ErrorBody
from assistant.service import PricingService, UnknownProduct
from assistant.suggestion import CompetitorOfferOut

ERRORS = {401: {"model": ErrorBody}, 404: {"model": ErrorBody}, 422: {"model": ErrorBody}}

router = APIRouter()


@router.get("/v1/products", responses=ERRORS)
def list_products(limit: int = Query(100, ge=1, le=10000), offset: int = Query(0, ge=0),
                  service: PricingService = Depends(get_service)) -> dict:
    ids = service.products.index[offset: offset + limit].tolist()
    return {"total": int(len(service.products)), "offset": offset, "product_ids": ids}


@router.get("/v1/products/{product_id}", responses=ERRORS)
def get_product(product_id: str, service: PricingService = Depends(get_service)) -> dict:
    try:
        return service.product(product_id)
    except UnknownProduct:
        raise ApiError(404, f"unknown product_id {product_id!r}", "product_id") from None


@router.get("/v1/products/{product_id}/competitors", response_model=list[CompetitorOfferOut],
            responses=ERRORS)
def get_competitors(product_id: str,
                    service: PricingService = Depends(get_service)) -> list[CompetitorOfferOut]:
    try:
        return service.competitors(product_id)
    except UnknownProduct:
        raise ApiError(404, f"unknown product_id {product_id!r}", "product_id") from None
