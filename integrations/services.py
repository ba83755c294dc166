"""Writes and Jira calls of the integration (DESIGN.md "Conventions": views are glue).

Connecting is two steps. First the credentials become a draft connection: checked live against
Jira (who they act as, which site), kept in the session, nothing saved. Then
`jira_connection_save` stores the draft as the app's connection in one transaction. Every Jira
failure comes out as a typed error from `jira/errors.py`, with words the wizard can show.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import requests
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts.models import MANAGER_ROLES, Membership
from bugs.models import App, BugReport
from bugs.models import Priority as BugPriority
from bugs.models import Status as BugStatus

from . import selectors
from .encryption import CredentialsUnreadable
from .jira import connect, fields, issue_builder, mapping, oauth, setup
from .jira.auth import client_for
from .jira.auth.base import BearerAuth
from .jira.auth.oauth2 import store_grant
from .jira.auth.oauth_service_account import access_token as service_account_token
from .jira.auth.scoped_token import tenant_cloud_id
from .jira.client import JiraClient
from .jira.errors import JiraAuthError, JiraError, JiraValidationError
from .jira.site_url import normalize_site_url
from .models import AuthType, ConnectInstallation, FieldMapping, JiraConnection

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Resource:
    """A Jira site an OAuth token reaches (accessible-resources)."""

    cloud_id: str
    name: str
    url: str
    scopes: tuple[str, ...]


def oauth_callback_url() -> str:
    return f"{settings.SITE_URL}/integrations/jira/oauth/callback"


def jira_oauth_exchange(*, app: App, code: str) -> tuple[JiraConnection, list[Resource]]:
    """Trade the consent's code for tokens (server side: the client secret never leaves us) and
    list the sites they reach. The draft has no site yet unless exactly one came back."""
    granted = oauth.exchange_code(
        code=code,
        redirect_uri=oauth_callback_url(),
        client_id=settings.ATLASSIAN_OAUTH_CLIENT_ID,
        client_secret=settings.ATLASSIAN_OAUTH_CLIENT_SECRET,
    )
    draft = JiraConnection(app=app, auth_type=AuthType.OAUTH2)
    store_grant(draft, granted, consented=True)
    resources = _resources(BearerAuth(granted.access_token))
    if len(resources) == 1:
        jira_draft_pick_site(draft=draft, resource=resources[0])
    logger.info("jira.oauth.connected", extra={"app": app.pk, "sites": len(resources)})
    return draft, resources


def jira_draft_pick_site(*, draft: JiraConnection, resource: Resource) -> None:
    """Point a gateway draft at one site and learn who it acts as there."""
    draft.site_url = resource.url.rstrip("/")
    draft.cloud_id = resource.cloud_id
    jira_connection_identify(connection=draft)


def _resources(auth: Any) -> list[Resource]:
    listed = JiraClient(settings.ATLASSIAN_API_URL, auth).accessible_resources()
    found = []
    for item in listed:
        if not isinstance(item, dict) or not item.get("id") or not item.get("url"):
            continue
        found.append(
            Resource(
                cloud_id=str(item["id"]),
                name=str(item.get("name") or item["url"]),
                url=str(item["url"]),
                scopes=tuple(str(s) for s in item.get("scopes") or ()),
            )
        )
    return found


def jira_connection_identify(*, connection: JiraConnection) -> None:
    """Ask Jira who these credentials act as (`/myself` needs a signed-in caller, so a token Jira
    would silently treat as anonymous fails here), and record it on the connection (not saved)."""
    me = client_for(connection).myself()
    connection.account_id = str(me.get("accountId") or "")
    connection.identity_name = str(me.get("displayName") or "")[:255]
    if me.get("emailAddress"):
        connection.identity_email = str(me["emailAddress"])[:255]
    connection.last_success_at = timezone.now()


def jira_draft_from_credentials(
    *,
    app: App,
    auth_type: str,
    site_url: str,
    email: str = "",
    api_token: str = "",
    client_id: str = "",
    client_secret: str = "",
    token_expires_at: Any = None,
) -> JiraConnection:
    """A checked draft for the types an admin types credentials into (Basic, scoped API token,
    OAuth service account). Raises SiteUrlError or a JiraError the form can show."""
    site = normalize_site_url(site_url)
    draft = JiraConnection(app=app, auth_type=auth_type, site_url=site, identity_email=email.strip())
    if auth_type in (AuthType.BASIC, AuthType.SCOPED_TOKEN):
        draft.set_secrets({"api_token": api_token.strip()}, entered=True)
        draft.secret_expires_at = token_expires_at
    elif auth_type == AuthType.OAUTH_SERVICE_ACCOUNT:
        draft.set_secrets(
            {"client_id": client_id.strip(), "client_secret": client_secret.strip()}, entered=True
        )
    else:
        raise ValueError(f"{auth_type} is not entered by hand")
    if auth_type == AuthType.SCOPED_TOKEN:
        draft.cloud_id = tenant_cloud_id(site)
    elif auth_type == AuthType.OAUTH_SERVICE_ACCOUNT:
        token = service_account_token(draft)
        matching = [r for r in _resources(BearerAuth(token)) if r.url.rstrip("/") == site]
        if not matching:
            raise JiraAuthError(
                status=None,
                user_message=f"This service account has no access to {site}. Give it a role on that site.",
                reason="invalid_credentials",
            )
        draft.cloud_id = matching[0].cloud_id
    jira_connection_identify(connection=draft)
    if auth_type in SCOPE_PROBED:
        missing = missing_scopes(draft)
        if missing:
            raise JiraAuthError(
                status=401,
                user_message=(
                    f"These credentials lack scopes Bugbridge needs: {', '.join(missing)}. Add them to the "
                    "service account's credentials in admin.atlassian.com (Directory → Service accounts), "
                    "or create new credentials with them, then try again."
                ),
                reason="missing_scopes",
            )
    return draft


# A service account's credentials carry the scopes an admin ticked (classic or granular), and
# the gateway checks them per call. One harmless call per scope Bugbridge needs tells them apart
# by the gateway's "scope does not match"; any other answer (a 404 for the issue that does not
# exist, a 403) means the scope let the call through. read:jira-user is proven by /myself.
SCOPE_PROBED = (AuthType.SCOPED_TOKEN, AuthType.OAUTH_SERVICE_ACCOUNT)
PROBE_ISSUE = "0"  # no Jira issue has id 0: editing it changes nothing
SCOPE_PROBES: dict[str, Any] = {
    "read:jira-work": lambda client: client.search_projects(max_results=1),
    "write:jira-work": lambda client: client.edit_issue(PROBE_ISSUE, fields={}),
    "manage:jira-webhook": lambda client: client.list_webhooks(max_results=1),
}


def missing_scopes(connection: JiraConnection) -> list[str]:
    """The scopes Bugbridge needs that these credentials lack, by trying each (see above)."""
    client = client_for(connection)
    missing = []
    for scope, probe in SCOPE_PROBES.items():
        try:
            probe(client)
        except JiraAuthError as exc:
            if exc.reason != "missing_scope":
                raise
            missing.append(scope)
        except JiraError:
            continue
    return missing


@dataclass(frozen=True)
class SetupChoices:
    """What the Set up step posted (checked by `jira_draft_setup`, not trusted)."""

    project_id: str
    issue_type_id: str
    assignee: str
    assignee_query: str = ""
    status_choices: dict[str, str] = field(default_factory=dict)
    mapping: tuple[mapping.Chosen, ...] = ()
    fixed: dict[str, object] = field(default_factory=dict)


def jira_draft_setup(
    *, draft: JiraConnection, choices: SetupChoices, sources: list[fields.Source]
) -> tuple[dict[str, str], list[mapping.Row]]:
    """Point the draft at a project, an issue type and a default assignee, each checked against
    what Jira offers this identity now, and check the field mapping against the create screen.
    Returns the problems by field or row (empty: all set) and the mapping rows to keep."""
    problems: dict[str, str] = {}
    project = next((p for p in setup.projects(draft) if p.id == choices.project_id), None)
    if project is None:
        return {"project": "Pick a project you can create issues in."}, []
    issue_type = next(
        (t for t in setup.issue_types(draft, project.id) if t.id == choices.issue_type_id), None
    )
    if issue_type is None:
        return {"issue_type": f"Pick one of the issue types of {project.name}."}, []
    assignee_name = {"": "Project default", JiraConnection.UNASSIGNED: "Unassigned"}.get(choices.assignee)
    if assignee_name is None:
        person = next(
            (
                c
                for c in setup.assignable(draft, project.detail, choices.assignee_query)
                if c.id == choices.assignee
            ),
            None,
        )
        if person is None:
            problems["assignee"] = f"That person cannot be assigned issues in {project.name}. Search again."
        else:
            assignee_name = person.name
    screen = setup.create_fields(draft, project.id, issue_type.id)
    priorities, default_five = setup.priorities(draft, project.id, issue_type.id, screen_fields=screen)
    names = setup.priority_names(priorities)
    # Priority is filled by the table when every one of our priorities has a name to send, and
    # the assignee when a person is chosen; otherwise a required one needs a fixed value.
    elsewhere = [
        *(["priority"] if len(names) == len(setup.PRIORITY_TABLE) else []),
        *(["assignee"] if assignee_name not in ("Project default", "Unassigned") else []),
    ]
    rows, mapping_problems = mapping.check(
        sources=sources,
        screen=[f.as_jira() for f in screen],
        chosen=choices.mapping,
        fixed=choices.fixed,
        filled_elsewhere=elsewhere,
    )
    problems.update(mapping_problems)
    if problems:
        return problems, rows
    found = setup.statuses(draft, project.id, issue_type.id)
    status_map = setup.default_status_map(found)
    for status_id, chosen in choices.status_choices.items():
        if status_id in status_map and chosen in BugStatus.values:
            status_map[status_id] = chosen
    draft.status_map, draft.priority_two_way, draft.priority_names = status_map, default_five, names
    draft.project_id, draft.project_key, draft.project_name = project.id, project.detail, project.name
    draft.issue_type_id, draft.issue_type_name = issue_type.id, issue_type.name
    draft.default_assignee, draft.default_assignee_name = choices.assignee, assignee_name or ""
    if not default_five:
        draft.sync_priority = False
    return {}, rows


def issue_plan(
    connection: JiraConnection, rows: list[mapping.Row], *, summary_prefix: str = ""
) -> issue_builder.IssuePlan:
    """How a connection (or draft) turns a report into an issue."""
    return issue_builder.IssuePlan(
        project_id=connection.project_id,
        issue_type_id=connection.issue_type_id,
        assignee=connection.default_assignee,
        priority_names=dict(connection.priority_names or {}),
        mappings=tuple(
            issue_builder.MappedField(
                field=row["field"],
                source_key=row["source"],
                value_map=row.get("value_map") or None,
                fixed=row.get("fixed"),
            )
            for row in rows
        ),
        summary_prefix=summary_prefix,
    )


def report_url(report: Any) -> str:
    if getattr(report, "pk", None) is None:
        return ""
    return settings.SITE_URL + reverse(
        "report_detail", kwargs={"app_id": report.app_id, "number": report.number}
    )


TEST_PREFIX = "[Bugbridge test] "


def sample_report(*, app: App) -> Any:
    """The report the test issue is made from: the app's newest, or a made-up one when it has
    none yet (so the wizard can be tried before the SDK sends anything)."""
    report = selectors.sample_report(app=app)
    if report is not None:
        return report
    return BugReport(
        app=app,
        number=0,
        title="Sample report: the checkout button does nothing",
        description="Tapping “Pay now” on the checkout screen shows no response.",
        reproduction_steps=["Add an item to the cart", "Open checkout", "Tap “Pay now”"],
        reporter_email="tester@example.com",
        reporter_name="Sample Tester",
        device_model="Pixel 8",
        os_name="Android",
        os_version="15",
        app_version="1.0.0",
        app_build="100",
        current_view="CheckoutActivity",
        locale="en_US",
        tags=["checkout", "sample"],
        user_attributes={"plan": "pro"},
        console_logs=[{"level": "error", "message": "PaymentSheet: no handler for tap"}],
        priority=BugPriority.MAJOR,
    )


def jira_draft_test(*, draft: JiraConnection, rows: list[mapping.Row], report: Any) -> dict[str, Any]:
    """Create a real issue from the report with the mapping applied. The outcome, for the page
    (and the session): the issue on success; Jira's words by field id on a refusal."""
    built = issue_builder.build_issue(
        report, issue_plan(draft, rows, summary_prefix=TEST_PREFIX), report_url=report_url(report)
    )
    client = client_for(draft)
    outcome: dict[str, Any] = {"at": timezone.now().isoformat(), "notes": [list(n) for n in built.notes]}
    try:
        created = client.create_issue(built.fields)
    except JiraValidationError as exc:
        outcome.update(ok=False, errors=dict(exc.field_errors), message=jira_error_words(exc))
        return outcome
    key = str(created.get("key") or "")
    outcome.update(ok=True, key=key, id=str(created.get("id") or ""), url=f"{draft.site_url}/browse/{key}")
    try:
        outcome["can_delete"] = client.my_permissions(["DELETE_ISSUES"], project_key=draft.project_key).get(
            "DELETE_ISSUES", False
        )
    except JiraError:
        outcome["can_delete"] = False
    logger.info("jira.wizard.test_issue", extra={"app": draft.app_id, "key": key})
    return outcome


def jira_draft_test_delete(*, draft: JiraConnection, issue_key: str) -> None:
    """Delete the wizard's test issue (the key comes from the session, never from the form)."""
    client_for(draft).delete_issue(issue_key)
    logger.info("jira.wizard.test_issue_deleted", extra={"app": draft.app_id, "key": issue_key})


@dataclass(frozen=True)
class FinishChoices:
    auto_forward: bool
    forward_min_priority: str
    forward_tags: tuple[str, ...]
    sync_status: bool
    sync_priority: bool
    sync_comments: bool


@transaction.atomic
def jira_connection_finish(
    *, app: App, draft: JiraConnection, rows: list[mapping.Row], choices: FinishChoices
) -> JiraConnection:
    """Save everything the wizard gathered in one transaction: the connection, its switches and
    its field mappings (replacing the old ones). Priority sync stays off unless it can work."""
    if choices.forward_min_priority and choices.forward_min_priority not in BugPriority.values:
        raise ValueError("unknown priority")
    draft.auto_forward = choices.auto_forward
    draft.forward_min_priority = choices.forward_min_priority if choices.auto_forward else ""
    draft.forward_tags = list(choices.forward_tags) if choices.auto_forward else []
    draft.sync_status = choices.sync_status
    draft.sync_priority = choices.sync_priority and draft.priority_two_way
    draft.sync_comments = choices.sync_comments
    connection = jira_connection_save(app=app, draft=draft)
    connection.configured_at = timezone.now()
    connection.save(update_fields=["configured_at"])
    connection.field_mappings.all().delete()
    FieldMapping.objects.bulk_create(
        FieldMapping(
            connection=connection,
            jira_field_id=fields.field_id(row["field"]),
            jira_field_name=fields.field_name(row["field"])[:255],
            jira_field=row["field"],
            source=row["source"],
            value_map=row.get("value_map") or {},
            fixed_value=row.get("fixed"),
            position=position,
        )
        for position, row in enumerate(rows)
    )
    logger.info("jira.wizard.finished", extra={"app": app.pk, "mappings": len(rows)})
    return connection


def mapping_rows(*, connection: JiraConnection) -> list[mapping.Row]:
    """A saved connection's mappings in the wizard's row shape (for Reconfigure)."""
    return [
        {"field": m.jira_field, "source": m.source, "value_map": m.value_map, "fixed": m.fixed_value}
        for m in selectors.field_mappings(connection=connection)
    ]


# What belongs to the credentials rather than the set up (kept by a Reconfigure).
SECRET_FIELDS = ("credentials_set_at", "access_expires_at", "secret_expires_at", "connect_installation_id")
CARRIED_ALL = ["credentials", *JiraConnection.CARRIED]


@transaction.atomic
def jira_connection_save(*, app: App, draft: JiraConnection) -> JiraConnection:
    """Store the draft as the app's connection (replacing the one it had)."""
    connection = JiraConnection.objects.select_for_update().filter(app=app).first() or JiraConnection(app=app)
    # A Reconfigure draft changes the set up only: the row's credentials (which it may have
    # renewed since the draft was copied) and their dates stay as they are.
    reconfigure = draft.pk is not None and draft.pk == connection.pk
    names = [n for n in JiraConnection.CARRIED if n not in SECRET_FIELDS] if reconfigure else CARRIED_ALL
    for name in names:
        setattr(connection, name, getattr(draft, name))
    if not reconfigure:
        connection.reauth_notified_at = None
        connection.paused_until = None
        connection.status = JiraConnection.Status.ACTIVE
        connection.expiry_reminder_days = None  # new credentials: reminders start over
        connection.last_error = ""
        connection.last_error_at = None
        connection.refresh_lease_until = None
    connection.updated_at = timezone.now()
    connection.save()
    logger.info("jira.connection.saved", extra={"app": app.pk, "auth_type": connection.auth_type})
    # Reports that waited while the connection needed attention go out now.
    from .forwarding import forward_resume  # forwarding builds on these services

    forward_resume(connection=connection)
    return connection


def jira_error_words(error: JiraError) -> str:
    """What to show for a Jira failure: the error's own plain words."""
    return error.user_message


# ---------------------------------------------------------------------------------------------
# The legacy Connect add-on (API-NOTES §1e)
# ---------------------------------------------------------------------------------------------

CONNECT_BASE_PATH = "/integrations/jira/connect"
CONNECT_EVENTS = [
    "jira:issue_created",
    "jira:issue_updated",
    "jira:issue_deleted",
    "comment_created",
    "comment_updated",
    "comment_deleted",
]


def connect_descriptor() -> dict[str, Any]:
    """Our atlassian-connect.json; every path is relative to SITE_URL (its `baseUrl`)."""
    return connect.descriptor(
        key=settings.JIRA_CONNECT_APP_KEY,
        name="Bugbridge",
        base_url=settings.SITE_URL,
        description="Send bug reports from your mobile apps to Jira and keep both sides in sync.",
        vendor={"name": "Bugbridge", "url": settings.SITE_URL},
        lifecycle_paths={
            "installed": f"{CONNECT_BASE_PATH}/installed",
            "uninstalled": f"{CONNECT_BASE_PATH}/uninstalled",
        },
        webhook_path=f"{CONNECT_BASE_PATH}/webhook",
        events=CONNECT_EVENTS,
        configure_path=f"{CONNECT_BASE_PATH}/configure",
        scopes=["READ", "WRITE", "DELETE"],
    )


def _install_public_key(kid: str) -> str:
    """The PEM Atlassian (or the sandbox) publishes for a signed install's `kid`."""
    timeout = (settings.JIRA_CONNECT_TIMEOUT_S, settings.JIRA_READ_TIMEOUT_S)
    response = requests.get(
        f"{settings.JIRA_CONNECT_INSTALL_KEYS_URL}/{kid}", timeout=timeout, allow_redirects=False
    )
    response.raise_for_status()
    return response.text


def connect_lifecycle(
    *, event: str, authorization: str | None, path: str, query: Any, body: bytes
) -> ConnectInstallation:
    """Verify and apply an `installed`/`uninstalled` call. Raises connect.ConnectJwtError (401) or
    connect.InstallPayloadError (400); a reinstall keeps the row and takes the new shared secret."""
    payload = connect.parse_install_payload(body)
    if payload.event_type != event:
        raise connect.InstallPayloadError("eventType", f"expected {event}")
    connect.verify_install_jwt(
        connect.extract_jwt(authorization),
        audience=settings.SITE_URL,
        client_key=payload.client_key,
        fetch_public_key=_install_public_key,
        method="POST",
        path=connect.relative_path(path, settings.SITE_URL),
        query=query,
    )
    with transaction.atomic():
        installation = (
            ConnectInstallation.objects.select_for_update().filter(client_key=payload.client_key).first()
        )
        if event == "installed":
            installation = installation or ConnectInstallation(client_key=payload.client_key)
            installation.shared_secret = payload.shared_secret or ""
            installation.base_url = payload.base_url.rstrip("/")
            installation.display_url = (payload.display_url or payload.base_url).rstrip("/")
            installation.uninstalled_at = None
            installation.updated_at = timezone.now()
            installation.save()
        elif installation is not None:
            installation.uninstalled_at = timezone.now()
            installation.save(update_fields=["uninstalled_at"])
            installation.connections.update(
                status=JiraConnection.Status.NEEDS_REAUTH,
                last_error="The Bugbridge add-on was uninstalled from Jira. Reinstall it or use OAuth 2.0.",
                last_error_at=timezone.now(),
            )
        else:
            raise connect.InstallPayloadError("clientKey", "unknown installation")
    logger.info("jira.connect.lifecycle", extra={"event": event, "installation": installation.pk})
    return installation


def connect_verify_request(
    *, authorization: str | None, query_jwt: str | None, method: str, path: str, query: Any, page: bool
) -> ConnectInstallation:
    """The installation an inbound HS256 call (a webhook, or the configure page when `page`) comes
    from, after checking its signature, times and qsh. Raises connect.ConnectJwtError."""
    found: dict[str, ConnectInstallation] = {}

    def secret_for(client_key: str) -> str | None:
        installation = ConnectInstallation.objects.filter(client_key=client_key, uninstalled_at=None).first()
        if installation is None:
            return None
        found["installation"] = installation
        return installation.shared_secret

    connect.verify_context_jwt(
        connect.extract_jwt(authorization, query_jwt),
        shared_secret_for=secret_for,
        method=method,
        path=connect.relative_path(path, settings.SITE_URL),
        query=query,
        allow_context_qsh=page,
    )
    return found["installation"]


def connect_draft(*, app: App, installation: ConnectInstallation) -> JiraConnection:
    """A checked draft that calls Jira through this installation (as the add-on's app user)."""
    draft = JiraConnection(
        app=app,
        auth_type=AuthType.CONNECT,
        site_url=installation.base_url,
        connect_installation=installation,
    )
    jira_connection_identify(connection=draft)
    return draft


# ---------------------------------------------------------------------------------------------
# Expiry reminders (Basic and scoped API tokens, the OAuth 2.0 grant's one-year limit)
# ---------------------------------------------------------------------------------------------

# Days before expiry at which the app's owners and admins are told, most distant first; 0 is
# "it has expired".
REMINDER_DAYS = (14, 3, 0)


def _reminder_due(connection: JiraConnection, now: datetime) -> int | None:
    """The reminder this connection is due (its days), or None when none is due now."""
    expires = connection.secret_expires_at
    if expires is None:
        return None
    left = expires - now
    due = [days for days in REMINDER_DAYS if left <= timedelta(days=days)]
    if not due:
        return None
    step = min(due)
    sent = connection.expiry_reminder_days
    return step if sent is None or step < sent else None


def credential_expiry_reminders(*, now: datetime | None = None) -> int:
    """Email each connection's owners and admins once per step (14 days, 3 days, expired) before
    its secret stops working. Idempotent: a step is recorded before its email is queued, so a
    second run (or a second worker) sends nothing again. Returns how many reminders went out."""
    now = now or timezone.now()
    horizon = now + timedelta(days=max(REMINDER_DAYS))
    sent = 0
    candidates = JiraConnection.objects.filter(secret_expires_at__lte=horizon).values_list("pk", flat=True)
    for pk in candidates:
        with transaction.atomic():
            connection = (
                JiraConnection.objects.select_for_update().select_related("app__organization").get(pk=pk)
            )
            step = _reminder_due(connection, now)
            if step is None:
                continue
            connection.expiry_reminder_days = step
            connection.save(update_fields=["expiry_reminder_days"])
            recipients = managers_emails(connection.app)
            if recipients:
                context = {
                    "connection": connection,
                    "app": connection.app,
                    "expired": connection.secret_expires_at <= now,
                    "link": settings.SITE_URL
                    + reverse("jira_settings", kwargs={"app_id": connection.app_id}),
                }
                subject = render_to_string("integrations/email/expiry_subject.txt", context).strip()
                body = render_to_string("integrations/email/expiry.txt", context)
                transaction.on_commit(
                    lambda s=subject, b=body, r=recipients: send_mail(
                        subject=s, message=b, from_email=None, recipient_list=r
                    )
                )
            sent += 1
            logger.info("jira.credentials.expiry_reminder", extra={"connection": pk, "days": step})
    return sent


def managers_emails(app: App) -> list[str]:
    """The emails of the app's owners and admins (who hear about its Jira connection)."""
    return sorted(
        Membership.objects.filter(organization_id=app.organization_id, role__in=MANAGER_ROLES)
        .exclude(user__email="")
        .values_list("user__email", flat=True)
    )


def jira_connection_disconnect(*, connection: JiraConnection) -> str:
    """Remove the webhooks the connection registered in Jira, forget its credentials and stop
    using it. The row stays, so what was linked to Jira through it keeps its history; connecting
    again reuses it. Returns a warning for the page when Jira's webhooks could not be removed."""
    warning = _remove_webhooks(connection)
    with transaction.atomic():
        row = JiraConnection.objects.select_for_update().get(pk=connection.pk)
        row.credentials = ""
        row.credentials_set_at = None
        row.access_expires_at = None
        row.secret_expires_at = None
        row.refresh_lease_until = None
        row.expiry_reminder_days = None
        row.connect_installation = None
        row.auto_forward = False
        row.status = JiraConnection.Status.DISCONNECTED
        row.updated_at = timezone.now()
        if not warning:
            row.webhook_kind, row.webhook_ids, row.webhook_expires_at = "", [], None
        row.save()
    logger.info("jira.connection.disconnected", extra={"app": row.app_id, "auth_type": row.auth_type})
    return warning


# Webhook kinds a connection may have registered, and how to remove them (before the secret goes:
# the call needs it). Dynamic webhooks die by themselves 30 days after their last refresh.
WEBHOOK_REMOVERS: dict[str, Any] = {
    "dynamic": lambda client, ids: client.delete_webhooks([int(i) for i in ids]),
    "admin": lambda client, ids: [client.delete_admin_webhook(int(i)) for i in ids],
}
WEBHOOK_LEFT_WORDS = {
    "dynamic": "They stop by themselves within 30 days.",
    "admin": "A Jira admin can delete them in Jira settings → System → WebHooks.",
}


def webhooks_remove(*, connection: JiraConnection) -> str:
    """Remove the webhooks the connection registered (before registering new ones); a warning
    when Jira would not, and then the ids stay on the row for the next try."""
    warning = _remove_webhooks(connection)
    if not warning:
        JiraConnection.objects.filter(pk=connection.pk).update(
            webhook_kind="", webhook_ids=[], webhook_expires_at=None
        )
    return warning


def _remove_webhooks(connection: JiraConnection) -> str:
    remover = WEBHOOK_REMOVERS.get(connection.webhook_kind)
    if remover is None or not connection.webhook_ids:
        return ""
    try:
        remover(client_for(connection), connection.webhook_ids)
    except (JiraError, CredentialsUnreadable) as exc:
        words = exc.user_message if isinstance(exc, JiraError) else "its credentials could not be read"
        logger.warning("jira.connection.webhooks_left", extra={"connection": connection.pk})
        return (
            f"Bugbridge could not remove its webhooks from Jira ({words}). "
            f"{WEBHOOK_LEFT_WORDS[connection.webhook_kind]}"
        )
    return ""


def jira_draft_from_connection(*, connection: JiraConnection) -> JiraConnection:
    """A draft holding everything the saved connection has (credentials included), so the wizard
    can reopen with the saved values; saving it updates the same row."""
    draft = JiraConnection(app=connection.app)
    for name in CARRIED_ALL:
        setattr(draft, name, getattr(connection, name))
    draft.pk = connection.pk
    return draft
