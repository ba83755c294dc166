"""The shared rate limiter (integrations.throttle) on the database and on Redis, and the quota
pause of a connection's client."""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

import pytest
from django.db import connections

from integrations import health, throttle
from integrations.jira.errors import JiraRateLimited
from integrations.models import JiraConnection

pytestmark = pytest.mark.django_db(transaction=True)


def _redis_available() -> bool:
    try:
        import redis

        redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=0.2).ping()
    except Exception:
        return False
    return True


BACKENDS = [
    pytest.param({"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}, id="database"),
    pytest.param(
        {"default": {"BACKEND": throttle.REDIS_BACKEND, "LOCATION": "redis://127.0.0.1:6379/15"}},
        id="redis",
        marks=pytest.mark.skipif(not _redis_available(), reason="no Redis on 127.0.0.1:6379"),
    ),
]


@pytest.fixture(params=BACKENDS)
def backend(request: Any, settings: Any) -> str:
    settings.CACHES = request.param
    return str(request.node.callspec.id)


def test_a_burst_goes_at_once_then_calls_are_spaced_at_the_rate(backend: str) -> None:
    key = f"test:{backend}:{time.time()}"
    limit = throttle.Limit(rate=20.0, burst=5)
    waits = [throttle.reserve(key, limit) for _ in range(15)]
    assert waits[:5] == pytest.approx([0.0] * 5, abs=0.02)
    # Then each later call is one interval (0.05 s) further out than the one before.
    later = waits[5:]
    assert all(b - a == pytest.approx(0.05, abs=0.02) for a, b in itertools.pairwise(later))
    assert later[-1] == pytest.approx(0.5, abs=0.06)


def test_many_threads_together_stay_within_the_rate(backend: str) -> None:
    """Four threads (stand-ins for workers) share one key: 40 reservations at 20/s with a burst
    of 5 end about (40 - 5) / 20 s out, whoever made them."""
    key = f"test:{backend}:threads:{time.time()}"
    limit = throttle.Limit(rate=20.0, burst=5)
    waits: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            for _ in range(10):
                wait = throttle.reserve(key, limit)
                with lock:
                    waits.append(wait)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(waits) == 40
    assert max(waits) == pytest.approx(35 / 20, abs=0.25)
    # No two reservations share a slot.
    slots = sorted(round(w, 2) for w in waits if w > 0.01)
    assert len(slots) == len(set(slots))


def test_a_quota_429_pauses_every_call_of_the_connection_until_the_reset(app: Any) -> None:
    connection = JiraConnection.objects.create(app=app, auth_type="basic", site_url="https://x.atlassian.net")
    health.record_failure(connection.pk, JiraRateLimited(status=429, retry_after=120, reason="quota"))
    with pytest.raises(JiraRateLimited) as caught:
        health.check_not_paused(connection.pk)
    assert caught.value.reason == "quota" and 100 < caught.value.retry_after <= 120
    # A burst 429 slows that call down only; it pauses nothing.
    JiraConnection.objects.filter(pk=connection.pk).update(paused_until=None)
    health.record_failure(connection.pk, JiraRateLimited(status=429, retry_after=3, reason="burst"))
    health.check_not_paused(connection.pk)
