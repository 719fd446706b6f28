"""Suggestions for catalog products, computed once per model and graph state and reissued.

Use::

    cache = SuggestionCache(max_items=50_000)
    s = cache.get(product_id, options)            # a fresh copy (new id, time) or None
    cache.put(product_id, options, suggestion)
    cache.clear()                                 # the graph or the model changed

A catalog product's suggestion without an explanation is a pure function of the product id,
the request's options, the graph (product, competitors, category and brand statistics), the
model and the sales history. The service clears this cache whenever one of those is replaced
(:meth:`PricingService.refresh_graph`, ``swap_predictor``), so a hit is exactly what a fresh
computation would give, reissued under a new suggestion id and time (each request is still
stored for audit and can be applied by its id). This is what lets one process answer a
catalog lookup in a few milliseconds instead of ~40 ms of feature building and model passes;
``warm`` fills it with one vectorised batch (before the workers fork, so they share it).
Explained suggestions are not cached: their wording and timing belong to the request.
"""
from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cachetools import LRUCache

from assistant.suggestion import Suggestion, SuggestOptions
from graph.schema import now_iso


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    size: int = 0
    generation: int = 0


def cache_key(product_id: str, options: SuggestOptions) -> tuple[str, str] | None:
    """The key of a cacheable request, None for one that is not (explained)."""
    if options.explain:
        return None
    return product_id, options.model_dump_json()


class SuggestionCache:
    """A bounded, thread-safe LRU of catalog suggestions for the current model and graph."""

    def __init__(self, max_items: int = 50_000) -> None:
        self.max_items = max_items
        self._lru: LRUCache = LRUCache(maxsize=max(1, max_items))
        self._lock = threading.Lock()
        self._hits = self._misses = self._generation = 0

    def get(self, product_id: str, options: SuggestOptions) -> Suggestion | None:
        key = cache_key(product_id, options)
        if key is None or self.max_items <= 0:
            return None
        with self._lock:
            s = self._lru.get(key)
            if s is None:
                self._misses += 1
                return None
            self._hits += 1
        # a deep copy: callers may annotate their suggestion without touching the cached one
        return s.model_copy(deep=True, update={"suggestion_id": uuid.uuid4().hex,
                                               "created_at": now_iso()})

    def put(self, product_id: str, options: SuggestOptions, s: Suggestion,
            generation: int | None = None) -> None:
        """Keep ``s``; ``generation`` (from :attr:`generation` before computing) drops a
        result computed against a state that was cleared meanwhile."""
        key = cache_key(product_id, options)
        if key is None or self.max_items <= 0:
            return
        with self._lock:
            if generation is not None and generation != self._generation:
                return
            self._lru[key] = s.model_copy(deep=True)

    @property
    def generation(self) -> int:
        return self._generation

    def clear(self) -> None:
        with self._lock:
            self._lru.clear()
            self._generation += 1

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(self._hits, self._misses, len(self._lru), self._generation)

    def warm(self, product_ids: Sequence[str], options: SuggestOptions,
             compute: Callable[[Sequence[str], SuggestOptions], Sequence[Suggestion | Exception]],
             chunk: int = 2000, progress: bool = True) -> int:
        """Compute and keep the suggestions of ``product_ids`` (at most ``max_items``) in
        vectorised chunks; returns how many were cached. Items that fail (a guardrail
        conflict) are simply not cached: their request computes and reports the error."""
        from tqdm import tqdm

        ids = list(product_ids)[: self.max_items]
        done = 0
        with tqdm(total=len(ids), desc="warming suggestions", unit="product",
                  disable=not progress) as bar:
            for start in range(0, len(ids), chunk):
                part = ids[start:start + chunk]
                gen = self.generation
                for pid, s in zip(part, compute(part, options)):
                    if isinstance(s, Suggestion):
                        self.put(pid, options, s, generation=gen)
                        done += 1
                bar.update(len(part))
        return done
