"""Forwarding under Jira's burst limit: 1,000 reports (a tenth with one small attachment) sent to
the sandbox Jira by real Celery worker processes while the sandbox limits the site to 50 requests
per second per endpoint and method (knobs rate_limit, rate_post 50, rate_get 50, and a bucket of
100 tokens, the size in Atlassian's own example: API-NOTES §10).

Printed: the sustained create rate as a fraction of the 50 allowed (target ≥ 0.9), the 429s the
sandbox answered (its RequestLog), duplicates (target 0) and Jira calls per report by endpoint
(target: 1 create, 1 upload per report with an attachment, lookups only after an unknown outcome).

Sustained rate: creates per second from the moment the sandbox's bucket first ran dry to the last
create, replaying the bucket's refill rule over the sandbox's own create timestamps (a full bucket
at the first create, then 50 tokens a second up to 100, one per create). Until it runs dry the
bucket's 100 spare tokens let any client go faster than 50, so that part is left out; a client that
keeps a create waiting for every token scores 50, one asleep on Retry-After or throttled below 50
scores less. When the bucket never runs dry the client set the pace: the whole run's rate.

The baseline, measured in the same run: the same workers forwarding 300 reports of the same mix
with the sandbox's limit off, i.e. what this machine and the product (with whatever client-side
throttle it has) can do at all. If it is below 50, so is the limited run, and the ratio says so.

The server is gunicorn with the bench settings (DEBUG off, JIRA_SANDBOX on), one process with
threads, because the sandbox keeps its token buckets in the cache (locmem unless CACHE_URL is
Redis) and two processes would each allow 50 per second. The database is a fresh SQLite file in WAL
mode (or BENCH_DATABASE_URL). The workers are `celery worker --pool=solo` processes with the
production settings (DEBUG off), on a filesystem broker of their own. Setup, sending and counting
run in subprocesses (`python -m tests.benchmarks.test_forwarding ...`). Only `make bench` collects
this.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from . import steps
from .test_ingest import BIN, ROOT, _free_port, _manage, _wait_ready

REPORTS = 1_000
BASELINE_REPORTS = 300
WARMUP_REPORTS = 20
ATTACH_EVERY = 10  # one report in ten carries one small attachment
ATTACHMENT_BYTES = 2_048
RATE = 50.0
BURST = 100.0
TARGET = 0.9
WORKERS = int(os.environ.get("BENCH_FORWARD_WORKERS") or 4)
SETTLE_TIMEOUT_S = 600
# One process (the buckets live in its memory), threads for the concurrent workers' calls.
GUNICORN = ["--workers=1", "--worker-class=gthread", "--threads=8", "--keep-alive=30"]
QUEUE = "bench-forward"
SECRET_KEY = "benchmark-only-secret-key-not-for-any-deployment-0123456789"

# `celery -A config worker ...`, with the consumed queue as the default queue: `forward_link`
# schedules its next attempt with apply_async, and that message must come back to these workers.
WORKER_BOOT = (
    "import os, sys\n"
    "from config.celery import app\n"
    "app.conf.task_default_queue = os.environ['BENCH_FORWARD_QUEUE']\n"
    "app.worker_main(['worker', *sys.argv[1:]])\n"
)

# RequestLog paths → the call they are (the sandbox logs the path it was asked, query included).
ENDPOINTS = (
    ("create", "POST", re.compile(r"/rest/api/3/issue$")),
    ("upload", "POST", re.compile(r"/rest/api/3/issue/[^/]+/attachments$")),
    ("lookup", "POST", re.compile(r"/rest/api/3/search/jql$")),
    ("attachment meta", "GET", re.compile(r"/rest/api/3/attachment/meta$")),
)

MODULE = "tests.benchmarks.test_forwarding"  # this file, run as the steps' script


# ---------------------------------------------------------------------------------------------
# Steps run in a subprocess with the product's settings (python -m tests.benchmarks.test_forwarding)
# ---------------------------------------------------------------------------------------------


def _setup(warmup: int, baseline: int, measured: int) -> dict[str, Any]:
    """An organization with one app per phase, each with a Basic-auth connection on acme's WEB
    project, its reports (every ATTACH_EVERY-th with an attachment) and their pending links."""
    import uuid

    from django.conf import settings
    from django.core.files.base import ContentFile
    from django.utils import timezone

    from accounts.models import Membership, Organization, Role, User
    from bugs.models import Attachment
    from bugs.services import app_create, report_create
    from integrations import forwarding, services
    from integrations.jira_sandbox import models as sandbox
    from integrations.jira_sandbox.seed import credentials
    from integrations.models import IssueLink

    tag = uuid.uuid4().hex[:12]
    organization = Organization.objects.create(name="Forwarding benchmark", slug=f"forward-bench-{tag}")
    owner = User.objects.create_user(f"owner-{tag}@example.com", name="Olivia Owner")
    Membership.objects.create(organization=organization, user=owner, role=Role.OWNER)
    jira = credentials()
    web = sandbox.Project.objects.get(site__name="acme", key="WEB")
    bug = sandbox.IssueType.objects.get(site__name="acme", name="Bug")
    result: dict[str, Any] = {
        "organization_id": organization.pk,
        "throttle_rps": getattr(settings, "JIRA_THROTTLE_RPS", None),
        "throttle_burst": getattr(settings, "JIRA_THROTTLE_BURST", None),
        "consistency_s": settings.JIRA_SEARCH_CONSISTENCY_S,
        "database": settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1],
        "cache": settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1],
    }
    for phase, count in (("warmup", warmup), ("baseline", baseline), ("measured", measured)):
        app, _ = app_create(organization=organization, name=f"Forwarding {phase}", platform="ios")
        draft = services.jira_draft_from_credentials(
            app=app,
            auth_type="basic",
            site_url=f"{settings.SITE_URL}/sandbox/jira/site/acme",
            email=jira["user_email"],
            api_token=jira["api_token"],
        )
        draft.project_id, draft.project_key, draft.project_name = web.project_id, web.key, web.name
        draft.issue_type_id, draft.issue_type_name = bug.type_id, bug.name
        connection = services.jira_connection_save(app=app, draft=draft)
        ids = []
        for i in range(count):
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
            if i % ATTACH_EVERY == 0:
                Attachment.objects.create(
                    report=report,
                    kind="log",
                    file=ContentFile(
                        b"12:00:01 checkout tapped\n" * (ATTACHMENT_BYTES // 25), name="console.log"
                    ),
                    original_name="console.log",
                    content_type="text/plain",
                    size=ATTACHMENT_BYTES // 25 * 25,
                )
            link = IssueLink.objects.create(
                report=report,
                connection=connection,
                label=forwarding.report_label(report),
                next_attempt_at=timezone.now(),
            )
            ids.append(link.pk)
        result[phase] = ids
    return result


def _run(ids: list[int], timeout: float) -> dict[str, Any]:
    """Send one `forward_link` message per link (as `forward_request` does on commit), then wait
    until none is pending and every linked one's attachments are done."""
    from django.db.models import Q

    from config.celery import app
    from integrations.models import IssueLink

    began = time.time()
    for pk in ids:
        app.send_task("integrations.tasks.forward_link", args=[pk], queue=os.environ["BENCH_FORWARD_QUEUE"])
    sent = time.time()
    unsettled = Q(state=IssueLink.State.PENDING) | Q(state=IssueLink.State.LINKED, attachments_done=False)
    while time.time() - began < timeout:
        if not IssueLink.objects.filter(pk__in=ids).filter(unsettled).exists():
            break
        time.sleep(0.25)
    return {"began": began, "sent_s": sent - began, "settled_s": time.time() - began}


def _log_mark() -> dict[str, Any]:
    from integrations.jira_sandbox.models import RequestLog

    return {"mark": RequestLog.objects.order_by("-pk").values_list("pk", flat=True).first() or 0}


def _knobs(changes: str) -> dict[str, Any]:
    from integrations.jira_sandbox.knobs import knobs_update
    from integrations.jira_sandbox.models import Site

    return knobs_update(site=Site.objects.get(name="acme"), changes=json.loads(changes)).as_dict()


def _measure(ids: list[int], mark: int) -> dict[str, Any]:
    """What a phase did, from the product's links and the sandbox's own records."""
    from integrations.jira_sandbox import models as sandbox
    from integrations.models import IssueLink

    links = IssueLink.objects.filter(pk__in=ids)
    labels = list(links.values_list("label", flat=True))
    pairs = set(
        sandbox.IssueLabel.objects.filter(issue__site__name="acme", name__in=labels).values_list(
            "name", "issue_id", "issue__created"
        )
    )
    per_label = Counter(name for name, _, _ in pairs)
    created = sorted(stamp.timestamp() for _, _, stamp in pairs)
    calls: Counter[str] = Counter()
    for method, path, status in sandbox.RequestLog.objects.filter(pk__gt=mark, site__name="acme").values_list(
        "method", "path", "status"
    ):
        kind = next((k for k, m, p in ENDPOINTS if m == method and p.search(path.split("?")[0])), "other")
        calls[f"{kind}"] += 1
        calls[f"{kind} {'429' if status == 429 else 'ok' if status < 300 else 'failed'}"] += 1
    return {
        "links": dict(Counter(links.values_list("state", flat=True))),
        "with_attachments": links.filter(report__attachments__isnull=False).distinct().count(),
        "attachment_notes": list(
            links.exclude(attachments_note="").values_list("attachments_note", flat=True)[:5]
        ),
        "attachments_stored": sandbox.Attachment.objects.filter(
            issue__site__name="acme", issue__label_rows__name__in=labels
        ).count(),
        "labels": len(labels),
        "issues": len({issue for _, issue, _ in pairs}),
        "duplicates": sum(n - 1 for n in per_label.values() if n > 1),
        "without_issue": len(labels) - len(per_label),
        "created": created,
        "calls": dict(calls),
    }


STEPS: steps.Steps = {
    "setup": lambda args: _setup(*map(int, args)),
    "run": lambda args: _run(json.loads(args[0]), float(args[1])),
    "mark": lambda args: _log_mark(),
    "knobs": lambda args: _knobs(args[0]),
    "measure": lambda args: _measure(json.loads(args[0]), int(args[1])),
    "cleanup": lambda args: steps.organization_delete(int(args[0])),
}


# ---------------------------------------------------------------------------------------------
# The benchmark
# ---------------------------------------------------------------------------------------------


def _start_worker(env: dict[str, str], tmp: Path, number: int) -> subprocess.Popen[bytes]:
    with (tmp / f"worker-{number}.log").open("wb") as log_file:
        return subprocess.Popen(
            [sys.executable, "-c", WORKER_BOOT, "--pool=solo", "-Q", QUEUE, f"--hostname=bench{number}@%h",
             "--without-heartbeat", "--without-gossip", "--without-mingle", "--loglevel=WARNING"],
            cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT,
        )  # fmt: skip


@pytest.fixture(scope="module")
def world() -> Iterator[dict[str, Any]]:
    """Migrated, sandbox-seeded database; gunicorn serving the sandbox; the product's reports and
    pending links; WORKERS worker processes on a broker folder of their own."""
    tmp = Path(tempfile.mkdtemp(prefix="bugbridge-bench-forward-"))
    (tmp / "static").mkdir()
    external_db = os.environ.get("BENCH_DATABASE_URL")
    database_url = external_db or f"sqlite:///{tmp / 'bench.sqlite3'}"
    server_env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.benchmarks.bench_settings",
        "BENCH_DATABASE_URL": external_db or f"{database_url}?conn_max_age=60",
        "BENCH_TMP_DIR": str(tmp),
        "JIRA_SANDBOX": "true",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    port = _free_port()
    # The product's side (setup, workers, counting): production settings, DEBUG off.
    product_env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "false",
        "SECRET_KEY": SECRET_KEY,
        "DATABASE_URL": database_url,
        "SITE_URL": f"http://127.0.0.1:{port}",
        "ALLOWED_HOSTS": "127.0.0.1",
        "JIRA_SANDBOX": "true",
        "CELERY_BROKER_URL": "filesystem://",
        "CELERY_FILESYSTEM_BROKER_DIR": str(tmp / "broker"),
        "BENCH_FORWARD_QUEUE": QUEUE,
        # The operator sets the shared rate limit just under the site's limit (here the sandbox's
        # 50 per second and endpoint); BENCH_THROTTLE_RPS=0 measures without it.
        "JIRA_THROTTLE_RPS": os.environ.get("BENCH_THROTTLE_RPS", "48"),
        "MEDIA_ROOT": str(tmp / "media"),
        "STATIC_ROOT": str(tmp / "static"),
        "LOG_LEVEL": "WARNING",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    server: subprocess.Popen[bytes] | None = None
    workers: list[subprocess.Popen[bytes]] = []
    info: dict[str, Any] = {}
    try:
        _manage(server_env, "manage.py", "migrate", "--noinput", "-v", "0")
        _manage(server_env, "manage.py", "sandbox_seed", "--reset", "--quiet-credentials")
        log = tmp / "gunicorn.log"
        with log.open("wb") as log_file:
            server = subprocess.Popen(
                [str(BIN / "gunicorn"), "config.wsgi:application", f"--bind=127.0.0.1:{port}", *GUNICORN,
                 "--timeout=120", "--log-level=warning"],
                cwd=ROOT, env=server_env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        _wait_ready(server, port, log)
        info = steps.step(product_env, MODULE, "setup", WARMUP_REPORTS, BASELINE_REPORTS, REPORTS)
        workers = [_start_worker(product_env, tmp, number) for number in range(WORKERS)]
        yield {**info, "env": product_env, "tmp": tmp, "workers": workers, "external_db": bool(external_db)}
    finally:
        for process in workers:
            steps.stop(process)
        if server is not None:
            steps.stop(server, group=True)
        if external_db:
            if info:
                steps.step(product_env, MODULE, "cleanup", info["organization_id"])
            _manage(server_env, "manage.py", "sandbox_seed", "--reset", "--quiet-credentials")
        shutil.rmtree(tmp, ignore_errors=True)


def _phase(world: dict[str, Any], name: str) -> dict[str, Any]:
    env, ids = world["env"], world[name]
    mark = steps.step(env, MODULE, "mark")["mark"]
    timing = steps.step(env, MODULE, "run", json.dumps(ids), SETTLE_TIMEOUT_S)
    for number, process in enumerate(world["workers"]):
        log = (world["tmp"] / f"worker-{number}.log").read_text(errors="replace")[-3000:]
        assert process.poll() is None, f"worker {number} died:\n{log}"
    return {**timing, **steps.step(env, MODULE, "measure", json.dumps(ids), mark)}


def _span(phase: dict[str, Any]) -> float:
    created = phase["created"]
    return created[-1] - created[0] if len(created) > 1 else 0.0


def _rate(created: list[float], start: int = 0) -> float:
    span = created[-1] - created[start] if len(created) > start + 1 else 0.0
    return (len(created) - 1 - start) / span if span > 0 else 0.0


def _sustained(created: list[float], rate: float, burst: float) -> tuple[float, int | None]:
    """Creates per second after the bucket first ran dry (replayed from the create times), and
    the create it ran dry at (None: it never did, and the whole run's rate is returned)."""
    tokens, last = burst, created[0] if created else 0.0
    for index, moment in enumerate(created):
        tokens = min(burst, tokens + (moment - last) * rate) - 1
        last = moment
        if tokens < 1:
            return _rate(created, index), index
    return _rate(created), None


def _per_report(phase: dict[str, Any], kind: str, reports: int) -> str:
    calls = phase["calls"]
    total, limited = calls.get(kind, 0), calls.get(f"{kind} 429", 0)
    return f"{total / max(reports, 1):.2f} ({total} calls, {limited} answered 429)"


def test_forwarding_under_the_burst_limit(world: dict[str, Any]) -> None:
    env = world["env"]
    _phase(world, "warmup")  # workers up, connections and caches warm
    baseline = _phase(world, "baseline")
    steps.step(
        env,
        MODULE,
        "knobs",
        json.dumps({"rate_limit": True, "rate_post": RATE, "rate_get": RATE, "burst": BURST}),
    )
    try:
        measured = _phase(world, "measured")
    finally:
        steps.step(env, MODULE, "knobs", json.dumps({"rate_limit": False}))

    baseline_rate = _rate(baseline["created"])
    sustained, dry_at = _sustained(measured["created"], RATE, BURST)
    attached = measured["with_attachments"]
    calls = measured["calls"]
    throttle = (
        f"JIRA_THROTTLE_RPS {world['throttle_rps']:g}{' (off)' if not world['throttle_rps'] else ''}, "
        f"burst {world['throttle_burst']}"
        if world["throttle_rps"] is not None
        else "no client-side throttle"
    )
    verdict = "PASS" if sustained / RATE >= TARGET else "BELOW TARGET"
    dry = (
        f"from create {dry_at + 1}, when the bucket ran dry" if dry_at is not None else "bucket never ran dry"
    )
    lines = [
        f"\n\nforwarding benchmark: {REPORTS} reports ({attached} with a {ATTACHMENT_BYTES} B attachment) "
        f"through {WORKERS} worker processes (--pool=solo), after {WARMUP_REPORTS} warm-up reports;",
        f"  sandbox: gunicorn {' '.join(GUNICORN)}, DEBUG off, database {world['database']}"
        f"{' (BENCH_DATABASE_URL)' if world['external_db'] else ' (temp file)'}, cache {world['cache']}; "
        f"product: {throttle}, JIRA_SEARCH_CONSISTENCY_S {world['consistency_s']:g}",
        f"  baseline, sandbox limit off ({BASELINE_REPORTS} reports): {baseline_rate:.1f} creates/s "
        f"= {baseline_rate / RATE:.2f} x {RATE:.0f}",
        f"  limited to {RATE:.0f}/s per endpoint and method, bucket {BURST:.0f}: sustained "
        f"{sustained:.1f} creates/s ({dry}) = {sustained / RATE:.2f} x {RATE:.0f} (target >= {TARGET})   "
        f"{verdict}",
        f"    = {sustained / baseline_rate if baseline_rate else 0:.2f} x baseline; whole run "
        f"{_rate(measured['created']):.1f} creates/s over {_span(measured):.1f} s; all settled "
        f"{measured['settled_s']:.1f} s after the first send",
        f"  429s answered: {sum(v for k, v in calls.items() if k.endswith(' 429'))}; duplicates: "
        f"{measured['duplicates']} (target 0); reports without their issue: {measured['without_issue']}; "
        f"links {measured['links']}",
        f"  Jira calls per report: creates {_per_report(measured, 'create', REPORTS)}; "
        f"lookups {_per_report(measured, 'lookup', REPORTS)}",
        f"  per report with an attachment: uploads {_per_report(measured, 'upload', attached)}; "
        f"attachment meta {_per_report(measured, 'attachment meta', attached)}; "
        f"{measured['attachments_stored']} files stored; other calls {calls.get('other', 0)}",
        f"  baseline calls: {baseline['calls']}\n",
    ]
    print("\n".join(lines))
    if measured["attachment_notes"]:
        print(f"  attachment notes: {measured['attachment_notes']}")

    for phase in (baseline, measured):
        assert phase["duplicates"] == 0, f"{phase['duplicates']} duplicate issues"
        assert phase["without_issue"] == 0 and phase["links"] == {"linked": phase["labels"]}, phase["links"]
    assert measured["attachments_stored"] == attached, measured["attachment_notes"]


if __name__ == "__main__":
    steps.main(sys.argv[1:], STEPS)
