"""Price-prediction metrics, one function for every method in the side-by-side evaluation.

Use::

    from models.metrics import price_metrics
    m = price_metrics(y_true, y_pred)                  # rmsle, mae, mdape, within_20, n
    m = price_metrics(y_true, y_pred, low, high)       # + coverage, width

Definitions (prices in the data set's currency):

- ``rmsle``: root mean squared error of ``log1p`` prices (the training target of every model
  here, so it weighs a 10% miss on a cheap item like one on an expensive item).
- ``mae``: mean absolute error, in currency units.
- ``mdape``: median absolute percentage error ``|pred - true| / true``, in %.
- ``within_20``: share of predictions within ±20% of the real price, in %.
- ``coverage``: share of real prices inside ``[low, high]``, in % (needs intervals).
- ``width``: mean relative interval width ``(high - low) / pred`` (a ratio, not %).

Real prices must be positive (percentage errors are undefined at 0); predictions and bounds
must be finite and non-negative. Bad input raises ``ValueError`` naming the argument and the
first offending position — nothing is dropped.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import mean_absolute_error, root_mean_squared_log_error

ArrayLike = Sequence[float] | np.ndarray

METRIC_NAMES: tuple[str, ...] = ("rmsle", "mae", "mdape", "within_20", "coverage", "width")


def _as_prices(values: ArrayLike, name: str, *, positive: bool = False) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: not numeric ({exc})") from None
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-d sequence of prices, got shape {arr.shape}")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise ValueError(f"{name}[{bad[0]}] is {arr[bad[0]]}: prices must be finite "
                         f"({bad.size} such values)")
    bad = np.flatnonzero(arr <= 0) if positive else np.flatnonzero(arr < 0)
    if bad.size:
        rule = "positive" if positive else "non-negative"
        raise ValueError(f"{name}[{bad[0]}] = {arr[bad[0]]}: prices must be {rule} "
                         f"({bad.size} such values)")
    return arr


def price_metrics(y_true: ArrayLike, y_pred: ArrayLike,
                  low: ArrayLike | None = None, high: ArrayLike | None = None) -> dict[str, float]:
    """Accuracy (and interval quality when ``low``/``high`` are given) of price predictions.

    Returns a dict with ``n``, ``rmsle``, ``mae``, ``mdape``, ``within_20`` and, with
    intervals, ``coverage`` and ``width``; without intervals those two are ``None``.
    """
    true = _as_prices(y_true, "y_true", positive=True)
    pred = _as_prices(y_pred, "y_pred")
    if len(true) != len(pred):
        raise ValueError(f"y_true has {len(true)} values but y_pred has {len(pred)}")
    if len(true) == 0:
        raise ValueError("y_true is empty: nothing to evaluate")
    if (low is None) != (high is None):
        raise ValueError("give both low and high, or neither")

    rel_err = np.abs(pred - true) / true
    out: dict[str, float | None] = {
        "n": int(len(true)),
        "rmsle": float(root_mean_squared_log_error(true, pred)),
        "mae": float(mean_absolute_error(true, pred)),
        "mdape": float(np.median(rel_err) * 100.0),
        # a small tolerance so a prediction of exactly ±20% counts despite float rounding
        "within_20": float(np.mean(rel_err <= 0.2 + 1e-12) * 100.0),
        "coverage": None,
        "width": None,
    }
    if low is not None:
        lo = _as_prices(low, "low")
        hi = _as_prices(high, "high")
        for name, arr in (("low", lo), ("high", hi)):
            if len(arr) != len(true):
                raise ValueError(f"{name} has {len(arr)} values but y_true has {len(true)}")
        bad = np.flatnonzero(lo > hi)
        if bad.size:
            raise ValueError(f"low[{bad[0]}] = {lo[bad[0]]} > high[{bad[0]}] = {hi[bad[0]]}")
        bad = np.flatnonzero(pred == 0)
        if bad.size:
            raise ValueError(f"y_pred[{bad[0]}] = 0: relative interval width is undefined")
        out["coverage"] = float(np.mean((true >= lo) & (true <= hi)) * 100.0)
        out["width"] = float(np.mean((hi - lo) / pred))
    return out
