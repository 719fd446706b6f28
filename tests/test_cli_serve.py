"""``pricing serve --warm-in-background``: the catalog's suggestions are computed behind a
server that already answers (assistant.cli.serve.warm_behind) on the tiny model."""
from __future__ import annotations

from assistant.cli.serve import warm_behind
from assistant.suggestion import SuggestOptions
from assistant.suggestion_cache import SuggestionCache
from tests.conftest import service_on_store_copy

PLAIN = SuggestOptions(explain=False)


def test_warm_behind_fills_the_cache_while_the_service_answers(tiny_service, tmp_path):
    svc = service_on_store_copy(tiny_service, tmp_path)
    svc.cache = SuggestionCache(max_items=60)
    logs: list[str] = []
    thread = warm_behind(svc, log=logs.append)
    assert thread.daemon and thread.name == "warm-suggestions"
    # the service answers meanwhile: a catalog product and a new one
    pid = str(svc.products.index[-1])  # beyond the 60 warmed: computed, then cached
    s = svc.suggest(pid, PLAIN)
    assert s.product_id == pid and s.recommended_price > 0
    thread.join(timeout=300)
    assert not thread.is_alive()
    assert logs and logs[-1].startswith("60 catalog suggestions ready")
    assert svc.cache.stats().size == 60  # the LRU keeps its bound with the extra product
    # (the extra product may have pushed out the least recent, index 0: ask for one in the middle)
    warmed = str(svc.products.index[30])
    before = svc.cache.stats().hits
    svc.suggest(warmed, PLAIN)
    assert svc.cache.stats().hits == before + 1


def test_a_failing_warm_up_is_reported_and_the_thread_ends(tiny_service, tmp_path):
    svc = service_on_store_copy(tiny_service, tmp_path)

    def broken(*_a, **_k):
        raise RuntimeError("store went away")

    svc.suggest_batch = broken  # what warm_cache computes with
    logs: list[str] = []
    thread = warm_behind(svc, log=logs.append)
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert len(logs) == 1 and "stopped" in logs[0] and "store went away" in logs[0]
    assert svc.cache.stats().size == 0
