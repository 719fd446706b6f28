"""Regenerate the demo sample in data/demo from the full data sets.

Run::

    python data/make_demo.py                      # reads ../shared/data next to the repo
    python data/make_demo.py --source /path/to/data --out data/demo

Deterministic (seed 0): the same source gives byte-identical files. The demo keeps each
data set's own file names and formats so that ``graph.adapters`` is exercised on it exactly
as on the full data. What is sampled and why is written in data/README.md.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
DEFAULT_SOURCE = HERE.parent.parent / "shared" / "data"
DEFAULT_OUT = HERE / "demo"
SEED = 0
N_AMAZON_IN_2023 = 6000
N_AMAZON_UK_TOYS = 2000
MIN_PER_STRATUM = 3  # every sub-category / top category shows up, however small


def _read(path: Path) -> pd.DataFrame:
    # text in, text out: numbers are written back exactly as they were
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])


def stratified(frame: pd.DataFrame, strata: pd.Series, n: int, seed: int = SEED,
               min_per_stratum: int = MIN_PER_STRATUM) -> pd.DataFrame:
    """About ``n`` rows, each stratum in proportion to its size (at least a few rows each)."""
    if n >= len(frame):
        return frame
    rng = np.random.default_rng(seed)
    share = n / len(frame)
    picked = []
    for _, idx in sorted(frame.groupby(strata.fillna(""), sort=True).indices.items()):
        k = min(len(idx), max(min_per_stratum, int(round(len(idx) * share))))
        picked.append(rng.choice(idx, size=k, replace=False))
    rows = np.sort(np.concatenate(picked))
    return frame.iloc[rows]


def _write(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.name.endswith(".gz"):
        # mtime=0 keeps the gzip header, hence the file, identical from run to run
        frame.to_csv(path, index=False, compression={"method": "gzip", "mtime": 0})
    else:
        frame.to_csv(path, index=False)


def make_demo(source: Path = DEFAULT_SOURCE, out: Path = DEFAULT_OUT) -> dict[str, int]:
    """Write the demo sample; return rows written per file."""
    counts: dict[str, int] = {}
    sales = _read(source / "amazon_in_sales" / "products.csv")
    reviews = _read(source / "amazon_in_sales" / "reviews.csv")
    _write(sales, out / "amazon_in_sales" / "products.csv")
    _write(reviews, out / "amazon_in_sales" / "reviews.csv")
    counts["amazon_in_sales/products.csv"] = len(sales)
    counts["amazon_in_sales/reviews.csv"] = len(reviews)

    big = _read(source / "amazon_in_2023" / "products.csv.gz")
    # every ASIN that amazon_in_sales describes, so descriptions and reviews join in the demo
    joined = big["product_id"].isin(set(sales["product_id"]))
    rest = big.loc[~joined]
    extra = stratified(rest, rest["sub_category"], N_AMAZON_IN_2023 - int(joined.sum()))
    sample = big.loc[joined | big.index.isin(extra.index)]
    _write(sample, out / "amazon_in_2023" / "products.csv.gz")
    counts["amazon_in_2023/products.csv.gz"] = len(sample)

    toys = _read(source / "amazon_uk_toys" / "products.csv")
    top = toys["category_path"].str.split(">").str[0].str.strip()
    toys_sample = stratified(toys, top, N_AMAZON_UK_TOYS)
    _write(toys_sample, out / "amazon_uk_toys" / "products.csv")
    counts["amazon_uk_toys/products.csv"] = len(toys_sample)

    retail = _read(source / "retail_price" / "retail_price.csv")
    _write(retail, out / "retail_price" / "retail_price.csv")
    counts["retail_price/retail_price.csv"] = len(retail)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE,
                        help="folder holding the full data sets (default: ../shared/data)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="where to write the sample (default: data/demo)")
    args = parser.parse_args()
    if not args.source.is_dir():
        raise SystemExit(f"{args.source}: no such folder (pass --source)")
    for name, n in make_demo(args.source, args.out).items():
        print(f"{n:>7,}  {name}")


if __name__ == "__main__":
    main()
