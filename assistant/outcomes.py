"""Outcomes: what actually happened to a product's price (sold price, units, date), validated
per row and stored beside the prediction the serving model made for it.

Use::

    pricing outcomes sales.csv                       # CSV / JSONL / Parquet: one outcome a row
    curl -X POST localhost:8000/v1/outcomes -H "X-API-Key: $KEY" -H 'Content-Type: application/json' \\
         -d '{"outcomes": [{"product_id": "B07JW9H4J1", "sold_price": 1299, "units": 3,
                            "date": "2023-03-14", "suggestion_id": "..."}]}'

    from assistant.outcomes import OutcomeStore, record_outcomes
    store = OutcomeStore(service.store.path)         # same SQLite file as suggestions + feedback
    result = record_outcomes(service, store, rows)   # RecordResult: stored + per-row errors
    frame = store.frame()                            # outcomes joined with their feedback

Each stored outcome carries the prediction it is judged against: with a ``suggestion_id``,
the suggestion the merchant saw (its model price, interval and model version); without one,
what the serving model predicts for the product now. It also keeps the product's category and
its text embedding (float16), which monitoring uses for input drift. Outcomes live in the
suggestion store's SQLite file by default so the merchant's feedback on a suggestion joins in
(latest verdict and edited price per suggestion).

Rules (a broken rule is a :class:`RowError` naming the row and the field): ``product_id`` a
catalog product (or one a stored suggestion was made for), ``sold_price`` a finite price
above 0, ``units`` a whole number >= 1 (default 1), ``date`` an ISO date from 1970 on and not
in the future, ``suggestion_id`` a stored suggestion for that same product, ``currency``
(optional) the product's own. By default a batch with any bad row stores nothing (``partial=True``: the good
rows are stored and the bad ones reported).
"""
from __future__ import annotations

import datetime as dt
import json
import math
import sqlite3
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from assistant.suggestion_store import UnknownSuggestion
from graph.contracts import MAX_ID_LENGTH, MAX_PRICE, check_currency, check_id
from graph.schema import now_iso

if TYPE_CHECKING:
    from assistant.service import PricingService

MAX_ROWS = 10_000  # one request / file chunk; larger files are read in chunks of this size
MAX_UNITS = 1_000_000_000
# Earliest date accepted: older ones are typos, and pandas' timestamps end at 1677 anyway.
MIN_DATE = dt.date(1970, 1, 1)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outcomes (
    id TEXT PRIMARY KEY,
    product_id TEXT NOT NULL,
    date TEXT NOT NULL,
    sold_price REAL NOT NULL,
    units INTEGER NOT NULL,
    suggestion_id TEXT,
    currency TEXT,
    category_path TEXT,
    model_version TEXT,
    pred_price REAL,
    pred_low REAL,
    pred_high REAL,
    nominal_coverage REAL,
    embedding BLOB,
    recorded_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS outcomes_date ON outcomes(date);
CREATE INDEX IF NOT EXISTS outcomes_product ON outcomes(product_id);
"""
COLUMNS = ("outcome_id", "product_id", "date", "sold_price", "units", "suggestion_id",
           "currency", "category_path", "model_version", "pred_price", "pred_low", "pred_high",
           "nominal_coverage", "recorded_at")


class OutcomeIn(BaseModel):
    """One outcome as a caller sends it."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    product_id: str = Field(min_length=1, max_length=MAX_ID_LENGTH)
    sold_price: float = Field(gt=0, le=MAX_PRICE, description="price actually paid per unit")
    units: int = Field(default=1, ge=1, le=MAX_UNITS, description="units sold at that price")
    date: dt.date = Field(description="ISO date of the sale(s)")
    suggestion_id: str | None = Field(default=None, min_length=1, max_length=100,
                                      description="the suggestion this price followed, if any")
    currency: str | None = Field(default=None, min_length=3, max_length=3)

    @field_validator("product_id")
    @classmethod
    def _valid_id(cls, v: str) -> str:
        return check_id(v, "product_id")

    @field_validator("date")
    @classmethod
    def _not_future(cls, v: dt.date) -> dt.date:
        # One day of slack: a sale recorded in a time zone ahead of the server's.
        if v > dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1):
            raise ValueError(f"date {v.isoformat()} is in the future")
        if v < MIN_DATE:
            raise ValueError(f"date {v.isoformat()} is before {MIN_DATE.isoformat()}")
        return v

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, v: str | None) -> str | None:
        return check_currency(v)


class Outcome(OutcomeIn):
    """A stored outcome with the prediction it is judged against."""

    outcome_id: str
    category_path: str | None = None
    model_version: str | None = None
    pred_price: float | None = None
    pred_low: float | None = None
    pred_high: float | None = None
    nominal_coverage: float | None = None
    recorded_at: str


@dataclass
class RowError:
    """Why one input row was refused."""

    row: int           # 0-based position in the batch / data row in the file
    field: str | None
    error: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "field": self.field, "error": self.error}


@dataclass
class RecordResult:
    stored: list[Outcome] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


# --------------------------------------------------------------------------- store
class OutcomeStore:
    """Outcomes in SQLite (WAL); by default the suggestion store's file, for the feedback join."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._db() as con:
            con.execute("PRAGMA journal_mode=WAL")
            con.executescript(_SCHEMA)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=30)
        try:
            with con:
                yield con
        finally:
            con.close()

    def add(self, items: Sequence[Outcome], embeddings: Sequence[np.ndarray | None]) -> None:
        """Store outcomes (one transaction: all or none)."""
        rows = [(o.outcome_id, o.product_id, o.date.isoformat(), o.sold_price, o.units,
                 o.suggestion_id, o.currency, o.category_path, o.model_version, o.pred_price,
                 o.pred_low, o.pred_high, o.nominal_coverage,
                 None if e is None else np.asarray(e, np.float16).tobytes(), o.recorded_at)
                for o, e in zip(items, embeddings, strict=True)]
        with self._db() as con:
            con.executemany(f"INSERT INTO outcomes({', '.join(_STORED)}) VALUES "
                            f"({', '.join('?' * len(_STORED))})", rows)

    def count(self) -> int:
        with self._db() as con:
            return int(con.execute("SELECT COUNT(*) FROM outcomes").fetchone()[0])

    def frame(self, since: dt.date | str | None = None, until: dt.date | str | None = None,
              limit: int | None = None, embeddings: bool = False) -> pd.DataFrame:
        """Outcomes ordered by date (then arrival), joined with the latest feedback on their
        suggestion (``feedback_verdict``, ``feedback_price``); ``limit`` keeps the latest ones.
        ``embeddings``: add an ``embedding`` column (float32 arrays, None when unknown)."""
        where, args = [], []
        if since is not None:
            where.append("o.date >= ?")
            args.append(str(since))
        if until is not None:
            where.append("o.date < ?")
            args.append(str(until))
        cond = f"WHERE {' AND '.join(where)}" if where else ""
        with self._db() as con:
            has_fb = con.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND "
                                 "name='feedback'").fetchone() is not None
            # SQLite: a bare column beside MAX() comes from the row holding the maximum, i.e.
            # the latest feedback of each suggestion.
            fb = ("LEFT JOIN (SELECT suggestion_id AS sid, verdict, edited_price, MAX(rowid) "
                  "FROM feedback GROUP BY suggestion_id) f ON f.sid = o.suggestion_id"
                  if has_fb else "")
            fb_cols = "f.verdict, f.edited_price" if has_fb else "NULL, NULL"
            emb_col = ", o.embedding" if embeddings else ""
            sql = (f"SELECT {', '.join('o.' + c for c in _STORED if c != 'embedding')}, {fb_cols}"
                   f"{emb_col} FROM outcomes o {fb} {cond} ORDER BY o.date DESC, o.rowid DESC")
            if limit is not None:
                sql += f" LIMIT {int(limit)}"
            rows = con.execute(sql, args).fetchall()
        cols = [*COLUMNS, "feedback_verdict", "feedback_price"] + (["embedding"] if embeddings else [])
        out = pd.DataFrame(rows[::-1], columns=cols)
        if embeddings:
            out["embedding"] = [None if b is None else np.frombuffer(b, np.float16).astype(np.float32)
                                for b in out["embedding"]]
        out["date"] = pd.to_datetime(out["date"])
        return out


_STORED = ("id", "product_id", "date", "sold_price", "units", "suggestion_id", "currency",
           "category_path", "model_version", "pred_price", "pred_low", "pred_high",
           "nominal_coverage", "embedding", "recorded_at")


# --------------------------------------------------------------------------- recording
def validate_rows(rows: Iterable[Mapping[str, Any]], first_row: int = 0
                  ) -> tuple[list[tuple[int, OutcomeIn]], list[RowError]]:
    """Each row as an OutcomeIn, or a RowError naming the first field pydantic refused."""
    ok: list[tuple[int, OutcomeIn]] = []
    errors: list[RowError] = []
    for i, row in enumerate(rows, start=first_row):
        if not isinstance(row, Mapping):
            errors.append(RowError(i, None, f"expected an object, got {type(row).__name__}"))
            continue
        clean = {k: v for k, v in row.items() if not _blank(v)}
        try:
            ok.append((i, OutcomeIn.model_validate(clean)))
        except ValidationError as exc:
            e = exc.errors()[0]
            fld = ".".join(str(p) for p in e.get("loc", ())) or None
            msg = e.get("msg", "invalid")
            errors.append(RowError(i, fld, f"{fld}: {msg}" if fld else msg))
    return ok, errors


def _blank(v: Any) -> bool:
    # A CSV's empty cell (NaN / "") means "not given", like a missing JSON key.
    return v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip())


def record_outcomes(service: PricingService, store: OutcomeStore,
                    rows: Iterable[Mapping[str, Any]] | Sequence[OutcomeIn], *,
                    partial: bool = False, first_row: int = 0) -> RecordResult:
    """Validate, attach each outcome's prediction and store (all or nothing unless ``partial``).

    Returns the stored outcomes (none when a row failed and not ``partial``) and the errors.
    """
    rows = list(rows)
    if len(rows) > MAX_ROWS:
        return RecordResult(errors=[RowError(MAX_ROWS, None, f"at most {MAX_ROWS:,} outcomes a "
                                             f"batch; got {len(rows):,}")])
    if rows and all(isinstance(r, OutcomeIn) for r in rows):
        valid = [(first_row + i, r) for i, r in enumerate(rows)]
        errors: list[RowError] = []
    else:
        valid, errors = validate_rows(rows, first_row)  # type: ignore[arg-type]

    products = service.products
    records: list[dict[str, Any]] = []
    kept: list[tuple[int, OutcomeIn, Any]] = []   # (row, outcome, suggestion or None)
    for i, o in valid:
        sug = None
        if o.suggestion_id is not None:
            try:
                sug = service.store.get_suggestion(o.suggestion_id)
            except UnknownSuggestion:
                errors.append(RowError(i, "suggestion_id", f"unknown suggestion_id {o.suggestion_id!r}"))
                continue
            if sug.product_id is not None and sug.product_id != o.product_id:
                errors.append(RowError(i, "suggestion_id", f"suggestion {o.suggestion_id} was "
                                       f"made for product {sug.product_id!r}, not {o.product_id!r}"))
                continue
        if o.product_id in products.index:
            rec = _catalog_record(products.loc[o.product_id])
        elif sug is not None:
            rec = {"product_id": o.product_id, "title": sug.title, "currency": sug.currency}
        else:
            errors.append(RowError(i, "product_id", f"unknown product_id {o.product_id!r}: not in "
                                   "the catalog (ingest it first, or give the suggestion_id)"))
            continue
        cur = rec.get("currency") or service.default_currency
        if o.currency is not None and o.currency != cur:
            errors.append(RowError(i, "currency", f"currency {o.currency} differs from the "
                                   f"product's {cur}: send prices in {cur}"))
            continue
        rec["currency"] = cur
        records.append(rec)
        kept.append((i, o, sug))
    errors.sort(key=lambda e: e.row)
    if errors and not partial:
        return RecordResult(errors=errors)

    predictor = service.predictor  # one model for the whole batch, even during a swap
    preds = predictor.predict(records) if records else []
    stored: list[Outcome] = []
    embs: list[np.ndarray | None] = []
    at = now_iso()
    for (_, o, sug), rec, p in zip(kept, records, preds):
        if sug is not None:  # judged against what the merchant was shown
            price, low, high = sug.model_price, sug.interval.low, sug.interval.high
            version, cov = sug.model_version, sug.interval.coverage
        else:
            price, low, high = p.p50, p.low, p.high
            version, cov = predictor.version, p.coverage
        stored.append(Outcome(**o.model_dump(exclude={"currency"}), currency=rec["currency"],
                              outcome_id=uuid.uuid4().hex, category_path=rec.get("category_path"),
                              model_version=version, pred_price=round(float(price), 4),
                              pred_low=round(float(low), 4), pred_high=round(float(high), 4),
                              nominal_coverage=float(cov), recorded_at=at))
        embs.append(p.embedding)
    if stored:
        store.add(stored, embs)
    return RecordResult(stored=stored, errors=errors)


def _catalog_record(row: pd.Series) -> dict[str, Any]:
    rec = {}
    for k in ("product_id", "title", "description", "category_path", "brand", "rating",
              "rating_count", "currency"):
        v = row.get(k)
        rec[k] = None if v is None or (not isinstance(v, (list, str)) and pd.isna(v)) else v
    rec["reviews"] = list(row.get("review_texts") or [])
    return rec


def read_outcome_file(path: str | Path, chunk: int = MAX_ROWS) -> Iterator[tuple[int, list[dict]]]:
    """Rows of a CSV / JSONL / Parquet file as dicts, in chunks: (first row number, rows).

    Row numbers count data rows from 0 (a CSV's header is not a row)."""
    p = Path(path)
    suffixes = "".join(p.suffixes).lower()
    if suffixes.endswith((".csv", ".csv.gz")):
        frame = pd.read_csv(p, dtype={"product_id": str, "suggestion_id": str, "currency": str,
                                      "date": str}, keep_default_na=False, na_values=[""])
    elif suffixes.endswith((".jsonl", ".jsonl.gz", ".ndjson")):
        frame = pd.read_json(p, lines=True, dtype={"product_id": str, "suggestion_id": str,
                                                   "date": str})
    elif suffixes.endswith(".json"):
        data = json.loads(p.read_text(encoding="utf-8"))
        rows = data.get("outcomes", data) if isinstance(data, dict) else data
        frame = pd.DataFrame(rows)
    elif suffixes.endswith(".parquet"):
        frame = pd.read_parquet(p)
    else:
        raise ValueError(f"{p}: use a .csv, .jsonl, .json or .parquet file")
    if "date" in frame:  # a parsed timestamp -> the ISO date the model expects
        frame["date"] = [d.date().isoformat() if isinstance(d, pd.Timestamp) else d
                         for d in frame["date"]]
    records = frame.to_dict("records")
    for s in range(0, len(records), chunk):
        yield s, records[s:s + chunk]
