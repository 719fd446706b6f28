"""Pricing alerts: what a fresh suggestion says about the market around a product.

Use::

    from assistant.price_alerts import AlertRules, PriceContext, price_alerts, read_map_prices
    rules = AlertRules(undercut_pct=5, map_file="map.csv")
    ctx = PriceContext(our_price=1299.0, our_price_from="price list", cost=900.0, map_price=999.0)
    alerts = price_alerts(suggestion, ctx, rules, today="2026-11-30")
    AlertLog(path).dispatch(alerts, sink)      # each alert sent once (its key names the fact)

Three checks per product (the scheduled jobs of :mod:`assistant.schedule` run them after each
repricing or scoring run):

- ``competitor_undercut``: the cheapest current competitor offer is more than
  ``undercut_pct`` % below our price (the applied price from the price list, else the
  catalog's);
- ``competitor_below_map``: a competitor offers below the product's minimum advertised price
  (MAP, from ``map_file``: a CSV with ``product_id,map_price``);
- ``price_below_cost``: our price, or the suggested one, is below the unit cost.

Stale offers (older than the service's offer age limit) are shown in evidence but never alert.
An alert's key is the fact it reports (product, competitor, offer price, date; or prices and
cost), so the same undercut is sent once however often the job runs, and a new offer alerts
again.
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from assistant.alerts import Alert
from assistant.suggestion import Suggestion


class AlertRules(BaseModel):
    """Which pricing alerts a job raises (the ``[alerts]`` table of a schedule file)."""

    model_config = ConfigDict(extra="forbid")

    undercut_pct: float | None = Field(5.0, ge=0, le=100, description="alert when a competitor "
                                       "sells more than this many % below our price (None: off)")
    below_map: bool = Field(True, description="alert when a competitor sells below MAP")
    below_cost: bool = Field(True, description="alert when our or the suggested price is below "
                             "the unit cost")
    map_file: Path | None = Field(None, description="CSV of product_id,map_price (minimum "
                                  "advertised prices)")


@dataclass(frozen=True)
class PriceContext:
    """What the checks compare a suggestion with (from the price list and the catalog)."""

    our_price: float | None
    our_price_from: str = "catalog"        # "price list" (applied) or "catalog"
    cost: float | None = None
    map_price: float | None = None


def read_map_prices(path: str | Path) -> dict[str, float]:
    """``product_id -> MAP`` from a CSV with ``product_id`` and ``map_price`` columns; a bad
    row raises ValueError naming its line and field."""
    p = Path(path)
    try:
        f = p.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise ValueError(f"map_file {p}: {exc.strerror or exc}") from None
    with f:
        reader = csv.DictReader(f)
        cols = {c.strip().lower() for c in reader.fieldnames or []}
        missing = [c for c in ("product_id", "map_price") if c not in cols]
        if missing:
            raise ValueError(f"map_file {p.name}: missing column(s) {', '.join(missing)}")
        out: dict[str, float] = {}
        for line, row in enumerate(reader, start=2):
            row = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
            pid = row["product_id"]
            if not pid:
                raise ValueError(f"map_file {p.name} line {line}: product_id is empty")
            try:
                v = float(row["map_price"].replace(",", ""))
            except ValueError:
                raise ValueError(f"map_file {p.name} line {line}: map_price "
                                 f"{row['map_price']!r} is not a number") from None
            if not math.isfinite(v) or v <= 0:
                raise ValueError(f"map_file {p.name} line {line}: map_price must be above zero")
            out[pid] = v
    return out


def _money(v: float, currency: str | None) -> str:
    return f"{v:,.2f}" + (f" {currency}" if currency else "")


def price_alerts(s: Suggestion, ctx: PriceContext, rules: AlertRules, today: str,
                 source: str = "") -> list[Alert]:
    """The alerts suggestion ``s`` raises for its product under ``rules``."""
    pid = s.product_id or s.title
    name = f"{s.title} ({pid})" if s.product_id else s.title
    cur = s.currency
    base = {"product_id": s.product_id, "title": s.title, "currency": cur,
            "suggestion_id": s.suggestion_id, "suggested_price": s.recommended_price,
            "our_price": ctx.our_price, "our_price_from": ctx.our_price_from}
    if source:
        base["source"] = source
    offers = [o for o in s.evidence.competitors if not o.stale and o.price > 0]
    out: list[Alert] = []
    if rules.undercut_pct is not None and ctx.our_price and offers:
        o = min(offers, key=lambda o: (o.price, o.competitor))
        gap = (ctx.our_price - o.price) / ctx.our_price * 100
        if gap > rules.undercut_pct + 1e-9:
            out.append(Alert(
                kind="competitor_undercut", at=o.observed_at or today,
                key=f"competitor_undercut:{pid}:{o.competitor}:{o.price:.2f}:{o.observed_at or ''}",
                message=(f"{name}: {o.competitor} sells at {_money(o.price, cur)}, {gap:.1f}% "
                         f"below our {_money(ctx.our_price, cur)} (threshold "
                         f"{rules.undercut_pct:g}%); suggested {_money(s.recommended_price, cur)}"),
                details={**base, "competitor": o.competitor, "competitor_price": o.price,
                         "observed_at": o.observed_at, "gap_pct": round(gap, 2),
                         "threshold_pct": rules.undercut_pct}))
    if rules.below_map and ctx.map_price:
        for o in sorted(offers, key=lambda o: (o.price, o.competitor)):
            if o.price < ctx.map_price - 0.005:
                out.append(Alert(
                    kind="competitor_below_map", at=o.observed_at or today,
                    key=f"competitor_below_map:{pid}:{o.competitor}:{o.price:.2f}:"
                        f"{o.observed_at or ''}",
                    message=(f"{name}: {o.competitor} advertises {_money(o.price, cur)}, below "
                             f"the minimum advertised price {_money(ctx.map_price, cur)}"),
                    details={**base, "competitor": o.competitor, "competitor_price": o.price,
                             "observed_at": o.observed_at, "map_price": ctx.map_price}))
    if rules.below_cost and ctx.cost:
        below = [(what, p) for what, p in (("our price", ctx.our_price),
                                           ("suggested price", s.recommended_price))
                 if p is not None and p < ctx.cost - 0.005]
        if below:
            words = " and ".join(f"{what} {_money(p, cur)}" for what, p in below)
            out.append(Alert(
                kind="price_below_cost", at=today, severity="critical",
                key=f"price_below_cost:{pid}:" + ":".join(f"{p:.2f}" for _, p in below)
                    + f":{ctx.cost:.2f}",
                message=f"{name}: {words} below the unit cost {_money(ctx.cost, cur)}",
                details={**base, "cost": ctx.cost, "below": [w for w, _ in below]}))
    return out


__all__ = ["AlertRules", "PriceContext", "price_alerts", "read_map_prices"]
