"""RayEngine on a local Ray instance (2 CPUs) against LocalEngine on the same catalog: the
outputs agree to 1e-6, an interrupted Ray run resumes to the same output, and the bad rows
are reported per row while the rest is scored."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import ray

from assistant.batch import LocalEngine, RayEngine, ScoreSettings, read_bad_rows, read_scores, score_catalog
from tests.batch_data import POLICY, write_catalog

NUMERIC = ["current_price", "recommended_price", "model_price", "interval_low", "interval_high",
           "interval_coverage", "change_pct", "confidence"]


@pytest.fixture(scope="module")
def ray_local():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def job(tiny_artifact, tmp_path_factory):
    """The catalog and the local engine's output, loaded from the same paths as the actors."""
    d = tmp_path_factory.mktemp("engines")
    expected = write_catalog(d / "catalog.csv")
    settings = ScoreSettings(artifact=str(tiny_artifact), policy=POLICY)
    local = score_catalog(d / "catalog.csv", d / "local", settings, LocalEngine(), block_rows=8)
    assert local.failed_blocks == []
    return d, settings, expected


def assert_same_scores(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert a["product_id"].tolist() == b["product_id"].tolist()
    np.testing.assert_allclose(a[NUMERIC].to_numpy(float), b[NUMERIC].to_numpy(float),
                               rtol=0, atol=1e-6)
    for c in ("comparable_similarity",):
        for x, y in zip(a[c], b[c]):
            np.testing.assert_allclose(x, y, rtol=0, atol=1e-6)
    rest = [c for c in a.columns if c not in NUMERIC + ["comparable_similarity"]]
    assert a[rest].astype(str).equals(b[rest].astype(str))


class _StopAfterFirst:
    def start(self, total_rows, done_rows):
        pass

    def advance(self, result):
        raise KeyboardInterrupt  # as Ctrl-C (or a lost driver) would, mid-run


@pytest.fixture(scope="module")
def ray_run(ray_local, job):
    """A Ray run interrupted after its first block, then the same command again (resumed).
    (Two actor pools in all: each actor start imports torch and loads the model.)"""
    d, settings, _ = job
    with pytest.raises(KeyboardInterrupt):
        score_catalog(d / "catalog.csv", d / "ray", settings, RayEngine(actors=1),
                      block_rows=8, progress=_StopAfterFirst())
    done = len(list((d / "ray" / "scores").glob("part-*.parquet")))
    summary = score_catalog(d / "catalog.csv", d / "ray", settings, RayEngine(actors=2),
                            block_rows=8)
    return done, summary


def test_an_interrupted_ray_run_resumes_where_it_stopped(ray_run):
    done, s = ray_run
    assert 1 <= done < 4  # the first run wrote its first block and was stopped before the end
    assert (s.engine, s.workers, s.failed_blocks) == ("ray", 2, [])
    assert s.blocks_resumed >= done and s.blocks_resumed + s.blocks_run == 4
    # each actor loaded the model once and says how much memory it holds
    assert 1 <= len(s.peak_rss_mib_per_worker) <= 2
    assert all(v > 100 for v in s.peak_rss_mib_per_worker.values())
    assert s.first_output_s is not None


def test_ray_and_local_agree_and_report_the_same_bad_rows(ray_run, job):
    d, _, expected = job
    assert_same_scores(read_scores(d / "ray"), read_scores(d / "local"))
    bad = read_bad_rows(d / "ray")
    pd.testing.assert_frame_equal(bad, read_bad_rows(d / "local"))
    assert sorted(zip(bad["row"], bad["field"])) == [(r, f) for r, f, _ in expected]
    assert bad["reason"].str.len().min() > 10  # a reason a merchant can act on, per row
