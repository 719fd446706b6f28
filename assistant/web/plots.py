"""Figures for the merchant workspace: where the suggested price sits among comparables and rivals.

Use::

    from assistant.web.plots import comparables_figure, competitors_figure, figure_png
    fig = comparables_figure([499, 520, 610], recommended=549, low=480, high=640, currency="INR")
    fig = competitors_figure([("shopA", 529.0), ("shopB", 575.0)], recommended=549, currency="INR")
    png = figure_png(fig)      # bytes, e.g. for a file or an <img>
    fig = figure_for_suggestion(suggestion)   # both panels for one Suggestion
    fig = demand_figure(service.what_if_curve("bed1", 35, 50, n=31, cost=30).points,
                        current=44.9, recommended=42.0, candidate=47.5, currency="BRL",
                        observed=(39.2, 45.9))   # expected units and profit vs price

Figures are built on ``matplotlib.figure.Figure`` directly (no pyplot): pyplot keeps global
state, which the UI's worker threads would share. Inputs are validated: a price that is not a
finite positive number is an error naming where it came from, never silently skipped.
"""
from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Any

from matplotlib.figure import Figure

from assistant.facts import CURRENCY_SYMBOLS, finite_number
from assistant.suggestion import Suggestion

RECOMMENDED_COLOR = "#1f7a4d"
INTERVAL_COLOR = "#8fd1ae"
CURRENT_COLOR = "#b0413e"
BAR_COLOR = "#5b7db1"
CHEAPER_COLOR = "#d08c2f"
CANDIDATE_COLOR = "#6a3d9a"
PROFIT_COLOR = "#b35806"
OBSERVED_COLOR = "#dddddd"


def _price(name: str, value: Any, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a price, got {value!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name}: expected a finite price > 0, got {value!r}")
    return v


def _label(currency: str | None) -> str:
    if not currency:
        return "price"
    sym = CURRENCY_SYMBOLS.get(currency.upper())
    return f"price ({sym} {currency.upper()})" if sym else f"price ({currency.upper()})"


def _money(v: float) -> str:
    return f"{v:,.2f}"


def _empty(ax: Any, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes,
            fontsize=10, color="#555555")
    ax.set_xticks([])
    ax.set_yticks([])


def _new_figure(width: float = 6.4, height: float = 3.2) -> Figure:
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    return fig


def draw_comparables(ax: Any, prices: Sequence[float], recommended: float, low: float | None,
                     high: float | None, currency: str | None = None,
                     category: tuple[float, float, float] | None = None) -> None:
    """Comparable products' prices (histogram + one tick per product) with our price marked.

    category: optional (p25, median, p75) of the category, drawn as a band for context.
    """
    ps = [_price(f"prices[{i}]", p) for i, p in enumerate(prices)]
    rec = _price("recommended", recommended)
    lo = _price("low", low, allow_none=True)
    hi = _price("high", high, allow_none=True)
    if (lo is None) != (hi is None):
        raise ValueError("low/high: give both ends of the interval or neither")
    if lo is not None and hi is not None and lo > hi:
        raise ValueError(f"interval: low {lo} is above high {hi}")
    if lo is not None:
        ax.axvspan(lo, hi, color=INTERVAL_COLOR, alpha=0.45, label=f"interval {_money(lo)}–{_money(hi)}")
    if category is not None:
        c25, cmed, c75 = (_price(f"category[{i}]", v) for i, v in enumerate(category))
        ax.axvline(cmed, color="#777777", linestyle=":", linewidth=1.5,
                   label=f"category median {_money(cmed)}")
    if ps:
        bins = min(12, max(3, len(ps) // 2))
        ax.hist(ps, bins=bins, color=BAR_COLOR, alpha=0.75, label=f"{len(ps)} comparables")
        ymax = ax.get_ylim()[1]
        ax.plot(ps, [ymax * 0.02] * len(ps), "|", color="#1d2f4f", markersize=14)
    else:
        ax.text(0.5, 0.85, "no comparable products", ha="center", transform=ax.transAxes,
                color="#555555")
    ax.axvline(rec, color=RECOMMENDED_COLOR, linewidth=2.5, label=f"suggested {_money(rec)}")
    ax.set_xlabel(_label(currency))
    ax.set_ylabel("products")
    ax.set_title("Comparable products' prices")
    ax.legend(fontsize=8, loc="upper right", frameon=False)


def draw_competitors(ax: Any, offers: Sequence[tuple[str, float]], recommended: float,
                     current: float | None = None, currency: str | None = None) -> None:
    """Competitor offers as horizontal bars (cheaper than our price highlighted), our price as a line."""
    rec = _price("recommended", recommended)
    cur = _price("current", current, allow_none=True)
    rows = [(str(name), _price(f"offers[{i}] price", p)) for i, (name, p) in enumerate(offers)]
    if not rows:
        _empty(ax, "no competitor offers for this product")
        ax.set_title("Competitor prices")
        return
    rows.sort(key=lambda r: r[1])
    names = [r[0] for r in rows]
    prices = [r[1] for r in rows]
    colors = [CHEAPER_COLOR if p < rec else BAR_COLOR for p in prices]
    ax.barh(range(len(rows)), prices, color=colors)
    ax.set_yticks(range(len(rows)), labels=names, fontsize=8)
    ax.axvline(rec, color=RECOMMENDED_COLOR, linewidth=2.5, label=f"suggested {_money(rec)}")
    if cur is not None:
        ax.axvline(cur, color=CURRENT_COLOR, linewidth=1.5, linestyle="--",
                   label=f"current {_money(cur)}")
    ax.set_xlabel(_label(currency))
    ax.set_title("Competitor prices (orange: cheaper than suggested)")
    ax.legend(fontsize=8, loc="lower right", frameon=False)


def comparables_figure(prices: Sequence[float], recommended: float, low: float | None = None,
                       high: float | None = None, currency: str | None = None,
                       category: tuple[float, float, float] | None = None) -> Figure:
    fig = _new_figure()
    draw_comparables(fig.add_subplot(), prices, recommended, low, high, currency, category)
    return fig


def competitors_figure(offers: Sequence[tuple[str, float]], recommended: float,
                       current: float | None = None, currency: str | None = None) -> Figure:
    fig = _new_figure(height=max(2.4, 0.9 + 0.32 * len(offers)))
    draw_competitors(fig.add_subplot(), offers, recommended, current, currency)
    return fig


def category_band(s: Suggestion) -> tuple[float, float, float] | None:
    """(p25, median, p75) of the suggestion's category prices, None when not all known."""
    cat = s.evidence.category
    if cat is None or None in (cat.p25, cat.median, cat.p75):
        return None
    return cat.p25, cat.median, cat.p75


def figure_for_suggestion(s: Suggestion) -> Figure:
    """Both panels for one Suggestion: comparables' distribution, then competitor prices."""
    ev = s.evidence
    band = category_band(s)
    n_offers = len(ev.competitors)
    fig = _new_figure(width=7.2, height=3.4 + max(2.2, 0.9 + 0.3 * n_offers))
    top, bottom = fig.subplots(2, 1, height_ratios=[3.4, max(2.2, 0.9 + 0.3 * n_offers)])
    draw_comparables(top, [c.price for c in ev.comparables], s.recommended_price,
                     s.interval.low, s.interval.high, s.currency, band)
    draw_competitors(bottom, [(c.competitor, c.price) for c in ev.competitors],
                     s.recommended_price, s.current_price, s.currency)
    return fig


def _field(point: Any, name: str) -> Any:
    return point.get(name) if isinstance(point, dict) else getattr(point, name, None)


def draw_demand(ax_units: Any, ax_money: Any, points: Sequence[Any],
                current: float | None = None, recommended: float | None = None,
                candidate: float | None = None, currency: str | None = None,
                observed: tuple[float, float] | None = None, period: str = "month") -> None:
    """Expected units (top) and profit (bottom; revenue when no point has a profit) against
    price, each with its interval band; the current, recommended and what-if prices as
    vertical lines; the range of prices the product sold at shaded (outside it: extrapolated).

    points: what-ifs (dicts or objects with price, units, units_low, units_high, profit,
    profit_low, profit_high, revenue, revenue_low, revenue_high), e.g.
    ``PricingService.what_if_curve(...).points``.
    """
    rows = []
    for i, pt in enumerate(points):
        row = {"price": _price(f"points[{i}].price", _field(pt, "price"))}
        for k in ("units", "units_low", "units_high", "profit", "profit_low", "profit_high",
                  "revenue", "revenue_low", "revenue_high"):
            row[k] = finite_number(f"points[{i}].{k}", _field(pt, k))
        if row["units"] is None:
            raise ValueError(f"points[{i}].units: expected a number, got None")
        rows.append(row)
    marks = [(name, _price(name, v, allow_none=True), color, style)
             for name, v, color, style in (("current", current, CURRENT_COLOR, "--"),
                                           ("suggested", recommended, RECOMMENDED_COLOR, "-"),
                                           ("what-if", candidate, CANDIDATE_COLOR, ":"))]
    if observed is not None:
        o_lo, o_hi = (_price(f"observed[{i}]", v) for i, v in enumerate(observed))
        if o_lo > o_hi:
            raise ValueError(f"observed: low {o_lo} is above high {o_hi}")
    if not rows:
        _empty(ax_units, "no demand curve for this product")
        _empty(ax_money, "")
        ax_units.set_title("Demand what-if")
        return
    rows.sort(key=lambda r: r["price"])
    xs = [r["price"] for r in rows]
    money = "profit" if all(r["profit"] is not None for r in rows) else "revenue"
    for ax, key, color, label in ((ax_units, "units", BAR_COLOR, "expected units"),
                                  (ax_money, money, PROFIT_COLOR, f"expected {money}")):
        if observed is not None:
            ax.axvspan(o_lo, o_hi, color=OBSERVED_COLOR, alpha=0.6,
                       label=f"sold at {_money(o_lo)}–{_money(o_hi)}")
        lo = [r[f"{key}_low"] for r in rows]
        hi = [r[f"{key}_high"] for r in rows]
        if None not in lo and None not in hi:
            ax.fill_between(xs, lo, hi, color=color, alpha=0.2, label="interval")
        ax.plot(xs, [r[key] for r in rows], color=color, linewidth=2, label=label)
        for name, v, mcolor, style in marks:
            if v is not None:
                ax.axvline(v, color=mcolor, linestyle=style, linewidth=1.8,
                           label=f"{name} {_money(v)}")
        ax.legend(fontsize=7, loc="upper right", frameon=False)
    if money == "profit":
        ax_money.axhline(0, color="#999999", linewidth=0.8)
    ax_units.set_ylabel(f"units per {period}")
    ax_money.set_ylabel(f"{money} per {period}" + ("" if money == "profit" else " (no unit cost)"))
    ax_money.set_xlabel(_label(currency))
    ax_units.set_title("Demand what-if: expected units and " + money)


def demand_figure(points: Sequence[Any], current: float | None = None,
                  recommended: float | None = None, candidate: float | None = None,
                  currency: str | None = None, observed: tuple[float, float] | None = None,
                  period: str = "month") -> Figure:
    """Two stacked panels sharing the price axis (see ``draw_demand``)."""
    fig = _new_figure(width=7.2, height=5.2)
    top, bottom = fig.subplots(2, 1, sharex=True)
    draw_demand(top, bottom, points, current, recommended, candidate, currency, observed, period)
    return fig


def figure_png(fig: Figure, dpi: int = 100) -> bytes:
    """The figure as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()
