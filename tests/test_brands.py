"""graph.brands: the brand a listing title starts with, or None when unsure."""
from __future__ import annotations

import pytest

from graph.brands import infer_brand, infer_brands

CASES = [
    # brand first, casing kept
    ("boAt Rockerz 450 Bluetooth On Ear Headphones with Mic", "boAt"),
    ("Samsung Galaxy M13 (Aqua Green, 6GB, 128GB Storage)", "Samsung"),
    ("Wayona Nylon Braided USB to Lightning Fast Charging Cable", "Wayona"),
    ("NEUTRON Analog Silver Dial Women's Watch", "NEUTRON"),
    ("Hornby 2014 Catalogue", "Hornby"),
    ("Fire-Boltt Ninja Call Pro Plus Smart Watch", "Fire-Boltt"),
    # generic leading words skipped
    ("(Renewed) Samsung Galaxy M13", "Samsung"),
    ("New Fastrack Reflex Beat+ Smart Watch", "Fastrack"),
    ("Original Havells Ventilair Exhaust Fan", "Havells"),
    ("Pack of 2 Nike Everyday Socks", "Nike"),
    ("2 x Philips LED Bulb 9W", "Philips"),
    ("3pcs Prestige Kitchen Knife Set", "Prestige"),
    ("The Hamsters Book", "Hamsters"),
    # trademark signs and stray characters are not part of the name
    ("LipiWorld® Red Cotton Dress", "LipiWorld"),
    ("KAYU™ Boys Cotton T-Shirt", "KAYU"),
    ("LUNAGARIYA®, Protective Case", "LUNAGARIYA"),
    ("IndiWeaves\ufffd Boys Cotton Shirt", "IndiWeaves"),
    # multi-word brands
    ("Tommy Hilfiger Analog Black Dial Men's Watch", "Tommy Hilfiger"),
    ("New Balance Men's Arishi v1 Running Shoe", "New Balance"),
    ("Red Tape Men's Sneakers", "Red Tape"),
    ("CP PLUS 2MP Full HD Smart Wi-fi CCTV Camera", "CP PLUS"),
    ("U.S. POLO ASSN. Men's Regular Fit Shirt", "U.S. POLO ASSN."),
    ("The Body Shop Vitamin E Moisture Cream", "The Body Shop"),
    ("The Puppet Company - Finger Puppets - Gorilla", "The Puppet Company"),
    ("The Creativity Hub Rory's Story Cubes", "The Creativity Hub"),
    ("Ty Beanie Baby - Slowpoke", "Ty"),
    ("Amazon Brand - Solimo Back Cover Case for Samsung", "Solimo"),
    ("Amazon Brand – Umi. Top Load Washing Machine", "Umi"),
    ("Amazon Brand - Jam & Honey Boy's Regular Fit T-Shirt", "Jam & Honey"),
    # not a brand: descriptions, placeholders, audience words, sizes
    ("Wireless Bluetooth Earphones with Mic", None),
    ("Men's Cotton Casual Shirt", None),
    ("Red Cotton Saree with Blouse", None),
    ("Generic Polyester Bedsheet", None),
    ("USB Type-C Cable 1m", None),
    ("20pcs Model Garden Light Lamppost", None),
    ("CLASSIC TOY TRAIN SET TRACK CARRIAGES", None),
    ("M Watch Strap", None),
    ("500ml Steel Bottle", None),
    ("Pack of 3", None),
    ("", None),
    ("   ", None),
    (None, None),
]


@pytest.mark.parametrize("title,brand", CASES)
def test_infer_brand(title, brand):
    assert infer_brand(title) == brand


def test_infer_brands_matches_single_calls():
    titles = [c[0] for c in CASES] * 3 + [float("nan"), 42]
    assert infer_brands(titles) == [infer_brand(t) if isinstance(t, str) else None
                                    for t in titles]


def test_infer_brands_accepts_a_series():
    import pandas as pd

    assert infer_brands(pd.Series(["boAt Airdopes 141", None])) == ["boAt", None]
