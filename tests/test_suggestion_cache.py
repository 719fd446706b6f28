"""The catalog suggestion cache: a hit is what a fresh computation gives, reissued; any change
of graph or model empties it."""
from __future__ import annotations

import pytest

from assistant.suggestion import SuggestOptions
from assistant.suggestion_cache import SuggestionCache
from tests.conftest import service_on_store_copy

PLAIN = SuggestOptions(explain=False)


def _same(a, b) -> None:
    skip = {"suggestion_id", "created_at"}
    assert a.model_dump(exclude=skip) == b.model_dump(exclude=skip)


def _alike(a, b) -> None:
    for f in ("recommended_price", "model_price"):
        assert abs(getattr(a, f) - getattr(b, f)) <= 0.011, f
    assert abs(a.interval.low - b.interval.low) <= 0.011
    assert (a.product_id, a.currency, a.mode, a.abstain) == (b.product_id, b.currency, b.mode, b.abstain)
    assert [c.product_id for c in a.evidence.comparables] == [c.product_id for c in b.evidence.comparables]
    assert [g.rule for g in a.guardrails] == [g.rule for g in b.guardrails]


@pytest.fixture()
def svc(tiny_service, tmp_path):
    return service_on_store_copy(tiny_service, tmp_path)


def _priced(svc, n: int) -> list[str]:
    return sorted(svc.products.index[svc.products["price"].notna()])[:n]


def test_a_hit_is_reissued_under_a_new_id_and_stored(svc):
    pid = _priced(svc, 1)[0]
    first = svc.suggest(pid, PLAIN)
    second = svc.suggest(pid, PLAIN)
    assert svc.cache.stats().hits == 1
    assert second.suggestion_id != first.suggestion_id
    _same(first, second)
    # both are in the store for audit and can be applied by their own id
    assert svc.store.get_suggestion(second.suggestion_id).recommended_price == first.recommended_price
    # callers may annotate their copy without touching the cached one
    second.evidence.comparables.clear()
    _same(first, svc.suggest(pid, PLAIN))


def test_other_options_and_explained_requests_are_not_served_from_it(svc):
    pid = _priced(svc, 1)[0]
    svc.suggest(pid, PLAIN)
    svc.suggest(pid, SuggestOptions(explain=False, k_comparables=2))
    explained = svc.suggest(pid, SuggestOptions(explain=True))
    assert svc.cache.stats().hits == 0
    assert explained.explanation.status != "not_requested"


def test_a_curation_edit_empties_it_and_the_next_answer_follows_the_edit(svc):
    pid = _priced(svc, 1)[0]
    before = svc.suggest(pid, PLAIN)
    nid = f"product:{pid}"
    v = svc.curation.node(nid).version
    new_price = round(before.current_price * 3, 2)
    svc.curation.apply("update_node", {"node": nid, "changes": {"price": new_price}},
                       actor="t", expected=v)
    assert svc.cache.stats().size == 0
    after = svc.suggest(pid, PLAIN)
    assert after.current_price == new_price
    assert svc.cache.stats().hits == 0


def test_a_new_model_empties_it(svc):
    pid = _priced(svc, 1)[0]
    svc.suggest(pid, PLAIN)
    gen = svc.cache.generation
    svc.swap_predictor(svc.predictor)
    assert svc.cache.generation == gen + 1 and svc.cache.stats().size == 0


def test_warm_computes_what_the_batch_path_would(svc, tiny_service, tmp_path_factory):
    svc.cache = SuggestionCache(max_items=40)
    assert svc.warm_cache(progress=False) == 40          # bounded by the cache's size
    fresh = service_on_store_copy(tiny_service, tmp_path_factory.mktemp("fresh"))
    fresh.cache = SuggestionCache(max_items=0)            # disabled: always computes
    first = [str(p) for p in svc.products.index][:40]
    batch = fresh.suggest_batch(first[:10], PLAIN, store=False)
    for pid, b in zip(first[:10], batch):
        hit = svc.suggest(pid, PLAIN)
        # float32 model passes of another batch size may round a price a cent apart
        for other in (b, fresh.suggest(pid, PLAIN, store=False)):
            _alike(hit, other)
    assert svc.cache.stats().hits == 10
    assert fresh.cache.stats().size == 0


def test_a_result_computed_before_a_clear_is_dropped(svc):
    pid = _priced(svc, 1)[0]
    s = svc.suggest(pid, PLAIN, store=False)
    cache = SuggestionCache(10)
    gen = cache.generation
    cache.clear()                                         # the graph changed meanwhile
    cache.put(pid, PLAIN, s, generation=gen)
    assert cache.get(pid, PLAIN) is None
    cache.put(pid, PLAIN, s, generation=cache.generation)
    assert cache.get(pid, PLAIN) is not None
