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

import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from graph.schema import NodeType

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

# Limits on text, shared by ingest (graph.loader), curation (graph.curation) and the API
# (ProductIn and the requests built on it), so that whatever one accepts the others can use.
MAX_ID_LENGTH = 200        # product_id, review_id
MAX_NAME_LENGTH = 200      # brand, competitor, one category level, attribute names
MAX_PATH_LENGTH = 1000     # category_path
MAX_TITLE_LENGTH = 2000    # titles, reasons, urls
MAX_TEXT_LENGTH = 20000    # description, review text, free attribute values
MAX_COUNT = 1e9            # rating_count: far above any real listing's
# Multi-line text may hold tabs and line breaks; nothing else below U+0020 (a NUL byte,
# an escape sequence), no C1 control (U+0080-U+009F: NEL, CSI, ...) and no lone surrogate
# (it cannot be stored as UTF-8). Free text is repaired first (clean_text).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_CONTROL_MULTILINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
# C1 controls in real listings are Windows-1252 punctuation read as Latin-1 ("\x96" for an en
# dash, "\x92" for an apostrophe): free text gets the character back; the five bytes
# Windows-1252 leaves undefined are removed. Ids, names used as keys and references are
# never repaired (a changed id would point elsewhere): they are refused.
_C1_REPAIR = {c: bytes([c]).decode("cp1252", errors="ignore") or None for c in range(0x80, 0xA0)}
# The fields whose text is repaired, on every path (ingest, curation, API).
FREE_TEXT_FIELDS = frozenset({"title", "description", "text", "category_path", "path", "brand",
                              "condition", "competitor", "name", "new_name", "url", "reason"})
_NODE_PREFIXES = tuple(f"{t.value}:" for t in NodeType)
TEXT_LIMITS: dict[str, dict[str, int]] = {
    "products": {"product_id": MAX_ID_LENGTH, "title": MAX_TITLE_LENGTH,
                 "description": MAX_TEXT_LENGTH, "category_path": MAX_PATH_LENGTH,
                 "brand": MAX_NAME_LENGTH, "condition": 50},
    "reviews": {"product_id": MAX_ID_LENGTH, "review_id": MAX_ID_LENGTH,
                "title": MAX_TITLE_LENGTH, "text": MAX_TEXT_LENGTH},
    "offers": {"product_id": MAX_ID_LENGTH, "competitor": MAX_NAME_LENGTH,
               "url": MAX_TITLE_LENGTH},
    "sales": {"product_id": MAX_ID_LENGTH},
}
MULTILINE = frozenset({"description", "text"})
ID_FIELDS = frozenset({"product_id", "review_id"})


def finite_or_none(x: Any) -> float | None:
    """``x`` as a finite float, or None for anything that is not one (None, text, NaN, inf):
    how stored and tabular values (pandas cells, JSON attributes) are read as numbers."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def clean_text(value: Any) -> Any:
    """``value`` with C1 control characters repaired (see _C1_REPAIR); anything not a str as is."""
    if isinstance(value, str) and not value.isascii():
        return value.translate(_C1_REPAIR)
    return value


def text_problem(value: str, fld: str, limit: int, *, multiline: bool = False) -> str | None:
    """Why ``value`` is not acceptable text for field ``fld`` (None: it is)."""
    if len(value) > limit:
        return f"{fld} is {len(value):,} characters long; at most {limit:,} are allowed"
    bad = (_CONTROL_MULTILINE if multiline else _CONTROL).search(value)
    if bad:
        return (f"{fld} contains the control character U+{ord(bad.group()):04X} at position "
                f"{bad.start()}")
    return None


def id_problem(value: str, fld: str = "product_id") -> str | None:
    """Why ``value`` is not an acceptable catalog id (None: it is): text rules, not blank, no
    surrounding spaces, and no node-type prefix (``product:X1`` would be read as a node id)."""
    why = text_problem(value, fld, MAX_ID_LENGTH)
    if why:
        return why
    if not value.strip() or value != value.strip():
        return f"{fld} must be non-blank and without leading or trailing spaces"
    if value.lower().startswith(_NODE_PREFIXES):
        return (f"{fld} {value!r} starts with a node-type prefix "
                f"({', '.join(_NODE_PREFIXES)}); give the catalog id without it")
    return None


def check_text(value: Any, fld: str, limit: int, *, multiline: bool = False) -> Any:
    """``value`` (repaired by clean_text) if it is None or acceptable text, else ValueError
    naming ``fld``."""
    value = clean_text(value)
    if isinstance(value, str):
        why = text_problem(value, fld, limit, multiline=multiline)
        if why:
            raise ValueError(why)
    return value


def check_id(value: Any, fld: str = "product_id") -> Any:
    """``value`` if it is None or an acceptable id, else ValueError naming ``fld``."""
    if isinstance(value, str):
        why = id_problem(value, fld)
        if why:
            raise ValueError(why)
    return value


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


def check_currency(value: str | None) -> str | None:
    """``value`` upper-cased if it is None or an ISO 4217 code, else ValueError: the one
    currency rule of the pydantic models (products here, outcomes in assistant.outcomes)."""
    if value is None:
        return value
    value = value.upper()
    if value not in CURRENCIES:
        raise ValueError(f"unknown currency code {value!r}")
    return value


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
    """One product as a caller describes it (API, CLI, chat). Price is the current price.

    Text follows the limits above (:func:`text_problem`, :func:`id_problem`); numbers must be
    finite (``Infinity`` and ``NaN`` are refused, naming the field).
    """

    model_config = ConfigDict(allow_inf_nan=False)

    product_id: str | None = Field(default=None, max_length=MAX_ID_LENGTH)
    title: str = Field(min_length=1, max_length=MAX_TITLE_LENGTH)
    description: str | None = Field(default=None, max_length=MAX_TEXT_LENGTH)
    category_path: str | None = Field(default=None, max_length=MAX_PATH_LENGTH)
    brand: str | None = Field(default=None, max_length=MAX_NAME_LENGTH)
    condition: str | None = Field(default=None, max_length=50)
    price: float | None = Field(default=None, gt=0, le=MAX_PRICE, description="current price")
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    cost: float | None = Field(default=None, ge=0, le=MAX_PRICE)
    rating: float | None = Field(default=None, ge=0, le=5)
    rating_count: float | None = Field(default=None, ge=0, le=MAX_COUNT)
    reviews: list[str] = Field(default_factory=list, max_length=500)

    @field_validator("product_id")
    @classmethod
    def _valid_id(cls, v: str | None) -> str | None:
        return check_id(v, "product_id")

    @field_validator("title", "category_path", "brand", "condition")
    @classmethod
    def _one_line(cls, v: str | None, info: Any) -> str | None:
        return check_text(v, info.field_name, 1 << 30)  # lengths: the Field limits

    @field_validator("description")
    @classmethod
    def _multi_line(cls, v: str | None) -> str | None:
        return check_text(v, "description", MAX_TEXT_LENGTH, multiline=True)

    @field_validator("reviews")
    @classmethod
    def _review_texts(cls, v: list[str]) -> list[str]:
        return [check_text(text, f"reviews[{i}]", MAX_TEXT_LENGTH, multiline=True) for i, text in enumerate(v)]

    @field_validator("title")
    @classmethod
    def _title_not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("title must not be blank")
        return v.strip()

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, v: str | None) -> str | None:
        return check_currency(v)
