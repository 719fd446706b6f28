"""Pair features: model numbers, quantities, colours and the conflicts they signal."""
from __future__ import annotations

import math

import numpy as np
import pytest

from models.match_features import (
    FEATURES,
    Listing,
    PairFeaturizer,
    colours,
    model_codes,
    quantities,
    words,
)


def feats(a: Listing, b: Listing, corpus: list[str] | None = None) -> dict[str, float]:
    fz = PairFeaturizer().fit(corpus or [a.text(), b.text()])
    return dict(zip(FEATURES, fz.transform([a], [b])[0]))


def test_model_codes_keep_codes_not_quantities():
    assert model_codes("centon datastick dsw16gb-001 16gb usb 2.0") == {"dsw16gb001"}
    assert model_codes("adapter (tl-wn725n) for windows 11/10/8.1") == {"tlwn725n"}
    codes = model_codes("samsung ln52a650 52 ' 1080p lcd hdtv 120hz")
    assert "ln52a650" in codes
    assert not {"1080p", "120hz", "52"} & codes
    assert "633808390006" in model_codes("633808390006 wasp mobileasset")


def test_quantities_normalise_units():
    q = quantities("1.5 metres? no: 1.5m cable, pack of 2, 16 GB, 52 inch")
    assert ("m", "1.5") in q and ("pack", "2") in q and ("in", "52") in q
    assert ("gb", "16") in quantities("16gb pendrive")


def test_colours():
    assert colours(words("boat bassheads 242 with mic(red)")) == {"red"}
    assert colours(["gray"]) == {"grey"}


def test_colour_variant_conflicts_same_product_does_not():
    red = Listing("boAt Bassheads 242 in Ear Wired Earphones with Mic(Red)", price=599)
    blue = Listing("boAt Bassheads 242 in Ear Wired Earphones with Mic(Blue)", price=599)
    same = Listing("Bassheads 242 Wired Earphones w/ Mic, Red", brand="boAt", price=549)
    f = feats(same, blue)
    assert f["colour_conflict"] == 1.0 and f["colour_shared"] == 0.0
    g = feats(same, red)
    assert g["colour_conflict"] == 0.0 and g["colour_shared"] == 1.0
    assert g["brand_in_other"] == 1.0
    assert g["price_log_ratio"] == pytest.approx(abs(math.log(549 / 599)), rel=1e-5)


def test_model_number_conflict_and_size_conflict():
    a = Listing("centon datastick sport 16 gb usb flash drive", model_number="dsw16gb-001")
    b = Listing("Centon DataStick Sport 16GB flash drive DSW16GB-003")
    c = Listing("Centon DataStick Sport 32GB flash drive DSW16GB-001")
    ab, ac = feats(a, b), feats(a, c)
    assert ab["code_conflict"] == 1.0 and ab["code_shared"] == 0.0
    assert ac["code_shared"] == 1.0 and ac["qty_conflict"] == 1.0
    assert ab["code_best_sim"] > 0.8


def test_unknowns_are_nan_not_zero():
    f = feats(Listing("usb cable"), Listing("usb cable", price=10))
    assert np.isnan(f["price_log_ratio"]) and f["price_known"] == 0.0
    # different currencies are not compared
    f = feats(Listing("x", price=10, currency="USD"), Listing("x", price=800, currency="INR"))
    assert np.isnan(f["price_log_ratio"])


def test_featurizer_round_trip_and_errors():
    fz = PairFeaturizer().fit(["a b c", "a d"])
    again = PairFeaturizer.from_dict(fz.to_dict())
    a, b = [Listing("a b rare")], [Listing("a b")]
    np.testing.assert_array_equal(fz.transform(a, b), again.transform(a, b))
    with pytest.raises(ValueError, match="left listings"):
        fz.transform(a, b + b)


def test_listing_from_mapping_cleans_values():
    x = Listing.from_mapping({"title": " Mouse ", "price": "-3", "brand": float("nan")})
    assert x.title == "Mouse" and x.price is None and x.brand is None
    assert Listing.from_mapping({"title": "t", "price": "12.5"}).price == 12.5
    assert Listing("Logitech M235 mouse", brand="Logitech").text() == "Logitech M235 mouse"
    assert Listing("M235 mouse", brand="Logitech").text() == "M235 mouse Logitech"


def test_variant_platform_and_version_conflicts():
    a = Listing("microsoft office 2007 home and student for windows")
    b = Listing("microsoft office 2007 professional for mac")
    c = Listing("microsoft office home & student 2010 for pc")
    ab, ac = feats(a, b), feats(a, c)
    assert ab["variant_diff"] == 3 and ab["platform_conflict"] == 1.0
    assert ab["version_conflict"] == 0.0
    assert ac["variant_diff"] == 0 and ac["platform_conflict"] == 0.0
    assert ac["version_conflict"] == 1.0
