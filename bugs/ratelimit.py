"""A fixed-window request counter in the cache, so every web process shares one budget."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache

WINDOW_SECONDS = 60
_TTL = WINDOW_SECONDS + 5


def _count_generic(key: str) -> int:
    # add() is atomic and only sets a missing key; incr() is atomic in every Django backend.
    if cache.add(key, 1, timeout=_TTL):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # evicted between add and incr: start the window again
        cache.set(key, 1, timeout=_TTL)
        return 1


def _count_redis(key: str) -> int:
    # Django's RedisCache.incr checks EXISTS first: three round trips per SDK request through
    # add/incr. INCR creates a missing key, and EXPIRE NX sets the window once: one round trip.
    redis_key = cache.make_and_validate_key(key)
    client = cache._cache.get_client(redis_key, write=True)
    count, _ = client.pipeline().incr(redis_key).expire(redis_key, _TTL, nx=True).execute()
    return int(count)


def _counter() -> Callable[[str], int]:
    # `cache` is a proxy: ask the configured backend itself.
    return _count_redis if isinstance(caches["default"], RedisCache) else _count_generic


def rate_limit_hit(*, scope: str, limit: int, now: float | None = None) -> int | None:
    """Count one request against `scope`. None while within `limit` per minute; otherwise the
    number of seconds until the window resets (for Retry-After)."""
    now = time.time() if now is None else now
    window = int(now // WINDOW_SECONDS)
    count = _counter()(f"ratelimit:{scope}:{window}")
    if count <= limit:
        return None
    return max(1, int((window + 1) * WINDOW_SECONDS - now + 0.999))
