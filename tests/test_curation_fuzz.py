"""Stateful fuzzing that commits real curation edits over HTTP (issue 19, deliverable 5).

A bounded run of :mod:`tests.curation_machine` against a uvicorn server on a COPY of the tiny
model's graph with a curator key: hostile ids and titles, links, merges, re-pricing, bulk
links, reverts and suggestions, checking after every step that nothing answered 5xx, the
store passes the graph check, the newest edit can be reverted and touched products still get
suggestions; at the end every edit is undone and the store equals the starting graph. The
long run: ``python bench/curation_fuzz.py``.
"""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from assistant.http.app import ApiSettings, create_app
from tests.conftest import live_server, service_on_store_copy
from tests.curation_machine import curation_machine

CURATOR = "fuzz-curator-key-0123456789"


@pytest.fixture(scope="module")
def served(tiny_service, tmp_path_factory):
    svc = service_on_store_copy(tiny_service, tmp_path_factory.mktemp("curation_fuzz"))
    app = create_app(svc, ApiSettings(api_keys={CURATOR: "curator"}, key_names={CURATOR: "fuzz"},
                                      rate_limit=0))
    with live_server(app) as url:
        yield url, svc


def test_committed_edits_never_break_the_server(served):
    url, svc = served
    ids = sorted(svc.products.index[svc.products["price"].notna()])[:40]
    machine = curation_machine(url, CURATOR, svc.graph_db, ids)
    run_state_machine_as_test(machine, settings=settings(
        max_examples=2, stateful_step_count=12, deadline=None, database=None,
        phases=[Phase.generate],  # shrinking replays the server's slow edits: report as found
        suppress_health_check=list(HealthCheck)))
    seen = machine.stats
    assert sum(n for k, n in seen.items() if k.endswith(" 200")) >= 10, seen
    assert not [k for k in seen if k.split()[-1].startswith("5")], seen
