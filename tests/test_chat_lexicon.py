"""assistant.chat.lexicon: language detection and glossing into English words (no model)."""
from __future__ import annotations

import pytest

from assistant.chat.lexicon import detect_language, gloss


@pytest.mark.parametrize("text, lang", [
    ("what should I charge for boAt Rockerz 450?", "en"),
    ("is headphone ka sahi price kya hoga?", "hinglish"),
    ("मेरी लागत 900 रुपये है", "hi"),
    ("这款耳机应该定价多少？", "zh"),
    ("¿Cuánto debería cobrar por unos auriculares?", "es"),
    ("is this too high?", "en"),                 # "is" and "to" are English too
])
def test_detect_language(text, lang):
    assert detect_language(text) == lang


def test_gloss_finds_the_product_words_and_keeps_numbers():
    g = gloss("这款耳机应该定价多少？成本是900卢比")
    assert g.language == "zh" and "headphones" in g.text and "cost is 900 rupees" in g.text
    assert "headphone" in gloss("is headphone ka sahi price kya hoga?").text
    hi = gloss("मेरी लागत 900 रुपये है, हेडफोन की सही कीमत क्या होगी?").text
    assert "my cost 900 rupees" in hi and "headphones" in hi and "price" in hi
    es = gloss("¿Cuánto debería cobrar por unos auriculares? Mi costo es 900").text
    assert "how much" in es and "headphones" in es and "my cost is 900" in es


def test_english_and_ids_pass_through():
    text = "what if I sell watches1 at 199? B07PR1CL3S"
    assert gloss(text).text == text and gloss(text).language == "en"
    assert "watches1" in gloss("agar main watches1 ko 199 mein bechu to kya hoga").text
