"""The application's routes plus the floors the benchmarks measure against.

/bench/bare (ingest): goes through the same WSGI server and middleware, parses the same JSON body
and stores the same columns with one ORM create, but skips everything the API adds (token lookup,
rate limit, schema validation, report numbering, activity row, on-commit signal).

/bench/list-baseline/<app_id> (list): runs the one query the triage list runs for a page (same
filter, same order, same LIMIT, same select_related; test_list.py checks the SQL is identical)
and renders the rows as text in a bare <table>: no filter bar, no dropdowns, no forms, no base
template, no context processors. It needs no login, but the benchmark calls it with the owner's
session, so it pays the session and user lookups the middleware makes (LoginRequiredMiddleware
reads request.user on every request) just as the list does.

/bench/bare-json (webhook intake): goes through the same WSGI server and middleware, reads the
body, parses it as JSON and answers 202 with a small JSON object, as the webhook endpoints do;
no signature check, no delivery row, no enqueue.
"""

from __future__ import annotations

import itertools
import json
import os

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import engines
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from bugs.filters import PAGE_SIZE
from bugs.models import BugReport
from bugs.services import REPORT_INPUT_FIELDS
from config.urls import urlpatterns as app_urlpatterns

# The columns an SDK body fills in, stored as sent (title is passed on its own).
COLUMNS = tuple(sorted(REPORT_INPUT_FIELDS - {"title"}))

# One sync gunicorn worker serves every request, so a process-local counter is unique.
_numbers = itertools.count(1)


@csrf_exempt
@login_not_required
@require_POST
def bare_insert(request: HttpRequest) -> HttpResponse:
    body = json.loads(request.body)
    report = BugReport.objects.create(
        app_id=int(os.environ["BENCH_BARE_APP_ID"]),
        number=next(_numbers),
        title=body["title"],
        **{column: body[column] for column in COLUMNS if column in body},
    )
    return JsonResponse({"id": report.pk, "number": report.number}, status=201)


@csrf_exempt
@login_not_required
@require_POST
def bare_json(request: HttpRequest) -> HttpResponse:
    body = json.loads(request.body)
    return JsonResponse({"status": "queued", "fields": len(body)}, status=202)


# The list's columns, as plain text. Rendered without a request: no context processors run.
BASELINE_TEMPLATE = engines["django"].from_string(
    """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>List baseline</title></head><body>
<table>
<thead><tr><th>#</th><th>Title</th><th>Priority</th><th>Status</th><th>Device and OS</th>
<th>Version</th><th>Reporter</th><th>Assignee</th><th>Created</th></tr></thead>
<tbody>
{% for r in rows %}<tr id="report-{{ r.pk }}"><td>{{ r.number }}</td><td>{{ r.title }}</td>\
<td>{{ r.priority }}</td><td>{{ r.status }}</td>\
<td>{{ r.device_model }} {{ r.os_name }} {{ r.os_version }}</td><td>{{ r.app_version }}</td>\
<td>{{ r.reporter_name|default:r.reporter_email }}</td><td>{{ r.assignee.display_name }}</td>\
<td>{{ r.created_at|date:"j M Y, H:i" }}</td></tr>
{% endfor %}</tbody>
</table>
</body></html>
"""
)


@login_not_required
@require_GET
def list_baseline(request: HttpRequest, app_id: int) -> HttpResponse:
    # Built as bugs.filters.triage_list and paginate build it for page one, newest first.
    reports = BugReport.objects.filter(app_id=app_id).select_related("app", "assignee")
    for name in ("status", "priority"):
        if request.GET.get(name):
            reports = reports.filter(**{name: request.GET[name]})
    rows = list(reports.order_by("-created_at", "-id")[: PAGE_SIZE + 1])[:PAGE_SIZE]
    return HttpResponse(BASELINE_TEMPLATE.render({"rows": rows}))


urlpatterns = [
    path("bench/bare", bare_insert),
    path("bench/bare-json", bare_json),
    path("bench/list-baseline/<int:app_id>", list_baseline),
    *app_urlpatterns,
]
