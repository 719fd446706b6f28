"""The Alerts tab: its callback over the service's real AlertLog (newest first, filtered by
kind, critical ones counted, undelivered ones flagged) and the tab rendering in a Blocks app."""
from __future__ import annotations

import gradio as gr
import pytest

from assistant.alerts import Alert, FileSink, NullSink
from assistant.explain import Explainer
from assistant.learning import LearningSettings, learning_for
from assistant.service import PricingService
from assistant.suggestion_store import SuggestionStore
from assistant.web.alerts_tab import COLUMNS, AlertsDesk, alerts_tab


@pytest.fixture(scope="module")
def svc(tiny_service, tmp_path_factory) -> PricingService:
    d = tmp_path_factory.mktemp("ui_alerts")
    s = PricingService(tiny_service.graph, tiny_service.predictor,
                       SuggestionStore(d / "s.sqlite"), Explainer(None))
    learning_for(s, LearningSettings(alerts="none"), sink=NullSink())
    return s


def test_empty_then_listed(svc, tmp_path):
    desk = AlertsDesk(svc)
    summary, table = desk.view("all")
    assert "**0** alert(s)" in summary and len(table) == 0 and list(table.columns) == COLUMNS
    log = learning_for(svc).alert_log
    log.dispatch([Alert(kind="competitor_undercut", message="cheapo 20% below", at="2030-01-01",
                        key="u1", details={"product_id": "p1"})], NullSink())
    blocked = tmp_path / "file"
    blocked.write_text("")   # a file where the sink wants a folder: not delivered
    log.dispatch([Alert(kind="run_failed", message="nightly failed", at="2030-01-02", key="f1",
                        severity="critical")], FileSink(blocked / "a.jsonl"))
    summary, table = desk.view("all")
    assert "**2** alert(s)" in summary and "**1 critical**" in summary
    assert list(table["kind"]) == ["run_failed", "competitor_undercut"]
    assert list(table["delivered"]) == ["NO", "yes"] and list(table["product"]) == ["", "p1"]
    summary, table = desk.view("competitor_undercut")
    assert "of kind `competitor_undercut`" in summary and list(table["message"]) == \
        ["cheapo 20% below"]
    assert len(desk.view("bogus")[1]) == 2          # an unknown kind lists everything


def test_tab_renders(svc):
    with gr.Blocks() as demo, gr.Tabs():
        desk = alerts_tab(svc)
    assert isinstance(desk, AlertsDesk)
    assert any(getattr(b, "elem_id", None) == "alerts-table" for b in demo.blocks.values())
