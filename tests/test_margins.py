"""assistant.margins: one definition each for margin and markup."""
from __future__ import annotations

import math

import pytest

from assistant.margins import break_even_units, margin, markup, price_for_margin, price_for_markup


def test_definitions_and_inverses():
    assert margin(1499, 900) == pytest.approx(599 / 1499)
    assert markup(1499, 900) == pytest.approx(599 / 900)
    assert price_for_margin(900, margin(1499, 900)) == pytest.approx(1499)
    assert price_for_markup(900, markup(1499, 900)) == pytest.approx(1499)
    assert price_for_margin(2000, 0.25) == pytest.approx(2666.6667, rel=1e-6)   # not 2,500
    assert price_for_markup(2000, 0.25) == pytest.approx(2500)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="below 100%"):
        price_for_margin(100, 1.0)
    with pytest.raises(ValueError, match="price"):
        margin(0, 10)
    with pytest.raises(ValueError, match="cost"):
        markup(10, 0)
    assert math.isinf(break_even_units(90, 100, 1000)) and break_even_units(150, 100, 1000) == 20
