"""A rate limiter shared by every process that calls Jira, so Bugbridge stays under Jira's burst
limit (per tenant, endpoint and method: API-NOTES §10) instead of learning it from 429s.

The algorithm is GCRA (a token bucket kept as one number): each key stores the theoretical
arrival time `tat` of its next call. A call reserves its slot atomically,

    tat' = max(tat, now) + 1/rate            allowed at = max(tat, now) - (burst - 1)/rate

and sleeps until it is allowed. Reserving before sleeping keeps every waiting caller in its own
slot, so N workers together never exceed `rate` beyond the burst.

Where the number lives: Redis when the cache is Redis (production, CI: one Lua script, Redis's
own clock), else the database (the embedded default: one UPSERT … RETURNING statement, which
SQLite and PostgreSQL both run atomically).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import connection as db

REDIS_BACKEND = "django.core.cache.backends.redis.RedisCache"
# KEYS[1]: the key; ARGV: interval, tolerance (seconds). Returns the allowed-at time minus now.
_GCRA_LUA = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local keep_ms = math.ceil((tat + interval - now + tolerance) * 1000) + 1000
redis.call('SET', KEYS[1], string.format('%.6f', tat + interval), 'PX', keep_ms)
return string.format('%.6f', tat - tolerance - now)
"""


@dataclass(frozen=True)
class Limit:
    rate: float  # calls per second, sustained
    burst: int  # calls allowed at once after a quiet spell


# Jira's default buckets are GET 100, POST 100, PUT 50, DELETE 50 per second: writes that change
# an issue get half of JIRA_THROTTLE_RPS, like Jira's.
METHOD_SHARE = {"PUT": 0.5, "DELETE": 0.5}


def limit_for(method: str) -> Limit:
    """The limit for one HTTP method (each method is its own bucket, as in Jira)."""
    rate = float(settings.JIRA_THROTTLE_RPS) * METHOD_SHARE.get(method.upper(), 1.0)
    return Limit(rate=rate, burst=max(1, int(settings.JIRA_THROTTLE_BURST)))


def reserve(key: str, limit: Limit) -> float:
    """Reserve the next call's slot under `key`; the seconds to wait before making it (≥ 0)."""
    if limit.rate <= 0:
        return 0.0
    interval = 1.0 / limit.rate
    tolerance = interval * (limit.burst - 1)
    if settings.CACHES["default"]["BACKEND"] == REDIS_BACKEND:
        wait = _reserve_redis(key, interval, tolerance)
    else:
        wait = _reserve_db(key, interval, tolerance)
    return max(0.0, wait)


def _reserve_redis(key: str, interval: float, tolerance: float) -> float:
    client = cache._cache.get_client(key, write=True)  # type: ignore[attr-defined]
    return float(client.eval(_GCRA_LUA, 1, f"bugbridge:throttle:{key}", interval, tolerance))


def _reserve_db(key: str, interval: float, tolerance: float) -> float:
    now = time.time()
    larger = "MAX" if db.vendor == "sqlite" else "GREATEST"
    table = "integrations_throttleslot"
    with db.cursor() as cursor:
        cursor.execute(
            f'INSERT INTO {table} ("key", tat) VALUES (%s, %s) '  # noqa: S608 (names are constants)
            f'ON CONFLICT ("key") DO UPDATE SET tat = {larger}({table}.tat, %s) + %s RETURNING tat',
            [key, now + interval, now, interval],
        )
        tat = float(cursor.fetchone()[0])
    # The reserved call's own time is the new tat minus one interval.
    return (tat - interval) - tolerance - now


def wait_for(key: str, method: str, sleep: object = time.sleep) -> float:
    """Reserve and sleep; returns the seconds slept."""
    wait = reserve(key, limit_for(method))
    if wait > 0:
        sleep(wait)  # type: ignore[operator]
    return wait
