"""Database steps the benchmark runs in a subprocess with the bench settings.

python -m tests.benchmarks.bench_db setup              -> JSON: token and app ids
python -m tests.benchmarks.bench_db verify API BARE    -> JSON: what the run stored
python -m tests.benchmarks.bench_db cleanup ORG        -> deletes the benchmark organization

The list benchmark (test_list.py, PostgreSQL only):
python -m tests.benchmarks.bench_db list-setup                       -> JSON: organization, owner, apps
python -m tests.benchmarks.bench_db list-grow ORG APP OTHER TOTAL    -> inserts reports up to TOTAL
python -m tests.benchmarks.bench_db list-measure OWNER APP EXPLAIN   -> JSON: queries, timings (, plans)
python -m tests.benchmarks.bench_db list-cleanup ORG                 -> deletes its reports and organization
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import sys
import time
import uuid
from typing import Any


def _setup() -> dict[str, object]:
    from django.conf import settings

    from accounts.models import Organization
    from bugs.services import app_create

    organization = Organization.objects.create(name="Benchmark", slug=f"benchmark-{uuid.uuid4().hex[:12]}")
    api_app, token = app_create(organization=organization, name="Bench SDK", platform="ios")
    bare_app, _ = app_create(organization=organization, name="Bench bare", platform="ios")
    return {
        "organization_id": organization.pk,
        "api_app_id": api_app.pk,
        "bare_app_id": bare_app.pk,
        "token": token,
        "database": settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1],
        "cache": settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1],
    }


def _verify(api_app_id: int, bare_app_id: int) -> dict[str, object]:
    from bugs.models import App, BugReport

    api_numbers = list(BugReport.objects.filter(app_id=api_app_id).values_list("number", flat=True))
    bare_numbers = list(BugReport.objects.filter(app_id=bare_app_id).values_list("number", flat=True))
    return {
        "api_reports": len(api_numbers),
        "api_distinct_numbers": len(set(api_numbers)),
        "api_max_number": max(api_numbers, default=0),
        "api_min_number": min(api_numbers, default=0),
        "api_counter": App.objects.get(pk=api_app_id).report_counter,
        "bare_rows": len(bare_numbers),
        "bare_distinct_numbers": len(set(bare_numbers)),
    }


def _cleanup(organization_id: int) -> dict[str, object]:
    from accounts.models import Organization

    deleted, _ = Organization.objects.filter(pk=organization_id).delete()
    return {"deleted": deleted}


# --- the list benchmark --------------------------------------------------------------------------

LIST_WARMUP = 10  # requests of each kind before timing (template compilation, caches, plans)
LIST_ROUNDS = 30  # timed requests of each kind; the median is reported
LIST_PAGES = {"first": "", "filtered": "status=new&priority=major"}
PAGE_SIZES = (10, 50, 200)  # the query count must not depend on how many rows a page shows

# Reports as the SDK would have sent them, generated in SQL: number i of the whole data set goes to
# the other app when i % 10 = 0 (10 %), else to the measured app, numbered per app in insert order.
# Status (40 % new, 25 % in progress, 35 % closed) and priority (a fifth each, rank consistent)
# vary independently; created_at is spread over the year before the organization was created.
# mod() rather than the % operator: the parameters are bound with %(name)s.
SEED_SQL = """
INSERT INTO bugs_bugreport (
    app_id, number, title, description, reproduction_steps, reporter_email, reporter_name,
    device_model, os_name, os_version, app_version, app_build, current_view, locale, tags,
    user_attributes, console_logs, status, priority, priority_rank, assignee_id, created_at, updated_at
)
SELECT
    CASE WHEN mod(i, 10) = 0 THEN %(other_app)s::bigint ELSE %(app)s::bigint END,
    CASE WHEN mod(i, 10) = 0 THEN i / 10 ELSE i - i / 10 END,
    (ARRAY['Checkout button does nothing after changing the address',
           'Crash when opening the camera from the chat',
           'Login loops back to the start screen',
           'Push notification opens the wrong screen',
           'Dark mode text is unreadable in settings',
           'Video upload stalls before the end',
           'Map pins disappear after zooming out',
           'Search shows results from the previous query'])[1 + mod(i, 8)] || ' (' || i || ')',
    'Seeded by the list benchmark: steps, expected and actual behaviour would be here.',
    '["Open the app", "Do the thing", "See it fail"]'::jsonb,
    'tester' || mod(i, 97) || '@example.com',
    CASE WHEN mod(i, 3) = 0 THEN '' ELSE 'Beta Tester ' || mod(i, 97) END,
    (ARRAY['iPhone 15 Pro', 'Pixel 8', 'Galaxy S24', 'iPad Air'])[1 + mod(i, 4)],
    CASE WHEN mod(i, 4) IN (1, 2) THEN 'Android' ELSE 'iOS' END,
    CASE WHEN mod(i, 4) IN (1, 2) THEN '14' ELSE '18.1' END,
    '4.' || mod(i, 5) || '.0',
    (4200 + mod(i, 7))::text,
    'CheckoutViewController',
    'en_GB',
    (ARRAY['[]', '["checkout", "beta"]', '["payments"]', '["ui", "dark-mode", "settings", "beta"]'])
        [1 + mod(i, 4)]::jsonb,
    '{"plan": "premium"}'::jsonb,
    '[]'::jsonb,
    CASE WHEN mod(i, 20) < 8 THEN 'new' WHEN mod(i, 20) < 13 THEN 'in_progress' ELSE 'closed' END,
    (ARRAY['na', 'trivial', 'minor', 'major', 'blocker'])[1 + mod(i / 20, 5)],
    mod(i / 20, 5),
    CASE WHEN mod(i, 4) = 0 THEN NULL
         ELSE (%(members)s::bigint[])[1 + mod(i, cardinality(%(members)s::bigint[]))] END,
    %(anchor)s - mod(i * 2654435761, 31536000000000) * interval '1 microsecond',
    %(anchor)s - mod(i * 2654435761, 31536000000000) * interval '1 microsecond' + interval '2 hours'
FROM generate_series(%(start)s::bigint, %(stop)s::bigint) AS i
"""


def _list_setup() -> dict[str, object]:
    from accounts.models import Membership, Organization, Role, User
    from bugs.services import app_create

    tag = uuid.uuid4().hex[:12]
    organization = Organization.objects.create(name="List benchmark", slug=f"list-benchmark-{tag}")
    owner = User.objects.create_user(f"owner-{tag}@example.com", name="Olivia Owner")
    Membership.objects.create(organization=organization, user=owner, role=Role.OWNER)
    for i, name in enumerate(("Ada Admin", "Max Member", "Mia Member", "Noah Member")):
        user = User.objects.create_user(f"member{i}-{tag}@example.com", name=name)
        Membership.objects.create(
            organization=organization, user=user, role=Role.ADMIN if i == 0 else Role.MEMBER
        )
    app, _ = app_create(organization=organization, name="Checkout iOS", platform="ios")
    other, _ = app_create(organization=organization, name="Checkout Android", platform="android")
    return {
        "organization_id": organization.pk,
        "owner_id": owner.pk,
        "app_id": app.pk,
        "other_app_id": other.pk,
    }


def _list_grow(organization_id: int, app_id: int, other_app_id: int, total: int) -> dict[str, object]:
    """Insert reports until both apps hold `total` together (one INSERT ... SELECT), then VACUUM
    ANALYZE and a CHECKPOINT, so neither autovacuum nor the writing of a million new rows runs
    while the next measurement does."""
    from django.db import DatabaseError, connection, transaction
    from django.db.models import Count

    from accounts.models import Membership, Organization
    from bugs.models import App, BugReport

    start = BugReport.objects.filter(app_id__in=[app_id, other_app_id]).count() + 1
    members = list(
        Membership.objects.filter(organization_id=organization_id)
        .order_by("pk")
        .values_list("user_id", flat=True)
    )
    anchor = Organization.objects.get(pk=organization_id).created_at
    began = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit = off")
        cursor.execute(
            SEED_SQL,
            {
                "app": app_id,
                "other_app": other_app_id,
                "members": members,
                "anchor": anchor,
                "start": start,
                "stop": total,
            },
        )
        counts = dict(
            BugReport.objects.filter(app_id__in=[app_id, other_app_id])
            .values_list("app_id")
            .annotate(n=Count("id"))
        )
        for pk in (app_id, other_app_id):
            App.objects.filter(pk=pk).update(report_counter=counts.get(pk, 0))
    inserted = time.perf_counter() - began
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) bugs_bugreport")
        # Needs superuser or pg_checkpoint; without it only a quieter measurement is lost.
        with contextlib.suppress(DatabaseError):
            cursor.execute("CHECKPOINT")
    return {
        "inserted": total - start + 1,
        "reports": sum(counts.values()),
        "app_reports": counts.get(app_id, 0),
        "insert_s": inserted,
        "vacuum_s": time.perf_counter() - began - inserted,
    }


def _report_ids(html: bytes) -> list[int]:
    import re

    return [int(pk) for pk in re.findall(rb'<tr id="report-(\d+)"', html)]


def _list_measure(owner_id: int, app_id: int, explain: int) -> dict[str, object]:
    """Query counts and median server times of the list and of the baseline view, in-process:
    django.test.Client through the WSGI handler and every middleware, DEBUG off."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from accounts.models import User
    from bugs import filters

    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(User.objects.get(pk=owner_id))
    htmx = {"HX-Request": "true"}
    # (label, page, url, headers): each page as a full load, as the htmx fragment, and the baseline.
    targets = []
    for page, query in LIST_PAGES.items():
        suffix = f"?{query}" if query else ""
        targets += [
            ("list", page, f"/apps/{app_id}/reports/{suffix}", {}),
            ("htmx", page, f"/apps/{app_id}/reports/{suffix}", htmx),
            ("baseline", page, f"/bench/list-baseline/{app_id}{suffix}", {}),
        ]

    def get(url: str, headers: dict[str, str]) -> bytes:
        response = client.get(url, headers=headers)
        if response.status_code != 200:
            raise RuntimeError(f"GET {url} answered {response.status_code}: {response.content[:500]!r}")
        return response.content

    result: dict[str, Any] = {}
    for label, page, url, headers in targets:
        # One request of each, queries captured; the list at every page size for the list's kinds.
        sizes = PAGE_SIZES if label != "baseline" else (filters.PAGE_SIZE,)
        queries, sql = {}, []
        for size in sizes:
            filters.paginate.__kwdefaults__["size"] = size
            try:
                with CaptureQueriesContext(connection) as captured:
                    html = get(url, headers)
            finally:
                filters.paginate.__kwdefaults__["size"] = filters.PAGE_SIZE
            queries[size] = len(captured)
            if size == filters.PAGE_SIZE:
                ids = _report_ids(html)
                sql = [q["sql"] for q in captured.captured_queries if 'FROM "bugs_bugreport"' in q["sql"]]
            elif len(_report_ids(html)) != size:
                raise RuntimeError(f"GET {url} with a page size of {size} did not show {size} rows")
        result[f"{label}:{page}"] = {"queries": queries, "ids": ids, "report_sql": sql, "times_ms": []}

    for _ in range(LIST_WARMUP):
        for _label, _page, url, headers in targets:
            get(url, headers)
    for round_ in range(LIST_ROUNDS):
        # Alternate the order, so a drift in the machine's speed weighs on every kind alike.
        for label, page, url, headers in targets if round_ % 2 == 0 else reversed(targets):
            began = time.perf_counter()
            get(url, headers)
            result[f"{label}:{page}"]["times_ms"].append((time.perf_counter() - began) * 1000)
    for entry in result.values():
        entry["median_ms"] = statistics.median(entry["times_ms"])

    if explain:
        with connection.cursor() as cursor:
            for page in LIST_PAGES:
                (sql,) = result[f"list:{page}"]["report_sql"]
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
                result[f"list:{page}"]["plan"] = "\n".join(row[0] for row in cursor.fetchall())
    return result


def _list_cleanup(organization_id: int) -> dict[str, object]:
    """The reports go first in one DELETE: the ORM's cascade would load a million of them."""
    from django.db import connection, transaction

    from accounts.models import Organization, User
    from bugs.models import App

    with transaction.atomic():
        app_ids = list(App.objects.filter(organization_id=organization_id).values_list("pk", flat=True))
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM bugs_bugreport WHERE app_id = ANY(%s)", [app_ids])
        user_ids = list(
            User.objects.filter(memberships__organization_id=organization_id).values_list("pk", flat=True)
        )
        deleted, _ = Organization.objects.filter(pk=organization_id).delete()
        User.objects.filter(pk__in=user_ids, memberships__isnull=True).delete()
    return {"deleted": deleted}


def main(argv: list[str]) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.benchmarks.bench_settings")
    import django

    django.setup()
    command, args = argv[0], [int(arg) for arg in argv[1:]]
    commands = {
        "setup": _setup,
        "verify": _verify,
        "cleanup": _cleanup,
        "list-setup": _list_setup,
        "list-grow": _list_grow,
        "list-measure": _list_measure,
        "list-cleanup": _list_cleanup,
    }
    result = commands[command](*args)
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
