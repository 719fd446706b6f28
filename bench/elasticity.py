"""Elasticity model: recovery on simulated sales and a demand backtest on retail_price.

Run::

    .venv/bin/python -m bench.elasticity [--data ../shared/data/retail_price] [--seeds 10]

1. Simulation (``models.elasticity.simulate_sales``, ``--seeds`` data sets of 4 categories x
   8 products x 24 months, Poisson units, known elasticities): mean absolute error of the
   recovered elasticity for products whose price varied, whose price barely moved (1% sd)
   and that never changed price, pooled (empirical Bayes) and without pooling
   (``prior_strength=0``), and the coverage of the 90% intervals.
2. retail_price (Olist, 52 products, 20 months): elasticities fitted on all months (sources,
   flags, spread), then two backtests of monthly units sold:
   - holdout: each product's last 3 months predicted from everything before them;
   - rolling origin: each of the last 6 calendar months predicted from all earlier months.
   The demand model is given the held-out month's own price, its mean competitor price and
   its calendar month (all known when a price is being decided); baselines are the
   product's last observed units and its mean units. "price ignored" is the same model
   asked at the product's reference price, isolating what the own-price effect adds.
   Metrics: MAE, RMSE, WAPE (sum |error| / sum units, %) and, for the model, coverage of
   its 90% predictive interval.

Figures go to ``bench/results/elasticity.json``.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from graph.adapters import load_dataset
from models.elasticity import ElasticityModel, NoDemandModel, simulate_sales

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "retail_price"
DEMO_DATA = ROOT / "data" / "demo" / "retail_price"
RESULTS = ROOT / "bench" / "results" / "elasticity.json"
LEVEL = 0.9
MOVED = 0.1  # |log(test price / last training price)| above this: "the price moved" subset


# --------------------------------------------------------------------------- simulation

def simulation(seeds: int) -> dict:
    errs: dict[str, list[float]] = {}
    cover: dict[str, list[float]] = {}
    for seed in range(seeds):
        sales, products, offers, truth = simulate_sales(seed=seed)
        truth = truth.set_index("product_id")
        for name, strength in (("pooled", 1.0), ("no_pooling", 0.0)):
            s = (ElasticityModel(prior_strength=strength).fit(sales, products, offers)
                 .summary().set_index("product_id").loc[truth.index])
            err = (s["beta"] - truth["beta"]).abs()
            inside = (s["low"] <= truth["beta"]) & (truth["beta"] <= s["high"])
            for kind in ("varied", "low", "fixed"):
                m = truth["kind"] == kind
                errs.setdefault(f"{name}/{kind}", []).append(float(err[m].mean()))
                cover.setdefault(f"{name}/{kind}", []).append(float(inside[m].mean()))
    out = {}
    for key in errs:
        out[key] = {"mae": round(float(np.mean(errs[key])), 3),
                    "mae_worst_seed": round(float(np.max(errs[key])), 3),
                    "coverage_90": round(float(np.mean(cover[key])), 3)}
    return {"seeds": seeds, "products_per_seed": 32, "months": 24, "by_kind": out}


# --------------------------------------------------------------------------- backtest

Split = tuple[pd.DataFrame, pd.DataFrame]


def holdout_last(sales: pd.DataFrame, k: int = 3) -> list[Split]:
    """Each product's last ``k`` rows are the test set (products with <= k rows skipped)."""
    s = sales.sort_values(["product_id", "date"])
    rank = s.groupby("product_id").cumcount(ascending=False)
    n = s.groupby("product_id")["date"].transform("size")
    test = (rank < k) & (n > k)
    return [(s[~test | (n <= k)], s[test])]


def rolling_origin(sales: pd.DataFrame, origins: int = 6) -> list[Split]:
    """For each of the last ``origins`` dates: train on earlier dates, test on that one."""
    dates = sorted(sales["date"].unique())[-origins:]
    return [(sales[sales["date"] < d], sales[sales["date"] == d]) for d in dates]


def _mean_competitor(offers: pd.DataFrame) -> dict[tuple[str, str], float]:
    return offers.groupby(["product_id", "observed_at"])["price"].mean().to_dict()


def _predict_model(model: ElasticityModel, test: pd.DataFrame, comp: dict,
                   ignore_price: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    point, low, high = [], [], []
    for row in test.itertuples():
        try:
            est = model.elasticity_(row.product_id)
            price = est.ref_price if ignore_price else row.price
            p, lo, hi = model.predict_quantity(
                row.product_id, price, date=row.date,
                competitor_price=comp.get((row.product_id, row.date)), kind="predictive")
        except (KeyError, NoDemandModel):  # never sold in training: predict what it did
            p = lo = hi = 0.0
        point.append(p)
        low.append(lo)
        high.append(hi)
    return np.array(point), np.array(low), np.array(high)


def _metrics(y: np.ndarray, pred: np.ndarray, low=None, high=None) -> dict:
    err = pred - y
    out = {"n": int(len(y)), "mae": round(float(np.mean(np.abs(err))), 3),
           "rmse": round(float(np.sqrt(np.mean(err ** 2))), 3),
           "wape_pct": round(float(100 * np.sum(np.abs(err)) / np.sum(y)), 1)}
    if low is not None:
        out["coverage_90"] = round(float(np.mean((low <= y) & (y <= high))), 3)
    return out


def backtest(sales: pd.DataFrame, products: pd.DataFrame, offers: pd.DataFrame,
             splits: list[Split]) -> dict:
    comp = _mean_competitor(offers)
    ys: list[np.ndarray] = []
    moved: list[np.ndarray] = []
    preds: dict[str, list] = {}
    skipped = 0
    for train, test in splits:
        seen = test["product_id"].isin(train["product_id"])
        skipped += int((~seen).sum())  # no history at all: nothing here can predict it
        test = test[seen]
        if not len(test):
            continue
        ys.append(test["quantity"].to_numpy(float))
        pooled = ElasticityModel().fit(train, products, offers)
        nopool = ElasticityModel(prior_strength=0).fit(train, products, offers)
        month = ElasticityModel(time_effects="month").fit(train, products, offers)
        t = train.sort_values(["product_id", "date"]).groupby("product_id")
        last, mean = t["quantity"].last(), t["quantity"].mean()
        last_price = test["product_id"].map(t["price"].last()).to_numpy(float)
        moved.append(np.abs(np.log(test["price"].to_numpy(float) / last_price)) > MOVED)
        methods: dict[str, Callable] = {
            "demand model (pooled)": lambda: _predict_model(pooled, test, comp),
            "demand model (no pooling)": lambda: _predict_model(nopool, test, comp),
            "demand model, month effects": lambda: _predict_model(month, test, comp),
            "demand model, price ignored": lambda: _predict_model(pooled, test, comp, True),
            "last value": lambda: (test["product_id"].map(last).to_numpy(float),),
            "product mean": lambda: (test["product_id"].map(mean).to_numpy(float),),
        }
        for name, fn in methods.items():
            preds.setdefault(name, []).append(fn())
    y = np.concatenate(ys)
    sub = np.concatenate(moved)
    out, out_moved = {}, {}
    for name, parts in preds.items():
        cols = [np.concatenate([p[i] for p in parts]) for i in range(len(parts[0]))]
        out[name] = _metrics(y, *cols)
        out_moved[name] = _metrics(y[sub], *(c[sub] for c in cols))
    out["_price_moved"] = out_moved
    out["_test_rows"] = int(len(y))
    out["_skipped_rows_without_history"] = skipped
    out["_test_units_mean"] = round(float(y.mean()), 2)
    return out


def retail(data: Path) -> dict:
    cat = load_dataset("retail_price", data)
    sales, products, offers = cat.sales, cat.products, cat.offers
    t = time.perf_counter()
    model = ElasticityModel().fit(sales, products, offers)
    fit_s = time.perf_counter() - t
    s = model.summary()
    flags = pd.Series([f for fl in s["flags"] for f in fl.split(",") if f]).value_counts()
    full = {
        "products": int(len(s)), "sales_rows": int(len(sales)), "fit_s": round(fit_s, 3),
        "dispersion_phi": round(model.fit_.phi, 2),
        "competitor_cross_elasticity": round(model.fit_.competitor_coef, 3)
        if model.fit_.competitor_coef is not None else None,
        "competitor_cross_elasticity_se": round(model.fit_.competitor_se, 3)
        if model.fit_.competitor_se is not None else None,
        "between_product_sd_tau": round(model.prior_.tau2 ** 0.5, 3),
        "sources": s["source"].value_counts().to_dict(),
        "flags": flags.to_dict(),
        "beta_median": round(float(s["beta"].median()), 3),
        "beta_quartiles": [round(float(q), 3) for q in s["beta"].quantile([0.25, 0.75])],
        "share_beta_below_minus_1": round(float((s["beta"] < -1).mean()), 3),
        "se_median": round(float(s["se"].median()), 3),
        "own_se_median": round(float(s["own_se"].median()), 3),
        "category_means": {k: round(v[0], 3) for k, v in model.prior_.category_mean.items()},
    }
    return {"full_fit": full,
            "holdout_last_3": backtest(sales, products, offers, holdout_last(sales, 3)),
            "rolling_origin_6": backtest(sales, products, offers, rolling_origin(sales, 6))}


# --------------------------------------------------------------------------- main

def _table(title: str, res: dict) -> None:
    n_moved = next(iter(res["_price_moved"].values()))["n"]
    print(f"\n{title}  ({res['_test_rows']} product-months, mean {res['_test_units_mean']} "
          f"units; {n_moved} with the price moved > {MOVED:.0%})")
    print(f"  {'method':30s} {'MAE':>7s} {'RMSE':>7s} {'WAPE%':>7s} {'cov90':>6s}"
          f" | moved: {'MAE':>6s} {'WAPE%':>6s}")
    for name, m in res.items():
        if name.startswith("_"):
            continue
        mm = res["_price_moved"][name]
        cov = f"{m['coverage_90']:.2f}" if "coverage_90" in m else "-"
        print(f"  {name:30s} {m['mae']:7.2f} {m['rmse']:7.2f} {m['wape_pct']:7.1f} {cov:>6s}"
              f" |        {mm['mae']:6.2f} {mm['wape_pct']:6.1f}")


def main() -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=None,
                    help=f"retail_price folder (default {DEFAULT_DATA} or {DEMO_DATA})")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    data = args.data or (DEFAULT_DATA if DEFAULT_DATA.is_dir() else DEMO_DATA)

    t = time.perf_counter()
    sim = simulation(args.seeds)
    print(f"Simulated recovery ({args.seeds} seeds x 32 products x 24 months): "
          "MAE of beta | coverage of 90% interval")
    for key, m in sim["by_kind"].items():
        print(f"  {key:22s} MAE {m['mae']:.3f} (worst seed {m['mae_worst_seed']:.3f})  "
              f"cov {m['coverage_90']:.2f}")
    real = retail(data)
    f = real["full_fit"]
    print(f"\nretail_price fit: {f['products']} products, phi {f['dispersion_phi']}, "
          f"tau {f['between_product_sd_tau']}, cross-elasticity "
          f"{f['competitor_cross_elasticity']} (se {f['competitor_cross_elasticity_se']})")
    print(f"  sources {f['sources']}  flags {f['flags']}")
    print(f"  beta median {f['beta_median']} IQR {f['beta_quartiles']}, "
          f"se median {f['se_median']} (own {f['own_se_median']})")
    _table("Backtest: each product's last 3 months", real["holdout_last_3"])
    _table("Backtest: rolling origin, last 6 months", real["rolling_origin_6"])
    result = {"data": str(data.resolve().relative_to(ROOT.parent))
              if data.resolve().is_relative_to(ROOT.parent) else str(data),
              "simulation": sim, "retail_price": real,
              "seconds": round(time.perf_counter() - t, 1),
              "python": platform.python_version()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    return result


if __name__ == "__main__":
    main()
