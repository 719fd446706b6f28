"""The explained price suggestion: what the service returns, the API serves and the store keeps.

Use::

    from assistant.suggestion import Suggestion, SuggestOptions
    s = service.suggest(product, SuggestOptions(explain=False))
    s.recommended_price, s.interval.low, s.evidence.comparables[0].title

Every number here is computed by code (model, graph, guardrails); the explanation only words
them and is verified against the same numbers before it is attached.
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from assistant.guardrails import GuardrailPolicy


class Interval(BaseModel):
    low: float
    high: float
    coverage: float = Field(description="nominal coverage of the interval, e.g. 0.8")


class Comparable(BaseModel):
    product_id: str
    title: str
    price: float
    currency: str | None = Field(default=None, description="the comparable's own price currency "
                                 "(always the suggestion's: other currencies are not evidence)")
    similarity: float
    category_path: str | None = None


class CompetitorOfferOut(BaseModel):
    competitor: str
    price: float
    currency: str | None = None
    observed_at: str | None = None
    price_index: float | None = Field(
        default=None, description="recommended price / this offer's price")
    age_days: int | None = Field(default=None, description="days since it was observed")
    stale: bool = Field(default=False, description="older than PRICING_OFFER_MAX_AGE_DAYS: "
                                                   "shown, not counted")


class GroupStats(BaseModel):
    name: str
    median: float | None = None
    p25: float | None = None
    p75: float | None = None
    n: int = 0
    level: int | None = Field(default=None, description="category depth the statistics come from")


class Driver(BaseModel):
    group: Literal["text", "reviews", "category", "brand", "competitors", "attributes",
                   "neighbours"]
    effect_pct: float = Field(
        description="how much this feature group moves the model price, in % "
                    "(model price with the group vs. with the group ablated)")


class GuardrailStep(BaseModel):
    rule: str
    before: float
    after: float
    detail: str = ""


class ExplanationOut(BaseModel):
    text: str
    fact_ids: list[str] = Field(default_factory=list)
    status: Literal["verified", "verified_after_retry", "fallback", "not_requested"]
    seconds: float | None = None


class DemandOutcome(BaseModel):
    """Expected units/revenue/profit per period at one price, with intervals (issue #7)."""

    price: float
    units: float
    units_low: float
    units_high: float
    revenue: float
    revenue_low: float
    revenue_high: float
    profit: float | None = None  # None without a unit cost
    profit_low: float | None = None
    profit_high: float | None = None
    period_days: float


class ElasticityEvidence(BaseModel):
    """The product's price elasticity and, in demand-aware mode, the optimum it implies."""

    beta: float | None = Field(description="price elasticity of demand (point estimate)")
    low: float | None = None  # interval of beta at `level`
    high: float | None = None
    level: float = 0.9
    source: str = Field(description="product, pooled, category, global or none")
    observed_low: float | None = Field(default=None, description="lowest price sold at")
    observed_high: float | None = None
    n_obs: int = 0
    flags: list[str] = Field(default_factory=list)
    rule: Literal["profit_optimum", "clearance"] | None = None
    target_price: float | None = Field(
        default=None, description="demand-aware price before rounding and price endings")
    unconstrained_price: float | None = None
    search_low: float | None = None
    search_high: float | None = None
    binding: str | None = Field(default=None, description="the limit the target sits on")
    expected: DemandOutcome | None = None
    at_current: DemandOutcome | None = None
    clearance_price: float | None = Field(
        default=None, description="with an inventory: the price that sells the stock in time")
    expected_leftover: float | None = None  # stock expected unsold after `days` at it
    days_to_sell_out: float | None = None
    notes: list[str] = Field(default_factory=list)


class InferredLink(BaseModel):
    """A graph link the service inferred for a product given as words (issue #14)."""

    field: Literal["brand", "category_path"]
    value: str
    node_id: str | None = Field(default=None, description="the graph node, when it exists")
    method: str = Field(description='how it was found: "title prefix", "alias", '
                        '"title heuristic", "nearest products"')
    confidence: float = Field(ge=0, le=1)


class Evidence(BaseModel):
    links: list[InferredLink] = Field(
        default_factory=list, description="brand and category inferred for a new product (they "
        "fed the model); empty when the caller gave them")
    comparables: list[Comparable] = Field(default_factory=list)
    competitors: list[CompetitorOfferOut] = Field(default_factory=list)
    category: GroupStats | None = None
    brand: GroupStats | None = None
    drivers: list[Driver] = Field(default_factory=list)
    elasticity: ElasticityEvidence | None = None


class Inventory(BaseModel):
    """Stock to sell within a number of days: asks for the clearance price (issue #7)."""

    stock: float = Field(gt=0, le=1e9, allow_inf_nan=False,
                         description="units on hand to sell (above 0)")
    days: float = Field(gt=0, le=3650, allow_inf_nan=False,
                        description="target sell-through period in days (above 0, at most 3650)")


class WhatIfOut(BaseModel):
    """Expected outcome per period at one candidate price, with intervals (a what-if)."""

    price: float
    units: float | None = Field(description="expected units sold per period")
    units_low: float | None
    units_high: float | None
    revenue: float | None
    revenue_low: float | None
    revenue_high: float | None
    profit: float | None = Field(default=None, description="None without a cost")
    profit_low: float | None = None
    profit_high: float | None = None
    extrapolated: bool = Field(description="price outside the prices the product sold at")
    level: float = Field(description="coverage of the intervals, e.g. 0.9")
    period_days: float = Field(description="length of the period (a month for monthly history)")


class WhatIfResult(WhatIfOut):
    """``PricingService.what_if``: one candidate price for a catalog product with sales."""

    product_id: str
    currency: str | None = None
    cost: float | None = Field(default=None, description="the unit cost used for profit")
    elasticity: dict = Field(description="beta, its interval, source, flags, observed prices")


class WhatIfCurve(BaseModel):
    """``PricingService.what_if_curve``: what-ifs at evenly spaced prices."""

    product_id: str
    currency: str | None = None
    cost: float | None = None
    elasticity: dict
    points: list[WhatIfOut]


# The abstain threshold of a model without a calibrated one (artifacts trained before #14).
DEFAULT_MAX_RELATIVE_WIDTH = 1.5
# Evidence below which a suggestion abstains: fewer priced products in its category and no
# comparable at least this similar.
THIN_CATEGORY_N = 3
CLOSE_SIMILARITY = 0.5


class Abstention(BaseModel):
    """Why a suggestion abstains: computed once (:func:`decide_abstention`) and read by the
    API, the chat and the Workspace alike."""

    reason: Literal["interval_too_wide", "thin_evidence"]
    message: str = Field(description="the reason in words (also ``abstain_reason``)")
    relative_width: float = Field(description="(interval high - low) / model price")
    max_relative_width: float = Field(description="the threshold the width was held to")
    threshold_source: Literal["model", "request", "default"] = Field(
        description='"model": calibrated on its held-out calibration slice; "request": the '
                    'caller\'s max_relative_width; "default": the fixed rule of older models')


def relative_width(low: float, high: float, model_price: float) -> float:
    """The interval's width as a share of the model's price (the one definition)."""
    return (high - low) / max(model_price, 1e-9)


def decide_abstention(interval: Interval, model_price: float, n_category: int, n_close: int,
                      max_relative_width: float, threshold_source: str = "default"
                      ) -> Abstention | None:
    """The abstain decision: an interval wider than ``max_relative_width`` of the model price,
    else thin evidence (fewer than THIN_CATEGORY_N priced products in the category and no
    comparable with similarity >= CLOSE_SIMILARITY); None when the suggestion stands."""
    # Rounded once here: the API's number, the message and the chat's fact are this value.
    width = round(relative_width(interval.low, interval.high, model_price), 4)
    if width > max_relative_width:
        return Abstention(
            reason="interval_too_wide", relative_width=width,
            max_relative_width=round(max_relative_width, 4), threshold_source=threshold_source,
            message=(f"interval too wide: {interval.low:,.2f}–{interval.high:,.2f} is "
                     f"{width * 100:,.1f}% of the model price (this model abstains above "
                     f"{max_relative_width * 100:,.1f}%)"))
    if n_category < THIN_CATEGORY_N and n_close == 0:
        return Abstention(
            reason="thin_evidence", relative_width=width,
            max_relative_width=round(max_relative_width, 4), threshold_source=threshold_source,
            message=(f"thin evidence: fewer than {THIN_CATEGORY_N} priced products in the "
                     "category and no close comparables"))
    return None


class SuggestOptions(BaseModel):
    explain: bool = True
    k_comparables: int = Field(default=5, ge=0, le=50)
    policy: GuardrailPolicy = Field(default_factory=GuardrailPolicy)
    max_relative_width: float | None = Field(
        default=None, gt=0, description="abstain when (high - low) / model price exceeds this; "
        "None: the model's own threshold (a quantile of its calibration slice's widths)")
    inventory: Inventory | None = Field(
        default=None, description="demand-aware mode only: price to sell this stock in time")


class Suggestion(BaseModel):
    suggestion_id: str
    product_id: str | None
    title: str
    currency: str
    recommended_price: float
    model_price: float = Field(description="the model's p50 before guardrails")
    mode: Literal["market", "demand-aware"] = "market"
    mode_reason: str | None = Field(
        default=None, description="why demand-aware pricing was not used, when it was not")
    interval: Interval
    current_price: float | None = None
    change_pct: float | None = None
    evidence: Evidence
    guardrails: list[GuardrailStep] = Field(default_factory=list)
    confidence: float = Field(ge=0, le=1)
    relative_width: float | None = Field(
        default=None, description="(interval high - low) / model price: the width every "
        "surface shows (None on suggestions stored before it existed)")
    abstention: Abstention | None = Field(
        default=None, description="why the suggestion abstains (None: it does not)")
    abstain: bool = Field(default=False, description="abstention is not None")
    abstain_reason: str | None = Field(default=None, description="abstention.message")
    model_version: str
    explanation: ExplanationOut | None = None
    created_at: str

    @model_validator(mode="after")
    def _abstain_from_abstention(self) -> Suggestion:
        # One source: abstain and abstain_reason mirror the Abstention (older stored
        # suggestions without one keep what they were stored with).
        if self.abstention is not None:
            self.abstain = True
            self.abstain_reason = self.abstention.message
            if self.relative_width is None:
                self.relative_width = self.abstention.relative_width
        return self
