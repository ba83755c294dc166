"""A real Celery worker process runs a task from the real broker against the test database."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from bugs.models import IdempotencyKey
from tests.celery_worker import celery_worker
from tests.factories import AppFactory, ReportFactory


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_worker_process_runs_the_purge_task(tmp_path):
    app = AppFactory()
    expired = IdempotencyKey.objects.create(
        app=app, key="old", request_hash="h", report=ReportFactory(app=app)
    )
    IdempotencyKey.objects.filter(pk=expired.pk).update(created_at=timezone.now() - timedelta(days=2))
    IdempotencyKey.objects.create(app=app, key="fresh", request_hash="h", report=ReportFactory(app=app))

    with celery_worker(tmp_path) as worker:
        worker.send("bugs.tasks.purge_expired_idempotency_keys")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and IdempotencyKey.objects.filter(key="old").exists():
            worker.assert_alive()
            time.sleep(0.3)
        assert not IdempotencyKey.objects.filter(key="old").exists(), "the worker never ran the task"
        assert IdempotencyKey.objects.filter(key="fresh").exists()
