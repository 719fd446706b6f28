"""What the chat needs from the pricing service, as Protocols (assistant.service.PricingService
satisfies them; a test double needs only these members).

Use::

    from assistant.chat.ports import ChatService
    def build(service: ChatService) -> ChatAgent: ...
"""
from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import pandas as pd

from assistant.suggestion import Suggestion, SuggestOptions, WhatIfResult
from graph.contracts import ProductIn


@runtime_checkable
class CatalogSource(Protocol):
    """The catalog the matcher searches: a product table (indexed by product id, with
    "product_id" and "title" columns) and the predictor, whose text embeddings and cached
    catalog embeddings (``embed``, ``catalog_embeddings_``, ``catalog_``) it reuses when present."""

    products: pd.DataFrame
    predictor: Any


@runtime_checkable
class ChatService(CatalogSource, Protocol):
    """The part of the pricing service the chat calls."""

    default_currency: str

    def product(self, product_id: str) -> dict[str, Any]: ...

    def suggest(self, target: ProductIn | str, options: SuggestOptions | None = None) -> Suggestion: ...

    def what_if(self, product_id: str, price: float, cost: float | None = None) -> WhatIfResult: ...
