"""Split-conformal calibration of quantile intervals (CQR), independent of any model library.

Use::

    from models.conformal import ConformalCalibrator
    cal = ConformalCalibrator(coverage=0.8).fit(y_cal, low_cal, high_cal)   # calibration slice
    low, high = cal.apply(low_test, high_test)      # covers ~80% of new products
    cal.to_dict(); ConformalCalibrator.from_dict(d)

Conformalized quantile regression (Romano, Patterson & Candès 2019): a model's raw
quantile band ``[low, high]`` is scored on held-out calibration rows by
``s = max(low - y, y - high)`` (negative inside the band) and widened (or narrowed) by the
``ceil((n + 1) * coverage) / n`` empirical quantile of those scores. If calibration and test
rows are exchangeable, the band then covers at least ``coverage`` of test rows, and at most
``coverage + 1 / (n + 1)``. Work in the space the model predicts (log price here), so the
adjustment is a multiplicative factor on prices.
"""
from __future__ import annotations

import math

import numpy as np


def _vec(x: object, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 1:
        raise ValueError(f"{name}: expected a 1-d array, got shape {a.shape}")
    bad = np.flatnonzero(~np.isfinite(a))
    if bad.size:
        raise ValueError(f"{name}[{bad[0]}] is {a[bad[0]]}: values must be finite")
    return a


def conformity_scores(y: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """CQR scores: how far ``y`` lies outside ``[low, high]`` (negative: inside)."""
    return np.maximum(low - y, y - high)


def conformal_quantile(scores: np.ndarray, coverage: float) -> float:
    """The finite-sample-corrected ``coverage`` quantile of calibration scores."""
    n = len(scores)
    k = math.ceil((n + 1) * coverage)
    if k > n:
        # Too few calibration rows for this coverage: no finite band guarantees it.
        return math.inf
    return float(np.sort(scores)[k - 1])


class ConformalCalibrator:
    """Learns one additive correction for a (low, high) band from a calibration slice.

    Parameters
    ----------
    coverage: nominal share of true values the calibrated band should contain.
    """

    def __init__(self, coverage: float = 0.8) -> None:
        self.coverage = coverage

    def fit(self, y: object, low: object, high: object) -> ConformalCalibrator:
        if not 0.0 < self.coverage < 1.0:
            raise ValueError(f"coverage must be in (0, 1), got {self.coverage}")
        y, low, high = _vec(y, "y"), _vec(low, "low"), _vec(high, "high")
        if not len(y) == len(low) == len(high):
            raise ValueError(f"y, low, high have lengths {len(y)}, {len(low)}, {len(high)}")
        if len(y) == 0:
            raise ValueError("calibration slice is empty")
        scores = conformity_scores(y, low, high)
        self.q_ = conformal_quantile(scores, self.coverage)
        if not math.isfinite(self.q_):
            raise ValueError(f"{len(y)} calibration rows are too few for coverage "
                             f"{self.coverage}: need at least {math.ceil(1 / (1 - self.coverage)) - 1}")
        self.n_ = int(len(y))
        self.raw_coverage_ = float(np.mean((y >= low) & (y <= high)))
        return self

    def apply(self, low: object, high: object) -> tuple[np.ndarray, np.ndarray]:
        """The calibrated band; never inverted (a negative correction stops at the midpoint)."""
        if not hasattr(self, "q_"):
            raise ValueError("ConformalCalibrator is not fitted: call fit(y, low, high)")
        low, high = _vec(low, "low"), _vec(high, "high")
        lo, hi = low - self.q_, high + self.q_
        mid = (low + high) / 2.0
        return np.minimum(lo, mid), np.maximum(hi, mid)

    def to_dict(self) -> dict:
        return {"coverage": self.coverage, "q": self.q_, "n": self.n_,
                "raw_coverage": self.raw_coverage_}

    @classmethod
    def from_dict(cls, d: dict) -> ConformalCalibrator:
        cal = cls(coverage=float(d["coverage"]))
        cal.q_ = float(d["q"])
        cal.n_ = int(d["n"])
        cal.raw_coverage_ = float(d.get("raw_coverage", float("nan")))
        return cal
