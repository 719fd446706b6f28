"""BlockScorer: catalog rows -> the service's suggestions as flat rows; every bad row named
(file, row, field, reason) and the rest of the block still scored."""
from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from assistant.batch.plan import Block, errors_path, scores_path
from assistant.batch.scorer import SCORE_SCHEMA, BlockScorer
from assistant.batch.settings import ScoreSettings
from assistant.suggestion import SuggestOptions
from tests.batch_data import POLICY, catalog_frame


@pytest.fixture(scope="module")
def scorer(tiny_service, tiny_artifact) -> BlockScorer:
    settings = ScoreSettings(artifact=str(tiny_artifact), policy=POLICY, k_comparables=3,
                             top_drivers=2)
    return BlockScorer(settings, service=tiny_service)


def test_rows_are_the_services_suggestions_and_bad_rows_are_named(scorer, tiny_service):
    frame, expected = catalog_frame()
    rows = np.arange(1, len(frame) + 1)
    out, bad = scorer.score_frame(frame, "catalog.csv", rows)
    assert [(b.row, b.field) for b in bad] == [(r, f) for r, f, _ in expected]
    for b, (_, _, words) in zip(bad, expected):
        assert b.file == "catalog.csv" and words in b.reason
    assert "1,000" in bad[-1].reason or "1000" in bad[-1].reason  # names the cost floor
    bad_rows = {r for r, _, _ in expected}
    good = frame.iloc[[i for i in range(len(frame)) if i + 1 not in bad_rows]]
    assert [o["product_id"] for o in out] == good["product_id"].tolist()
    assert [o["source_row"] for o in out] == [i + 1 for i in good.index]

    # the same numbers as the service's own batch call (what the API serves)
    recs = [scorer._product(r) for r in good.to_dict("records")]
    ref = tiny_service.suggest_batch(recs, SuggestOptions(explain=False, k_comparables=3,
                                                          policy=POLICY), store=False)
    for o, s in zip(out, ref):
        assert o["recommended_price"] == s.recommended_price
        assert (o["interval_low"], o["interval_high"]) == (s.interval.low, s.interval.high)
        assert o["comparable_ids"] == [c.product_id for c in s.evidence.comparables]
        assert len(o["comparable_ids"]) <= 3 and len(o["drivers"]) == 2
        assert [d["group"] for d in o["drivers"]] == [d.group for d in s.evidence.drivers[:2]]
        assert [g["rule"] for g in o["guardrails"]] == [g.rule for g in s.guardrails]
        assert [i["value"] for i in o["inferred"]] == [link.value for link in s.evidence.links]
        assert o["suggestion_json"] is None
    # the policy held: never more than 50% away from the current price
    moved = [o for o in out if o["current_price"]]
    assert moved and all(abs(o["recommended_price"] / o["current_price"] - 1) <= 0.5 + 1e-9
                         for o in moved)


def test_catalog_ids_alone_are_priced_from_the_graph(scorer, tiny_service):
    import pandas as pd

    known = tiny_service.products.index[:3].tolist()
    frame = pd.DataFrame({"product_id": [known[0], "NOT-THERE", None, known[1], known[2]]})
    out, bad = scorer.score_frame(frame, "ids.parquet", np.arange(1, 6))
    assert [o["product_id"] for o in out] == known
    assert [o["title"] for o in out] == tiny_service.products.loc[known, "title"].tolist()
    assert [(b.row, b.field) for b in bad] == [(2, "product_id"), (3, "product_id")]
    assert "not in the catalog graph" in bad[0].reason and bad[1].reason == "missing product_id"


class _CrashesOn:
    """The real service, except that a batch holding ``title`` crashes (an unexpected bug)."""

    def __init__(self, service, title: str) -> None:
        self.service, self.title = service, title

    def suggest_batch(self, targets, options, store=True):
        if any(isinstance(t, dict) and t.get("title") == self.title for t in targets):
            raise RuntimeError("boom")
        return self.service.suggest_batch(targets, options, store=store)


def test_an_unexpected_crash_costs_only_its_own_row(tiny_service, tiny_artifact):
    frame, expected = catalog_frame()
    poison = frame.loc[0, "title"]
    scorer = BlockScorer(ScoreSettings(artifact=str(tiny_artifact), policy=POLICY),
                         service=_CrashesOn(tiny_service, poison))
    out, bad = scorer.score_frame(frame, "catalog.csv", np.arange(1, len(frame) + 1))
    assert (bad[0].row, bad[0].reason) == (1, "RuntimeError: boom")
    assert len(out) == len(frame) - len(expected) - 1


def test_run_block_writes_atomically_and_reports_unreadable_blocks(scorer, tmp_path):
    frame, expected = catalog_frame()
    path = tmp_path / "cat.parquet"
    frame.astype(str).replace({"None": None, "nan": None}).to_parquet(path, row_group_size=10)
    block = Block(0, str(path), "cat.parquet", 0, 10, 0, 0)
    r = scorer.run_block(block, tmp_path / "out")
    assert r.error is None and r.rows == 10 and r.scored + r.bad == 10
    assert r.bad == sum(1 for row, _, _ in expected if row <= 10) and r.peak_rss_mib > 0
    written = pq.read_table(scores_path(tmp_path / "out", 0))
    assert written.schema.equals(SCORE_SCHEMA) and written.num_rows == r.scored
    assert pq.read_table(errors_path(tmp_path / "out", 0)).num_rows == r.bad
    gone = Block(1, str(tmp_path / "missing.parquet"), "missing.parquet", 0, 5, 0, 0)
    r = scorer.run_block(gone, tmp_path / "out")
    assert r.error and "missing.parquet" in r.error and not scores_path(tmp_path / "out", 1).exists()
