"""The fixed train/validation/calibration/test split every method is evaluated on.

Use::

    from models.split import make_split
    split = make_split(products["product_id"])        # seed 0: 60/10/10/20
    train_ids, test_ids = split.train, split.test

Recipe (documented so any run, any order of rows, gets the same split):

1. The ids are converted to ``str`` and sorted, so the split does not depend on row order.
2. They are shuffled once with ``numpy.random.default_rng(seed).permutation``.
3. The first ``round(n * test_frac)`` shuffled ids are the **test** set (20%: the classic
   random 80/20 split with seed 0).
4. From the remaining 80%, the next ``round(n * val_frac)`` ids are **validation** (early
   stopping, model selection) and the next ``round(n * calib_frac)`` **calibration**
   (split-conformal intervals); the fractions are of the whole set. The rest is **train**.

With the defaults that is 60% train, 10% val, 10% calib, 20% test. Methods without early
stopping (the baselines) fit on ``train + val`` (:meth:`Split.fit_ids`), so every method sees
the same 70% of labels for fitting, the same 10% for calibration and the same 20% for testing.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Split:
    """Disjoint id lists; each list is in sorted order."""

    train: list[str]
    val: list[str]
    calib: list[str]
    test: list[str]

    def fit_ids(self) -> list[str]:
        """Ids a method without early stopping fits on: train and validation."""
        return sorted(self.train + self.val)

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val),
                "calib": len(self.calib), "test": len(self.test)}

    def to_dict(self) -> dict[str, list[str]]:
        return {"train": self.train, "val": self.val, "calib": self.calib, "test": self.test}


def make_split(ids: Iterable[object], seed: int = 0, test_frac: float = 0.2,
               val_frac: float = 0.1, calib_frac: float = 0.1) -> Split:
    """Split ``ids`` into train/val/calib/test by the recipe in the module docstring.

    Raises ``ValueError`` for duplicate or missing ids and for fractions outside [0, 1) or
    summing to 1 or more (train would be empty).
    """
    for name, frac in (("test_frac", test_frac), ("val_frac", val_frac),
                       ("calib_frac", calib_frac)):
        if not 0.0 <= frac < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {frac}")
    if test_frac + val_frac + calib_frac >= 1.0:
        raise ValueError(f"test_frac + val_frac + calib_frac = "
                         f"{test_frac + val_frac + calib_frac:.3f} leaves no training ids")

    keys: list[str] = []
    for i, raw in enumerate(ids):
        if raw is None or (isinstance(raw, float) and np.isnan(raw)) or str(raw) == "":
            raise ValueError(f"ids[{i}] is empty: every product needs an id to be split")
        keys.append(str(raw))
    ordered = sorted(keys)
    dupes = [a for a, b in zip(ordered, ordered[1:]) if a == b]
    if dupes:
        raise ValueError(f"duplicate id {dupes[0]!r} ({len(set(dupes))} duplicated ids): "
                         "a product may sit in one split only")

    n = len(ordered)
    shuffled = [ordered[i] for i in np.random.default_rng(seed).permutation(n)]
    n_test, n_val, n_calib = (int(round(n * f)) for f in (test_frac, val_frac, calib_frac))
    a, b, c = n_test, n_test + n_val, n_test + n_val + n_calib
    return Split(train=sorted(shuffled[c:]), val=sorted(shuffled[a:b]),
                 calib=sorted(shuffled[b:c]), test=sorted(shuffled[:a]))
