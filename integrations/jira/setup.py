"""What the wizard's Set up step asks Jira through a connection (saved or draft): the projects the
identity may create issues in, a project's issue types, its create-screen fields, assignable
people, its priorities (and whether they are Jira's default five) and its statuses.

Each answer is reduced to small frozen records the step's forms can render and keep in the
session; nothing here writes. Errors are the client's typed errors, for the step to show.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from bugs.models import Priority, Status

from ..models import JiraConnection
from .auth import client_for
from .errors import JiraAuthError

# The priorities Jira Cloud ships with (API-NOTES §5); our two-way mapping assumes them.
DEFAULT_PRIORITIES = ("Highest", "High", "Medium", "Low", "Lowest")
# Bugbridge priority → Jira priority name, both ways while the project uses the default five
# (DESIGN.md "Domain"); otherwise one way, and only where a name matches.
PRIORITY_TABLE: dict[str, str] = {
    Priority.NA: "Medium",
    Priority.TRIVIAL: "Lowest",
    Priority.MINOR: "Low",
    Priority.MAJOR: "High",
    Priority.BLOCKER: "Highest",
}
# A Jira status's category → the report status it means, unless the admin says otherwise. Never
# by name: Jira localises and renames statuses.
STATUS_BY_CATEGORY: dict[str, str] = {
    "new": Status.NEW,
    "indeterminate": Status.IN_PROGRESS,
    "done": Status.CLOSED,
}
PROJECTS_SHOWN = 50
USERS_SHOWN = 20


@dataclass(frozen=True)
class Choice:
    """One option of a Set up dropdown."""

    id: str
    name: str
    detail: str = ""


@dataclass(frozen=True)
class CreateField:
    """A field on the project's create screen for one issue type."""

    field_id: str
    name: str
    required: bool
    has_default: bool
    schema: dict[str, Any]
    allowed_values: tuple[dict[str, Any], ...]

    def as_jira(self) -> dict[str, Any]:
        """The field in createmeta's own shape (what `fields.py` reads and mappings store), its
        options cut down to what a value map needs."""
        found: dict[str, Any] = {
            "fieldId": self.field_id,
            "name": self.name,
            "required": self.required,
            "hasDefaultValue": self.has_default,
            "schema": self.schema,
        }
        if self.allowed_values:
            found["allowedValues"] = [
                {k: str(v[k]) for k in ("id", "value", "name") if v.get(k) is not None}
                for v in self.allowed_values
            ]
        return found


@dataclass(frozen=True)
class StatusChoice:
    id: str
    name: str
    category: str  # Jira's status category key: new, indeterminate, done


def projects(connection: JiraConnection, query: str = "") -> list[Choice]:
    """Projects where the identity may create issues (`action=create`), matching `query`."""
    page = client_for(connection).search_projects(
        action="create", query=query.strip() or None, max_results=PROJECTS_SHOWN
    )
    return [
        Choice(id=str(p["id"]), name=str(p.get("name") or p.get("key")), detail=str(p.get("key") or ""))
        for p in page.get("values", [])
        if isinstance(p, dict) and p.get("id")
    ]


def issue_types(connection: JiraConnection, project_id: str) -> list[Choice]:
    """The issue types the identity can create in the project (createmeta), subtasks left out."""
    found = client_for(connection).iter_createmeta_issue_types(project_id)
    return [
        Choice(id=str(t["id"]), name=str(t.get("name") or t["id"]))
        for t in _dicts(found)
        if t.get("id") and not t.get("subtask")
    ]


def create_fields(connection: JiraConnection, project_id: str, issue_type_id: str) -> list[CreateField]:
    """The create screen's fields, with required flags, schemas and allowed values."""
    found = client_for(connection).iter_createmeta_fields(project_id, issue_type_id)
    return [
        CreateField(
            field_id=str(f.get("fieldId") or f.get("key")),
            name=str(f.get("name") or f.get("fieldId")),
            required=bool(f.get("required")),
            has_default=bool(f.get("hasDefaultValue")),
            schema=dict(f.get("schema") or {}),
            allowed_values=tuple(v for v in f.get("allowedValues") or () if isinstance(v, dict)),
        )
        for f in _dicts(found)
        if f.get("fieldId") or f.get("key")
    ]


def assignable(connection: JiraConnection, project_key: str, query: str) -> list[Choice]:
    """People the project's issues can be assigned to, matching a name or email prefix."""
    if not query.strip():
        return []
    users = client_for(connection).assignable_users(
        project=project_key, query=query.strip(), max_results=USERS_SHOWN
    )
    return [
        Choice(id=str(u["accountId"]), name=str(u.get("displayName") or u["accountId"]))
        for u in users
        if isinstance(u, dict) and u.get("accountId") and u.get("active", True)
    ]


def priorities(
    connection: JiraConnection,
    project_id: str,
    issue_type_id: str = "",
    *,
    screen_fields: list[CreateField] | None = None,
) -> tuple[list[Choice], bool]:
    """The project's priorities, and whether they are exactly Jira's default five (only then
    does priority sync both ways).

    With an issue type, they come from the create screen's `priority` field (its allowed values:
    what this project really offers, readable with `read:jira-work`). Otherwise, or when priority
    is not on that screen, from `priority/search`, which OAuth needs `manage:jira-configuration`
    for (API-NOTES §12.4); without that scope the answer is "not known", so not the default five."""
    if issue_type_id:
        if screen_fields is None:
            screen_fields = create_fields(connection, project_id, issue_type_id)
        screen = next((f for f in screen_fields if f.field_id == "priority"), None)
        if screen is not None and screen.allowed_values:
            found = [
                Choice(id=str(v["id"]), name=str(v.get("name") or v["id"]))
                for v in screen.allowed_values
                if v.get("id")
            ]
            return found, _default_five(found)
    try:
        page = client_for(connection).search_priorities(project_ids=[project_id], max_results=50)
    except JiraAuthError as exc:
        if exc.reason != "missing_scope":
            raise
        return [], False
    found = [
        Choice(id=str(p["id"]), name=str(p.get("name") or p["id"]))
        for p in page.get("values", [])
        if isinstance(p, dict) and p.get("id")
    ]
    return found, _default_five(found)


def priority_names(found: list[Choice]) -> dict[str, str]:
    """Our priority → the Jira name to send, for the table's names the project offers."""
    offered = {choice.name for choice in found}
    return {ours: name for ours, name in PRIORITY_TABLE.items() if name in offered}


def _default_five(found: list[Choice]) -> bool:
    return sorted(c.name for c in found) == sorted(DEFAULT_PRIORITIES)


def statuses(connection: JiraConnection, project: str, issue_type_id: str) -> list[StatusChoice]:
    """The statuses an issue of this type can be in, with their categories."""
    for per_type in client_for(connection).project_statuses(project):
        if str(per_type.get("id")) != str(issue_type_id):
            continue
        return [
            StatusChoice(
                id=str(s["id"]),
                name=str(s.get("name") or s["id"]),
                category=str((s.get("statusCategory") or {}).get("key") or ""),
            )
            for s in per_type.get("statuses") or ()
            if isinstance(s, dict) and s.get("id")
        ]
    return []


def _dicts(items: Iterator[Any]) -> Iterator[dict[str, Any]]:
    return (item for item in items if isinstance(item, dict))


def default_status_map(found: list[StatusChoice]) -> dict[str, str]:
    """Each Jira status id → the report status its category means (new when unknown)."""
    return {status.id: STATUS_BY_CATEGORY.get(status.category, Status.NEW) for status in found}
