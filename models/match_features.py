"""Pair features for product matching: is listing A the same product as listing B?

Use::

    from models.match_features import Listing, PairFeaturizer
    a = [Listing(title="centon 16 gb datastick sport usb 2.0 flash drive", brand="centon",
                 model_number="dsw16gb-001", price=34.74)]
    b = [Listing(title="Centon DataStick Sport 16GB USB Flash Drive DSW16GB-001", price=29.0)]
    fz = PairFeaturizer().fit([x.text() for x in a + b])  # word IDF from the texts
    X = fz.transform(a, b)                 # (n_pairs, len(FEATURES)) float32, NaN = unknown

Why these features: titles of one product differ in word order, abbreviations and extra
marketing words, while different products often differ in one token only: a model number
("dsw16gb-001" vs "-003"), a size or pack count ("16 gb" vs "32 gb", "pack of 2"), a colour.
Sentence embeddings and n-gram cosines see the overlap but blur the one token that decides;
these features name it: model codes shared or in conflict, quantities with the same unit and
a different value, colour words present on both sides and disjoint, rare words on one side
only, and the price ratio (a bundle or a different capacity costs differently).

The embedding and cross-encoder scores are added by :class:`models.matcher.PairMatcher`; this
module is pure text arithmetic (no model weights). Word IDF is the only learned state, saved
as JSON by :meth:`PairFeaturizer.to_dict`.
"""
from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from rapidfuzz import fuzz
from rapidfuzz.distance import Levenshtein

# ----------------------------------------------------------------------------- listings


@dataclass(frozen=True)
class Listing:
    """One product listing as the matcher sees it (a competitor's or a catalog product)."""

    title: str
    brand: str | None = None
    model_number: str | None = None
    category: str | None = None
    description: str | None = None
    price: float | None = None
    currency: str | None = None

    def text(self, description_words: int = 0) -> str:
        """Title, then brand and model number when the title lacks them (and optionally the
        first ``description_words`` words of the description): the text compared and encoded."""
        parts = [self.title]
        low = normalize(self.title)
        for extra in (self.brand, self.model_number):
            if extra and normalize(extra) not in low:
                parts.append(extra)
        if description_words and self.description:
            parts.append(" ".join(self.description.split()[:description_words]))
        return " ".join(p for p in parts if p)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_mapping(cls, m: Mapping) -> Listing:
        def s(k: str) -> str | None:
            v = m.get(k)
            if v is None or (isinstance(v, float) and math.isnan(v)):
                return None
            v = str(v).strip()
            return v or None

        price = m.get("price")
        try:
            price = float(price) if price is not None and str(price).strip() else None
        except (TypeError, ValueError):
            price = None
        if price is not None and not (math.isfinite(price) and price > 0):
            price = None
        return cls(title=s("title") or "", brand=s("brand"), model_number=s("model_number"),
                   category=s("category"), description=s("description"), price=price,
                   currency=s("currency"))


# ----------------------------------------------------------------------------- text parts

_WORD = re.compile(r"[a-z0-9]+")
_CHUNK = re.compile(r"[a-z0-9]+(?:[-./][a-z0-9]+)*")
_SEPS = re.compile(r"[-./]")
# number + unit, e.g. "16 gb", "16gb", "1.5m", "52''", "pack of 2" (handled apart)
_UNITS = {
    "gb": "gb", "gig": "gb", "tb": "tb", "mb": "mb", "mp": "mp", "megapixel": "mp",
    "megapixels": "mp", "hz": "hz", "khz": "khz", "mhz": "mhz", "ghz": "ghz", "w": "w",
    "watt": "w", "watts": "w", "v": "v", "volt": "v", "mah": "mah", "mm": "mm", "cm": "cm",
    "m": "m", "meter": "m", "metre": "m", "ft": "ft", "feet": "ft", "foot": "ft", "in": "in",
    "inch": "in", "inches": "in", "\"": "in", "''": "in", "'": "in", "lb": "lb", "lbs": "lb",
    "pound": "lb", "oz": "oz", "ounce": "oz", "kg": "kg", "g": "g", "gm": "g", "gram": "g",
    "grams": "g", "ml": "ml", "l": "l", "ltr": "l", "litre": "l", "liter": "l", "x": "x",
    "pc": "pcs", "pcs": "pcs", "piece": "pcs", "pieces": "pcs", "pack": "pack", "pk": "pack",
    "p": "p", "k": "k", "mbps": "mbps", "gbps": "gbps", "rpm": "rpm", "dpi": "dpi",
    "btu": "btu", "kw": "kw", "cu": "cu", "qt": "qt", "gal": "gal", "ah": "ah",
}
_QTY = re.compile(
    r"(?<![a-z0-9.])(\d+(?:\.\d+)?)\s?(" + "|".join(sorted(map(re.escape, _UNITS), key=len,
                                                            reverse=True)) + r")(?![a-z0-9])")
_PACK = re.compile(r"(?:pack|set|box|case)\s+of\s+(\d+)|(\d+)\s*-?\s*(?:pack|pk|count|ct)\b")
_COLOURS = frozenset("""black white silver grey gray red blue green yellow orange pink purple
    violet brown beige gold golden rose navy teal maroon cyan magenta ivory cream khaki olive
    bronze copper charcoal graphite titanium turquoise lavender mint coral burgundy peach
    transparent clear multicolor multicolour""".split())
_GRAY = {"gray": "grey", "golden": "gold", "multicolour": "multicolor"}
# Words that name a variant of one product line: two listings that differ in them are two
# products ("office home" vs "office professional", "iphone 13" vs "iphone 13 pro").
_VARIANT = frozenset("""pro plus max mini lite ultra deluxe premium standard professional
    home student academic upgrade basic enterprise business personal family edition
    refurbished renewed kids junior xl xxl""".split())
_PLATFORMS = {"win": "windows", "windows": "windows", "pc": "windows", "mac": "mac",
              "macintosh": "mac", "osx": "mac", "linux": "linux", "android": "android",
              "ios": "ios"}
_VERSION = re.compile(r"(?<![a-z0-9.])(?:v|ver|version\s?)?(\d{1,2}\.\d{1,2}|(?:19|20)\d{2})"
                      r"(?![0-9])")
_STOP = frozenset("""a an and the for with of to in on by at from or is as new set
    compatible""".split())


def normalize(text: object) -> str:
    """Casefolded NFKC text with typographic quotes and dashes made plain."""
    if text is None:
        return ""
    s = unicodedata.normalize("NFKC", str(text)).casefold()
    return (s.replace("\u2019", "'").replace("\u201d", '"').replace("\u2033", '"')
            .replace("\u2013", "-").replace("\u2014", "-"))


def words(text: str) -> list[str]:
    return _WORD.findall(text)


def quantities(text: str) -> set[tuple[str, str]]:
    """{(unit, value)}: sizes, capacities, counts ("16 gb" -> ("gb", "16"))."""
    out = set()
    for num, unit in _QTY.findall(text):
        out.add((_UNITS[unit], _num(num)))
    for a, b in _PACK.findall(text):
        out.add(("pack", _num(a or b)))
    return out


def _num(s: str) -> str:
    f = float(s)
    return str(int(f)) if f.is_integer() else f"{f:g}"


def model_codes(text: str, extra: str | None = None) -> set[str]:
    """Tokens that look like model numbers: letters and digits mixed (>= 4 characters once
    dashes and dots are dropped: "dsw16gb-001" -> "dsw16gb001"), or long digit runs (UPCs, part
    numbers); a bare quantity ("16gb", "1080p") is not one."""
    out = set()
    chunks = _CHUNK.findall(text)
    if extra:
        chunks += _CHUNK.findall(normalize(extra))
    for ch in chunks:
        # "/" separates alternatives ("11/10/8.1"); "-" and "." sit inside one code
        # ("dsw16gb-001" is one code: its "dsw16gb" prefix is a series shared by variants)
        for cand in ch.split("/"):
            c = _SEPS.sub("", cand)
            if len(c) < 4:
                continue
            has_d = any(x.isdigit() for x in c)
            has_a = any(x.isalpha() for x in c)
            if has_d and has_a:
                if _QTY.fullmatch(cand) or re.fullmatch(r"\d+(?:\.\d+)?[a-z]{1,3}", c) and \
                        re.sub(r"[\d.]+", "", c) in _UNITS:
                    continue
                out.add(c)
            elif has_d and len(c) >= 5 and not has_a:
                out.add(c)
    return out


def colours(toks: Iterable[str]) -> set[str]:
    return {_GRAY.get(t, t) for t in toks if t in _COLOURS}


@dataclass
class _Parsed:
    text: str                # normalised text
    squashed: str            # alphanumerics only (for "is this code inside that text")
    toks: list[str]
    tokset: frozenset[str]
    codes: set[str]
    qty: set[tuple[str, str]]
    numbers: set[str]
    colours: set[str]
    variants: set[str]
    platforms: set[str]
    versions: set[str]
    brand: str
    price: float | None
    currency: str | None


def parse(x: Listing) -> _Parsed:
    text = normalize(x.text())
    toks = [t for t in words(text) if t not in _STOP]
    brand = normalize(x.brand or "").strip()
    codes = model_codes(text, x.model_number)
    return _Parsed(text=text, squashed="".join(words(text)), toks=toks, tokset=frozenset(toks),
                   codes=codes, qty=quantities(text),
                   numbers={t for t in toks if t.isdigit()}, colours=colours(toks),
                   variants={t for t in toks if t in _VARIANT},
                   platforms={_PLATFORMS[t] for t in toks if t in _PLATFORMS},
                   versions=set(_VERSION.findall(text)),
                   brand=" ".join(words(brand)), price=x.price,
                   currency=(x.currency or "").upper() or None)


# ----------------------------------------------------------------------------- features

FEATURES: tuple[str, ...] = (
    "tok_jaccard", "tok_contain_a", "tok_contain_b", "idf_overlap", "idf_missing_a",
    "idf_missing_b", "rare_only_a", "rare_only_b", "fuzz_token_set", "fuzz_partial",
    "prefix_match", "len_ratio",
    "codes_a", "codes_b", "code_shared", "code_in_other", "code_best_sim", "code_conflict",
    "qty_shared", "qty_conflict", "num_jaccard", "num_conflict",
    "colour_shared", "colour_conflict", "variant_diff", "platform_conflict",
    "version_conflict", "brand_known", "brand_equal", "brand_in_other",
    "price_log_ratio", "price_known",
)


class PairFeaturizer:
    """Hand-made similarity features of listing pairs (see the module docstring).

    Parameters
    ----------
    rare_idf: a word at least this rare (IDF) counts as "rare" for the one-side-only features.
    """

    def __init__(self, rare_idf: float = 4.0) -> None:
        self.rare_idf = float(rare_idf)

    def fit(self, texts: Iterable[str]) -> PairFeaturizer:
        """Word document frequencies of ``texts`` (both shops' listings, or the catalog)."""
        df: Counter = Counter()
        n = 0
        for t in texts:
            n += 1
            df.update(set(words(normalize(t))))
        self.n_docs_ = n
        self.df_ = dict(df)
        return self

    def idf(self, tok: str) -> float:
        return math.log((1 + self.n_docs_) / (1 + self.df_.get(tok, 0))) + 1.0

    def transform(self, a: Sequence[Listing], b: Sequence[Listing]) -> np.ndarray:
        """Features of the pairs (a[i], b[i]): (n, len(FEATURES)) float32."""
        if len(a) != len(b):
            raise ValueError(f"transform: {len(a)} left listings but {len(b)} right ones")
        memo: dict[int, _Parsed] = {}

        def get(x: Listing) -> _Parsed:
            k = id(x)
            if k not in memo:
                memo[k] = parse(x)
            return memo[k]

        out = np.full((len(a), len(FEATURES)), np.nan, dtype=np.float32)
        for i, (x, y) in enumerate(zip(a, b)):
            out[i] = self._pair(get(x), get(y))
        return out

    def transform_parsed(self, pairs: Iterable[tuple[_Parsed, _Parsed]]) -> np.ndarray:
        rows = [self._pair(p, q) for p, q in pairs]
        return np.asarray(rows, dtype=np.float32).reshape(len(rows), len(FEATURES))

    def to_dict(self) -> dict:
        return {"rare_idf": self.rare_idf, "n_docs": self.n_docs_, "df": self.df_}

    @classmethod
    def from_dict(cls, d: Mapping) -> PairFeaturizer:
        fz = cls(rare_idf=d["rare_idf"])
        fz.n_docs_ = int(d["n_docs"])
        fz.df_ = {str(k): int(v) for k, v in d["df"].items()}
        return fz

    # ------------------------------------------------------------------ one pair
    def _pair(self, p: _Parsed, q: _Parsed) -> list[float]:
        nan = float("nan")
        A, B = p.tokset, q.tokset
        inter, union = A & B, A | B
        jac = len(inter) / len(union) if union else 0.0
        ca = len(inter) / len(A) if A else 0.0
        cb = len(inter) / len(B) if B else 0.0
        idf = self.idf
        w_union = sum(idf(t) for t in union) or 1.0
        only_a, only_b = A - B, B - A
        idf_overlap = sum(idf(t) for t in inter) / w_union
        miss_a = sum(idf(t) for t in only_a) / w_union
        miss_b = sum(idf(t) for t in only_b) / w_union
        # A rare word on one side only, not merely split differently on the other
        rare_a = sum(1 for t in only_a if idf(t) >= self.rare_idf and t not in q.squashed)
        rare_b = sum(1 for t in only_b if idf(t) >= self.rare_idf and t not in p.squashed)
        f_set = fuzz.token_set_ratio(p.text, q.text) / 100.0
        f_part = fuzz.partial_ratio(p.text, q.text) / 100.0 if p.text and q.text else 0.0
        prefix = 0.0
        for s, t in zip(p.toks[:4], q.toks[:4]):
            if s != t:
                break
            prefix += 0.25
        la, lb = len(p.toks), len(q.toks)
        len_ratio = min(la, lb) / max(la, lb) if la and lb else 0.0

        # model numbers
        shared = p.codes & q.codes
        in_other = any(c in q.squashed for c in p.codes) or any(c in p.squashed for c in q.codes)
        best = 0.0
        if p.codes and q.codes:
            for c in p.codes:
                for d in q.codes:
                    best = max(best, Levenshtein.normalized_similarity(c, d))
        conflict = float(bool(p.codes and q.codes and not shared and not in_other))

        # quantities: same unit, different value is a conflict
        qa = {u: set() for u, _ in p.qty}
        for u, v in p.qty:
            qa[u].add(v)
        qb = {u: set() for u, _ in q.qty}
        for u, v in q.qty:
            qb[u].add(v)
        q_shared = len(p.qty & q.qty)
        q_conf = sum(1 for u in set(qa) & set(qb) if not (qa[u] & qb[u]))
        na, nb = p.numbers, q.numbers
        num_jac = len(na & nb) / len(na | nb) if (na | nb) else nan
        num_conf = float(bool(na and nb and not (na & nb)))
        col_shared = float(bool(p.colours & q.colours))
        col_conf = float(bool(p.colours and q.colours and not (p.colours & q.colours)))

        var_diff = len(p.variants ^ q.variants)
        plat_conf = float(bool(p.platforms and q.platforms and not (p.platforms & q.platforms)))
        ver_conf = float(bool(p.versions and q.versions and not (p.versions & q.versions)))

        # brand: given on either side, or nothing
        brand_known = float(bool(p.brand or q.brand))
        brand_equal = float(bool(p.brand and q.brand and p.brand == q.brand))
        brand_in = float(bool((p.brand and p.brand in q.text) or (q.brand and q.brand in p.text)))

        if p.price and q.price and (p.currency is None or q.currency is None
                                    or p.currency == q.currency):
            pr = abs(math.log(p.price / q.price))
            pk = 1.0
        else:
            pr, pk = nan, 0.0
        return [jac, ca, cb, idf_overlap, miss_a, miss_b, rare_a, rare_b, f_set, f_part, prefix,
                len_ratio, len(p.codes), len(q.codes), float(bool(shared)), float(in_other), best,
                conflict, q_shared, q_conf, num_jac, num_conf, col_shared, col_conf, var_diff, plat_conf,
                ver_conf, brand_known,
                brand_equal, brand_in, pr, pk]
