"""assistant.chat.training_data: the generator covers every action and language, with typos."""
from __future__ import annotations

import random
from collections import Counter

from assistant.chat.training_data import ACTIONS, generate, typo


def test_every_action_is_generated_in_several_languages():
    rows = generate(["Havells Ambrose 1200mm Ceiling Fan (Gold Mist Wood)"], ["B01LYU3BZF"], n_per_action=40, seed=1)
    counts = Counter(a for _, a in rows)
    assert set(counts) == set(ACTIONS) and set(counts.values()) == {40}
    texts = [t for t, _ in rows]
    assert any("B01LYU3BZF" in t for t in texts) and any("havells" in t.lower() for t in texts)
    assert any("headphones" in t for t, a in rows if a == "price")          # glossed 耳机 / auriculares
    assert not any("\u4e00" <= ch <= "\u9fff" for t in texts for ch in t)  # Chinese is glossed away


def test_typo_changes_one_or_two_words():
    rng = random.Random(0)
    changed = [typo("what should I charge for this lamp", rng, rate=1.0) for _ in range(20)]
    assert all(c != "what should I charge for this lamp" for c in changed)
    assert all(abs(len(c) - 34) <= 2 for c in changed)
