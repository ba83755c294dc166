"""Sandbox rows → the JSON shapes Jira Cloud's v3 REST API gives (checked against the official spec).

`base` is the URL the caller used up to (not including) `/rest/api/3`: the site URL for Basic and
Connect callers, the gateway's `/ex/jira/{cloudId}` for OAuth and scoped tokens. `self` links are
built from it, as Jira builds them from the host it was called on.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from django.utils import timezone

from . import metacache
from .models import (
    Account,
    Attachment,
    ChangelogEntry,
    Comment,
    Field,
    FieldOption,
    Issue,
    IssueType,
    Priority,
    Project,
    Status,
)

API = "/rest/api/3"

# Jira's status-category ids and colours (API-NOTES §6).
CATEGORY = {
    "new": {"id": 2, "key": "new", "colorName": "blue-gray", "name": "To Do"},
    "indeterminate": {"id": 4, "key": "indeterminate", "colorName": "yellow", "name": "In Progress"},
    "done": {"id": 3, "key": "done", "colorName": "green", "name": "Done"},
}

# The fields GET issue returns by default (`*navigable`) and that `*all` adds to.
NAVIGABLE_SYSTEM = (
    "summary",
    "status",
    "priority",
    "issuetype",
    "project",
    "assignee",
    "reporter",
    "labels",
    "created",
    "updated",
    "resolution",
    "resolutiondate",
)
ALL_SYSTEM = (*NAVIGABLE_SYSTEM, "description", "comment", "attachment")


def jira_datetime(value: datetime | None) -> str | None:
    """Jira's format: `2026-11-28T14:39:00.000+0000`, always in UTC here."""
    if value is None:
        return None
    value = value.astimezone(UTC) if timezone.is_aware(value) else value
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def avatar_urls(base: str, kind: str, ident: str) -> dict[str, str]:
    return {
        size: f"{base}/secure/{kind}avatar?size={size}&id={ident}"
        for size in ("16x16", "24x24", "32x32", "48x48")
    }


def user_json(account: Account, base: str, *, with_email: bool = True, full: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "self": f"{base}{API}/user?accountId={account.account_id}",
        "accountId": account.account_id,
        "accountType": account.account_type,
        "avatarUrls": avatar_urls(base, "user", account.account_id),
        "displayName": account.display_name,
        "active": account.active,
        "timeZone": account.time_zone,
    }
    if with_email:
        data["emailAddress"] = account.email
    if full:
        data["locale"] = account.locale
        data["groups"] = {"size": 0, "items": []}
        data["applicationRoles"] = {"size": 1, "items": []}
        data["expand"] = "groups,applicationRoles"
    return data


def project_json(project: Project, base: str) -> dict[str, Any]:
    return {
        "self": f"{base}{API}/project/{project.project_id}",
        "id": project.project_id,
        "key": project.key,
        "name": project.name,
        "avatarUrls": avatar_urls(base, "project", project.project_id),
        "projectTypeKey": "software",
        "simplified": False,
        "style": "classic",
        "isPrivate": False,
        "properties": {},
    }


def issue_type_json(issue_type: IssueType, base: str) -> dict[str, Any]:
    return {
        "self": f"{base}{API}/issuetype/{issue_type.type_id}",
        "id": issue_type.type_id,
        "description": issue_type.description,
        "iconUrl": f"{base}/images/icons/issuetypes/{issue_type.name.lower()}.svg",
        "name": issue_type.name,
        "subtask": issue_type.subtask,
        "hierarchyLevel": issue_type.hierarchy_level,
    }


def priority_json(priority: Priority, base: str) -> dict[str, Any]:
    return {
        "self": f"{base}{API}/priority/{priority.priority_id}",
        "id": priority.priority_id,
        "name": priority.name,
        "description": priority.description,
        "iconUrl": f"{base}/images/icons/priorities/{priority.name.lower().replace(' ', '-')}.svg",
        "statusColor": priority.status_color,
        "isDefault": priority.is_default,
    }


def status_category_json(key: str, base: str) -> dict[str, Any]:
    category = CATEGORY[key]
    return {"self": f"{base}{API}/statuscategory/{category['id']}", **category}


def status_json(status: Status, base: str) -> dict[str, Any]:
    return {
        "self": f"{base}{API}/status/{status.status_id}",
        "description": "",
        "iconUrl": f"{base}/images/icons/statuses/generic.png",
        "name": status.name,
        "id": status.status_id,
        "statusCategory": status_category_json(status.category, base),
    }


def option_json(option: FieldOption, base: str) -> dict[str, Any]:
    return {
        "self": f"{base}{API}/customFieldOption/{option.option_id}",
        "value": option.value,
        "id": option.option_id,
    }


def resolution_json(option: FieldOption, base: str) -> dict[str, Any]:
    return {
        "self": f"{base}{API}/resolution/{option.option_id}",
        "id": option.option_id,
        "description": "",
        "name": option.value,
    }


def field_json(field: Field) -> dict[str, Any]:
    clause = f"cf[{field.field_id.split('_')[-1]}]" if field.custom else field.field_id
    data: dict[str, Any] = {
        "id": field.field_id,
        "key": field.field_id,
        "name": field.name,
        "custom": field.custom,
        "orderable": field.orderable,
        "navigable": field.navigable,
        "searchable": field.searchable,
        "clauseNames": [clause, field.name] if field.custom else [clause],
    }
    if field.schema:
        data["schema"] = field.schema
    return data


def attachment_json(attachment: Attachment, base: str) -> dict[str, Any]:
    data: dict[str, Any] = {
        "self": f"{base}{API}/attachment/{attachment.attachment_id}",
        "id": str(attachment.attachment_id),
        "filename": attachment.filename,
        "created": jira_datetime(attachment.created),
        "size": attachment.size,
        "mimeType": attachment.mime_type,
        "content": f"{base}{API}/attachment/content/{attachment.attachment_id}",
    }
    if attachment.author is not None:
        data["author"] = user_json(attachment.author, base, with_email=False)
    return data


def comment_json(comment: Comment, base: str, *, with_properties: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "self": f"{base}{API}/issue/{comment.issue.issue_id}/comment/{comment.comment_id}",
        "id": str(comment.comment_id),
        "body": comment.body,
        "created": jira_datetime(comment.created),
        "updated": jira_datetime(comment.updated),
        "jsdPublic": True,
    }
    if comment.author is not None:
        data["author"] = user_json(comment.author, base, with_email=False)
    if comment.update_author is not None:
        data["updateAuthor"] = user_json(comment.update_author, base, with_email=False)
    if getattr(comment, "visibility", None):
        data["visibility"] = comment.visibility
    if with_properties:
        data["properties"] = [{"key": k, "value": v} for k, v in sorted(comment.properties.items())]
    return data


def rfc3339_datetime(value: datetime) -> str:
    """`2026-11-28T14:39:00.000+00:00`: where the spec says `format: date-time`, which Jira's own
    `+0000` offset does not satisfy."""
    value = value.astimezone(UTC) if timezone.is_aware(value) else value
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+00:00"


def changelog_json(entry: ChangelogEntry, base: str) -> dict[str, Any]:
    # Stored items keep Jira's nulls (webhook payloads show them); ChangeDetails in the spec has
    # non-nullable strings, so the REST answer leaves the empty ones out.
    data: dict[str, Any] = {
        "id": str(entry.changelog_id),
        "created": rfc3339_datetime(entry.created),
        "items": [{k: v for k, v in item.items() if v is not None} for item in entry.items],
    }
    if entry.author is not None:
        data["author"] = user_json(entry.author, base, with_email=False)
    return data


def wanted_fields(spec: Iterable[str] | str | None, *, default: str) -> tuple[bool, set[str], set[str]]:
    """Parse Jira's `fields` parameter: (all custom fields?, system names, excluded names).

    `*all`, `*navigable`, explicit ids, and `-id` exclusions, comma-separated or repeated.
    """
    if spec is None:
        spec = default
    items = [s.strip() for part in ([spec] if isinstance(spec, str) else spec) for s in str(part).split(",")]
    items = [s for s in items if s]
    include_custom = False
    names: set[str] = set()
    excluded: set[str] = set()
    for item in items:
        if item == "*all":
            include_custom = True
            names.update(ALL_SYSTEM)
        elif item == "*navigable":
            include_custom = True
            names.update(NAVIGABLE_SYSTEM)
        elif item.startswith("-"):
            excluded.add(item[1:])
        else:
            names.add(item)
    return include_custom, names - excluded, excluded


# The Issue columns an IssueBean reads whatever its fields: ids, the key, and the foreign keys
# the metadata cache resolves (project, type, status, priority, resolution).
BEAN_COLUMNS = (
    "id",
    "site_id",
    "issue_id",
    "key",
    "project_id",
    "issue_type_id",
    "status_id",
    "priority_id",
    "resolution_id",
)
# The further columns (or, for people, the joined rows) each system field reads.
FIELD_COLUMNS: dict[str, tuple[str, ...]] = {
    "summary": ("summary",),
    "description": ("description",),
    "labels": ("labels",),
    "created": ("created",),
    "updated": ("updated",),
    "statuscategorychangedate": ("updated",),
    "resolutiondate": ("resolution_date",),
}
PEOPLE = ("assignee", "reporter")


def bean_columns(
    fields: Iterable[str] | str | None, *, default_fields: str, properties: Iterable[str] = ()
) -> tuple[list[str], list[str]]:
    """What a query must load for `issue_json` with these arguments: (columns for `only()`, people
    for `select_related()`). A search page of 100 issues then builds no column it does not show;
    a column left out here would still load, one query per issue, so leaving one out is slow,
    never wrong."""
    include_custom, names, _ = wanted_fields(fields, default=default_fields)
    columns = set(BEAN_COLUMNS)
    for name in names:
        columns.update(FIELD_COLUMNS.get(name, ()))
    if include_custom or any(name.startswith("customfield_") for name in names):
        columns.add("custom_fields")
    if any(True for _ in properties):
        columns.add("properties")
    people = [name for name in PEOPLE if name in names]
    return sorted(columns | set(people)), people


def issue_json(
    issue: Issue,
    base: str,
    *,
    fields: Iterable[str] | str | None = None,
    default_fields: str = "*all",
    properties: Iterable[str] = (),
    expand: Iterable[str] = (),
) -> dict[str, Any]:
    """An IssueBean. `fields` follows Jira's parameter; search passes `default_fields="id"`."""
    include_custom, names, excluded = wanted_fields(fields, default=default_fields)
    # Project, issue type, status, priority and resolution from the site's metadata cache, unless
    # the query loaded them (search and find_issue join only the site and the people).
    metacache.of_issue(issue)
    values: dict[str, Any] = {}
    system = _system_values(issue, base, names)
    values.update(system)
    named_custom = any(name.startswith("customfield_") for name in names)
    # Read only when shown: a search may have left the column out (`bean_columns`).
    for field_id, value in issue.custom_fields.items() if include_custom or named_custom else ():
        if (include_custom or field_id in names) and field_id not in excluded:
            values[field_id] = value
    for field_id in names:
        if field_id.startswith("customfield_") and field_id not in values:
            values[field_id] = None
    data: dict[str, Any] = {
        "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
        "id": str(issue.issue_id),
        "self": f"{base}{API}/issue/{issue.issue_id}",
        "key": issue.key,
    }
    if values or names:
        data["fields"] = values
    wanted_props = [p for p in properties if p in issue.properties]
    if wanted_props:
        data["properties"] = {p: issue.properties[p] for p in wanted_props}
    if "changelog" in set(expand):
        entries = list(issue.changelog.all())
        data["changelog"] = {
            "startAt": 0,
            "maxResults": len(entries),
            "total": len(entries),
            "histories": [changelog_json(e, base) for e in entries],
        }
    return data


def _system_values(issue: Issue, base: str, names: set[str]) -> dict[str, Any]:
    builders = {
        "summary": lambda: issue.summary,
        "description": lambda: issue.description,
        "status": lambda: status_json(issue.status, base),
        "priority": lambda: priority_json(issue.priority, base) if issue.priority else None,
        "issuetype": lambda: issue_type_json(issue.issue_type, base),
        "project": lambda: project_json(issue.project, base),
        "assignee": lambda: user_json(issue.assignee, base, with_email=False) if issue.assignee else None,
        "reporter": lambda: user_json(issue.reporter, base, with_email=False) if issue.reporter else None,
        "labels": lambda: list(issue.labels),
        "created": lambda: jira_datetime(issue.created),
        "updated": lambda: jira_datetime(issue.updated),
        "resolution": lambda: resolution_json(issue.resolution, base) if issue.resolution else None,
        "resolutiondate": lambda: jira_datetime(issue.resolution_date),
        "statuscategorychangedate": lambda: jira_datetime(issue.updated),
        "comment": lambda: _comment_page(issue, base),
        "attachment": lambda: [attachment_json(a, base) for a in issue.attachments.all()],
    }
    return {name: build() for name, build in builders.items() if name in names}


def _comment_page(issue: Issue, base: str) -> dict[str, Any]:
    # Jira inlines at most 20 comments per issue in search results (API-NOTES §9.1).
    comments = list(issue.comments.all()[:20])
    total = issue.comments.count()
    return {
        "comments": [comment_json(c, base) for c in comments],
        "self": f"{base}{API}/issue/{issue.issue_id}/comment",
        "maxResults": len(comments),
        "total": total,
        "startAt": 0,
    }
