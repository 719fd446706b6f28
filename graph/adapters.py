"""Adapters: each bundled data set (``data/demo/<name>`` or ``../shared/data/<name>``) -> Catalog.

Use::

    from graph.adapters import load_path, load_dataset
    catalog = load_path("data/demo")                  # every data set found there, merged
    catalog = load_dataset("amazon_uk_toys", "data/demo/amazon_uk_toys")
    catalog.counts(), catalog.rejections[:3]

Every adapter maps its source columns onto the canonical contract of
:mod:`graph.contracts` and then goes through :func:`graph.loader.validate`, so a bad source
row becomes a Rejection naming the source file and row. ``source`` on every row is
``"<data set>/<file name>"``. ``load_path`` also accepts canonical table files (a products
file, or a folder of ``products.* / reviews.* / offers.* / sales.*``).

Data sets (see ``data/README.md`` for provenance):

- ``amazon_in_2023`` — amazon.in, 148k products, INR. ``category_path`` = "main > sub";
  brand inferred from the title (``brand_inferred=True``). ``list_price`` (the MRP) is
  dropped on purpose: the selling price is nearly a fixed fraction of it, so keeping it as
  an input feature would leak the target.
- ``amazon_in_sales`` — amazon.in, 1.1k products with description and one review each, INR.
  Category separators ("|", ">") normalised to " > "; brand inferred; ``list_price``
  dropped for the same reason. Joined to ``amazon_in_2023`` by ASIN in ``merge_catalogs``.
- ``amazon_uk_toys`` — amazon.co.uk toys, 10k products, GBP, brand given
  (``brand_inferred=False``; the few without one are inferred from the title and flagged).
  Prices may be missing (kept as NaN) or text such as "£3.42" (parsed; for a range
  "£1.99 - £6.99" the low end is taken). ``review_count`` -> ``rating_count``; ``stock`` and
  ``answered_questions`` stay as free attributes.
- ``retail_price`` — Olist (Brazil) product-months, BRL. One product per ``product_id``
  titled "<category> product <id>", category "Retail > <category>", price = latest month's
  ``unit_price``; each month becomes a sales row (unit_price, qty) and three competitor
  offers ("competitor_1".."competitor_3": price ``comp_k``, shipping ``fp_k``, dated by
  the month).
"""
from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from graph.brands import infer_brands
from graph.contracts import CATEGORY_SEPARATOR, Catalog
from graph.loader import LoadResult, load_table, read_table, to_catalog, validate

DATASETS = ("amazon_in_2023", "amazon_in_sales", "amazon_uk_toys", "retail_price")
TABLE_KINDS = ("products", "reviews", "offers", "sales")
_TABLE_EXTS = (".csv", ".csv.gz", ".jsonl", ".jsonl.gz", ".json", ".json.gz", ".parquet", ".pq")
_SEPARATORS = re.compile(r"\s*(?:>|\|)\s*")
_MONEY_JUNK = re.compile(r"[£$€₹,\s]|R\$|Rs\.?|INR|GBP|BRL", re.IGNORECASE)
_RANGE = re.compile(r"^(\d+(?:\.\d+)?)-\d+(?:\.\d+)?$")

Step = Callable[[str], None]


# --------------------------------------------------------------------------- helpers

def _file(folder: Path, *names: str) -> Path:
    for name in names:
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"{folder}: expected {' or '.join(names)}")


def _need(raw: pd.DataFrame, columns: list[str], file: str) -> None:
    missing = [c for c in columns if c not in raw.columns]
    if missing:
        raise ValueError(f"{file}: missing column(s) {missing}; found {list(raw.columns)}")


def normalize_category_path(s: pd.Series) -> pd.Series:
    """"A|B", "A>B", "A > B" -> "A > B"; empty levels dropped; blank -> missing."""
    text = s.astype("object").where(s.notna())
    parts = text.str.split(_SEPARATORS)
    joined = parts.map(lambda p: CATEGORY_SEPARATOR.join(x.strip() for x in p if x.strip())
                       if isinstance(p, list) else None)
    return joined.where(joined.notna() & (joined != ""))


def parse_money(s: pd.Series) -> pd.Series:
    """"£3.42" -> "3.42", "£1.99 - £6.99" -> "1.99" (low end); anything else left as given.

    Only currency signs, thousands separators and spaces are removed, so text that still is
    not a number reaches the validator and is rejected with its original value in view.
    """
    if pd.api.types.is_numeric_dtype(s.dtype):
        return s
    text = s.astype("object").where(s.notna())
    cleaned = text.str.replace(_MONEY_JUNK, "", regex=True)
    low = cleaned.str.extract(_RANGE, expand=False)
    cleaned = low.where(low.notna(), cleaned)
    numeric = pd.to_numeric(cleaned, errors="coerce").notna()
    return cleaned.where(numeric, text)


def _inferred(title: pd.Series, given: pd.Series | None = None) -> tuple[pd.Series, pd.Series]:
    """(brand, brand_inferred): the given brand where there is one, else the title's guess."""
    guess = pd.Series(infer_brands(title), index=title.index, dtype="object")
    if given is None:
        return guess, guess.notna()
    has = given.notna() & (given.astype("object").where(given.notna()).str.strip() != "")
    return given.where(has, guess), ~has & guess.notna()


# --------------------------------------------------------------------------- adapters

def amazon_in_2023(folder: Path) -> Catalog:
    """amazon.in 2023 scrape (``products.csv.gz``). ``list_price`` is dropped: see module doc."""
    path = _file(folder, "products.csv.gz", "products.csv")
    file = f"amazon_in_2023/{path.name}"
    raw = read_table(path)
    _need(raw, ["product_id", "title", "main_category", "sub_category", "price"], file)
    main = raw["main_category"].str.strip()
    sub = raw["sub_category"].str.strip()
    path_ = (main + CATEGORY_SEPARATOR + sub).where(main.notna() & sub.notna(),
                                                    main.where(main.notna(), sub))
    brand, inferred = _inferred(raw["title"])
    frame = pd.DataFrame({
        "product_id": raw["product_id"], "title": raw["title"], "category_path": path_,
        "brand": brand, "brand_inferred": inferred, "price": raw["price"], "currency": "INR",
        "rating": raw.get("rating"), "rating_count": raw.get("rating_count"), "source": file,
    })
    return to_catalog([validate(frame, "products", file, default_currency="INR")])


def amazon_in_sales(folder: Path) -> Catalog:
    """amazon.in sales set: products with descriptions (``products.csv``) + ``reviews.csv``."""
    ppath = _file(folder, "products.csv")
    pfile = f"amazon_in_sales/{ppath.name}"
    raw = read_table(ppath)
    _need(raw, ["product_id", "title", "price"], pfile)
    brand, inferred = _inferred(raw["title"])
    frame = pd.DataFrame({
        "product_id": raw["product_id"], "title": raw["title"],
        "description": raw.get("description"),
        "category_path": normalize_category_path(raw["category_path"])
        if "category_path" in raw else None,
        "brand": brand, "brand_inferred": inferred, "price": raw["price"], "currency": "INR",
        "rating": raw.get("rating"), "rating_count": raw.get("rating_count"), "source": pfile,
    })
    results = [validate(frame, "products", pfile, default_currency="INR")]
    if (folder / "reviews.csv").is_file():
        rpath = folder / "reviews.csv"
        rfile = f"amazon_in_sales/{rpath.name}"
        reviews = read_table(rpath)
        _need(reviews, ["product_id"], rfile)
        reviews["source"] = rfile
        results.append(validate(reviews, "reviews", rfile))
    return to_catalog(results)


def amazon_uk_toys(folder: Path) -> Catalog:
    """amazon.co.uk toys (``products.csv``): given brands, 5-level categories, GBP."""
    path = _file(folder, "products.csv")
    file = f"amazon_uk_toys/{path.name}"
    raw = read_table(path)
    _need(raw, ["product_id", "title", "brand", "price"], file)
    brand, inferred = _inferred(raw["title"], raw["brand"])
    frame = pd.DataFrame({
        "product_id": raw["product_id"], "title": raw["title"],
        "category_path": normalize_category_path(raw["category_path"])
        if "category_path" in raw else None,
        "brand": brand, "brand_inferred": inferred, "price": parse_money(raw["price"]),
        "currency": "GBP", "rating": raw.get("rating"),
        "rating_count": raw.get("review_count"), "source": file,
    })
    for extra in ("stock", "answered_questions"):
        if extra in raw:
            frame[extra] = raw[extra]
    return to_catalog([validate(frame, "products", file, default_currency="GBP")])


def retail_price(folder: Path) -> Catalog:
    """Olist product-months (``retail_price.csv``): products, sales history, competitor offers."""
    path = _file(folder, "retail_price.csv")
    file = f"retail_price/{path.name}"
    raw = read_table(path)
    comps = [k for k in (1, 2, 3) if f"comp_{k}" in raw]
    _need(raw, ["product_id", "product_category_name", "month_year", "qty", "unit_price"], file)
    rows = np.arange(1, len(raw) + 1)
    parsed = pd.to_datetime(raw["month_year"], format="%d/%m/%Y", errors="coerce")
    # an unreadable month stays as written so the validator rejects it by value
    date = parsed.dt.strftime("%Y-%m-%d").where(parsed.notna(), raw["month_year"])
    pid = raw["product_id"].str.strip()

    sales = pd.DataFrame({"product_id": pid, "date": date, "price": raw["unit_price"],
                          "quantity": raw["qty"], "source": file})
    for extra in ("freight_price", "customers"):
        if extra in raw:
            sales[extra] = raw[extra]

    offers = pd.concat([pd.DataFrame({
        "product_id": pid, "competitor": f"competitor_{k}", "price": raw[f"comp_{k}"],
        "currency": "BRL", "observed_at": date, "shipping": raw.get(f"fp{k}"),
        "competitor_score": raw.get(f"ps{k}"), "source": file}) for k in comps],
        ignore_index=True) if comps else pd.DataFrame()
    offer_rows = np.concatenate([rows] * len(comps)) if comps else rows[:0]

    # The product row is the product's latest month; earlier months live on as sales rows.
    latest = (pd.DataFrame({"pid": pid, "when": parsed, "row": rows})
              .dropna(subset=["pid"]).sort_values(["pid", "when", "row"], na_position="first")
              .groupby("pid", sort=False).tail(1).sort_values("row"))
    idx = latest["row"].to_numpy() - 1
    cat = raw["product_category_name"].iloc[idx].str.strip().str.replace("_", " ")
    products = pd.DataFrame({
        "product_id": pid.iloc[idx].to_numpy(),
        "title": (cat + " product " + pid.iloc[idx]).to_numpy(),
        "category_path": ("Retail" + CATEGORY_SEPARATOR + cat).to_numpy(),
        "price": raw["unit_price"].iloc[idx].to_numpy(), "currency": "BRL",
        "rating": raw["product_score"].iloc[idx].to_numpy() if "product_score" in raw else None,
        "source": file,
    })
    for extra in ("product_weight_g", "product_photos_qty", "freight_price"):
        if extra in raw:
            products[extra] = raw[extra].iloc[idx].to_numpy()
    results = [validate(products, "products", file, default_currency="BRL", rows=idx + 1),
               validate(sales, "sales", file, rows=rows)]
    if comps:
        results.append(validate(offers, "offers", file, default_currency="BRL",
                                rows=offer_rows))
    return to_catalog(results)


ADAPTERS: dict[str, Callable[[Path], Catalog]] = {
    "amazon_in_2023": amazon_in_2023,
    "amazon_in_sales": amazon_in_sales,
    "amazon_uk_toys": amazon_uk_toys,
    "retail_price": retail_price,
}


def load_dataset(name: str, path: str | Path) -> Catalog:
    """Load one bundled data set from its folder."""
    if name not in ADAPTERS:
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(ADAPTERS)}")
    folder = Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: not a folder")
    return ADAPTERS[name](folder)


# --------------------------------------------------------------------------- merging

def merge_catalogs(*catalogs: Catalog) -> Catalog:
    """One catalog from several. A product present in more than one keeps the values of the
    first catalog that has it; later ones only fill its empty fields (amazon_in_2023 keeps its
    price and category and gains the description of amazon_in_sales). Reviews, offers and
    sales are concatenated (they join by product_id); rejections are kept in order."""
    out = Catalog(rejections=[r for c in catalogs for r in c.rejections])
    for kind in TABLE_KINDS:
        frames = [getattr(c, kind) for c in catalogs if len(getattr(c, kind))]
        if frames:
            setattr(out, kind, frames[0] if len(frames) == 1
                    else pd.concat(frames, ignore_index=True))
    if len(out.products):
        out.products = _merge_products(out.products)
    return out


def _merge_products(products: pd.DataFrame) -> pd.DataFrame:
    dup = products["product_id"].duplicated(keep=False).to_numpy()
    if not dup.any():
        return products
    shared = products.loc[dup].copy()
    # brand and its flag travel together: a missing brand must not keep a flag of its own
    shared["brand_inferred"] = shared["brand_inferred"].astype("object").where(
        shared["brand"].notna())
    sources = shared.groupby("product_id", sort=False)["source"].agg(
        lambda s: "; ".join(dict.fromkeys(s.dropna())))
    merged = shared.groupby("product_id", sort=False, dropna=False).first().reset_index()
    merged["source"] = merged["product_id"].map(sources)
    merged["brand_inferred"] = merged["brand_inferred"].fillna(False).astype(bool)
    first_pos = np.flatnonzero(dup & ~products["product_id"].duplicated().to_numpy())
    merged.index = first_pos  # each merged product takes the place of its first row
    kept = products.loc[~dup]
    out = pd.concat([kept, merged[products.columns]]).sort_index().reset_index(drop=True)
    return out


# --------------------------------------------------------------------------- paths

def _table_kind(path: Path) -> str:
    stem = path.name.split(".")[0].lower()
    return stem if stem in TABLE_KINDS else "products"


def _canonical_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.name.lower().endswith(_TABLE_EXTS)
                  and p.name.split(".")[0].lower() in TABLE_KINDS)


def load_path(path: str | Path, *, default_currency: str | None = None,
              on_step: Step | None = None) -> Catalog:
    """Load a folder of data-set folders, one data-set folder, or canonical table file(s).

    - a folder holding sub-folders named like the data sets (e.g. ``data/demo``): each one
      found is loaded and all are merged in the order of ``DATASETS``;
    - a folder named like a data set: that adapter;
    - a folder of canonical tables (``products.csv``, ``reviews.jsonl``, ...) or one table
      file (its kind from its name, else products): the canonical loader.

    ``default_currency`` fills empty currency cells of canonical tables; ``on_step`` is told
    what is being loaded next (the CLI shows it).
    """
    p = Path(path)
    step = on_step or (lambda _msg: None)
    if p.is_file():
        step(f"loading {p.name}")
        return to_catalog([load_table(p, _table_kind(p), default_currency=default_currency)])
    if not p.is_dir():
        raise FileNotFoundError(f"{p}: no such file or folder")
    if p.name in ADAPTERS:
        step(f"loading {p.name}")
        return load_dataset(p.name, p)
    found = [name for name in DATASETS if (p / name).is_dir()]
    if found:
        catalogs = []
        for name in found:
            step(f"loading {name}")
            catalogs.append(load_dataset(name, p / name))
        step("merging data sets")
        return merge_catalogs(*catalogs)
    files = _canonical_files(p)
    if files:
        results: list[LoadResult] = []
        for f in files:
            step(f"loading {f.name}")
            results.append(load_table(f, _table_kind(f), default_currency=default_currency))
        return to_catalog(results)
    raise ValueError(f"{p}: found neither data-set folders ({', '.join(DATASETS)}) nor "
                     f"canonical tables (products/reviews/offers/sales .csv/.jsonl/.parquet)")
