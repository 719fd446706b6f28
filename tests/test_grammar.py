"""Explanation plans and their grammar: every admitted sentence verifies, for sheets of every
kind the corpus draws. Run: pytest tests/test_grammar.py"""
from __future__ import annotations

import random
import re

import pytest

from assistant.facts import build_fact_sheet
from assistant.grammar import NP, noun_phrases, plan, to_gbnf, write
from assistant.tuning.corpus import case_sheet, random_case
from assistant.verify import verify


def test_every_admitted_sentence_verifies_on_random_sheets():
    rng = random.Random(0)
    kinds: set[str] = set()
    checked = 0
    for _ in range(80):
        case = random_case(rng)
        kinds.update(k.split(":")[0] for k in case.kinds)
        sheet = case_sheet(case)
        p = plan(sheet)
        for slot in p.slots:
            for option in slot.options:
                for np in p.noun_phrases:
                    v = verify(option.replace(NP, np), sheet, sentences=True)
                    assert v.ok, (slot.name, option, v.problems, v.rendered)
                    checked += 1
        # the first phrasings together (the fallback) state the price and cite enough
        v = verify(write(p), sheet, sentences=True, require=("recommended_price",))
        assert v.ok and v.facts_cited >= 2
        assert v.facts_cited >= 4 or not {"driver_1", "interval_low"} <= set(sheet.ids())
    assert checked > 1500
    assert {"driver", "category", "competitors", "guardrail", "demand", "low_confidence", "injection",
            "no_category", "no_drivers"} <= kinds


def test_plan_says_why_in_order():
    sheet = build_fact_sheet(recommended_price=899, currency="INR", interval=(820, 960), current_price=999,
                             category_median=1024.5, category_name="Headphones", drivers=[("the product text", 120)],
                             driver_base=779, guardrails=["cost floor"], product_title="boAt Headphones")
    sheet.add(sheet["guardrail_1"].__class__("confidence_level", "low", "text"))
    names = [s.name for s in plan(sheet).slots]
    assert names == ["price", "change", "compare", "driver", "interval"]
    text = write(plan(sheet), include_optional=True)
    assert text.startswith("We recommend {recommended_price} for these headphones.")
    assert "Confidence is low" in text and "{driver_1_effect} from the baseline of {driver_base}" in text


def test_grammar_has_no_digits_or_currency_and_compiles():
    rng = random.Random(3)
    for _ in range(20):
        sheet = case_sheet(random_case(rng))
        g = to_gbnf(plan(sheet))
        literal = " ".join(re.findall(r'"((?:[^"\\]|\\.)*)"', g))
        assert not re.search(r"[0-9₹$£€]", re.sub(r"\{\w+\}", "", literal)), g
        ids = set(re.findall(r"\{(\w+)\}", literal))
        assert ids <= set(sheet.ids())
    llama_cpp = pytest.importorskip("llama_cpp")
    llama_cpp.LlamaGrammar.from_string(g, verbose=False)  # llama.cpp accepts it


def test_noun_phrases_come_from_title_or_category():
    sheet = build_fact_sheet(recommended_price=10, currency="USD", product_title="Steel Water Bottle 1L")
    assert noun_phrases(sheet) == ["this bottle", "this product", "this item"]
    assert noun_phrases(sheet, "Electronics > Headphones")[:2] == ["this bottle", "these headphones"]
    remote = build_fact_sheet(recommended_price=10, currency="USD", product_title="HDF Remote Control for Smart LED TV")
    assert noun_phrases(remote) == ["this product", "this item"]  # not "this tv"
    tripod = build_fact_sheet(recommended_price=10, currency="USD", product_title="Tripod Stand for Camera")
    assert noun_phrases(tripod)[0] == "this tripod" and "this camera" not in noun_phrases(tripod)
    bare = build_fact_sheet(recommended_price=10, currency="USD", product_title="Generic Widget X")
    assert noun_phrases(bare) == ["this product", "this item"]
