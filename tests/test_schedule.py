"""Scheduled jobs on a copy of the tiny service's graph: a repricing run raises undercut, MAP
and cost alerts once (stored, sent through the sink), a scoring run does too, a failed run
raises ``run_failed`` without stopping the APScheduler scheduler, and schedule files are
validated field by field."""
from __future__ import annotations

import json
import logging
import time
from datetime import date

import pandas as pd
import pytest

from assistant.alerts import AlertLog, FileSink
from assistant.batch import ScoreSettings
from assistant.price_alerts import AlertRules
from assistant.pricebook import PriceBook
from assistant.schedule import JobRunner, JobSpec, ScheduleConfig, build_scheduler, cron_trigger
from assistant.service import PricingService
from assistant.suggestion_store import SuggestionStore
from graph.schema import EdgeType, NodeType, node_id, now_iso, offer_key

TODAY = date(2030, 1, 2)
OFFER_DAY = "2030-01-01"


@pytest.fixture()
def service(tiny_service, tmp_path) -> PricingService:
    """Our own service over a copy of the graph (offers get added)."""
    return PricingService(tiny_service.graph.copy(), tiny_service.predictor,
                          SuggestionStore(tmp_path / "s.sqlite"))


@pytest.fixture(scope="module")
def pid(tiny_service) -> str:
    """A priced retail product with competitor offers."""
    p = tiny_service.products
    return sorted(i for i in p.index[(p["currency"] == "BRL") & p["price"].notna()]
                  if tiny_service.competitors(i))[0]


def _undercut(service: PricingService, pid: str, share: float = 0.5) -> float:
    """A competitor offer at ``share`` of the catalog price, observed on OFFER_DAY."""
    price = round(float(service.products.at[pid, "price"]) * share, 2)
    service.graph.add_edge(node_id(NodeType.COMPETITOR, "cheapo"), node_id(NodeType.PRODUCT, pid),
                           key=offer_key(OFFER_DAY), type=EdgeType.OFFERS.value, price=price,
                           currency="BRL", observed_at=OFFER_DAY, provenance="test",
                           updated_at=now_iso())
    return price


def _runner(service, tmp_path, rules=None, **kw) -> JobRunner:
    return JobRunner(service, AlertLog(tmp_path / "s.sqlite"), FileSink(tmp_path / "alerts.jsonl"),
                     rules or AlertRules(), today=lambda: TODAY, **kw)


REPRICE = JobSpec(name="competitors", kind="reprice", cron="*/30 * * * *", lookback_days=1)


def test_reprice_run_alerts_once(service, pid, tmp_path, caplog):
    offer = _undercut(service, pid, share=0.3)   # far below any real competitor's offer
    (tmp_path / "map.csv").write_text(f"product_id,map_price\n{pid},{offer * 1.2:.2f}\n")
    book = PriceBook(tmp_path / "book.sqlite")
    ours = float(service.products.at[pid, "price"])
    book.set_price(pid, ours, actor="test", rule="manual")
    runner = _runner(service, tmp_path, AlertRules(undercut_pct=10, map_file=tmp_path / "map.csv"),
                     book=book, run_log=tmp_path / "runs.jsonl")
    with caplog.at_level(logging.INFO):
        r = runner.run(REPRICE)
    assert r.ok and r.error is None and r.checked == 1
    assert "[competitor_undercut]" in caplog.text               # alerts also go to the log
    assert "run competitors-" in caplog.text and "2 new alert(s)" in caplog.text
    kinds = {a.kind: a for a in r.alerts}
    assert set(kinds) == {"competitor_undercut", "competitor_below_map"}
    u = kinds["competitor_undercut"].details
    assert u["product_id"] == pid and u["competitor"] == "cheapo" and u["competitor_price"] == offer
    assert u["our_price_from"] == "price list" and u["gap_pct"] == pytest.approx(70, abs=0.1)
    assert u["source"] == "competitors"
    # stored for the UI, sent through the sink, one run-log line
    stored = AlertLog(tmp_path / "s.sqlite").recent()
    assert {a["kind"] for a in stored} == set(kinds) and all(a["delivered"] for a in stored)
    assert len(FileSink(tmp_path / "alerts.jsonl").read()) == 2
    again = runner.run(REPRICE)   # the same offer: priced again, nothing new to say
    assert again.ok and again.checked == 1 and again.alerts == []
    runs = [json.loads(x) for x in (tmp_path / "runs.jsonl").read_text().splitlines()]
    assert [x["ok"] for x in runs] == [True, True] and len(runs[0]["alerts"]) == 2


def test_price_below_cost_from_the_price_list(service, pid, tmp_path):
    _undercut(service, pid, share=0.99)             # an offer to reprice for
    cost = round(float(service.products.at[pid, "price"]) * 1.5, 2)
    service.products.loc[pid, "cost"] = cost        # above the catalog price
    book = PriceBook(tmp_path / "book.sqlite")
    r = _runner(service, tmp_path, AlertRules(undercut_pct=None), book=book).run(REPRICE)
    [a] = r.alerts
    assert a.kind == "price_below_cost" and a.severity == "critical"
    assert a.details["our_price_from"] == "catalog" and a.details["cost"] == cost
    assert a.details["below"] == ["our price"]       # the suggestion keeps to the cost floor


def test_score_run_alerts(service, pid, tiny_artifact, tmp_path):
    _undercut(service, pid)
    others = [i for i in service.products.index[:3] if i != pid][:2]
    pd.DataFrame({"product_id": [pid, *others]}).to_parquet(tmp_path / "ids.parquet")
    job = JobSpec(name="nightly", kind="score", cron="0 2 * * *", catalog=tmp_path / "ids.parquet",
                  out=tmp_path / "scores", block_rows=2)
    lines: list[str] = []
    runner = _runner(service, tmp_path, score_base=ScoreSettings(artifact=str(tiny_artifact)),
                     progress=lines.append)
    r = runner.run(job)
    assert r.ok, r.error
    assert r.checked == 3 and r.failed_items == 0
    assert [(a.kind, a.details["product_id"]) for a in r.alerts
            if a.kind == "competitor_undercut" and a.details["competitor"] == "cheapo"] == \
        [("competitor_undercut", pid)]
    assert any("block 1" in x for x in lines) and "ok" in lines[-1]
    assert runner.run(job).alerts == []            # rewritten output, the same facts


def test_failed_run_alerts_and_the_scheduler_goes_on(service, tiny_artifact, tmp_path):
    from apscheduler.schedulers.background import BackgroundScheduler

    broken = JobSpec(name="broken", kind="score", cron="* * * * * *",
                     catalog=tmp_path / "missing.parquet", out=tmp_path / "out")
    healthy = REPRICE.model_copy(update={"cron": "* * * * * *"})
    runner = _runner(service, tmp_path, score_base=ScoreSettings(artifact=str(tiny_artifact)))
    r = runner.run(broken)
    assert not r.ok and "missing.parquet" in r.error
    [a] = r.alerts
    assert a.kind == "run_failed" and a.severity == "critical" and a.details["job"] == "broken"

    config = ScheduleConfig(jobs=[broken, healthy])
    sched = build_scheduler(config, runner, BackgroundScheduler(timezone="UTC"))
    sched.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and \
                sum(1 for h in runner.history if h.job == "broken") < 3:
            time.sleep(0.1)
        assert sched.running                         # failures did not stop it
    finally:
        sched.shutdown(wait=True)
    broken_runs = [h for h in runner.history if h.job == "broken"]
    assert len(broken_runs) >= 3 and not any(h.ok for h in broken_runs)
    assert any(h.ok for h in runner.history if h.job == "competitors")   # the other job ran
    failed = AlertLog(tmp_path / "s.sqlite").recent(kind="run_failed", limit=100)
    assert len(failed) == len(broken_runs)           # one alert per failed run


def test_schedule_file(tmp_path):
    p = tmp_path / "schedule.toml"
    p.write_text('''
timezone = "Asia/Kolkata"
[alerts]
undercut_pct = 7.5
[[jobs]]
name = "competitors"
kind = "reprice"
cron = "*/30  * * * *"
policy = { max_above_cheapest = 0 }
[[jobs]]
name = "nightly"
kind = "score"
cron = "0 2 * * *"
catalog = "data/demo"
out = "runs/x"
''')
    cfg = ScheduleConfig.from_file(p)
    assert [j.kind for j in cfg.jobs] == ["reprice", "score"] and cfg.alerts.undercut_pct == 7.5
    assert cfg.jobs[0].cron == "*/30 * * * *" and cfg.jobs[0].policy.max_above_cheapest == 0
    trigger = str(cron_trigger(cfg.jobs[1].cron, cfg.timezone))
    assert "hour='2'" in trigger and "minute='0'" in trigger
    assert "second='5'" in str(cron_trigger("5 * * * * *"))     # six fields: seconds first


@pytest.mark.parametrize("body, match", [
    ('[[jobs]]\nname="a"\nkind="reprice"\ncron="every day"', r"jobs\.0\.cron: .*fields"),
    ('[[jobs]]\nname="a"\nkind="reprice"\ncron="61 * * * *"', r"jobs\.0\.cron"),
    ('[[jobs]]\nname="a"\nkind="score"\ncron="0 2 * * *"', "needs catalog and out"),
    ('[[jobs]]\nname="a"\nkind="email"\ncron="0 2 * * *"', r"jobs\.0\.kind"),
    ('[[jobs]]\nname="a"\nkind="reprice"\ncron="0 2 * * *"\n[[jobs]]\nname="a"\nkind="reprice"\n'
     'cron="0 3 * * *"', "unique: a"),
    ('colour = "red"\n[[jobs]]\nname="a"\nkind="reprice"\ncron="0 2 * * *"', "colour"),
    ('timezone = "Mars/Base"\n[[jobs]]\nname="a"\nkind="reprice"\ncron="0 2 * * *"', "time zone"),
    ('[alerts]\nundercut_pct = 150\n[[jobs]]\nname="a"\nkind="reprice"\ncron="0 2 * * *"',
     r"alerts\.undercut_pct"),
    ('jobs = []', "jobs"),
    ('[[jobs]\n', "not TOML"),
])
def test_schedule_file_errors_name_the_field(tmp_path, body, match):
    p = tmp_path / "s.toml"
    p.write_text(body)
    with pytest.raises(ValueError, match=match):
        ScheduleConfig.from_file(p)
