"""The sandbox's small Jira-like pages at /sandbox/jira/: sites, knobs, projects, issues, logs.

The sandbox has its own people (sandbox Accounts), not Bugbridge logins: every page is
`login_not_required`, and the account the pages act as is picked on the home page and kept in
the session. Every change to Jira data goes through the sandbox's services, imported inside the
views, so a change made here fires exactly the webhooks the same REST call would.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.paginator import Page, Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from ..knobs import KnobError, Knobs, knobs_update
from ..models import Account, Issue, Site, Status
from . import actions, selectors
from .adf import paragraphs, text_to_adf
from .forms import (
    ActorForm,
    AdminApprovalForm,
    CommentForm,
    KnobsForm,
    PriorityForm,
    PrioritySchemeForm,
    TransitionForm,
)

PAGE_SIZE = 50
NS = "jira_sandbox:"
# The project page's filter: status category key → label (Jira's category names).
CATEGORIES = [(key, label) for key, label in Status.Category.choices]


def page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A sandbox page: no Bugbridge login, and the sandbox's own 404 for unknown sites/projects/issues."""

    @login_not_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except selectors.Missing as exc:
            return render(request, "jira_sandbox/404.html", {"message": str(exc)}, status=404)

    return wrapper


def _paginate(request: HttpRequest, rows: Any) -> Page:
    return Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))


def _safe_next(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next") or ""
    allowed = url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure())
    return target if target and allowed else fallback


def _site_url(request: HttpRequest, site: Site) -> str:
    return request.build_absolute_uri(f"{settings.JIRA_SANDBOX_PREFIX}/site/{site.name}")


# ---------------------------------------------------------------------------------------------
# Home: sites, who we act as, reset
# ---------------------------------------------------------------------------------------------


@page
@require_http_methods(["GET"])
def home(request: HttpRequest) -> HttpResponse:
    actor = selectors.actor(request.session, None)
    sites = [(site, _site_url(request, site)) for site in selectors.sites_overview()]
    actor_form = ActorForm(initial={"account_id": actor.account_id if actor else "", "next": request.path})
    return render(
        request, "jira_sandbox/home.html", {"sites": sites, "actor": actor, "actor_form": actor_form}
    )


@page
@require_POST
def actor_set(request: HttpRequest) -> HttpResponse:
    form = ActorForm(request.POST)
    if form.is_valid():
        request.session[selectors.SESSION_ACTOR] = form.cleaned_data["account_id"]
    else:
        messages.error(request, "Pick one of the sandbox's people.")
    return HttpResponseRedirect(_safe_next(request, reverse(NS + "home")))


@page
@require_http_methods(["GET", "POST"])
def reset(request: HttpRequest) -> HttpResponse:
    """GET asks for confirmation; POST wipes every sandbox table and seeds the demo world again."""
    if request.method == "POST":
        from ..seed import sandbox_reset

        result = sandbox_reset()
        messages.success(request, f"The sandbox was reset and re-seeded: sites {', '.join(result.sites)}.")
        return redirect(NS + "home")
    return render(
        request,
        "jira_sandbox/confirm.html",
        {
            "title": "Reset and re-seed the sandbox?",
            "body": "Every sandbox site, person, token, issue, webhook, delivery and log entry is deleted, "
            "then the demo world is created again. Apps connected to the sandbox lose their tokens "
            "and webhooks and must connect again.",
            "action_url": reverse(NS + "ui_reset"),
            "action_label": "Reset and re-seed",
            "cancel_url": reverse(NS + "home"),
        },
    )


# ---------------------------------------------------------------------------------------------
# A site: projects, knobs, admin approval, webhooks, Connect installs
# ---------------------------------------------------------------------------------------------


@page
@require_http_methods(["GET", "POST"])
def site(request: HttpRequest, name: str) -> HttpResponse:
    the_site = selectors.site_or_missing(name)
    if request.method == "POST":
        form = KnobsForm(request.POST)
        if form.is_valid():
            try:
                knobs_update(site=the_site, changes=form.changes())
            except KnobError as exc:
                form.add_knob_error(str(exc))
            else:
                messages.success(request, "Knobs saved. They apply to the next API call.")
                return redirect(NS + "site", name=the_site.name)
    else:
        form = KnobsForm(initial=Knobs.of(the_site).as_dict())
    status = 400 if form.is_bound else 200
    return render(request, "jira_sandbox/site.html", _site_context(request, the_site, form), status=status)


def _site_context(request: HttpRequest, the_site: Site, form: KnobsForm) -> dict[str, Any]:
    prefix = settings.JIRA_SANDBOX_PREFIX
    return {
        "site": the_site,
        "site_url": _site_url(request, the_site),
        "actor": selectors.actor(request.session, the_site),
        "projects": selectors.projects_of(the_site),
        "knobs_form": form,
        "webhooks": selectors.webhooks_of(the_site),
        "installs": selectors.connect_installs_of(the_site),
        "connect_install_url": f"{prefix}/connect/install",
        "rest_webhook_path": "POST /rest/api/3/webhook",
    }


@page
@require_POST
def priority_scheme(request: HttpRequest, name: str, key: str) -> HttpResponse:
    the_site = selectors.site_or_missing(name)
    project = selectors.project_or_missing(the_site, key)
    form = PrioritySchemeForm(request.POST)
    form.is_valid()  # a BooleanField(required=False) always validates
    actions.project_priority_scheme_set(project=project, custom=form.cleaned_data["custom"])
    scheme = (
        "the site's custom priority scheme" if project.custom_priorities else "the default five priorities"
    )
    messages.success(request, f"{project.key} now uses {scheme}.")
    return redirect(NS + "site", name=the_site.name)


@page
@require_POST
def admin_approval(request: HttpRequest, name: str) -> HttpResponse:
    the_site = selectors.site_or_missing(name)
    form = AdminApprovalForm(request.POST)
    form.is_valid()  # a BooleanField(required=False) always validates
    actions.site_admin_approval_set(site=the_site, required=form.cleaned_data["required"])
    state = "now required" if the_site.admin_approval_required else "no longer required"
    messages.success(request, f"Site admin approval of OAuth 2.0 apps is {state} on {the_site.name}.")
    return redirect(NS + "site", name=the_site.name)


@page
@require_http_methods(["GET"])
def connect_uninstall_confirm(request: HttpRequest, name: str, pk: int) -> HttpResponse:
    """Asks first; the form posts to the Connect module's uninstall action."""
    the_site = selectors.site_or_missing(name)
    install = the_site.connect_installs.filter(pk=pk, uninstalled_at__isnull=True).first()
    if install is None:
        raise selectors.Missing(f"No live Connect install {pk} on {the_site.name}.")
    site_page = reverse(NS + "site", kwargs={"name": the_site.name})
    return render(
        request,
        "jira_sandbox/confirm.html",
        {
            "site": the_site,
            "title": f"Uninstall {install.app_key}?",
            "body": f"The sandbox sends the app its signed “uninstalled” lifecycle call at "
            f"{install.base_url} and forgets its shared secret; its webhooks stop.",
            "action_url": f"{settings.JIRA_SANDBOX_PREFIX}/connect/{install.pk}/uninstall",
            "action_label": "Uninstall",
            "hidden": {"next": site_page},
            "cancel_url": site_page,
        },
    )


# ---------------------------------------------------------------------------------------------
# A project's issues, and one issue
# ---------------------------------------------------------------------------------------------


@page
@require_http_methods(["GET"])
def project(request: HttpRequest, name: str, key: str) -> HttpResponse:
    the_site = selectors.site_or_missing(name)
    the_project = selectors.project_or_missing(the_site, key)
    category = request.GET.get("category") or ""
    if category not in dict(CATEGORIES):
        category = ""
    issues = _paginate(request, selectors.project_issues(the_project, category or None))
    return render(
        request,
        "jira_sandbox/project.html",
        {
            "site": the_site,
            "actor": selectors.actor(request.session, the_site),
            "project": the_project,
            "issues": issues,
            "categories": CATEGORIES,
            "category": category,
            "extra_query": urlencode({"category": category}) if category else "",
        },
    )


@dataclass
class ActionFailure:
    """A change the services refused: which form it came from, its bound form, Jira's messages."""

    action: str
    messages: list[str] = field(default_factory=list)
    form: Any = None


@page
@require_http_methods(["GET", "POST"])
def issue(request: HttpRequest, name: str, issue_key: str) -> HttpResponse:
    the_site = selectors.site_or_missing(name)
    the_issue = selectors.issue_or_missing(the_site, issue_key)
    actor = selectors.actor(request.session, the_site)
    if request.method == "GET":
        return render(request, "jira_sandbox/issue.html", _issue_context(request, the_issue, actor))
    handler = ISSUE_ACTIONS.get(request.POST.get("action", ""))
    failure = (
        handler(request, the_issue, actor) if handler else ActionFailure("", ["Unknown action on this page."])
    )
    if failure is None:
        return redirect(NS + "issue", name=the_site.name, issue_key=the_issue.key)
    # The services roll back on a refusal; show the issue as it is stored, the input as typed.
    the_issue = selectors.issue_or_missing(the_site, issue_key)
    context = _issue_context(request, the_issue, actor, failure)
    return render(request, "jira_sandbox/issue.html", context, status=400)


def _issue_context(
    request: HttpRequest, the_issue: Issue, actor: Account | None, failure: ActionFailure | None = None
) -> dict[str, Any]:
    from .. import services

    transitions = services.available_transitions(the_issue)
    priorities = selectors.priorities_for(the_issue.project)
    resolutions = selectors.resolutions_for(the_issue.site)
    failed = failure.action if failure else ""
    comment_form = failure.form if failed == "comment" and failure and failure.form else CommentForm()
    priority_form = PriorityForm(
        initial={"priority_id": the_issue.priority.priority_id if the_issue.priority else ""},
        priorities=priorities,
    )
    return {
        "site": the_issue.site,
        "actor": actor,
        "issue": the_issue,
        "description": paragraphs(the_issue.description),
        "custom_fields": selectors.custom_field_rows(the_issue),
        "transitions": transitions,
        "resolutions": resolutions,
        "priority_form": priority_form,
        "comment_form": comment_form,
        "comments": selectors.comment_rows(the_issue),
        "changelog": selectors.changelog_of(the_issue),
        "failure": failure,
        "failed": failed,
        "posted": request.POST if failure else {},
    }


def _refusal(exc: Exception) -> list[str]:
    """Jira's messages out of a refusal: ValidationFailed (messages, errors) or an ApiError body."""
    from ..responses import ApiError

    if isinstance(exc, ApiError):
        try:
            body = json.loads(exc.response.content)
        except ValueError:
            return [f"Refused ({exc.response.status_code})."]
        return [*body.get("errorMessages", []), *body.get("errors", {}).values()]
    # Jira's field messages name their field ("Resolution is required."): shown as they are.
    found = [*getattr(exc, "messages", []), *getattr(exc, "errors", {}).values()]
    return [str(message) for message in found] or [str(exc)]


def _refusals() -> tuple[type[Exception], ...]:
    from ..responses import ApiError
    from ..validation import ValidationFailed

    return (ValidationFailed, ApiError)


def _form_messages(form: Any) -> list[str]:
    return [str(message) for errors in form.errors.values() for message in errors]


def _transition(request: HttpRequest, the_issue: Issue, actor: Account | None) -> ActionFailure | None:
    from .. import services

    form = TransitionForm(
        request.POST,
        transitions=services.available_transitions(the_issue),
        resolutions=selectors.resolutions_for(the_issue.site),
    )
    if not form.is_valid():
        unavailable = "transition_id" in form.errors
        reason = ["That transition is not available from the current status."]
        return ActionFailure("transition", reason if unavailable else _form_messages(form))
    try:
        services.issue_transition(
            issue=the_issue,
            actor=actor,
            transition_id=form.cleaned_data["transition_id"],
            fields=form.fields_payload(),
        )
    except _refusals() as exc:
        return ActionFailure("transition", _refusal(exc))
    return None


def _priority(request: HttpRequest, the_issue: Issue, actor: Account | None) -> ActionFailure | None:
    from .. import services

    form = PriorityForm(request.POST, priorities=selectors.priorities_for(the_issue.project))
    if not form.is_valid():
        return ActionFailure("priority", _form_messages(form))
    try:
        services.issue_edit(
            issue=the_issue, actor=actor, fields={"priority": {"id": form.cleaned_data["priority_id"]}}
        )
    except _refusals() as exc:
        return ActionFailure("priority", _refusal(exc))
    return None


def _comment(request: HttpRequest, the_issue: Issue, actor: Account | None) -> ActionFailure | None:
    form = CommentForm(request.POST)
    if not form.is_valid():
        return ActionFailure("comment", _form_messages(form), form)
    from .. import comment_services

    try:
        comment_services.comment_add(
            issue=the_issue, author=actor, body=text_to_adf(form.cleaned_data["body"])
        )
    except _refusals() as exc:
        return ActionFailure("comment", _refusal(exc), form)
    return None


# The issue page's forms, by their `action` field.
ISSUE_ACTIONS: dict[str, Callable[[HttpRequest, Issue, Account | None], ActionFailure | None]] = {
    "transition": _transition,
    "priority": _priority,
    "comment": _comment,
}


# ---------------------------------------------------------------------------------------------
# Logs
# ---------------------------------------------------------------------------------------------


@page
@require_http_methods(["GET"])
def deliveries(request: HttpRequest, name: str) -> HttpResponse:
    the_site = selectors.site_or_missing(name)
    rows = _paginate(request, selectors.deliveries_of(the_site))
    for row in rows:
        row.pretty_payload = selectors.pretty_payload(row.payload)  # type: ignore[attr-defined]
    return render(
        request,
        "jira_sandbox/deliveries.html",
        {"site": the_site, "actor": selectors.actor(request.session, the_site), "deliveries": rows},
    )


@page
@require_http_methods(["GET"])
def requests_log(request: HttpRequest, name: str) -> HttpResponse:
    the_site = selectors.site_or_missing(name)
    rows = _paginate(request, selectors.requests_of(the_site))
    names = selectors.account_names({row.account_id for row in rows if row.account_id})
    for row in rows:
        row.account_name = names.get(row.account_id, row.account_id)  # type: ignore[attr-defined]
    return render(
        request,
        "jira_sandbox/requests.html",
        {"site": the_site, "actor": selectors.actor(request.session, the_site), "requests": rows},
    )
