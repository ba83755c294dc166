"""End-to-end lag of two-way sync over webhooks (issue §6): from a status change in the sandbox
Jira to the report page showing the new status; target median at most 2 s.

The world, as `make run` deploys it but with gunicorn: one server (bench settings, DEBUG off,
JIRA_SANDBOX on; gunicorn GUNICORN) serving both the product and the sandbox Jira, and the
Procfile's worker (`celery -A config worker --concurrency=2`, production settings, DEBUG off),
on one fresh SQLite file in WAL mode (or BENCH_DATABASE_URL) and the embedded default broker, a
`filesystem://` folder of the run's own (or BENCH_CELERY_BROKER_URL, e.g. Redis). The worker runs
the sandbox's webhook sends as well as the product's tasks (in Atlassian's cloud the first hop
is Jira's own).

Setup (a subprocess with the production settings): an app whose Basic-auth connection to acme's
WEB project has status sync on and its admin webhook registered in the sandbox as Finish
registers it (`subscriptions.webhooks_ensure`); REPORTS reports forwarded to Jira
(`forwarding.forward_link`), their state seen once by a reconciliation pass (the baseline); a
signed-in session of the app's owner.

Each change, one at a time: Alice moves an issue through the sandbox's REST API (`POST
.../issue/{key}/transitions`, Start progress or Stop progress, so the report's status flips
between New and In progress), timed from just before that request. The sandbox answers, then
sends jira:issue_updated (its Celery task, signed X-Hub-Signature) to the product's webhook
endpoint, which records it and queues `sync_delivery`, which the worker applies. Meanwhile the
owner's report page (`GET /apps/<app>/reports/<n>/`, the full page) is fetched every POLL_S until
its Triage form shows the new status: the lag ends when that answer has arrived. Between changes
a random pause, so changes fall at any phase of the broker's polling.

Printed: median and p90 (and max) of the lag over CHANGES changes after WARMUP, and the median of
each leg from the two sides' own records: change → our endpoint received it (the sandbox's side,
Jira's in production), received → the worker took it up (our queue), taken up → the page showed
it (applying, and the page poll). The median target is asserted after printing; only `make bench`
collects this.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from . import steps
from .test_ingest import BIN, ROOT, _free_port, _manage, _wait_ready

REPORTS = 5
WARMUP = 3
CHANGES = 30
POLL_S = 0.05  # between one page answer and the next request
PAUSE_S = (0.3, 1.3)  # random pause between changes
TIMEOUT_S = 60.0
TARGET_MEDIAN_S = 2.0
SECRET_KEY = "benchmark-only-secret-key-not-for-any-deployment-0123456789"
GUNICORN = ["--workers=2", "--worker-class=gthread", "--threads=4", "--keep-alive=30"]
# The Procfile's worker (the default queue); gossip, mingle and heartbeats off as the e2e tests
# run it. The sandbox's webhook sends go to a queue and a worker of their own (Jira's side).
QUIET = ["--without-heartbeat", "--without-gossip", "--without-mingle", "--loglevel=WARNING"]
WORKER = ["worker", "--concurrency=2", "--hostname=product@%h", *QUIET]
SANDBOX_QUEUE = "jira-sandbox"
SANDBOX_WORKER = ["--concurrency=1", "-Q", SANDBOX_QUEUE, "--hostname=jira@%h", *QUIET]
# The sandbox's sender looks at its queue every 0.1 s (a filesystem broker's consumer looks every
# second by default): so Jira's hop is short and falls at any phase of the product worker's own
# polling, as Jira's sends do; with both at one second, the two would stay in lockstep.
SANDBOX_POLL_S = 0.1
SANDBOX_BOOT = (
    "import sys\n"
    "from config.celery import app\n"
    "options = dict(app.conf.broker_transport_options or {})\n"
    f"options['polling_interval'] = {SANDBOX_POLL_S}\n"
    "app.conf.broker_transport_options = options\n"
    "app.worker_main(['worker', *sys.argv[1:]])\n"
)
# Transition → (its id in the sandbox's workflow, the report status it means).
START, STOP = ("11", "in_progress"), ("61", "new")
STATUS_SELECT = re.compile(rb'<select name="status"[^>]*>(.*?)</select>', re.S)
SELECTED = re.compile(rb'<option value="([^"]*)"[^>]*\bselected\b')

MODULE = "tests.benchmarks.test_sync_lag"  # this file, run as the steps' script


# ---------------------------------------------------------------------------------------------
# Steps run in a subprocess with the product's settings (python -m tests.benchmarks.test_sync_lag)
# ---------------------------------------------------------------------------------------------


def _setup(reports: int) -> dict[str, Any]:
    import uuid

    from django.conf import settings
    from django.test import Client

    from accounts.models import Membership, Organization, Role, User
    from bugs.services import app_create, report_create
    from integrations import forwarding, reconcile, services, subscriptions
    from integrations.jira_sandbox import models as sandbox
    from integrations.jira_sandbox.seed import credentials
    from integrations.models import IssueLink

    tag = uuid.uuid4().hex[:12]
    organization = Organization.objects.create(name="Sync lag benchmark", slug=f"sync-lag-bench-{tag}")
    owner = User.objects.create_user(f"owner-{tag}@example.com", name="Olivia Owner")
    Membership.objects.create(organization=organization, user=owner, role=Role.OWNER)
    app, _ = app_create(organization=organization, name="Sync lag", platform="ios")
    jira = credentials()
    web = sandbox.Project.objects.get(site__name="acme", key="WEB")
    bug = sandbox.IssueType.objects.get(site__name="acme", name="Bug")
    draft = services.jira_draft_from_credentials(
        app=app,
        auth_type="basic",
        site_url=f"{settings.SITE_URL}/sandbox/jira/site/acme",
        email=jira["user_email"],
        api_token=jira["api_token"],
    )
    draft.project_id, draft.project_key, draft.project_name = web.project_id, web.key, web.name
    draft.issue_type_id, draft.issue_type_name = bug.type_id, bug.name
    draft.priority_two_way = not web.custom_priorities
    draft.sync_status = draft.sync_priority = draft.sync_comments = True
    connection = services.jira_connection_save(app=app, draft=draft)
    warning = subscriptions.webhooks_ensure(connection=connection)
    connection.refresh_from_db()
    if warning or connection.webhook_kind != "admin":
        raise RuntimeError(f"no admin webhook registered: {warning or connection.webhook_error}")

    numbers = []
    for i in range(reports):
        report = report_create(
            app=app,
            fields={
                "title": f"Checkout button does nothing after changing the address ({i})",
                "description": "Tap Pay: the button greys out for a second, then nothing happens.",
                "os_name": "iOS",
                "os_version": "18.1",
                "app_version": "4.2.0",
                "device_model": "iPhone 15",
            },
        )
        link = IssueLink.objects.create(
            report=report, connection=connection, label=forwarding.report_label(report)
        )
        forwarding.forward_link(link_id=link.pk)
        numbers.append(report.number)
    # The first sight of each issue is its baseline (a status change before it is not applied).
    if not reconcile.reconcile_connection(connection_id=connection.pk).ok:
        raise RuntimeError("the baseline reconciliation pass failed")
    links = list(
        IssueLink.objects.filter(connection=connection).values_list(
            "report__number", "state", "issue_key", "jira_status_id"
        )
    )
    if any(state != "linked" or not status for _, state, _, status in links):
        raise RuntimeError(f"reports not linked with a known status: {links}")
    client = Client()
    client.force_login(owner)
    return {
        "organization_id": organization.pk,
        "connection_id": connection.pk,
        "app_id": app.pk,
        "issues": {str(number): key for number, _, key, _ in links},
        "basic": base64.b64encode(f"{jira['user_email']}:{jira['api_token']}".encode()).decode(),
        "cookie": f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}",
        "database": settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1],
        "broker": settings.CELERY_BROKER_URL.split("://", 1)[0],
    }


def _legs(connection_id: int, starts: list[float]) -> dict[str, Any]:
    """Per change (in order, by time: each began after the previous one showed): when our
    endpoint recorded its delivery and when the worker took it up, as epoch seconds."""
    from integrations.models import WebhookDelivery

    # connection_ids is a JSON list, and SQLite has no JSON `contains`: filtered here.
    rows = list(
        WebhookDelivery.objects.filter(event="jira:issue_updated")
        .order_by("received_at")
        .values_list("connection_ids", "received_at", "processed_at", "outcome")
    )
    mine = [(r, p, o) for ids, r, p, o in rows if connection_id in (ids or [])]
    legs = []
    for start in starts:
        found = next(((r, p, o) for r, p, o in mine if r.timestamp() >= start), None)
        if found is None:
            legs.append(None)
            continue
        received, processed, outcome = found
        legs.append(
            {
                "received": received.timestamp(),
                "taken": processed.timestamp() if processed else None,
                "outcome": outcome,
            }
        )
    return {"legs": legs, "deliveries": len(mine)}


STEPS: steps.Steps = {
    "setup": lambda args: _setup(int(args[0])),
    "legs": lambda args: _legs(int(args[0]), json.loads(args[1])),
    "cleanup": lambda args: steps.organization_delete(int(args[0])),
}


# ---------------------------------------------------------------------------------------------
# The benchmark
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world() -> Iterator[dict[str, Any]]:
    """Migrated, sandbox-seeded database; gunicorn serving product and sandbox; the worker; the
    linked reports and the owner's session."""
    tmp = Path(tempfile.mkdtemp(prefix="bugbridge-bench-sync-lag-"))
    (tmp / "static").mkdir()
    external_db = os.environ.get("BENCH_DATABASE_URL")
    broker = os.environ.get("BENCH_CELERY_BROKER_URL") or "filesystem://"
    database_url = external_db or f"sqlite:///{tmp / 'bench.sqlite3'}"
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    shared = {
        "CELERY_FILESYSTEM_BROKER_DIR": str(tmp / "broker"),
        "SECRET_KEY": SECRET_KEY,
        "JIRA_SANDBOX": "true",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    server_env = {
        **os.environ,
        **shared,
        "DJANGO_SETTINGS_MODULE": "tests.benchmarks.bench_settings",
        "BENCH_DATABASE_URL": external_db or f"{database_url}?conn_max_age=60",
        "BENCH_TMP_DIR": str(tmp),
        "BENCH_SITE_URL": base,
        "BENCH_CELERY_BROKER_URL": broker,
        "BENCH_SANDBOX_QUEUE": SANDBOX_QUEUE,
    }
    product_env = {
        **os.environ,
        **shared,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "false",
        "DATABASE_URL": database_url,
        "SITE_URL": base,
        "ALLOWED_HOSTS": "127.0.0.1",
        "CELERY_BROKER_URL": broker,
        "MEDIA_ROOT": str(tmp / "media"),
        "STATIC_ROOT": str(tmp / "static"),
        "LOG_LEVEL": "WARNING",
    }
    processes: list[subprocess.Popen[bytes]] = []
    info: dict[str, Any] = {}
    try:
        _manage(server_env, "manage.py", "migrate", "--noinput", "-v", "0")
        _manage(server_env, "manage.py", "sandbox_seed", "--reset", "--quiet-credentials")
        # The report page's {% static %} needs the manifest with DEBUG off.
        _manage(server_env, "manage.py", "collectstatic", "--noinput", "-v", "0")
        log = tmp / "gunicorn.log"
        with log.open("wb") as log_file:
            server = subprocess.Popen(
                [str(BIN / "gunicorn"), "config.wsgi:application", f"--bind=127.0.0.1:{port}", *GUNICORN,
                 "--timeout=120", "--log-level=warning"],
                cwd=ROOT, env=server_env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        processes.append(server)
        _wait_ready(server, port, log)
        info = steps.step(product_env, MODULE, "setup", REPORTS)
        for name, argv in (
            ("sandbox-worker", [sys.executable, "-c", SANDBOX_BOOT, *SANDBOX_WORKER]),
            ("worker", [str(BIN / "celery"), "-A", "config", *WORKER]),
        ):
            with (tmp / f"{name}.log").open("wb") as log_file:
                worker = subprocess.Popen(
                    argv,
                    cwd=ROOT, env=product_env, stdout=log_file, stderr=subprocess.STDOUT,
                    start_new_session=True,
                )  # fmt: skip
            processes.append(worker)
        yield {
            **info,
            "port": port,
            "env": product_env,
            "tmp": tmp,
            "workers": processes[1:],
            "external_db": bool(external_db),
            "external_broker": bool(os.environ.get("BENCH_CELERY_BROKER_URL")),
        }
    finally:
        for process in reversed(processes):
            steps.stop(process, group=True)
        try:
            if external_db:
                if info:
                    steps.step(product_env, MODULE, "cleanup", info["organization_id"])
                _manage(server_env, "manage.py", "sandbox_seed", "--reset", "--quiet-credentials")
            if info and os.environ.get("BENCH_CELERY_BROKER_URL"):
                _manage(
                    product_env,
                    "-m",
                    "celery",
                    "-A",
                    "config",
                    "purge",
                    "-f",
                    "-Q",
                    f"celery,{SANDBOX_QUEUE}",
                )
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


class Browser:
    """One keep-alive connection to the server; reconnects when the server closes it."""

    def __init__(self, port: int, headers: dict[str, str]) -> None:
        self.port, self.headers = port, headers
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def call(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=body, headers=self.headers)
                response = self.conn.getresponse()
                return response.status, response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.conn.close()


def _shown_status(html: bytes) -> str:
    select = STATUS_SELECT.search(html)
    chosen = SELECTED.search(select.group(1)) if select else None
    if chosen is None:
        raise AssertionError(f"no selected status on the report page: {html[:300]!r}")
    return chosen.group(1).decode()


def _logs(world: dict[str, Any]) -> str:
    return "".join(
        f"\n--- {name}.log:\n" + (world["tmp"] / f"{name}.log").read_text(errors="replace")[-2000:]
        for name in ("sandbox-worker", "worker", "gunicorn")
    )


def _change(world: dict[str, Any], jira: Browser, page: Browser, number: str, move: tuple[str, str]) -> dict:
    """One transition in the sandbox, then the page polled until it shows the status it means."""
    key = world["issues"][number]
    transition, wanted = move
    body = json.dumps({"transition": {"id": transition}}).encode()
    start = time.time()
    status, content = jira.call("POST", f"/sandbox/jira/site/acme/rest/api/3/issue/{key}/transitions", body)
    answered = time.time()
    if status != 204:
        pytest.fail(f"the sandbox refused transition {transition} of {key}: {status} {content[:300]!r}")
    polls, page_s = 0, []
    url = f"/apps/{world['app_id']}/reports/{number}/"
    while True:
        asked = time.time()
        status, html = page.call("GET", url)
        seen = time.time()
        polls += 1
        page_s.append(seen - asked)
        if status != 200:
            log = (world["tmp"] / "gunicorn.log").read_text(errors="replace")[-3000:]
            pytest.fail(f"GET {url} answered {status}: {html[:300]!r}\n{log}")
        if _shown_status(html) == wanted:
            return {"start": start, "answered": answered, "seen": seen, "polls": polls, "page_s": page_s}
        if seen - start > TIMEOUT_S:
            pytest.fail(f"{key}: the page did not show {wanted} within {TIMEOUT_S:.0f} s{_logs(world)}")
        if any(worker.poll() is not None for worker in world["workers"]):
            pytest.fail(f"a worker died{_logs(world)}")
        time.sleep(POLL_S)


def test_status_change_reaches_the_report_page(world: dict[str, Any]) -> None:
    jira = Browser(
        world["port"],
        {
            "Authorization": f"Basic {world['basic']}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        },
    )
    page = Browser(world["port"], {"Cookie": world["cookie"], "Accept": "text/html"})
    numbers = sorted(world["issues"], key=int)
    state = dict.fromkeys(numbers, STOP[1])  # every issue starts in To Do: report status New
    rng = random.Random(2026)
    changes = []
    try:
        for i in range(WARMUP + CHANGES):
            number = numbers[i % len(numbers)]
            move = START if state[number] == STOP[1] else STOP
            changes.append(_change(world, jira, page, number, move))
            state[number] = move[1]
            time.sleep(rng.uniform(*PAUSE_S))
    finally:
        jira.close()
        page.close()

    measured = changes[WARMUP:]
    legs = steps.step(
        world["env"], MODULE, "legs", world["connection_id"], json.dumps([c["start"] for c in measured])
    )
    lags = [c["seen"] - c["start"] for c in measured]
    median, p90 = statistics.median(lags), sorted(lags)[int(0.9 * len(lags)) - 1]

    def leg_median(values: list[float]) -> str:
        return f"{statistics.median(values) * 1000:6.0f} ms" if values else "   n/a"

    found = [(c, leg) for c, leg in zip(measured, legs["legs"], strict=True) if leg and leg["taken"]]
    jira_side = [leg["received"] - c["start"] for c, leg in found]
    queue = [leg["taken"] - leg["received"] for c, leg in found]
    shown = [c["seen"] - leg["taken"] for c, leg in found]
    page_times = [t for c in measured for t in c["page_s"]]
    verdict = "PASS" if median <= TARGET_MEDIAN_S else "BELOW TARGET"
    database = world["database"] + (" (BENCH_DATABASE_URL)" if world["external_db"] else " (temp file)")
    broker = world["broker"] + (
        " (BENCH_CELERY_BROKER_URL)" if world["external_broker"] else " (temp folder)"
    )
    polls = statistics.median(c["polls"] for c in measured)
    answered = statistics.median(c["answered"] - c["start"] for c in measured)
    lines = [
        f"\n\nsync lag benchmark: {CHANGES} status changes in the sandbox Jira (after {WARMUP} "
        f"warm-up), one at a time over {REPORTS} linked reports, each until the report page shows it;",
        f"  gunicorn {' '.join(GUNICORN)} (product and sandbox), DEBUG off; product worker `celery "
        f"{' '.join(WORKER[:2])}`, the sandbox's sender `celery worker {SANDBOX_WORKER[0]}` on a "
        f"queue of its own, polling it every {SANDBOX_POLL_S:g} s; database {database}; broker {broker}",
        f"  lag, change → page shows it: median {median:.2f} s   p90 {p90:.2f} s   min {min(lags):.2f} s   "
        f"max {max(lags):.2f} s   target median <= {TARGET_MEDIAN_S:.0f} s   {verdict}",
        f"  legs (medians, {len(found)} of {len(measured)} matched): change → our endpoint received it "
        f"{leg_median(jira_side)} (the sandbox's sender: Jira's side);",
        f"    received → the worker took it up {leg_median(queue)} (our queue); "
        f"taken up → the page showed it {leg_median(shown)} (apply, and the poll)",
        f"  report page: median {statistics.median(page_times) * 1000:.0f} ms per GET, polled every "
        f"{POLL_S * 1000:.0f} ms after each answer ({polls:.0f} polls per change, median); the "
        f"transition call answered in {answered * 1000:.0f} ms (median); {legs['deliveries']} deliveries "
        "recorded\n",
    ]
    print("\n".join(lines))
    assert median <= TARGET_MEDIAN_S, f"median lag {median:.2f} s is above {TARGET_MEDIAN_S} s"


if __name__ == "__main__":
    steps.main(sys.argv[1:], STEPS)
