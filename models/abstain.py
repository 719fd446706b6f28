"""The model's own abstain threshold: how wide an interval is unusually wide for THIS model.

Use::

    from models.abstain import WidthThreshold
    t = WidthThreshold(quantile=0.8).fit(p50_cal, low_cal, high_cal)   # calibration slice
    t.threshold_                         # abstain when (high - low) / p50 exceeds this
    t.to_dict(); WidthThreshold.from_dict(d)

Why: a fixed threshold on the interval's relative width (the old 1.5) is a verdict on the
model, not on the product: a weak model's calibrated 80% intervals are all wider than it, so
every suggestion abstained, and a strong model's never are. The threshold here is the
``quantile`` of the relative widths of the model's calibrated intervals on its held-out
calibration slice (prices, not logs), so a suggestion abstains when its interval is wider than
(1 - quantile) of held-out products' intervals, i.e. the model is less sure of it than usual.
It never goes below ``floor`` (the old fixed rule): a width that rule accepted is never called
too wide. The intervals themselves (and their coverage) are unchanged.
"""
from __future__ import annotations

import numpy as np


def relative_widths(p50: object, low: object, high: object) -> np.ndarray:
    """(high - low) / p50 per row, in price space (p50 floored at 1e-9)."""
    p = np.asarray(p50, dtype=np.float64)
    lo = np.asarray(low, dtype=np.float64)
    hi = np.asarray(high, dtype=np.float64)
    if not p.shape == lo.shape == hi.shape or p.ndim != 1:
        raise ValueError(f"p50, low, high must be 1-d of one length, got shapes "
                         f"{p.shape}, {lo.shape}, {hi.shape}")
    return (hi - lo) / np.maximum(p, 1e-9)


class WidthThreshold:
    """Learns the abstain threshold on relative interval width from a calibration slice.

    Parameters
    ----------
    quantile: share of held-out products whose interval may be as wide without abstaining.
    floor: the threshold never goes below this (the fixed rule of models without one).
    """

    def __init__(self, quantile: float = 0.8, floor: float = 1.5) -> None:
        self.quantile = quantile
        self.floor = floor

    def fit(self, p50: object, low: object, high: object) -> WidthThreshold:
        if not 0.0 < self.quantile <= 1.0:
            raise ValueError(f"quantile must be in (0, 1], got {self.quantile}")
        if not self.floor > 0:
            raise ValueError(f"floor must be above 0, got {self.floor}")
        w = relative_widths(p50, low, high)
        w = w[np.isfinite(w)]
        if len(w) == 0:
            raise ValueError("calibration slice is empty: no widths to take a quantile of")
        self.quantile_width_ = float(np.quantile(w, self.quantile))
        self.threshold_ = max(self.quantile_width_, float(self.floor))
        self.n_ = int(len(w))
        self.median_width_ = float(np.median(w))
        # Share of the calibration slice the threshold flags (at most 1 - quantile).
        self.abstain_share_ = float(np.mean(w > self.threshold_))
        return self

    def to_dict(self) -> dict:
        if not hasattr(self, "threshold_"):
            raise ValueError("WidthThreshold is not fitted: call fit(p50, low, high)")
        return {"max_relative_width": self.threshold_, "quantile": self.quantile,
                "quantile_width": self.quantile_width_, "floor": self.floor, "n": self.n_,
                "median_width": self.median_width_, "abstain_share": self.abstain_share_,
                "source": "calibration slice"}

    @classmethod
    def from_dict(cls, d: dict) -> WidthThreshold:
        t = cls(quantile=float(d["quantile"]), floor=float(d["floor"]))
        t.threshold_ = float(d["max_relative_width"])
        t.quantile_width_ = float(d["quantile_width"])
        t.n_ = int(d["n"])
        t.median_width_ = float(d.get("median_width", float("nan")))
        t.abstain_share_ = float(d.get("abstain_share", float("nan")))
        return t
