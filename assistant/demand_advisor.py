"""Demand-aware pricing for catalog products with sales history (issue #7).

Use::

    from assistant.demand_advisor import DemandAdvisor
    advisor = DemandAdvisor.from_path("data/demo")      # anything graph.adapters.load_path reads
    advisor = DemandAdvisor().fit(catalog.sales, catalog.products, catalog.offers)
    advisor.unavailable("bed1", cost=30.0)              # None, or why it stays in market mode
    a = advisor.advise("bed1", market_price=44.0, cost=30.0, lower=33.0, upper=60.0)
    a.price, a.rule, a.optimum.flags, a.optimum.binding, a.estimate.beta
    advisor.what_if("bed1", 42.0, cost=30.0)            # units/revenue/profit with intervals
    advisor.curve("bed1", 35.0, 50.0, n=16, cost=30.0)  # the same at n prices

The elasticity model (``models.elasticity``) is fitted once, over every product's sales, so
products with little price variation borrow their category's elasticity. ``advise`` returns
the price that maximises expected profit (``models.demand.optimal_price``) inside the
merchant's hard limits (``lower``/``upper``: the guardrail bounds), the observed prices ±10%
and ±30% around the market price (the price model's estimate). It returns None, and the
suggestion stays in *market mode* (the model's price), when:

- the product has no sales history, or never sold a unit (no demand curve at all);
- its history covers a single month (no price response to learn from);
- the estimated elasticity is positive (implausible for most goods; usually promotions timed
  with demand): following it would push the price to the cap, so ``allow_positive=False``
  declines it, the estimate still shows in the evidence;
- no unit cost is known (``require_cost=True``): without one only revenue can be maximised,
  whose optimum for elastic demand is simply the lowest allowed price.

``unavailable`` gives the reason in words.

Inventory (optional rule): with ``stock`` and ``days`` the target becomes the clearance price,
the price whose expected demand sells ``stock`` within ``days``
(``models.demand.clearance_price``). The stock is taken as already bought (its cost sunk), so
clearing it in time is the goal; the profit optimum is still computed and reported beside it.
Rounding and price endings are the caller's (the service passes the target through
``apply_guardrails``).

The evidence (``elasticity_evidence``) carries the estimate's and the optimum's flags (see
``models.elasticity`` and ``models.demand``), plus ``below_current_profit`` when the search
range keeps the target away from a current price the curve expects to earn more at (e.g. a
market price far below every price the product sold at).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from assistant.guardrails import GuardrailPolicy, bounds
from assistant.suggestion import DemandOutcome, ElasticityEvidence, Inventory
from models.demand import (
    DEFAULT_BAND,
    DEFAULT_MARGIN,
    ClearancePrice,
    DemandOptimum,
    WhatIf,
    clearance_price,
    optimal_price,
    positive_number,
    what_if,
    what_if_curve,
)
from models.elasticity import ElasticityEstimate, ElasticityModel

MAX_CURVE_POINTS = 200
_ESTIMATE_FIELDS = {"beta", "low", "high", "level", "source", "observed_low", "observed_high",
                    "n_obs", "flags"}


class NoSalesHistory(ValueError):
    """The product has no usable sales history: no demand-aware figures for it."""


@dataclass(frozen=True)
class DemandAdvice:
    """A demand-aware target price, before rounding and price endings."""

    product_id: str
    price: float
    rule: Literal["profit_optimum", "clearance"]
    estimate: ElasticityEstimate
    optimum: DemandOptimum
    cost: float | None = None
    clearance: ClearancePrice | None = None


@dataclass(frozen=True)
class DemandDecision:
    """What the service needs: the advice (None = market mode), evidence and the reason."""

    advice: DemandAdvice | None
    evidence: ElasticityEvidence | None
    reason: str | None  # why market mode, when advice is None


@dataclass
class DemandAdvisor:
    """Elasticities from a sales table, turned into prices, what-ifs and clearance prices.

    Parameters only here; ``fit`` learns (``model_`` the fitted ElasticityModel).
    """

    model: ElasticityModel | None = None  # unfitted template; None = ElasticityModel()
    require_cost: bool = True
    allow_positive: bool = False
    margin: float = DEFAULT_MARGIN  # trust the curve this far beyond the observed prices
    band: float = DEFAULT_BAND  # search this far around the market price

    # ------------------------------------------------------------------ fitting
    def fit(self, sales: pd.DataFrame, products: pd.DataFrame | None = None,
            offers: pd.DataFrame | None = None) -> DemandAdvisor:
        """Fit the elasticity model on ``sales`` (product_id, date, price, quantity)."""
        if sales is None or len(sales) == 0:
            raise ValueError("sales: the table is empty; demand-aware pricing needs sales history")
        # a copy: the template passed in stays an unfitted set of parameters
        self.model_ = replace(self.model) if self.model is not None else ElasticityModel()
        self.model_.fit(sales, products, offers)
        self.n_products_ = self.model_.n_products_
        return self

    @classmethod
    def from_path(cls, path: str | Path, **params) -> DemandAdvisor:
        """Load a catalog (``graph.adapters.load_path``) and fit on its sales, products, offers."""
        from graph.adapters import load_path

        cat = load_path(path)
        if cat.sales is None or len(cat.sales) == 0:
            raise ValueError(f"{path}: no sales table found; demand-aware pricing needs one")
        return cls(**params).fit(cat.sales, cat.products, cat.offers)

    def _fitted(self) -> ElasticityModel:
        if not hasattr(self, "model_"):
            raise RuntimeError("DemandAdvisor is not fitted: call fit(sales, products, offers)")
        return self.model_

    # ------------------------------------------------------------------ look-ups
    def has_sales(self, product_id: str | None) -> bool:
        return product_id is not None and product_id in self._fitted().estimates_

    def estimate(self, product_id: str | None) -> ElasticityEstimate | None:
        """The product's elasticity estimate; None when it has no sales rows."""
        return self._fitted().estimates_.get(product_id) if product_id is not None else None

    def history_problem(self, product_id: str | None) -> str | None:
        """Why the product's sales history gives no demand curve, or None when it does."""
        est = self.estimate(product_id)
        if est is None:
            return "no sales history for this product"
        if est.source == "none" or "zero_sales" in est.flags:
            return (f"no units sold in its sales history ({est.n_obs} rows): "
                    f"no demand curve to price on")
        if "single_month" in est.flags:
            return "its sales history covers a single month: no price response to learn from"
        if not est.has_demand or est.price_range is None:
            return f"no demand curve (source {est.source})"
        return None

    def unavailable(self, product_id: str | None, cost: float | None = None) -> str | None:
        """Why ``advise`` would decline (the product stays in market mode), else None."""
        problem = self.history_problem(product_id)
        if problem is not None:
            return problem
        est = self.estimate(product_id)
        if est.beta > 0 and not self.allow_positive:
            return (f"estimated elasticity is positive ({est.beta:+.2f}, {est.level:.0%} interval "
                    f"{est.low:+.2f} to {est.high:+.2f}): implausible, usually promotions timed "
                    f"with demand")
        if cost is None and self.require_cost:
            return "no unit cost known: the profit optimum needs one (give cost in the policy)"
        return None

    # ------------------------------------------------------------------ advice
    def advise(self, product_id: str, market_price: float | None, cost: float | None,
               lower: float | None = None, upper: float | None = None,
               current_price: float | None = None, cheapest_competitor: float | None = None,
               *, stock: float | None = None, days: float | None = None) -> DemandAdvice | None:
        """The demand-aware target price in ``[lower, upper]``; None = stay in market mode.

        With ``stock`` and ``days`` the target is the clearance price (see the module
        docstring). Raises ValueError for ``lower > upper`` or non-positive numbers.
        """
        if self.unavailable(product_id, cost) is not None:
            return None
        est = self.estimate(product_id)
        opt = optimal_price(cost, est, market_price, lower, upper, current_price,
                            cheapest_competitor, margin=self.margin, band=self.band)
        if (stock is None) != (days is None):
            raise ValueError("inventory: give both stock and days, or neither")
        if stock is None:
            return DemandAdvice(product_id, opt.price, "profit_optimum", est, opt, cost)
        clr = clearance_price(stock, days, est, lower, upper, cost=cost, margin=self.margin)
        return DemandAdvice(product_id, clr.price, "clearance", est, opt, cost, clr)

    def decide(self, product_id: str | None, market_price: float | None,
               policy: GuardrailPolicy, current_price: float | None = None,
               cheapest_competitor: float | None = None,
               inventory: Inventory | None = None) -> DemandDecision:
        """Advice within the policy's hard bounds, plus its evidence (the service's entry).

        When the policy's rules contradict each other the advice is skipped: the service's
        own ``apply_guardrails`` raises the conflict with its full explanation.
        """
        if inventory is not None and not isinstance(inventory, Inventory):
            inventory = Inventory.model_validate(inventory)
        est = self.estimate(product_id)
        reason = self.unavailable(product_id, policy.cost)
        if reason is not None:
            return DemandDecision(None, elasticity_evidence(est) if est else None, reason)
        found, _ = bounds(policy, current_price, cheapest_competitor)
        lower = max(b.value for b in found if b.side == "lower")
        uppers = [b.value for b in found if b.side == "upper"]
        upper = min(uppers) if uppers else None
        if upper is not None and lower > upper:
            return DemandDecision(None, elasticity_evidence(est), "the guardrails conflict")
        advice = self.advise(product_id, market_price, policy.cost, lower, upper, current_price,
                             cheapest_competitor,
                             stock=inventory.stock if inventory else None,
                             days=inventory.days if inventory else None)
        return DemandDecision(advice, elasticity_evidence(est, advice), None)

    # ------------------------------------------------------------------ what-if
    def _curve_estimate(self, product_id: str) -> ElasticityEstimate:
        problem = self.history_problem(product_id)
        if problem is not None:
            raise NoSalesHistory(f"product {product_id!r}: {problem}")
        return self.estimate(product_id)

    def what_if(self, product_id: str, price: float, cost: float | None = None) -> dict:
        """Expected units, revenue and profit per period at ``price``, with intervals, plus
        the elasticity behind them. NoSalesHistory without a demand curve."""
        est = self._curve_estimate(product_id)
        out = _finite_dict(what_if(price, cost, est).to_dict())
        out["product_id"] = product_id
        out["elasticity"] = self.describe(product_id)
        return out

    def describe(self, product_id: str) -> dict:
        """The product's elasticity estimate as a plain dict (beta, interval, source, flags,
        observed price range); NoSalesHistory when it has no sales rows."""
        est = self.estimate(product_id)
        if est is None:
            raise NoSalesHistory(f"product {product_id!r}: no sales history for this product")
        return elasticity_evidence(est).model_dump(include=_ESTIMATE_FIELDS)

    def curve(self, product_id: str, lo: float | None = None, hi: float | None = None,
              n: int = 21, cost: float | None = None) -> list[dict]:
        """``what_if`` at ``n`` evenly spaced prices from ``lo`` to ``hi`` (default: the
        observed prices ± ``margin``)."""
        est = self._curve_estimate(product_id)
        pmin, pmax = est.price_range
        lo = pmin * (1 - self.margin) if lo is None else positive_number("low", lo)
        hi = pmax * (1 + self.margin) if hi is None else positive_number("high", hi)
        if not isinstance(n, (int, np.integer)) or not 2 <= n <= MAX_CURVE_POINTS:
            raise ValueError(f"n must be an integer from 2 to {MAX_CURVE_POINTS}, got {n!r}")
        if lo >= hi:
            raise ValueError(f"low {lo} must be below high {hi}")
        prices = np.linspace(lo, hi, int(n))
        return [_finite_dict(w.to_dict()) for w in what_if_curve(prices, cost, est)]


# --------------------------------------------------------------------------- evidence

def elasticity_evidence(est: ElasticityEstimate,
                        advice: DemandAdvice | None = None) -> ElasticityEvidence:
    """The estimate (and the advice built on it) as Suggestion evidence."""
    lo, hi = est.price_range if est.price_range else (None, None)
    ev = ElasticityEvidence(beta=_r(est.beta, 4), low=_r(est.low, 4), high=_r(est.high, 4),
                            level=est.level, source=est.source, observed_low=_r(lo),
                            observed_high=_r(hi), n_obs=est.n_obs, flags=list(est.flags))
    if advice is None:
        return ev
    opt = advice.optimum
    ev.rule = advice.rule
    ev.target_price = _r(advice.price)
    ev.unconstrained_price = _r(opt.unconstrained_price)
    ev.search_low, ev.search_high = _r(opt.search_range[0]), _r(opt.search_range[1])
    ev.binding = opt.binding
    ev.flags = list(dict.fromkeys([*est.flags, *opt.flags]))
    ev.notes = list(opt.notes)
    ev.at_current = _outcome(opt.at_current)
    if advice.clearance is None:
        ev.expected = _outcome(opt.expected)
        now, then = opt.expected.profit, opt.at_current.profit if opt.at_current else None
        if now is not None and then is not None and then > now:
            # the search range (market band, observed prices) kept the optimum from the
            # current price although the curve prefers it: say so rather than hide it
            ev.flags.append("below_current_profit")
            ev.notes.append(f"expected profit at the current price ({then:,.2f}) is above the "
                            f"target's ({now:,.2f}): the search range binds")
    else:
        clr = advice.clearance
        ev.expected = _outcome(what_if(clr.price, advice.cost, est))
        ev.clearance_price = _r(clr.price)
        ev.expected_leftover = _r(clr.expected_leftover)
        ev.days_to_sell_out = _r(clr.days_to_sell_out)
        ev.flags = list(dict.fromkeys([*ev.flags, *clr.flags]))
        ev.notes.append(f"clearance: {clr.stock:g} units in {clr.days:g} days; profit optimum "
                        f"would be {opt.price:,.2f}")
    return ev


def _outcome(w: WhatIf | None) -> DemandOutcome | None:
    if w is None:
        return None
    d = _finite_dict(w.to_dict())
    return DemandOutcome(**{k: (_r(d[k]) if isinstance(d[k], float) else d[k])
                            for k in DemandOutcome.model_fields})


def _finite_dict(d: dict) -> dict:
    """JSON-safe: non-finite floats (an overflow far outside the data) become None."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in d.items()}


def _r(v: float | None, digits: int = 2) -> float | None:
    if v is None or not math.isfinite(float(v)):
        return None
    return round(float(v), digits)


__all__ = ["DemandAdvisor", "DemandAdvice", "DemandDecision", "NoSalesHistory",
           "elasticity_evidence"]
