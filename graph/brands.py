"""Infer a product's brand from its listing title, for data sets that have no brand column.

Use::

    from graph.brands import infer_brand
    infer_brand("boAt Rockerz 450 Bluetooth On Ear Headphones")   # 'boAt'
    infer_brand("(Renewed) Samsung Galaxy M13")                    # 'Samsung'
    infer_brand("Wireless Bluetooth Earphones with Mic")           # None (a description)

Marketplace titles (amazon.in above all) usually start with the brand. The heuristic takes
the first word after skipping words that are never brands (markers such as "(Renewed)",
"New", "Original", "The", audience words such as "Men's", numbers and pack sizes such as
"Pack of 2" or "3pcs"). It knows a short list of multi-word brands ("Tommy Hilfiger",
"Amazon Brand - Solimo" -> "Solimo") and "The ... Company" names, and gives up (None) when
the word it lands on is a product description ("Wireless", "Cotton", "Red"), a placeholder
("Generic") or too short to trust. The brand keeps the title's own casing;
``graph.schema.normalize_name`` makes "BOAT" and "boAt" one brand node. Brands found this
way are flagged ``brand_inferred=True``.

Measured on amazon_uk_toys (brands given): where the title starts with the brand, the guess
is that brand (or its first word) for 95%, None for 4%; where it does not (half of those
titles), 86% get a wrong guess — so adapters use a data set's own brands when it has them.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

# Words that come before the brand, never are it. Matched case-insensitively.
_LEADING = frozenset("""
(renewed) [renewed] renewed refurbished (refurbished) [new] (new) new brand-new original
genuine authentic official latest the a an men's mens men man's women's womens women woman's
ladies ladies' girls girl's girls' boys boy's boys' kids kid's kids' children's childrens
unisex pack set combo pair of lot bundle x ×
""".split())
_LEADING_PHRASES = (("brand", "new"), ("new", "&", "improved"))

# Words a title may start with that describe the product instead of naming its maker.
_DESCRIPTORS = frozenset("""
generic unbranded unbrand non-branded nonbranded no-brand branded local
red blue black white green yellow pink grey gray silver gold golden rose brown purple orange
beige maroon navy multicolor multicolour multi-color multi-colour multicoloured transparent
cotton leather silicone plastic wooden wood steel stainless metal metallic glass ceramic nylon
polyester silk rubber aluminium aluminum bamboo brass copper iron crystal velvet wool woollen
denim linen jute paper foam fabric
wireless bluetooth usb type-c typec c-type in-ear on-ear over-ear earphones earphone
headphones headphone headset earbuds neckband speaker speakers smart smartwatch watch watches
backpack bag bags car bike bicycle mobile phone laptop tablet charger cable adapter adaptor
portable mini micro electric electronic digital analog analogue automatic manual professional
universal multi multipurpose multi-purpose handmade handcrafted kitchen home office travel
outdoor indoor sports sport fashion fashionable stylish designer luxury premium classic vintage
modern traditional ethnic printed soft hard heavy light lightweight large small big high super
ultra extra pure natural organic fresh fast quick power auto magnetic waterproof rechargeable
foldable adjustable reusable disposable decorative creative cute funny beautiful elegant
kit toy toys game games gift gifts christmas xmas birthday party wedding diy led hd 4k full
dual double single triple round square heavy-duty compatible replacement spare accessories
accessory cover case screen tempered protector shoes shoe sneakers sandals slippers shirt
t-shirt tshirt jeans dress saree kurta kurti socks cap hat ring necklace earrings bracelet
pendant bottle box storage organizer organiser holder stand mat rug curtain pillow bedsheet
towel lamp lights bulb fan heater cooler mixer grinder cooker tool tools pen notebook model
baby infant toddler newborn kid child adult teen women men unisex-adult unisex-child girl boy
for with and or in to by from on at
hot best top cool amazing awesome perfect great good quality deluxe royal special
american indian european british english chinese japanese german french italian
stainless-steel 2-in-1 3-in-1 all-in-one
""".split())

# Brands of more than one word seen in the bundled data sets. The title's own spelling is
# returned, so "CP PLUS" and "CP Plus" both come back as written.
_MULTIWORD_NAMES = """
Amazon Basics|Kuber Industries|Daniel Klein|Daniel Wellington|Neska Moda|CP Plus|Lucky Brand
Red Tape|Red Chief|Orient Electric|Satya Paul|Tommy Hilfiger|Mee Mee|Electronic Spices
Carlton London|Michael Kors|Under Armour|Van Heusen|Calvin Klein|Watch City|Vector X
United Colors of Benetton|Pierre Cardin|Yellow Chimes|French Connection|F Gear
American Tourister|Planet Wear|Star Weaves|New Balance|Allen Solly|Peter England
Louis Philippe|Park Avenue|Wild Stone|Hush Puppies|Lino Perros|Blue Star|Urban Platter
The Body Shop|The Man Company|The Derma Co|The Furnishing Tree|The Souled Store
The Shopoholic|The Tinted Story|The Boo Boo Club|Global Desi|Jam & Honey|Western Digital
Home Centre|Sleepy Cat|Swadesi Stuff|Kiarvi Gallery|Label Ritu|Comet Busters|US Polo
U.S. Polo Assn.|Bed Bath & Beyond|Urban Forest|Royal Enfield|Blue Heaven|Lakme Absolute
Learning Curve|Power Trains|Train Tech|Graham Farish|Hot Wheels|Melissa & Doug
Sylvanian Families|Fisher Price|Thomas & Friends|Baby Born|Green Toys
Wow Skin Science|Forest Essentials|Pigeon by Stovekraft
"""

_AMAZON_HOUSE = re.compile(r"^amazon\s+brand\s*[-–—:]\s*", re.IGNORECASE)
_STRIP_MULTI = "®™©\ufffd,;:|"  # keeps the dots of "U.S. Polo Assn."
_STRIP = "®™©\ufffd*\"'“”‘’«»,;:|/\\-–—.!?()[]{}【】"
# Numbers, sizes and pack counts: "2", "1.5", "3pcs", "2-pack", "x2", "500ml", "10-in-1".
_SIZE = re.compile(
    r"^(x?\d+([.,/]\d+)*(x\d+)?[-\s]?(pcs?|pieces?|pack|pk|pks|packs|set|sets|pairs?|"
    r"x|ml|l|ltr|litres?|liters?|g|gm|gms|grams?|kg|kgs|mm|cm|m|inch|inches|in|ft|feet|w|v|"
    r"mah|gb|tb|tc|nos|units?|-in-\d+)?|x\d+)$",
    re.IGNORECASE,
)


def _clean(token: str) -> str:
    return token.strip(_STRIP)


def _key(token: str) -> str:
    return _clean(token).casefold()


_MULTIWORD: dict[str, list[tuple[str, ...]]] = {}
for _name in _MULTIWORD_NAMES.replace("\n", "|").split("|"):
    if _name.strip():
        _words = tuple(_key(w) for w in _name.split())
        _MULTIWORD.setdefault(_words[0], []).append(_words)
for _options in _MULTIWORD.values():
    _options.sort(key=len, reverse=True)  # "United Colors of Benetton" before shorter ones


def _normalize(text: str) -> str:
    # NFKC would spell "™" as "TM" and glue it to the brand ("KAYUTM"); make it "®" first.
    text = text.replace("™", "®").replace("&#39;", "'")
    return unicodedata.normalize("NFKC", text).strip()


def _match_multiword(tokens: list[str], i: int) -> int:
    """Length of the known multi-word brand starting at tokens[i], or 0."""
    options = _MULTIWORD.get(_key(tokens[i]))
    if not options:
        return 0
    keys = tuple(_key(t) for t in tokens[i:i + 5])
    for brand in options:
        if keys[:len(brand)] == brand:
            return len(brand)
    return 0


def _skippable(token: str) -> bool:
    key = _key(token)
    return not key or key in _LEADING or token.casefold() in _LEADING or bool(_SIZE.match(key))


def _brand_word(token: str) -> str | None:
    """The brand a single leading word gives, or None when it is a description."""
    word = _clean(token)
    # A trademark sign glued to a word ("LipiWorld®") marks it as a brand even if it would
    # otherwise read as a description.
    if "®" in token and len(word) >= 2:
        return word
    if len(word) < 2 or not any(ch.isalpha() for ch in word):
        return None
    if word.casefold() in _DESCRIPTORS or _SIZE.match(word):
        return None
    return word


# "The Puppet Company", "The Creativity Hub", "The Souled Store": a "The ..." name that ends
# in a company word is a maker's name, not an article before the brand.
_COMPANY_WORDS = frozenset("company co co. store shop hub club studio house factory "
                           "collection collective project works".split())


def _the_company(tokens: list[str]) -> str | None:
    if len(tokens) < 3 or tokens[0].casefold() != "the":
        return None
    for end in range(2, min(5, len(tokens))):
        if _key(tokens[end]) in _COMPANY_WORDS or tokens[end].casefold() in _COMPANY_WORDS:
            words = tokens[1:end]
            if all(w[:1].isupper() and _clean(w) == w for w in words):
                return " ".join(tokens[:end + 1]).strip(_STRIP_MULTI)
            return None
    return None


def infer_brand(title: str | None) -> str | None:
    """The brand a listing title starts with, or None when the title does not say."""
    if not isinstance(title, str) or not title.strip():
        return None
    text = _normalize(title)
    house = _AMAZON_HOUSE.match(text)
    if house:  # "Amazon Brand - Solimo ..." is sold under the house label after the dash
        text = text[house.end():]
    tokens = text.split()
    company = _the_company(tokens)
    if company:
        return company
    i = 0
    while i < len(tokens):
        n = _match_multiword(tokens, i)
        if n:
            return " ".join(tokens[i:i + n]).strip(_STRIP_MULTI) or None
        phrase = next((p for p in _LEADING_PHRASES
                       if tuple(_key(t) for t in tokens[i:i + len(p)]) == p), None)
        if phrase:
            i += len(phrase)
        elif _skippable(tokens[i]):
            i += 1
        else:
            return _brand_word(tokens[i])
    return None


_FULL = "<full>"  # marker: this first word needs the whole title


def _first_word(first: str, cache: dict[str, str | None]) -> str | None:
    token = _normalize(first)
    simple = (len(token.split()) == 1 and not _skippable(token)
              and _key(token) not in _MULTIWORD and _key(token) != "amazon")
    cache[first] = _brand_word(token) if simple else _FULL
    return cache[first]


def infer_brands(titles: Iterable[str | None]) -> list[str | None]:
    """``infer_brand`` over many titles, fast: most titles are decided by their first word.

    The answer for a title whose first word is not skippable, not the start of a multi-word
    brand and not "Amazon" depends on that word alone, so it is computed once per distinct
    first word (148k amazon.in titles have ~30k); the other titles go through infer_brand.
    """
    titles = titles.tolist() if hasattr(titles, "tolist") else list(titles)
    by_first: dict[str, str | None] = {}
    by_head: dict[str, str | None] = {}
    out: list[str | None] = []
    for title in titles:
        if not isinstance(title, str):
            out.append(None)
            continue
        parts = title.split(None, 1)
        if not parts:
            out.append(None)
            continue
        first = parts[0]
        brand = by_first[first] if first in by_first else _first_word(first, by_first)
        if brand is _FULL:
            # skipping and multi-word matching look at a dozen words at most
            head = " ".join(title.split(None, 12)[:12])
            if head not in by_head:
                by_head[head] = infer_brand(head)
            brand = by_head[head]
        out.append(brand)
    return out

