"""The reports list (per app and across the organization's apps), inline and bulk triage."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, QueryDict
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from accounts.selectors import membership_require_current
from bugs import filters, selectors, services
from bugs.errors import BugsError
from bugs.forms import BulkTriageForm, TriageForm
from bugs.presenters import filter_selects, grouped_options, jira_can_send, list_rows


def _render_list(request: HttpRequest, triage: filters.TriageList) -> HttpResponse:
    page = filters.paginate(
        selectors.reports_with_jira(triage.reports, app=triage.app),
        sort_key=triage.sort_key,
        after=request.GET.get("after", ""),
        before=request.GET.get("before", ""),
    )
    context = {
        "app": triage.app,
        "triage": triage,
        "page": page,
        "rows": list_rows(
            page.rows,
            members=triage.members,
            querystring=triage.querystring,
            csrf_token=get_token(request),
            all_apps=triage.app is None,
            jira_send=jira_can_send(triage.app),
            jira_links=selectors.app_has_jira(triage.app),
        ),
        "bulk_options": grouped_options(BulkTriageForm(members=triage.members).fields["action"].choices),
        "selects": filter_selects(triage.form, with_app=triage.app is None),
    }
    if not request.htmx:
        return render(request, "bugs/report_list.html", context)
    response = render(request, "bugs/report_list.html#results", context)
    # The address bar gets the short, shareable form of the filter, not every empty field.
    cursor = {k: request.GET[k] for k in ("after", "before") if request.GET.get(k)}
    query = "&".join(
        filter(None, [triage.querystring.replace("scope=all", "").strip("&"), urlencode(cursor)])
    )
    response["HX-Push-Url"] = request.path + (f"?{query}" if query else "")
    return response


@require_GET
def report_list(request: HttpRequest, app_id: int) -> HttpResponse:
    app = selectors.app_get(user=request.user, app_id=app_id)
    triage = filters.triage_list(
        user=request.user, organization_id=app.organization_id, app=app, data=request.GET
    )
    return _render_list(request, triage)


@require_GET
def report_list_all(request: HttpRequest) -> HttpResponse:
    membership = membership_require_current(request)
    triage = filters.triage_list(
        user=request.user, organization_id=membership.organization_id, app=None, data=request.GET
    )
    return _render_list(request, triage)


def _toast(response: HttpResponse, message: str) -> HttpResponse:
    response["HX-Trigger"] = json.dumps({"toast": message})
    return response


@require_POST
def report_triage(request: HttpRequest, app_id: int, number: int) -> HttpResponse:
    """Status, priority, assignee of one report: from its page (redirect back) or from a list row
    (htmx: the updated row, confirmed by the server, and a toast)."""
    report = selectors.report_get(user=request.user, app_id=app_id, number=number)
    members = list(selectors.report_members(report=report))
    form = TriageForm(request.POST, members=selectors.report_members(report=report))
    if form.is_valid():
        data = form.cleaned_data
        changes: dict[str, Any] = {"status": data["status"] or None, "priority": data["priority"] or None}
        if "assignee" in request.POST:
            changes["assignee"] = data["assignee"]
        try:
            activities = services.report_update(report=report, actor=request.user, **changes)
        except BugsError as error:
            message, ok = str(error), False
        else:
            said = ", ".join(f"{a.get_kind_display().lower()} → {a.to_value}" for a in activities)
            message, ok = (f"#{report.number}: {said}" if said else "Nothing changed."), True
    else:
        errors = "; ".join(e for errs in form.errors.values() for e in errs)
        message, ok = f"That change was not saved: {errors}", False
    if request.htmx:
        # The row as the list shows it: same columns (per app or all apps), same filter in links.
        query = QueryDict(urlsplit(request.htmx.current_url or "").query, mutable=True)
        for cursor in ("after", "before"):
            query.pop(cursor, None)
        if request.POST.get("scope") == "all":
            query["scope"] = "all"
        (row,) = list_rows(
            [report],
            members=members,
            querystring=query.urlencode(),
            csrf_token=get_token(request),
            all_apps=request.POST.get("scope") == "all",
            jira_send=request.POST.get("scope") != "all" and jira_can_send(report.app),
        )
        context = {"row": row}
        response = render(request, "bugs/report_list.html#row", context, status=200 if ok else 400)
        return _toast(response, message)
    (messages.success if ok else messages.error)(request, message)
    return redirect(_safe_next(request) or reverse("report_detail", args=[app_id, number]))


def _safe_next(request: HttpRequest) -> str:
    nxt = request.POST.get("next", "")
    return nxt if url_has_allowed_host_and_scheme(nxt, {request.get_host()}) else ""


@require_POST
def reports_bulk(request: HttpRequest) -> HttpResponse:
    """Apply one change to the selected reports, or to every report matching the list's filter."""
    membership = membership_require_current(request)
    filter_data = QueryDict(request.POST.get("filter", ""))
    app = None
    if request.POST.get("app_id"):
        app = selectors.app_get(user=request.user, app_id=request.POST["app_id"])
        if app.organization_id != membership.organization_id:
            raise PermissionDenied("Switch to this app's organization first.")
    triage = filters.triage_list(
        user=request.user, organization_id=membership.organization_id, app=app, data=filter_data
    )
    form = BulkTriageForm(request.POST, members=triage.members)
    back = (
        (reverse("report_list", args=[app.pk]) if app else reverse("report_list_all"))
        + "?"
        + filter_data.urlencode()
    )
    if not form.is_valid():
        messages.error(request, "Choose reports and a change to apply.")
        return redirect(back)
    reports = triage.reports
    if not form.cleaned_data["all_matching"]:
        reports = reports.filter(pk__in=form.cleaned_data["ids"])
    try:
        changed = services.reports_bulk_update(reports=reports, actor=request.user, **form.changes())
    except BugsError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"{changed} report{'s' if changed != 1 else ''} updated.")
    return redirect(back)
