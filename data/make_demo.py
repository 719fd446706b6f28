"""Regenerate the demo sample in data/demo, or the main job's data in data/main.

Run::

    python data/make_demo.py                      # reads ../shared/data next to the repo
    python data/make_demo.py --source /path/to/data --out data/demo
    python data/make_demo.py --main               # data/main: the whole amazon_in_2023 file

Deterministic (seed 0): the same source gives byte-identical files. The demo keeps each
data set's own file names and formats so that ``graph.adapters`` is exercised on it exactly
as on the full data. What is sampled and why is written in data/README.md.

``--main`` writes data/main for ``make demo``: an unmodified copy of the whole
amazon_in_2023 catalog, relative symlinks to the other three demo data sets (nothing is
stored twice) and PROVENANCE.json (source, licence, sha256, rows, bytes of each file).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
DEFAULT_SOURCE = HERE.parent.parent / "shared" / "data"
DEFAULT_OUT = HERE / "demo"
DEFAULT_MAIN = HERE / "main"
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


# --------------------------------------------------------------------------- data/main

MAIN_FILE = "amazon_in_2023/products.csv.gz"
MAIN_LINKED = ("amazon_in_sales", "amazon_uk_toys", "retail_price")  # -> ../demo/<name>
LICENCE = ("non-commercial research use only (scraped marketplace listings published on "
           "Kaggle; the original pages grant no commercial rights)")
SOURCES = {
    "amazon_in_2023": 'Kaggle "Amazon Products Dataset 2023" (amazon.in search-result scrape, '
                      "March 2023; 95 per-category files merged, one row per ASIN)",
    "amazon_in_sales": 'Kaggle "Amazon Sales Dataset" (amazon.in, early 2023)',
    "amazon_uk_toys": 'Kaggle "Amazon UK toys" sample (amazon.co.uk, 2017)',
    "retail_price": 'Kaggle "Retail Price Optimization" (Olist Brazilian marketplace, BRL)',
}


def sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _file_entry(path: Path, rel: str) -> dict[str, object]:
    return {"file": rel, "rows": len(_read(path)), "bytes": path.stat().st_size,
            "sha256": sha256(path)}


def make_main(source: Path = DEFAULT_SOURCE, out: Path = DEFAULT_MAIN,
              demo: Path = DEFAULT_OUT) -> dict[str, object]:
    """Write data/main (copy, links, PROVENANCE.json); return the provenance written."""
    src = source / MAIN_FILE
    dst = out / MAIN_FILE
    dst.parent.mkdir(parents=True, exist_ok=True)
    # a byte-for-byte copy: the whole catalog, unmodified (its sha256 is the source's)
    shutil.copyfile(src, dst)
    sets: dict[str, object] = {
        "amazon_in_2023": {"source": SOURCES["amazon_in_2023"], "shipped": "whole file, unmodified",
                           "files": [_file_entry(dst, MAIN_FILE)]},
    }
    for name in MAIN_LINKED:
        link = out / name
        target = Path(os.path.relpath(demo / name, out))
        if link.is_symlink() or link.is_file():
            link.unlink()
        elif link.is_dir():
            shutil.rmtree(link)
        link.symlink_to(target, target_is_directory=True)
        files = sorted(p for p in (demo / name).iterdir() if p.is_file())
        sets[name] = {"source": SOURCES[name], "shipped": f"symlink to {target.as_posix()} "
                      "(the demo's copy; see data/README.md)",
                      "files": [_file_entry(p, f"{name}/{p.name}") for p in files]}
    provenance = {"licence": LICENCE, "made_by": "python data/make_demo.py --main",
                  "datasets": sets}
    (out / "PROVENANCE.json").write_text(json.dumps(provenance, indent=2) + "\n")
    return provenance


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE,
                        help="folder holding the full data sets (default: ../shared/data)")
    parser.add_argument("--out", type=Path, default=None,
                        help="where to write (default: data/demo, or data/main with --main)")
    parser.add_argument("--main", action="store_true",
                        help="write the main job's data (whole amazon_in_2023 + links to the "
                             "demo's other data sets) instead of the demo sample")
    args = parser.parse_args()
    if not args.source.is_dir():
        raise SystemExit(f"{args.source}: no such folder (pass --source)")
    if args.main:
        provenance = make_main(args.source, args.out or DEFAULT_MAIN)
        for entry in provenance["datasets"].values():
            for f in entry["files"]:
                print(f"{f['rows']:>7,}  {f['file']}  sha256 {f['sha256'][:16]}...")
        return
    for name, n in make_demo(args.source, args.out or DEFAULT_OUT).items():
        print(f"{n:>7,}  {name}")


if __name__ == "__main__":
    main()
