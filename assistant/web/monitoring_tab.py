"""The Monitoring tab: the served model on recorded outcomes over time, input drift, detector
firings, alerts sent, and the model versions.

Use::

    from assistant.web.monitoring_tab import MonitoringDesk, monitoring_figure, monitoring_tab
    monitoring_tab(service)                          # inside gr.Tabs (build_ui does this)
    view = MonitoringDesk(service).view("7D")        # the callbacks, usable without a browser
    view.summary, view.figure, view.windows, view.alerts, view.models

Everything comes from :func:`assistant.learning.learning_for` (the same object the API's
``/v1/outcomes`` and ``/v1/monitoring`` use), so the tab and the API show the same report.
The figure has three panels sharing the time axis: RMSLE and within-±20% per window; interval
coverage against its band; input drift (unseen-category share, category-mix distance,
embedding shift). Detector firings that signal a worse model are marked on every panel.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import gradio as gr
import pandas as pd
from matplotlib.figure import Figure

from assistant.learning import learning_for
from assistant.monitoring import MonitoringReport

if TYPE_CHECKING:
    from assistant.service import PricingService

WINDOWS = ("1D", "7D", "14D", "30D")
_WINDOW_COLS = ["start", "n", "rmsle", "within_20", "coverage", "bias", "category_js",
                "unseen_share", "price_psi", "embedding_shift"]
_ALERT_COLS = ["at", "kind", "message", "delivered"]
_MODEL_COLS = ["version", "status", "registered", "test RMSLE", "gate"]


def monitoring_figure(report: MonitoringReport) -> Figure:
    """Error, coverage and drift per window (start dates), detector firings as vertical lines."""
    fig = Figure(figsize=(9, 7.2), layout="constrained")
    ax_err, ax_cov, ax_drift = fig.subplots(3, 1, sharex=True)
    w = pd.DataFrame([x.__dict__ for x in report.windows])
    if len(w) == 0:
        ax_err.text(0.5, 0.5, "no outcomes recorded yet", ha="center", va="center",
                    transform=ax_err.transAxes)
        for ax in (ax_err, ax_cov, ax_drift):
            ax.set_yticks([])
        return fig
    x = pd.to_datetime(w["start"])
    ax_err.plot(x, w["rmsle"], marker="o", color="#b0413e", label="RMSLE")
    ax_err.set_ylabel("RMSLE")
    ax2 = ax_err.twinx()
    ax2.plot(x, w["within_20"], marker=".", color="#5b7db1", alpha=0.7, label="within ±20% (%)")
    ax2.set_ylabel("within ±20% (%)")
    ax_err.set_title(f"{report.n} outcomes")
    ax_cov.axhspan(report.band[0], report.band[1], color="#8fd1ae", alpha=0.35,
                   label=f"band {report.band[0]:.0f}-{report.band[1]:.0f}%")
    ax_cov.axhline(report.nominal_coverage * 100, color="#1f7a4d", lw=1, ls=":")
    ax_cov.plot(x, w["coverage"], marker="o", color="#1f7a4d", label="coverage (%)")
    ax_cov.set_ylabel("coverage (%)")
    ax_cov.legend(loc="lower left", fontsize=8)
    ax_drift.plot(x, w["unseen_share"] / 100, marker="o", label="unseen categories (share)")
    ax_drift.plot(x, w["category_js"], marker=".", label="category-mix JS distance")
    if w["embedding_shift"].notna().any():
        ax_drift.plot(x, w["embedding_shift"] * 10, marker=".", label="embedding shift ×10")
    ax_drift.set_ylabel("input drift")
    ax_drift.legend(loc="upper left", fontsize=8)
    fired = sorted({d.at for d in report.detections if d.worse})
    for at in fired:
        for ax in (ax_err, ax_cov, ax_drift):
            ax.axvline(pd.Timestamp(at), color="#d08c2f", lw=0.8, alpha=0.7)
    if fired:
        ax_err.plot([], [], color="#d08c2f", lw=0.8, label="detector fired")
    h1, l1 = ax_err.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax_err.legend(h1 + h2, l1 + l2, loc="upper left", fontsize=8)
    fig.autofmt_xdate()
    return fig


@dataclass
class MonitoringView:
    summary: str
    figure: Figure
    windows: pd.DataFrame
    alerts: pd.DataFrame
    models: pd.DataFrame


class MonitoringDesk:
    """The tab's callbacks over one service."""

    def __init__(self, service: PricingService) -> None:
        self.service = service

    def view(self, window: str = "7D") -> MonitoringView:
        if window not in WINDOWS:
            window = "7D"
        learning = learning_for(self.service)
        rep = learning.report(window)
        o = rep.overall
        lines = [f"**Served model:** `{self.service.model_version}`",
                 f"**Outcomes:** {rep.n}"]
        if o is not None:
            lines.append(f"**Overall:** RMSLE {o.rmsle:.3f}, within ±20% {o.within_20:.1f}%, "
                         f"coverage {o.coverage:.1f}% (band {rep.band[0]:.0f}-{rep.band[1]:.0f}%)")
        worse = [d for d in rep.detections if d.worse]
        lines.append(f"**Detector firings:** {len(worse)}; **alerts:** {len(rep.alerts)}")
        if learning.last_error:
            lines.append(f"**Model switch failed:** {learning.last_error}")
        windows = (pd.DataFrame([x.__dict__ for x in rep.windows])[_WINDOW_COLS].iloc[::-1]
                   if rep.windows else pd.DataFrame(columns=_WINDOW_COLS))
        sent = learning.alert_log.recent()
        alerts = (pd.DataFrame(sent)[_ALERT_COLS] if sent
                  else pd.DataFrame([{"at": a.at, "kind": a.kind, "message": a.message,
                                      "delivered": None} for a in rep.alerts[::-1]],
                                    columns=_ALERT_COLS))
        models = pd.DataFrame([{
            "version": m.version, "status": m.status, "registered": m.registered_at,
            "test RMSLE": (m.metrics.get("test") or {}).get("rmsle"),
            "gate": "" if not m.gate else m.gate.get("reason", "")} for m in learning.models()],
            columns=_MODEL_COLS)
        return MonitoringView("  \n".join(lines), monitoring_figure(rep), windows, alerts, models)


def monitoring_tab(service: PricingService) -> MonitoringDesk:
    """Render the "Monitoring" tab (inside ``gr.Tabs``); returns its desk."""
    desk = MonitoringDesk(service)
    with gr.Tab("Monitoring", id="monitoring"):
        with gr.Row():
            window = gr.Radio(list(WINDOWS), value="7D", label="Window", elem_id="mon-window")
            refresh = gr.Button("Refresh", elem_id="mon-refresh")
        summary = gr.Markdown("Press Refresh to compute the report.", elem_id="mon-summary")
        plot = gr.Plot(show_label=False, format="png", elem_id="mon-plot")
        with gr.Accordion("Windows", open=False):
            windows = gr.Dataframe(pd.DataFrame(columns=_WINDOW_COLS), interactive=False,
                                   max_height=300, elem_id="mon-windows")
        alerts = gr.Dataframe(pd.DataFrame(columns=_ALERT_COLS), interactive=False,
                              max_height=240, wrap=True, label="Alerts", elem_id="mon-alerts")
        models = gr.Dataframe(pd.DataFrame(columns=_MODEL_COLS), interactive=False,
                              max_height=200, wrap=True, label="Model versions",
                              elem_id="mon-models")

    def show(w: str) -> tuple:
        v = desk.view(w)
        return v.summary, v.figure, v.windows, v.alerts, v.models

    outs = [summary, plot, windows, alerts, models]
    refresh.click(show, [window], outs, api_visibility="private")
    window.change(show, [window], outs, api_visibility="private")
    return desk
