"""Database steps the benchmark runs in a subprocess with the bench settings.

python -m tests.benchmarks.bench_db setup              -> JSON: token and app ids
python -m tests.benchmarks.bench_db verify API BARE    -> JSON: what the run stored
python -m tests.benchmarks.bench_db cleanup ORG        -> deletes the benchmark organization
"""

from __future__ import annotations

import json
import os
import sys
import uuid


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


def main(argv: list[str]) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.benchmarks.bench_settings")
    import django

    django.setup()
    command, args = argv[0], [int(arg) for arg in argv[1:]]
    result = {"setup": _setup, "verify": _verify, "cleanup": _cleanup}[command](*args)
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
