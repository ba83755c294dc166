"""The sandbox's world: sites, people, credentials, projects, fields, workflow and a few issues.

`sandbox_seed()` is idempotent (a second run adds nothing) and deterministic: its secrets are
derived from SECRET_KEY, so the demo prints the same credentials on every run. `sandbox_reset()`
wipes every sandbox table first. The product's `seed_demo` calls this through the
`sandbox_seed` management command, by name, never by import.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone

from . import models as m
from .auth import hash_token

DEMO_PASSWORD = "sandbox"  # noqa: S105 - sign-in for sandbox people on the consent page (a fake Jira)

# (type_id, name, description, subtask)
ISSUE_TYPES = [
    ("10001", "Task", "A small, distinct piece of work.", False),
    ("10002", "Story", "A feature expressed as a user goal.", False),
    ("10004", "Bug", "A problem or error.", False),
]

# (id, name, colour) — the default scheme's five, then the site's custom ones (ids ≥ 10000).
DEFAULT_PRIORITIES = [
    ("1", "Highest", "#d04437"),
    ("2", "High", "#f15c75"),
    ("3", "Medium", "#f79232"),
    ("4", "Low", "#707070"),
    ("5", "Lowest", "#999999"),
]
CUSTOM_PRIORITIES = [
    ("10000", "Show Stopper", "#ff0000"),
    ("10001", "Normal", "#00aa00"),
    ("10002", "Someday", "#cccccc"),
]

# (id, name, category)
STATUSES = [
    ("10000", "To Do", "new"),
    ("3", "In Progress", "indeterminate"),
    ("10002", "In Review", "indeterminate"),
    ("10001", "Done", "done"),
]

# (id, name, from status id or None for global, to status id, required screen field)
TRANSITIONS = [
    ("11", "Start progress", "10000", "3", ""),
    ("21", "Send to review", "3", "10002", ""),
    ("31", "Done", "10002", "10001", "resolution"),
    ("41", "Back to progress", "10002", "3", ""),
    ("51", "Reopen", "10001", "10000", ""),
    ("61", "Stop progress", "3", "10000", ""),
]

RESOLUTIONS = [
    ("10000", "Done"),
    ("10001", "Won't Do"),
    ("10002", "Duplicate"),
    ("10003", "Cannot Reproduce"),
]

CF = "com.atlassian.jira.plugin.system.customfieldtypes:"

# System fields: (id, name, schema)
SYSTEM_FIELDS: list[tuple[str, str, dict[str, Any]]] = [
    ("summary", "Summary", {"type": "string", "system": "summary"}),
    ("description", "Description", {"type": "string", "system": "description"}),
    ("issuetype", "Issue Type", {"type": "issuetype", "system": "issuetype"}),
    ("project", "Project", {"type": "project", "system": "project"}),
    ("priority", "Priority", {"type": "priority", "system": "priority"}),
    ("assignee", "Assignee", {"type": "user", "system": "assignee"}),
    ("reporter", "Reporter", {"type": "user", "system": "reporter"}),
    ("labels", "Labels", {"type": "array", "items": "string", "system": "labels"}),
    ("status", "Status", {"type": "status", "system": "status"}),
    ("resolution", "Resolution", {"type": "resolution", "system": "resolution"}),
    ("created", "Created", {"type": "datetime", "system": "created"}),
    ("updated", "Updated", {"type": "datetime", "system": "updated"}),
    ("resolutiondate", "Resolved", {"type": "datetime", "system": "resolutiondate"}),
    ("duedate", "Due date", {"type": "date", "system": "duedate"}),
    ("comment", "Comment", {"type": "comments-page", "system": "comment"}),
    ("attachment", "Attachment", {"type": "array", "items": "attachment", "system": "attachment"}),
]

# Custom fields of the common types: (id number, name, custom type, schema type, items, options)
CUSTOM_FIELDS: list[tuple[int, str, str, str, str | None, list[str]]] = [
    (10050, "App version", "textfield", "string", None, []),
    (10051, "Steps to reproduce", "textarea", "string", None, []),
    (10052, "Crash count", "float", "number", None, []),
    (10053, "First seen", "datepicker", "date", None, []),
    (10054, "Reported at", "datetime", "datetime", None, []),
    (10055, "Environment", "select", "option", None, ["Production", "Staging", "Development"]),
    (10056, "Platforms", "multiselect", "array", "option", ["iOS", "Android", "Web"]),
    (10057, "Severity", "radiobuttons", "option", None, ["S1", "S2", "S3", "S4"]),
    (10058, "QA owner", "userpicker", "user", None, []),
    (10059, "Watchers (team)", "multiuserpicker", "array", "user", []),
    (10060, "Components (labels)", "labels", "array", "string", []),
    (10061, "Report link", "url", "string", None, []),
]

# (key, name, project id, custom priorities, [(field id, required)] beyond the always-on system fields)
PROJECTS = [
    (
        "MOB",
        "Mobile App",
        "10000",
        False,
        [("customfield_10055", True)]
        + [(f"customfield_{n}", False) for n, *_ in CUSTOM_FIELDS if n != 10055],
    ),
    ("WEB", "Web Dashboard", "10001", False, [(f"customfield_{n}", False) for n, *_ in CUSTOM_FIELDS]),
    ("OPS", "Operations", "10002", True, [("customfield_10050", False), ("customfield_10051", False)]),
]
ALWAYS_ON_SCREEN = [
    ("summary", True),
    ("issuetype", True),
    ("project", True),
    ("description", False),
    ("priority", False),
    ("assignee", False),
    ("reporter", False),
    ("labels", False),
    ("duedate", False),
]

# People: (key, display name, email, account type, site admin on acme). Every seeded access may
# delete issues (`SiteAccess.can_delete_issues`, on by default; site admins always may): turn it
# off for an account to see the 403 and `havePermission: false` of a site that withholds it.
PEOPLE = [
    ("alice", "Alice Admin", "alice@acme.example", "atlassian", True),
    ("bob", "Bob Builder", "bob@acme.example", "atlassian", False),
    ("carol", "Carol Tester", "carol@acme.example", "atlassian", False),
    ("bugbridge-sa", "Bugbridge Service Account", "bugbridge-sa@serviceaccount.atlassian.com", "app", True),
]

SAMPLE_ISSUES = [
    ("MOB", "10004", "Checkout button does nothing on iOS 18", "10000", "2", ["checkout", "ios"]),
    ("MOB", "10004", "Crash when rotating the camera screen", "3", "1", ["crash"]),
    ("MOB", "10001", "Update onboarding copy", "10001", "4", []),
    ("WEB", "10004", "Dashboard chart overlaps the legend", "10000", "3", ["ui"]),
    ("OPS", "10001", "Rotate the staging certificates", "10000", "10001", []),
]


def derived_secret(purpose: str, length: int = 32) -> str:
    """A stable secret for the demo, from SECRET_KEY: same credentials on every `make run`."""
    digest = hmac.new(
        settings.SECRET_KEY.encode(), f"jira-sandbox:{purpose}".encode(), hashlib.sha256
    ).hexdigest()
    return digest[:length]


def derived_uuid(purpose: str) -> str:
    return str(uuid.UUID(hex=derived_secret(f"uuid:{purpose}", 32)))


@dataclass
class SeedResult:
    created: bool
    sites: list[str] = field(default_factory=list)
    credentials: dict[str, str] = field(default_factory=dict)


def credentials() -> dict[str, str]:
    """Every demo credential, derived; printed by `sandbox_seed` and `seed_demo`."""
    return {
        "site": "acme",
        "user_email": "alice@acme.example",
        "user_password": DEMO_PASSWORD,
        "api_token": "ATATT3x" + derived_secret("api-token:alice", 40),
        "service_account_email": "bugbridge-sa@serviceaccount.atlassian.com",
        "scoped_api_token": "ATATT3xS" + derived_secret("scoped-token:sa", 40),
        "sa_client_id": "sa-" + derived_secret("sa-client-id", 24),
        "sa_client_secret": "ATOA" + derived_secret("sa-client-secret", 48),
        # The 3LO app the product's settings point at (ATLASSIAN_OAUTH_CLIENT_ID/_SECRET).
        "oauth_client_id": settings.ATLASSIAN_OAUTH_CLIENT_ID
        or "bugbridge-" + derived_secret("3lo-client-id", 24),
        "oauth_client_secret": settings.ATLASSIAN_OAUTH_CLIENT_SECRET
        or "ATOA" + derived_secret("3lo-client-secret", 48),
    }


APP_SCOPES = [
    "read:jira-work",
    "write:jira-work",
    "read:jira-user",
    "manage:jira-webhook",
    "manage:jira-configuration",
    "read:field:jira",
    "offline_access",
]


@transaction.atomic
def sandbox_seed(*, redirect_uris: list[str] | None = None) -> SeedResult:
    """Create the sandbox world unless it exists. Safe to run on every `make run`."""
    creds = credentials()
    if m.Site.objects.filter(name="acme").exists():
        return SeedResult(
            created=False, sites=list(m.Site.objects.values_list("name", flat=True)), credentials=creds
        )
    now = timezone.now()
    acme = _site("acme", "Acme Mobile (sandbox)")
    globex = _site("globex", "Globex (second sandbox site)")
    people: dict[str, m.Account] = {}
    for key, name, email, account_type, admin in PEOPLE:
        account = m.Account.objects.create(
            account_id=_account_id(key),
            account_type=account_type,
            email=email,
            display_name=name,
            password=make_password(DEMO_PASSWORD) if account_type == "atlassian" else "",
        )
        people[key] = account
        m.SiteAccess.objects.create(site=acme, account=account, is_admin=admin)
    m.SiteAccess.objects.create(site=globex, account=people["alice"], is_admin=True)
    m.ApiToken.objects.create(
        account=people["alice"],
        label="Bugbridge demo",
        token_hash=hash_token(creds["api_token"]),
        expires_at=now + timedelta(days=365),
    )
    m.ApiToken.objects.create(
        account=people["bugbridge-sa"],
        label="Bugbridge (scoped)",
        token_hash=hash_token(creds["scoped_api_token"]),
        scoped=True,
        scopes=APP_SCOPES[:-1],
        expires_at=now + timedelta(days=365),
    )
    m.OAuthApp.objects.create(
        kind=m.OAuthApp.Kind.SERVICE_ACCOUNT,
        name="Bugbridge service account credential",
        client_id=creds["sa_client_id"],
        client_secret=creds["sa_client_secret"],
        account=people["bugbridge-sa"],
        scopes=APP_SCOPES[:-1],
    )
    m.OAuthApp.objects.create(
        kind=m.OAuthApp.Kind.THREE_LO,
        name="Bugbridge",
        client_id=creds["oauth_client_id"],
        client_secret=creds["oauth_client_secret"],
        account=people["alice"],
        redirect_uris=redirect_uris or [f"{settings.SITE_URL}/integrations/jira/oauth/callback"],
        scopes=APP_SCOPES,
    )
    for site in (acme, globex):
        _jira_data(site, people)
    return SeedResult(created=True, sites=["acme", "globex"], credentials=creds)


@transaction.atomic
def sandbox_reset() -> SeedResult:
    """Wipe every sandbox table and seed again (the sandbox page's "Reset and re-seed")."""
    m.Delivery.objects.all().delete()
    m.RequestLog.objects.all().delete()
    m.Webhook.objects.all().delete()
    m.ConnectInstall.objects.all().delete()
    # Issues first: they PROTECT their type, status and priority, which the sites' cascade reaches.
    m.Issue.objects.all().delete()
    m.Site.objects.all().delete()
    m.Account.objects.all().delete()
    return sandbox_seed()


def _site(name: str, title: str) -> m.Site:
    return m.Site.objects.create(name=name, title=title, cloud_id=derived_uuid(f"cloud:{name}"))


def _account_id(key: str) -> str:
    # Shaped like Atlassian's: "712020:" + a uuid.
    return "712020:" + derived_uuid(f"account:{key}")


def _jira_data(site: m.Site, people: dict[str, m.Account]) -> None:
    types = {
        tid: m.IssueType.objects.create(site=site, type_id=tid, name=name, description=desc, subtask=sub)
        for tid, name, desc, sub in ISSUE_TYPES
    }
    priorities = {}
    for seq, (pid, name, colour) in enumerate(DEFAULT_PRIORITIES):
        priorities[pid] = m.Priority.objects.create(
            site=site, priority_id=pid, name=name, status_color=colour, sequence=seq, is_default=(pid == "3")
        )
    for seq, (pid, name, colour) in enumerate(CUSTOM_PRIORITIES, start=10):
        priorities[pid] = m.Priority.objects.create(
            site=site,
            priority_id=pid,
            name=name,
            status_color=colour,
            sequence=seq,
            custom=True,
            is_default=(pid == "10001"),
        )
    statuses = {
        sid: m.Status.objects.create(site=site, status_id=sid, name=name, category=cat)
        for sid, name, cat in STATUSES
    }
    for tid, name, from_id, to_id, required in TRANSITIONS:
        m.Transition.objects.create(
            site=site,
            transition_id=tid,
            name=name,
            from_status=statuses[from_id] if from_id else None,
            to_status=statuses[to_id],
            required_field=required,
        )
    fields: dict[str, m.Field] = {}
    for fid, name, schema in SYSTEM_FIELDS:
        fields[fid] = m.Field.objects.create(site=site, field_id=fid, name=name, schema=schema)
    for option_id, value in RESOLUTIONS:
        m.FieldOption.objects.create(field=fields["resolution"], option_id=option_id, value=value)
    option_id = 10100
    for number, name, custom_type, schema_type, items, options in CUSTOM_FIELDS:
        schema: dict[str, Any] = {"type": schema_type, "custom": CF + custom_type, "customId": number}
        if items:
            schema["items"] = items
        field_row = m.Field.objects.create(
            site=site, field_id=f"customfield_{number}", name=name, custom=True, schema=schema
        )
        fields[field_row.field_id] = field_row
        for value in options:
            m.FieldOption.objects.create(field=field_row, option_id=str(option_id), value=value)
            option_id += 1
    for key, name, project_id, custom_priorities, extra in PROJECTS:
        project = m.Project.objects.create(
            site=site,
            project_id=project_id,
            key=key,
            name=name,
            lead=people["alice"],
            custom_priorities=custom_priorities,
        )
        for field_id, required in ALWAYS_ON_SCREEN + extra:
            m.ScreenField.objects.create(project=project, field=fields[field_id], required=required)
    if site.name != "acme":
        return
    for project_key, type_id, summary, status_id, priority_id, labels in SAMPLE_ISSUES:
        project = m.Project.objects.get(site=site, key=project_key)
        _sample_issue(
            site,
            project,
            types[type_id],
            summary,
            statuses[status_id],
            priorities[priority_id],
            labels,
            people,
        )


def _sample_issue(
    site: m.Site,
    project: m.Project,
    issue_type: m.IssueType,
    summary: str,
    status: m.Status,
    priority: m.Priority,
    labels: list[str],
    people: dict[str, m.Account],
) -> m.Issue:
    issue_id = site.next_issue_id
    site.next_issue_id += 1
    site.save(update_fields=["next_issue_id"])
    number = project.next_issue_number
    project.next_issue_number += 1
    project.save(update_fields=["next_issue_number"])
    custom = {"customfield_10055": {"value": "Production", "id": "10100"}} if project.key == "MOB" else {}
    issue = m.Issue.objects.create(
        site=site,
        project=project,
        issue_id=issue_id,
        number=number,
        key=f"{project.key}-{number}",
        issue_type=issue_type,
        summary=summary,
        description={
            "type": "doc",
            "version": 1,
            "content": [
                {
                    "type": "paragraph",
                    "content": [{"type": "text", "text": f"{summary}. Seeded by the sandbox."}],
                }
            ],
        },
        status=status,
        priority=priority,
        reporter=people["bob"],
        assignee=people["carol"] if status.category != "new" else None,
        labels=labels,
        custom_fields=custom,
    )
    for label in labels:
        m.IssueLabel.objects.create(issue=issue, name=label)
    return issue
