"""Per-key rate limiting for the API: a token bucket per API key name.

Use::

    limiter = RateLimiter(per_minute=1200)
    wait = limiter.take("alice")      # 0.0: go ahead; > 0: seconds until a request is allowed

Each key may make ``per_minute`` requests in a burst and then ``per_minute / 60`` per second;
a request over the limit answers 429 with ``Retry-After`` (see :mod:`assistant.http.deps`).
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    """Token buckets by name; ``per_minute=0`` turns limiting off."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}   # name -> (tokens, at)

    def take(self, name: str) -> float:
        """Spend one request of ``name``: 0.0 if allowed, else the seconds to wait."""
        if self.per_minute <= 0:
            return 0.0
        rate = self.per_minute / 60.0
        now = self.clock()
        with self._lock:
            tokens, at = self._buckets.get(name, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - at) * rate)
            if tokens >= 1.0:
                self._buckets[name] = (tokens - 1.0, now)
                return 0.0
            self._buckets[name] = (tokens, now)
            return (1.0 - tokens) / rate
