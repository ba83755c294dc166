"""The application's routes plus /bench/bare: the floor the SDK API is measured against.

The bare view goes through the same WSGI server and middleware, parses the same JSON body and
stores the same columns with one ORM create, but skips everything the API adds (token lookup,
rate limit, schema validation, report numbering, activity row, on-commit signal).
"""

from __future__ import annotations

import itertools
import json
import os

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

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


urlpatterns = [path("bench/bare", bare_insert), *app_urlpatterns]
