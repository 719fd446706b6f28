"""REST API for explained price suggestions (FastAPI). OpenAPI at /openapi.json, docs at /docs.

Run::

    pricing serve --artifact runs/model --port 8000          # or:
    uvicorn --factory assistant.http.app:app_from_env

Authentication: send ``X-API-Key: <key>``. Keys come from ``PRICING_API_KEYS`` as
``key:role`` pairs separated by commas (roles: ``merchant`` may read and ask for suggestions,
``curator`` may also edit the graph). ``PRICING_AUTH_DISABLED=1`` turns authentication off
explicitly; with neither set, the server refuses to start rather than run open by accident.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Literal

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, Field

from assistant.guardrails import GuardrailConflict, GuardrailPolicy
from assistant.http.demand import demand_router
from assistant.http.graph import graph_router
from assistant.service import PricingService, UnknownProduct
from assistant.suggestion import CompetitorOfferOut, Inventory, Suggestion, SuggestOptions
from assistant.suggestion_store import Feedback, FeedbackIn, UnknownSuggestion
from graph.contracts import ProductIn

Role = Literal["merchant", "curator"]


class ApiSettings(BaseModel):
    api_keys: dict[str, Role] = Field(default_factory=dict)
    auth_disabled: bool = False

    @classmethod
    def from_env(cls) -> ApiSettings:
        keys: dict[str, Role] = {}
        for pair in filter(None, (p.strip() for p in os.environ.get("PRICING_API_KEYS", "").split(","))):
            key, _, role = pair.partition(":")
            if role not in ("merchant", "curator"):
                raise ValueError(f"PRICING_API_KEYS: role of key {key[:4]}… must be merchant or curator")
            keys[key] = role  # type: ignore[assignment]
        disabled = os.environ.get("PRICING_AUTH_DISABLED", "") in ("1", "true", "yes")
        if not keys and not disabled:
            raise ValueError("no API keys configured: set PRICING_API_KEYS=key:role,... "
                             "or PRICING_AUTH_DISABLED=1 to run without authentication")
        return cls(api_keys=keys, auth_disabled=disabled)


class SuggestionRequest(BaseModel):
    product_id: str | None = Field(default=None, max_length=200,
                                   description="a catalog product; or give `product` inline")
    product: ProductIn | None = None
    explain: bool = True
    k_comparables: int = Field(default=5, ge=0, le=50)
    policy: GuardrailPolicy = Field(default_factory=GuardrailPolicy)
    inventory: Inventory | None = Field(
        default=None,
        description="optional clearance rule: `{stock, days}` asks for the price expected to "
                    "sell `stock` units within `days` days instead of the profit optimum. Used "
                    "in demand-aware mode only (a catalog product with sales history and a unit "
                    "cost); otherwise the suggestion stays in market mode and `mode_reason` "
                    "says why. The evidence's `elasticity` then has `rule: clearance`, "
                    "`clearance_price`, `expected_leftover` and `days_to_sell_out`.")


class BatchRequest(BaseModel):
    items: list[SuggestionRequest] = Field(min_length=1, max_length=10000)
    explain: bool = False
    stream: bool = Field(default=False, description="answer as JSON Lines, one result per line")


class BatchItemResult(BaseModel):
    index: int
    suggestion: Suggestion | None = None
    error: str | None = None


class BatchResponse(BaseModel):
    results: list[BatchItemResult]


class ErrorBody(BaseModel):
    error: str
    field: str | None = None


_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)


def create_app(service: PricingService, settings: ApiSettings) -> FastAPI:
    app = FastAPI(title="Pricing assistant API", version="1.0",
                  description="Explained, guardrailed price suggestions backed by a knowledge graph.")
    app.state.service = service
    app.state.settings = settings

    def role_of(key: str | None = Security(_key_header)) -> Role:
        if settings.auth_disabled:
            return "curator"
        if not key:
            raise HTTPException(401, "missing X-API-Key header")
        role = settings.api_keys.get(key)
        if role is None:
            raise HTTPException(401, "unknown API key")
        return role

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errs = exc.errors()
        first = errs[0] if errs else {}
        field = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body",))
        return JSONResponse(status_code=422, content={
            "error": f"{field or 'request'}: {first.get('msg', 'invalid input')}",
            "field": field or None,
            "details": [{"field": ".".join(str(p) for p in e.get("loc", ())), "msg": e.get("msg")}
                        for e in errs][:20]})

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse(status_code=exc.status_code, content={"error": exc.detail},
                            headers=getattr(exc, "headers", None))

    def _options(req: SuggestionRequest, explain: bool | None = None) -> SuggestOptions:
        return SuggestOptions(explain=req.explain if explain is None else explain,
                              k_comparables=req.k_comparables, policy=req.policy,
                              inventory=req.inventory)

    def _run(req: SuggestionRequest, explain: bool | None = None) -> Suggestion:
        target = req.product if req.product is not None else req.product_id
        if target is None:
            raise HTTPException(422, "give product_id or product")
        try:
            return service.suggest(target, _options(req, explain))
        except UnknownProduct as exc:
            raise HTTPException(404, f"unknown product_id {exc.args[0]!r}") from None
        except GuardrailConflict as exc:
            raise HTTPException(422, f"policy: {exc}") from None
        except ValueError as exc:  # out-of-range numbers found while applying the rules
            raise HTTPException(422, str(exc)) from None

    err = {401: {"model": ErrorBody}, 404: {"model": ErrorBody}, 422: {"model": ErrorBody}}

    app.state.role_of = role_of
    app.include_router(graph_router(service, role_of))  # /v1/graph: curation

    @app.get("/healthz")
    def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz", responses={503: {"model": ErrorBody}})
    def readyz() -> JSONResponse:
        ok = service.ready()
        return JSONResponse(status_code=200 if ok else 503,
                            content={"status": "ready" if ok else "loading",
                                     "model_version": service.model_version if ok else None})

    @app.post("/v1/suggestions", response_model=Suggestion, responses=err)
    def create_suggestion(req: SuggestionRequest, _: Role = Depends(role_of)) -> Suggestion:
        return _run(req)

    @app.post("/v1/suggestions/batch", response_model=BatchResponse, responses=err)
    def create_batch(req: BatchRequest, _: Role = Depends(role_of)):
        def chunk(start: int, items: list[SuggestionRequest]) -> list[BatchItemResult]:
            # one vectorised model pass per chunk; errors stay with their item
            out: list[BatchItemResult | None] = [None] * len(items)
            todo = []
            for j, item in enumerate(items):
                target = item.product if item.product is not None else item.product_id
                if target is None:
                    out[j] = BatchItemResult(index=start + j, error="give product_id or product")
                else:
                    todo.append((j, target, _options(item, req.explain)))
            results = service.suggest_batch([t for _, t, _ in todo], [o for _, _, o in todo])
            for (j, _t, _o), res in zip(todo, results):
                if isinstance(res, Exception):
                    msg = (f"unknown product_id {res.args[0]!r}" if isinstance(res, UnknownProduct)
                           else f"policy: {res}" if isinstance(res, GuardrailConflict) else str(res))
                    out[j] = BatchItemResult(index=start + j, error=msg)
                else:
                    out[j] = BatchItemResult(index=start + j, suggestion=res)
            return out  # type: ignore[return-value]

        size = 64
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

    @app.get("/v1/suggestions/{suggestion_id}", response_model=Suggestion, responses=err)
    def get_suggestion(suggestion_id: str, _: Role = Depends(role_of)) -> Suggestion:
        try:
            return service.store.get_suggestion(suggestion_id)
        except UnknownSuggestion:
            raise HTTPException(404, f"unknown suggestion_id {suggestion_id!r}") from None

    @app.get("/v1/products", responses=err)
    def list_products(limit: int = Query(100, ge=1, le=10000), offset: int = Query(0, ge=0),
                      _: Role = Depends(role_of)) -> dict:
        ids = service.products.index[offset: offset + limit].tolist()
        return {"total": int(len(service.products)), "offset": offset, "product_ids": ids}

    @app.get("/v1/products/{product_id}", responses=err)
    def get_product(product_id: str, _: Role = Depends(role_of)) -> dict:
        try:
            return service.product(product_id)
        except UnknownProduct:
            raise HTTPException(404, f"unknown product_id {product_id!r}") from None

    @app.get("/v1/products/{product_id}/competitors", response_model=list[CompetitorOfferOut],
             responses=err)
    def get_competitors(product_id: str, _: Role = Depends(role_of)) -> list[CompetitorOfferOut]:
        try:
            return service.competitors(product_id)
        except UnknownProduct:
            raise HTTPException(404, f"unknown product_id {product_id!r}") from None

    @app.post("/v1/feedback", response_model=Feedback, status_code=201, responses=err)
    def post_feedback(fb: FeedbackIn, _: Role = Depends(role_of)) -> Feedback:
        try:
            return service.store.add_feedback(fb)
        except UnknownSuggestion:
            raise HTTPException(404, f"unknown suggestion_id {fb.suggestion_id!r}") from None

    app.include_router(demand_router(service), dependencies=[Depends(role_of)])
    return app


def app_from_env() -> FastAPI:
    """Factory for uvicorn: artifact and stores from PRICING_* environment variables."""
    from assistant.settings import Settings

    service = PricingService.from_settings(Settings())
    return create_app(service, ApiSettings.from_env())

