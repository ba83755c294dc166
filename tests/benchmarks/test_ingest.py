"""Ingest throughput: 2,000 JSON reports through the SDK API against a bare insert view.

Both go through the same real WSGI stack in the same run: one gunicorn sync worker on loopback
(tests/benchmarks/bench_settings.py, DEBUG off), every middleware, a fresh SQLite file in WAL
mode (or BENCH_DATABASE_URL). The bare view (/bench/bare) parses the same body and stores the
same columns with one ORM create, so the ratio is what the API's own request path costs.
Target: the API sustains at least half the bare view's rate. Only `make bench` collects this.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

REPORTS = 2_000
WARMUP = 50
BLOCK = 500  # requests per timed block; blocks run API, bare, bare, API, ... to cancel drift
TARGET_RATIO = 0.5

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
API_PATH = "/api/v1/reports"
BARE_PATH = "/bench/bare"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def _bench_db(env: dict[str, str], *args: object) -> dict[str, Any]:
    out = _manage(env, "-m", "tests.benchmarks.bench_db", *map(str, args))
    return json.loads(out.strip().splitlines()[-1])


def _wait_ready(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}:\n{log.read_text()}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.1)
        finally:
            conn.close()
    raise RuntimeError(f"gunicorn did not answer /healthz within 60 s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def server() -> Iterator[dict[str, Any]]:
    """Migrated database, one organization with two apps, gunicorn serving bench_settings."""
    tmp = Path(tempfile.mkdtemp(prefix="bugbridge-bench-"))
    (tmp / "static").mkdir()
    external_db = os.environ.get("BENCH_DATABASE_URL")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.benchmarks.bench_settings",
        "BENCH_DATABASE_URL": external_db or f"sqlite:///{tmp / 'bench.sqlite3'}",
        "BENCH_TMP_DIR": str(tmp),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    process: subprocess.Popen[bytes] | None = None
    info: dict[str, Any] = {}
    try:
        _manage(env, "manage.py", "migrate", "--noinput", "-v", "0")
        info = _bench_db(env, "setup")
        port = _free_port()
        log = tmp / "gunicorn.log"
        with log.open("wb") as log_file:
            process = subprocess.Popen(
                [
                    str(BIN / "gunicorn"),
                    "config.wsgi:application",
                    f"--bind=127.0.0.1:{port}",
                    "--workers=1",
                    "--worker-class=sync",
                    "--timeout=120",
                    "--log-level=warning",
                ],
                cwd=ROOT,
                env={**env, "BENCH_BARE_APP_ID": str(info["bare_app_id"])},
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _wait_ready(process, port, log)
        yield {**info, "port": port, "env": env, "log": log, "external_db": bool(external_db)}
    finally:
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)  # its own session: the arbiter and its worker
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if external_db and info:
            _bench_db(env, "cleanup", info["organization_id"])
        shutil.rmtree(tmp, ignore_errors=True)


def _body(i: int) -> bytes:
    """A realistic SDK report: device context, attributes and ~20 console lines."""
    start = datetime(2026, 11, 28, 9, 30, tzinfo=UTC) + timedelta(minutes=i)
    levels = ("debug", "info", "info", "warning", "error")
    return json.dumps(
        {
            "title": f"Checkout button does nothing after changing the delivery address ({i})",
            "description": (
                "I changed the delivery address on the checkout screen, went back to the cart and "
                "tapped Pay. The button greys out for a second and then nothing happens. Killing "
                "the app and trying again gives the same result; the old address still works."
            ),
            "reproduction_steps": ["Open the cart", "Change the delivery address", "Tap Pay"],
            "reporter_email": f"tester{i % 97}@example.com",
            "reporter_name": "Beta Tester",
            "device_model": "iPhone 15 Pro",
            "os_name": "iOS",
            "os_version": "18.1",
            "app_version": "4.2.0",
            "app_build": str(4200 + i % 7),
            "current_view": "CheckoutViewController",
            "locale": "en_GB",
            "tags": ["checkout", "payments", "beta"],
            "user_attributes": {
                "plan": "premium",
                "user_id": 100_000 + i,
                "cart_items": 3,
                "logged_in": True,
                "ab_group": "B",
            },
            "console_logs": [
                {
                    "timestamp": (start + timedelta(seconds=line)).isoformat(),
                    "level": levels[line % len(levels)],
                    "message": f"[Checkout] step {line}: state=submitting address_id={i * 31 + line} "
                    "request=POST /v2/orders latency_ms=182",
                }
                for line in range(20)
            ],
            "priority": "major",
        }
    ).encode()


class Client:
    """http.client on loopback; reconnects by itself when the sync worker closes a connection."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        self.conn.request("POST", path, body=body, headers=headers)
        response = self.conn.getresponse()
        return response.status, response.read()

    def close(self) -> None:
        self.conn.close()


def _send(client: Client, path: str, headers: dict[str, str], bodies: list[bytes]) -> float:
    """POST every body; returns the wall time. Any answer but 201 fails the benchmark."""
    start = time.perf_counter()
    for body in bodies:
        status, content = client.post(path, body, headers)
        if status != 201:
            pytest.fail(f"POST {path} answered {status}: {content[:500]!r}")
    return time.perf_counter() - start


def test_ingest_rate_against_bare_view(server: dict[str, Any]) -> None:
    bodies = [_body(i) for i in range(WARMUP + REPORTS)]
    warmup, timed = bodies[:WARMUP], bodies[WARMUP:]
    json_type = {"Content-Type": "application/json"}
    headers = {API_PATH: {**json_type, "Authorization": f"Bearer {server['token']}"}, BARE_PATH: json_type}
    client = Client(server["port"])
    try:
        for path in (API_PATH, BARE_PATH):
            _send(client, path, headers[path], warmup)
        elapsed = {API_PATH: 0.0, BARE_PATH: 0.0}
        sent = {API_PATH: 0, BARE_PATH: 0}
        order = [API_PATH, BARE_PATH, BARE_PATH, API_PATH] * (REPORTS // (2 * BLOCK))
        for path in order:
            block = timed[sent[path] : sent[path] + BLOCK]
            elapsed[path] += _send(client, path, headers[path], block)
            sent[path] += len(block)
    finally:
        client.close()
    assert sent == {API_PATH: REPORTS, BARE_PATH: REPORTS}

    stored = _bench_db(server["env"], "verify", server["api_app_id"], server["bare_app_id"])
    api_rate = REPORTS / elapsed[API_PATH]
    bare_rate = REPORTS / elapsed[BARE_PATH]
    ratio = api_rate / bare_rate
    verdict = "PASS" if ratio >= TARGET_RATIO else "BELOW TARGET"
    database = server["database"] + (" (BENCH_DATABASE_URL)" if server["external_db"] else " (temp file)")
    print(
        f"\n\ningest benchmark: {REPORTS} JSON reports (no attachments) each way, after {WARMUP} "
        f"warm-up requests each;\n  gunicorn 1 sync worker on 127.0.0.1, DEBUG off, "
        f"database {database}, cache {server['cache']}\n"
        f"  SDK API   POST {API_PATH:<16} {elapsed[API_PATH]:7.2f} s  "
        f"{api_rate:8.1f} reports/s  {1000 / api_rate:6.2f} ms/request\n"
        f"  bare view POST {BARE_PATH:<16} {elapsed[BARE_PATH]:7.2f} s  "
        f"{bare_rate:8.1f} rows/s     {1000 / bare_rate:6.2f} ms/request\n"
        f"  ratio API / bare: {ratio:.3f}   target >= {TARGET_RATIO}   {verdict}\n"
        f"  stored: {stored['api_reports']} reports (numbers {stored['api_min_number']}.."
        f"{stored['api_max_number']}, {stored['api_distinct_numbers']} distinct), "
        f"{stored['bare_rows']} bare rows\n"
    )

    total = WARMUP + REPORTS
    assert stored["api_reports"] == stored["api_distinct_numbers"] == total
    assert (stored["api_min_number"], stored["api_max_number"], stored["api_counter"]) == (1, total, total)
    assert stored["bare_rows"] == stored["bare_distinct_numbers"] == total
    assert ratio >= TARGET_RATIO, f"ingest ratio {ratio:.3f} is below the target {TARGET_RATIO}"
