"""Split-conformal (CQR) calibration on synthetic data with a known distribution."""
from __future__ import annotations

import numpy as np
import pytest

from models.conformal import ConformalCalibrator, conformal_quantile, conformity_scores


def _band(n: int, rng: np.random.Generator, scale: float):
    """y ~ N(mu, 1) with a deliberately too narrow (scale < 1.28) or too wide raw band."""
    mu = rng.uniform(0, 10, n)
    y = mu + rng.standard_normal(n)
    return y, mu - scale, mu + scale


@pytest.mark.parametrize("scale", [0.3, 1.28, 3.0])
def test_coverage_hits_nominal_on_known_distribution(scale):
    rng = np.random.default_rng(0)
    y_cal, lo_cal, hi_cal = _band(5000, rng, scale)
    y_te, lo_te, hi_te = _band(20000, rng, scale)
    cal = ConformalCalibrator(coverage=0.8).fit(y_cal, lo_cal, hi_cal)
    lo, hi = cal.apply(lo_te, hi_te)
    cov = np.mean((y_te >= lo) & (y_te <= hi))
    assert 0.78 <= cov <= 0.82
    # the calibrated half-width approaches the true 80% half-width of N(0, 1): 1.2816
    assert abs((hi - lo).mean() / 2 - 1.2816) < 0.06


def test_finite_sample_guarantee_over_many_small_calibrations():
    rng = np.random.default_rng(1)
    covs = []
    for _ in range(300):
        y_cal, lo_cal, hi_cal = _band(50, rng, 0.5)
        y_te, lo_te, hi_te = _band(200, rng, 0.5)
        lo, hi = ConformalCalibrator(0.8).fit(y_cal, lo_cal, hi_cal).apply(lo_te, hi_te)
        covs.append(np.mean((y_te >= lo) & (y_te <= hi)))
    # E[coverage] lies in [0.8, 0.8 + 1/(n+1)] for exchangeable data
    assert 0.795 <= np.mean(covs) <= 0.8 + 1 / 51 + 0.005


def test_scores_and_quantile():
    y = np.array([0.0, 1.0, 5.0])
    s = conformity_scores(y, np.array([1.0, 0.0, 0.0]), np.array([2.0, 2.0, 2.0]))
    assert s.tolist() == [1.0, -1.0, 3.0]
    assert conformal_quantile(np.arange(10.0), 0.8) == 8.0   # ceil(11 * 0.8) = 9th smallest
    assert conformal_quantile(np.arange(3.0), 0.8) == np.inf


def test_negative_correction_never_inverts_band():
    lo, hi = ConformalCalibrator(0.5).fit([0.0] * 9, [-10.0] * 9, [10.0] * 9).apply([0.0], [1.0])
    assert lo[0] <= hi[0]


def test_round_trip_and_errors():
    rng = np.random.default_rng(2)
    cal = ConformalCalibrator(0.8).fit(*_band(100, rng, 1.0))
    back = ConformalCalibrator.from_dict(cal.to_dict())
    assert back.apply([1.0], [2.0]) == cal.apply([1.0], [2.0])
    with pytest.raises(ValueError, match="too few"):
        ConformalCalibrator(0.8).fit([1.0, 2.0], [0.0, 0.0], [3.0, 3.0])
    with pytest.raises(ValueError, match=r"y\[1\]"):
        ConformalCalibrator(0.8).fit([1.0, np.nan], [0.0, 0.0], [3.0, 3.0])
    with pytest.raises(ValueError, match="not fitted"):
        ConformalCalibrator().apply([0.0], [1.0])
    with pytest.raises(ValueError, match="coverage"):
        ConformalCalibrator(1.5).fit([1.0], [0.0], [2.0])
