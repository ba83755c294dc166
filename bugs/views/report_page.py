"""One report: its page, attachments and comment thread."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from bugs import filters, selectors, services
from bugs.forms import CommentForm, TriageForm
from bugs.models import BugReport


def _report_context(request: HttpRequest, report: BugReport, **extra: Any) -> dict[str, Any]:
    members = selectors.report_members(report=report)
    return {
        "app": report.app,
        "report": report,
        "triage_form": TriageForm(
            initial={"status": report.status, "priority": report.priority, "assignee": report.assignee_id},
            members=members,
        ),
        "comment_form": CommentForm(),
        "comments": report.comments.select_related("author"),
        "timeline": selectors.report_timeline(report=report),
        # ?level=error (repeatable): the filter without JavaScript; report.js filters in place.
        "logs": selectors.report_console_logs(report=report, levels=request.GET.getlist("level")),
        "attachments": report.attachments.all(),
        **extra,
    }


@require_GET
def report_detail(request: HttpRequest, app_id: int, number: int) -> HttpResponse:
    report = selectors.report_get(user=request.user, app_id=app_id, number=number)
    return render(
        request, "bugs/report_detail.html", _report_context(request, report, **_neighbours(request, report))
    )


def _neighbours(request: HttpRequest, report: BugReport) -> dict[str, Any]:
    """Previous and next report in the list the user came from (its filter rides in the URL)."""
    triage = filters.triage_list(
        user=request.user,
        organization_id=report.app.organization_id,
        app=None if request.GET.get("scope") == "all" else report.app,
        data=request.GET,
    )
    previous, following = filters.neighbours(triage.reports, sort_key=triage.sort_key, report=report)
    suffix = f"?{triage.querystring}" if triage.querystring else ""

    def link(other: BugReport | None) -> str | None:
        return reverse("report_detail", args=[other.app_id, other.number]) + suffix if other else None

    list_url = reverse("report_list", args=[report.app_id]) if triage.app else reverse("report_list_all")
    filter_suffix = f"?{triage.filter_querystring}" if triage.filter_querystring else ""
    return {
        "previous_url": link(previous),
        "next_url": link(following),
        "back_url": list_url + filter_suffix,
        "filter_querystring": triage.querystring,
    }


@require_GET
def attachment_download(request: HttpRequest, app_id: int, number: int, attachment_id: int) -> FileResponse:
    attachment = selectors.attachment_get(
        user=request.user, app_id=app_id, number=number, attachment_id=attachment_id
    )
    response = FileResponse(
        attachment.file.open("rb"),
        content_type=attachment.content_type,
        as_attachment=not attachment.is_image or "download" in request.GET,
        filename=attachment.original_name,
    )
    # Private to members: never kept by a shared cache.
    response["Cache-Control"] = "private, max-age=3600"
    return response


# --- comments ---------------------------------------------------------------------------------


@require_POST
def comment_create(request: HttpRequest, app_id: int, number: int) -> HttpResponse:
    report = selectors.report_get(user=request.user, app_id=app_id, number=number)
    form = CommentForm(request.POST)
    if not form.is_valid():
        # Re-render with the text kept, so nothing typed is lost.
        context = _report_context(request, report, comment_form=form, **_neighbours(request, report))
        return render(request, "bugs/report_detail.html", context, status=400)
    services.comment_create(report=report, body=form.cleaned_data["body"], author=request.user)
    # Back to the report as it was opened: the list's filter keeps previous/next working.
    query = f"?{request.GET.urlencode()}" if request.GET else ""
    return redirect(
        reverse("report_detail", kwargs={"app_id": app_id, "number": number}) + query + "#comments"
    )


def _own_comment(request: HttpRequest, app_id: int, number: int, comment_id: int) -> Any:
    comment = selectors.comment_get(user=request.user, app_id=app_id, number=number, comment_id=comment_id)
    if comment.author_id != request.user.pk:
        raise PermissionDenied("You can only change your own comments.")
    return comment


@require_http_methods(["GET", "POST"])
def comment_edit(request: HttpRequest, app_id: int, number: int, comment_id: int) -> HttpResponse:
    comment = _own_comment(request, app_id, number, comment_id)
    form = CommentForm(request.POST or None, initial={"body": comment.body})
    if request.method == "POST" and form.is_valid():
        services.comment_update(comment=comment, body=form.cleaned_data["body"])
        return redirect(
            reverse("report_detail", kwargs={"app_id": app_id, "number": number}) + f"#comment-{comment.pk}"
        )
    return render(
        request,
        "bugs/comment_form.html",
        {"comment": comment, "form": form, "app": comment.report.app, "report": comment.report},
    )


@require_http_methods(["GET", "POST"])
def comment_delete(request: HttpRequest, app_id: int, number: int, comment_id: int) -> HttpResponse:
    comment = _own_comment(request, app_id, number, comment_id)
    back = reverse("report_detail", kwargs={"app_id": app_id, "number": number})
    if request.method == "POST":
        services.comment_delete(comment=comment)
        messages.success(request, "Comment deleted.")
        return redirect(back + "#comments")
    return render(
        request,
        "confirm.html",
        {
            "title": "Delete this comment?",
            "body": comment.body[:300],
            "action": "Delete comment",
            "danger": True,
            "cancel_url": back,
        },
    )
