"""Monitoring on synthetic outcome streams whose truth is known: window figures checked by
hand, detectors that fire on a category's price shift and a new category (and not before),
coverage-band and input-drift alerts with stable keys. The model-backed path (Reference from
a real predictor, outcomes from the store) is covered by tests/test_learning.py."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from assistant.monitoring import Monitor, MonitorConfig, Reference, segment_of

START = pd.Timestamp("2023-03-01")
CATS = ["A > a1", "A > a2", "B > b1", "C > c1"]
SIGMA = 0.3          # log-error noise of the synthetic model
HALF = 1.2816 * SIGMA  # interval half-width in log space: 80% nominal coverage


def stream(seed: int = 1, n: int = 3000, days: int = 60, shift_day: int = 30,
           shift: float = np.log(1.3), new_day: int | None = 45) -> pd.DataFrame:
    """Outcomes of a model with log-normal error; from ``shift_day`` category B sells 30%
    higher; from ``new_day`` 30% of the outcomes are in an unseen category N."""
    rng = np.random.default_rng(seed)
    day = np.sort(rng.integers(0, days, n))
    cats = rng.choice(CATS, n, p=[.2, .2, .4, .2]).astype(object)
    true = np.exp(rng.normal(6, 1, n))
    pred = true * np.exp(rng.normal(0, SIGMA, n))
    in_b = np.array([c.startswith("B") for c in cats])
    sold = true * np.where((day >= shift_day) & in_b, np.exp(shift), 1.0)
    if new_day is not None:
        cats[(day >= new_day) & (rng.random(n) < 0.3)] = "N > n1"
    return pd.DataFrame({
        "outcome_id": [f"o{i}" for i in range(n)],
        "date": START + pd.to_timedelta(day, unit="D"), "sold_price": sold, "units": 1,
        "category_path": cats, "pred_price": pred, "pred_low": pred * np.exp(-HALF),
        "pred_high": pred * np.exp(HALF), "nominal_coverage": 0.8, "model_version": "v1"})


@pytest.fixture(scope="module")
def reference() -> Reference:
    rng = np.random.default_rng(99)
    cats = list(rng.choice(CATS, 4000, p=[.2, .2, .4, .2]))
    return Reference.from_data(cats, np.exp(rng.normal(6, 1, 4000)), None, 0.8, "v1")


def test_segments_and_reference(reference):
    assert segment_of("A > a1") == "A" and segment_of(None) == "(none)" and segment_of(" ") == "(none)"
    assert set(reference.category_shares) == set(CATS)
    assert reference.segment_shares["B"] == pytest.approx(0.4, abs=0.03)
    assert len(reference.price_edges) == 9 and reference.nominal_coverage == 0.8


def test_window_figures_by_hand(reference):
    f = pd.DataFrame({
        "outcome_id": ["a", "b", "c", "d"], "date": pd.to_datetime(["2023-03-01"] * 3 + ["2023-03-09"]),
        "sold_price": [100.0, 200.0, 50.0, 10.0], "units": 1,
        "category_path": ["A > a1", "B > b1", "Z > z", "A > a1"],
        "pred_price": [100.0, 100.0, 60.0, 10.0], "pred_low": [90.0, 150.0, 55.0, 5.0],
        "pred_high": [110.0, 250.0, 80.0, 20.0], "nominal_coverage": 0.8, "model_version": "v1"})
    rep = Monitor(reference, MonitorConfig(window="7D")).report(f)
    assert rep.n == 4 and rep.band == (70.0, 90.0) and [w.n for w in rep.windows] == [3, 1]
    w = rep.windows[0]
    err = np.log1p([100, 200, 50]) - np.log1p([100, 100, 60])
    assert w.rmsle == pytest.approx(np.sqrt(np.mean(err ** 2)), abs=1e-4)
    assert w.bias == pytest.approx(err.mean(), abs=1e-4)
    assert w.coverage == pytest.approx(200 / 3, abs=0.01)          # 50 is outside 55-80
    assert w.within_20 == pytest.approx(200 / 3, abs=0.01)         # 50 vs 60 is 20%: within
    assert w.unseen_share == pytest.approx(100 / 3, abs=0.01)      # "Z > z" never seen
    assert w.start == "2023-03-01" and w.end == "2023-03-07"
    assert rep.windows[1].start == "2023-03-08"  # windows anchored on the first day


def test_detectors_fire_on_the_drifts_and_not_before(reference):
    rep = Monitor(reference).report(stream())
    worse = [d for d in rep.detections if d.worse]
    assert not [d for d in worse if pd.Timestamp(d.at) < START + pd.Timedelta(days=30)]
    bias = [d for d in worse if d.stream == "bias" and d.segment == "B"]
    assert bias and bias[0].direction == "up"
    assert 0 <= (pd.Timestamp(bias[0].at) - START).days - 30 <= 7        # shift found in a week
    assert bias[0].after > bias[0].before + 0.1
    unseen = [d for d in worse if d.stream == "unseen"]
    assert unseen and 0 <= (pd.Timestamp(unseen[0].at) - START).days - 45 <= 3
    assert all(d.segment != "A" for d in bias)
    kinds = {a.kind for a in rep.alerts}
    assert {"detector_bias", "detector_unseen", "input_drift"} <= kinds
    drift = [a for a in rep.alerts if a.kind == "input_drift"]
    assert all(pd.Timestamp(a.at) >= START + pd.Timedelta(days=42) for a in drift)
    assert "unseen_share" in drift[0].message


def test_no_drift_no_alert(reference):
    rep = Monitor(reference).report(stream(shift=0.0, new_day=None))
    assert [a for a in rep.alerts if a.kind != "coverage_band"] == []
    assert all(70 <= w.coverage <= 90 for w in rep.windows)


def test_coverage_band_alert_and_stable_keys(reference):
    f = stream(shift=0.0, new_day=None)
    late = f["date"] >= START + pd.Timedelta(days=49)
    # intervals collapse in the last windows: coverage falls far below the band
    f.loc[late, "pred_low"] = f.loc[late, "pred_price"] * 0.99
    f.loc[late, "pred_high"] = f.loc[late, "pred_price"] * 1.01
    rep = Monitor(reference).report(f)
    band = [a for a in rep.alerts if a.kind == "coverage_band"]
    assert band and all(pd.Timestamp(a.at) >= START + pd.Timedelta(days=42) for a in band)
    assert "outside 70-90%" in band[0].message
    assert any(d.stream == "coverage" and d.worse and d.direction == "down"
               for d in rep.detections)
    again = Monitor(reference).report(f.sample(frac=1.0, random_state=3))  # other arrival order
    assert [a.key for a in again.alerts if a.kind == "coverage_band"] == [a.key for a in band]


def test_min_window_and_empty(reference):
    f = stream(n=200, days=60, shift=0.0, new_day=None)
    f["pred_low"] = f["pred_high"] = f["pred_price"]   # 0% coverage, but 14-32 a window
    rep = Monitor(reference, MonitorConfig(min_window=40)).report(f)
    assert max(w.n for w in rep.windows) < 40
    assert not [a for a in rep.alerts if a.kind == "coverage_band"]
    rep = Monitor(reference, MonitorConfig(min_window=10)).report(f)
    assert len([a for a in rep.alerts if a.kind == "coverage_band"]) == len(rep.windows)
    empty = Monitor(reference).report(f.iloc[:0])
    assert empty.n == 0 and empty.windows == [] and empty.overall is None
    assert Monitor(reference).report(f).to_dict()["n"] == 200
