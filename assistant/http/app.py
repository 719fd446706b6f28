"""REST API for explained price suggestions (FastAPI). OpenAPI at /openapi.json, docs at /docs.

Run::

    pricing serve --artifact runs/model --port 8000          # or:
    uvicorn --factory assistant.http.app:app_from_env

    app = create_app(service, ApiSettings.from_env())         # in Python

Authentication and roles: :mod:`assistant.http.deps` (``X-API-Key``; ``PRICING_API_KEYS``).
One router module per resource: :mod:`~assistant.http.health`,
:mod:`~assistant.http.suggestions`, :mod:`~assistant.http.products`,
:mod:`~assistant.http.demand`, :mod:`~assistant.http.feedback`, :mod:`~assistant.http.graph`
(curation), :mod:`~assistant.http.matches` (competitor matches),
:mod:`~assistant.http.prices` (apply, price history, approvals: with a PriceBook),
:mod:`~assistant.http.spreadsheets` (CSV out and decisions in), :mod:`~assistant.http.imports`
(catalog CSV in), :mod:`~assistant.http.outcomes` and :mod:`~assistant.http.monitoring`
(continuous learning), :mod:`~assistant.http.alerts` (alerts sent: pricing jobs and monitoring);
bodies in :mod:`~assistant.http.schemas`, error shapes in
:mod:`~assistant.http.errors`. At shutdown the app closes the service's background work
(the curation worker).
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from assistant.http import (
    alerts,
    demand,
    feedback,
    graph,
    graph_files,
    health,
    imports,
    matches,
    monitoring,
    outcomes,
    prices,
    products,
    spreadsheets,
    suggestions,
)
from assistant.http.deps import ApiSettings, Role, current_graph, role_of
from assistant.http.errors import BodyLimitMiddleware, RequestIdMiddleware, install_error_handlers
from assistant.http.limits import RateLimiter
from assistant.pricebook import PriceBook
from assistant.service import PricingService

__all__ = ["ApiSettings", "Role", "app_from_env", "create_app"]

DESCRIPTION = """Explained, guardrailed price suggestions backed by a knowledge graph.

**Authentication**: header `X-API-Key` (roles: merchant reads, asks for and applies
suggestions; curator also edits the graph under `/v1/graph`; approver also decides queued
price changes).

**Limits**: {s.rate_limit} requests per minute per key (beyond: 429 with `Retry-After`;
0 means no limit); request bodies up to {s.max_body_bytes:,} bytes (413); batches up to
{s.batch_max_items:,} items, {s.batch_max_explained} with `explain: true`; a batch stops
starting items after {s.deadline_s:g} s (the rest answer `timeout: ...`); bulk imports up to
20,000 rows; ids up to 200 characters, titles 2,000, texts 20,000, no control characters.

**Edits**: commits send `expected` versions or `force: true`; `Idempotency-Key` makes
`/v1/graph/ops` and `/v1/graph/bulk` safe to retry.

**Errors**: every 4xx/5xx body is `{{"error": ..., "field": ...}}`; every response carries
`X-Request-ID`; a 500 names its request id and closes the connection."""


def create_app(service: PricingService, settings: ApiSettings,
               pricebook: PriceBook | None = None) -> FastAPI:
    """The API over ``service``, authenticated as ``settings`` say; ``pricebook``: the price
    list that applied suggestions go to (apply, history, approvals and the CSV round trip are
    served only with one)."""
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        service.close()  # the curation worker and its store connection
        if pricebook is not None:
            pricebook.close()

    app = FastAPI(title="Pricing assistant API", version="1.0", lifespan=lifespan,
                  description=DESCRIPTION.format(s=settings))
    app.state.service = service
    app.state.settings = settings
    app.state.limiter = RateLimiter(settings.rate_limit)
    app.state.pricebook = pricebook
    install_error_handlers(app)
    # Starlette's own body limit answers in plain text; this one answers in the API's shape.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestIdMiddleware)  # outermost: every answer carries the id
    keyed = [Depends(role_of), Depends(current_graph)]  # current_graph: edits of other workers
    app.include_router(matches.router, dependencies=keyed)  # /v1/graph/matches (#20)
    app.include_router(graph.router, dependencies=keyed)  # /v1/graph: curation
    app.include_router(graph_files.router, dependencies=keyed)  # /v1/graph/export, /import
    app.include_router(health.router)
    app.include_router(suggestions.router, dependencies=keyed)
    app.include_router(products.router, dependencies=keyed)
    app.include_router(feedback.router, dependencies=keyed)
    app.include_router(demand.router, dependencies=keyed)
    app.include_router(outcomes.router, dependencies=keyed)    # /v1/outcomes (issue 18)
    app.include_router(monitoring.router, dependencies=keyed)  # /v1/monitoring
    app.include_router(alerts.router, dependencies=keyed)      # /v1/alerts (issue 17)
    app.include_router(imports.router, dependencies=keyed)     # /v1/imports/catalog (#17)
    if pricebook is not None:  # without a price list nothing can be applied: no such routes
        app.include_router(prices.router, dependencies=keyed)
        app.include_router(spreadsheets.router, dependencies=keyed)
    return app


def app_from_env() -> FastAPI:
    """Factory for uvicorn: artifact and stores from PRICING_* environment variables."""
    from assistant.settings import Settings

    settings = Settings()
    service = PricingService.from_settings(settings)
    return create_app(service, ApiSettings.from_env(), pricebook=settings.make_pricebook())
