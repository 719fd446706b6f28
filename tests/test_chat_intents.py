"""assistant.chat.intents: the classifier learns, saves and loads (safetensors + manifest); the
packaged model ranks actions on messages it never saw. Budget < 30 s (one MiniLM load)."""
from __future__ import annotations

import numpy as np
import pytest

from assistant.chat.intents import IntentClassifier

TEXTS = ["show competitors", "who undercuts me", "competitor prices please", "thanks", "thank you so much",
         "great thanks", "what should I charge for a lamp", "price for a wooden chess set",
         "suggest a price for cotton kurta"]
LABELS = ["competitors"] * 3 + ["feedback"] * 3 + ["price"] * 3


def test_fit_save_load_round_trip(tmp_path):
    clf = IntentClassifier(embeddings=False).fit(TEXTS, LABELS)
    assert clf.predict(TEXTS) == LABELS
    clf.save(tmp_path)
    back = IntentClassifier.load(tmp_path)
    assert back.classes_ == clf.classes_ and back.predict(TEXTS) == LABELS
    assert np.allclose(back.predict_proba(TEXTS), clf.predict_proba(TEXTS), atol=1e-3)


def test_unfitted_and_featureless_are_refused():
    with pytest.raises(RuntimeError, match="not fitted"):
        IntentClassifier().predict(["hi"])
    with pytest.raises(ValueError, match="embeddings, n-grams or both"):
        IntentClassifier(embeddings=False, ngrams=False).fit(TEXTS, LABELS)


def test_embeddings_carry_paraphrase():
    clf = IntentClassifier(ngrams=False).fit(TEXTS, LABELS)
    # no word in common with the training texts of "feedback"
    assert clf.predict(["much appreciated, cheers"]) == ["feedback"]


def test_packaged_model_ranks_unseen_messages():
    clf = IntentClassifier.packaged()
    assert clf is not None and "unknown" in clf.classes_ and len(clf.classes_) == 18
    got = clf.predict(["how am I doing?", "whats the weather in mumbai", "who sells it cheaper?",
                       "lowest price for a 30% margin", "should I drop the price?"])
    assert got == ["summary", "unknown", "competitors", "target_price", "should_drop"]
