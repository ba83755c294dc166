"""A real Celery worker process runs a task from the real broker against the test database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from celery import Celery
from django.conf import settings
from django.db import connection
from django.utils import timezone

from bugs.models import IdempotencyKey
from tests.factories import AppFactory, ReportFactory

ROOT = Path(__file__).resolve().parents[2]


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_worker_process_runs_the_purge_task(tmp_path):
    app = AppFactory()
    expired = IdempotencyKey.objects.create(
        app=app, key="old", request_hash="h", report=ReportFactory(app=app)
    )
    IdempotencyKey.objects.filter(pk=expired.pk).update(created_at=timezone.now() - timedelta(days=2))
    IdempotencyKey.objects.create(app=app, key="fresh", request_hash="h", report=ReportFactory(app=app))

    queue = f"test-{uuid.uuid4().hex[:8]}"  # a queue of our own: no stray messages either way
    broker_dir = tmp_path / "broker"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "true",
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_FILESYSTEM_BROKER_DIR": str(broker_dir),
        "LOG_LEVEL": "WARNING",
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo", "-Q", queue,
         "--without-heartbeat", "--without-gossip", "--without-mingle", "--loglevel=WARNING"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        producer = Celery("test-producer", broker=settings.CELERY_BROKER_URL)
        if settings.CELERY_BROKER_URL.startswith("filesystem://"):
            (broker_dir / "queue").mkdir(parents=True, exist_ok=True)
            producer.conf.broker_transport_options = {
                "data_folder_in": str(broker_dir / "queue"),
                "data_folder_out": str(broker_dir / "queue"),
                "control_folder": str(broker_dir / "control"),
            }
        producer.send_task("bugs.tasks.purge_expired_idempotency_keys", queue=queue)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and IdempotencyKey.objects.filter(key="old").exists():
            assert worker.poll() is None, f"the worker died:\n{worker.stdout.read()}"
            time.sleep(0.3)
        assert not IdempotencyKey.objects.filter(key="old").exists(), "the worker never ran the task"
        assert IdempotencyKey.objects.filter(key="fresh").exists()
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
