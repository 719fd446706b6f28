"""Demand-aware pricing on an elasticity estimate: profit optimum, what-ifs, clearance price.

Use::

    from models.elasticity import ElasticityModel
    from models.demand import optimal_price, what_if, what_if_curve, clearance_price
    est = ElasticityModel().fit(sales, products, offers).elasticity_("bed1")
    opt = optimal_price(cost=25.0, estimate=est, market_price=41.0, lower=30.0, upper=60.0)
    opt.price, opt.expected.profit, opt.expected.profit_low, opt.flags, opt.binding
    what_if(39.0, 25.0, est).units                  # expected units per period at 39.00
    what_if_curve([35, 40, 45], 25.0, est)          # the same at several prices
    clearance_price(stock=120, days=60, estimate=est, lower=30.0, upper=60.0).price

All quantities are per ``estimate.period_days`` (a month for monthly sales history) unless a
function says otherwise. This module never applies the merchant's guardrails itself (models
do not import assistant): the caller passes the allowed range as ``lower``/``upper``, e.g.
from ``assistant.guardrails.bounds``, and applies rounding and price endings afterwards.

The optimum. With constant elasticity ``beta`` the demand is
``q(p) = ref_quantity * (p / ref_price) ** beta`` and the expected profit
``(p - cost) * q(p)`` has, for elastic demand (``beta < -1``), one maximum at::

    p* = cost * beta / (1 + beta)

and rises for ever when ``beta >= -1`` (inelastic: each price rise loses proportionally fewer
units than it gains per unit). The price is therefore searched only where the evidence
reaches, and the unbounded case is capped and flagged rather than extrapolated:

- the prices the product actually sold at, widened by ``margin`` (default 10%) on each side;
- a band of ``band`` (default ±30%) around the market price (``market_price``, else the
  cheapest competitor), the anchor that keeps a demand curve fitted on a few months from
  walking the price away from the market;
- the caller's hard bounds ``lower``/``upper``, which always win: where they leave no room
  inside the evidence, the price is the hard bound nearest to it (flag
  ``outside_evidence``).

Profit is unimodal in ``p`` (for ``beta < -1``) or increasing, so clipping ``p*`` into that
range is the exact constrained optimum. It is a plug-in optimum at the point estimate of
``beta``; its uncertainty shows in the intervals of units/revenue/profit (the ``level``
interval of expected demand: parameter uncertainty, not one period's luck). Without a cost
(``cost=None``) revenue is maximised instead (flag ``no_cost``).

Flags: ``capped`` (the unconstrained optimum lies outside the search range; ``binding`` names
the limit), ``inelastic`` (``beta >= -1``: no interior optimum, the cap binds),
``extrapolated`` (the price lies outside the observed price range), ``outside_evidence``,
``below_cost`` (no price in range covers the cost), ``no_cost``, ``no_market_anchor``,
``prior_only`` (the elasticity is a category/global prior, not the product's own data),
``wide_interval``.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

from models.elasticity import ElasticityEstimate, NoDemandModel

DEFAULT_MARGIN = 0.10  # how far beyond the observed prices the demand curve is trusted
DEFAULT_BAND = 0.30  # search band around the market price
_TOL = 1e-9


@dataclass(frozen=True)
class WhatIf:
    """Expected outcome per period at one price, with ``level`` intervals."""

    price: float
    units: float
    units_low: float
    units_high: float
    revenue: float
    revenue_low: float
    revenue_high: float
    profit: float | None  # None without a cost
    profit_low: float | None
    profit_high: float | None
    extrapolated: bool  # price outside the observed price range
    level: float
    period_days: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class DemandOptimum:
    """The profit-maximising price inside the allowed, evidence-backed range."""

    price: float
    expected: WhatIf
    mode: str = "demand-aware"
    flags: tuple[str, ...] = ()
    binding: str | None = None  # the limit the price sits on when capped
    unconstrained_price: float | None = None  # cost * beta / (1 + beta); None = unbounded
    search_range: tuple[float, float] = (0.0, math.inf)
    at_current: WhatIf | None = None  # the same figures at the current price, to compare
    beta: float | None = None
    beta_low: float | None = None
    beta_high: float | None = None
    source: str | None = None  # where beta came from (ElasticityEstimate.source)
    anchor: float | None = None  # the market price used for the band
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["flags"] = list(self.flags)
        d["search_range"] = list(self.search_range)
        return d


@dataclass(frozen=True)
class ClearancePrice:
    """The price that sells ``stock`` within ``days``, as far as the allowed range permits."""

    price: float
    stock: float
    days: float
    expected_units: float  # expected demand over `days` at `price`
    units_low: float
    units_high: float
    expected_sold: float  # min(stock, expected demand)
    expected_leftover: float
    days_to_sell_out: float | None  # at the expected rate; None if nothing sells
    revenue: float  # from the units expected to be sold
    unconstrained_price: float | None  # the exact sell-through price before the range
    flags: tuple[str, ...] = ()
    level: float = 0.9

    def to_dict(self) -> dict:
        d = asdict(self)
        d["flags"] = list(self.flags)
        return d


# --------------------------------------------------------------------------- what-if

def what_if(price: float, cost: float | None, estimate: ElasticityEstimate,
            level: float | None = None) -> WhatIf:
    """Expected units, revenue and profit per period at ``price``, with intervals."""
    _need_demand(estimate)
    price = positive_number("price", price)
    cost = _cost(cost)
    units, lo, hi = estimate.quantity(price, level)
    if cost is None:
        profit = p_lo = p_hi = None
    else:
        unit_margin = price - cost
        # a negative margin turns the largest volume into the largest loss
        ends = sorted((unit_margin * lo, unit_margin * hi))
        profit, p_lo, p_hi = unit_margin * units, ends[0], ends[1]
    return WhatIf(price=price, units=units, units_low=lo, units_high=hi,
                  revenue=price * units, revenue_low=price * lo, revenue_high=price * hi,
                  profit=profit, profit_low=p_lo, profit_high=p_hi,
                  extrapolated=_extrapolated(price, estimate),
                  level=estimate.level if level is None else level,
                  period_days=estimate.period_days)


def what_if_curve(prices: Iterable[float], cost: float | None, estimate: ElasticityEstimate,
                  level: float | None = None) -> list[WhatIf]:
    """``what_if`` at each price (e.g. for a chart of profit against price)."""
    return [what_if(p, cost, estimate, level) for p in prices]


# --------------------------------------------------------------------------- optimum

def optimal_price(cost: float | None, estimate: ElasticityEstimate, market_price: float | None,
                  lower: float | None = None, upper: float | None = None,
                  current_price: float | None = None,
                  cheapest_competitor: float | None = None, *,
                  margin: float = DEFAULT_MARGIN, band: float = DEFAULT_BAND,
                  level: float | None = None) -> DemandOptimum:
    """Maximise expected ``(price - cost) * demand(price)`` within the hard bounds
    ``lower``/``upper``, the observed prices ± ``margin`` and the market band ± ``band``.

    ``market_price`` anchors the band (``cheapest_competitor`` when it is None);
    ``current_price`` only adds ``at_current`` for comparison. Raises NoDemandModel when
    the estimate has no demand curve and ValueError when ``lower > upper``.
    """
    _need_demand(estimate)
    cost = _cost(cost)
    if not 0 <= margin <= 1 or not 0 < band <= 10:
        raise ValueError(f"margin must be in [0, 1] and band in (0, 10], got {margin}, {band}")
    lo, hi, lo_name, hi_name, flags, anchor = _search_range(
        estimate, market_price, cheapest_competitor, lower, upper, margin, band)

    beta = estimate.beta
    c = 0.0 if cost is None else cost
    if cost is None:
        flags.append("no_cost")
    if beta >= -1:
        flags.append("inelastic")
        unconstrained = None  # profit (or revenue) grows without bound in the price
    else:
        unconstrained = c * beta / (1 + beta)
    target = math.inf if unconstrained is None else unconstrained
    price = min(max(target, lo), hi)
    binding = None
    if target < lo - _TOL * max(1, lo):
        binding = lo_name
    elif target > hi + _TOL * max(1, hi):
        binding = hi_name
    if binding is not None:
        flags.append("capped")
    if cost is not None and hi < cost:
        flags.append("below_cost")
    if _extrapolated(price, estimate):
        flags.append("extrapolated")
    if estimate.source in ("category", "global"):
        flags.append("prior_only")
    if "wide_interval" in estimate.flags:
        flags.append("wide_interval")
    notes = []
    if unconstrained is not None and binding is not None:
        notes.append(f"unconstrained optimum {unconstrained:.2f} lies outside "
                     f"{lo:.2f} – {hi:.2f}; {binding} binds")
    at_current = what_if(current_price, cost, estimate, level) if current_price else None
    return DemandOptimum(price=price, expected=what_if(price, cost, estimate, level),
                         flags=tuple(dict.fromkeys(flags)), binding=binding,
                         unconstrained_price=unconstrained, search_range=(lo, hi),
                         at_current=at_current, beta=beta, beta_low=estimate.low,
                         beta_high=estimate.high, source=estimate.source, anchor=anchor,
                         notes=notes)


def _search_range(estimate, market_price, cheapest, lower, upper, margin, band):
    """(lo, hi, name of lo, name of hi, flags, anchor): hard bounds over soft evidence."""
    flags: list[str] = []
    hard_lo = positive_number("lower", lower) if lower is not None else 0.0
    hard_hi = positive_number("upper", upper) if upper is not None else math.inf
    if hard_lo > hard_hi:
        raise ValueError(f"lower {hard_lo} is above upper {hard_hi}")
    pmin, pmax = estimate.price_range
    obs = (pmin * (1 - margin), pmax * (1 + margin), "observed_low", "observed_high")
    anchor = market_price if market_price is not None else cheapest
    if anchor is None:
        flags.append("no_market_anchor")
        soft = obs
    else:
        anchor = positive_number("market_price", anchor)
        mkt = (anchor * (1 - band), anchor * (1 + band), "market_low", "market_high")
        soft = (max(obs[0], mkt[0]), min(obs[1], mkt[1]),
                obs[2] if obs[0] >= mkt[0] else mkt[2], obs[3] if obs[1] <= mkt[1] else mkt[3])
        if soft[0] > soft[1]:
            # the market has moved away from every price this product sold at: stay at the
            # observed edge nearest to it rather than trust the curve far outside the data
            flags.append("market_outside_evidence")
            edge, name = (obs[1], obs[3]) if mkt[0] > obs[1] else (obs[0], obs[2])
            soft = (edge, edge, name, name)
    lo, lo_name = (soft[0], soft[2]) if soft[0] >= hard_lo else (hard_lo, "lower")
    hi, hi_name = (soft[1], soft[3]) if soft[1] <= hard_hi else (hard_hi, "upper")
    if lo > hi:  # the hard bounds leave no room inside the evidence: nearest hard bound
        flags.append("outside_evidence")
        edge, name = (hard_lo, "lower") if hard_lo > soft[1] else (hard_hi, "upper")
        lo = hi = edge
        lo_name = hi_name = name
    return lo, hi, lo_name, hi_name, flags, anchor


# --------------------------------------------------------------------------- clearance

def clearance_price(stock: float, days: float, estimate: ElasticityEstimate,
                    lower: float | None = None, upper: float | None = None, *,
                    cost: float | None = None, margin: float = DEFAULT_MARGIN,
                    level: float | None = None) -> ClearancePrice:
    """The price at which expected demand over ``days`` equals ``stock`` (inventory-aware).

    Solves ``ref_quantity * (p / ref_price) ** beta * days / period_days = stock``::

        p = ref_price * (stock * period_days / (days * ref_quantity)) ** (1 / beta)

    then clips it into ``[lower, upper]`` and the observed prices ± ``margin`` (a markdown
    deeper than the history has seen is a guess, so it is capped and reported rather than
    trusted). Flags: ``cannot_clear`` (even the lowest allowed price leaves stock over:
    ``expected_leftover`` says how much), ``sells_out_early`` (even the highest allowed price
    sells out before ``days``: stock is short, ``days_to_sell_out`` says when),
    ``extrapolated``, ``outside_evidence``, ``below_cost`` (with ``cost``),
    ``non_negative_elasticity`` (cutting
    the price does not raise demand here: the highest allowed price is returned).
    Selling out takes the expected demand; realised sales scatter around it (see the
    units interval), so a merchant who must clear can pick a lower price from
    ``what_if_curve``.
    """
    _need_demand(estimate)
    stock = positive_number("stock", stock)
    days = positive_number("days", days)
    if lower is not None and upper is not None and lower > upper:
        raise ValueError(f"lower {lower} is above upper {upper}")
    pmin, pmax = estimate.price_range
    soft_lo, soft_hi = pmin * (1 - margin), pmax * (1 + margin)
    hard_lo = positive_number("lower", lower) if lower is not None else 0.0
    hard_hi = positive_number("upper", upper) if upper is not None else math.inf
    lo, hi = max(soft_lo, hard_lo), min(soft_hi, hard_hi)
    flags: list[str] = []
    if lo > hi:  # the hard bounds leave no room inside the evidence: nearest hard bound
        flags.append("outside_evidence")
        lo = hi = hard_lo if hard_lo > soft_hi else hard_hi
    periods = days / estimate.period_days
    beta = estimate.beta
    if beta >= 0:
        flags.append("non_negative_elasticity")
        unconstrained = None
        price = hi
    else:
        unconstrained = estimate.ref_price * (
            stock / (periods * estimate.ref_quantity)) ** (1 / beta)
        price = min(max(unconstrained, lo), hi)
    units, u_lo, u_hi = (v * periods for v in estimate.quantity(price, level))
    if units < stock * (1 - 1e-9):
        flags.append("cannot_clear")
    elif units > stock * (1 + 1e-9):
        flags.append("sells_out_early")
    if _extrapolated(price, estimate):
        flags.append("extrapolated")
    if cost is not None and price < _cost(cost):
        flags.append("below_cost")
    sold = min(stock, units)
    rate = units / days
    return ClearancePrice(price=price, stock=stock, days=days, expected_units=units,
                          units_low=u_lo, units_high=u_hi, expected_sold=sold,
                          expected_leftover=stock - sold,
                          days_to_sell_out=stock / rate if rate > 0 else None,
                          revenue=price * sold, unconstrained_price=unconstrained,
                          flags=tuple(flags),
                          level=estimate.level if level is None else level)


# --------------------------------------------------------------------------- helpers

def _need_demand(estimate: ElasticityEstimate) -> None:
    if not isinstance(estimate, ElasticityEstimate):
        raise TypeError(f"estimate must be an ElasticityEstimate, got {type(estimate).__name__}")
    if not estimate.has_demand or estimate.price_range is None:
        raise NoDemandModel(f"product {estimate.product_id!r} has no demand curve "
                            f"(source={estimate.source}, flags={list(estimate.flags)}): "
                            f"demand-aware pricing needs its sales history")


def _extrapolated(price: float, estimate: ElasticityEstimate) -> bool:
    pmin, pmax = estimate.price_range
    return price < pmin * (1 - 1e-6) or price > pmax * (1 + 1e-6)


def positive_number(name: str, value: float) -> float:
    """``value`` as a finite float > 0; a clear error naming ``name`` otherwise."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(out) or out <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return out


def _cost(cost: float | None) -> float | None:
    if cost is None:
        return None
    try:
        out = float(cost)
    except (TypeError, ValueError):
        raise ValueError(f"cost must be a number, got {cost!r}") from None
    if not math.isfinite(out) or out < 0:
        raise ValueError(f"cost must be a finite number >= 0, got {cost!r}")
    return out


__all__ = ["WhatIf", "DemandOptimum", "ClearancePrice", "what_if", "what_if_curve",
           "optimal_price", "clearance_price"]
