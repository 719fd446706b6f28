"""The pricing assistant's public API.

    from assistant import PricingService, Settings, SuggestOptions, GuardrailPolicy
    service = PricingService.from_settings(Settings(artifact="runs/model", sales=None))
    s = service.suggest("B07JW9H4J1", SuggestOptions(policy=GuardrailPolicy(min_margin=0.2)))
    s.recommended_price, s.interval, s.evidence, s.guardrails

Names are imported on first use (PEP 562), so ``import assistant.cli`` stays fast and the
model stack (torch, transformers) loads only when a service is built.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "PricingService": "assistant.service", "UnknownProduct": "assistant.service",
    "Settings": "assistant.settings",
    "SuggestOptions": "assistant.suggestion", "Suggestion": "assistant.suggestion",
    "Evidence": "assistant.suggestion", "Interval": "assistant.suggestion",
    "Inventory": "assistant.suggestion", "WhatIfResult": "assistant.suggestion",
    "WhatIfCurve": "assistant.suggestion",
    "GuardrailPolicy": "assistant.guardrails", "GuardrailConflict": "assistant.guardrails",
    "Feedback": "assistant.suggestion_store", "FeedbackIn": "assistant.suggestion_store",
    "UnknownSuggestion": "assistant.suggestion_store",
    "NoSalesHistory": "assistant.demand_advisor",
    "FactSheet": "assistant.facts", "suggestion_fact_sheet": "assistant.facts",
    "ProductIn": "graph.contracts",
}
__all__ = [
    "Evidence",
    "FactSheet",
    "Feedback",
    "FeedbackIn",
    "GuardrailConflict",
    "GuardrailPolicy",
    "Interval",
    "Inventory",
    "NoSalesHistory",
    "PricingService",
    "ProductIn",
    "Settings",
    "SuggestOptions",
    "Suggestion",
    "UnknownProduct",
    "UnknownSuggestion",
    "WhatIfCurve",
    "WhatIfResult",
    "suggestion_fact_sheet",
]

if TYPE_CHECKING:
    from assistant.demand_advisor import NoSalesHistory
    from assistant.facts import FactSheet, suggestion_fact_sheet
    from assistant.guardrails import GuardrailConflict, GuardrailPolicy
    from assistant.service import PricingService, UnknownProduct
    from assistant.settings import Settings
    from assistant.suggestion import (
        Evidence,
        Interval,
        Inventory,
        Suggestion,
        SuggestOptions,
        WhatIfCurve,
        WhatIfResult,
    )
    from assistant.suggestion_store import Feedback, FeedbackIn, UnknownSuggestion
    from graph.contracts import ProductIn


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'assistant' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
