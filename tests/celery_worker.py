"""Real Celery worker processes on a queue of their own, against the test database (e2e tests):
one (`celery_worker`), or several that also take the tasks they schedule (`queue_workers`)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


# Several workers on one queue that is also their default queue: a task that schedules its own
# next attempt (`apply_async`, as forwarding and sync pushes do) must come back to them, which
# `celery_worker` above (it consumes only the queue tests send to) does not allow.
# `celery -A config worker ...` with the consumed queue as the default queue.
WORKER_BOOT = (
    "import os, sys\n"
    "from config.celery import app\n"
    "app.conf.task_default_queue = os.environ['TEST_WORKER_QUEUE']\n"
    "app.worker_main(['worker', *sys.argv[1:]])\n"
)


@dataclass
class Workers:
    """Worker processes on one queue of a broker folder of their own; `start` adds one."""

    directory: Path
    env: dict[str, str]
    queue: str
    producer: Celery
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self) -> subprocess.Popen[bytes]:
        number = len(self.processes)
        log = (self.directory / f"worker-{number}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-c", WORKER_BOOT, "--pool=solo", "-Q", self.queue, f"--hostname=w{number}@%h",
             "--without-heartbeat", "--without-gossip", "--without-mingle", "--loglevel=WARNING"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()
        self.processes.append(process)
        return process

    def send(self, task: str, args: list[Any] | None = None) -> None:
        self.producer.send_task(task, args=args or [], queue=self.queue)

    def log(self, number: int) -> str:
        return (self.directory / f"worker-{number}.log").read_text(errors="replace")[-4000:]

    def assert_alive(self, process: subprocess.Popen[bytes]) -> None:
        number = self.processes.index(process)
        assert process.poll() is None, f"worker {number} died:\n{self.log(number)}"

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def queue_workers(tmp_path: Path, **settings_env: str) -> Iterator[Workers]:
    """A fresh queue and broker folder; the workers see the test database and the settings that
    point at the live server's sandbox (and `settings_env`, as environment variables)."""
    queue = f"test-workers-{uuid.uuid4().hex[:8]}"
    broker_dir = tmp_path / "broker"
    env = worker_env(
        broker_dir,
        MEDIA_ROOT=str(settings.MEDIA_ROOT),
        # Derived from SITE_URL when settings load: the live server's URL, as point_at_sandbox sets.
        SITE_URL=settings.SITE_URL,
        ATLASSIAN_AUTH_URL=settings.ATLASSIAN_AUTH_URL,
        ATLASSIAN_API_URL=settings.ATLASSIAN_API_URL,
        JIRA_CONNECT_INSTALL_KEYS_URL=settings.JIRA_CONNECT_INSTALL_KEYS_URL,
        TEST_WORKER_QUEUE=queue,
        **settings_env,
    )
    producer = producer_for(broker_dir, "workers-test-producer")
    workers = Workers(directory=tmp_path, env=env, queue=queue, producer=producer)
    try:
        yield workers
    finally:
        workers.stop()
