"""The trained pair scorer: thresholds, explanations, save/load, bad input."""
from __future__ import annotations

import numpy as np
import pytest

from models.match_features import Listing
from models.matcher import (
    PairMatcher,
    best_f1_threshold,
    precision_threshold,
    recall_threshold,
)
from tests.match_fixtures import BLUE, RED, matcher_dir


def test_threshold_helpers():
    y = np.array([1, 1, 1, 0, 1, 0, 0, 0])
    p = np.array([.9, .8, .7, .6, .5, .4, .3, .2])
    t, f1 = best_f1_threshold(y, p)
    assert t == pytest.approx(.5) and f1 == pytest.approx(2 * 4 / (5 + 4))
    assert precision_threshold(y, p, 1.0, min_hits=1) == pytest.approx(.7)
    assert precision_threshold(y, p, 1.0, min_hits=5) == 1.0    # too few links to trust
    assert recall_threshold(y, p, 0.75) == pytest.approx(.7)
    assert recall_threshold(y, p, 1.0) == pytest.approx(.5)


@pytest.fixture(scope="module")
def matcher() -> PairMatcher:
    return PairMatcher.load(matcher_dir())


def test_trained_matcher_ranks_the_right_variant_first(matcher):
    listing = Listing("Bassheads 242 Wired in-Ear Earphones w/ Mic, Red", brand="boAt",
                      price=549, currency="INR")
    red = Listing("boAt Bassheads 242 in Ear Wired Earphones with Mic(Red)", brand="boAt",
                  price=599, currency="INR")
    blue = Listing("boAt Bassheads 242 in Ear Wired Earphones with Mic(Blue)", brand="boAt",
                   price=599, currency="INR")
    other = Listing("Sony MDR-ZX110A Wired On Ear Headphones without Mic (White)", price=699,
                    currency="INR")
    p = matcher.predict_proba([listing] * 3, [red, blue, other])
    assert p[0] > p[1] > p[2]
    assert p[0] >= matcher.threshold_ and p[2] < matcher.review_threshold_
    X = matcher.features([listing], [blue])
    why = matcher.explain(X, top=3)[0]
    assert len(why) == 3 and set(why) <= set(matcher.feature_names)
    assert "colour_conflict" in matcher.explain(X, top=8)[0]
    assert why[next(iter(why))] != 0


def test_thresholds_are_ordered(matcher):
    assert 0.05 <= matcher.review_threshold_ <= matcher.threshold_ <= matcher.auto_threshold_ <= 1
    assert matcher.summary_["valid_pairs"] > 0


def test_save_load_scores_identically(matcher, tmp_path):
    a = [Listing("Wallet for men, brown leather", price=499.0)] * 2
    b = [Listing("Baggit Women's Wallet - Large (Black)", price=792.0),
         Listing("Urban Forest Leather Wallet for Men (Brown)", price=449.0)]
    matcher.save(tmp_path / "m")
    again = PairMatcher.load(tmp_path / "m")
    np.testing.assert_allclose(again.predict_proba(a, b), matcher.predict_proba(a, b))
    assert again.threshold_ == matcher.threshold_


def test_bad_input(tmp_path, matcher):
    with pytest.raises(FileNotFoundError, match="pricing matches train"):
        PairMatcher.load(tmp_path)
    (tmp_path / "matcher.json").write_text('{"format": "other"}')
    with pytest.raises(ValueError, match="pricing-matcher"):
        PairMatcher.load(tmp_path)
    with pytest.raises(ValueError, match="both classes"):
        PairMatcher().fit([Listing("a")] * 12, [Listing("a")] * 12, [1] * 12)
    with pytest.raises(ValueError, match="labels"):
        PairMatcher().fit([Listing("a")], [Listing("a")] * 2, [1])
    with pytest.raises(RuntimeError, match="not fitted"):
        PairMatcher().predict_proba([Listing("a")], [Listing("b")])
    assert RED != BLUE
