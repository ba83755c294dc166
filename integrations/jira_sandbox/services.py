"""The only place sandbox issues change: create, edit, assign, transition, delete.

The REST handlers and the sandbox's own UI both call these, so every change behaves the same
whichever door it came through: ids come from the Site's counters (under a row lock), the issue's
`updated` and search-index moment move, its IssueLabel rows follow `labels`, a ChangelogEntry
lists what changed as Jira lists it, and the matching webhook event is raised in the same
transaction (events.py). Invalid input raises `validation.ValidationFailed`; an unknown issue
raises `responses.not_found()`, a missing permission `responses.forbidden()`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from . import events, metacache, validation
from .events import adf_to_text
from .knobs import Knobs
from .models import (
    Account,
    ChangelogEntry,
    Field,
    FieldOption,
    Issue,
    IssueLabel,
    IssueType,
    Priority,
    Project,
    Site,
    SiteAccess,
    Status,
    Transition,
)
from .responses import forbidden, not_found
from .validation import ADF_REQUIRED, Changes, ValidationFailed, current_value, is_adf, is_empty

# What an issue query joins. The project (with its lead), issue type, status, priority and
# resolution come from the site's metadata cache instead, and the site is the REST call's own
# (`metacache.of_issue`, done by find_issue and the serializers): no row is instantiated again
# for every issue.
ISSUE_RELATED = ("assignee", "reporter")

# What a cleared system attribute holds (the columns that cannot be NULL).
EMPTY_ATTRIBUTE: dict[str, Any] = {"summary": "", "labels": []}


def find_issue(site: Site, id_or_key: str) -> Issue:
    """The site's issue by id (digits) or key (any case); Jira's 404 otherwise.

    Inside a transaction (every mutating call runs in one) the issue's row is locked until it
    commits: mutations save the whole row, so two calls on one issue at once (an edit and a
    transition) would otherwise each write back the other's field as they read it, and the
    lost change's webhook would carry an `updated` newer than the value it shows. Real Jira does
    not lose either change. (SQLite has one writer at a time and ignores the lock.)"""
    issues = Issue.objects.filter(site=site).select_related("assignee", "reporter")
    if transaction.get_connection().in_atomic_block:
        # No-key: creating comments and changelog rows that point at the issue is not held up.
        issues = issues.select_for_update(no_key=True, of=("self",))
    text = str(id_or_key).strip()
    found = (
        issues.filter(issue_id=int(text)).first()
        if text.isdigit()
        else issues.filter(key=text.upper()).first()
    )
    if found is None:
        raise not_found()
    found.site = site
    metacache.attach(found, metacache.for_site(site))
    return found


# ---------------------------------------------------------------------------------------------
# Bookkeeping every mutation shares
# ---------------------------------------------------------------------------------------------


# Counters `_increment` may touch, by table (the names go into SQL, so only these).
COUNTERS = {
    Site._meta.db_table: {
        "next_issue_id",
        "next_comment_id",
        "next_changelog_id",
        "next_attachment_id",
        "next_webhook_id",
    },
    Project._meta.db_table: {"next_issue_number"},
}


def _increment(table: str, counter: str, pk: int, count: int = 1) -> int:
    """Add `count` to a counter column in one statement (`UPDATE … RETURNING`, SQLite ≥ 3.35 and
    PostgreSQL); the value before the increment. The UPDATE takes the row lock until commit, and
    only a row lock: inserts that reference the row are not blocked, as `FOR UPDATE` would."""
    if counter not in COUNTERS[table]:
        raise ValueError(f"{counter} is not a counter of {table}")
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {quote(table)} SET {quote(counter)} = {quote(counter)} + %s "  # noqa: S608
            f"WHERE {quote('id')} = %s RETURNING {quote(counter)}",
            [count, pk],
        )
        row = cursor.fetchone()
    if row is None:
        raise Site.DoesNotExist(f"no row {pk} in {table}")
    return int(row[0]) - count


def allocate(site: Site, counter: str, count: int = 1) -> int:
    """The first of `count` consecutive values of one of the Site's id counters (row-locked)."""
    return _increment(Site._meta.db_table, counter, site.pk, count)


def _next_number(project: Project) -> int:
    return _increment(Project._meta.db_table, "next_issue_number", project.pk)


def _stamp(issue: Issue, now: datetime) -> None:
    """A change moves `updated`, and search sees it only after the site's staleness window."""
    issue.updated = now
    issue.indexed_at = now + timedelta(seconds=Knobs.of(issue.site).search_staleness_s)


def _sync_labels(issue: Issue, *, fresh: bool = False) -> None:
    if not fresh:
        IssueLabel.objects.filter(issue=issue).delete()
    IssueLabel.objects.bulk_create([IssueLabel(issue=issue, name=name) for name in issue.labels])


def _put(issue: Issue, field_id: str, value: Any) -> None:
    attribute = validation.SYSTEM_ATTRIBUTES.get(field_id)
    if attribute is not None:
        setattr(issue, attribute, EMPTY_ATTRIBUTE.get(field_id) if value is None else value)
        return
    custom = dict(issue.custom_fields or {})
    if is_empty(value):
        custom.pop(field_id, None)
    else:
        custom[field_id] = value
    issue.custom_fields = custom


def _apply(issue: Issue, values: dict[str, Any], rows: dict[str, Field]) -> list[dict[str, Any]]:
    """Write `values` onto the issue; the changelog items of what really changed."""
    items = []
    for field_id, new in values.items():
        old = current_value(issue, field_id)
        if old == new or (is_empty(old) and is_empty(new)):
            continue
        _put(issue, field_id, new)
        items.append(change_item(field_id, rows.get(field_id), old, new))
    return items


def _add_comments(issue: Issue, actor: Account | None, bodies: list[dict[str, Any]]) -> None:
    if not bodies:
        return
    from .comment_services import comment_add  # written alongside; it raises its own events

    for body in bodies:
        comment_add(issue=issue, author=actor, body=body)


# ---------------------------------------------------------------------------------------------
# Changelog items, as Jira writes them
# ---------------------------------------------------------------------------------------------


def _account_name(account_id: str) -> str:
    return Account.objects.filter(account_id=account_id).values_list("display_name", flat=True).first() or ""


def _dict_display(value: dict[str, Any]) -> tuple[str | None, str | None]:
    if "accountId" in value:
        return str(value["accountId"]), _account_name(str(value["accountId"]))
    if "id" in value and "value" in value:
        return str(value["id"]), str(value["value"])
    if is_adf(value):
        return None, adf_to_text(value)
    return None, str(value)


def _list_display(values: list[Any]) -> tuple[str | None, str | None]:
    shown = [_display(v) for v in values]
    ids = [i for i, _ in shown if i is not None]
    strings = [s or "" for _, s in shown]
    if not ids:  # labels: Jira lists them space-separated, with no ids
        return None, " ".join(strings)
    return ", ".join(ids), ", ".join(strings)


# Stored value type → (from/to: the id Jira shows, fromString/toString: the display text).
DISPLAY: list[tuple[type, Callable[[Any], tuple[str | None, str | None]]]] = [
    (type(None), lambda v: (None, None)),
    (Account, lambda a: (a.account_id, a.display_name)),
    (Priority, lambda p: (p.priority_id, p.name)),
    (IssueType, lambda t: (t.type_id, t.name)),
    (Status, lambda s: (s.status_id, s.name)),
    (FieldOption, lambda o: (o.option_id, o.value)),
    (dict, _dict_display),
    (list, _list_display),
    (bool, lambda v: (None, str(v).lower())),
    (object, lambda v: (None, str(v))),
]


def _display(value: Any) -> tuple[str | None, str | None]:
    return next(show(value) for kind, show in DISPLAY if isinstance(value, kind))


def change_item(field_id: str, row: Field | None, old: Any, new: Any) -> dict[str, Any]:
    """One ChangeDetails: system fields go by id (`status`, `assignee`), custom fields by name."""
    custom = row is not None and row.custom
    old_id, old_text = _display(old)
    new_id, new_text = _display(new)
    return {
        "field": row.name if custom and row is not None else field_id,
        "fieldtype": "custom" if custom else "jira",
        "fieldId": field_id,
        "from": old_id,
        "fromString": old_text,
        "to": new_id,
        "toString": new_text,
    }


# ---------------------------------------------------------------------------------------------
# The mutations
# ---------------------------------------------------------------------------------------------


def _initial_status(site: Site) -> Status:
    initial = metacache.for_site(site).initial_status()
    if initial is None:  # a configuration problem: Jira's 422
        raise ValidationFailed(["The workflow has no status to create the issue in."], status=422)
    return initial


def issue_create(
    *,
    site: Site,
    actor: Account | None,
    fields: dict[str, Any],
    update: dict[str, Any] | None = None,
    properties: list[Any] | None = None,
) -> Issue:
    """Create an issue as `POST /issue` does (validation, default priority, reporter = actor)."""
    draft = validation.validate_create(site=site, actor=actor, fields=fields, update=update)
    # No savepoint inside a caller's transaction (two round trips per create): a failure here is
    # not one to recover from, and bulk create wraps each element in its own savepoint.
    with transaction.atomic(savepoint=False):
        return _insert(site, actor, draft, validation.validate_properties(properties))


def _insert(
    site: Site, actor: Account | None, draft: validation.Draft, stored_properties: dict[str, Any]
) -> Issue:
    values = draft.changes.values
    if values.get("priority") is None:
        values["priority"] = validation.default_priority(draft.context)
    values.setdefault("reporter", actor)
    now = timezone.now()
    # Site row first, then the project's: every mutation takes the site lock first.
    issue_id = allocate(site, "next_issue_id")
    number = _next_number(draft.project)
    issue = Issue(
        site=site,
        project=draft.project,
        issue_id=issue_id,
        number=number,
        key=f"{draft.project.key}-{number}",
        issue_type=draft.issue_type,
        status=_initial_status(site),
        properties=stored_properties,
        created=now,
    )
    for field_id, value in values.items():
        _put(issue, field_id, value)
    _stamp(issue, now)
    issue.save()
    _sync_labels(issue, fresh=True)
    events.issue_created(issue, actor)
    _add_comments(issue, actor, draft.changes.comments)
    return issue


def _record_change(
    issue: Issue, actor: Account | None, items: list[dict[str, Any]], *, type_name: str
) -> ChangelogEntry:
    """Save the changed issue, write its changelog and raise jira:issue_updated (`type_name` is
    Jira's issue_event_type_name: issue_updated, issue_assigned, or issue_generic for a transition)."""
    # The site lock before the issue row's, in the order every mutation takes them.
    changelog_id = allocate(issue.site, "next_changelog_id")
    now = timezone.now()
    _stamp(issue, now)
    issue.save()
    if any(item["fieldId"] == "labels" for item in items):
        _sync_labels(issue)
    entry = ChangelogEntry.objects.create(
        issue=issue, changelog_id=changelog_id, author=actor, created=now, items=items
    )
    events.issue_updated(issue, actor, entry, event_type_name=type_name)
    return entry


@transaction.atomic
def issue_edit(
    *,
    issue: Issue,
    actor: Account | None,
    fields: dict[str, Any] | None = None,
    update: dict[str, Any] | None = None,
) -> ChangelogEntry | None:
    """Edit fields as `PUT /issue` does; None when nothing changed (no changelog, no event)."""
    changes = validation.validate_edit(issue=issue, actor=actor, fields=fields, update=update)
    items = _apply(issue, changes.values, changes.rows)
    entry = _record_change(issue, actor, items, type_name="issue_updated") if items else None
    _add_comments(issue, actor, changes.comments)
    return entry


@transaction.atomic
def issue_assign(*, issue: Issue, actor: Account | None, account_id: str | None) -> ChangelogEntry | None:
    """Assign (`None` unassigns, "-1" picks the project default: its lead). None when unchanged."""
    if account_id is None:
        assignee = None
    elif account_id == "-1":
        assignee = issue.project.lead
    else:
        assignee = Account.objects.filter(
            account_id=account_id, active=True, siteaccess__site=issue.site
        ).first()
        if assignee is None:
            raise ValidationFailed([f"The user with account ID '{account_id}' does not exist."], status=404)
    items = _apply(issue, {"assignee": assignee}, {})
    return _record_change(issue, actor, items, type_name="issue_assigned") if items else None


def available_transitions(issue: Issue) -> list[Transition]:
    """The workflow's transitions out of the issue's current status, and the global ones."""
    transitions = metacache.of_issue(issue).transitions
    return [t for t in transitions if t.from_status_id in (issue.status_id, None)]


def _default_resolution(site: Site) -> FieldOption | None:
    return min(metacache.for_site(site).resolution_options(), key=lambda o: o.pk, default=None)


def _status_values(issue: Issue, transition: Transition, changes: Changes) -> dict[str, Any]:
    """Status, and the resolution a done status carries (set on entering, cleared on leaving)."""
    target = transition.to_status
    values: dict[str, Any] = {"status": target}
    given = changes.values.pop("resolution", None)
    if target.category == Status.Category.DONE:
        values["resolution"] = given or issue.resolution or _default_resolution(issue.site)
    else:
        values["resolution"] = given
    return values


@transaction.atomic
def issue_transition(
    *,
    issue: Issue,
    actor: Account | None,
    transition_id: str,
    fields: dict[str, Any] | None = None,
    comment_body: dict[str, Any] | None = None,
    update: dict[str, Any] | None = None,
) -> ChangelogEntry:
    """Move the issue along a transition valid from its current status (Jira's 400 otherwise),
    with the transition screen's fields; a comment (`comment_body` or `update.comment`) is added."""
    transition = next(
        (t for t in available_transitions(issue) if t.transition_id == str(transition_id).strip()), None
    )
    if transition is None:
        raise ValidationFailed([f"Transition id '{transition_id}' is not valid for this issue."])
    changes = validation.validate_transition(
        issue=issue, required_field=transition.required_field, actor=actor, fields=fields, update=update
    )
    if comment_body is not None:
        if not is_adf(comment_body):
            raise ValidationFailed(errors={"comment": ADF_REQUIRED})
        changes.comments.append(comment_body)
    was_done = issue.status.category == Status.Category.DONE
    values = {**_status_values(issue, transition, changes), **changes.values}
    items = _apply(issue, values, changes.rows)
    done = issue.status.category == Status.Category.DONE
    if done != was_done:
        issue.resolution_date = timezone.now() if done else None
    entry = _record_change(issue, actor, items, type_name="issue_generic")
    _add_comments(issue, actor, changes.comments)
    return entry


DELETE_FORBIDDEN = "You do not have permission to delete issues in this project."


def may_delete_issues(site: Site, account: Account) -> bool:
    """*Delete issues*: site admins always; anyone else with access unless their access turns it off."""
    access = SiteAccess.objects.filter(site=site, account=account).first()
    return access is not None and access.may_delete_issues


@transaction.atomic
def issue_delete(*, issue: Issue, actor: Account | None) -> None:
    """Delete the issue (its comments, attachments, labels and changelog go with it). An actor
    without *Delete issues* gets Jira's 403; no actor is the sandbox itself, which may."""
    if actor is not None and not may_delete_issues(issue.site, actor):
        raise forbidden(DELETE_FORBIDDEN)
    events.issue_deleted(issue, actor)
    issue.delete()
