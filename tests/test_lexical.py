"""Lexical features: TF-IDF of titles + category/brand/currency one-hots, JSON round trip."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.lexical import LexicalFeaturizer, tokens_of

FRAME = pd.DataFrame({
    "title": ["boAt Airdopes 141 TWS earbuds", "boAt Rockerz 450 headphones",
              "Samsung 1.5 ton 5 star inverter AC", "Samsung 1 ton 3 star AC",
              "Lego Classic bricks 1500 pieces", "Lego City police car"],
    "category_path": ["Audio > Headphones", "Audio > Headphones", "Home > Air Conditioners",
                      "Home > Air Conditioners", "Toys > Bricks", "Toys > Bricks"],
    "brand": ["boAt", "boAt", "Samsung", "Samsung", "LEGO", "Lego"],
    "currency": ["INR", "INR", "INR", "INR", "GBP", "GBP"],
})


def test_tokens_of_category_prefixes_brand_currency():
    assert tokens_of("A > B > C", " Bo At ", "inr") == [
        "cat=a", "cat=a > b", "cat=a > b > c", "brand=bo at", "cur=INR"]
    assert tokens_of(None, float("nan"), None) == []


def test_fit_transform_blocks_and_values():
    lex = LexicalFeaturizer(min_df=1).fit(FRAME)
    X = lex.transform(FRAME)
    assert X.shape == (6, lex.n_features_)
    assert X.dtype == np.float32
    assert set(lex.blocks_) == {"word", "char", "token"}
    # case-insensitive brand key: "LEGO" and "Lego" are one token seen twice
    assert "brand=lego" in lex.tokens_
    cat = lex.columns("cat")
    assert X[:, cat].sum(axis=1).A1.tolist() == [2.0] * 6   # root + leaf
    # the title blocks are L2-normalised TF-IDF rows
    word = lex.columns("word")
    assert np.allclose(np.sqrt(X[:, word].multiply(X[:, word]).sum(axis=1)).A1, 1.0)


def test_unseen_leaf_keeps_parent_and_unknown_brand_is_ignored():
    lex = LexicalFeaturizer(min_df=1).fit(FRAME)
    new = pd.DataFrame({"title": ["boAt Airdopes 999"], "category_path": ["Audio > Speakers"],
                        "brand": ["NoSuchBrand"], "currency": [None]})
    X = lex.transform(new)
    cat = X[:, lex.columns("cat")]
    assert cat.nnz == 1                                  # "cat=audio" only
    assert X[:, lex.columns("brand")].nnz == 0
    assert X[:, lex.columns("word")].nnz > 0             # known words still count


def test_min_token_count_drops_singletons():
    lex = LexicalFeaturizer(min_df=1, min_token_count=3).fit(FRAME)
    assert not any(t.startswith("brand=") for t in lex.tokens_)


def test_save_load_round_trip(tmp_path):
    lex = LexicalFeaturizer(min_df=1, word_features=50, char_features=80).fit(FRAME)
    lex.save(tmp_path)
    back = LexicalFeaturizer.load(tmp_path)
    a, b = lex.transform(FRAME), back.transform(FRAME)
    assert a.shape == b.shape and (a != b).nnz == 0
    assert back.blocks_ == lex.blocks_


def test_records_and_bad_input():
    lex = LexicalFeaturizer(min_df=1).fit(FRAME.to_dict("records"))
    assert lex.transform([{"title": "Lego bricks"}]).shape[0] == 1
    with pytest.raises(ValueError, match="row 1: title is empty"):
        lex.transform([{"title": "x"}, {"title": "  "}])
    with pytest.raises(ValueError, match="'title'"):
        lex.transform(pd.DataFrame({"name": ["x"]}))
    with pytest.raises(ValueError, match="not fitted"):
        LexicalFeaturizer().transform(FRAME)
