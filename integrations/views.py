"""Jira Cloud pages: an app's connection page, and the OAuth 2.0 (3LO) sign-in round trip.

The full four-step wizard is built on these; this page shows the connection, any draft waiting to
be saved, and the OAuth sign-in with every way it can go wrong explained in place.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core import signing
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from bugs.models import App
from bugs.models import Priority as BugPriority
from bugs.models import Status as BugStatus

from . import selectors, services, steps, subscriptions
from .forms import CREDENTIAL_FORMS, CredentialsForm, FinishForm, TokenForm
from .jira import connect, issue_builder, mapping, oauth, setup, wizard
from .jira.adf import adf_to_text
from .jira.auth import client_for
from .jira.errors import JiraAuthError, JiraError
from .jira.site_url import SiteUrlError
from .models import AuthType, JiraConnection

logger = logging.getLogger(__name__)

INVALID_WORDS = (
    "Jira did not accept these credentials. Check the email, the token and the site: the token may "
    "be mistyped, revoked or expired (API tokens expire after at most a year; Jira answers the same "
    "for each). If it has expired, create a new one and enter it here."
)
# What an auth failure means for credentials just typed in (the errors' own words speak of saved ones).
TYPED_IN_AUTH_ERRORS = {
    "invalid_credentials": INVALID_WORDS,
    "anonymous": INVALID_WORDS,
    "expired": "This token has expired. Create a new one in Atlassian and enter it here.",
    "missing_scope": (
        "These credentials lack a scope Bugbridge needs: read:jira-work, write:jira-work, "
        "read:jira-user, manage:jira-webhook and read:field:jira."
    ),
}
ADMIN_APPROVAL_HELP = (
    "If Atlassian said “Your site admin must authorize this app”, a site admin has to allow "
    "Bugbridge first: admin.atlassian.com → Apps → Connected apps → Bugbridge → Authorize "
    "(and, under user-installed apps, allow apps for your site). Then sign in again."
)


@require_GET
def jira_settings(request: HttpRequest, app_id: int) -> HttpResponse:
    app = selectors.app_for_jira_admin(user=request.user, app_id=app_id)
    return _page(request, app, chosen=request.GET.get("type", ""))


def _stored(
    loaded: tuple[JiraConnection, str, dict[str, Any]] | None, connection: JiraConnection | None
) -> JiraConnection | None:
    """Whose secrets an empty secret field keeps: the draft, else the saved connection."""
    return loaded[0] if loaded is not None and loaded[0].auth_type else connection


def _page(
    request: HttpRequest,
    app: App,
    bound: CredentialsForm | None = None,
    *,
    chosen: str = "",
    status: int = 200,
) -> HttpResponse:
    """The page; an htmx request for another authentication type gets just that type's part."""
    loaded = wizard.draft_load(request.session, app.pk, app)
    draft, extra = (loaded[0], loaded[2]) if loaded and loaded[0].auth_type else (None, {})
    connection = selectors.connection_for_app(app=app)
    stored = _stored(loaded, connection)
    if bound is not None:
        chosen = bound.auth_type
    elif chosen not in AuthType.values:
        chosen = stored.auth_type if stored is not None else AuthType.OAUTH2
    form_class = CREDENTIAL_FORMS.get(chosen)
    context = {
        "app": app,
        "connection": connection,
        "draft": draft,
        "resources": extra.get("resources") or [],
        "pending": wizard.pending_sign_in(request.session, app.pk),
        "admin_approval_help": ADMIN_APPROVAL_HELP,
        "auth_types": AuthType.choices,
        "chosen": chosen,
        "form": bound if bound is not None else (form_class(stored=stored) if form_class else None),
        "descriptor_url": settings.SITE_URL + reverse("connect_descriptor"),
        **(steps.health(connection) if connection is not None else {}),
    }
    if request.htmx and bound is None:
        return render(request, "integrations/jira.html#auth-form", context, status=status)
    return render(request, "integrations/jira.html", context, status=status)


@require_GET
def jira_connect_status(request: HttpRequest, app_id: int) -> HttpResponse:
    """Polled while the admin links the add-on in another tab: reload once the draft is there."""
    app = selectors.app_for_jira_admin(user=request.user, app_id=app_id)
    loaded = wizard.draft_load(request.session, app.pk, app)
    if loaded is not None and loaded[0].auth_type == AuthType.CONNECT:
        response = HttpResponse(status=204)
        response["HX-Refresh"] = "true"
        return response
    return render(request, "integrations/jira.html#connect-waiting", {"app": app})


@require_POST
def jira_credentials(request: HttpRequest, app_id: int, auth_type: str) -> HttpResponse:
    """Check typed-in credentials live; a draft on success, the form with Jira's words if not."""
    app = selectors.app_for_jira_admin(user=request.user, app_id=app_id)
    form_class = CREDENTIAL_FORMS.get(auth_type)
    if form_class is None:
        raise Http404("No such authentication type.")
    stored = _stored(wizard.draft_load(request.session, app.pk, app), selectors.connection_for_app(app=app))
    form = form_class(request.POST, stored=stored)
    if form.is_valid():
        try:
            draft = services.jira_draft_from_credentials(
                app=app,
                auth_type=auth_type,
                site_url=form.cleaned_data["site_url"],
                email=form.cleaned_data.get("email", ""),
                token_expires_at=form.expires_at() if isinstance(form, TokenForm) else None,
                **form.secrets(),
            )
        except SiteUrlError as exc:
            form.add_error("site_url", str(exc))
        except JiraAuthError as exc:
            form.add_error(None, TYPED_IN_AUTH_ERRORS.get(exc.reason or "", services.jira_error_words(exc)))
        except JiraError as exc:
            form.add_error(None, services.jira_error_words(exc))
        else:
            wizard.draft_save(request.session, app.pk, draft)
            return redirect("jira_settings", app_id=app.pk)
    return _page(request, app, form, status=400)


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
def jira_draft_discard(request: HttpRequest, app_id: int) -> HttpResponse:
    app = selectors.app_for_jira_admin(user=request.user, app_id=app_id)
    wizard.draft_discard(request.session, app.pk)
    return redirect("jira_settings", app_id=app.pk)


# ---------------------------------------------------------------------------------------------
# The legacy Connect add-on: descriptor, lifecycle, configure page, linking, webhooks
# ---------------------------------------------------------------------------------------------

LINK_SALT = "integrations.connect.link"
LINK_MAX_AGE_S = 30 * 60


@login_not_required
@require_GET
def connect_descriptor(request: HttpRequest) -> HttpResponse:
    return JsonResponse(services.connect_descriptor())


def _lifecycle(request: HttpRequest, event: str) -> HttpResponse:
    try:
        services.connect_lifecycle(
            event=event,
            authorization=request.headers.get("Authorization"),
            path=request.path,
            query=request.GET,
            body=request.body,
        )
    except connect.ConnectJwtError as exc:
        logger.warning("jira.connect.lifecycle_refused", extra={"event": event, "reason": exc.reason})
        return HttpResponse("The request is not signed by Atlassian.", status=401, content_type="text/plain")
    except connect.InstallPayloadError as exc:
        return HttpResponse(f"Bad {exc.field}.", status=400, content_type="text/plain")
    return HttpResponse(status=204)


@csrf_exempt
@login_not_required
@require_POST
def connect_installed(request: HttpRequest) -> HttpResponse:
    return _lifecycle(request, "installed")


@csrf_exempt
@login_not_required
@require_POST
def connect_uninstalled(request: HttpRequest) -> HttpResponse:
    return _lifecycle(request, "uninstalled")


@xframe_options_exempt
@login_not_required
@require_GET
def connect_configure(request: HttpRequest) -> HttpResponse:
    """Opened by Jira in an iframe with a context JWT. Our session cookie does not reach an iframe
    on another site, so the page hands over a short-lived signed link to open in a new tab."""
    try:
        installation = services.connect_verify_request(
            authorization=request.headers.get("Authorization"),
            query_jwt=request.GET.get("jwt"),
            method="GET",
            path=request.path,
            query=request.GET,
            page=True,
        )
    except connect.ConnectJwtError:
        return render(request, "integrations/connect_configure.html", {"refused": True}, status=401)
    token = signing.dumps({"installation": installation.pk}, salt=LINK_SALT)
    link = request.build_absolute_uri(reverse("connect_link", kwargs={"token": token}))
    return render(
        request, "integrations/connect_configure.html", {"installation": installation, "link": link}
    )


@require_http_methods(["GET", "POST"])
def connect_link(request: HttpRequest, token: str) -> HttpResponse:
    """Signed in to Bugbridge: pick which app this Jira site's add-on serves."""
    try:
        installation_pk = signing.loads(token, salt=LINK_SALT, max_age=LINK_MAX_AGE_S)["installation"]
    except (signing.BadSignature, KeyError, TypeError):
        # A 404 like any unknown address, with a page that says how to get a fresh link.
        return render(request, "integrations/connect_link.html", {"expired": True}, status=404)
    installation = selectors.connect_installation(pk=installation_pk)
    apps = selectors.apps_for_jira_admin(user=request.user)
    if request.method == "POST":
        app = next((a for a in apps if str(a.pk) == request.POST.get("app")), None)
        if app is None:
            messages.error(request, "Pick one of your apps.")
        else:
            try:
                draft = services.connect_draft(app=app, installation=installation)
            except JiraError as exc:
                messages.error(request, services.jira_error_words(exc))
            else:
                wizard.draft_save(request.session, app.pk, draft)
                return redirect("jira_settings", app_id=app.pk)
    context = {"installation": installation, "apps": apps, "token": token}
    return render(request, "integrations/connect_link.html", context)


# ---------------------------------------------------------------------------------------------
# The wizard's later steps, on the draft: Set up, Test, Finish
# ---------------------------------------------------------------------------------------------


def _draft_or_redirect(
    request: HttpRequest, app: App, *, needs_project: bool = False
) -> tuple[JiraConnection, str, dict[str, Any]] | HttpResponse:
    """The app's draft, or a redirect to the step that has to come first (with why)."""
    loaded = wizard.draft_load(request.session, app.pk, app)
    if loaded is None or not loaded[0].site_url:
        connection = selectors.connection_for_app(app=app)
        if connection is not None and connection.status != JiraConnection.Status.DISCONNECTED:
            messages.info(
                request, "No change is in progress: use Reconfigure to change the saved connection."
            )
        else:
            messages.error(
                request, "Authenticate first: the next steps need a Jira identity to ask Jira with."
            )
        return redirect("jira_settings", app_id=app.pk)
    if loaded[0].pk is not None:
        saved = selectors.connection_for_app(app=app)
        if saved is None or saved.pk != loaded[0].pk or saved.status == JiraConnection.Status.DISCONNECTED:
            wizard.draft_discard(request.session, app.pk)
            messages.error(
                request, "The connection being reconfigured was disconnected meanwhile: connect again."
            )
            return redirect("jira_settings", app_id=app.pk)
    if needs_project and not loaded[0].project_id:
        messages.error(request, "Set up first: choose the project issues go to.")
        return redirect("jira_setup", app_id=app.pk)
    return loaded


@require_http_methods(["GET", "POST"])
def jira_setup(request: HttpRequest, app_id: int) -> HttpResponse:
    app = selectors.app_for_jira_admin(user=request.user, app_id=app_id)
    loaded = _draft_or_redirect(request, app)
    if isinstance(loaded, HttpResponse):
        return loaded
    draft, draft_id, extra = loaded
    data = request.POST if request.method == "POST" else request.GET
    sources = steps.app_sources(app)
    problems: dict[str, str] = {}
    if request.method == "POST":
        posted = steps.posted_mapping(data) or ([], {})
        choices = services.SetupChoices(
            project_id=data.get("project", ""),
            issue_type_id=data.get("issue_type", ""),
            assignee=data.get("assignee", ""),
            assignee_query=data.get("assignee_q", ""),
            status_choices={k[len("status-") :]: v for k, v in data.items() if k.startswith("status-")},
            mapping=tuple(posted[0]),
            fixed=posted[1],
        )
        try:
            problems, rows = services.jira_draft_setup(draft=draft, choices=choices, sources=sources)
        except JiraError as exc:
            problems = {"form": services.jira_error_words(exc)}
        if not problems:
            changed = {wizard.MAPPINGS: rows, wizard.TEST: None, wizard.REVISION: secrets.token_urlsafe(8)}
            wizard.draft_save(request.session, app.pk, draft, extra={**extra, **changed, "id": draft_id})
            messages.success(request, f"Issues will go to {draft.project_name} as {draft.issue_type_name}.")
            return redirect("jira_finish" if data.get("then") == "finish" else "jira_test", app_id=app.pk)
    return _setup_page(request, app, draft, extra, data, problems, sources)


def _setup_page(
    request: HttpRequest,
    app: App,
    draft: JiraConnection,
    extra: dict[str, Any],
    data: Any,
    problems: dict[str, str],
    sources: list[Any],
) -> HttpResponse:
    chosen_project = data.get("project") or draft.project_id
    context: dict[str, Any] = {
        "app": app,
        "draft": draft,
        "step": "setup",
        "problems": problems,
        "chosen_project": chosen_project,
        "chosen_type": data.get("issue_type") or draft.issue_type_id,
        "chosen_assignee": data.get("assignee", draft.default_assignee),
        "assignee_q": data.get("assignee_q", ""),
        "projects": [],
        "issue_types": [],
        "people": [],
        "reconfiguring": bool(extra.get("reconfigure")),
    }
    try:
        context["projects"] = setup.projects(draft, data.get("q", ""))
        project = next((p for p in context["projects"] if p.id == chosen_project), None)
        if project is not None:
            context["issue_types"] = setup.issue_types(draft, project.id)
            context["people"] = setup.assignable(draft, project.detail, context["assignee_q"])
            _add_tables(context, draft, extra, data, project, sources)
    except JiraError as exc:
        problems.setdefault("form", services.jira_error_words(exc))
    if request.htmx and request.method == "GET":
        # A fragment is swapped in only on a 2xx (htmx's default); its problems show inside it.
        return render(request, "integrations/setup.html#setup-form", context)
    status = 400 if problems else 200
    return render(request, "integrations/setup.html", context, status=status)


def _add_tables(
    context: dict[str, Any],
    draft: JiraConnection,
    extra: dict[str, Any],
    data: Any,
    project: setup.Choice,
    sources: list[Any],
) -> None:
    """The priority table (and whether it can sync both ways), the status rows of the chosen issue
    type (each defaulted from its category unless the admin chose otherwise) and the mapping rows
    (from the post, else from the draft's saved rows when the project and type are the same)."""
    type_ids = [t.id for t in context["issue_types"]]
    chosen_type = context["chosen_type"] if context["chosen_type"] in type_ids else ""
    chosen_type = chosen_type or next(
        (t.id for t in context["issue_types"] if t.name == "Bug"), type_ids[0] if type_ids else ""
    )
    context["chosen_type"] = chosen_type
    if not chosen_type:
        return
    screen = setup.create_fields(draft, project.id, chosen_type)
    priorities, default_five = setup.priorities(draft, project.id, chosen_type, screen_fields=screen)
    context["priority_rows"] = [
        (BugPriority(value).label, name) for value, name in setup.PRIORITY_TABLE.items()
    ]
    context["priorities_default"] = default_five
    context["project_priorities"] = [p.name for p in priorities]
    same_target = draft.project_id == project.id and draft.issue_type_id == chosen_type
    found = setup.statuses(draft, project.id, chosen_type)
    current = {**setup.default_status_map(found), **(draft.status_map if same_target else {})}
    context["status_rows"] = [
        (status, data.get(f"status-{status.id}") or current.get(status.id, "new")) for status in found
    ]
    context["report_statuses"] = BugStatus.choices
    posted = steps.posted_mapping(data)
    if posted is not None:
        chosen = {c.source_key: c for c in posted[0]}
        fixed = posted[1]
    else:
        chosen, fixed = mapping.chosen_from_rows(extra.get(wizard.MAPPINGS) or [] if same_target else [])
    names = setup.priority_names(priorities)
    elsewhere = ["priority"] if len(names) == len(setup.PRIORITY_TABLE) else []
    if context["chosen_assignee"] not in ("", JiraConnection.UNASSIGNED):
        elsewhere.append("assignee")
    test_errors = (extra.get(wizard.TEST) or {}).get("errors") or {} if same_target else {}
    problems = {**_test_problems(test_errors, chosen), **context["problems"]}
    context["source_rows"], context["required_rows"] = rows = steps.mapping_rows(
        sources=sources,
        screen=[f.as_jira() for f in screen],
        chosen=chosen,
        fixed=fixed,
        problems=problems,
        tags=selectors.report_tags(app=context["app"]),
        filled_elsewhere=elsewhere,
    )
    # Jira's errors on fields no row shows (priority, assignee, labels…) go above the form.
    shown = {mapping.map_key(r.source.key) for r in rows[0]} | {
        mapping.fixed_key(r.field_id) for r in rows[1]
    }
    context["test_errors"] = [
        (key.split(":", 1)[1], words)
        for key, words in _test_problems(test_errors, chosen).items()
        if key not in shown
    ]


def _test_problems(errors: dict[str, str], chosen: dict[str, mapping.Chosen]) -> dict[str, str]:
    """Jira's field errors from the last test, on the mapping rows that filled those fields."""
    by_field = {c.field_id: c.source_key for c in chosen.values() if c.field_id}
    found = {}
    for field_id, message in errors.items():
        key = mapping.map_key(by_field[field_id]) if field_id in by_field else mapping.fixed_key(field_id)
        found[key] = f"Jira refused the test issue: {message}"
    return found


@require_http_methods(["GET", "POST"])
def jira_test(request: HttpRequest, app_id: int) -> HttpResponse:
    """Create a real issue from a sample report with the mapping applied (POST), and show how it
    went: its key as a link, or Jira's field errors on the mapping rows that caused them."""
    app = selectors.app_for_jira_admin(user=request.user, app_id=app_id)
    loaded = _draft_or_redirect(request, app, needs_project=True)
    if isinstance(loaded, HttpResponse):
        return loaded
    draft, draft_id, extra = loaded
    rows = extra.get(wizard.MAPPINGS) or []
    report = services.sample_report(app=app)
    if request.method == "POST":
        try:
            outcome = services.jira_draft_test(draft=draft, rows=rows, report=report)
        except JiraError as exc:
            outcome = {"ok": False, "errors": {}, "message": services.jira_error_words(exc)}
        # Saved with the draft: the identity's renewed tokens, and the outcome for a reload.
        kept = {**extra, wizard.TEST: outcome, "id": draft_id}
        wizard.draft_save(request.session, app.pk, draft, extra=kept)
        if not request.htmx:
            return redirect("jira_test", app_id=app.pk)
        extra = kept
    built = issue_builder.build_issue(
        report,
        services.issue_plan(draft, rows, summary_prefix=services.TEST_PREFIX),
        report_url=services.report_url(report),
    )
    outcome = extra.get(wizard.TEST) or {}
    context = {
        "app": app,
        "draft": draft,
        "step": "test",
        "report": report,
        "built": built,
        "preview": steps.test_preview(rows, built),
        "description_text": adf_to_text(built.fields.get("description")),
        "outcome": outcome,
        "outcome_errors": steps.named(outcome.get("errors") or {}, rows),
        "outcome_notes": steps.named(outcome.get("notes") or [], rows),
    }
    if request.htmx and request.method == "POST":
        return render(request, "integrations/test.html#body", context)
    return render(request, "integrations/test.html", context)


@require_POST
def jira_test_delete(request: HttpRequest, app_id: int) -> HttpResponse:
    app = selectors.app_for_jira_admin(user=request.user, app_id=app_id)
    loaded = _draft_or_redirect(request, app, needs_project=True)
    if isinstance(loaded, HttpResponse):
        return loaded
    draft, draft_id, extra = loaded
    outcome = dict(extra.get(wizard.TEST) or {})
    if not outcome.get("ok") or outcome.get("deleted"):
        messages.error(request, "There is no test issue to delete.")
        return redirect("jira_test", app_id=app.pk)
    try:
        services.jira_draft_test_delete(draft=draft, issue_key=outcome["key"])
    except JiraError as exc:
        messages.error(request, f"{outcome['key']} was not deleted: {services.jira_error_words(exc)}")
    else:
        outcome["deleted"] = True
        messages.success(request, f"The test issue {outcome['key']} is deleted.")
    wizard.draft_save(request.session, app.pk, draft, extra={**extra, wizard.TEST: outcome, "id": draft_id})
    return redirect("jira_test", app_id=app.pk)


@require_http_methods(["GET", "POST"])
def jira_finish(request: HttpRequest, app_id: int) -> HttpResponse:
    """The switches and a summary; saving stores the connection and its mappings at once."""
    app = selectors.app_for_jira_admin(user=request.user, app_id=app_id)
    loaded = _draft_or_redirect(request, app, needs_project=True)
    if isinstance(loaded, HttpResponse):
        return loaded
    draft, draft_id, extra = loaded
    form = FinishForm(request.POST or None, initial=FinishForm.initial_for(draft))
    revision = str(extra.get(wizard.REVISION) or "")
    if request.method == "POST" and request.POST.get("revision") != f"{draft_id}:{revision}":
        form.is_valid()
        form.add_error(
            None,
            "The set up changed in another tab or window since this page was opened. Check the summary "
            "below (it shows the latest set up) and finish again.",
        )
    elif request.method == "POST" and form.is_valid():
        connection = services.jira_connection_finish(
            app=app, draft=draft, rows=extra.get(wizard.MAPPINGS) or [], choices=form.choices()
        )
        warning = subscriptions.webhooks_ensure(connection=connection)
        wizard.draft_discard(request.session, app.pk)
        messages.success(request, f"Jira Cloud is set up: {app.name}'s reports go to {draft.project_name}.")
        if warning:
            messages.warning(request, warning)
        return redirect("jira_settings", app_id=app.pk)
    is_admin = _is_jira_admin(draft)
    context = {
        "app": app,
        "draft": draft,
        "step": "finish",
        "form": form,
        "revision": f"{draft_id}:{revision}",
        "field_summary": steps.field_summary(extra.get(wizard.MAPPINGS) or []),
        "outcome": extra.get(wizard.TEST),
        "changes_reach_us": steps.changes_reach_us(draft, is_admin),
        "changes_channel": steps.changes_channel(draft, is_admin),
        "status_names": _status_names(draft),
    }
    return render(request, "integrations/finish.html", context, status=400 if form.errors else 200)


def _is_jira_admin(draft: JiraConnection) -> bool | None:
    """Whether the identity may register an admin webhook (only asked where it matters)."""
    if draft.auth_type in steps.CHANGES_REACH_US:
        return None
    try:
        return client_for(draft).my_permissions(["ADMINISTER"]).get("ADMINISTER", False)
    except JiraError:
        return False


def _status_names(draft: JiraConnection) -> list[tuple[str, str]]:
    """(Jira status, report status) for the summary, by the names Jira gives now."""
    try:
        found = setup.statuses(draft, draft.project_id, draft.issue_type_id)
    except JiraError:
        found = []
    labels = dict(BugStatus.choices)
    return [(s.name, labels.get(draft.status_map.get(s.id, ""), "—")) for s in found]


@require_http_methods(["GET", "POST"])
def jira_disconnect(request: HttpRequest, app_id: int) -> HttpResponse:
    app = selectors.app_for_jira_admin(user=request.user, app_id=app_id)
    connection = selectors.connection_for_app(app=app)
    if connection is None or connection.status == JiraConnection.Status.DISCONNECTED:
        raise Http404("No Jira connection to disconnect.")
    if request.method == "POST":
        warning = services.jira_connection_disconnect(connection=connection)
        messages.success(request, f"{app.name} is disconnected from Jira. Its credentials are deleted.")
        if warning:
            messages.warning(request, warning)
        return redirect("jira_settings", app_id=app.pk)
    context = {
        "title": f"Disconnect {app.name} from Jira?",
        "body": f"Bugbridge removes the webhooks it registered in {connection.site_url}, deletes the "
        "credentials it holds for it and stops sending reports there. Issues already created in Jira "
        "stay, and so do their links here. You can connect again at any time.",
        "action": "Disconnect",
        "danger": True,
        "cancel_url": reverse("jira_settings", kwargs={"app_id": app.pk}),
    }
    return render(request, "confirm.html", context)


@require_POST
def jira_reconfigure(request: HttpRequest, app_id: int) -> HttpResponse:
    """Reopen Set up with the saved connection's values (the credentials stay as they are)."""
    app = selectors.app_for_jira_admin(user=request.user, app_id=app_id)
    connection = selectors.connection_for_app(app=app)
    if connection is None or connection.status == JiraConnection.Status.DISCONNECTED:
        raise Http404("No Jira connection to reconfigure.")
    extra = {
        wizard.MAPPINGS: services.mapping_rows(connection=connection),
        wizard.REVISION: secrets.token_urlsafe(8),
        "reconfigure": True,
    }
    draft = services.jira_draft_from_connection(connection=connection)
    wizard.draft_save(request.session, app.pk, draft, extra=extra)
    return redirect("jira_setup", app_id=app.pk)
