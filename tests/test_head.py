"""Quantile MLP head: learning, monotone quantiles, save/load, group ablation, bad input."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from models.head import PriceHead


def _data(n: int, seed: int = 0):
    """log price = 3 + sparse-term effects + 0.5 * dense[0] + noise."""
    rng = np.random.default_rng(seed)
    n_sp = 40
    rows = np.repeat(np.arange(n), 3)
    cols = rng.integers(0, n_sp, 3 * n)
    Xs = sp.csr_matrix((np.ones(3 * n, np.float32), (rows, cols)), shape=(n, n_sp))
    Xs.data[:] = 1.0
    w = rng.normal(0, 0.8, n_sp)
    Xd = rng.normal(0, 1, (n, 4)).astype(np.float32)
    y = 3 + Xs @ w + 0.5 * Xd[:, 0] + rng.normal(0, 0.2, n)
    return Xs, Xd, y.astype(np.float32)


def test_loss_decreases_and_beats_mean():
    Xs, Xd, y = _data(1500)
    head = PriceHead(hidden=(32, 16), batch_size=64, max_epochs=4, patience=4, lr=1e-2,
                     seed=0).fit(Xs[:1200], Xd[:1200], y[:1200], Xs[1200:], Xd[1200:], y[1200:])
    losses = [h["train_loss"] for h in head.history_[0]]
    assert losses[-1] < 0.5 * losses[0]
    q = head.predict(Xs[1200:], Xd[1200:])
    rmse = np.sqrt(np.mean((q[:, 1] - y[1200:]) ** 2))
    assert rmse < 0.5 * np.std(y[1200:])
    assert np.all(q[:, 0] <= q[:, 1]) and np.all(q[:, 1] <= q[:, 2])
    # outer quantiles bracket roughly the middle 80% (raw, before conformal calibration)
    inside = np.mean((y[1200:] >= q[:, 0]) & (y[1200:] <= q[:, 2]))
    assert 0.5 < inside < 0.97


def test_save_load_identical_and_ensemble(tmp_path):
    Xs, Xd, y = _data(400, seed=1)
    head = PriceHead(hidden=(16, 8), batch_size=64, max_epochs=2, n_models=2).fit(Xs, Xd, y)
    head.save(tmp_path)
    back = PriceHead.load(tmp_path)
    assert np.array_equal(head.predict(Xs, Xd), back.predict(Xs, Xd))
    assert len(back.models_) == 2 and back.get_params() == head.get_params()


def test_same_seed_same_model():
    Xs, Xd, y = _data(300, seed=2)
    a = PriceHead(hidden=(16,), max_epochs=2, seed=5).fit(Xs, Xd, y).predict(Xs, Xd)
    b = PriceHead(hidden=(16,), max_epochs=2, seed=5).fit(Xs, Xd, y).predict(Xs, Xd)
    assert np.allclose(a, b, atol=1e-6)


def test_predict_groups_keep_all_is_predict_and_mean_replacement():
    Xs, Xd, y = _data(300, seed=3)
    head = PriceHead(hidden=(16, 8), max_epochs=2).fit(Xs, Xd, y)
    groups = [(np.arange(0, 20), np.array([0])), (np.arange(20, 40), np.array([1, 2]))]
    masks = np.array([[True, True], [False, True], [True, False], [False, False]])
    v = head.predict_groups(Xs[:5], Xd[:5], groups, masks)
    assert np.allclose(v[0], head.predict(Xs[:5], Xd[:5])[:, 1], atol=1e-5)
    # replacing every group by its mean gives a (nearly) row-independent value: only the
    # ungrouped dense column 3 still varies
    Xd_flat = Xd[:5].copy()
    Xd_flat[:, 3] = Xd[0, 3]
    flat = head.predict_groups(Xs[:5], Xd_flat, groups, masks[3:])
    assert np.ptp(flat) < 1e-5


def test_no_sparse_or_no_dense_columns():
    Xs, Xd, y = _data(200)
    empty = sp.csr_matrix((200, 0), dtype=np.float32)
    q = PriceHead(hidden=(8,), max_epochs=1).fit(empty, Xd, y).predict(empty, Xd)
    assert q.shape == (200, 3)
    q = PriceHead(hidden=(8,), max_epochs=1).fit(Xs, np.zeros((200, 0)), y).predict(
        Xs, np.zeros((200, 0)))
    assert np.isfinite(q).all()


def test_bad_input():
    Xs, Xd, y = _data(50)
    with pytest.raises(ValueError, match="not fitted"):
        PriceHead().predict(Xs, Xd)
    bad = Xd.copy()
    bad[7, 2] = np.nan
    with pytest.raises(ValueError, match="row 7, column 2"):
        PriceHead(max_epochs=1).fit(Xs, bad, y)
    with pytest.raises(ValueError, match="target row 3"):
        PriceHead(max_epochs=1).fit(Xs, Xd, np.where(np.arange(50) == 3, np.inf, y))
    head = PriceHead(hidden=(8,), max_epochs=1).fit(Xs, Xd, y)
    with pytest.raises(ValueError, match="trained on"):
        head.predict(Xs, Xd[:, :2])
    with pytest.raises(ValueError, match="point_loss"):
        PriceHead(point_loss="l2").fit(Xs, Xd, y)
