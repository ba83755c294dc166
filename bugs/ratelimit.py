"""A fixed-window request counter in the cache, so every web process shares one budget."""

from __future__ import annotations

import time

from django.core.cache import cache

WINDOW_SECONDS = 60


def rate_limit_hit(*, scope: str, limit: int, now: float | None = None) -> int | None:
    """Count one request against `scope`. None while within `limit` per minute; otherwise the
    number of seconds until the window resets (for Retry-After)."""
    now = time.time() if now is None else now
    window = int(now // WINDOW_SECONDS)
    key = f"ratelimit:{scope}:{window}"
    # add() is atomic and only sets a missing key; incr() is atomic in Redis and locmem.
    cache.add(key, 0, timeout=WINDOW_SECONDS + 5)
    try:
        count = cache.incr(key)
    except ValueError:  # evicted between add and incr: start the window again
        cache.set(key, 1, timeout=WINDOW_SECONDS + 5)
        count = 1
    if count <= limit:
        return None
    return max(1, int((window + 1) * WINDOW_SECONDS - now + 0.999))
