"""Dashboard pages for apps and reports. Views are glue: selectors read, services write."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.selectors import membership_current, membership_require_current

from . import selectors, services
from .errors import BugsError
from .forms import AppForm, CommentForm, TriageForm
from .models import BugReport, Status

REPORTS_PER_PAGE = 50


@login_not_required
@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    membership = membership_current(request)
    if membership is None:
        return redirect("organization_create")
    apps = selectors.apps_for_membership(membership=membership)
    return render(request, "bugs/home.html", {"membership": membership, "apps": apps})


# --- apps -------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def app_list(request: HttpRequest) -> HttpResponse:
    membership = membership_require_current(request)
    form = AppForm(request.POST or None, organization_id=membership.organization_id)
    if request.method == "POST":
        if not membership.can_manage:
            raise PermissionDenied("Only owners and admins can add apps.")
        if form.is_valid():
            app, token = services.app_create(organization=membership.organization, **form.cleaned_data)
            return _token_page(request, app, token, created=True)
    apps = selectors.apps_for_membership(membership=membership)
    status = 400 if form.errors else 200
    return render(
        request, "bugs/app_list.html", {"membership": membership, "apps": apps, "form": form}, status=status
    )


@never_cache
def _token_page(request: HttpRequest, app: Any, token: str, *, created: bool) -> HttpResponse:
    # The only time the token is ever shown: rendered in this response, stored nowhere.
    context = {"app": app, "token": token, "created": created, "site_url": settings.SITE_URL}
    return render(request, "bugs/app_token.html", context)


@require_GET
def app_settings(request: HttpRequest, app_id: int) -> HttpResponse:
    app = selectors.app_get(user=request.user, app_id=app_id)
    membership = selectors.app_membership(user=request.user, app=app)
    context = {"app": app, "membership": membership, "site_url": settings.SITE_URL}
    return render(request, "bugs/app_settings.html", context)


@require_http_methods(["GET", "POST"])
def app_rotate_token(request: HttpRequest, app_id: int) -> HttpResponse:
    app = selectors.app_get(user=request.user, app_id=app_id)
    if not selectors.app_membership(user=request.user, app=app).can_manage:
        raise PermissionDenied("Only owners and admins can rotate SDK tokens.")
    if request.method == "POST":
        token = services.app_rotate_token(app=app)
        return _token_page(request, app, token, created=False)
    return render(
        request,
        "confirm.html",
        {
            "title": f"Rotate the SDK token of {app.name}?",
            "body": "The current token stops working immediately: builds of your app that still "
            "use it will get 401 errors until they ship with the new token.",
            "action": "Rotate token",
            "danger": True,
            "cancel_url": reverse("app_settings", kwargs={"app_id": app.pk}),
        },
    )


# --- reports ----------------------------------------------------------------------------------


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
        "activities": report.activities.select_related("actor"),
        "attachments": report.attachments.all(),
        **extra,
    }


@require_GET
def report_detail(request: HttpRequest, app_id: int, number: int) -> HttpResponse:
    report = selectors.report_get(user=request.user, app_id=app_id, number=number)
    return render(request, "bugs/report_detail.html", _report_context(request, report))


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
        context = _report_context(request, report, comment_form=form)
        return render(request, "bugs/report_detail.html", context, status=400)
    services.comment_create(report=report, body=form.cleaned_data["body"], author=request.user)
    return redirect(reverse("report_detail", kwargs={"app_id": app_id, "number": number}) + "#comments")


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
