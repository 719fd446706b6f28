"""A competitor's listings file, read and validated row by row (for :mod:`assistant.matching`).

Use::

    from assistant.competitor_listings import read_listings, validate_listings
    listings, rejected = read_listings("flipkart.csv", default_currency="INR")
    listings[0].key, listings[0].as_listing()      # stable identity; what the matcher reads
    rejected[0].row, rejected[0].field, rejected[0].reason

CSV, JSON lines or Parquet (:func:`graph.loader.read_table`) with ``title`` and ``price``
(required) and ``listing_id``, ``brand``, ``model_number``, ``category``, ``currency``,
``url``, ``observed_at`` (optional; common aliases such as ``name``, ``modelno``,
``manufacturer`` are accepted, see ``ALIASES``). Each bad row becomes one
:class:`graph.contracts.Rejection` naming row, field(s) and reason(s); the good rows go on.
"""
from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError, field_validator

from graph.contracts import CURRENCIES, MAX_PRICE, Rejection
from models.match_features import Listing, normalize

ALIASES = {"name": "title", "product_name": "title", "modelno": "model_number",
           "model": "model_number", "mpn": "model_number", "manufacturer": "brand",
           "category_path": "category", "id": "listing_id", "sku": "listing_id",
           "date": "observed_at", "link": "url"}
FIELDS = ("listing_id", "title", "brand", "model_number", "category", "price", "currency",
          "url", "observed_at")


class CompetitorListing(BaseModel):
    """One validated row of a competitor's listings file."""

    row: int = Field(ge=1, description="1-based data row in the file")
    listing_id: str | None = Field(default=None, max_length=200)
    title: str = Field(min_length=1, max_length=2000)
    brand: str | None = Field(default=None, max_length=200)
    model_number: str | None = Field(default=None, max_length=200)
    category: str | None = Field(default=None, max_length=1000)
    price: float = Field(gt=0, le=MAX_PRICE)
    currency: str = Field(min_length=3, max_length=3)
    url: str | None = Field(default=None, max_length=2000)
    observed_at: str

    @field_validator("title")
    @classmethod
    def _title(cls, v: str) -> str:
        v = " ".join(v.split())
        if not v:
            raise ValueError("title must not be blank")
        return v

    @field_validator("price")
    @classmethod
    def _finite(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError("price must be a finite number")
        return v

    @field_validator("currency")
    @classmethod
    def _currency(cls, v: str) -> str:
        v = v.strip().upper()
        if v not in CURRENCIES:
            raise ValueError(f"unknown currency code {v!r} (ISO 4217, e.g. INR, USD)")
        return v

    @field_validator("observed_at")
    @classmethod
    def _date(cls, v: str) -> str:
        try:
            return date.fromisoformat(str(v).strip()[:10]).isoformat()
        except ValueError:
            raise ValueError(f"observed_at {v!r} is not a date (YYYY-MM-DD)") from None

    @property
    def key(self) -> str:
        """Stable identity of the listing across files: its id, else its URL, else a hash of
        its normalised title, brand and model number."""
        if self.listing_id:
            return f"id:{self.listing_id}"
        if self.url:
            return f"url:{self.url}"
        h = hashlib.sha1("|".join(normalize(x or "") for x in (
            self.title, self.brand, self.model_number)).encode("utf-8")).hexdigest()[:16]
        return f"title:{h}"

    def as_listing(self) -> Listing:
        return Listing(title=self.title, brand=self.brand, model_number=self.model_number,
                       category=self.category, price=self.price, currency=self.currency)


def _cell(v: Any) -> Any:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, str):
        v = v.strip()
        return v or None
    if hasattr(v, "item"):
        v = v.item()
    return v


def validate_listings(rows: Sequence[dict], file: str = "<rows>", *,
                      default_currency: str | None = None,
                      today: str | None = None) -> tuple[list[CompetitorListing], list[Rejection]]:
    """Validate listing rows (dicts with the fields above); one Rejection per bad row."""
    ok: list[CompetitorListing] = []
    bad: list[Rejection] = []
    today = today or datetime.now(UTC).date().isoformat()
    for i, raw in enumerate(rows, 1):
        r = {}
        for k, v in raw.items():
            k = ALIASES.get(str(k).strip().lower(), str(k).strip().lower())
            if k in FIELDS and k not in r:
                r[k] = _cell(v)
        for k in ("listing_id", "title", "brand", "model_number", "category", "url"):
            if r.get(k) is not None:
                r[k] = str(r[k])
        if r.get("currency") is None and default_currency:
            r["currency"] = default_currency
        if r.get("observed_at") is None:
            r["observed_at"] = today
        else:
            r["observed_at"] = str(r["observed_at"])
        price = r.get("price")
        if isinstance(price, str):
            try:
                r["price"] = float(price.replace(",", ""))
            except ValueError:
                bad.append(Rejection(file, i, "price", f"price {price!r} is not a number",
                                     r.get("listing_id"), "listings"))
                continue
        try:
            ok.append(CompetitorListing(row=i, **r))
        except ValidationError as exc:
            fields = [".".join(str(x) for x in e["loc"]) or "row" for e in exc.errors()]
            reasons = "; ".join(f"{f}: {e['msg']}" for f, e in zip(fields, exc.errors()))
            bad.append(Rejection(file, i, ",".join(dict.fromkeys(fields)), reasons,
                                 r.get("listing_id"), "listings"))
    return ok, bad


def read_listings(path: str | Path, *, default_currency: str | None = None,
                  today: str | None = None) -> tuple[list[CompetitorListing], list[Rejection]]:
    """Read and validate a competitor's listings file (CSV, JSON lines or Parquet)."""
    from graph.loader import read_table

    p = Path(path)
    frame = read_table(p)
    cols = {ALIASES.get(c.strip().lower(), c.strip().lower()) for c in frame.columns}
    missing = [c for c in ("title", "price") if c not in cols]
    if missing:
        raise ValueError(f"{p.name}: missing column(s) {', '.join(missing)} (found "
                         f"{', '.join(map(str, frame.columns)) or 'none'})")
    return validate_listings(frame.to_dict("records"), p.name,
                             default_currency=default_currency, today=today)
