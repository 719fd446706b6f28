"""The optional MiniLM cross-encoder: a few training steps, symmetric scores, save/load."""
from __future__ import annotations

import numpy as np
import pytest

from models.cross_encoder import CrossEncoder

LEFT = ["boat bassheads 242 earphones red", "baggit wallet large black",
        "sony mdr-zx110a headphones white", "parker vector ball pen blue"] * 2
RIGHT = ["boAt Bassheads 242 in Ear Wired Earphones with Mic(Red)",
         "Baggit Women's Wallet - Large (Purple)", "Sony MDR-ZX110A On Ear Headphones (White)",
         "Parker Vector Standard Chrome Trim Ball Pen (Ink - Black)"] * 2
Y = [1, 0, 1, 0] * 2


def test_fit_predict_save_load(tmp_path):
    ce = CrossEncoder(max_length=48, batch_size=8).fit(LEFT, RIGHT, Y, epochs=2, lr=1e-4)
    assert ce.fitted_["steps"] == 2 and ce.fitted_["pairs"] == 8
    a = ce.predict(LEFT[:4], RIGHT[:4])
    assert a.shape == (4,) and np.isfinite(a).all()
    np.testing.assert_allclose(a, ce.predict(RIGHT[:4], LEFT[:4]), atol=1e-5)  # symmetric
    ce.save(tmp_path / "ce")
    again = CrossEncoder.load(tmp_path / "ce")
    np.testing.assert_allclose(again.predict(LEFT[:4], RIGHT[:4]), a, atol=1e-5)
    assert again.fitted_ == ce.fitted_ and ce.predict([], []).shape == (0,)


def test_bad_input(tmp_path):
    ce = CrossEncoder(max_length=32)
    with pytest.raises(ValueError, match="both classes"):
        ce.fit(["a", "b"], ["a", "b"], [1, 1])
    with pytest.raises(ValueError, match="labels"):
        ce.fit(["a"], ["a", "b"], [1])
    with pytest.raises(ValueError, match="right"):
        ce.predict(["a"], [])
    with pytest.raises(FileNotFoundError, match="CrossEncoder"):
        CrossEncoder.load(tmp_path)
