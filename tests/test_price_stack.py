"""models.price_stack: cross-fitting, save/load, feature layout, quantile shift."""
import numpy as np
import pandas as pd
import pytest

from models.price_stack import PriceStack, shift_quantiles, stack_features


def _F(n=600, seed=0):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n), rng.normal(size=n)
    y = 4 + 1.5 * a + np.where(b > 0, 0.8, -0.8) + rng.normal(0, 0.1, n)
    return pd.DataFrame({"a": a, "b": b, "noise": rng.normal(size=n)}), y


def test_learns_and_gives_honest_out_of_fold_predictions(tmp_path):
    F, y = _F()
    st = PriceStack(n_folds=4, threads=1).fit(F, y)
    assert len(st.models_) == 4 and st.oof_.shape == y.shape
    oof_rmse = np.sqrt(np.mean((st.oof_ - y) ** 2))
    in_rmse = np.sqrt(np.mean((st.predict(F) - y) ** 2))
    assert oof_rmse < 0.5 * y.std()        # it learned the signal
    assert in_rmse <= oof_rmse              # in-sample is the optimistic one
    imp = st.importance()
    assert max(imp, key=imp.get) in ("a", "b") and imp["noise"] < 0.2
    back = PriceStack.load(st.save(tmp_path / "stack"))
    F2, _ = _F(50, seed=1)
    assert np.allclose(back.predict(F2), st.predict(F2))


def test_layout_and_size_errors():
    F, y = _F(100)
    st = PriceStack(n_folds=3, threads=1).fit(F, y)
    with pytest.raises(ValueError, match="layout"):
        st.predict(F[["b", "a", "noise"]])
    with pytest.raises(ValueError, match="too few"):
        PriceStack(n_folds=5).fit(F.head(10), y[:10])
    with pytest.raises(ValueError, match="not fitted"):
        PriceStack().predict(F)


def test_stack_features_drop_embeddings_and_shift_keeps_offsets():
    q = np.array([[1.0, 2.0, 3.5]])
    Xd = np.array([[0.1, 0.2, 5.0, 1.0]])
    names = ["text_0", "review_0", "cat_median", "rating"]
    F = stack_features(q, Xd, names, [pd.DataFrame({"nbe_top1": [4.0]})],
                       pd.DataFrame({"te_cat": [3.0]}))
    assert list(F.columns) == ["head_q10", "head_q50", "head_q90", "cat_median", "rating",
                               "nbe_top1", "te_cat"]
    s = shift_quantiles(q, np.array([2.5]))
    assert np.allclose(s, [[1.5, 2.5, 4.0]])
