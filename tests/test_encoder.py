"""Text/review encoder: product text, normalised embeddings, reviews, fine-tuning, round trip."""
from __future__ import annotations

import numpy as np
import pytest

from models.encoder import TextEncoder, product_text


@pytest.fixture(scope="module")
def enc() -> TextEncoder:
    return TextEncoder(max_seq_length=32, batch_size=16)


def test_product_text_order_and_brand_dedup():
    t = product_text({"title": "boAt Airdopes 141", "brand": "boAt",
                      "category_path": "Audio > Headphones", "description": "  TWS\n earbuds "})
    assert t == "boAt Airdopes 141 | Audio > Headphones | TWS earbuds"
    t = product_text({"title": "Airdopes 141", "brand": "boAt", "category_path": None,
                      "description": float("nan")})
    assert t == "Airdopes 141 | boAt"


def test_encode_shape_norm_and_order_independence(enc):
    texts = ["Samsung 1.5 ton inverter split AC", "Lego Classic 1500 bricks", "x"]
    E = enc.encode(texts)
    assert E.shape == (3, 384) and E.dtype == np.float32
    assert np.allclose(np.linalg.norm(E, axis=1), 1.0, atol=1e-5)
    # length-sorted batching must not mix up rows
    E2 = enc.encode(texts[::-1])
    assert np.allclose(E, E2[::-1], atol=1e-5)
    assert enc.encode([]).shape == (0, 384)


def test_encode_cache(enc, tmp_path):
    a = enc.encode(["one title", "another"], cache_dir=tmp_path)
    assert len(list(tmp_path.glob("emb-*.npy"))) == 1
    assert np.array_equal(a, enc.encode(["one title", "another"], cache_dir=tmp_path))


def test_reviews_mean_and_indicator(enc):
    R, has = enc.encode_reviews([["great sound", "battery ok"], [], None, ["  "]])
    assert has.tolist() == [1.0, 0.0, 0.0, 0.0]
    assert np.allclose(R[1:], 0.0)
    both = enc.encode(["great sound", "battery ok"], max_len=enc.review_max_seq_length)
    m = both.mean(0)
    assert np.allclose(R[0], m / np.linalg.norm(m), atol=1e-5)


def test_fine_tune_learns_and_round_trips(tmp_path):
    enc = TextEncoder(max_seq_length=16, batch_size=32)
    rng = np.random.default_rng(0)
    words = ["spoon", "cup", "pencil", "band", "sticker", "necklace", "ring", "laptop",
             "television", "machine", "chair", "lamp"]
    texts = [f"{rng.choice(words)} {rng.choice(words)} model {i}" for i in range(64)]
    y = rng.normal(5, 2, 64)          # arbitrary targets: only a tuned encoder can fit them
    before = enc.encode(texts[:4])
    base_print = enc.fingerprint()
    s = enc.fine_tune(texts, y, val_texts=texts, val_y=y, train_layers=1, epochs=8,
                      batch_size=16, lr=3e-5, seed=0)
    assert s["loss_last"] < 0.6 * s["loss_first"]
    assert s["val_probe_rmse_after"] < s["val_probe_rmse_before"]
    after = enc.encode(texts[:4])
    assert not np.allclose(before, after)
    enc.save(tmp_path)
    back = TextEncoder.load(tmp_path)
    assert back.fine_tuned_["steps"] == s["steps"] == 32
    assert np.allclose(back.encode(texts[:4]), after, atol=1e-5)
    # the fingerprint (embedding-cache key) follows the weights, not the folder they came from
    assert enc.fingerprint() != base_print
    assert back.fingerprint() == enc.fingerprint()


def test_fine_tune_bad_input(enc):
    with pytest.raises(ValueError, match="2 texts but 1 targets"):
        enc.fine_tune(["a", "b"], np.array([1.0]))
    with pytest.raises(ValueError, match=r"y\[1\] is not finite"):
        enc.fine_tune(["a", "b"], np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="train_layers"):
        enc.fine_tune(["a", "b"], np.array([1.0, 2.0]), train_layers=9)
