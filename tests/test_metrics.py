"""Tests for models.metrics: hand-computed values and rejected input."""
from __future__ import annotations

import math

import numpy as np
import pytest

from models.metrics import price_metrics

TRUE = [100.0, 200.0, 50.0]
PRED = [110.0, 150.0, 50.0]  # errors +10%, -25%, 0%


def test_point_metrics_match_hand_computation():
    m = price_metrics(TRUE, PRED)
    rmsle = math.sqrt((math.log(111 / 101) ** 2 + math.log(151 / 201) ** 2 + 0.0) / 3)
    assert m["n"] == 3
    assert m["rmsle"] == pytest.approx(rmsle)
    assert m["mae"] == pytest.approx((10 + 50 + 0) / 3)
    assert m["mdape"] == pytest.approx(10.0)
    assert m["within_20"] == pytest.approx(200 / 3)
    assert m["coverage"] is None and m["width"] is None


def test_interval_metrics_match_hand_computation():
    m = price_metrics(TRUE, PRED, low=[90, 160, 40], high=[120, 190, 60])
    assert m["coverage"] == pytest.approx(200 / 3)  # 200 lies above [160, 190]
    assert m["width"] == pytest.approx((30 / 110 + 30 / 150 + 20 / 50) / 3)


def test_boundaries_count_as_inside():
    m = price_metrics([100.0, 100.0], [120.0, 80.0], low=[100, 50], high=[150, 100])
    assert m["within_20"] == 100.0  # exactly ±20% is within 20%
    assert m["coverage"] == 100.0


def test_perfect_predictions():
    y = np.array([5.0, 1000.0, 12.5])
    m = price_metrics(y, y, y, y)
    assert m["rmsle"] == 0.0 and m["mae"] == 0.0 and m["mdape"] == 0.0
    assert m["within_20"] == 100.0 and m["coverage"] == 100.0 and m["width"] == 0.0


@pytest.mark.parametrize("kwargs, message", [
    ({"y_true": [1, 2], "y_pred": [1]}, "y_true has 2 values but y_pred has 1"),
    ({"y_true": [1, -2], "y_pred": [1, 1]}, r"y_true\[1\] = -2"),
    ({"y_true": [1, 0], "y_pred": [1, 1]}, "must be positive"),
    ({"y_true": [1, 2], "y_pred": [1, -1]}, r"y_pred\[1\] = -1.*non-negative"),
    ({"y_true": [1, 2], "y_pred": [np.nan, 1]}, r"y_pred\[0\] is nan"),
    ({"y_true": [], "y_pred": []}, "empty"),
    ({"y_true": [[1, 2]], "y_pred": [[1, 2]]}, "1-d"),
    ({"y_true": ["a"], "y_pred": [1]}, "y_true: not numeric"),
    ({"y_true": [1], "y_pred": [1], "low": [0]}, "both low and high"),
    ({"y_true": [1, 2], "y_pred": [1, 2], "low": [0, 3], "high": [2, 2.5]},
     r"low\[1\] = 3.0 > high\[1\] = 2.5"),
    ({"y_true": [1, 2], "y_pred": [1, 2], "low": [0], "high": [2]}, "low has 1 values"),
    ({"y_true": [1], "y_pred": [0], "low": [0], "high": [2]}, "relative interval width"),
])
def test_bad_input_is_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        price_metrics(**kwargs)
