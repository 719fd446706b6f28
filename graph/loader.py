"""One loader for the four canonical tables (products, reviews, offers, sales).

Use::

    from graph.loader import load_table, validate
    result = load_table("catalog/products.csv.gz", "products", default_currency="INR")
    result.frame          # accepted rows, canonical columns first, then free attributes
    result.rejections     # one Rejection per bad row, naming row, field(s) and reason(s)

``read_table`` picks the format from the extension: CSV (``.csv``, ``.csv.gz``), JSON lines
(``.jsonl``, ``.jsonl.gz``, ``.json``) or Parquet (``.parquet``, ``.pq``). ``validate`` checks
a DataFrame against the contract in :mod:`graph.contracts` with whole-column pandas operations
(150k rows in well under a second) and is what every adapter goes through.

Rules: required fields present; numbers numeric and finite; prices > 0; cost, shipping,
quantity and rating_count >= 0; ratings within 0-5; currency an ISO 4217 code (empty ->
``default_currency``); dates parseable (written back as ISO ``YYYY-MM-DD``); no duplicate
keys (product_id for products, review_id for reviews, product/competitor/date for offers) —
the first occurrence is kept and each later one is rejected, naming the first row and the
fields that conflict. A row with several problems gives one Rejection listing them all.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from graph.contracts import (
    COLUMNS,
    CURRENCIES,
    FREE_TEXT_FIELDS,
    ID_FIELDS,
    MAX_COUNT,
    MAX_PRICE,
    MULTILINE,
    NUMERIC,
    REQUIRED,
    TEXT_LIMITS,
    Catalog,
    Rejection,
    TableKind,
    clean_text,
    id_problem,
    text_problem,
)

# Text columns of the contracts (everything canonical that is neither numeric nor special).
TEXT_COLUMNS: dict[str, list[str]] = {
    "products": ["product_id", "title", "description", "category_path", "brand", "condition",
                 "currency", "source"],
    "reviews": ["product_id", "review_id", "title", "text", "source"],
    "offers": ["product_id", "competitor", "currency", "observed_at", "url", "source"],
    "sales": ["product_id", "date", "source"],
}
DATE_COLUMNS: dict[str, list[str]] = {"offers": ["observed_at"], "sales": ["date"]}
# Lower bounds: (column, bound, strict). Strict bounds reject equality too (a price of 0).
# Ratings have their own 0-5 range check.
LOWER_BOUNDS: dict[str, list[tuple[str, float, bool]]] = {
    "products": [("price", 0.0, True), ("cost", 0.0, False), ("rating_count", 0.0, False)],
    "reviews": [],
    "offers": [("price", 0.0, True), ("shipping", 0.0, False)],
    "sales": [("price", 0.0, True), ("quantity", 0.0, False)],
}
RATING_MAX = 5.0
# Upper bounds shared with curation and the API (graph.contracts): beyond them, arithmetic on
# prices and counts stops being meaningful (1e18 reviews would move a price 4x).
UPPER_BOUNDS: dict[str, list[tuple[str, float]]] = {
    "products": [("price", MAX_PRICE), ("cost", MAX_PRICE), ("rating_count", MAX_COUNT)],
    "reviews": [],
    "offers": [("price", MAX_PRICE), ("shipping", MAX_PRICE)],
    "sales": [("price", MAX_PRICE), ("quantity", MAX_COUNT)],
}
# Key columns for duplicate detection; sales have none (two sales on one day are normal).
DUPLICATE_KEYS: dict[str, list[str]] = {
    "products": ["product_id"],
    "reviews": ["product_id", "review_id"],  # one review may sit on several variants
    "offers": ["product_id", "competitor", "observed_at"],
}
# Cells treated as empty in numeric columns (spreadsheets write these for "no value").
_NA_TOKENS = ["", "nan", "none", "null", "na", "n/a", "-"]
_TRUE = {"true", "1", "yes", "y", "t"}


@dataclass
class LoadResult:
    """Accepted rows of one table and the rejections found while validating it."""

    kind: str
    frame: pd.DataFrame
    rejections: list[Rejection] = field(default_factory=list)
    file: str = "<frame>"
    # 1-based data row in ``file`` of each accepted row, for checks made after validation
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))

    @property
    def n_accepted(self) -> int:
        return len(self.frame)

    @property
    def n_rejected(self) -> int:
        return len(self.rejections)


# --------------------------------------------------------------------------- reading files

def _suffix(path: Path) -> str:
    name = path.name.lower()
    for ext in (".csv.gz", ".jsonl.gz", ".json.gz", ".csv", ".jsonl", ".json", ".parquet",
                ".pq"):
        if name.endswith(ext):
            return ext
    raise ValueError(f"{path}: unknown table format; expected .csv, .csv.gz, .jsonl, .json "
                     f"or .parquet")


# pandas < 3 turns "date"/"*_at" columns into datetimes unless told not to; pandas 3 warns
# about the keyword and does not need it.
_JSON_KW = {"dtype": False, **({} if int(pd.__version__.split(".")[0]) >= 3
                               else {"convert_dates": False})}


def _read_jsonl(path: Path) -> pd.DataFrame:
    try:  # pyarrow is ~2x faster but refuses a column that mixes numbers and text
        from pyarrow import json as pajson

        return pajson.read_json(path).to_pandas()
    except Exception:  # noqa: BLE001 - fall back to pandas, then to a line-by-line scan
        pass
    try:
        return pd.read_json(path, lines=True, **_JSON_KW)
    except ValueError:
        pass
    # pandas does not say which line is broken; find it so the error can name it.
    import gzip

    opener = gzip.open if path.name.lower().endswith(".gz") else open
    records = []
    with opener(path, "rt", encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}: line {lineno}: invalid JSON ({exc.msg})") from None
            if not isinstance(obj, dict):
                raise ValueError(f"{path}: line {lineno}: expected a JSON object per line")
            records.append(obj)
    return pd.DataFrame.from_records(records)


def _read_csv(path: Path) -> pd.DataFrame:
    """All cells as text, only empty ones missing. pyarrow's reader is 2-3x faster; pandas'
    own parser is the fallback because its errors name the broken line."""
    try:
        import csv
        import gzip

        from pyarrow import csv as pacsv

        opener = gzip.open if path.name.lower().endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8-sig", newline="") as fh:
            header = next(csv.reader(fh))
        if len(set(header)) != len(header) or any(not h.strip() for h in header):
            raise ValueError("header needs pandas' handling")
        table = pacsv.read_csv(
            path,
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={h: "string" for h in header}, null_values=[""],
                strings_can_be_null=True, quoted_strings_can_be_null=True))
        return table.to_pandas(types_mapper=lambda t: pd.StringDtype(na_value=np.nan))
    except Exception:  # noqa: BLE001 - any trouble: the slower parser reports it properly
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV / JSONL / Parquet table as a DataFrame (no validation).

    CSV cells are read as text (only empty cells are missing) so that identifiers keep their
    leading zeros and ``validate`` can say exactly which value was not a number.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such file")
    ext = _suffix(p)
    if ext.startswith(".csv"):
        frame = _read_csv(p)
    elif ext.startswith(".json"):
        with open(p, "rb") as fh:
            head = fh.read(4096).lstrip()
        if ext == ".json" and head[:1] == b"[":  # a JSON array rather than JSON lines
            frame = pd.read_json(p, **_JSON_KW)
        else:
            frame = _read_jsonl(p)
    else:
        frame = pd.read_parquet(p)
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


# --------------------------------------------------------------------------- column cleaning

def _repaired(s: pd.Series) -> pd.Series:
    """Free text with its C1 controls repaired (graph.contracts.clean_text), before it is
    stripped: str.strip() takes NEL (U+0085) for a space, the API and curation do not."""
    if s.dtype == object or isinstance(s.dtype, pd.StringDtype):
        return s.map(clean_text, na_action="ignore")
    return s


def _text(s: pd.Series) -> pd.Series:
    """Strings, stripped, with blanks as missing. Integer-valued floats lose their '.0'."""
    if pd.api.types.is_float_dtype(s.dtype):
        whole = s.dropna()
        values = whole.to_numpy()
        if len(whole) and np.all(np.mod(values, 1) == 0) and np.all(np.abs(values) < 2**53):
            s = s.astype("Int64")
    present = s.notna()
    if not present.any():
        return pd.Series([None] * len(s), index=s.index, dtype="object")
    if not isinstance(s.dtype, pd.StringDtype):  # numbers, mixed objects from JSON/Parquet
        s = s.astype("object").where(present)
        s = s.map(lambda v: v if isinstance(v, str) else str(v), na_action="ignore")
        s = s.astype("str")
    out = s.str.strip()
    return out.where(out.notna() & (out != ""))


def _number(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """(float values, mask of cells that were given but are not numbers)."""
    if pd.api.types.is_bool_dtype(s.dtype):
        s = s.astype(float)
    if pd.api.types.is_numeric_dtype(s.dtype):
        values = s.astype(float)
        return values, np.zeros(len(s), dtype=bool)
    raw = _text(s)
    blank = raw.isna() | raw.str.lower().isin(_NA_TOKENS)
    values = pd.to_numeric(raw.where(~blank), errors="coerce").astype(float)
    bad = (~blank & values.isna()).to_numpy()
    return values, bad


def _date(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """(ISO date strings, mask of cells that were given but are not dates)."""
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        out = s.dt.strftime("%Y-%m-%d")
        return out.where(s.notna()), np.zeros(len(s), dtype=bool)
    raw = _text(s)
    given = raw.notna()
    parsed = pd.to_datetime(raw, errors="coerce", format="ISO8601", utc=True)
    retry = given & parsed.isna()
    if retry.any():  # rarer layouts ("March 5, 2023", "2023/03/05 10:00") only where needed
        parsed.loc[retry] = pd.to_datetime(raw[retry], errors="coerce", format="mixed",
                                           utc=True)
    out = parsed.dt.strftime("%Y-%m-%d").where(parsed.notna())
    return out, (given & parsed.isna()).to_numpy()


def _bool(s: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(s.dtype):
        return s.astype(bool)
    if pd.api.types.is_numeric_dtype(s.dtype):
        return s.fillna(0).astype(bool)
    return _text(s).str.lower().isin(_TRUE).astype(bool)


def _maybe_numeric(s: pd.Series) -> pd.Series:
    """Free attributes read as text become numbers when every given value is one; dates
    that a reader typed (pyarrow JSON, Parquet) become ISO text, as they are in a CSV."""
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        return s.dt.strftime("%Y-%m-%dT%H:%M:%S").where(s.notna())
    if isinstance(s.dtype, pd.StringDtype):
        pass
    elif pd.api.types.is_object_dtype(s.dtype):
        if not s.map(lambda v: isinstance(v, str) or v is None or v != v).all():
            return s  # lists, dicts, numbers mixed in (JSON): leave as they came
    else:
        return s
    values, bad = _number(s)
    if bad.any() or values.notna().sum() == 0:
        return s
    return values


def _fmt(v: object) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return repr(v) if isinstance(v, str) else str(v)


# --------------------------------------------------------------------------- validation

class _Problems:
    """Collects (row position -> [(field, reason)]) while the columns are checked."""

    def __init__(self, n: int):
        self.bad = np.zeros(n, dtype=bool)
        self.by_row: dict[int, list[tuple[str, str]]] = {}

    def add(self, mask: np.ndarray, fld: str, reasons: Sequence[str] | str) -> None:
        idx = np.flatnonzero(mask)
        if not len(idx):
            return
        self.bad[idx] = True
        if isinstance(reasons, str):
            reasons = [reasons] * len(idx)
        for i, reason in zip(idx.tolist(), reasons):
            self.by_row.setdefault(i, []).append((fld, reason))


def validate(frame: pd.DataFrame, kind: TableKind, file: str = "<frame>", *,
             default_currency: str | None = None,
             rows: Sequence[int] | np.ndarray | None = None) -> LoadResult:
    """Check ``frame`` against the ``kind`` contract; return accepted rows and rejections.

    ``rows`` gives each row's 1-based data row in ``file`` when the frame was derived from a
    file with a different layout (an adapter that splits or reshapes rows); default 1..n.
    Unknown columns are kept as free attributes after the canonical ones.
    """
    if kind not in COLUMNS:
        raise ValueError(f"unknown table kind {kind!r}; expected one of {sorted(COLUMNS)}")
    if default_currency is not None and default_currency.upper() not in CURRENCIES:
        raise ValueError(f"default currency {default_currency!r} is not an ISO 4217 code")
    df = frame.reset_index(drop=True).copy()
    df.columns = [str(c).strip() for c in df.columns]
    if df.columns.duplicated().any():
        dup = sorted(set(df.columns[df.columns.duplicated()]))
        raise ValueError(f"{file}: duplicate column(s) {dup}")
    missing_cols = [c for c in REQUIRED[kind] if c not in df.columns]
    if missing_cols and len(df):
        raise ValueError(f"{file}: {kind} table has no {', '.join(missing_cols)} column "
                         f"(required); columns found: {list(df.columns)}")
    n = len(df)
    rownum = np.arange(1, n + 1) if rows is None else np.asarray(rows, dtype=int)
    if len(rownum) != n:
        raise ValueError(f"rows has {len(rownum)} entries for {n} rows")
    for c in COLUMNS[kind]:
        if c not in df.columns:
            df[c] = None
    problems = _Problems(n)

    for c in TEXT_COLUMNS[kind]:
        if c not in DATE_COLUMNS.get(kind, []):
            df[c] = _text(_repaired(df[c]) if c in FREE_TEXT_FIELDS else df[c])
    for c, limit in TEXT_LIMITS[kind].items():  # the limits curation and the API apply too
        s = df[c]
        text = s.notna().to_numpy() & s.map(lambda v: isinstance(v, str)).to_numpy()
        if text.any():
            why = s[text].map(lambda v: id_problem(v, c) if c in ID_FIELDS
                              else text_problem(v, c, limit, multiline=c in MULTILINE))
            bad = np.zeros(len(s), dtype=bool)
            bad[np.flatnonzero(text)] = why.notna().to_numpy()
            problems.add(bad, c, why.dropna().tolist())
    for c in REQUIRED[kind]:
        if c in NUMERIC[kind] or c in DATE_COLUMNS.get(kind, []):
            continue  # their own checks below say "missing" too
        problems.add(df[c].isna().to_numpy(), c, f"missing {c}")

    for c in NUMERIC[kind]:
        raw = df[c]
        values, bad = _number(raw)
        if bad.any():
            problems.add(bad, c, [f"non-numeric {c}: {_fmt(v)}" for v in raw[bad]])
        inf = np.isinf(values.to_numpy())
        problems.add(inf, c, f"{c} is not finite")
        values = values.where(~inf)
        if c in REQUIRED[kind]:
            problems.add((values.isna().to_numpy() & ~bad & ~inf), c, f"missing {c}")
        df[c] = values
    for c, bound, strict in LOWER_BOUNDS[kind]:
        v = df[c].to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            neg = v < bound
            problems.add(neg, c, [f"negative {c}: {_fmt(x)}" for x in v[neg]])
            if strict:
                problems.add(v == bound, c, f"{c} must be > 0, got 0")
    for c, bound in UPPER_BOUNDS[kind]:
        v = df[c].to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            high = v > bound
        problems.add(high, c, [f"{c} {_fmt(x)} is above the limit {bound:g}" for x in v[high]])
    if "rating" in NUMERIC[kind]:
        v = df["rating"].to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            high = (v > RATING_MAX) | (v < 0)
        problems.add(high, "rating",
                     [f"rating out of range 0-5: {_fmt(x)}" for x in v[high]])

    if "currency" in df.columns and "currency" in COLUMNS[kind]:
        cur = df["currency"].str.upper()
        if default_currency:
            cur = cur.fillna(default_currency.upper())
        unknown = (cur.notna() & ~cur.isin(list(CURRENCIES))).to_numpy()
        problems.add(unknown, "currency",
                     [f"unknown currency code {_fmt(v)}" for v in df["currency"][unknown]])
        df["currency"] = cur

    for c in DATE_COLUMNS.get(kind, []):
        raw = df[c]
        values, bad = _date(raw)
        problems.add(bad, c, [f"unparseable {c}: {_fmt(v)}" for v in _text(raw)[bad]])
        if c in REQUIRED[kind]:
            problems.add(values.isna().to_numpy() & ~bad, c, f"missing {c}")
        df[c] = values

    if kind == "products":
        df["brand_inferred"] = _bool(df["brand_inferred"])
    df["source"] = df["source"].fillna(file)
    extras = [c for c in df.columns if c not in COLUMNS[kind]]
    for c in extras:
        df[c] = _maybe_numeric(df[c])

    if kind in DUPLICATE_KEYS:
        _check_duplicates(df, kind, problems, rownum)

    bad_pos = sorted(problems.by_row)
    pids = df["product_id"].iloc[bad_pos].tolist()
    rejections = [
        Rejection(file=file, row=int(rownum[i]),
                  field=",".join(dict.fromkeys(f for f, _ in problems.by_row[i])),
                  reason="; ".join(r for _, r in problems.by_row[i]),
                  product_id=_pid(pid), table=kind)
        for i, pid in zip(bad_pos, pids)
    ]
    accepted = df.loc[~problems.bad, COLUMNS[kind] + extras].reset_index(drop=True)
    return LoadResult(kind=kind, frame=accepted, rejections=rejections, file=file,
                      rows=rownum[~problems.bad])


def _pid(v: object) -> str | None:
    return None if v is None or (isinstance(v, float) and v != v) else str(v)


def _same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    eq = np.asarray(a == b, dtype=bool)
    return eq | (pd.isna(a) & pd.isna(b))


def _check_duplicates(df: pd.DataFrame, kind: str, problems: _Problems,
                      rownum: np.ndarray) -> None:
    keys = DUPLICATE_KEYS[kind]
    ok = ~problems.bad & df[keys[0]].notna().to_numpy()
    if kind == "reviews":  # reviews without an id cannot be told apart: never duplicates
        ok &= df["review_id"].notna().to_numpy()
    if not ok.any():
        return
    sub = df.loc[ok, keys]
    group = sub.groupby(keys, sort=False, dropna=False).ngroup()
    pos = pd.Series(np.flatnonzero(ok), index=sub.index)
    first = pos.groupby(group.to_numpy()).transform("first")
    dup_mask = (pos != first).to_numpy()
    if not dup_mask.any():
        return
    dup_pos = pos.to_numpy()[dup_mask]
    first_pos = first.to_numpy()[dup_mask]
    compare = [c for c in df.columns if c != "source"]
    differs: dict[str, np.ndarray] = {}
    for c in compare:
        col = df[c]
        differs[c] = ~_same(col.iloc[dup_pos].to_numpy(dtype=object),
                            col.iloc[first_pos].to_numpy(dtype=object))
    key_name = "/".join(keys)
    reasons = []
    for j, fp in enumerate(first_pos):
        conflict = [c for c in compare if differs[c][j]]
        if conflict:
            reasons.append(f"duplicate {key_name} of row {int(rownum[fp])} with conflicting "
                           f"{', '.join(conflict)}; first occurrence kept")
        else:
            reasons.append(f"exact duplicate of row {int(rownum[fp])}; first occurrence kept")
    mask = np.zeros(len(df), dtype=bool)
    mask[dup_pos] = True
    # _Problems.add walks the mask in row order; dup_pos is already ascending.
    order = np.argsort(dup_pos)
    problems.add(mask, keys[0], [reasons[k] for k in order])


def load_table(path: str | Path, kind: TableKind, *,
               default_currency: str | None = None) -> LoadResult:
    """Read and validate one canonical table file."""
    p = Path(path)
    return validate(read_table(p), kind, file=p.name, default_currency=default_currency)


def to_catalog(results: Sequence[LoadResult]) -> Catalog:
    """Assemble validated tables into a Catalog, rejecting rows that point at no product.

    Reviews, offers and sales must name a product of the same catalog (an accepted one): a
    graph edge needs both ends, and a row whose product was rejected cannot stand alone.
    """
    tables: dict[str, list[pd.DataFrame]] = {k: [] for k in COLUMNS}
    rejections: list[Rejection] = []
    for r in results:
        rejections.extend(r.rejections)
    known = pd.Index(pd.concat([r.frame["product_id"] for r in results if r.kind == "products"]
                               or [pd.Series([], dtype="object")]).unique())
    for r in results:
        frame = r.frame
        if r.kind != "products" and len(frame):
            orphan = ~frame["product_id"].isin(known).to_numpy()
            if orphan.any():
                rejections.extend(
                    Rejection(file=r.file, row=int(row), field="product_id",
                              reason="product_id names no product in the catalog "
                                     "(missing or rejected)", product_id=str(pid), table=r.kind)
                    for row, pid in zip(r.rows[orphan], frame["product_id"][orphan]))
                frame = frame.loc[~orphan].reset_index(drop=True)
        tables[r.kind].append(frame)
    catalog = Catalog(rejections=rejections)
    for kind, frames in tables.items():
        frames = [f for f in frames if len(f)]
        if frames:
            setattr(catalog, kind, frames[0] if len(frames) == 1
                    else pd.concat(frames, ignore_index=True))
    return catalog


REPORT_COLUMNS = ["table", "file", "row", "field", "reason", "product_id"]


def rejection_counts(rejections: Sequence[Rejection]) -> dict[str, int]:
    """Rejected rows per table kind ("other" for rejections that name none)."""
    counts = {k: 0 for k in COLUMNS}
    for r in rejections:
        counts[r.table or "other"] = counts.get(r.table or "other", 0) + 1
    return counts


def write_rejections(rejections: Sequence[Rejection], path: str | Path) -> Path:
    """Write the rejections as CSV (header only when there are none) and return the path."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    rows = [{k: r.as_dict().get(k) for k in REPORT_COLUMNS} for r in rejections]
    pd.DataFrame(rows, columns=REPORT_COLUMNS).to_csv(p, index=False)
    return p
