"""Tests for models.split: deterministic, disjoint, exact fractions, order independent."""
from __future__ import annotations

import random

import pytest

from models.split import make_split

IDS = [f"B{i:07d}" for i in range(1000)]


def test_same_input_same_split():
    assert make_split(IDS) == make_split(list(IDS))


def test_parts_are_disjoint_and_cover_everything():
    s = make_split(IDS)
    parts = [set(s.train), set(s.val), set(s.calib), set(s.test)]
    assert sum(len(p) for p in parts) == len(IDS)
    assert set().union(*parts) == set(IDS)


def test_fractions_are_of_the_whole_set():
    assert make_split(IDS).sizes() == {"train": 600, "val": 100, "calib": 100, "test": 200}
    s = make_split(IDS, test_frac=0.25, val_frac=0.05, calib_frac=0.0)
    assert s.sizes() == {"train": 700, "val": 50, "calib": 0, "test": 250}


def test_row_order_does_not_matter():
    shuffled = list(IDS)
    random.Random(7).shuffle(shuffled)
    assert make_split(shuffled) == make_split(IDS)


def test_seed_changes_the_split_and_is_not_a_prefix():
    a, b = make_split(IDS, seed=0), make_split(IDS, seed=1)
    assert a.test != b.test
    assert a.test != sorted(IDS)[:200]  # shuffled, not the first ids


def test_test_set_is_the_first_20_percent_of_the_shuffle():
    # carving val/calib from the 80% must leave the 80/20 test set unchanged
    assert make_split(IDS).test == make_split(IDS, val_frac=0.0, calib_frac=0.0).test


def test_fit_ids_is_train_plus_val():
    s = make_split(IDS)
    assert s.fit_ids() == sorted(s.train + s.val)


def test_ids_are_compared_as_strings():
    assert make_split(range(50)).test == make_split([str(i) for i in range(50)]).test


@pytest.mark.parametrize("ids, kwargs, message", [
    (["a", "b", "a"], {}, "duplicate id 'a'"),
    (["a", None], {}, r"ids\[1\] is empty"),
    (IDS, {"test_frac": 1.2}, "test_frac must be in"),
    (IDS, {"val_frac": -0.1}, "val_frac must be in"),
    (IDS, {"test_frac": 0.5, "val_frac": 0.3, "calib_frac": 0.2}, "leaves no training ids"),
])
def test_bad_input(ids, kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_split(ids, **kwargs)
