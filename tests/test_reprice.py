"""Competitor reaction: reprice only what competitors changed, never chase our own price,
rise again when competitors rise (on a copy of the tiny service's graph)."""
from __future__ import annotations

import json
from datetime import date

import pytest
from typer.testing import CliRunner

from assistant.guardrails import GuardrailPolicy
from assistant.reprice import latest_suggestion, products_with_offers_since, reprice
from assistant.service import PricingService
from assistant.suggestion import SuggestOptions
from assistant.suggestion_store import SuggestionStore
from graph.schema import EdgeType, NodeType, node_id, now_iso, offer_key

MATCH_CHEAPEST = SuggestOptions(explain=False, k_comparables=0,
                                policy=GuardrailPolicy(max_above_cheapest=0.0))


@pytest.fixture()
def service(tiny_service, tmp_path) -> PricingService:
    """Our own service over a copy of the graph (offers get edited), market mode only."""
    return PricingService(tiny_service.graph.copy(), tiny_service.predictor,
                          SuggestionStore(tmp_path / "s.sqlite"))


@pytest.fixture(scope="module")
def pid(tiny_service) -> str:
    """A retail product with competitor offers."""
    p = tiny_service.products
    return sorted(i for i in p.index[p["currency"] == "BRL"] if tiny_service.competitors(i))[0]


def _offer(service: PricingService, pid: str, competitor: str, price: float, at: str) -> None:
    service.graph.add_edge(node_id(NodeType.COMPETITOR, competitor),
                           node_id(NodeType.PRODUCT, pid), key=offer_key(at),
                           type=EdgeType.OFFERS.value, price=price, currency="BRL",
                           observed_at=at, provenance="test", updated_at=now_iso())


def _competitor(service: PricingService, pid: str) -> str:
    src = next(u for u, _, d in service.graph.in_edges(node_id(NodeType.PRODUCT, pid), data=True)
               if d.get("type") == EdgeType.OFFERS.value)
    return src.partition(":")[2]


def test_only_products_with_new_offers_are_repriced(service, pid):
    assert products_with_offers_since(service, "2099-01-01") == []
    _offer(service, pid, _competitor(service, pid), 10.0, "2099-01-01")
    assert products_with_offers_since(service, "2099-01-01") == [pid]
    assert reprice(service, "2099-01-02").items == []
    with pytest.raises(ValueError, match="offers_since"):
        reprice(service, "last week")


def test_no_ping_pong_and_prices_rise_again(service, pid):
    comp = _competitor(service, pid)
    base = service.suggest(pid, MATCH_CHEAPEST)  # stored: the previous suggestion
    m = base.model_price
    # below our price, hence below every competitor (the rule kept us at or under the cheapest)
    low = round(min(m, base.recommended_price) * 0.5, 2)

    # a competitor undercuts far below: the competitor-position rule pulls us down to it
    _offer(service, pid, comp, low, "2030-01-01")
    r1 = reprice(service, date(2030, 1, 1), MATCH_CHEAPEST)
    [item] = r1.items
    assert item.moved and item.before_from == "suggestion" and item.before == base.recommended_price
    assert item.after == pytest.approx(low)
    assert comp in item.reason and "→" in item.reason and "max_above_cheapest" in item.reason
    assert [c.competitor for c in item.changes] == [comp]
    assert item.changes[0].after == low
    assert latest_suggestion(service, pid).recommended_price == item.after

    # repricing again with no competitor change moves nothing (we never chase our own price)
    r2 = reprice(service, date(2030, 1, 1), MATCH_CHEAPEST)
    assert r2.moved == [] and r2.items[0].before == r2.items[0].after == item.after
    assert r2.items[0].changes == [] and r2.items[0].reason == "unchanged"

    # the competitor raises its price: ours rises again, back to at least where it was
    _offer(service, pid, comp, round(m * 3, 2), "2030-02-01")
    r3 = reprice(service, date(2030, 2, 1), MATCH_CHEAPEST)
    [up] = r3.moved
    assert up.before == item.after and up.after > up.before
    assert up.after >= base.recommended_price and up.change_pct > 0
    assert up.changes[0].before == low and up.changes[0].after == round(m * 3, 2)
    assert reprice(service, date(2030, 2, 1), MATCH_CHEAPEST).moved == []


def test_first_reprice_compares_with_the_current_price_and_older_offers(service, pid):
    comp = _competitor(service, pid)
    _offer(service, pid, comp, 1.0, "2031-01-01")
    [item] = reprice(service, "2031-01-01", MATCH_CHEAPEST).items
    assert item.before_from == "current_price" and item.before == service.products.at[pid, "price"]
    assert item.after == 1.0 and item.moved
    [change] = item.changes
    assert change.competitor == comp and change.after == 1.0 and change.before is not None
    report = reprice(service, "2031-01-01", MATCH_CHEAPEST).to_dict()
    assert report["checked"] == 1 and report["moved"] == 0
    json.dumps(report)  # plain data


def test_cli_reprice_twice_moves_nothing_the_second_time(tiny_artifact, tmp_path):
    from assistant.cli import app

    args = ["reprice", "--since", "2018-08-01", "--artifact", str(tiny_artifact),
            "--db", str(tmp_path / "missing.sqlite"), "--suggestions-db",
            str(tmp_path / "s.sqlite"), "--sales", "none", "--max-above-cheapest", "0", "--json"]
    runner = CliRunner()
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    r1 = json.loads(first.stdout)  # progress bars go to stderr
    assert r1["checked"] > 0 and r1["errors"] == 0
    r2 = json.loads(runner.invoke(app, args).stdout)
    assert r2["checked"] == r1["checked"] and r2["moved"] == 0
    bad = runner.invoke(app, ["reprice", "--since", "yesterday"])
    assert bad.exit_code == 2


def test_cli_reprice_on_postgresql_stores(tiny_service, tiny_artifact, pg_server):
    """--db and --suggestions-db take postgresql:// URLs: the graph is read from there and
    the new suggestions are stored there."""
    import psycopg

    from assistant.cli import app
    from graph.store import GraphStore

    graph_url, suggestions_url = pg_server.new_database("g"), pg_server.new_database("s")
    with GraphStore(graph_url) as store:
        store.save(tiny_service.graph)
    args = ["reprice", "--since", "2018-08-01", "--artifact", str(tiny_artifact),
            "--db", graph_url, "--suggestions-db", suggestions_url, "--sales", "none",
            "--max-above-cheapest", "0", "--json"]
    runner = CliRunner()
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    r1 = json.loads(first.stdout)
    assert r1["checked"] > 0 and r1["errors"] == 0
    with psycopg.connect(suggestions_url) as c:
        assert c.execute("SELECT count(*) FROM suggestions").fetchone()[0] == r1["checked"]
    r2 = json.loads(runner.invoke(app, args).stdout)
    assert r2["checked"] == r1["checked"] and r2["moved"] == 0


def test_reprice_on_the_batch_engine_gives_the_same_report(service, pid, tiny_artifact, tmp_path):
    from assistant.batch import LocalEngine, ScoreSettings, suggest_with_engine

    _offer(service, pid, _competitor(service, pid), 2.0, "2032-01-01")
    settings = ScoreSettings(artifact=str(tiny_artifact), policy=MATCH_CHEAPEST.policy,
                             k_comparables=MATCH_CHEAPEST.k_comparables)
    engine = LocalEngine(service=service)  # the engine path (blocks, Parquet) on this graph
    calls = []

    def on_engine(ids):
        calls.append(list(ids))
        return suggest_with_engine(ids, settings, engine, tmp_path / "work")

    direct = reprice(service, "2032-01-01", MATCH_CHEAPEST, store=False).to_dict()
    batch = reprice(service, "2032-01-01", MATCH_CHEAPEST, store=False,
                    suggest_many=on_engine).to_dict()
    assert calls == [[pid]]
    for d in (direct, batch):
        for item in d["items"]:
            item.pop("suggestion_id")
    assert batch == direct and direct["items"][0]["after"] == 2.0
