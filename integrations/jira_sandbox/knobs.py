"""Per-site realism knobs: rate limits, latency, failures, search staleness, webhook delivery.

Knobs live in `Site.knobs` (JSON) so the sandbox's page and its JSON API can change them without
a migration; `Knobs` gives them names, types and defaults, and rejects unknown ones.
"""

from __future__ import annotations

import dataclasses
import random
import time
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache

from .models import Site


@dataclass
class Knobs:
    # Jira's burst limit: a token bucket per site, endpoint and method (RLDOC's defaults).
    rate_limit: bool = False
    rate_get: float = 100.0
    rate_post: float = 100.0
    rate_put: float = 50.0
    rate_delete: float = 50.0
    burst: float = 100.0  # bucket capacity
    latency_ms: int = 0
    error_rate: float = 0.0  # share of API calls answered 500/503 before doing anything
    drop_rate: float = 0.0  # share of API calls whose work is committed, then the answer is lost
    drop_mode: str = "502"  # "502", or "timeout" (hold the connection for drop_timeout_s, then 504)
    drop_timeout_s: float = 35.0
    search_staleness_s: float = 0.0  # a created or changed issue reaches search this much later
    anonymous_fallback: bool = False  # a bad Basic token on an anonymous-capable call → 200 anonymous
    upload_limit: int = 10 * 1024 * 1024  # attachment/meta uploadLimit, bytes
    webhooks_enabled: bool = True
    webhook_delay_s: float = 0.0
    webhook_duplicate_rate: float = 0.0
    webhook_drop_rate: float = 0.0
    webhook_reorder: bool = False  # deliver each batch in a shuffled order
    seed: int | None = None  # fixes the random draws of the rate knobs, for tests

    @classmethod
    def names(cls) -> dict[str, type]:
        return {f.name: f.type for f in dataclasses.fields(cls)}

    @classmethod
    def of(cls, site: Site) -> Knobs:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in (site.knobs or {}).items() if k in known})

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class KnobError(ValueError):
    pass


_CASTS: dict[str, Any] = {"bool": bool, "float": float, "int": int, "str": str}


def knobs_update(*, site: Site, changes: dict[str, Any]) -> Knobs:
    """Validate and store knob changes; unknown names and wrong types are refused, nothing half-set."""
    current = Knobs.of(site).as_dict()
    fields_by_name = {f.name: f for f in dataclasses.fields(Knobs)}
    for name, value in changes.items():
        spec = fields_by_name.get(name)
        if spec is None:
            raise KnobError(f"Unknown knob {name!r}. Known: {', '.join(sorted(fields_by_name))}.")
        type_name = str(spec.type).split("|")[0].strip()
        if value is None and "None" in str(spec.type):
            current[name] = None
            continue
        cast = _CASTS[type_name]
        if cast is bool and not isinstance(value, bool):
            raise KnobError(f"Knob {name!r} takes true or false.")
        try:
            cast_value = cast(value)
        except (TypeError, ValueError) as exc:
            raise KnobError(f"Knob {name!r} takes a {type_name}.") from exc
        if name.endswith("_rate") and not 0.0 <= cast_value <= 1.0:
            raise KnobError(f"Knob {name!r} is a share between 0 and 1.")
        if name == "drop_mode" and cast_value not in ("502", "timeout"):
            raise KnobError("Knob 'drop_mode' is '502' or 'timeout'.")
        current[name] = cast_value
    site.knobs = current
    site.save(update_fields=["knobs"])
    return Knobs.of(site)


def rng_for(knobs: Knobs) -> random.Random:
    """Seeded per process and knob seed when tests ask for it; otherwise the system's randomness."""
    if knobs.seed is None:
        return _system_random
    key = knobs.seed
    if key not in _seeded:
        _seeded[key] = random.Random(key)
    return _seeded[key]


_system_random = random.Random()
_seeded: dict[int, random.Random] = {}


# ---------------------------------------------------------------------------------------------
# Burst limit: a token bucket in the cache (shared by processes when the cache is Redis).
# ---------------------------------------------------------------------------------------------


@dataclass
class BucketResult:
    allowed: bool
    limit: int
    remaining: int
    retry_after: int
    reset_epoch: float


def bucket_take(*, site: Site, knobs: Knobs, endpoint: str, method: str) -> BucketResult:
    """Take one token for (site, endpoint, method). Not atomic across processes: a sandbox may
    let a few extra calls through under a race, which only makes it kinder than Jira."""
    rate = {"GET": knobs.rate_get, "POST": knobs.rate_post, "PUT": knobs.rate_put}.get(
        method, knobs.rate_delete
    )
    capacity = max(1.0, knobs.burst)
    key = f"jira-sandbox:bucket:{site.pk}:{method}:{endpoint}"
    now = time.time()  # wall clock: the bucket is shared by processes through the cache
    tokens, stamp = cache.get(key) or (capacity, now)
    tokens = min(capacity, tokens + (now - stamp) * rate)
    if tokens >= 1.0:
        tokens -= 1.0
        cache.set(key, (tokens, now), timeout=3600)
        return BucketResult(True, int(capacity), int(tokens), 0, now + (capacity - tokens) / max(rate, 0.001))
    wait = (1.0 - tokens) / max(rate, 0.001)
    cache.set(key, (tokens, now), timeout=3600)
    return BucketResult(False, int(capacity), 0, max(1, int(wait + 0.999)), now + wait)
