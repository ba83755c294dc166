"""Jira Cloud pages: an app's connection page, and the OAuth 2.0 (3LO) sign-in round trip.

The full four-step wizard is built on these; this page shows the connection, any draft waiting to
be saved, and the OAuth sign-in with every way it can go wrong explained in place.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from . import selectors, services
from .jira import oauth, wizard
from .jira.errors import JiraError

ADMIN_APPROVAL_HELP = (
    "If Atlassian said “Your site admin must authorize this app”, a site admin has to allow "
    "Bugbridge first: admin.atlassian.com → Apps → Connected apps → Bugbridge → Authorize "
    "(and, under user-installed apps, allow apps for your site). Then sign in again."
)


@require_GET
def jira_settings(request: HttpRequest, app_id: int) -> HttpResponse:
    app = selectors.app_for_jira_admin(user=request.user, app_id=app_id)
    loaded = wizard.draft_load(request.session, app.pk, app)
    draft, extra = (loaded[0], loaded[2]) if loaded and loaded[0].auth_type else (None, {})
    context = {
        "app": app,
        "connection": selectors.connection_for_app(app=app),
        "draft": draft,
        "resources": extra.get("resources") or [],
        "pending": wizard.pending_sign_in(request.session, app.pk),
        "admin_approval_help": ADMIN_APPROVAL_HELP,
    }
    return render(request, "integrations/jira.html", context)


@require_POST
def jira_oauth_start(request: HttpRequest, app_id: int) -> HttpResponse:
    app = selectors.app_for_jira_admin(user=request.user, app_id=app_id)
    state = wizard.state_issue(request.session, app.pk, wizard.draft_new_id(request.session, app.pk))
    url = oauth.authorize_url(
        client_id=settings.ATLASSIAN_OAUTH_CLIENT_ID,
        redirect_uri=services.oauth_callback_url(),
        state=state,
    )
    return HttpResponseRedirect(url)


@require_GET
def jira_oauth_callback(request: HttpRequest) -> HttpResponse:
    taken = wizard.state_take(request.session, request.GET.get("state", ""))
    if taken is None:
        return render(request, "integrations/oauth_expired.html", status=400)
    app_id, draft_id = taken
    app = selectors.app_for_jira_admin(user=request.user, app_id=app_id)
    page = reverse("jira_settings", kwargs={"app_id": app.pk})
    error = request.GET.get("error")
    if error or not request.GET.get("code"):
        if error == "access_denied":
            messages.error(
                request,
                "The sign-in was cancelled or refused, so Bugbridge got no access. " + ADMIN_APPROVAL_HELP,
            )
        else:
            messages.error(
                request, f"Atlassian did not complete the sign-in ({error or 'no code'}). Try again."
            )
        return redirect(page)
    try:
        draft, resources = services.jira_oauth_exchange(app=app, code=request.GET["code"])
    except JiraError as exc:
        messages.error(request, services.jira_error_words(exc))
        return redirect(page)
    extra = {"id": draft_id, "resources": [r.__dict__ for r in resources] if len(resources) > 1 else []}
    wizard.draft_save(request.session, app.pk, draft, extra=extra)
    if not resources:
        messages.error(
            request, "This Atlassian account reaches no Jira Cloud site with Bugbridge. Ask a site admin."
        )
    return redirect(page)


@require_POST
def jira_draft_site(request: HttpRequest, app_id: int) -> HttpResponse:
    """Pick one of the sites the OAuth token reaches."""
    app = selectors.app_for_jira_admin(user=request.user, app_id=app_id)
    page = reverse("jira_settings", kwargs={"app_id": app.pk})
    loaded = wizard.draft_load(request.session, app.pk, app)
    if loaded is None:
        messages.error(request, "There is no sign-in to finish. Start again.")
        return redirect(page)
    draft, draft_id, extra = loaded
    chosen = next(
        (r for r in extra.get("resources") or [] if r["cloud_id"] == request.POST.get("cloud_id")), None
    )
    if chosen is None:
        messages.error(request, "Pick one of the listed sites.")
        return redirect(page)
    try:
        services.jira_draft_pick_site(
            draft=draft, resource=services.Resource(**{**chosen, "scopes": tuple(chosen["scopes"])})
        )
    except JiraError as exc:
        messages.error(request, services.jira_error_words(exc))
        return redirect(page)
    wizard.draft_save(request.session, app.pk, draft, extra={"id": draft_id, "resources": []})
    return redirect(page)


@require_POST
def jira_draft_save(request: HttpRequest, app_id: int) -> HttpResponse:
    app = selectors.app_for_jira_admin(user=request.user, app_id=app_id)
    loaded = wizard.draft_load(request.session, app.pk, app)
    if loaded is None or not loaded[0].site_url:
        messages.error(request, "There is nothing to save yet: sign in and pick a site first.")
    else:
        services.jira_connection_save(app=app, draft=loaded[0])
        wizard.draft_discard(request.session, app.pk)
        messages.success(request, "Jira Cloud is connected.")
    return redirect("jira_settings", app_id=app.pk)


@require_POST
def jira_draft_discard(request: HttpRequest, app_id: int) -> HttpResponse:
    app = selectors.app_for_jira_admin(user=request.user, app_id=app_id)
    wizard.draft_discard(request.session, app.pk)
    return redirect("jira_settings", app_id=app.pk)
