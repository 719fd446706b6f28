"""Canonical data contracts: the columns every loader and adapter produces.

Use::

    from graph.contracts import PRODUCT_COLUMNS, Catalog, Rejection
    catalog = Catalog(products=df)          # a validated set of tables
    catalog.products.columns                # exactly PRODUCT_COLUMNS (+ free attributes)

Four tables cross module boundaries as pandas DataFrames with the canonical columns below
(one row per record); single records that cross the API boundary use the pydantic models.
A row that breaks a rule becomes a :class:`Rejection` naming file, row, field and reason;
nothing is dropped silently.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pandas as pd
from pydantic import BaseModel, Field, field_validator

TableKind = Literal["products", "reviews", "offers", "sales"]

# Required fields are marked in REQUIRED; the rest may be empty (NaN / None).
PRODUCT_COLUMNS: list[str] = [
    "product_id", "title", "description", "category_path", "brand", "brand_inferred",
    "condition", "price", "currency", "cost", "rating", "rating_count", "source",
]
REVIEW_COLUMNS: list[str] = ["product_id", "review_id", "rating", "title", "text", "source"]
OFFER_COLUMNS: list[str] = [
    "product_id", "competitor", "price", "currency", "observed_at", "url", "shipping", "source",
]
SALES_COLUMNS: list[str] = ["product_id", "date", "price", "quantity", "source"]

COLUMNS: dict[str, list[str]] = {
    "products": PRODUCT_COLUMNS,
    "reviews": REVIEW_COLUMNS,
    "offers": OFFER_COLUMNS,
    "sales": SALES_COLUMNS,
}
REQUIRED: dict[str, list[str]] = {
    "products": ["product_id", "title"],
    "reviews": ["product_id"],
    "offers": ["product_id", "competitor", "price"],
    "sales": ["product_id", "date", "price", "quantity"],
}
NUMERIC: dict[str, list[str]] = {
    "products": ["price", "cost", "rating", "rating_count"],
    "reviews": ["rating"],
    "offers": ["price", "shipping"],
    "sales": ["price", "quantity"],
}

CATEGORY_SEPARATOR = " > "
# Above any real listing price in any currency; keeps arithmetic on prices finite and exact.
MAX_PRICE = 1e10

# ISO 4217 active codes. Kept inline so validation needs no extra dependency.
CURRENCIES: frozenset[str] = frozenset(
    """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN
    BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP
    GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS
    KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR
    MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF
    SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD
    TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XOF XPF YER ZAR ZMW ZWL""".split()
)


@dataclass(frozen=True)
class Rejection:
    """One rejected row: where it was and why."""

    file: str
    row: int  # 1-based data row (the header is not counted)
    field: str
    reason: str
    product_id: str | None = None
    table: str | None = None  # products / reviews / offers / sales: one file can feed several

    def as_dict(self) -> dict:
        return {"file": self.file, "row": self.row, "field": self.field,
                "reason": self.reason, "product_id": self.product_id, "table": self.table}


def empty_table(kind: TableKind) -> pd.DataFrame:
    """An empty DataFrame with the canonical columns of ``kind``."""
    return pd.DataFrame({c: pd.Series(dtype="object") for c in COLUMNS[kind]})


@dataclass
class Catalog:
    """Validated tables of one or more data sets, ready to build a graph from."""

    products: pd.DataFrame = field(default_factory=lambda: empty_table("products"))
    reviews: pd.DataFrame = field(default_factory=lambda: empty_table("reviews"))
    offers: pd.DataFrame = field(default_factory=lambda: empty_table("offers"))
    sales: pd.DataFrame = field(default_factory=lambda: empty_table("sales"))
    rejections: list[Rejection] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {"products": len(self.products), "reviews": len(self.reviews),
                "offers": len(self.offers), "sales": len(self.sales),
                "rejected": len(self.rejections)}


class ProductIn(BaseModel):
    """One product as a caller describes it (API, CLI, chat). Price is the current price."""

    product_id: str | None = Field(default=None, max_length=200)
    title: str = Field(min_length=1, max_length=2000)
    description: str | None = Field(default=None, max_length=20000)
    category_path: str | None = Field(default=None, max_length=1000)
    brand: str | None = Field(default=None, max_length=200)
    condition: str | None = Field(default=None, max_length=50)
    price: float | None = Field(default=None, gt=0, le=MAX_PRICE, description="current price")
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    cost: float | None = Field(default=None, ge=0, le=MAX_PRICE)
    rating: float | None = Field(default=None, ge=0, le=5)
    rating_count: float | None = Field(default=None, ge=0)
    reviews: list[str] = Field(default_factory=list, max_length=500)

    @field_validator("title")
    @classmethod
    def _title_not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("title must not be blank")
        return v.strip()

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, v: str | None) -> str | None:
        if v is None:
            return v
        v = v.upper()
        if v not in CURRENCIES:
            raise ValueError(f"unknown currency code {v!r}")
        return v
