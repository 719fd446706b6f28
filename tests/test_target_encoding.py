"""models.target_encoding: shrunk group means, unseen keys, JSON round trip."""
import numpy as np
import pandas as pd
import pytest

from models.target_encoding import KEYS, KeyTargetEncoder, keys_of


def _frame(n=400, seed=0):
    rng = np.random.default_rng(seed)
    cat = rng.choice(["Toys > Puzzles", "Home > Kettles"], n)
    brand = rng.choice(["Acme", "Zeta", None], n)
    y = np.where(cat == "Home > Kettles", 7.0, 3.0) + rng.normal(0, 0.1, n)
    f = pd.DataFrame({"title": [f"{b or 'x'} thing {i}" for i, b in enumerate(brand)],
                      "category_path": cat, "brand": brand, "currency": "INR"})
    return f, y


def test_encodings_follow_group_means_and_unseen_keys_get_the_global_mean():
    f, y = _frame()
    te = KeyTargetEncoder().fit(f, y)
    out = te.transform(pd.DataFrame({"title": ["a b", "c d", "e f"],
                                     "category_path": ["Home > Kettles", "Toys > Puzzles",
                                                       "Garden > Hoses"],
                                     "brand": [None, None, None], "currency": "INR"}))
    assert list(out.columns) == list(KEYS)
    assert out["te_cat"].iloc[0] == pytest.approx(7.0, abs=0.1)
    assert out["te_cat"].iloc[1] == pytest.approx(3.0, abs=0.1)
    assert out["te_cat"].iloc[2] == pytest.approx(float(y.mean()))


def test_currency_is_part_of_every_key():
    k = keys_of(pd.DataFrame({"title": ["Lego set"], "category_path": ["Toys"],
                              "brand": ["LEGO"], "currency": ["GBP"]}))
    assert all(str(v).startswith("gbp|") for v in k[0])
    f, y = _frame()
    te = KeyTargetEncoder().fit(f, y)
    gbp = f.head(3).assign(currency="GBP")
    assert np.allclose(te.transform(gbp)["te_cat"], te.mean_)   # no GBP prices learned


def test_round_trip_and_errors():
    f, y = _frame()
    te = KeyTargetEncoder().fit(f, y)
    back = KeyTargetEncoder.from_dict(te.to_dict())
    pd.testing.assert_frame_equal(te.transform(f), back.transform(f))
    with pytest.raises(ValueError, match="not fitted"):
        KeyTargetEncoder().transform(f)
    with pytest.raises(ValueError):
        KeyTargetEncoder().fit(f, y[:3])
