"""A real Celery worker process on a queue of its own, against the test database (e2e tests)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from celery import Celery
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]


def database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@dataclass
class Worker:
    process: subprocess.Popen[str]
    producer: Celery
    queue: str

    def send(self, task: str, args: list | None = None) -> None:
        self.producer.send_task(task, args=args or [], queue=self.queue)

    def assert_alive(self) -> None:
        assert self.process.poll() is None, f"the worker died:\n{self.process.stdout.read()}"  # type: ignore[union-attr]


def worker_env(broker_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a worker process on the test database and broker (`extra` added)."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "true",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_FILESYSTEM_BROKER_DIR": str(broker_dir),
        "LOG_LEVEL": "WARNING",
        **extra,
    }


def producer_for(broker_dir: Path, name: str = "test-producer") -> Celery:
    """A Celery app that sends to the workers' broker. Not the current app: shared tasks elsewhere
    in the run must keep the eager test app."""
    producer = Celery(name, broker=settings.CELERY_BROKER_URL, set_as_current=False)
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        (broker_dir / "queue").mkdir(parents=True, exist_ok=True)
        producer.conf.broker_transport_options = {
            "data_folder_in": str(broker_dir / "queue"),
            "data_folder_out": str(broker_dir / "queue"),
            "control_folder": str(broker_dir / "control"),
        }
    return producer


@contextmanager
def celery_worker(tmp_path: Path) -> Iterator[Worker]:
    """Start `celery worker` on a fresh queue (no stray messages either way); stop it after."""
    queue = f"test-{uuid.uuid4().hex[:8]}"
    broker_dir = tmp_path / "broker"
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo", "-Q", queue,
         "--without-heartbeat", "--without-gossip", "--without-mingle", "--loglevel=WARNING"],
        cwd=ROOT, env=worker_env(broker_dir), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        yield Worker(process=process, producer=producer_for(broker_dir), queue=queue)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
