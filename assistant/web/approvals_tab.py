"""The Approvals tab: the queue of price changes waiting for an approver (approve, edit, reject).

Use::

    from assistant.web.approvals_tab import approvals_tab_for, apply_message
    mount(app, service, extra_tabs=[approvals_tab_for(api_settings, book)], pricebook=book)
    apply_message(book, service.store, suggestion_id, actor="merchant:ui")   # the Workspace's Apply

Every decision is made under the signed-in approver's name (:mod:`assistant.web.login`;
without a login: a name typed into the tab, plus an ``approver`` key when the tab was built
with keys); approving at an edited price and rejecting with a
reason are also stored as feedback on the suggestion, for the model. The table shows the
30-day lowest price beside every proposed reduction (EU price-indication rules).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

import gradio as gr
import pandas as pd

from assistant.pricebook import Applied, ApprovalClosed, PriceBook, UnknownApproval
from assistant.suggestion_store import FeedbackIn, SuggestionStore, UnknownSuggestion
from assistant.web.login import UiLogin, User, user_of

if TYPE_CHECKING:
    from assistant.service import PricingService

COLUMNS = ["approval", "product", "old price", "proposed", "change %", "lowest 30 d",
           "confidence", "why it waits", "status", "requested by", "decided by", "note"]


def apply_message(book: PriceBook | None, store: SuggestionStore, suggestion_id: str | None,
                  actor: str) -> str:
    """Apply a stored suggestion to the price list; the line the tab shows (never raises)."""
    if book is None:
        return "No price list is configured on this server (PRICING_PRICEBOOK_DB)."
    if not suggestion_id:
        return "There is no suggestion to apply yet."
    try:
        s = store.get_suggestion(suggestion_id)
    except UnknownSuggestion:
        return f"Could not apply: suggestion `{suggestion_id}` is not in the store."
    if not s.product_id:
        return "Could not apply: only catalog products (give a product id) have a price list entry."
    try:
        r = book.apply(s, actor=actor)
    except ValueError as exc:
        return f"Could not apply: {exc}"
    if isinstance(r, Applied):
        c = r.change
        low = book.lowest_price(c.product_id)
        extra = f" (lowest price of the last 30 days: {low:,.2f})" if c.old_price and \
            c.new_price < c.old_price and low is not None else ""
        return (f"✓ Applied: `{c.product_id}` now costs {c.new_price:,.2f} {c.currency or ''}"
                f" (was {c.old_price if c.old_price is not None else '—'}){extra}.")
    a = r.approval
    return (f"⏳ Sent for approval (#{a.approval_id}): {a.reason}. An approver decides in the "
            "Approvals tab.")


class KeySettings(Protocol):
    """What the tab needs of the server's API settings (``assistant.http.deps.ApiSettings``)."""

    auth_disabled: bool
    api_keys: Mapping[str, str]


class ApprovalsDesk:
    """The tab's logic, callable without a browser: the table, approve, reject."""

    def __init__(self, book: PriceBook, store: SuggestionStore,
                 approver_keys: list[str] | None = None) -> None:
        self.book, self.store = book, store
        self.approver_keys = approver_keys  # None: the server runs without auth

    def table(self, status: str = "pending") -> pd.DataFrame:
        rows = []
        for a in self.book.approvals(None if status == "all" else status, limit=500):  # type: ignore[arg-type]
            change = None if not a.old_price else (a.proposed_price - a.old_price) / a.old_price * 100
            low = None
            if change is not None and change < 0:  # a reduction: show the 30-day reference
                low = self.book.lowest_price(a.product_id)
                low = low if low is not None else a.old_price
            rows.append([a.approval_id, a.product_id, a.old_price, a.proposed_price,
                         None if change is None else round(change, 1), low, round(a.confidence, 2),
                         a.reason, a.status, a.requested_by, a.decided_by, a.decision_note])
        return pd.DataFrame(rows, columns=COLUMNS)

    def _actor(self, name: str | None, key: str | None, user: User | None = None) -> str:
        if user is not None:  # signed in: the login decides, typed boxes are not shown
            return user.require("approve")
        name = (name or "").strip()
        if not name:
            raise ValueError("Your name: say who decides (it goes into the price history).")
        if self.approver_keys is not None and (key or "").strip() not in self.approver_keys:
            raise ValueError("Approver key: an approver API key is needed to decide.")
        return f"approver:{name}"

    def _id(self, approval_id: Any) -> int:
        try:
            n = int(approval_id)
        except (TypeError, ValueError, OverflowError):
            n = 0
        if not 1 <= n <= 2**62:
            raise ValueError(f"Approval: pick a row or type its number, got {approval_id!r}.")
        return n

    def approve(self, approval_id: Any, name: str | None, key: str | None, price: Any = None,
                note: str | None = None, user: User | None = None) -> str:
        """Approve (at ``price`` when edited, 0/empty = as proposed); the line to show.
        ``user``: the signed-in user (then ``name`` and ``key`` are not used)."""
        try:
            actor, aid = self._actor(name, key, user), self._id(approval_id)
            edited = float(price) if price not in (None, "", 0, 0.0) else None
            a = self.book.approval(aid)
            change = self.book.approve(aid, actor=actor, price=edited, note=(note or "").strip() or None)
        except UnknownApproval:
            return f"⚠ Approval #{approval_id} does not exist."
        except (ApprovalClosed, ValueError) as exc:
            return f"⚠ {exc}"
        fb = FeedbackIn(suggestion_id=a.suggestion_id, verdict="edited" if edited else "accepted",
                        edited_price=change.new_price if edited else None,
                        comment=(note or "").strip() or None)
        self._feedback(fb)
        return f"✓ Approved #{aid}: `{change.product_id}` now costs {change.new_price:,.2f}."

    def reject(self, approval_id: Any, name: str | None, key: str | None, reason: str | None,
               user: User | None = None) -> str:
        """Reject with a reason (kept as feedback); the line to show."""
        try:
            actor, aid = self._actor(name, key, user), self._id(approval_id)
            a = self.book.reject(aid, actor=actor, reason=reason or "")
        except UnknownApproval:
            return f"⚠ Approval #{approval_id} does not exist."
        except (ApprovalClosed, ValueError) as exc:
            return f"⚠ {exc}"
        self._feedback(FeedbackIn(suggestion_id=a.suggestion_id, verdict="rejected",
                                  comment=a.decision_note))
        return f"✓ Rejected #{aid} ({a.decision_note})."

    def _feedback(self, fb: FeedbackIn) -> None:
        try:
            self.store.add_feedback(fb)
        except UnknownSuggestion:  # a suggestion stored elsewhere: the decision still stands
            pass


def approvals_tab(service: PricingService, book: PriceBook,
                  approver_keys: list[str] | None = None,
                  login: UiLogin | None = None) -> ApprovalsDesk:
    """Render the Approvals tab (inside a ``gr.Tabs``); with a ``login`` (enabled), decisions
    are the signed-in approver's and the name and key boxes are not shown."""
    desk = ApprovalsDesk(book, service.store, approver_keys)
    typed = login is None or not login.enabled
    private = {"api_visibility": "private"}
    with gr.Tab("Approvals", id="approvals") as tab:
        gr.Markdown("Price changes the approval policy did not apply at once "
                    f"(moves beyond ±{book.policy.max_auto_change:.0%} or confidence below "
                    f"{book.policy.min_confidence:.2f}). Pick a row, then approve (optionally at "
                    "an edited price) or reject with a reason.")
        with gr.Row():
            status = gr.Radio(["pending", "approved", "rejected", "all"], value="pending",
                              label="Show", elem_id="ap-status")
            refresh = gr.Button("Refresh", elem_id="ap-refresh")
        df = gr.Dataframe(value=desk.table(), interactive=False, elem_id="ap-table", wrap=True)
        with gr.Row():
            aid = gr.Number(label="Approval #", precision=0, elem_id="ap-id")
            who = gr.Textbox(label="Your name", elem_id="ap-name", visible=typed)
            key = gr.Textbox(label="Approver key", type="password", elem_id="ap-key",
                             visible=typed and approver_keys is not None)
        with gr.Row():
            price = gr.Number(label="Edited price (0 = as proposed)", elem_id="ap-price")
            note = gr.Textbox(label="Note / reason for a rejection", elem_id="ap-note")
        with gr.Row():
            ok = gr.Button("Approve", variant="primary", elem_id="ap-approve")
            no = gr.Button("Reject", variant="stop", elem_id="ap-reject")
            if login is not None:
                login.gate(ok, "approve")
                login.gate(no, "approve")
        msg = gr.Markdown(elem_id="ap-msg")

        def pick(evt: gr.SelectData, table: pd.DataFrame):
            row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
            return int(table.iloc[row, 0])

        def approve(a, n, k, p, t, st, request: gr.Request):
            return desk.approve(a, n, k, p, t, user=user_of(login, request)), desk.table(st)

        def reject(a, n, k, t, st, request: gr.Request):
            return desk.reject(a, n, k, t, user=user_of(login, request)), desk.table(st)

        df.select(pick, [df], [aid], **private)
        gr.on([refresh.click, status.change], desk.table, [status], [df], **private)
        tab.select(desk.table, [status], [df], **private)
        ok.click(approve, [aid, who, key, price, note, status], [msg, df], api_name="approve")
        no.click(reject, [aid, who, key, note, status], [msg, df], api_name="reject")
    return desk


def approver_keys_of(settings: KeySettings) -> list[str] | None:
    """The approver keys of the server's settings (None when the server runs without auth)."""
    if settings.auth_disabled:
        return None
    return [k for k, role in settings.api_keys.items() if role == "approver"]


def approvals_tab_for(settings: KeySettings, book: PriceBook, login: UiLogin | None = None
                      ) -> Callable[[PricingService], ApprovalsDesk]:
    """``approvals_tab`` bound to the server's keys, price book and login, for ``extra_tabs``."""
    return partial(approvals_tab, book=book, approver_keys=approver_keys_of(settings), login=login)
