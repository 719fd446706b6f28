"""score_catalog on the local engine: a whole run, an interrupted one resumed to the same
output, bad rows reported and never stopping the run; suggest_with_engine for reprice."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from assistant.batch import LocalEngine, ScoreSettings, read_bad_rows, read_scores, score_catalog
from assistant.batch.plan import PlanError
from assistant.batch.run import suggest_with_engine
from assistant.suggestion import Suggestion, SuggestOptions
from tests.batch_data import POLICY, write_catalog


class _StopAfter:
    """Progress that interrupts the run (as Ctrl-C would) after ``n`` blocks."""

    def __init__(self, n: int) -> None:
        self.n, self.started = n, None

    def start(self, total_rows, done_rows):
        self.started = (total_rows, done_rows)

    def advance(self, result):
        self.n -= 1
        if self.n == 0:
            raise KeyboardInterrupt


@pytest.fixture(scope="module")
def setup(tiny_service, tiny_artifact, tmp_path_factory):
    d = tmp_path_factory.mktemp("batch_run")
    expected = write_catalog(d / "catalog.csv")
    settings = ScoreSettings(artifact=str(tiny_artifact), policy=POLICY)
    engine = LocalEngine(service=tiny_service)  # same model and graph, loaded once
    full = score_catalog(d / "catalog.csv", d / "full", settings, engine, block_rows=8)
    return d, settings, engine, expected, full


def test_a_run_scores_every_good_row_and_reports_the_bad_ones(setup):
    d, _, _, expected, s = setup
    scores, bad = read_scores(d / "full"), read_bad_rows(d / "full")
    n_rows = len(pd.read_csv(d / "catalog.csv"))
    assert s.blocks == 4 and s.blocks_run == 4 and s.failed_blocks == []
    assert s.scored_total == len(scores) == n_rows - len(expected)
    assert s.bad_rows_total == len(bad) == len(expected)
    assert sorted(zip(bad["row"], bad["field"])) == [(r, f) for r, f, _ in expected]
    assert set(bad["file"]) == {"catalog.csv"}
    assert scores["source_row"].is_monotonic_increasing and scores["product_id"].is_unique
    assert s.first_output_s is not None and s.products_per_s > 0
    assert json.loads((d / "full" / "summary.json").read_text())["scored_total"] == len(scores)


def test_an_interrupted_run_resumes_to_the_same_output(setup):
    d, settings, engine, _, _ = setup
    stop = _StopAfter(2)
    with pytest.raises(KeyboardInterrupt):
        score_catalog(d / "catalog.csv", d / "resumed", settings, engine, block_rows=8,
                      progress=stop)
    assert len(list((d / "resumed" / "scores").glob("part-*.parquet"))) == 2
    again = _StopAfter(99)
    s = score_catalog(d / "catalog.csv", d / "resumed", settings, engine, block_rows=8,
                      progress=again)
    assert again.started == (len(pd.read_csv(d / "catalog.csv")), 16)  # (rows, rows done)
    assert (s.blocks_resumed, s.blocks_run) == (2, 2)
    pd.testing.assert_frame_equal(read_scores(d / "resumed"), read_scores(d / "full"))
    pd.testing.assert_frame_equal(read_bad_rows(d / "resumed"), read_bad_rows(d / "full"))
    # the same run again does nothing; other settings are refused rather than mixed in
    assert score_catalog(d / "catalog.csv", d / "resumed", settings, engine,
                         block_rows=8).blocks_run == 0
    with pytest.raises(PlanError, match="k_comparables"):
        score_catalog(d / "catalog.csv", d / "resumed",
                      settings.model_copy(update={"k_comparables": 2}), engine, block_rows=8)


def test_suggest_with_engine_gives_full_suggestions(setup, tiny_service):
    d, settings, engine, _, _ = setup
    ids = tiny_service.products.index[:4].tolist() + ["NOT-THERE"]
    got = suggest_with_engine(ids, settings, engine, d / "reprice_work", block_rows=2)
    assert all(isinstance(g, Suggestion) for g in got[:4])
    assert isinstance(got[4], ValueError) and "not in the catalog graph" in str(got[4])
    ref = tiny_service.suggest_batch(ids[:4], SuggestOptions(explain=False, policy=POLICY),
                                     store=False)
    assert [g.recommended_price for g in got[:4]] == [r.recommended_price for r in ref]
    assert [g.evidence.competitors for g in got[:4]] == [r.evidence.competitors for r in ref]
