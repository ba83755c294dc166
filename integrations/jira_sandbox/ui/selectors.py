"""What the sandbox's pages read. Writes go through the sandbox's services (see views.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.contrib.sessions.backends.base import SessionBase
from django.db.models import Count, QuerySet

from ..models import (
    Account,
    ChangelogEntry,
    Comment,
    Delivery,
    Field,
    FieldOption,
    Issue,
    Priority,
    Project,
    RequestLog,
    Site,
    SiteAccess,
    Webhook,
)
from . import adf

# The sandbox account the pages act as (an Atlassian account id; it survives a re-seed).
SESSION_ACTOR = "jira_sandbox_actor"
# A delivery's payload is shown up to this many characters.
PAYLOAD_PREVIEW = 20_000


class Missing(Exception):
    """A site, project or issue that does not exist: the page answers the sandbox's 404."""


def site_or_missing(name: str) -> Site:
    site = Site.objects.filter(name=name).first()
    if site is None:
        raise Missing(f"There is no sandbox site named “{name}”.")
    return site


def project_or_missing(site: Site, key: str) -> Project:
    project = Project.objects.filter(site=site, key=key.upper()).first()
    if project is None:
        raise Missing(f"There is no project {key} on {site.name}.")
    return project


def issue_or_missing(site: Site, key: str) -> Issue:
    issue = (
        Issue.objects.filter(site=site, key=key.upper())
        .select_related("project", "issue_type", "status", "priority", "resolution", "assignee", "reporter")
        .first()
    )
    if issue is None:
        raise Missing(f"Issue {key} does not exist on {site.name}, or it was deleted.")
    return issue


def sites_overview() -> QuerySet[Site]:
    return Site.objects.annotate(project_count=Count("projects", distinct=True)).order_by("name")


def projects_of(site: Site) -> QuerySet[Project]:
    return Project.objects.filter(site=site).annotate(issue_count=Count("issues")).select_related("lead")


def webhooks_of(site: Site) -> QuerySet[Webhook]:
    return Webhook.objects.filter(site=site).select_related("app", "connect_install").order_by("webhook_id")


def connect_installs_of(site: Site) -> QuerySet[Any]:
    return site.connect_installs.order_by("-installed_at")


def project_issues(project: Project, category: str | None) -> QuerySet[Issue]:
    """The project's issues, newest first, optionally of one status category."""
    issues = Issue.objects.filter(project=project).select_related(
        "status", "priority", "assignee", "issue_type"
    )
    if category:
        issues = issues.filter(status__category=category)
    return issues.order_by("-created", "-issue_id")


def priorities_for(project: Project) -> list[Priority]:
    """The project's priority scheme: the default five, or the site's custom ones."""
    return list(
        Priority.objects.filter(site=project.site, custom=project.custom_priorities).order_by("sequence")
    )


def resolutions_for(site: Site) -> list[FieldOption]:
    return list(FieldOption.objects.filter(field__site=site, field__field_id="resolution", disabled=False))


def deliveries_of(site: Site) -> QuerySet[Delivery]:
    return Delivery.objects.filter(site=site).select_related("webhook").order_by("-id")


def requests_of(site: Site) -> QuerySet[RequestLog]:
    return RequestLog.objects.filter(site=site).order_by("-id")


def account_names(account_ids: set[str]) -> dict[str, str]:
    """Account id → display name, for logs that store ids."""
    rows = Account.objects.filter(account_id__in=account_ids).values_list("account_id", "display_name")
    return dict(rows)


def pretty_payload(payload: str) -> str:
    """Indented JSON for the delivery log (as stored when it is not JSON), cut to a readable size."""
    try:
        text = json.dumps(json.loads(payload), indent=2, ensure_ascii=False)
    except ValueError:
        text = payload
    return text if len(text) <= PAYLOAD_PREVIEW else text[:PAYLOAD_PREVIEW] + "\n… (cut)"


# ---------------------------------------------------------------------------------------------
# Who the pages act as
# ---------------------------------------------------------------------------------------------


def first_admin(site: Site | None) -> Account | None:
    """The site's first administrator (alice on the seeded sites), or the first site's."""
    access = SiteAccess.objects.filter(is_admin=True, account__account_type=Account.Type.ATLASSIAN)
    if site is not None:
        access = access.filter(site=site)
    row = access.select_related("account").order_by("site__name", "pk").first()
    return row.account if row else None


def actor(session: SessionBase, site: Site | None) -> Account | None:
    """The account picked on the home page when it may act on `site`, else the site's first admin."""
    chosen = session.get(SESSION_ACTOR)
    if chosen:
        accounts = Account.objects.filter(account_id=chosen, active=True)
        if site is not None:
            accounts = accounts.filter(siteaccess__site=site)
        account = accounts.first()
        if account is not None:
            return account
    return first_admin(site)


# ---------------------------------------------------------------------------------------------
# An issue, readable
# ---------------------------------------------------------------------------------------------


@dataclass
class FieldRow:
    name: str
    text: str
    paragraphs: list[str]


def display_value(value: Any, names: dict[str, str]) -> str:
    """A REST v3 field value as text: options by value, users by name, ADF as text, lists joined."""
    if value is None or value == "" or value == []:
        return ""
    if isinstance(value, list):
        return ", ".join(filter(None, (display_value(v, names) for v in value)))
    if isinstance(value, dict):
        if value.get("type") == "doc":
            return adf.plain_text(value)
        if "accountId" in value:
            return names.get(value["accountId"]) or value.get("displayName") or value["accountId"]
        for key in ("value", "displayName", "name", "key", "id"):
            if key in value:
                child = value.get("child")
                text = str(value[key])
                return f"{text} / {display_value(child, names)}" if isinstance(child, dict) else text
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "Yes" if value else "No"
    return str(value)


def _account_ids(value: Any) -> set[str]:
    if isinstance(value, list):
        return set().union(*(_account_ids(v) for v in value)) if value else set()
    if isinstance(value, dict) and "accountId" in value:
        return {str(value["accountId"])}
    return set()


def custom_field_rows(issue: Issue) -> list[FieldRow]:
    """The issue's set custom fields, by field name, in field-id order."""
    values = {k: v for k, v in (issue.custom_fields or {}).items() if v not in (None, "", [])}
    if not values:
        return []
    fields = {f.field_id: f for f in Field.objects.filter(site_id=issue.site_id, field_id__in=list(values))}
    names = account_names(set().union(*(_account_ids(v) for v in values.values())))
    rows = []
    for field_id in sorted(values, key=lambda fid: (len(fid), fid)):
        field = fields.get(field_id)
        value = values[field_id]
        is_doc = isinstance(value, dict) and value.get("type") == "doc"
        rows.append(
            FieldRow(
                name=field.name if field else field_id,
                text="" if is_doc else display_value(value, names),
                paragraphs=adf.paragraphs(value) if is_doc else [],
            )
        )
    return rows


@dataclass
class CommentRow:
    comment: Comment
    paragraphs: list[str]


def comment_rows(issue: Issue) -> list[CommentRow]:
    comments = Comment.objects.filter(issue=issue).select_related("author").order_by("created", "comment_id")
    return [CommentRow(comment=c, paragraphs=adf.paragraphs(c.body)) for c in comments]


def changelog_of(issue: Issue) -> list[ChangelogEntry]:
    return list(ChangelogEntry.objects.filter(issue=issue).select_related("author").order_by("-changelog_id"))
