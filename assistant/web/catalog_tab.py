"""The Catalog tab: every product with current and suggested price, change %, confidence,
cheapest competitor and status; filters, sort, pages; apply or approve many at once.

Use::

    from assistant.web.catalog_tab import catalog_tab_for
    mount(app, service, extra_tabs=[catalog_tab_for(api_settings, book)], pricebook=book)
    desk = CatalogDesk(CatalogView(service.products, service.store, book), book, service.store)
    desk.apply_selected("B07JW9H4J1, B0...", actor="merchant:ui")     # the lines to show

The same :class:`assistant.catalog_view.CatalogView` as ``GET /v1/products``. Clicking a row
adds its product to the selection; "Apply selected" applies each product's latest suggestion
within the approval policy (the rest go to the Approvals queue); "Approve selected" approves
the waiting changes of the selection (the signed-in approver: :mod:`assistant.web.login`;
without a login, a typed name, and key when the tab was built with keys).
"Download CSV" exports the filtered rows with evidence columns; an edited file uploaded back
applies its decisions (see :mod:`assistant.decisions_csv`: a file with a refused row stores
nothing, and the refused rows are listed). "Upload a catalog" takes a products CSV
(:mod:`assistant.catalog_import`: validated per row, stored as one audited, revertible graph
edit, then suggested); it needs a curator.
"""
from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import gradio as gr
import pandas as pd

from assistant.catalog_import import import_catalog
from assistant.catalog_view import CatalogQuery, CatalogView
from assistant.decisions_csv import FileRejected, apply_decisions, suggestions_csv
from assistant.pricebook import ApprovalClosed, PriceBook
from assistant.suggestion_store import SuggestionStore
from assistant.web.approvals_tab import ApprovalsDesk, KeySettings, apply_message, approver_keys_of
from assistant.web.login import UiLogin, User, user_of

if TYPE_CHECKING:
    from assistant.service import PricingService

COLUMNS = ["product", "title", "current", "suggested", "change %", "confidence",
           "cheapest competitor", "cost", "status"]
SORTS = {"product id": "product_id", "change % (high first)": "-change_pct",
         "change % (low first)": "change_pct", "confidence (high first)": "-confidence",
         "current price (high first)": "-current_price"}
PAGE = 50


def _ids(text: str | None) -> list[str]:
    return [t for t in re.split(r"[\s,;]+", text or "") if t]


class CatalogDesk:
    """The tab's logic, callable without a browser."""

    def __init__(self, view: CatalogView, book: PriceBook | None, store: SuggestionStore,
                 approver_keys: list[str] | None = None,
                 service: PricingService | None = None) -> None:
        self.view, self.book, self.store = view, book, store
        self.approvals = ApprovalsDesk(book, store, approver_keys) if book is not None else None
        # With the service: catalog uploads, and a fresh view when the product table changes.
        self.service = service
        self._products = service.products if service is not None else None

    def _fresh(self) -> CatalogView:
        """The view over the service's current product table (a graph edit, e.g. a catalog
        upload, swaps the table: the view is rebuilt then)."""
        if self.service is not None and self.service.products is not self._products:
            self._products = self.service.products
            self.view = CatalogView(self._products, self.store, self.book)
        return self.view

    def import_file(self, path: str | None, name: str | None, partial: bool = False,
                    user: User | None = None) -> str:
        """Store a catalog CSV (a curator's: the signed-in one, or, without a login, a typed
        name); the report to show (refused rows with row, field, reason)."""
        if self.service is None:
            return "Catalog uploads need the pricing service (the tab was built without it)."
        if not path:
            return "Choose a catalog CSV first."
        if user is not None:
            if not user.may("edit_graph"):
                return (f"⚠ {user.name} ({user.role}) may not upload a catalog: it edits the "
                        "knowledge graph, which needs a curator key.")
            actor = user.actor
        elif self.approvals is not None and self.approvals.approver_keys is not None:
            return "⚠ Catalog uploads need a signed-in curator (this UI has keys but no login)."
        else:
            who = (name or "").strip()
            if not who:
                return "⚠ Your name: say who uploads (it goes into the audit trail)."
            actor = f"ui:{who}"
        try:
            with open(path, "rb") as f:
                r = import_catalog(f.read(), self.service, actor=actor, partial=partial,
                                   name=path.rsplit("/", 1)[-1][:100])
        except FileRejected as exc:
            return f"⚠ The file is rejected whole, nothing stored — {exc}"
        except Exception as exc:  # noqa: BLE001 - shown, never a traceback in the page
            return f"⚠ Not stored — {type(exc).__name__}: {exc}"
        lines = [f"- row {e.row}, {e.field}: {e.reason}" for e in r.errors[:200]]
        more = f"\n- … and {len(r.errors) - 200} more" if len(r.errors) > 200 else ""
        if not r.stored:
            return (f"⚠ {r.summary()} (tick \"store the valid rows\" to store the rest):\n"
                    + "\n".join(lines) + more)
        undo = (f" Undo it in the Curate tab's audit trail (entry #{r.audit_id})."
                if r.audit_id is not None else "")
        ign = f" Ignored columns: {', '.join(r.ignored)}." if r.ignored else ""
        return (f"✓ {r.summary()}.{undo}{ign}" + (":\n" + "\n".join(lines) + more if lines else ""))

    def _query(self, underpriced_by: Any, below_cost: bool, undercut: bool, status: str, sort: str,
               page: Any, limit: int = PAGE) -> tuple[CatalogQuery, int]:
        under = float(underpriced_by) if underpriced_by not in (None, "", 0) else None
        pg = max(1, int(page or 1))
        return CatalogQuery(underpriced_by=under, below_cost=bool(below_cost), undercut=bool(undercut),
                            status=None if status in (None, "", "any") else status,
                            sort=SORTS.get(sort, "product_id"), limit=limit,
                            offset=(pg - 1) * limit), pg

    def export_csv(self, underpriced_by: Any = None, below_cost: bool = False, undercut: bool = False,
                   status: str = "any", sort: str = "product id") -> str:
        """Write every filtered row (up to 200k) as CSV to a temporary file; its path."""
        q, _ = self._query(underpriced_by, below_cost, undercut, status, sort, 1, limit=200_000)
        with tempfile.NamedTemporaryFile("w", suffix="-suggestions.csv", delete=False,
                                         encoding="utf-8", newline="") as f:
            f.write(suggestions_csv(self._fresh(), q))
        return f.name

    def upload(self, path: str | None, name: str | None, key: str | None, partial: bool = False,
               user: User | None = None) -> str:
        """Carry out a decisions CSV; the report to show (refused rows with row, field, reason).
        ``user``: the signed-in user (an approver's file applies at once)."""
        if self.book is None:
            return "No price list is configured on this server (PRICING_PRICEBOOK_DB)."
        if not path:
            return "Choose a decisions CSV first."
        if user is not None:
            if not user.may("apply"):
                return f"⚠ {user.name} ({user.role}) may not apply prices."
            approver, actor = user.may("approve"), user.actor
        else:
            who = (name or "").strip()
            if not who:
                return "⚠ Your name: say who decides (it goes into the price history)."
            keys = self.approvals.approver_keys if self.approvals is not None else None
            approver = keys is None or (key or "").strip() in keys
            actor = f"{'approver' if approver else 'merchant'}:{who}"
        try:
            with open(path, "rb") as f:
                r = apply_decisions(f.read(), self.store, self.book, partial=partial, approver=approver,
                                    actor=actor)
        except FileRejected as exc:
            return f"⚠ The file is rejected whole, nothing stored — {exc}"
        lines = [f"- row {e.row}, {e.field}: {e.reason}" for e in r.errors[:200]]
        if not r.stored:
            return (f"⚠ {len(r.errors)} row(s) refused, nothing stored (tick \"apply the valid rows\" "
                    "to store the rest):\n" + "\n".join(lines))
        head = (f"✓ {len(r.applied)} applied, {len(r.queued)} sent for approval, "
                f"{len(r.rejected)} rejected, {r.skipped} skipped")
        return head + (f"; {len(r.errors)} row(s) refused:\n" + "\n".join(lines) if lines else ".")

    def table(self, underpriced_by: Any = None, below_cost: bool = False, undercut: bool = False,
              status: str = "any", sort: str = "product id", page: Any = 1) -> tuple[pd.DataFrame, str]:
        """One page of the filtered catalog, and a line saying which page of how many."""
        try:
            q, pg = self._query(underpriced_by, below_cost, undercut, status, sort, page)
        except (TypeError, ValueError) as exc:
            return pd.DataFrame(columns=COLUMNS), f"⚠ {exc}"
        res = self._fresh().query(q)
        df = pd.DataFrame([[r.product_id, r.title, r.current_price, r.suggested_price, r.change_pct,
                            r.confidence, r.competitor_min, r.cost, r.status] for r in res.items],
                          columns=COLUMNS)
        pages = max(1, -(-res.total // PAGE))
        return df, f"{res.total:,} products · page {pg} of {pages:,}"

    def apply_selected(self, selection: str | None, actor: str) -> str:
        """Apply the latest suggestion of each selected product; one line per product."""
        rows = self._fresh().rows(_ids(selection))
        if not rows:
            return "Select products first (click rows, or type their ids)."
        out = []
        for r in rows:
            if r.suggestion_id is None:
                out.append(f"- `{r.product_id}`: no suggestion yet.")
            else:
                out.append(f"- `{r.product_id}`: " + apply_message(self.book, self.store,
                                                                    r.suggestion_id, actor))
        return "\n".join(out)

    def approve_selected(self, selection: str | None, name: str | None, key: str | None,
                         user: User | None = None) -> str:
        """Approve the waiting change of each selected product; one line per product."""
        if self.approvals is None or self.book is None:
            return "No price list is configured on this server (PRICING_PRICEBOOK_DB)."
        wanted = set(_ids(selection))
        if not wanted:
            return "Select products first (click rows, or type their ids)."
        waiting = {a.product_id: a for a in self.book.approvals("pending", limit=100000)
                   if a.product_id in wanted}
        out = []
        for pid in sorted(wanted):
            a = waiting.get(pid)
            if a is None:
                out.append(f"- `{pid}`: nothing waits for approval.")
                continue
            try:
                out.append(f"- `{pid}`: " + self.approvals.approve(a.approval_id, name, key,
                                                                    user=user))
            except ApprovalClosed as exc:
                out.append(f"- `{pid}`: ⚠ {exc}")
        return "\n".join(out)


def catalog_tab(service: PricingService, book: PriceBook | None = None,
                approver_keys: list[str] | None = None, login: UiLogin | None = None) -> CatalogDesk:
    """Render the Catalog tab (inside a ``gr.Tabs``); with a ``login`` (enabled), actions are
    the signed-in user's and the name and key boxes are not shown."""
    typed = login is None or not login.enabled
    desk = CatalogDesk(CatalogView(service.products, service.store, book), book, service.store,
                       approver_keys, service=service)
    private = {"api_visibility": "private"}
    with gr.Tab("Catalog", id="catalog") as tab:
        with gr.Row():
            under = gr.Number(label="Underpriced by more than (%)", elem_id="cat-under")
            below = gr.Checkbox(label="Below cost", elem_id="cat-below-cost")
            undercut = gr.Checkbox(label="Undercut by a competitor", elem_id="cat-undercut")
            status = gr.Dropdown(["any", "suggested", "pending", "applied", "rejected", "none"],
                                 value="any", label="Status", elem_id="cat-status")
            sort = gr.Dropdown(list(SORTS), value="product id", label="Sort", elem_id="cat-sort")
            page = gr.Number(value=1, precision=0, minimum=1, label="Page", elem_id="cat-page")
        show = gr.Button("Show", elem_id="cat-show")
        info = gr.Markdown(elem_id="cat-info")
        df = gr.Dataframe(interactive=False, elem_id="cat-table", wrap=True)
        selection = gr.Textbox(label="Selected product ids (click rows to add)", elem_id="cat-selection")
        with gr.Row():
            who = gr.Textbox(label="Your name", elem_id="cat-name", visible=typed)
            key = gr.Textbox(label="Approver key", type="password", elem_id="cat-key",
                             visible=typed and approver_keys is not None)
        with gr.Row():
            apply_btn = gr.Button("Apply selected", variant="primary", elem_id="cat-apply")
            approve_btn = gr.Button("Approve selected", elem_id="cat-approve")
            clear = gr.Button("Clear selection", elem_id="cat-clear")
            if login is not None:
                login.gate(approve_btn, "approve")
        msg = gr.Markdown(elem_id="cat-msg")
        with gr.Accordion("Upload a catalog (products CSV)", open=False):
            gr.Markdown("Columns: `product_id`, `title` (required), `category_path`, `brand`, "
                        "`price`, `currency`, `cost`, `description`, `condition`, `rating`, "
                        "`rating_count`. New products are added, known ones updated, and all get "
                        "a fresh suggestion. One audited graph edit (a curator's), revertible "
                        "from the Curate tab's audit trail.")
            with gr.Row():
                cat_file = gr.File(label="Catalog CSV", file_types=[".csv"], type="filepath",
                                   elem_id="cat-import")
                cat_partial = gr.Checkbox(label="store the valid rows even if some are refused",
                                          elem_id="cat-import-partial")
                cat_go = gr.Button("Upload the catalog", variant="primary", elem_id="cat-import-go")
            cat_msg = gr.Markdown(elem_id="cat-import-msg")
            if login is not None:
                login.gate(cat_go, "edit_graph")
        with gr.Accordion("Spreadsheet round trip", open=False):
            with gr.Row():
                export_btn = gr.Button("Download CSV of the filtered rows", elem_id="cat-export")
                export_file = gr.File(label="suggestions.csv", elem_id="cat-export-file")
            with gr.Row():
                upload_file = gr.File(label="Decisions CSV (decision = apply / reject / skip; "
                                            "price; reason)", file_types=[".csv"], type="filepath",
                                      elem_id="cat-upload")
                partial_box = gr.Checkbox(label="apply the valid rows even if some are refused",
                                          elem_id="cat-partial")
                upload_btn = gr.Button("Apply the file", elem_id="cat-upload-go")
            upload_msg = gr.Markdown(elem_id="cat-upload-msg")
        filters = [under, below, undercut, status, sort, page]

        def pick(evt: gr.SelectData, table: pd.DataFrame, current: str):
            row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
            ids = _ids(current)
            pid = str(table.iloc[row, 0])
            return ", ".join(ids if pid in ids else ids + [pid])

        # Gradio passes the request only to positional parameters: the filters are spelled out.
        def apply(sel, name, f1, f2, f3, f4, f5, f6, request: gr.Request):
            user = user_of(login, request)
            actor = user.actor if user is not None else f"merchant:{(name or '').strip() or 'ui'}"
            if user is not None and not user.may("apply"):
                msg = f"⚠ {user.name} ({user.role}) may not apply prices."
            else:
                msg = desk.apply_selected(sel, actor)
            return (msg, *desk.table(f1, f2, f3, f4, f5, f6))

        def approve(sel, name, k, f1, f2, f3, f4, f5, f6, request: gr.Request):
            return (desk.approve_selected(sel, name, k, user=user_of(login, request)),
                    *desk.table(f1, f2, f3, f4, f5, f6))

        def upload(path, name, k, part, request: gr.Request):
            return desk.upload(path, name, k, part, user=user_of(login, request))

        def import_file(path, name, part, f1, f2, f3, f4, f5, f6, request: gr.Request):
            return (desk.import_file(path, name, part, user=user_of(login, request)),
                    *desk.table(f1, f2, f3, f4, f5, f6))

        gr.on([show.click, tab.select], desk.table, filters, [df, info], api_name="catalog")
        df.select(pick, [df, selection], [selection], **private)
        clear.click(lambda: "", None, [selection], **private)
        apply_btn.click(apply, [selection, who] + filters, [msg, df, info], api_name="catalog_apply")
        approve_btn.click(approve, [selection, who, key] + filters, [msg, df, info],
                          api_name="catalog_approve")
        export_btn.click(desk.export_csv, filters[:-1], [export_file], api_name="catalog_export")
        cat_go.click(import_file, [cat_file, who, cat_partial] + filters, [cat_msg, df, info],
                     api_name="catalog_import")
        upload_btn.click(upload, [upload_file, who, key, partial_box], [upload_msg],
                         api_name="catalog_upload")
    return desk


def catalog_tab_for(settings: KeySettings, book: PriceBook | None, login: UiLogin | None = None
                    ) -> Callable[[PricingService], CatalogDesk]:
    """``catalog_tab`` bound to the server's keys, price book and login, for ``extra_tabs``."""
    return partial(catalog_tab, book=book, approver_keys=approver_keys_of(settings), login=login)
