"""Webhook intake: signed Jira deliveries through gunicorn against a bare JSON view (issue §6).

Both go through the same real WSGI stack in the same run: one gunicorn sync worker on loopback
(tests/benchmarks/bench_settings.py, DEBUG off, every middleware), a fresh SQLite file in WAL mode
with persistent connections (or BENCH_DATABASE_URL), and the broker the product enqueues to: a
`filesystem://` folder of the run's own (or BENCH_CELERY_BROKER_URL, e.g. Redis). No worker
consumes it: the messages are counted instead (one drain task per window), so the enqueue is paid
and checked, not stubbed.

The deliveries are what the sandbox Jira sends for a status change (`jira:issue_updated`, the
whole v2 issue, changelog and user, taken from the sandbox in setup), each with its own
X-Atlassian-Webhook-Identifier and timestamp, signed for a real connection row:
- admin: `/integrations/jira/webhooks/connection/<id>`, X-Hub-Signature (HMAC-SHA256 of the body
  under the connection's encrypted `webhook_secret`);
- oauth: `/integrations/jira/webhooks/oauth`, a bearer JWT (HS256, the app's client secret), the
  connection found by the body's `matchedWebhookIds`.
The bare view (/bench/bare-json) reads the same body, parses it and answers 202 JSON.

Printed:
- throughput at full speed (one client, one request at a time, short blocks rotating to cancel
  drift): each kind's requests per second as a ratio of the bare view's; target at least 0.5;
- latency at a paced 100 requests per second (open loop: a request leaves every 10 ms whether or
  not the previous one has answered, timed from its scheduled moment so queueing counts): p50,
  p99 and max of the admin endpoint, and of the bare view paced alike; target p99 under 50 ms.
Timed targets are asserted after printing, as the other benchmarks do; only `make bench`
collects this. Setup and counting run in subprocesses (`python -m tests.benchmarks.test_webhook_intake`).
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from . import steps
from .test_ingest import BIN, ROOT, _free_port, _manage, _wait_ready

REQUESTS = 2_000  # timed requests of each kind at full speed
# Per timed block. Blocks rotate (admin, oauth, bare; oauth, bare, admin; bare, admin, oauth; ...)
# so that each kind sees the machine's drift alike: on a shared VM the same requests' speed
# wanders by a third within a minute, and long blocks turned that into a ratio off by 0.1.
BLOCK = 100
WARMUP = 100
PACED = 2_000  # requests of each paced kind, in two halves: admin, bare, bare, admin
RATE = 100.0  # requests per second, paced
PACED_THREADS = 16  # client threads for the paced run (a slow answer must not hold the next send)
TARGET_RATIO = 0.5
TARGET_P99_MS = 50.0
GUNICORN = ["--workers=1", "--worker-class=sync"]

ADMIN, OAUTH, BARE = "admin", "oauth", "bare"
BARE_PATH = "/bench/bare-json"
OAUTH_PATH = "/integrations/jira/webhooks/oauth"
SECRET_KEY = "benchmark-only-secret-key-not-for-any-deployment-0123456789"
OAUTH_CLIENT_SECRET = "benchmark-only-oauth-client-secret-0123456789abcdef"
OAUTH_WEBHOOK_IDS = [7001, 7002]
JWT_LIFETIME_S = 180

MODULE = "tests.benchmarks.test_webhook_intake"  # this file, run as the steps' script


# ---------------------------------------------------------------------------------------------
# Steps run in a subprocess with the bench settings (python -m tests.benchmarks.test_webhook_intake)
# ---------------------------------------------------------------------------------------------


def _setup(webhook_secret: str) -> dict[str, Any]:
    """An organization with two apps: one with a Basic-auth connection holding an admin webhook's
    secret, one with an OAuth 2.0 connection holding dynamic webhook ids; and the body the sandbox
    sends for a status change of WEB-1 (made in a transaction that is rolled back: nothing is
    sent, the sandbox keeps no trace)."""
    from django.conf import settings
    from django.db import transaction
    from django.utils import timezone

    from accounts.models import Organization
    from bugs.services import app_create
    from integrations.jira_sandbox import events
    from integrations.jira_sandbox import models as sandbox
    from integrations.jira_sandbox import services as sandbox_services
    from integrations.jira_sandbox.seed import sandbox_seed
    from integrations.models import AuthType, JiraConnection

    started = timezone.now()
    sandbox_seed()
    site = sandbox.Site.objects.get(name="acme")
    site_url = events.site_url(site)
    tag = uuid.uuid4().hex[:12]
    organization = Organization.objects.create(name="Webhook intake benchmark", slug=f"intake-bench-{tag}")
    connections = {}
    for kind, auth_type in ((ADMIN, AuthType.BASIC), (OAUTH, AuthType.OAUTH2)):
        app, _ = app_create(organization=organization, name=f"Intake {kind}", platform="ios")
        connection = JiraConnection(
            app=app,
            auth_type=auth_type,
            site_url=site_url,
            cloud_id=site.cloud_id,
            project_id="10001",
            project_key="WEB",
            project_name="Web Dashboard",
            issue_type_id="10004",
            issue_type_name="Bug",
            sync_status=True,
            sync_priority=True,
            sync_comments=True,
            webhook_kind="admin" if kind == ADMIN else "dynamic",
            webhook_ids=["1"] if kind == ADMIN else [str(i) for i in OAUTH_WEBHOOK_IDS],
        )
        secrets = {"api_token": "bench-token"} if kind == ADMIN else {"access_token": "bench-access"}
        connection.set_secrets({**secrets, "webhook_secret": webhook_secret} if kind == ADMIN else secrets)
        connection.save()
        connections[kind] = connection.pk

    class Rollback(Exception):
        pass

    payload = ""
    try:
        with transaction.atomic():
            sandbox.Webhook.objects.create(
                site=site,
                webhook_id=999_999,
                kind=sandbox.Webhook.Kind.ADMIN,
                url=f"{settings.SITE_URL}/integrations/jira/webhooks/connection/{connections[ADMIN]}",
                events=["jira:issue_updated"],
                jql_filter="project = WEB",
                secret=webhook_secret,
            )
            issue = sandbox_services.find_issue(site, "WEB-1")
            alice = sandbox.Account.objects.get(email="alice@acme.example")
            move = next(t for t in sandbox_services.available_transitions(issue) if not t.required_field)
            sandbox_services.issue_transition(issue=issue, actor=alice, transition_id=move.transition_id)
            payload = (
                sandbox.Delivery.objects.filter(site=site, event="jira:issue_updated").latest("pk").payload
            )
            raise Rollback
    except Rollback:
        pass
    return {
        "organization_id": organization.pk,
        "started": started.isoformat(),
        "cloud_id": site.cloud_id,
        "connections": connections,
        "payload": payload,
        "database": settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1],
        "conn_max_age": settings.DATABASES["default"].get("CONN_MAX_AGE", 0),
        "cache": settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1],
        "broker": settings.CELERY_BROKER_URL.split("://", 1)[0],
    }


def _verify(admin_id: int, oauth_id: int) -> dict[str, Any]:
    from django.db.models import Count

    from integrations.models import JiraConnection, WebhookDelivery

    counts = {
        f"{kind} {outcome}": n
        for kind, outcome, n in WebhookDelivery.objects.values_list("kind", "outcome")
        .annotate(n=Count("id"))
        .values_list("kind", "outcome", "n")
    }
    pairs = WebhookDelivery.objects.values_list("site", "identifier")
    delivered = {
        pk: at is not None
        for pk, at in JiraConnection.objects.filter(pk__in=[admin_id, oauth_id]).values_list(
            "pk", "last_delivery_at"
        )
    }
    return {
        "counts": counts,
        "rows": pairs.count(),
        "distinct": pairs.distinct().count(),
        "last_delivery_set": delivered,
        "connection_ids": sorted(
            {tuple(ids) for ids in WebhookDelivery.objects.values_list("connection_ids", flat=True)}
        ),
    }


def _cleanup(organization_id: int, cloud_id: str, started: str) -> dict[str, Any]:
    """For a BENCH_DATABASE_URL: the benchmark's organization and the deliveries it sent; for a
    BENCH_CELERY_BROKER_URL, the broker's messages (the run's own folder goes with its tmp)."""
    from datetime import datetime

    from django.conf import settings

    from accounts.models import Organization
    from integrations.models import WebhookDelivery

    deleted, _ = Organization.objects.filter(pk=organization_id).delete()
    WebhookDelivery.objects.filter(site=cloud_id, received_at__gte=datetime.fromisoformat(started)).delete()
    purged = 0
    if not settings.CELERY_BROKER_URL.startswith("filesystem://"):
        from config.celery import app

        purged = app.control.purge() or 0
    return {"deleted": deleted, "purged": purged}


STEPS: steps.Steps = {
    "setup": lambda args: _setup(args[0]),
    "verify": lambda args: _verify(int(args[0]), int(args[1])),
    "cleanup": lambda args: _cleanup(int(args[0]), args[1], args[2]),
}


# ---------------------------------------------------------------------------------------------
# The benchmark
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[dict[str, Any]]:
    """Migrated database with the connections; gunicorn serving bench_settings, enqueueing to a
    broker folder of its own that nothing consumes."""
    tmp = Path(tempfile.mkdtemp(prefix="bugbridge-bench-intake-"))
    (tmp / "static").mkdir()
    external_db = os.environ.get("BENCH_DATABASE_URL")
    external_broker = os.environ.get("BENCH_CELERY_BROKER_URL")
    port = _free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.benchmarks.bench_settings",
        # Persistent connections, as a gunicorn deployment on SQLite would set them.
        "BENCH_DATABASE_URL": external_db or f"sqlite:///{tmp / 'bench.sqlite3'}?conn_max_age=60",
        "BENCH_TMP_DIR": str(tmp),
        "BENCH_SITE_URL": f"http://127.0.0.1:{port}",
        "BENCH_CELERY_BROKER_URL": external_broker or "filesystem://",
        "CELERY_FILESYSTEM_BROKER_DIR": str(tmp / "broker"),
        "ATLASSIAN_OAUTH_CLIENT_SECRET": OAUTH_CLIENT_SECRET,
        "SECRET_KEY": SECRET_KEY,
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    process: subprocess.Popen[bytes] | None = None
    info: dict[str, Any] = {}
    webhook_secret = uuid.uuid4().hex + uuid.uuid4().hex
    try:
        _manage(env, "manage.py", "migrate", "--noinput", "-v", "0")
        info = steps.step(env, MODULE, "setup", webhook_secret)
        log = tmp / "gunicorn.log"
        with log.open("wb") as log_file:
            process = subprocess.Popen(
                [str(BIN / "gunicorn"), "config.wsgi:application", f"--bind=127.0.0.1:{port}", *GUNICORN,
                 "--timeout=120", "--log-level=warning"],
                cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        _wait_ready(process, port, log)
        yield {
            **info,
            "port": port,
            "env": env,
            "tmp": tmp,
            "secret": webhook_secret,
            "external_db": bool(external_db),
            "external_broker": bool(external_broker),
        }
    finally:
        if process is not None:
            steps.stop(process, group=True)  # its own session: the arbiter and its worker
        try:
            if info and (external_db or external_broker):
                steps.step(env, MODULE, "cleanup", info["organization_id"], info["cloud_id"], info["started"])
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


Request = tuple[str, bytes, dict[str, str]]


class Deliveries:
    """Builds signed deliveries: the sandbox's body with a fresh timestamp, a unique identifier."""

    def __init__(self, server: dict[str, Any]) -> None:
        self.template = json.loads(server["payload"])
        self.secret = server["secret"]
        self.admin_path = f"/integrations/jira/webhooks/connection/{server['connections'][ADMIN]}"
        self.issuer = f"jira:{server['cloud_id']}"
        self.count = 0

    def _body(self, extra: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        self.count += 1
        data = {**self.template, "timestamp": int(time.time() * 1000) + self.count, **extra}
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Atlassian Webhook HTTP Client",
            "X-Atlassian-Webhook-Identifier": str(uuid.uuid4()),
            "X-Atlassian-Webhook-Flow": "Primary",
        }
        return json.dumps(data).encode(), headers

    def make(self, kind: str) -> Request:
        """One request of `kind`; an OAuth JWT expires after 180 s, so build them just before use."""
        if kind == OAUTH:
            import jwt

            body, headers = self._body({"matchedWebhookIds": OAUTH_WEBHOOK_IDS})
            now = int(time.time())
            token = jwt.encode(
                {"iss": self.issuer, "iat": now, "exp": now + JWT_LIFETIME_S},
                OAUTH_CLIENT_SECRET,
                algorithm="HS256",
            )
            return OAUTH_PATH, body, {**headers, "Authorization": f"Bearer {token}"}
        body, headers = self._body({})
        signature = "sha256=" + hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
        return (
            (self.admin_path if kind == ADMIN else BARE_PATH),
            body,
            {**headers, "X-Hub-Signature": signature},
        )


EXPECTED = {ADMIN: 202, OAUTH: 202, BARE: 202}


def _post(port: int, request: Request, conn: http.client.HTTPConnection | None = None) -> tuple[int, bytes]:
    path, body, headers = request
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        if own:
            conn.close()


def _send(port: int, kind: str, requests: list[Request]) -> float:
    """POST every request one after the other; the wall time. Any answer but 202 fails."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        start = time.perf_counter()
        for request in requests:
            status, content = _post(port, request, conn)
            if status != EXPECTED[kind]:
                pytest.fail(f"POST {request[0]} answered {status}: {content[:500]!r}")
        return time.perf_counter() - start
    finally:
        conn.close()


def _paced(port: int, kind: str, requests: list[Request]) -> dict[str, Any]:
    """Open loop at RATE: request i leaves at start + i / RATE from one of PACED_THREADS threads;
    its latency runs from that scheduled moment to the end of its answer."""
    latencies: list[float] = []
    late: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()

    def one(request: Request, scheduled: float) -> None:
        sent = time.perf_counter()
        try:
            status, content = _post(port, request)
        except OSError as exc:
            status, content = 0, repr(exc).encode()
        done = time.perf_counter()
        with lock:
            latencies.append(done - scheduled)
            late.append(sent - scheduled)
            if status != EXPECTED[kind]:
                failures.append(f"POST {request[0]} answered {status}: {content[:300]!r}")

    with ThreadPoolExecutor(max_workers=PACED_THREADS) as pool:
        start = time.perf_counter() + 0.05
        for i, request in enumerate(requests):
            scheduled = start + i / RATE
            pause = scheduled - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            pool.submit(one, request, scheduled)
    if failures:
        pytest.fail(f"{len(failures)} paced requests failed, first: {failures[0]}")
    return {"latencies": latencies, "late": late, "span": time.perf_counter() - start}


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def _broker_messages(server: dict[str, Any]) -> int | None:
    if server["external_broker"]:
        return None
    folder = server["tmp"] / "broker" / "queue"
    return sum(1 for entry in folder.iterdir() if entry.is_file())


def test_webhook_intake_against_bare_json_view(server: dict[str, Any]) -> None:
    from integrations.intake import DRAIN_WINDOW_S

    port = server["port"]
    began = time.monotonic()
    deliveries = Deliveries(server)
    sent = {ADMIN: 0, OAUTH: 0, BARE: 0}
    for kind in (ADMIN, OAUTH, BARE):
        _send(port, kind, [deliveries.make(kind) for _ in range(WARMUP)])
        sent[kind] += WARMUP

    elapsed = {ADMIN: 0.0, OAUTH: 0.0, BARE: 0.0}
    timed = dict.fromkeys(elapsed, 0)
    kinds = [ADMIN, OAUTH, BARE]
    order = [kinds[(r + i) % 3] for r in range(REQUESTS // BLOCK) for i in range(3)]
    for kind in order:
        block = [deliveries.make(kind) for _ in range(BLOCK)]
        elapsed[kind] += _send(port, kind, block)
        timed[kind] += BLOCK
        sent[kind] += BLOCK
    rates = {kind: timed[kind] / elapsed[kind] for kind in elapsed}

    paced: dict[str, dict[str, list[float]]] = {
        ADMIN: {"latencies": [], "late": []},
        BARE: {"latencies": [], "late": []},
    }
    spans = dict.fromkeys(paced, 0.0)
    for kind in (ADMIN, BARE, BARE, ADMIN):
        half = _paced(port, kind, [deliveries.make(kind) for _ in range(PACED // 2)])
        paced[kind]["latencies"] += half["latencies"]
        paced[kind]["late"] += half["late"]
        spans[kind] += half["span"]
        sent[kind] += PACED // 2

    stored = steps.step(
        server["env"], MODULE, "verify", server["connections"][ADMIN], server["connections"][OAUTH]
    )
    messages = _broker_messages(server)
    # Deliveries reach the worker as one drain task per window per process (intake.DRAIN_WINDOW_S):
    # at most one message per window the run lasted, and at least one.
    windows = (time.monotonic() - began) / DRAIN_WINDOW_S + 1

    def ms(values: list[float], share: float) -> float:
        return _percentile(values, share) * 1000

    verdicts = {
        kind: "PASS" if rates[kind] / rates[BARE] >= TARGET_RATIO else "BELOW TARGET"
        for kind in (ADMIN, OAUTH)
    }
    p99 = ms(paced[ADMIN]["latencies"], 0.99)
    database = server["database"] + (" (BENCH_DATABASE_URL)" if server["external_db"] else " (temp file)")
    broker = server["broker"] + (
        " (BENCH_CELERY_BROKER_URL)" if server["external_broker"] else " (temp folder)"
    )
    lines = [
        f"\n\nwebhook intake benchmark: jira:issue_updated deliveries of {len(server['payload'])} bytes (the "
        f"sandbox's body for a status change), unique identifiers, signed for real connection rows;",
        f"  gunicorn {' '.join(GUNICORN)} on 127.0.0.1, DEBUG off, database {database} "
        f"(CONN_MAX_AGE {server['conn_max_age']}), cache {server['cache']}, broker {broker}, no consumer",
        f"  full speed, one client, {REQUESTS} timed requests of each kind in rotating blocks of {BLOCK}, "
        f"after {WARMUP} warm-up:",
    ]
    labels = {
        ADMIN: "admin webhook (X-Hub-Signature) ",
        OAUTH: "OAuth dynamic webhook (JWT)      ",
        BARE: "bare JSON view                   ",
    }
    for kind in (ADMIN, OAUTH, BARE):
        ratio = (
            ""
            if kind == BARE
            else (f"  ratio {rates[kind] / rates[BARE]:.3f}   target >= {TARGET_RATIO}   {verdicts[kind]}")
        )
        lines.append(
            f"    {labels[kind]} {rates[kind]:7.1f} req/s  {1000 / rates[kind]:6.2f} ms/request{ratio}"
        )
    lines.append(
        f"  paced at {RATE:.0f} req/s, open loop, {PACED} requests of each kind, "
        "latency from the scheduled send:"
    )
    for kind in (ADMIN, BARE):
        values = paced[kind]["latencies"]
        verdict = ""
        if kind == ADMIN:
            passed = "PASS" if p99 < TARGET_P99_MS else "BELOW TARGET"
            verdict = f"   target p99 < {TARGET_P99_MS:.0f} ms   {passed}"
        lines.append(
            f"    {labels[kind]} p50 {ms(values, 0.5):6.1f} ms  p90 {ms(values, 0.9):6.1f} ms  "
            f"p99 {ms(values, 0.99):6.1f} ms  max {max(values) * 1000:6.1f} ms  "
            f"(achieved {PACED / spans[kind]:.1f} req/s, "
            f"sends late by p99 {ms(paced[kind]['late'], 0.99):.1f} ms)"
            f"{verdict}"
        )
    lines.append(
        f"  stored: {stored['counts']}; {stored['distinct']} distinct (site, identifier) "
        f"of {stored['rows']}; "
        f"broker messages waiting: {'n/a' if messages is None else messages} "
        f"(one drain task per {DRAIN_WINDOW_S}s window, at most {int(windows)})\n"
    )
    print("\n".join(lines))

    signed = sent[ADMIN] + sent[OAUTH]
    assert stored["counts"] == {"admin queued": sent[ADMIN], "dynamic queued": sent[OAUTH]}, stored
    assert stored["rows"] == stored["distinct"] == signed
    assert stored["connection_ids"] == [[server["connections"][ADMIN]], [server["connections"][OAUTH]]]
    assert all(stored["last_delivery_set"].values())
    assert messages is None or 1 <= messages <= windows, f"{messages} broker messages for {signed} deliveries"
    for kind in (ADMIN, OAUTH):
        ratio = rates[kind] / rates[BARE]
        assert ratio >= TARGET_RATIO, f"{kind} intake ratio {ratio:.3f} is below the target {TARGET_RATIO}"
    assert p99 < TARGET_P99_MS, f"intake p99 {p99:.1f} ms at {RATE:.0f} req/s is not under {TARGET_P99_MS} ms"


if __name__ == "__main__":
    steps.main(sys.argv[1:], STEPS)
