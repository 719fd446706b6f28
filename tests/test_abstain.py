"""models.abstain: the model's own abstain threshold on relative interval width."""
from __future__ import annotations

import numpy as np
import pytest

from models.abstain import WidthThreshold, relative_widths


def test_relative_widths_are_a_share_of_the_median_price():
    w = relative_widths([100.0, 50.0], [80.0, 10.0], [130.0, 110.0])
    assert w.tolist() == pytest.approx([0.5, 2.0])
    with pytest.raises(ValueError, match="shapes"):
        relative_widths([1.0, 2.0], [0.5], [3.0, 4.0])


def test_threshold_is_the_calibration_quantile_and_flags_the_widest_share():
    rng = np.random.default_rng(0)
    p50 = rng.uniform(10, 1000, 2000)
    width = rng.uniform(1.6, 4.0, 2000)          # a weak model: every width above 1.5
    low, high = p50 * 0.3, p50 * 0.3 + width * p50
    t = WidthThreshold(quantile=0.8, floor=1.5).fit(p50, low, high)
    assert t.threshold_ == pytest.approx(np.quantile(width, 0.8), rel=1e-9)
    assert t.abstain_share_ == pytest.approx(0.2, abs=0.01)
    # the fixed rule would have abstained on every one of these products
    assert (relative_widths(p50, low, high) > 1.5).all()


def test_floor_keeps_a_strong_model_from_abstaining_on_narrow_intervals():
    p50 = np.full(100, 100.0)
    t = WidthThreshold(quantile=0.8, floor=1.5).fit(p50, p50 * 0.8, p50 * 1.2)
    assert t.quantile_width_ == pytest.approx(0.4) and t.threshold_ == 1.5
    assert t.abstain_share_ == 0.0


def test_round_trip_and_errors():
    t = WidthThreshold(0.9, 1.0).fit([10.0, 20.0, 30.0], [1.0, 2.0, 3.0], [40.0, 60.0, 90.0])
    d = t.to_dict()
    assert d["source"] == "calibration slice" and d["n"] == 3
    back = WidthThreshold.from_dict(d)
    assert back.threshold_ == t.threshold_ and back.quantile == 0.9 and back.floor == 1.0
    with pytest.raises(ValueError, match="quantile"):
        WidthThreshold(quantile=0.0).fit([1.0], [0.5], [2.0])
    with pytest.raises(ValueError, match="empty"):
        WidthThreshold().fit([], [], [])
    with pytest.raises(ValueError, match="not fitted"):
        WidthThreshold().to_dict()
