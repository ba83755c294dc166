"""Sending reports to Jira from the dashboard: the report's Jira panel (send, retry, link an
existing issue, unlink), the "Send to Jira…" preview, the list's bulk send and its progress page.

Any member may send a report (it is triage); only owners and admins are offered the way to the
integration's settings. The services are in forwarding.py; these views parse, call and render.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import User
from bugs.models import BugReport
from bugs.services import BULK_LIMIT

from . import forwarding, selectors, steps
from .forms import BulkForwardForm, ForwardPreviewForm, LinkExistingForm
from .jira import wizard
from .jira.adf import adf_to_html
from .jira.errors import JiraError
from .models import IssueLink, JiraConnection

logger = logging.getLogger(__name__)

PANEL = "integrations/report_jira.html#panel"
PANEL_PAGE = "integrations/report_jira_page.html"
# How often the panel and the batch page look again while Jira is being asked (seconds); a
# paused queue waits for an admin, which takes minutes at best.
POLL_S = 2
POLL_PAUSED_S = 10


def report_panel(request: HttpRequest, report: BugReport, **extra: Any) -> dict[str, Any]:
    """The Jira panel's context (the report page's include builds it through a template tag)."""
    panel = selectors.report_jira_panel(user=request.user, report=report)
    words = ""
    if not panel.usable:
        try:
            forwarding.usable_connection(report.app_id)
        except forwarding.NotConnected as exc:
            words = exc.words
    link = panel.link
    fix_in_setup = ""
    if link is not None and link.state == IssueLink.State.FAILED and link.error_field and panel.can_manage:
        # Set up opens on a draft; without one, Reconfigure makes it from the saved connection.
        has_draft = wizard.draft_load(request.session, report.app_id, report.app) is not None
        fix_in_setup = "link" if has_draft else "reconfigure"
    synced = (
        steps.synced_words(link.connection)
        if link is not None and link.state == IssueLink.State.LINKED
        else ""
    )
    return {
        "panel": panel,
        "link": link,
        "synced": synced,
        "synced_count": synced.count(",") + synced.count(" and ") + 1 if synced else 0,
        "history": selectors.sync_history(link=link) if link is not None else [],
        # Linking is offered while nothing is linked or on its way (else: unlink first).
        "offers_link_form": panel.usable
        and (link is None or link.state not in (IssueLink.State.LINKED, IssueLink.State.PENDING)),
        "unusable_words": words,
        "fix_in_setup": fix_in_setup,
        "poll_s": POLL_PAUSED_S if panel.paused else POLL_S,
        "link_form": LinkExistingForm(),
        **extra,
    }


def _panel_response(
    request: HttpRequest, report: BugReport, *, status: int = 200, **extra: Any
) -> HttpResponse:
    context = {"app": report.app, "report": report, "jira": report_panel(request, report, **extra)}
    return render(request, PANEL if request.htmx else PANEL_PAGE, context, status=status)


def _report_url(report: BugReport) -> str:
    return reverse("report_detail", kwargs={"app_id": report.app_id, "number": report.number})


@require_GET
def jira_panel(request: HttpRequest, app_id: int, number: int) -> HttpResponse:
    """The panel on its own: polled while a send is under way (htmx), or as a page; with
    `?cell=1`, the list's Jira cell of a row being sent (polled until it has its key)."""
    report = selectors.report_for_member(user=request.user, app_id=app_id, number=number)
    if request.htmx and request.GET.get("cell"):
        return _list_cell(request, report)
    return _panel_response(request, report)


def _list_cell(request: HttpRequest, report: BugReport) -> HttpResponse:
    """The list's Jira cell of one row, polling itself while the report is being sent."""
    links = list(IssueLink.objects.filter(report=report).select_related("connection", "report"))
    poll = reverse("jira_panel", kwargs={"app_id": report.app_id, "number": report.number}) + "?cell=1"
    return render(
        request, "integrations/list_cell.html", {"links": links, "poll_url": poll, "poll_s": POLL_S}
    )


@require_POST
def jira_send(request: HttpRequest, app_id: int, number: int) -> HttpResponse:
    """ "Send to Jira" and "Retry": asks once, however often it is pressed."""
    report = selectors.report_for_member(user=request.user, app_id=app_id, number=number)
    try:
        forwarding.forward_request(report=report, user=request.user)
    except forwarding.NotConnected as exc:
        return _panel_response(request, report, status=400, send_error=exc.words)
    if request.htmx and request.GET.get("cell"):
        # The list's row button: the cell as the list shows it, with the link's state.
        return _list_cell(request, report)
    if request.htmx:
        return _panel_response(request, report)
    return redirect(_report_url(report) + "#jira-panel")


@require_POST
def jira_link(request: HttpRequest, app_id: int, number: int) -> HttpResponse:
    """Link the report to an issue that is already in Jira, by its key or its address."""
    report = selectors.report_for_member(user=request.user, app_id=app_id, number=number)
    form = LinkExistingForm(request.POST)
    error = ""
    if form.is_valid():
        try:
            link = forwarding.link_existing(
                report=report, user=request.user, key_or_url=form.cleaned_data["issue"]
            )
        except forwarding.NotConnected as exc:  # BadIssueReference too
            error = exc.words
        except JiraError as exc:
            error = f"{exc.user_message} Nothing was linked."
        else:
            if request.htmx:
                return _panel_response(request, report)
            messages.success(request, f"#{report.number} is linked to {link.issue_key}.")
            return redirect(_report_url(report) + "#jira-panel")
    else:
        error = " ".join(form.errors.get("issue", [])) or "Enter an issue key or address."
    return _panel_response(request, report, status=400, link_form=form, link_error=error)


@require_http_methods(["GET", "POST"])
def jira_unlink(request: HttpRequest, app_id: int, number: int) -> HttpResponse:
    """Forget the link after a confirmation (the Jira issue stays)."""
    report = selectors.report_for_member(user=request.user, app_id=app_id, number=number)
    panel = selectors.report_jira_panel(user=request.user, report=report)
    back = _report_url(report) + "#jira-panel"
    if panel.link is None or panel.link.state == IssueLink.State.PENDING:
        messages.info(request, "There is no link to remove (a report being sent can be unlinked once sent).")
        return redirect(back)
    if request.method == "POST":
        forwarding.unlink(report=report)
        if request.htmx:
            return _panel_response(request, report)
        messages.success(request, f"#{report.number} is no longer linked to {panel.link.issue_key}.")
        return redirect(back)
    key = panel.link.issue_key or "its Jira issue"
    context = {
        "title": f"Unlink #{report.number} from {key}?",
        "body": f"Bugbridge forgets the link: status, priority and comments stop syncing between "
        f"#{report.number} and {key}. The issue stays in Jira as it is. You can send the report again "
        "or link it to an issue afterwards.",
        "action": "Unlink",
        "danger": True,
        "cancel_url": back,
    }
    return render(request, "confirm.html", context)


# ---------------------------------------------------------------------------------------------
# "Send to Jira…": the issue as it will be created, with this report's edits
# ---------------------------------------------------------------------------------------------


def _built(report: BugReport, connection: JiraConnection, overrides: dict[str, Any]) -> Any:
    """The issue as forwarding will create it (on an unsaved link, a copy of the report: build
    applies a priority edit to the report it is given)."""
    link = IssueLink(
        report=copy.copy(report),
        connection=connection,
        label=forwarding.report_label(report),
        overrides=overrides,
    )
    return forwarding.build(link)


def _preview(report: BugReport, connection: JiraConnection, overrides: dict[str, Any]) -> dict[str, Any]:
    built = _built(report, connection, overrides)
    mappings = selectors.field_mappings(connection=connection)
    assignee = overrides.get("assignee", connection.default_assignee)
    if assignee == JiraConnection.UNASSIGNED:
        assignee_words = "Unassigned"
    elif not assignee:
        assignee_words = "The project's default assignee"
    else:
        assignee_words = connection.default_assignee_name or assignee
    notes = dict(built.notes)
    return {
        "built": built,
        "summary": built.fields.get("summary", ""),
        # Safe: adf_to_html emits only its allow-listed tags and escapes every text.
        "description_html": mark_safe(adf_to_html(built.fields.get("description"))),  # noqa: S308
        "priority_name": (built.fields.get("priority") or {}).get("name", ""),
        "priority_note": notes.get("priority", ""),
        "assignee_words": assignee_words,
        "labels": built.fields.get("labels") or [],
        "mapped": steps.test_preview([{"field": m.jira_field} for m in mappings], built),
    }


@require_http_methods(["GET", "POST"])
def jira_preview(request: HttpRequest, app_id: int, number: int) -> HttpResponse:
    """GET: the preview (htmx: the issue only, re-rendered with the edits); POST: send with them."""
    report = selectors.report_for_member(user=request.user, app_id=app_id, number=number)
    try:
        connection = forwarding.usable_connection(report.app_id)
    except forwarding.NotConnected as exc:
        messages.error(request, exc.words)
        return _go(request, _report_url(report) + "#jira-panel")
    default_summary = _built(report, connection, {}).fields.get("summary", "")
    initial = {
        "summary": default_summary,
        "priority": report.priority,
        "assignee": ForwardPreviewForm.initial_assignee(connection),
    }
    edited = "summary" in request.GET or request.method == "POST"
    data = request.POST if request.method == "POST" else (request.GET if edited else None)
    form = ForwardPreviewForm(data, initial=initial, connection=connection)
    overrides = (
        form.overrides(default_summary=default_summary, report_priority=report.priority)
        if form.is_bound and form.is_valid()
        else {}
    )
    panel = selectors.report_jira_panel(user=request.user, report=report)
    busy = panel.link is not None and panel.link.state in (IssueLink.State.PENDING, IssueLink.State.LINKED)
    if request.method == "POST" and form.is_valid() and not busy:
        return _send_edited(request, report, overrides)
    context = {
        "app": report.app,
        "report": report,
        "connection": connection,
        "form": form,
        "link": panel.link if busy else None,
        **_preview(report, connection, overrides),
    }
    if request.htmx and request.method == "GET":
        return render(request, "integrations/forward_preview.html#issue", context)
    status = 400 if form.is_bound and form.errors else 200
    return render(request, "integrations/forward_preview.html", context, status=status)


def _send_edited(request: HttpRequest, report: BugReport, overrides: dict[str, Any]) -> HttpResponse:
    try:
        link = forwarding.forward_request(report=report, user=request.user, overrides=overrides)
    except forwarding.NotConnected as exc:
        messages.error(request, exc.words)
    else:
        link.refresh_from_db()
        if link.state == IssueLink.State.LINKED:
            messages.success(request, f"#{report.number} is in Jira as {link.issue_key}.")
        else:
            messages.success(request, f"#{report.number} is on its way to Jira.")
    return _go(request, _report_url(report) + "#jira-panel")


def _go(request: HttpRequest, url: str) -> HttpResponse:
    """A redirect; for htmx, of the whole page (not into the fragment being swapped)."""
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


# ---------------------------------------------------------------------------------------------
# The list's bulk "Send to Jira", and the batch's progress
# ---------------------------------------------------------------------------------------------


@require_POST
def jira_send_bulk(request: HttpRequest, app_id: int) -> HttpResponse:
    """The reports list's bulk bar, posted here by its "Send to Jira" button (same fields)."""
    app = selectors.app_for_member(user=request.user, app_id=app_id)
    form = BulkForwardForm(request.POST)
    back = reverse("report_list", args=[app.pk])
    if not form.is_valid():
        messages.error(
            request, " ".join(form.non_field_errors()) or "Tick the reports to send to Jira first."
        )
        return redirect(back + "?" + request.POST.get("filter", ""))
    data = form.cleaned_data
    back += "?" + data["filter"]
    chosen = selectors.reports_for_bulk_forward(
        user=request.user,
        app=app,
        ids=data["ids"],
        all_matching=data["all_matching"],
        filter_querystring=data["filter"],
    )
    if not chosen.to_send:
        messages.info(request, _nothing_to_send_words(chosen))
        return redirect(back)
    try:
        batch = forwarding.forward_bulk(reports=chosen.to_send, user=_user(request))
    except forwarding.NotConnected as exc:
        messages.error(request, exc.words)
        return redirect(back)
    if chosen.already:
        messages.info(
            request,
            f"{chosen.already} of the selected reports {'is' if chosen.already == 1 else 'are'} already in "
            "Jira or on the way: they keep their issue.",
        )
    return redirect("jira_batch", app_id=app.pk, batch_id=batch.pk)


def _nothing_to_send_words(chosen: selectors.BulkSelection) -> str:
    if chosen.matched > BULK_LIMIT:
        return f"{chosen.matched} reports match: at most {BULK_LIMIT} can be sent at once. Narrow the filter."
    if chosen.matched:
        return "Every selected report is already in Jira or on its way: nothing new was sent."
    return "None of the selected reports was found: the list may have changed. Select them again."


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]  (LoginRequiredMiddleware: never anonymous)


@require_GET
def jira_batch(request: HttpRequest, app_id: int, batch_id: int) -> HttpResponse:
    """A bulk send's progress, from its links: polled until every report is sent or failed."""
    progress = selectors.batch_progress(user=request.user, app_id=app_id, batch_id=batch_id)
    context = {
        "app": progress.batch.app,
        "progress": progress,
        "poll_s": POLL_PAUSED_S if progress.paused else POLL_S,
    }
    if request.htmx:
        return render(request, "integrations/batch.html#progress", context)
    return render(request, "integrations/batch.html", context)
