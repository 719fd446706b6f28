"""The Monitoring tab: its callbacks over a real service with recorded outcomes (summary,
figure, tables), the empty state, and the tab rendering inside a Blocks app."""
from __future__ import annotations

import gradio as gr
import pytest
from matplotlib.figure import Figure

from assistant.alerts import NullSink
from assistant.explain import Explainer
from assistant.learning import LearningSettings, learning_for
from assistant.monitoring import MonitoringReport
from assistant.service import PricingService
from assistant.suggestion_store import SuggestionStore
from assistant.web.monitoring_tab import MonitoringDesk, monitoring_figure, monitoring_tab


@pytest.fixture(scope="module")
def svc(tiny_service, tmp_path_factory) -> PricingService:
    d = tmp_path_factory.mktemp("ui_monitoring")
    s = PricingService(tiny_service.graph, tiny_service.predictor,
                       SuggestionStore(d / "s.sqlite"), Explainer(None))
    learning_for(s, LearningSettings(alerts="none"), sink=NullSink())
    return s


def test_empty_state(svc):
    v = MonitoringDesk(svc).view("7D")
    assert "**Outcomes:** 0" in v.summary and svc.model_version in v.summary
    assert isinstance(v.figure, Figure) and len(v.windows) == 0 and len(v.models) == 0
    empty = MonitoringReport(0, [], 0.8, (70.0, 90.0), None, [], [], [], {})
    assert "no outcomes" in monitoring_figure(empty).axes[0].texts[0].get_text()


def test_view_with_outcomes(svc):
    p = svc.products
    p = p[p["price"].notna()].sort_index()
    rows = [{"product_id": pid, "sold_price": float(price) * (2 if i >= 150 else 1),
             "date": f"2023-03-{1 + i // 15:02d}"}
            for i, (pid, price) in enumerate(zip(p["product_id"], p["price"]))][:300]
    assert len(learning_for(svc).record(rows).stored) == 300
    desk = MonitoringDesk(svc)
    v = desk.view("7D")
    assert "**Outcomes:** 300" in v.summary and "RMSLE" in v.summary
    assert list(v.windows["start"])[0] == "2023-03-15"              # newest first
    assert v.windows["n"].sum() == 300 and {"coverage", "unseen_share"} <= set(v.windows.columns)
    assert len(v.figure.axes) == 4                                   # 3 panels + twin axis
    assert len(v.alerts) > 0 and set(v.alerts.columns) == {"at", "kind", "message", "delivered"}
    assert len(desk.view("1D").windows) == 20
    assert len(desk.view("bogus").windows) == len(v.windows)        # falls back to 7D


def test_tab_renders(svc):
    with gr.Blocks() as demo, gr.Tabs():
        desk = monitoring_tab(svc)
    assert isinstance(desk, MonitoringDesk)
    assert any(getattr(b, "elem_id", None) == "mon-plot" for b in demo.blocks.values())
