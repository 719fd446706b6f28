"""Catalog spreadsheets in: a products CSV, validated per row, stored through audited curation.

Use::

    report = import_catalog(csv_bytes, service, actor="curator:ann")     # UI and API call this
    report.errors       # [RowError(row=3, field="price", reason="non-numeric price: abc")]
    report.stored, report.audit_id, report.added, report.updated, report.suggested
    service.curation.revert(report.audit_id, actor="curator:ann")        # undo the whole file

The file: UTF-8 CSV with a header; ``product_id`` and ``title`` are required, and the other
canonical product columns of :data:`graph.contracts.PRODUCT_COLUMNS` are read (category_path,
brand, price, currency, cost, description, condition, rating, rating_count; other columns are
ignored and named in ``report.ignored``). Every row is checked by the same validation as
ingest (:func:`graph.loader.validate` over :mod:`graph.contracts`: numbers, prices > 0,
currencies, text limits, duplicate ids) and then by the curation rules (a product sits in a
leaf category, ...). A refused row is listed with its row number as a spreadsheet shows it
(the header is row 1), field and reason; a file with a refused row stores nothing, unless
``partial=True`` (then the valid rows are stored and the refused ones listed). A file that
cannot be read (not UTF-8 CSV, no ``product_id``/``title`` column, no rows, more than
:data:`MAX_ROWS`) raises :class:`assistant.decisions_csv.FileRejected` naming ``file`` or
``header``.

Accepted rows are one ``upsert_product`` bulk import of :class:`assistant.curation.
CurationService` (new products are added, known ones get the attributes their row gives;
missing categories and brands are created): one transaction, ONE audit entry under ``actor``,
revertible as a whole. Then, with ``suggest``, the imported products get fresh suggestions
(at most :data:`MAX_SUGGEST`; ``pricing score`` does whole catalogs), so the catalog view
shows them at once.
"""
from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from assistant.decisions_csv import FileRejected, RowError
from assistant.suggestion import SuggestOptions
from graph.contracts import PRODUCT_COLUMNS
from graph.curation import MAX_BULK_ROWS, CurationError
from graph.loader import validate

if TYPE_CHECKING:
    from assistant.service import PricingService

MAX_ROWS = MAX_BULK_ROWS  # one audited bulk import holds them all
MAX_SUGGEST = 2000
# The columns an upsert sets (graph.curation_tx._UPSERT_ATTRS) and the links it makes.
IMPORTED = ("product_id", "title", "description", "condition", "price", "currency", "cost",
            "rating", "rating_count", "category_path", "brand")
_NOT_READ = {"brand_inferred", "source"}  # canonical, but not the uploader's to set


@dataclass
class CatalogImportReport:
    """What an upload did: rows refused (nothing stored when any, unless partial), the audit
    entry that holds the rest, and how many products were added, updated, suggested."""

    rows: int = 0
    errors: list[RowError] = field(default_factory=list)
    stored: bool = False
    audit_id: int | None = None
    added: list[str] = field(default_factory=list)      # product ids
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    suggested: int = 0
    ignored: list[str] = field(default_factory=list)    # columns not read

    def summary(self) -> str:
        """One line for people (the UI shows it, the API answers it)."""
        if not self.stored:
            return f"{len(self.errors)} of {self.rows} row(s) refused; nothing stored"
        audit = f" as audit #{self.audit_id}" if self.audit_id is not None else ""
        return (f"{len(self.added)} added, {len(self.updated)} updated, {self.unchanged} "
                f"unchanged{audit}; {self.suggested} suggestion(s); {len(self.errors)} row(s) "
                "refused")


def read_catalog(data: str | bytes) -> pd.DataFrame:
    """The file as text cells (only empty cells missing); FileRejected when unreadable."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise FileRejected(f"file: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    text = data.lstrip("\ufeff")
    if not text.strip():
        raise FileRejected("file: the file is empty")
    try:
        header = next(csv.reader(io.StringIO(text)))
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_values=[""],
                            skip_blank_lines=True)
    except (csv.Error, pd.errors.ParserError, ValueError) as exc:
        raise FileRejected(f"file: not a readable CSV ({str(exc).strip()[:200]})") from None
    cols = [str(c).strip().lower() for c in header]
    if len(set(cols)) != len(cols):
        dup = sorted({c for c in cols if cols.count(c) > 1})
        raise FileRejected(f"header: repeated column(s) {', '.join(dup)}", "header")
    frame.columns = cols
    missing = [c for c in ("product_id", "title") if c not in cols]
    if missing:
        raise FileRejected(f"header: missing column(s) {', '.join(missing)} (found "
                           f"{', '.join(cols)[:200] or 'none'})", "header")
    if frame.empty:
        raise FileRejected("file: no rows under the header")
    if len(frame) > MAX_ROWS:
        raise FileRejected(f"file: more than {MAX_ROWS:,} rows; split it")
    return frame


def _value(v: Any) -> Any:
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
        return None
    return v.item() if hasattr(v, "item") else v


def import_catalog(data: str | bytes, service: PricingService, *, actor: str,
                   partial: bool = False, suggest: bool = True, name: str = "catalog.csv",
                   reason: str | None = None) -> CatalogImportReport:
    """Validate the catalog file ``data`` and store its rows (see the module docstring)."""
    frame = read_catalog(data)
    report = CatalogImportReport(rows=len(frame))
    report.ignored = [c for c in frame.columns if c not in IMPORTED]
    wanted = frame[[c for c in frame.columns if c in PRODUCT_COLUMNS and c not in _NOT_READ]]
    # Spreadsheet rows (the header is row 1), in the reasons too ("duplicate of row 2").
    # No default currency: an empty cell must not overwrite a known product's currency.
    checked = validate(wanted, "products", file=name, rows=range(2, len(wanted) + 2))
    report.errors = [RowError(r.row, r.field, r.reason) for r in checked.rejections]
    if report.errors and not partial:
        return report
    accepted = checked.frame
    sheet_rows = [int(r) for r in checked.rows]
    rows = [{"op": "upsert_product", **{c: _value(v) for c, v in rec.items() if c in IMPORTED}}
            for rec in accepted.to_dict("records")]
    why = reason or f"catalog upload {name} ({len(rows)} rows)"
    while rows:
        try:
            result = service.curation.bulk(rows, actor=actor, create_missing=True, force=True,
                                           reason=why)
            break
        except CurationError as exc:
            bad = {e.row for e in exc.errors}
            if not bad:  # not about a row (e.g. the store): the whole file is refused
                raise FileRejected(f"file: {exc}") from None
            report.errors += [RowError(sheet_rows[e.row - 1], e.field, e.reason)
                              for e in exc.errors]
            if not partial:
                report.errors.sort(key=lambda e: e.row)
                return report
            keep = [i for i in range(len(rows)) if i + 1 not in bad]
            rows = [rows[i] for i in keep]
            sheet_rows = [sheet_rows[i] for i in keep]
    else:  # every row refused
        report.errors.sort(key=lambda e: e.row)
        return report
    report.errors.sort(key=lambda e: e.row)
    report.stored, report.audit_id = True, result.audit_id
    touched = {n.id.partition(":")[2]: n.action for n in result.nodes if n.type == "product"}
    for r in rows:
        pid = str(r["product_id"])
        action = touched.get(pid)
        if action == "added":
            report.added.append(pid)
        elif action is not None:
            report.updated.append(pid)
        else:
            report.unchanged += 1
    if suggest:
        ids = (report.added + report.updated)[:MAX_SUGGEST]
        made = service.suggest_batch(ids, SuggestOptions(explain=False)) if ids else []
        report.suggested = sum(1 for s in made if not isinstance(s, Exception))
    return report
