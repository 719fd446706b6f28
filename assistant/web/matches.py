"""The Matches view of the Curate tab: confirm, reject or relink competitor-listing matches.

Use::

    from assistant.web.matches import MatchesDesk, matches_view
    desk = MatchesDesk(curate_desk)                  # the Curate tab's CurateDesk (keys, actor)
    desk.queue(status="pending")                     # DataFrame: id, score, listing, product, ...
    desk.decide(12, "Confirm", who="alice")          # -> (message, refreshed queue)
    desk.decide(13, "Relink", product="B07JW9H4J1", who="alice")
    matches_view(curate_desk)                        # inside the Curate tab (gr.Blocks context)

Proposals come from ``pricing match`` runs (:mod:`assistant.matching`): listings the matcher
was not sure enough about wait here with their best candidates, score and the features that
decided it. A decision goes through the service's curation worker like every other edit of
the tab (:func:`assistant.matching.on_curation_worker`): the offer link is audited (and shows
in the audit trail above, revertible), the live service refreshes, and the verdict becomes a
training label; a rejected pair is never proposed again. Who may decide: the same rule as
the rest of the Curate tab (a curator name, plus a curator key when the server has keys).
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import gradio as gr
import pandas as pd

from assistant.curation import GraphStoreMissing
from assistant.matching import MatchService, on_curation_worker
from assistant.web.login import UiLogin, User, user_of
from graph.curation import CurationError

if TYPE_CHECKING:
    from assistant.web.curate import CurateDesk

log = logging.getLogger(__name__)

COLUMNS = ["id", "score", "competitor", "listing", "listing price", "product", "product title",
           "status", "why"]
DECISIONS = ("Confirm", "Reject", "Relink")
SHOW = ["pending", "linked", "confirmed", "rejected", "reverted"]


class MatchesDesk:
    """Callbacks of the Matches view, usable without a browser."""

    def __init__(self, desk: CurateDesk) -> None:
        self.desk = desk

    @property
    def curation(self):
        return self.desk.curation

    def queue(self, status: str | None = "pending", competitor: str | None = None,
              limit: int = 100) -> pd.DataFrame:
        """Proposals in ``status`` (default: the review queue), best first."""
        comp = (competitor or "").strip() or None
        if not self.curation.configured:
            return pd.DataFrame(columns=COLUMNS)

        def read(ms: MatchService) -> list:
            ms.sync_reverted()
            return ms.matches.find(competitor=comp, status=status or None, limit=limit)

        props = on_curation_worker(self.curation, read)
        titles = self._titles([p.product_id for p in props])
        rows = []
        for p in props:
            why = ", ".join(f"{k} {v:+.2f}" for k, v in list(p.features.items())[:3])
            price = p.listing.get("price")
            rows.append([p.id, round(p.score, 3), p.competitor, p.listing.get("title", ""),
                         f"{price:,.2f} {p.listing.get('currency') or ''}".strip()
                         if isinstance(price, (int, float)) else "", p.product_id,
                         titles.get(p.product_id, ""), p.status, why or (p.reason or "")])
        return pd.DataFrame(rows, columns=COLUMNS)

    def _titles(self, ids: list[str]) -> dict[str, str]:
        g = self.desk.service.graph
        out = {}
        for i in ids:
            d = g.nodes.get(f"product:{i}")
            if d is not None:
                out[i] = str(d.get("title") or d.get("name") or "")
        return out

    def decide(self, proposal_id: Any, decision: str | None, *, product: str | None = None,
               who: str | None = None, key: str | None = None, reason: str | None = None,
               status: str | None = "pending", competitor: str | None = None,
               user: User | None = None) -> tuple[str, pd.DataFrame]:
        """Apply a curator's decision; returns (message, the refreshed list)."""
        try:
            if proposal_id is None or str(proposal_id).strip() == "":
                raise ValueError("Proposal: pick a row (or type its id) first.")
            try:
                pid = int(float(proposal_id))
            except (TypeError, ValueError):
                raise ValueError(f"Proposal: {proposal_id!r} is not a proposal id.") from None
            if decision not in DECISIONS:
                raise ValueError("Decision: choose Confirm, Reject or Relink.")
            actor = self.desk._authorise(who, key, committing=True, user=user)
            why = (reason or "").strip() or None
            if decision == "Relink" and not (product or "").strip():
                raise ValueError("Relink: give the catalog product id the listing really is.")

            def run(ms: MatchService):
                if decision == "Confirm":
                    return ms.confirm(pid, actor=actor, reason=why)
                if decision == "Reject":
                    return ms.reject(pid, actor=actor, reason=why)
                return ms.relink(pid, (product or "").strip(), actor=actor, reason=why)

            p = on_curation_worker(self.curation, run)
            audit = f" (audit #{p.audit_id})" if p.audit_id else ""
            msg = (f"✔ Proposal #{p.id}: {p.competitor}'s listing → `{p.product_id}` is now "
                   f"**{p.status}**{audit}.")
        except KeyError as exc:
            msg = f"⚠ **Not done** — {exc.args[0] if exc.args else exc}"
        except (CurationError, ValueError) as exc:
            msg = f"⚠ **Refused — not done.** {exc}"
        except GraphStoreMissing:
            msg = "⚠ **Not done** — this server has no graph store."
        except Exception as exc:  # shown, never a traceback in the page
            log.exception("match decision from the UI failed")
            msg = f"⚠ **Not done** — unexpected error ({type(exc).__name__}: {exc})."
        return msg, self.queue(status, competitor)


def matches_view(desk: CurateDesk, who: gr.Textbox, key: gr.Textbox,
                 login: UiLogin | None = None) -> MatchesDesk:
    """Render the Matches view (inside the Curate tab; ``who``/``key``: the tab's curator
    name and key boxes; ``login``: the UI's, when signed-in curators decide); returns its
    :class:`MatchesDesk`."""
    md = MatchesDesk(desk)
    with gr.Accordion("Competitor matches (review queue)", open=False):
        gr.Markdown("Listings from `pricing match` runs that need a person: pick a row, then "
                    "**Confirm** (same product: the offer is linked), **Reject** (never "
                    "proposed again) or **Relink** to another catalog product. Decisions use "
                    "the signed-in curator (or the name and key above) and show in the audit trail.")
        with gr.Row():
            m_status = gr.Dropdown(SHOW, value="pending", label="Show", scale=1,
                                   elem_id="cur-match-status")
            m_comp = gr.Textbox(label="Competitor (empty: all)", scale=2,
                                elem_id="cur-match-competitor")
            m_refresh = gr.Button("Refresh", scale=1, elem_id="cur-match-refresh")
        m_df = gr.Dataframe(pd.DataFrame(columns=COLUMNS), interactive=False, max_height=320,
                            wrap=True, elem_id="cur-matches")
        with gr.Row():
            m_id = gr.Number(None, label="Proposal (pick a row)", precision=0, scale=1,
                             elem_id="cur-match-id")
            m_dec = gr.Radio(list(DECISIONS), label="Decision", scale=2,
                             elem_id="cur-match-decision")
            m_prod = gr.Textbox(label="Relink to product id", scale=2,
                                elem_id="cur-match-product")
            m_reason = gr.Textbox(label="Reason (optional)", scale=2,
                                  elem_id="cur-match-reason")
            m_go = gr.Button("Apply", variant="primary", scale=1, interactive=desk.can_edit,
                             elem_id="cur-match-apply")
        m_msg = gr.Markdown(elem_id="cur-match-msg")

    def on_pick(evt: gr.SelectData):
        row = evt.row_value or []
        return row[0] if row else None

    private = {"api_visibility": "private"}  # UI-only: not a gradio_client endpoint
    m_refresh.click(md.queue, [m_status, m_comp], [m_df], **private)
    m_status.change(md.queue, [m_status, m_comp], [m_df], **private)
    m_df.select(on_pick, None, [m_id], **private)
    def on_decide(i, d, p, w, k, r, s, c, request: gr.Request):
        return md.decide(i, d, product=p, who=w, key=k, reason=r, status=s, competitor=c,
                         user=user_of(login, request))

    if login is not None:
        login.gate(m_go, "edit_graph")
    m_go.click(on_decide,
               [m_id, m_dec, m_prod, who, key, m_reason, m_status, m_comp], [m_msg, m_df],
               **private)
    return md
