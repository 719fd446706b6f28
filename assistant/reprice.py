"""Competitor reaction: reprice the products whose competitor offers changed (issue #7).

Use::

    from datetime import date
    from assistant.reprice import reprice
    report = reprice(service, date(2018, 8, 1),
                     SuggestOptions(explain=False, policy=GuardrailPolicy(max_above_cheapest=0)))
    for item in report.moved:
        item.product_id, item.before, item.after, item.reason, item.changes

or ``pricing reprice --since 2018-08-01 --max-above-cheapest 0 [--engine ray --actors 4]``.

Which products: those with at least one competitor offer in the graph observed on or after
``offers_since`` (offers without a date are never "new"). Each gets a fresh suggestion, stored
for audit: by default from the service's vectorised ``suggest_batch`` in this process; with
``suggest_many`` from anything that prices a list of catalog ids the same way, e.g. the batch
engines of ``assistant.batch`` (``suggest_with_engine`` on Ray, where the actors read the
graph from its store). *From what*: the product's latest stored suggestion,
else its current price. *Why*: competitor offers (each competitor's latest) are compared with
the ones that previous suggestion saw, else with the latest offers before ``offers_since``.

No price ping-pong. A suggestion's inputs are the catalog (the current price stays the
merchant's, in the graph), the model and the competitor offers; our previous suggestion is
never one of them. The competitor-position rule (``max_above_cheapest``) reads competitor
offers only, and ``max_change`` moves from the catalog's current price, not from our last
suggestion. So repricing twice with no competitor change moves nothing, and a price capped
by a cheap competitor rises again by itself once that competitor's price rises.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Literal

from assistant.service import PricingService
from assistant.suggestion import Suggestion, SuggestOptions
from graph.schema import EdgeType, NodeType, split_node_id

_TOL = 0.005  # half a minor unit: prices are rounded to cents
_NOT_A_REASON = ("rounding", "ending")  # guardrail steps that only polish the price


@dataclass(frozen=True)
class CompetitorChange:
    """One competitor's latest offer before and now (None = no offer then / now)."""

    competitor: str
    before: float | None
    after: float | None
    observed_at: str | None

    def describe(self) -> str:
        when = f" ({self.observed_at})" if self.observed_at else ""
        if self.before is None:
            return f"{self.competitor} new at {self.after:,.2f}{when}"
        if self.after is None:
            return f"{self.competitor} no longer offers (was {self.before:,.2f})"
        return f"{self.competitor} {self.before:,.2f} → {self.after:,.2f}{when}"


@dataclass(frozen=True)
class RepriceItem:
    product_id: str
    before: float | None  # previous suggestion's price, else the current price
    before_from: Literal["suggestion", "current_price", "none"]
    after: float | None  # None when the suggestion failed (see error)
    moved: bool
    reason: str
    changes: list[CompetitorChange] = field(default_factory=list)
    mode: str | None = None
    suggestion_id: str | None = None
    error: str | None = None

    @property
    def change_pct(self) -> float | None:
        if self.before is None or self.after is None or not self.before:
            return None
        return round((self.after - self.before) / self.before * 100, 2)


@dataclass
class RepriceReport:
    since: str
    items: list[RepriceItem]

    @property
    def moved(self) -> list[RepriceItem]:
        return [i for i in self.items if i.moved]

    @property
    def errors(self) -> list[RepriceItem]:
        return [i for i in self.items if i.error is not None]

    def to_dict(self) -> dict:
        return {"since": self.since, "checked": len(self.items), "moved": len(self.moved),
                "errors": len(self.errors),
                "items": [{**asdict(i), "change_pct": i.change_pct} for i in self.items]}


# Prices catalog products by id, in order: a Suggestion, or the error that item raised.
SuggestMany = Callable[[Sequence[str]], Sequence["Suggestion | Exception"]]


def reprice(service: PricingService, offers_since: date | datetime | str,
            options: SuggestOptions | None = None, *, store: bool = True,
            suggest_many: SuggestMany | None = None) -> RepriceReport:
    """Recompute the suggestions of products with competitor offers observed on/after
    ``offers_since`` and report which moved, from what to what, and why.

    ``suggest_many``: prices the changed products (default: ``service.suggest_batch`` with
    ``options``); it must use the same options, model and graph as ``service``."""
    since = _iso(offers_since)
    opts = options or SuggestOptions(explain=False)
    pids = products_with_offers_since(service, since)
    if suggest_many is None:
        def suggest_many(ids: Sequence[str]) -> Sequence[Suggestion | Exception]:
            return service.suggest_batch(ids, opts, store=False)
    results = suggest_many(pids) if pids else []
    if len(results) != len(pids):
        raise ValueError(f"suggest_many answered {len(results)} items for {len(pids)} products")
    items = []
    new: list[Suggestion] = []
    for pid, s in zip(pids, results):
        prev = latest_suggestion(service, pid)
        if isinstance(s, Exception):  # a guardrail conflict or a bad number for this product
            items.append(RepriceItem(pid, *_before(prev, service, pid), after=None, moved=False,
                                     reason="not repriced", error=str(s)))
            continue
        new.append(s)
        items.append(_item(service, pid, prev, s, since))
    if store and new:
        service.store.add_suggestions(new)
    return RepriceReport(since, items)


def products_with_offers_since(service: PricingService, since: str) -> list[str]:
    """Catalog products with a competitor offer observed on/after ``since`` (sorted)."""
    found = set()
    for _, v, d in service.graph.edges(data=True):
        if d.get("type") != EdgeType.OFFERS.value:
            continue
        at = str(d.get("observed_at") or "")
        if at and at >= since:  # ISO strings order like the dates they name
            kind, key = split_node_id(v)
            if kind is NodeType.PRODUCT and key in service.products.index:
                found.add(key)
    return sorted(found)


def latest_suggestion(service: PricingService, product_id: str) -> Suggestion | None:
    """The product's most recent stored suggestion (None when it never had one)."""
    return service.store.latest_for(product_id)


# --------------------------------------------------------------------------- helpers

def _item(service: PricingService, pid: str, prev: Suggestion | None, s: Suggestion,
          since: str) -> RepriceItem:
    before, before_from = _before(prev, service, pid)
    now = {c.competitor: (c.price, c.observed_at) for c in s.evidence.competitors}
    if prev is not None:
        then = {c.competitor: (c.price, c.observed_at) for c in prev.evidence.competitors}
    else:
        then = _offers_before(service, pid, since)
    changes = [CompetitorChange(c, then.get(c, (None,))[0], now.get(c, (None,))[0],
                                now.get(c, (None, None))[1])
               for c in sorted(set(then) | set(now))
               if then.get(c, (None,))[0] != now.get(c, (None,))[0]]
    moved = before is not None and abs(s.recommended_price - before) > _TOL
    return RepriceItem(pid, before, before_from, s.recommended_price, moved,
                       _reason(moved, changes, s, prev), changes, s.mode, s.suggestion_id)


def _before(prev: Suggestion | None, service: PricingService, pid: str):
    if prev is not None:
        return prev.recommended_price, "suggestion"
    cur = service.products.at[pid, "price"]
    try:
        cur = float(cur)
    except (TypeError, ValueError):
        cur = None
    if cur is None or cur != cur:  # NaN: no current price
        return None, "none"
    return cur, "current_price"


def _offers_before(service: PricingService, pid: str, since: str) -> dict:
    """Each competitor's latest offer observed before ``since``."""
    ev = service.featurizer.competitor_evidence(service.graph, pid)
    out: dict[str, tuple[float, str]] = {}
    for o in ev["offers"]:
        at = o.get("observed_at") or ""
        if at and at < since and at >= out.get(o["competitor"], (0.0, ""))[1]:
            out[o["competitor"]] = (o["price"], at)
    return out


def _reason(moved: bool, changes: list[CompetitorChange], s: Suggestion,
            prev: Suggestion | None) -> str:
    parts = [c.describe() for c in changes]
    rules = [f"{g.rule}: {g.detail}" for g in s.guardrails if g.rule not in _NOT_A_REASON]
    if prev is not None and prev.mode != s.mode:
        parts.append(f"mode {prev.mode} → {s.mode}")
    if not moved:
        return "unchanged" + (f" despite {'; '.join(parts)}" if parts else "")
    if not parts and prev is None:
        parts.append("no earlier suggestion: the suggested price differs from the current one")
    elif not parts:
        parts.append("no competitor change since the previous suggestion "
                     "(the model, policy or catalog changed)")
    return "; ".join(parts + rules)


def _iso(value: date | datetime | str) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise ValueError(f"offers_since must be a date YYYY-MM-DD, got {value!r}") from None


__all__ = ["reprice", "RepriceReport", "RepriceItem", "CompetitorChange",
           "products_with_offers_since", "latest_suggestion"]
