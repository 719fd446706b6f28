"""Margin and markup: one definition each, used by the rules, the chat and the Workspace.

Use::

    from assistant.margins import margin, markup, price_for_margin, price_for_markup
    margin(1499, 900)            # 0.3996: (price − cost) / price, a share of the price
    markup(1499, 900)            # 0.6656: (price − cost) / cost, over the cost
    price_for_margin(900, 0.3)   # 1285.71: the lowest price that keeps a 30 % margin
    price_for_markup(900, 0.3)   # 1170.0:  the lowest price that keeps a 30 % markup

Break-even per unit is the unit cost itself (profit = price − cost); `break_even_units`
answers how many units cover a fixed cost at a price.
"""
from __future__ import annotations

import math

MARGIN_DEFINITION = "margin = (price − cost) / price"
MARKUP_DEFINITION = "markup = (price − cost) / cost"


def _check(name: str, value: float, positive: bool = False) -> float:
    v = float(value)
    if not math.isfinite(v) or v < 0 or (positive and v == 0):
        raise ValueError(f"{name} must be a {'positive' if positive else 'non-negative'} number, got {value!r}")
    return v


def margin(price: float, cost: float) -> float:
    """(price − cost) / price: the share of the price kept as profit (negative below cost)."""
    return (_check("price", price, positive=True) - _check("cost", cost)) / float(price)


def markup(price: float, cost: float) -> float:
    """(price − cost) / cost: the profit as a share of the cost (negative below cost)."""
    return (_check("price", price) - _check("cost", cost, positive=True)) / float(cost)


def price_for_margin(cost: float, target: float) -> float:
    """The lowest price with margin ≥ `target` (a fraction below 1): cost / (1 − target)."""
    t = float(target)
    if not 0 <= t < 1:
        raise ValueError(f"a margin is a share of the price: it must be at least 0 and below 100%, got {t:.0%}")
    return _check("cost", cost) / (1 - t)


def price_for_markup(cost: float, target: float) -> float:
    """The lowest price with markup ≥ `target` (a fraction, ≥ 0): cost × (1 + target)."""
    return _check("cost", cost) * (1 + _check("markup", target))


def break_even_units(price: float, cost: float, fixed_cost: float) -> float:
    """Units to sell at `price` to cover `fixed_cost` (inf when price ≤ cost)."""
    unit = _check("price", price) - _check("cost", cost)
    return math.inf if unit <= 0 else _check("fixed cost", fixed_cost) / unit
