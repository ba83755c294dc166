"""The reports list and triage changes."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from bugs import selectors, services
from bugs.errors import BugsError
from bugs.forms import TriageForm
from bugs.models import Status

REPORTS_PER_PAGE = 50


@require_GET
def report_list(request: HttpRequest, app_id: int) -> HttpResponse:
    app = selectors.app_get(user=request.user, app_id=app_id)
    status = request.GET.get("status", "")
    status = status if status in Status.values else ""
    page = Paginator(selectors.reports_for_app(app=app, status=status), REPORTS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    context = {"app": app, "page": page, "status": status, "statuses": Status.choices}
    template = "bugs/report_list.html#table" if request.htmx else "bugs/report_list.html"
    return render(request, template, context)


@require_POST
def report_triage(request: HttpRequest, app_id: int, number: int) -> HttpResponse:
    report = selectors.report_get(user=request.user, app_id=app_id, number=number)
    form = TriageForm(request.POST, members=selectors.report_members(report=report))
    if form.is_valid():
        data = form.cleaned_data
        changes: dict[str, Any] = {
            "status": data["status"] or None,
            "priority": data["priority"] or None,
        }
        if "assignee" in request.POST:
            changes["assignee"] = data["assignee"]
        try:
            activities = services.report_update(report=report, actor=request.user, **changes)
        except BugsError as error:
            messages.error(request, str(error))
        else:
            if activities:
                messages.success(
                    request,
                    "Saved: "
                    + ", ".join(f"{a.get_kind_display().lower()} → {a.to_value}" for a in activities),
                )
    else:
        messages.error(
            request,
            "That change was not saved: " + "; ".join(e for errs in form.errors.values() for e in errs),
        )
    return redirect("report_detail", app_id=app_id, number=number)
