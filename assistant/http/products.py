"""``/v1/products``: the catalog view, one product, its competitors' latest offers.

Use::

    curl -H "X-API-Key: $KEY" 'localhost:8000/v1/products?limit=10&offset=0'
    curl -H "X-API-Key: $KEY" 'localhost:8000/v1/products?underpriced_by=10&sort=-change_pct'
    curl -H "X-API-Key: $KEY" 'localhost:8000/v1/products?below_cost=true&status=pending'
    curl -H "X-API-Key: $KEY" localhost:8000/v1/products/B07JW9H4J1
    curl -H "X-API-Key: $KEY" localhost:8000/v1/products/B07JW9H4J1/competitors

The listing is :class:`assistant.catalog_view.CatalogView` (built at the first request):
``items`` carry current (applied or catalog) price, latest suggestion, change %, confidence,
cheapest competitor and status; ``product_ids`` the page's ids. Included by
:func:`assistant.http.app.create_app` behind the API-key dependency.
"""
from __future__ import annotations

import threading

from fastapi import APIRouter, Depends, Query, Request

from assistant.catalog_view import CatalogQuery, CatalogStatus, CatalogView, Sort
from assistant.http.deps import get_service
from assistant.http.errors import ApiError
from assistant.http.schemas import ErrorBody
from assistant.service import PricingService, UnknownProduct
from assistant.suggestion import CompetitorOfferOut

ERRORS = {401: {"model": ErrorBody}, 404: {"model": ErrorBody}, 422: {"model": ErrorBody}}

router = APIRouter()


_VIEW_LOCK = threading.Lock()


def get_catalog_view(request: Request) -> CatalogView:
    """The app's catalog view, built once per product table (the catalog table loads in
    about a second; a graph edit such as a catalog upload swaps the table in)."""
    state = request.app.state
    service = state.service
    with _VIEW_LOCK:
        if getattr(state, "catalog_view", None) is None or state.catalog_products is not service.products:
            state.catalog_products = service.products
            state.catalog_view = CatalogView(service.products, service.store,
                                             getattr(state, "pricebook", None))
    return state.catalog_view


@router.get("/v1/products", responses=ERRORS)
def list_products(limit: int = Query(100, ge=1, le=10000), offset: int = Query(0, ge=0, le=10**9),
                  underpriced_by: float | None = Query(None, ge=0, le=10000, description=(
                      "suggested price more than this many % above the current")),
                  overpriced_by: float | None = Query(None, ge=0, le=100, description=(
                      "suggested price more than this many % below the current")),
                  below_cost: bool = Query(False, description="current price below unit cost"),
                  undercut: bool = Query(False, description="a competitor sells for less"),
                  status: CatalogStatus | None = None, sort: Sort = "product_id",
                  view: CatalogView = Depends(get_catalog_view)) -> dict:
    page = view.query(CatalogQuery(underpriced_by=underpriced_by, overpriced_by=overpriced_by,
                                   below_cost=below_cost, undercut=undercut, status=status,
                                   sort=sort, limit=limit, offset=offset))
    return {"total": page.total, "offset": offset, "limit": limit,
            "product_ids": [r.product_id for r in page.items],
            "items": [r.model_dump() for r in page.items]}


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
