"""The Alerts tab: the alerts sent so far (pricing jobs and monitoring), newest first.

Use::

    from assistant.web.alerts_tab import AlertsDesk, alerts_tab
    alerts_tab(service)                              # inside gr.Tabs (build_ui does this)
    AlertsDesk(service).view("competitor_undercut")  # (summary, table), usable without a browser

Reads the same :class:`assistant.alerts.AlertLog` as ``GET /v1/alerts`` (through
:func:`assistant.learning.learning_for`), where ``pricing schedule`` stores what it sends:
competitor undercuts, competitors below MAP, prices below cost, failed runs.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import gradio as gr
import pandas as pd

from assistant.learning import learning_for

if TYPE_CHECKING:
    from assistant.service import PricingService

KINDS = ("all", "competitor_undercut", "competitor_below_map", "price_below_cost", "run_failed",
         "coverage_band", "input_drift", "detector_error", "detector_coverage", "detector_bias")
COLUMNS = ["sent", "severity", "kind", "product", "message", "delivered"]


class AlertsDesk:
    """The tab's callback over one service."""

    def __init__(self, service: PricingService, limit: int = 200) -> None:
        self.service = service
        self.limit = limit

    def view(self, kind: str = "all") -> tuple[str, pd.DataFrame]:
        log = learning_for(self.service).alert_log
        k = None if kind in (None, "", "all") or kind not in KINDS else kind
        rows = log.recent(self.limit, kind=k)
        table = pd.DataFrame([{
            "sent": r["sent_at"], "severity": r["severity"], "kind": r["kind"],
            "product": (r["details"] or {}).get("product_id") or "",
            "message": r["message"], "delivered": "yes" if r["delivered"] else "NO"}
            for r in rows], columns=COLUMNS)
        total = log.count(k)
        critical = int((table["severity"] == "critical").sum()) if len(table) else 0
        summary = (f"**{total}** alert(s)" + (f" of kind `{k}`" if k else "")
                   + (f", showing the latest {len(table)}" if total > len(table) else "")
                   + (f"; **{critical} critical** among them" if critical else ""))
        return summary, table


def alerts_tab(service: PricingService) -> AlertsDesk:
    """Render the "Alerts" tab (inside ``gr.Tabs``); returns its desk."""
    desk = AlertsDesk(service)
    with gr.Tab("Alerts", id="alerts"):
        with gr.Row():
            kind = gr.Dropdown(list(KINDS), value="all", label="Kind", elem_id="alerts-kind")
            refresh = gr.Button("Refresh", elem_id="alerts-refresh")
        summary = gr.Markdown("Press Refresh to list the alerts.", elem_id="alerts-summary")
        table = gr.Dataframe(pd.DataFrame(columns=COLUMNS), interactive=False, wrap=True,
                             max_height=500, elem_id="alerts-table")
    refresh.click(desk.view, [kind], [summary, table], api_visibility="private")
    kind.change(desk.view, [kind], [summary, table], api_visibility="private")
    return desk
