"""models.neighbour_prices: leave-one-out, currencies, dense and sparse spaces."""
import numpy as np
import pytest
import scipy.sparse as sp

from models.neighbour_prices import FEATURES, NeighbourPrices


def _data(n=60, d=8, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    y = rng.uniform(1, 8, size=n)
    return X, y


def test_nearest_neighbour_is_the_most_similar_reference():
    X, y = _data()
    nb = NeighbourPrices(k=5, prefix="e_").fit(X, y, ids=[f"p{i}" for i in range(len(y))])
    q = X[7:8] * 3.0 + 1e-4  # same direction as reference 7: cosine 1
    F = nb.transform(q)
    assert list(F.columns) == [f"e_{f}" for f in FEATURES]
    assert F["e_top1"].iloc[0] == pytest.approx(y[7])
    assert F["e_sim1"].iloc[0] == pytest.approx(1.0, abs=1e-4)
    # weighted means stay within the neighbours' price range
    assert y.min() <= F["e_wmean20"].iloc[0] <= y.max()


def test_a_reference_product_never_sees_its_own_price():
    X, y = _data()
    ids = [f"p{i}" for i in range(len(y))]
    nb = NeighbourPrices(k=3).fit(X, y, ids=ids)
    F_self = nb.transform(X[:10], exclude_ids=ids[:10])
    F_anon = nb.transform(X[:10])
    assert (F_anon["sim1"] > 0.999).all()           # without exclusion it finds itself
    assert (F_self["sim1"] < 0.999).all()            # with it, never
    assert not np.allclose(F_self["top1"], y[:10])


def test_only_references_in_the_same_currency_count():
    X, y = _data(40)
    cur = ["INR"] * 20 + ["GBP"] * 20
    y = np.where(np.arange(40) < 20, 7.0, 2.0)       # rupee prices high, pound prices low
    nb = NeighbourPrices(k=5).fit(X, y, currencies=cur)
    F = nb.transform(X[:40], currencies=["gbp"] * 40)
    assert np.allclose(F["top1"], 2.0) and np.allclose(F["wmean20"], 2.0)
    F = nb.transform(X[:5], currencies=["INR"] * 5)
    assert np.allclose(F["top1"], 7.0)
    F = nb.transform(X[:2], currencies=["BRL", "BRL"])  # no reference in that currency
    assert F.isna().all().all()


def test_sparse_tfidf_space_drops_frequent_columns():
    rows = [[0, 1], [0, 2], [0, 3], [0, 1, 4]]
    X = sp.lil_matrix((4, 5), dtype=np.float32)
    for i, cols in enumerate(rows):
        for c in cols:
            X[i, c] = 1.0
    X = X.tocsr()
    nb = NeighbourPrices(k=2, max_df=0.6).fit(X, [1.0, 2.0, 3.0, 4.0])
    assert 0 not in nb.columns_                       # in every row: no identity in it
    F = nb.transform(sp.csr_matrix(([1.0, 1.0], ([0, 0], [0, 4])), shape=(1, 5)))
    assert F["top1"].iloc[0] == pytest.approx(4.0)    # only row 3 shares column 4


def test_errors():
    X, y = _data(10)
    with pytest.raises(ValueError, match="not fitted"):
        NeighbourPrices().transform(X)
    with pytest.raises(ValueError, match="rows"):
        NeighbourPrices().fit(X, y[:5])
    with pytest.raises(ValueError, match="finite"):
        NeighbourPrices().fit(X, np.full(10, np.nan))
