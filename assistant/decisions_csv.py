"""The spreadsheet round trip: suggestions out as CSV (with evidence), decisions back in.

Use::

    text = suggestions_csv(view, CatalogQuery(underpriced_by=10, limit=10000))   # download
    # ... the merchant fills the ``decision`` (apply / reject / skip), ``price`` and ``reason``
    report = apply_decisions(text, store, book, actor="merchant:ann")           # upload
    report.errors        # [RowError(row=3, field="price", reason="...")]: nothing stored then

Validation is per row (row numbers count the header as row 1, as a spreadsheet shows them)
and every rejected row is listed with its field and reason. A file with any rejected row is
rejected whole and nothing is stored, unless ``partial=True`` (then the valid rows go
through). A file that cannot be read (not UTF-8 CSV, no ``suggestion_id`` / ``decision``
columns, too many rows) raises :class:`FileRejected`. ``apply`` goes through the approval
policy (an approver's file applies at once); ``reject`` stores the reason as feedback and,
for an approver, closes the change waiting for approval.
"""
from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field

from assistant.catalog_view import CatalogQuery, CatalogView
from assistant.pricebook import Applied, PriceBook
from assistant.suggestion_store import FeedbackIn, SuggestionStore, UnknownSuggestion

EXPORT_COLUMNS = ["product_id", "title", "currency", "cost", "catalog_price", "current_price",
                  "suggestion_id", "suggested_price", "change_pct", "confidence", "interval_low",
                  "interval_high", "competitor_min", "competitors", "abstain", "status",
                  "decision", "price", "reason"]
DECISIONS = ("apply", "reject", "skip")
MAX_ROWS = 200_000


class FileRejected(ValueError):
    """The whole file is refused (nothing stored); ``field`` names what is wrong."""

    def __init__(self, message: str, field: str = "file") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class RowError:
    row: int
    field: str
    reason: str


@dataclass
class DecisionReport:
    applied: list[str] = field(default_factory=list)      # product ids whose price was set
    queued: list[str] = field(default_factory=list)       # sent for approval
    rejected: list[str] = field(default_factory=list)     # suggestion ids rejected
    skipped: int = 0
    errors: list[RowError] = field(default_factory=list)
    stored: bool = False                                  # False: the file was rejected whole


def suggestions_csv(view: CatalogView, query: CatalogQuery | None = None) -> str:
    """The catalog view's rows as CSV, with evidence columns and empty decision columns."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=EXPORT_COLUMNS, extrasaction="ignore")
    w.writeheader()
    for r in view.query(query or CatalogQuery(limit=10000)).items:
        w.writerow({**r.model_dump(), "decision": "", "price": "", "reason": ""})
    return buf.getvalue()


@dataclass(frozen=True)
class _Decision:
    row: int
    suggestion_id: str
    decision: str
    price: float | None
    reason: str | None


def parse_decisions(text: str | bytes, store: SuggestionStore) -> tuple[list[_Decision], list[RowError]]:
    """Read and validate a decisions CSV; raises FileRejected for an unreadable file."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise FileRejected(f"file: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if not text.strip():
        raise FileRejected("file: the file is empty")
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")), strict=True)
    try:
        header = [h.strip().lower() for h in reader.fieldnames or []]
    except csv.Error as exc:
        raise FileRejected(f"header: not a readable CSV ({exc})", "header") from None
    missing = [c for c in ("suggestion_id", "decision") if c not in header]
    if missing:
        raise FileRejected(f"header: missing column(s) {', '.join(missing)}", "header")
    out, errors = [], []
    try:
        for i, raw in enumerate(reader, start=2):
            if i - 1 > MAX_ROWS:
                raise FileRejected(f"file: more than {MAX_ROWS:,} rows")
            row = {(k or "").strip().lower(): (v or "").strip() if isinstance(v, str) else ""
                   for k, v in raw.items()}
            d = row.get("decision", "").lower() or "skip"
            sid = row.get("suggestion_id", "")
            if d not in DECISIONS:
                errors.append(RowError(i, "decision", f"must be one of {', '.join(DECISIONS)}, got {d!r}"))
                continue
            if d == "skip":
                out.append(_Decision(i, sid, d, None, None))
                continue
            if not sid:
                errors.append(RowError(i, "suggestion_id", "required to apply or reject"))
                continue
            price = None
            if row.get("price"):
                try:
                    price = float(row["price"])
                except ValueError:
                    price = float("nan")
                if not math.isfinite(price) or price <= 0 or price > 1e9:
                    errors.append(RowError(i, "price", f"must be a price above zero, got {row['price']!r}"))
                    continue
            reason = row.get("reason") or None
            if d == "reject" and not reason:
                errors.append(RowError(i, "reason", "say why the suggestion is rejected"))
                continue
            try:
                s = store.get_suggestion(sid)
            except UnknownSuggestion:
                errors.append(RowError(i, "suggestion_id", f"unknown suggestion {sid!r}"))
                continue
            if d == "apply" and not s.product_id:
                errors.append(RowError(i, "suggestion_id", "an inline product's suggestion has no "
                                                           "price list entry"))
                continue
            out.append(_Decision(i, sid, d, price, reason))
    except csv.Error as exc:
        raise FileRejected(f"file: not a readable CSV ({exc})") from None
    return out, errors


def apply_decisions(text: str | bytes, store: SuggestionStore, book: PriceBook, *, actor: str,
                    approver: bool = False, partial: bool = False) -> DecisionReport:
    """Validate, then carry out the file's decisions (none when a row is refused, unless
    ``partial``). ``approver``: the uploader may decide (apply at once, close approvals)."""
    decisions, errors = parse_decisions(text, store)
    report = DecisionReport(errors=errors)
    if errors and not partial:
        return report
    report.stored = True
    pending = {a.suggestion_id: a.approval_id for a in book.approvals("pending", limit=10**7)} \
        if approver else {}
    for d in decisions:
        if d.decision == "skip":
            report.skipped += 1
            continue
        s = store.get_suggestion(d.suggestion_id)
        if d.decision == "apply":
            try:
                r = book.apply(s, actor=actor, force=approver, price=d.price)
            except ValueError as exc:  # checked above; kept so one row never stops the file
                report.errors.append(RowError(d.row, "price", str(exc)))
                continue
            (report.applied if isinstance(r, Applied) else report.queued).append(s.product_id or "")
            if d.price is not None:
                store.add_feedback(FeedbackIn(suggestion_id=s.suggestion_id, verdict="edited",
                                              edited_price=d.price, comment=d.reason))
            continue
        store.add_feedback(FeedbackIn(suggestion_id=s.suggestion_id, verdict="rejected",
                                      comment=(d.reason or "")[:5000]))
        if s.suggestion_id in pending:
            book.reject(pending.pop(s.suggestion_id), actor=actor, reason=d.reason or "rejected")
        report.rejected.append(s.suggestion_id)
    return report
