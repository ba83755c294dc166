"""Reconciliation with 100,000 linked issues of which k changed (issue §6): Jira calls per pass
(target 1 + ceil(k / page size), an upper bound) for k = 0, 10 and 1,000, and its duration.

The world: the sandbox Jira served by gunicorn (bench settings, DEBUG off, JIRA_SANDBOX on) and
the product's side run in a subprocess with the production settings (DEBUG off), both on one
fresh SQLite file in WAL mode (or BENCH_DATABASE_URL). One app has a Basic-auth connection to
acme's WEB project with status, priority and comment sync on, made as the wizard makes it
(`jira_draft_from_credentials`, which asks the sandbox who the token is); then, in bulk, 100,000
sandbox issues in WEB (last updated 30 days ago), 100,000 reports and their 100,000 linked
IssueLinks, each knowing its issue's state as of then.

Per k, in this order (k = 0, 10, 1,000): k issues spread over the whole range are changed in the
sandbox (status To Do → In Progress and `updated`/search index moved to now, written straight to
the sandbox's table: changes whose webhooks never came), then one `reconcile_connection` pass
runs, with the watermark the previous pass left. Printed per pass: its Jira calls (Pass.calls,
and the sandbox's own RequestLog for the pass) against the target, issues seen and changed, and
its duration, as a ratio of a bare search of the same pages in the same run (the product's
JiraClient walking the same JQL with the same fields and page size, applying nothing: timed
before and after the pass, the mean of both). After each pass the changed issues' `updated` is put
back, so the next pass's overlap does not bring them again. A first pass (which also asks
`GET myself` for the time zone) runs before and is printed on its own line.

The call targets are asserted (they are counts, not timings), as are the reports' new statuses.
Only `make bench` collects this.
"""

from __future__ import annotations

import json
import math
import os
import shutil
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

LINKED = 100_000
KS = (0, 10, 1_000)
SECRET_KEY = "benchmark-only-secret-key-not-for-any-deployment-0123456789"
GUNICORN = ["--workers=1", "--worker-class=gthread", "--threads=2", "--keep-alive=30"]
AGE_DAYS = 30  # how long ago the seeded issues were last updated
TO_DO, IN_PROGRESS = "10000", "3"  # the sandbox's status ids (seed.STATUSES)

MODULE = "tests.benchmarks.test_reconcile"  # this file, run as the steps' script


# ---------------------------------------------------------------------------------------------
# Steps run in a subprocess with the product's settings (python -m tests.benchmarks.test_reconcile)
# ---------------------------------------------------------------------------------------------


def _setup(linked: int) -> dict[str, Any]:
    """The connection, then `linked` sandbox issues, reports and links, in bulk."""
    import uuid
    from datetime import timedelta

    from django.conf import settings
    from django.db import transaction
    from django.utils import timezone

    from accounts.models import Membership, Organization, Role, User
    from bugs.models import App, BugReport
    from bugs.services import app_create
    from integrations import services
    from integrations.jira_sandbox import models as sandbox
    from integrations.jira_sandbox.seed import credentials
    from integrations.models import IssueLink

    began = time.perf_counter()
    tag = uuid.uuid4().hex[:12]
    organization = Organization.objects.create(name="Reconcile benchmark", slug=f"reconcile-bench-{tag}")
    owner = User.objects.create_user(f"owner-{tag}@example.com", name="Olivia Owner")
    Membership.objects.create(organization=organization, user=owner, role=Role.OWNER)
    app, _ = app_create(organization=organization, name="Reconcile", platform="ios")
    jira = credentials()
    site = sandbox.Site.objects.get(name="acme")
    web = sandbox.Project.objects.get(site=site, key="WEB")
    bug = sandbox.IssueType.objects.get(site=site, name="Bug")
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

    then = timezone.now() - timedelta(days=AGE_DAYS)
    then_ms = int(then.timestamp() * 1000)
    to_do = sandbox.Status.objects.get(site=site, status_id=TO_DO)
    medium = sandbox.Priority.objects.get(site=site, name="Medium")
    alice = sandbox.Account.objects.get(email=jira["user_email"])
    with transaction.atomic():
        # The sandbox's own few WEB issues (seeded just now) out of the passes' window, too.
        sandbox.Issue.objects.filter(project=web).update(created=then, updated=then, indexed_at=then)
        first_id = services_allocate(site, "next_issue_id", linked)
        first_number = web.next_issue_number
        sandbox.Project.objects.filter(pk=web.pk).update(next_issue_number=first_number + linked)
        sandbox.Issue.objects.bulk_create(
            (
                sandbox.Issue(
                    site=site,
                    project=web,
                    issue_id=first_id + i,
                    number=first_number + i,
                    key=f"WEB-{first_number + i}",
                    issue_type=bug,
                    summary=f"Checkout button does nothing after changing the address ({i})",
                    status=to_do,
                    priority=medium,
                    reporter=alice,
                    labels=[f"bugbridge-{tag}-{i}"],
                    created=then,
                    updated=then,
                    indexed_at=then,
                )
                for i in range(linked)
            ),
            batch_size=2_000,
        )
        BugReport.objects.bulk_create(
            (
                BugReport(
                    app=app,
                    number=i + 1,
                    title=f"Checkout button does nothing after changing the address ({i})",
                    description="Tap Pay: the button greys out for a second, then nothing happens.",
                    os_name="iOS",
                    os_version="18.1",
                    app_version="4.2.0",
                    device_model="iPhone 15",
                    created_at=then,
                )
                for i in range(linked)
            ),
            batch_size=2_000,
        )
        App.objects.filter(pk=app.pk).update(report_counter=linked)
        report_ids = dict(BugReport.objects.filter(app=app).values_list("number", "pk"))
        IssueLink.objects.bulk_create(
            (
                IssueLink(
                    report_id=report_ids[i + 1],
                    connection=connection,
                    state=IssueLink.State.LINKED,
                    issue_id=str(first_id + i),
                    issue_key=f"WEB-{first_number + i}",
                    label=f"bugbridge-{tag}-{i}",
                    jira_status_name=to_do.name,
                    jira_status_category=to_do.category,
                    jira_status_id=TO_DO,
                    jira_priority_id=medium.priority_id,
                    jira_updated_ms=then_ms,
                    attachments_done=True,
                    created_at=then,
                    linked_at=then,
                )
                for i in range(linked)
            ),
            batch_size=2_000,
        )
    seeded = time.perf_counter() - began
    with transaction.atomic():
        from django.db import connection as db

        if db.vendor == "postgresql":
            with db.cursor() as cursor:
                cursor.execute("ANALYZE")
    # As if the last pass ran five minutes ago; the first pass below asks for the time zone.
    type(connection).objects.filter(pk=connection.pk).update(
        sync_watermark=timezone.now() - timedelta(minutes=5), jira_time_zone=""
    )
    return {
        "organization_id": organization.pk,
        "connection_id": connection.pk,
        "first_issue_id": first_id,
        "seed_s": seeded,
        "page_size": settings.JIRA_RECONCILE_PAGE_SIZE,
        "overlap_s": settings.JIRA_RECONCILE_OVERLAP_S,
        "throttle_rps": settings.JIRA_THROTTLE_RPS,
        "database": settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1],
    }


def services_allocate(site: Any, counter: str, count: int) -> int:
    """The sandbox's own id allocation (a row-locked counter), for `count` ids at once."""
    from integrations.jira_sandbox.services import allocate

    return allocate(site, counter, count)


def _log_mark() -> int:
    from integrations.jira_sandbox.models import RequestLog

    return RequestLog.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def _calls_since(mark: int) -> dict[str, Any]:
    from integrations.jira_sandbox.models import RequestLog

    rows = list(
        RequestLog.objects.filter(pk__gt=mark, site__name="acme").values_list("method", "path", "duration_ms")
    )
    paths: dict[str, int] = {}
    for method, path, _ in rows:
        key = f"{method} {path.split('?')[0].rsplit('/rest/api/3/', 1)[-1]}"
        paths[key] = paths.get(key, 0) + 1
    return {"count": len(rows), "paths": paths, "server_ms": sum(ms for _, _, ms in rows)}


def _bare_search(connection_id: int, since: Any) -> tuple[float, int, int]:
    """The pass's search, page by page, applying nothing: (seconds, pages, issues)."""
    import zoneinfo

    from django.conf import settings

    from integrations import reconcile
    from integrations.jira.auth import client_for
    from integrations.models import JiraConnection

    connection = JiraConnection.objects.get(pk=connection_id)
    client = client_for(connection)
    began = time.perf_counter()
    jql = reconcile.jql_since(connection, since, zoneinfo.ZoneInfo(connection.jira_time_zone or "UTC"))
    fields = reconcile._fields(connection)
    token, pages, issues = None, 0, 0
    while True:
        page = client.search_jql(
            jql, fields=fields, next_page_token=token, max_results=settings.JIRA_RECONCILE_PAGE_SIZE
        )
        pages += 1
        issues += len(page.get("issues") or [])
        token = page.get("nextPageToken")
        if page.get("isLast", not token) or not token:
            break
    return time.perf_counter() - began, pages, issues


def _since(connection_id: int) -> Any:
    """Where the next pass's search starts: the watermark minus the overlap."""
    from datetime import timedelta

    from django.conf import settings

    from integrations.models import JiraConnection

    watermark = JiraConnection.objects.get(pk=connection_id).sync_watermark
    return watermark - timedelta(seconds=settings.JIRA_RECONCILE_OVERLAP_S)


def _pass(connection_id: int) -> dict[str, Any]:
    from integrations import reconcile

    mark = _log_mark()
    began = time.perf_counter()
    result = reconcile.reconcile_connection(connection_id=connection_id)
    elapsed = time.perf_counter() - began
    return {
        "calls": result.calls,
        "seen": result.seen,
        "changed": result.changed,
        "ok": result.ok,
        "duration_s": elapsed,
        "log": _calls_since(mark),
    }


def _run(connection_id: int, first_issue_id: int, linked: int, ks: list[int]) -> dict[str, Any]:
    """The first pass, then one pass per k (see the module docstring)."""
    from datetime import timedelta

    from django.utils import timezone

    from bugs.models import BugReport
    from integrations.jira_sandbox import models as sandbox
    from integrations.models import IssueLink

    site = sandbox.Site.objects.get(name="acme")
    in_progress = sandbox.Status.objects.get(site=site, status_id=IN_PROGRESS)
    then = timezone.now() - timedelta(days=AGE_DAYS)
    first = _pass(connection_id)
    results: dict[str, Any] = {"first": first, "passes": []}
    for offset, k in enumerate(ks):
        # Spread over the whole range, none changed before (each k takes the next offset).
        step = max(1, linked // max(k, 1))
        ids = [first_issue_id + offset + i * step for i in range(k)]
        now = timezone.now()
        sandbox.Issue.objects.filter(site=site, issue_id__in=ids).update(
            status=in_progress, updated=now, indexed_at=now
        )
        since = _since(connection_id)
        mark = _log_mark()
        bare_before = _bare_search(connection_id, since)
        measured = _pass(connection_id)
        bare_after = _bare_search(connection_id, since)
        bare_calls = _calls_since(mark)["count"] - measured["log"]["count"]
        links = IssueLink.objects.filter(connection_id=connection_id, issue_id__in=[str(i) for i in ids])
        moved = BugReport.objects.filter(issue_links__in=links, status="in_progress").count()
        known = links.filter(jira_status_id=IN_PROGRESS).count()
        # Put `updated` back: the next pass's overlap must not bring these again.
        sandbox.Issue.objects.filter(site=site, issue_id__in=ids).update(updated=then, indexed_at=then)
        results["passes"].append(
            {
                "k": k,
                **measured,
                "bare_s": (bare_before[0] + bare_after[0]) / 2,
                "bare_pages": bare_before[1],
                "bare_issues": bare_before[2],
                "bare_calls": bare_calls,
                "reports_moved": moved,
                "links_known": known,
            }
        )
    return results


def _cleanup(organization_id: int) -> dict[str, Any]:
    """For a BENCH_DATABASE_URL. The reports the passes changed (they have activity, sync events)
    go through the ORM's cascade; the untouched rest, which nothing references, in two DELETEs
    (the cascade would load 100,000 of them); then the organization."""
    from django.db import transaction
    from django.db.models import Q

    from bugs.models import App, BugReport
    from integrations.models import IssueLink

    with transaction.atomic():
        apps = list(App.objects.filter(organization_id=organization_id).values_list("pk", flat=True))
        reports = BugReport.objects.filter(app_id__in=apps)
        touched = (
            Q(activities__isnull=False)
            | Q(issue_links__sync_events__isnull=False)
            | Q(issue_links__comment_links__isnull=False)
        )
        reports.filter(pk__in=reports.filter(touched).values("pk")).delete()
        IssueLink.objects.filter(report__app_id__in=apps)._raw_delete(IssueLink.objects.db)
        reports._raw_delete(BugReport.objects.db)
        return steps.organization_delete(organization_id)


STEPS: steps.Steps = {
    "setup": lambda args: _setup(int(args[0])),
    "run": lambda args: _run(int(args[0]), int(args[1]), int(args[2]), json.loads(args[3])),
    "cleanup": lambda args: _cleanup(int(args[0])),
}


# ---------------------------------------------------------------------------------------------
# The benchmark
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world() -> Iterator[dict[str, Any]]:
    """Migrated, sandbox-seeded database; gunicorn serving the sandbox; 100,000 linked issues."""
    tmp = Path(tempfile.mkdtemp(prefix="bugbridge-bench-reconcile-"))
    (tmp / "static").mkdir()
    external_db = os.environ.get("BENCH_DATABASE_URL")
    database_url = external_db or f"sqlite:///{tmp / 'bench.sqlite3'}"
    port = _free_port()
    server_env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.benchmarks.bench_settings",
        "BENCH_DATABASE_URL": external_db or f"{database_url}?conn_max_age=60",
        "BENCH_TMP_DIR": str(tmp),
        "BENCH_SITE_URL": f"http://127.0.0.1:{port}",
        "JIRA_SANDBOX": "true",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    # The product's side (setup, the passes): production settings, DEBUG off; whatever a pass
    # enqueues goes to a broker folder of its own that nothing consumes.
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
        "MEDIA_ROOT": str(tmp / "media"),
        "STATIC_ROOT": str(tmp / "static"),
        "LOG_LEVEL": "WARNING",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    server: subprocess.Popen[bytes] | None = None
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
        info = steps.step(product_env, MODULE, "setup", LINKED)
        yield {**info, "env": product_env, "external_db": bool(external_db)}
    finally:
        if server is not None:
            steps.stop(server, group=True)
        try:
            if external_db:
                if info:
                    steps.step(product_env, MODULE, "cleanup", info["organization_id"])
                _manage(server_env, "manage.py", "sandbox_seed", "--reset", "--quiet-credentials")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def test_reconcile_calls_and_duration(world: dict[str, Any]) -> None:
    page = world["page_size"]
    result = steps.step(
        world["env"], MODULE, "run", world["connection_id"], world["first_issue_id"], LINKED, json.dumps(KS)
    )
    first, passes = result["first"], result["passes"]
    database = world["database"] + (" (BENCH_DATABASE_URL)" if world["external_db"] else " (temp file)")
    lines = [
        f"\n\nreconciliation benchmark: {LINKED:,} linked issues (seeded in {world['seed_s']:.1f} s), "
        f"page size {page}, overlap {world['overlap_s']} s, JIRA_THROTTLE_RPS {world['throttle_rps']:g};",
        f"  sandbox: gunicorn {' '.join(GUNICORN)}, DEBUG off; product: production settings, DEBUG off; "
        f"database {database}; status, priority and comment sync on",
        f"  first pass (asks GET myself once): {first['calls']} calls {first['log']['paths']}, "
        f"{first['seen']} seen, {first['duration_s'] * 1000:.0f} ms",
    ]
    for p in passes:
        k = p["k"]
        target = 1 + math.ceil(k / page)
        verdict = "PASS" if p["calls"] <= target and p["log"]["count"] <= target else "ABOVE TARGET"
        lines.append(
            f"  k = {k:>5,}: {p['calls']} Jira calls (sandbox log {p['log']['count']}: {p['log']['paths']})  "
            f"target <= {target}  {verdict};  {p['seen']} seen, {p['changed']} changed"
        )
        per_change = (
            f", {(p['duration_s'] - p['bare_s']) * 1000 / k:.2f} ms per changed issue beyond it" if k else ""
        )
        lines.append(
            f"           pass {p['duration_s'] * 1000:8.1f} ms   bare search of the same {p['bare_pages']} "
            f"page(s) {p['bare_s'] * 1000:7.1f} ms   ratio {p['duration_s'] / p['bare_s']:.2f}"
            f"{per_change}; sandbox time {p['log']['server_ms']} ms"
        )
    print("\n".join(lines) + "\n")

    assert first["ok"] and first["calls"] == first["log"]["count"]
    for p in passes:
        k = p["k"]
        assert p["ok"], p
        assert p["calls"] == p["log"]["count"], "Pass.calls disagrees with the sandbox's log"
        assert p["calls"] <= 1 + math.ceil(k / page), f"k = {k}: {p['calls']} calls"
        assert p["seen"] == p["changed"] == k, p
        assert p["reports_moved"] == p["links_known"] == k, p


if __name__ == "__main__":
    steps.main(sys.argv[1:], STEPS)
