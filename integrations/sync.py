"""Two-way sync of status, priority and comments between a report and its Jira issue.

State, not events: whatever brings news of an issue (a webhook, a reconciliation pass, the read
before a write) hands its fields to `issue_state_apply`, which compares them with what the link
last knew of Jira (`jira_status_id`, `jira_priority_id`, `jira_updated_ms`). A webhook newer than
that is news only: the state compared is read from Jira then (its snapshot may predate a change
committed meanwhile).

- older than what we have (`updated` earlier) → dropped, so a late or reordered delivery never
  overwrites a newer state;
- a field Jira did not change since we last knew it → nothing to do. A change we wrote ourselves
  comes back this way (we stored what we wrote), so it is recognised as an echo, not re-applied;
- a field Jira did change (or the first sight of the issue, which was made from the report) →
  the report takes it (origin "jira", which the outbound side ignores, so it is never sent
  back), unless the dashboard changed that field later and has not written it yet (`pending`):
  then the later, dashboard side wins and the write goes out.

"Later" compares the dashboard's change with when Jira changed that field, not with the issue's
`updated` (which any comment or other field moves): a delivery whose changelog names the field
tells it; otherwise, unless the dashboard's change is later than the whole state, the field
stays pending and the push decides, reading the issue's changelog.

Outbound, a dashboard change marks the field pending (with when) and queues `link_push`, which
holds the link, reads the issue with its changelog (a Jira change made later wins instead, even
one undone since), writes, reads the issue again (again while news newer than its read came in
meanwhile) and stores what Jira now holds, letting go of the link in the same commit. Someone
moving the issue while the push walks the workflow wins too: the walk stops.

Comments follow by id (`CommentLink`): ours carry a comment property naming their origin, so a
delivery of a comment whose id we have not stored yet (our create call still in flight) is still
recognised. Reconciliation compares every comment of the issues it reads, one by one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from bugs import services as bug_services
from bugs.models import Activity, BugReport, Comment, CommentOrigin
from bugs.models import Priority as BugPriority
from bugs.models import Status as BugStatus

from .jira import adf
from .jira.auth import client_for
from .jira.client import JiraClient
from .jira.errors import (
    JiraAuthError,
    JiraConflict,
    JiraError,
    JiraNotFound,
    JiraPermissionError,
    JiraValidationError,
)
from .jira.setup import PRIORITY_TABLE, STATUS_BY_CATEGORY
from .jira.webhooks import jira_time_ms
from .models import CommentLink, IssueLink, JiraConnection, SyncEvent

logger = logging.getLogger(__name__)

# Marks the comments we write in Jira (API-NOTES §7), so their deliveries are known as ours.
COMMENT_PROPERTY = "com.bugbridge.comment"
# The fields sync reads from Jira, and nothing more.
SYNC_FIELDS = ("status", "priority", "updated")
# A write to Jira is retried this many times when Jira is busy or unreachable, after these waits.
PUSH_BACKOFF_S = (5, 20, 60, 180, 600)
CLAIM_S = 120
BUSY_RETRY_S = 3.0

JIRA = CommentOrigin.JIRA


def now_ms() -> int:
    return int(time.time() * 1000)


def _event(
    link: IssueLink,
    *,
    direction: str,
    source: str,
    field: str,
    outcome: str,
    from_value: str = "",
    to_value: str = "",
    detail: str = "",
) -> None:
    SyncEvent.objects.create(
        connection_id=link.connection_id,
        link=link,
        direction=direction,
        source=source,
        field=field,
        outcome=outcome,
        from_value=from_value[:255],
        to_value=to_value[:255],
        detail=detail[:500],
    )


# ---------------------------------------------------------------------------------------------
# Mapping tables: status and priority, both ways
# ---------------------------------------------------------------------------------------------


def report_status_for(connection: JiraConnection, status: Mapping[str, Any]) -> str | None:
    """The report status a Jira status means: the admin's mapping by id, else its category."""
    status_id = str(status.get("id") or "")
    if status_id in (connection.status_map or {}):
        return connection.status_map[status_id]
    category = status.get("statusCategory") or {}
    return STATUS_BY_CATEGORY.get(str(category.get("key") or "")) if isinstance(category, dict) else None


CATEGORY_FOR_STATUS = {report: category for category, report in STATUS_BY_CATEGORY.items()}


def _priority_table(connection: JiraConnection) -> dict[str, str]:
    """Our priority → Jira priority name (the connection's names where it has them)."""
    return {**PRIORITY_TABLE, **(connection.priority_names or {})}


def report_priority_for(connection: JiraConnection, priority: Mapping[str, Any]) -> str | None:
    """The report priority a Jira priority means, by the default table (only while the project
    uses Jira's default five: otherwise priority does not sync)."""
    if not connection.priority_two_way:
        return None
    name = str(priority.get("name") or "")
    by_name = {jira: ours for ours, jira in _priority_table(connection).items()}
    return by_name.get(name)


@dataclass(frozen=True)
class SyncedField:
    """One field that syncs both ways: how to read it on each side and when it is switched on."""

    name: str
    enabled: Callable[[JiraConnection], bool]
    jira_id: Callable[[Mapping[str, Any]], str]
    known_attr: str  # the link's last-known Jira id
    to_report: Callable[[JiraConnection, Mapping[str, Any]], str | None]
    report_value: Callable[[BugReport], str]
    label: Callable[[str], str]


def _jira_id(key: str) -> Callable[[Mapping[str, Any]], str]:
    def read(fields: Mapping[str, Any]) -> str:
        value = fields.get(key)
        return str(value.get("id") or "") if isinstance(value, dict) else ""

    return read


SYNCED_FIELDS: tuple[SyncedField, ...] = (
    SyncedField(
        name="status",
        enabled=lambda c: c.sync_status,
        jira_id=_jira_id("status"),
        known_attr="jira_status_id",
        to_report=lambda c, f: report_status_for(c, f.get("status") or {}),
        report_value=lambda r: r.status,
        label=lambda v: BugStatus(v).label if v in BugStatus.values else v,
    ),
    SyncedField(
        name="priority",
        enabled=lambda c: c.sync_priority and c.priority_two_way,
        jira_id=_jira_id("priority"),
        known_attr="jira_priority_id",
        to_report=lambda c, f: report_priority_for(c, f.get("priority") or {}),
        report_value=lambda r: r.priority,
        label=lambda v: BugPriority(v).label if v in BugPriority.values else v,
    ),
)
FIELDS_BY_NAME = {f.name: f for f in SYNCED_FIELDS}


# ---------------------------------------------------------------------------------------------
# Inbound: an issue's state
# ---------------------------------------------------------------------------------------------


def _claimed(link: IssueLink) -> bool:
    return link.claimed_until is not None and link.claimed_until > timezone.now()


def _jira_name(fields: Mapping[str, Any], key: str) -> str:
    value = fields.get(key)
    return str(value.get("name") or "") if isinstance(value, dict) else ""


def change_times(issue: Mapping[str, Any]) -> dict[str, int]:
    """When each synced field last changed in Jira (epoch ms), from an issue read with
    `expand=changelog`. An issue's `updated` is no guide: it moves with any change (a comment,
    another field), so a field's own time decides which side changed it later."""
    changelog = issue.get("changelog")
    if not isinstance(changelog, dict) or not isinstance(changelog.get("histories"), list):
        return {}
    histories = [h for h in changelog["histories"] if isinstance(h, dict)]
    times: dict[str, int] = {}
    for history in histories:
        at = jira_time_ms(history.get("created"))
        for item in history.get("items") or []:
            name = str(item.get("fieldId") or item.get("field") or "") if isinstance(item, dict) else ""
            if name in FIELDS_BY_NAME:
                times[name] = max(times.get(name, 0), at)
    total = changelog.get("total")
    if not isinstance(total, int) or total <= len(histories):
        # The whole history: a field it never names has not changed since the issue was made.
        for name in FIELDS_BY_NAME:
            times.setdefault(name, 0)
    return times


def change_authors(issue: Mapping[str, Any]) -> dict[str, str]:
    """Who last changed each synced field in Jira (display names), from the same changelog, so
    the report's activity names the person rather than "Jira"."""
    changelog = issue.get("changelog")
    histories = changelog.get("histories") if isinstance(changelog, dict) else None
    found: dict[str, tuple[int, str]] = {}
    for history in histories if isinstance(histories, list) else []:
        if not isinstance(history, dict):
            continue
        at = jira_time_ms(history.get("created"))
        author = history.get("author")
        name = str(author.get("displayName") or "") if isinstance(author, dict) else ""
        for item in history.get("items") or []:
            field = str(item.get("fieldId") or item.get("field") or "") if isinstance(item, dict) else ""
            if field in FIELDS_BY_NAME and name and at >= found.get(field, (0, ""))[0]:
                found[field] = (at, name)
    return {field: name for field, (_at, name) in found.items()}


def _later_side(local_ms: int, field_ms: int | None, updated_ms: int, *, decide: bool) -> str:
    """Which change of one field is later: "dashboard", "jira", or "" when it cannot be told
    yet (Jira changed the field at some unknown moment up to `updated`, the dashboard within
    that span): the field stays pending, and the push decides, reading the issue's changelog."""
    if field_ms is not None:
        return "dashboard" if local_ms > field_ms else "jira"
    if local_ms > updated_ms:
        return "dashboard"
    return "jira" if decide else ""


@dataclass
class _Seen:
    """One reading of an issue's state, and what its source knows of when each field changed."""

    fields: Mapping[str, Any]
    source: str
    updated_ms: int
    changed: frozenset[str] = frozenset()  # the fields the delivery's changelog names
    change_ms: Mapping[str, int] | None = None  # when fields last changed (a changelog read)
    change_by: Mapping[str, str] | None = None  # who changed them last (the same read)
    decide: bool = False  # a fresh read with the changelog: a conflict is decided now

    def field_ms(self, name: str) -> int | None:
        if self.change_ms is not None:  # read with the changelog
            return self.change_ms.get(name)
        # A delivery whose changelog names the field: its issue's `updated` is that change's time.
        return self.updated_ms if name in self.changed and self.updated_ms else None


def _compare(link: IssueLink, seen: _Seen, *, skip: set[str]) -> list[str]:
    """Compare each synced field of `seen` with what the (locked) link last knew, and bring the
    report up to Jira's changes (see the module docstring). Updates the link's known ids and
    `pending` in memory (the caller saves); returns the fields applied to the report."""
    connection, report = link.connection, link.report
    applied: list[str] = []
    pending = dict(link.pending or {})
    changes: dict[str, str] = {}
    for spec in SYNCED_FIELDS:
        jira_id = spec.jira_id(seen.fields)
        if not jira_id:
            continue
        if spec.name in skip:
            if spec.name in seen.changed:
                detail = "Arrived while Bugbridge was writing this field; its write settles it."
                _event(
                    link, direction="in", source=seen.source, field=spec.name, outcome="echo", detail=detail
                )
            continue
        local_ms = pending.get(spec.name)
        # First sight of the issue (nothing known yet) is compared like any change: the issue was
        # made from the report, so a difference is Jira's doing (unless the dashboard's is later).
        # A value equal to what we knew is no change, unless the issue's history (a read with the
        # changelog) says the field moved after the dashboard's pending change, and back again.
        moved = local_ms is not None and (seen.field_ms(spec.name) or 0) > local_ms and seen.decide
        if jira_id == getattr(link, spec.known_attr) and not moved:
            if spec.name in seen.changed and spec.enabled(connection):
                _event(
                    link, direction="in", source=seen.source, field=spec.name, outcome=SyncEvent.Outcome.ECHO
                )
            continue
        wanted = spec.to_report(connection, seen.fields)
        if not spec.enabled(connection) or wanted is None:
            setattr(link, spec.known_attr, jira_id)
            continue
        jira_ms = seen.field_ms(spec.name)
        if local_ms:
            later = _later_side(local_ms, jira_ms, seen.updated_ms, decide=seen.decide)
        elif spec.report_value(report) != wanted and _changed_here_since(
            report, spec.name, jira_ms or seen.updated_ms
        ):
            later = "dashboard"  # its pending mark is on its way
        else:
            later = "jira"
        if later != "jira":
            # The dashboard's change is the later one (it goes out, Jira's is overwritten), or may
            # be: the push, which reads when Jira changed the field, decides.
            detail = (
                "The change made in Bugbridge is later; it is sent to Jira."
                if later
                else "Changed on both sides; Bugbridge compares when each was made before writing."
            )
            _event(
                link,
                direction="in",
                source=seen.source,
                field=spec.name,
                outcome=SyncEvent.Outcome.KEPT,
                to_value=_jira_name(seen.fields, spec.name),
                detail=detail,
            )
            continue
        setattr(link, spec.known_attr, jira_id)
        pending.pop(spec.name, None)
        current = spec.report_value(report)
        if current != wanted:
            changes[spec.name] = wanted
            applied.append(spec.name)
            _event(
                link,
                direction="in",
                source=seen.source,
                field=spec.name,
                outcome=SyncEvent.Outcome.APPLIED,
                from_value=spec.label(current),
                to_value=f"{spec.label(wanted)} ({_jira_name(seen.fields, spec.name)})",
            )
    if changes:
        names = [(seen.change_by or {}).get(name, "") for name in changes]
        actor_name = next((n for n in names if n), "")
        bug_services.report_update(report=report, actor=None, origin=JIRA, actor_name=actor_name, **changes)
    link.pending = pending
    return applied


def _changed_here_since(report: BugReport, kind: str, jira_ms: int) -> bool:
    """Whether the report's last change of a field was made here, after `jira_ms`. A dashboard
    change is marked pending just after it commits (`report_changed` runs on commit); in
    between, its activity (written with the change) already tells it."""
    last = (
        Activity.objects.filter(report=report, kind=kind)
        .order_by("-created_at", "-id")
        .values_list("origin", "created_at")
        .first()
    )
    return last is not None and last[0] != JIRA and last[1].timestamp() * 1000 > jira_ms


def _note_status(link: IssueLink, fields: Mapping[str, Any]) -> None:
    status = fields.get("status")
    if isinstance(status, dict):
        link.jira_status_name = str(status.get("name") or "")[:255]
        category = status.get("statusCategory")
        link.jira_status_category = str(category.get("key") or "")[:32] if isinstance(category, dict) else ""


STATE_FIELDS = [
    "jira_status_id",
    "jira_priority_id",
    "jira_status_name",
    "jira_status_category",
    "jira_updated_ms",
    "pending",
    "updated_at",
]


# Sources whose fields are a snapshot Jira took when it raised an event: news that the issue
# changed, read again before use (API-NOTES §2.3). A snapshot can show a field as it was before a
# change committed meanwhile, under a later `updated`: taken as the state, it would overwrite the
# newer one, and nothing later would look newer.
SNAPSHOT_SOURCES = frozenset({"webhook"})


def issue_state_apply(
    *,
    link_id: int,
    fields: Mapping[str, Any],
    source: str,
    changed: frozenset[str] = frozenset(),
    pushing: bool = False,
    change_ms: Mapping[str, int] | None = None,
    change_by: Mapping[str, str] | None = None,
) -> list[str]:
    """Bring a report up to an issue's state as Jira reported it (see the module docstring).
    `changed`: the fields a webhook's changelog names, to record our echoes as such. `pushing`:
    a read by the push that holds the link, just made, so never stale, with `change_ms`
    (`change_times`) from the issue's changelog. A delivery newer than what the link knows is
    read again from Jira, with the issue's changelog (a Jira error propagates: the delivery
    fails, and reconciliation finds the issue newer). Returns the fields applied to the report."""
    if source in SNAPSHOT_SOURCES and not pushing:
        link = IssueLink.objects.select_related("connection").get(pk=link_id)
        if jira_time_ms(fields.get("updated")) > link.jira_updated_ms:
            try:
                issue = client_for(link.connection).get_issue(
                    link.issue_id, fields=SYNC_FIELDS, expand="changelog"
                )
            except JiraNotFound:
                issue_deleted_apply(link_id=link_id, source=source)
                return []
            return _state_apply(
                link_id=link_id,
                fields=issue["fields"],
                source=source,
                changed=changed,
                change_ms=change_times(issue),
                change_by=change_authors(issue),
                decide=True,
            )
    return _state_apply(
        link_id=link_id,
        fields=fields,
        source=source,
        changed=changed,
        change_ms=change_ms,
        change_by=change_by,
        decide=pushing,
        pushing=pushing,
    )


@transaction.atomic
def _state_apply(
    *,
    link_id: int,
    fields: Mapping[str, Any],
    source: str,
    changed: frozenset[str],
    change_ms: Mapping[str, int] | None,
    decide: bool,
    pushing: bool = False,
    change_by: Mapping[str, str] | None = None,
) -> list[str]:
    link = IssueLink.objects.select_for_update().select_related("connection", "report").get(pk=link_id)
    updated_ms = jira_time_ms(fields.get("updated"))
    if not pushing and updated_ms and updated_ms <= link.jira_updated_ms:
        # Not newer than what we hold: a late, reordered or repeated delivery, or our own echo.
        for spec in SYNCED_FIELDS:
            if spec.name in changed and spec.enabled(link.connection):
                same = updated_ms == link.jira_updated_ms and spec.jira_id(fields) == getattr(
                    link, spec.known_attr
                )
                outcome = SyncEvent.Outcome.ECHO if same else SyncEvent.Outcome.STALE
                _event(link, direction="in", source=source, field=spec.name, outcome=outcome)
        return []
    # While a push writes a pending field, news of it waits: the push's own hops come back as
    # deliveries, and its read after writing (never older than the news) settles what Jira holds.
    writing = set() if pushing or not _claimed(link) else set(link.pending or {})
    seen = _Seen(
        fields, source, updated_ms, changed=changed, change_ms=change_ms, change_by=change_by, decide=decide
    )
    applied = _compare(link, seen, skip=writing)
    if "status" not in writing:
        _note_status(link, fields)
    link.jira_updated_ms = max(link.jira_updated_ms, updated_ms)
    link.updated_at = timezone.now()
    link.save(update_fields=STATE_FIELDS)
    return applied


@transaction.atomic
def issue_deleted_apply(*, link_id: int, source: str) -> None:
    """The issue is gone from Jira: the link says so; the report stays as it is."""
    link = IssueLink.objects.select_for_update().get(pk=link_id)
    if link.state == IssueLink.State.DELETED:
        return
    link.state = IssueLink.State.DELETED
    link.pending = {}
    link.updated_at = timezone.now()
    link.save(update_fields=["state", "pending", "updated_at"])
    _event(
        link,
        direction="in",
        source=source,
        field="issue",
        outcome=SyncEvent.Outcome.APPLIED,
        to_value="deleted",
    )


# ---------------------------------------------------------------------------------------------
# Inbound: comments
# ---------------------------------------------------------------------------------------------


def comment_text(body: Any) -> str:
    """A Jira comment body as the text a report comment holds: webhook bodies are wiki markup
    (v2), API bodies ADF (v3). Rendered later through the escaping markdown filter."""
    if isinstance(body, dict):
        return adf.adf_to_text(body).strip()
    if isinstance(body, str):
        return adf.wiki_to_text(body).strip()
    return ""


def _author(comment: Mapping[str, Any]) -> str:
    author = comment.get("author")
    return str(author.get("displayName") or "")[:150] if isinstance(author, dict) else ""


def _is_ours(client: JiraClient, jira_comment_id: str, link: IssueLink) -> CommentLink | None:
    """The in-flight comment link a Jira comment belongs to, by its origin property."""
    waiting = list(link.comment_links.filter(jira_comment_id="", deleted=False, origin="dashboard"))
    if not waiting:
        return None
    try:
        value = client.get_comment_property(jira_comment_id, COMMENT_PROPERTY).get("value")
    except JiraNotFound:
        return None
    if not isinstance(value, dict):
        return None
    return next((cl for cl in waiting if cl.comment_pk == value.get("comment")), None)


def comment_upsert_apply(*, link_id: int, comment: Mapping[str, Any], source: str) -> str:
    """A Jira comment created or edited: created or updated on the report, unless it is ours or
    older than what we have. Returns what happened (an outcome)."""
    jira_id = str(comment.get("id") or "")
    updated_ms = jira_time_ms(comment.get("updated")) or jira_time_ms(comment.get("created"))
    link = IssueLink.objects.select_related("connection").get(pk=link_id)
    if not jira_id or not link.connection.sync_comments:
        return "ignored"
    found = CommentLink.objects.filter(link=link, jira_comment_id=jira_id).first()
    if found is None:
        mine = _is_ours(client_for(link.connection), jira_id, link)
        if mine is not None:
            # Our create call has not stored its answer yet: the delivery is its echo.
            CommentLink.objects.filter(pk=mine.pk, jira_comment_id="").update(
                jira_comment_id=jira_id, jira_updated_ms=updated_ms
            )
            _event(link, direction="in", source=source, field="comment", outcome=SyncEvent.Outcome.ECHO)
            return SyncEvent.Outcome.ECHO
    with transaction.atomic():
        link = IssueLink.objects.select_for_update().select_related("report").get(pk=link_id)
        found = (
            CommentLink.objects.filter(link=link, jira_comment_id=jira_id).select_related("comment").first()
        )
        text = comment_text(comment.get("body"))
        if found is None:
            if not text:
                return "ignored"
            created = bug_services.comment_create(
                report=link.report,
                body=text,
                author=None,
                author_name=_author(comment) or "Jira",
                origin=JIRA,
            )
            CommentLink.objects.create(
                link=link,
                comment=created,
                comment_pk=created.pk,
                jira_comment_id=jira_id,
                jira_updated_ms=updated_ms,
                origin=JIRA,
            )
            _event(
                link, direction="in", source=source, field="comment", outcome="applied", to_value=text[:80]
            )
            return SyncEvent.Outcome.APPLIED
        if found.deleted or updated_ms <= found.jira_updated_ms:
            outcome = (
                SyncEvent.Outcome.ECHO if updated_ms == found.jira_updated_ms else SyncEvent.Outcome.STALE
            )
            _event(link, direction="in", source=source, field="comment", outcome=outcome)
            return outcome
        found.jira_updated_ms = updated_ms
        found.save(update_fields=["jira_updated_ms"])
        if found.comment is not None and text and found.comment.body != text:
            bug_services.comment_update(comment=found.comment, body=text, origin=JIRA)
            _event(link, direction="in", source=source, field="comment", outcome="applied", detail="edited")
            return SyncEvent.Outcome.APPLIED
        return SyncEvent.Outcome.ECHO


@transaction.atomic
def comment_deleted_apply(*, link_id: int, jira_comment_id: str, source: str) -> str:
    """A Jira comment deleted: deleted on the report too (a tombstone remembers an unknown one,
    so its creation arriving late does not bring it back)."""
    link = IssueLink.objects.select_for_update().select_related("connection").get(pk=link_id)
    if not jira_comment_id or not link.connection.sync_comments:
        return "ignored"
    found = (
        CommentLink.objects.filter(link=link, jira_comment_id=jira_comment_id)
        .select_related("comment")
        .first()
    )
    if found is None:
        CommentLink.objects.create(
            link=link, comment_pk=None, jira_comment_id=jira_comment_id, origin=JIRA, deleted=True
        )
        return "ignored"
    if found.deleted:
        _event(link, direction="in", source=source, field="comment", outcome=SyncEvent.Outcome.ECHO)
        return SyncEvent.Outcome.ECHO
    # Gone on both sides: a tombstone (see _comment_push).
    found.deleted, found.comment_pk = True, None
    found.save(update_fields=["deleted", "comment_pk"])
    if found.comment is not None:
        bug_services.comment_delete(comment=found.comment, origin=JIRA)
    _event(link, direction="in", source=source, field="comment", outcome="applied", detail="deleted")
    return SyncEvent.Outcome.APPLIED


def comments_reconcile(
    *,
    link_id: int,
    comments: list[Mapping[str, Any]],
    source: str,
    recheck: Callable[[], list[Mapping[str, Any]]] | None = None,
) -> int:
    """The issue's complete comment list, as reconciliation read it: new and edited ones come
    in, and ones we hold that Jira no longer has are deleted here. Returns how many changed.

    A comment we hold that the list lacks may have been made after the list was read (our own
    create, answered meanwhile): `recheck` reads the comments again, and only one missing from
    that later list too is deleted here."""
    known = {
        found.jira_comment_id: found
        for found in CommentLink.objects.filter(link_id=link_id).exclude(jira_comment_id="")
    }
    present = set()
    changed = 0
    for comment in comments:
        jira_id = str(comment.get("id") or "")
        present.add(jira_id)
        found = known.get(jira_id)
        updated_ms = jira_time_ms(comment.get("updated")) or jira_time_ms(comment.get("created"))
        if found is not None and (found.deleted or updated_ms <= found.jira_updated_ms):
            continue  # nothing newer than what we hold (the overlap brings comments again)
        changed += comment_upsert_apply(link_id=link_id, comment=comment, source=source) == "applied"
    missing = [
        found.jira_comment_id
        for found in CommentLink.objects.filter(link_id=link_id, deleted=False).exclude(jira_comment_id="")
        if found.jira_comment_id not in present
    ]
    if missing and recheck is not None:
        still = {str(c.get("id") or "") for c in recheck()}
        missing = [jira_id for jira_id in missing if jira_id not in still]
    for jira_id in missing:
        changed += comment_deleted_apply(link_id=link_id, jira_comment_id=jira_id, source=source) == "applied"
    return changed


# ---------------------------------------------------------------------------------------------
# Outbound: dashboard → Jira
# ---------------------------------------------------------------------------------------------


def _syncing_links(report: BugReport) -> list[IssueLink]:
    return list(
        IssueLink.objects.filter(
            report=report, state=IssueLink.State.LINKED, connection__status=JiraConnection.Status.ACTIVE
        ).select_related("connection")
    )


def report_changed(*, report: BugReport, changes: Mapping[str, Any], origin: str) -> list[int]:
    """A report's status or priority changed here: mark it pending on each link that syncs it and
    queue the write. Changes that came from Jira are never sent back."""
    if origin == JIRA:
        return []
    queued = []
    stamp = now_ms()
    for link in _syncing_links(report):
        names = [n for n in changes if n in FIELDS_BY_NAME and FIELDS_BY_NAME[n].enabled(link.connection)]
        if not names:
            continue
        with transaction.atomic():
            row = IssueLink.objects.select_for_update().get(pk=link.pk)
            row.pending = {**(row.pending or {}), **{n: stamp for n in names}}
            row.save(update_fields=["pending"])
            _enqueue_push(row.pk)
        queued.append(link.pk)
    return queued


def _enqueue_push(link_id: int, countdown: float | None = None) -> None:
    from . import tasks  # tasks import this module

    transaction.on_commit(lambda: tasks.sync_push.apply_async((link_id,), countdown=countdown))


def _claim_link(link_id: int) -> datetime | None:
    """Claim the link for one push; the claim's expiry is its token (None: someone holds it)."""
    now = timezone.now()
    until = now + timedelta(seconds=CLAIM_S)
    claimed = (
        IssueLink.objects.filter(pk=link_id, state=IssueLink.State.LINKED)
        .exclude(claimed_until__gt=now)
        .update(claimed_until=until)
    )
    return until if claimed else None


@dataclass(frozen=True)
class PushStep:
    """What one push came to, and when to try again (None: not again)."""

    outcome: str
    retry_in: float | None = None


def link_push(*, link_id: int, attempt: int = 0) -> PushStep:
    """Write the link's pending dashboard changes to Jira (status by transition, priority by
    edit), unless Jira changed the same field later. Safe to run twice: a claimed link is left
    to its holder, and a field already equal in Jira is not written."""
    claim = _claim_link(link_id)
    if claim is None:
        # Another worker is writing this link; what it has not seen is still pending: look again.
        return PushStep("busy", retry_in=BUSY_RETRY_S)
    try:
        return _push(link_id, attempt, claim)
    finally:
        # Ours only (a push that ended normally let go already, and another may hold it now).
        IssueLink.objects.filter(pk=link_id, claimed_until=claim).update(claimed_until=None)


# A push reads the issue again at most this often when news newer than its read came meanwhile.
REREADS = 3


def _push(link_id: int, attempt: int, claim: datetime) -> PushStep:
    link = IssueLink.objects.select_related("connection", "report").get(pk=link_id)
    if not link.pending:
        return PushStep("nothing")
    client = client_for(link.connection)
    taken: dict[str, int] = dict(link.pending)
    try:
        issue = client.get_issue(link.issue_id, fields=SYNC_FIELDS, expand="changelog")
        fields = issue["fields"]
        # A change Jira made since we last knew it, and later than ours, wins: apply it first
        # (when each side changed a field decides, so the changelog comes along).
        issue_state_apply(
            link_id=link.pk,
            fields=fields,
            source="before-write",
            pushing=True,
            change_ms=change_times(issue),
            change_by=change_authors(issue),
        )
        link.refresh_from_db()
        taken = dict(link.pending)
        written: dict[str, str] = {}
        # What Jira should hold after our writes: what we wrote, else what it held already.
        expected: dict[str, str | None] = {}
        for name in sorted(taken):
            spec = FIELDS_BY_NAME.get(name)
            if spec is None or not spec.enabled(link.connection):
                continue
            value = WRITERS[name](client, link, fields)
            if value is not None:
                written[name] = value
            expected[name] = value if value is not None else spec.to_report(link.connection, fields)
        wrote = bool(written)
        after = client.get_issue(link.issue_id, fields=SYNC_FIELDS)["fields"] if wrote else fields
        for reread in range(REREADS + 1):
            settled = _pushed(link.pk, after, taken, expected, set(written), claim, final=reread == REREADS)
            if settled != "reread":
                break
            after = client.get_issue(link.issue_id, fields=SYNC_FIELDS)["fields"]
    except JiraNotFound:
        issue_deleted_apply(link_id=link.pk, source="dashboard")
        return PushStep("deleted")
    except PushRefused as exc:
        _push_failed(link, {exc.field: taken.get(exc.field)}, exc.words)
        return PushStep("failed")
    except JiraError as exc:
        return _push_error(link, exc, attempt, taken)
    outcome = "written" if wrote else "nothing"
    if settled == "again":
        return PushStep(outcome, retry_in=0)  # changed again meanwhile, or left for a push to decide
    return PushStep(outcome)


class PushRefused(Exception):
    """Jira cannot take the change as it stands (a workflow without the way, a required field)."""

    def __init__(self, field: str, words: str) -> None:
        super().__init__(words)
        self.field, self.words = field, words


@transaction.atomic
def _pushed(
    link_id: int,
    fields: Mapping[str, Any],
    taken: Mapping[str, int],
    expected: Mapping[str, str | None],
    written: set[str],
    claim: datetime,
    *,
    final: bool,
) -> str:
    """Store what Jira holds now that our writes are done: it is the new baseline, so the
    deliveries our writes cause are recognised as echoes, and the claim ends in the same commit
    (news arriving after it is compared, never left waiting). "reread" when news newer than
    this read came in meanwhile (it waited for us: read again), "again" when a field is still
    pending (changed again meanwhile), else "done"."""
    link = IssueLink.objects.select_for_update().select_related("connection", "report").get(pk=link_id)
    updated_ms = jira_time_ms(fields.get("updated"))
    if updated_ms < link.jira_updated_ms and not final:
        return "reread"
    later: dict[str, str] = {}
    for name in taken:
        spec = FIELDS_BY_NAME.get(name)
        if spec is None or not spec.jira_id(fields):
            continue
        setattr(link, spec.known_attr, spec.jira_id(fields))
        held = spec.to_report(link.connection, fields)
        if (
            held is not None
            and name in expected
            and held != expected[name]
            and held != spec.report_value(link.report)
            and link.pending.get(name) == taken[name]
        ):
            # Jira does not hold what we left there: someone changed it during or after our
            # write, later than the change we wrote. (Not the report differing from Jira: the
            # dashboard may have changed it again, its mark on the way.)
            later[name] = held
            _event(
                link,
                direction="in",
                source="after-write",
                field=name,
                outcome=SyncEvent.Outcome.APPLIED,
                from_value=spec.label(spec.report_value(link.report)),
                to_value=f"{spec.label(held)} ({_jira_name(fields, name)})",
            )
    if later:
        bug_services.report_update(report=link.report, actor=None, origin=JIRA, **later)
    pending = {}
    for name, stamp in (link.pending or {}).items():
        if taken.get(name) == stamp:
            continue  # written (or found equal): done
        spec = FIELDS_BY_NAME.get(name)
        if name in written and spec is not None and spec.to_report(link.connection, fields) == expected[name]:
            # Changed again here while we wrote the earlier change: our write is in Jira's
            # history now, later than this change, but it is ours, not a change made in Jira.
            stamp = max(stamp, updated_ms)
        pending[name] = stamp
    link.pending = pending
    # The fields this push did not write: news of them is compared as any other.
    _compare(link, _Seen(fields, "after-write", updated_ms), skip=set(taken))
    _note_status(link, fields)
    link.jira_updated_ms = max(link.jira_updated_ms, updated_ms)
    link.sync_error = ""
    link.updated_at = timezone.now()
    if link.claimed_until == claim:
        link.claimed_until = None
    link.save(update_fields=[*STATE_FIELDS, "sync_error", "claimed_until"])
    return "again" if link.pending else "done"


def _push_failed(link: IssueLink, taken: Mapping[str, int | None], words: str) -> None:
    """Give up on the changes this push took (a change made since stays pending: its own push
    is queued)."""
    with transaction.atomic():
        row = IssueLink.objects.select_for_update().get(pk=link.pk)
        row.pending = {k: v for k, v in (row.pending or {}).items() if k not in taken or taken[k] != v}
        row.sync_error = words[:500]
        row.save(update_fields=["pending", "sync_error"])
        for field in taken:
            _event(row, direction="out", source="dashboard", field=field, outcome="failed", detail=words)
    logger.info("jira.sync.refused", extra={"link": link.pk, "fields": sorted(taken)})


def _push_error(link: IssueLink, exc: JiraError, attempt: int, taken: Mapping[str, int]) -> PushStep:
    if isinstance(exc, JiraAuthError | JiraPermissionError | JiraValidationError) or attempt >= len(
        PUSH_BACKOFF_S
    ):
        _push_failed(link, taken, f"Could not update the Jira issue: {exc.user_message}")
        return PushStep("failed")
    wait = float(getattr(exc, "retry_after", None) or PUSH_BACKOFF_S[attempt])
    IssueLink.objects.filter(pk=link.pk).update(sync_error=f"Retrying: {exc.user_message}"[:500])
    return PushStep("retry", retry_in=wait)


# What a status write returns when someone moved the issue while it walked the workflow.
MOVED = ""

# Report statuses in workflow order, to pick a hop toward the wanted one when Jira's workflow has
# no single transition there (reading workflows needs admin rights; API-NOTES §6).
CATEGORY_ORDER = {"new": 0, "indeterminate": 1, "done": 2}
MAX_HOPS = 4


def _status_target(connection: JiraConnection, wanted: str) -> tuple[set[str], str | None]:
    """The Jira status ids mapped to a report status, and its category."""
    ids = {sid for sid, ours in (connection.status_map or {}).items() if ours == wanted}
    return ids, CATEGORY_FOR_STATUS.get(wanted)


def _to(transition: Mapping[str, Any]) -> tuple[str, str]:
    to = transition.get("to") or {}
    category = to.get("statusCategory") or {}
    return str(to.get("id") or ""), str(category.get("key") or "") if isinstance(category, dict) else ""


def _pick(
    transitions: list[dict[str, Any]], ids: set[str], category: str | None, seen: set[str]
) -> tuple[Any, bool]:
    """The transition that reaches the target (by status id, else category), or the best hop
    toward it: an unvisited status whose category is nearest the target's. (transition, arrives)."""
    for match in (lambda t: _to(t)[0] in ids, lambda t: _to(t)[1] == category):
        chosen = next((t for t in transitions if match(t)), None)
        if chosen is not None:
            return chosen, True
    goal = CATEGORY_ORDER.get(category or "", 0)
    hops = [t for t in transitions if _to(t)[0] and _to(t)[0] not in seen]
    hops.sort(key=lambda t: abs(CATEGORY_ORDER.get(_to(t)[1], 1) - goal))
    return (hops[0] if hops else None), False


def _screen_fields(transition: Mapping[str, Any], label: str) -> dict[str, Any]:
    """Values for the transition screen's required fields: their defaults (resolution: Jira's
    first), else a refusal that says what to do."""
    screen: dict[str, Any] = {}
    for field_id, meta in (transition.get("fields") or {}).items():
        if not isinstance(meta, dict) or not meta.get("required"):
            continue
        default = meta.get("defaultValue")
        if default is None and meta.get("allowedValues") and field_id == "resolution":
            default = {"id": str(meta["allowedValues"][0].get("id"))}
        if default is None:
            raise PushRefused(
                "status",
                f"Moving the Jira issue to “{(transition.get('to') or {}).get('name', label)}” needs "
                f"“{meta.get('name') or field_id}”, which has no default. Change the status in Jira.",
            )
        screen[field_id] = default
    return screen


def _write_status(client: JiraClient, link: IssueLink, fields: Mapping[str, Any]) -> str | None:
    """Transition the issue to the report's status: to a status mapped to it, else to one of its
    category, in as few hops as the workflow allows (at most MAX_HOPS)."""
    wanted = link.report.status
    connection = link.connection
    if report_status_for(connection, fields.get("status") or {}) == wanted:
        return None
    ids, category = _status_target(connection, wanted)
    label = BugStatus(wanted).label
    at = str((fields.get("status") or {}).get("id") or "")  # where our walk has the issue
    seen = {at}
    for _hop in range(MAX_HOPS):
        chosen, arrives = _pick(client.get_transitions(link.issue_id, with_fields=True), ids, category, seen)
        if chosen is None:
            break
        try:
            client.transition_issue(
                link.issue_id, str(chosen["id"]), fields=_screen_fields(chosen, label) or None
            )
        except (JiraValidationError, JiraConflict):
            if _moved_meanwhile(client, link, at):
                return MOVED
            raise
        at = _to(chosen)[0]
        seen.add(at)
        if arrives:
            _event(
                link,
                direction="out",
                source="dashboard",
                field="status",
                outcome="applied",
                from_value=_jira_name(fields, "status"),
                to_value=str((chosen.get("to") or {}).get("name") or label),
                detail="" if len(seen) == 2 else f"{len(seen) - 1} transitions",
            )
            return wanted
    if _moved_meanwhile(client, link, at):
        return MOVED
    raise PushRefused(
        "status",
        f"Jira's workflow offers no way from “{_jira_name(fields, 'status')}” to a status meaning "
        f"“{label}” within {MAX_HOPS} transitions. Change the status in Jira, or map a reachable "
        "status in Settings → Jira.",
    )


def _moved_meanwhile(client: JiraClient, link: IssueLink, at: str) -> bool:
    """Whether someone moved the issue while we walked its workflow (it is not where our last
    step left it). Their move is later than the dashboard's change, so it wins: the walk stops,
    and the read after writing brings their status to the report."""
    status = client.get_issue(link.issue_id, fields=("status",))["fields"].get("status") or {}
    return str(status.get("id") or "") != at


def _write_priority(client: JiraClient, link: IssueLink, fields: Mapping[str, Any]) -> str | None:
    wanted = link.report.priority
    if report_priority_for(link.connection, fields.get("priority") or {}) == wanted:
        return None
    name = _priority_table(link.connection).get(wanted)
    if not name:
        raise PushRefused("priority", f"No Jira priority stands for “{BugPriority(wanted).label}”.")
    client.edit_issue(link.issue_id, fields={"priority": {"name": name}}, notify_users=True)
    _event(
        link,
        direction="out",
        source="dashboard",
        field="priority",
        outcome="applied",
        from_value=_jira_name(fields, "priority"),
        to_value=name,
    )
    return wanted


# Each writes one field and returns the report value it wrote (MOVED: someone else moved the
# issue meanwhile), or None when Jira already held it.
WRITERS: dict[str, Callable[[JiraClient, IssueLink, Mapping[str, Any]], str | None]] = {
    "status": _write_status,
    "priority": _write_priority,
}


# ---------------------------------------------------------------------------------------------
# Outbound: comments
# ---------------------------------------------------------------------------------------------


def comment_changed(*, comment: Comment, action: str, origin: str) -> list[int]:
    """A comment was written, edited or deleted here: queue the same in Jira for each link
    that syncs comments. Comments that came from Jira are not sent back."""
    if origin == JIRA:
        return []
    queued = []
    links = IssueLink.objects.filter(
        report_id=comment.report_id,
        state=IssueLink.State.LINKED,
        connection__status=JiraConnection.Status.ACTIVE,
        connection__sync_comments=True,
    )
    for link in links:
        with transaction.atomic():
            found = CommentLink.objects.filter(link=link, comment_pk=comment.pk).first()
            if found is None:
                if action != "created":
                    continue  # a comment older than the link, or one from Jira before sync
                found = CommentLink.objects.create(
                    link=link, comment_id=comment.pk, comment_pk=comment.pk, origin="dashboard"
                )
            elif action == "deleted":
                CommentLink.objects.filter(pk=found.pk).update(deleted=True)
            _enqueue_comment_push(found.pk)
        queued.append(found.pk)
    return queued


def _enqueue_comment_push(comment_link_id: int, countdown: float | None = None) -> None:
    from . import tasks

    transaction.on_commit(
        lambda: tasks.sync_comment_push.apply_async((comment_link_id,), countdown=countdown)
    )


def comment_push(*, comment_link_id: int, attempt: int = 0) -> PushStep:
    """Make the Jira comment match ours: create it (tagged as ours), replace its body, or delete
    it. Safe to run twice: the create is claimed, and a body already equal is still just a PUT."""
    now = timezone.now()
    claimed = (
        CommentLink.objects.filter(pk=comment_link_id)
        .exclude(claimed_until__gt=now)
        .update(claimed_until=now + timedelta(seconds=CLAIM_S))
    )
    if not claimed:
        return PushStep("busy", retry_in=BUSY_RETRY_S)
    try:
        return _comment_push(comment_link_id, attempt)
    finally:
        CommentLink.objects.filter(pk=comment_link_id).update(claimed_until=None)


def _comment_push(comment_link_id: int, attempt: int) -> PushStep:
    found = CommentLink.objects.select_related("link__connection", "comment").get(pk=comment_link_id)
    link = found.link
    client = client_for(link.connection)
    try:
        if found.deleted or found.comment is None:
            # Gone on both sides once deleted in Jira: the link stays as a tombstone (no comment
            # any more), so a later delivery of it does not bring it back, and a push still
            # queued for an earlier edit does not delete it again.
            if found.jira_comment_id and found.comment_pk is not None:
                try:
                    client.delete_comment(link.issue_id, found.jira_comment_id)
                    _event(
                        link,
                        direction="out",
                        source="dashboard",
                        field="comment",
                        outcome="applied",
                        detail="deleted",
                    )
                except JiraNotFound:
                    pass  # deleted in Jira too: its delivery deletes nothing more here
            CommentLink.objects.filter(pk=found.pk).update(deleted=True, comment_pk=None)
            return PushStep("deleted")
        body = adf.text_to_adf(found.comment.body)
        if not found.jira_comment_id:
            marker = [
                {"key": COMMENT_PROPERTY, "value": {"origin": "bugbridge", "comment": found.comment_pk}}
            ]
            made = client.add_comment(link.issue_id, body, properties=marker)
            detail = "created"
        else:
            made = client.update_comment(link.issue_id, found.jira_comment_id, body)
            detail = "edited"
    except JiraNotFound:
        _event(
            link,
            direction="out",
            source="dashboard",
            field="comment",
            outcome="failed",
            detail="issue or comment gone",
        )
        return PushStep("failed")
    except JiraError as exc:
        if isinstance(exc, JiraAuthError | JiraPermissionError | JiraValidationError) or attempt >= len(
            PUSH_BACKOFF_S
        ):
            words = f"A comment could not be sent to Jira: {exc.user_message}"
            IssueLink.objects.filter(pk=link.pk).update(sync_error=words[:500])
            _event(link, direction="out", source="dashboard", field="comment", outcome="failed", detail=words)
            return PushStep("failed")
        return PushStep("retry", retry_in=float(getattr(exc, "retry_after", None) or PUSH_BACKOFF_S[attempt]))
    CommentLink.objects.filter(pk=found.pk).update(
        jira_comment_id=str(made.get("id") or found.jira_comment_id),
        jira_updated_ms=jira_time_ms(made.get("updated")),
    )
    _event(link, direction="out", source="dashboard", field="comment", outcome="applied", detail=detail)
    return PushStep("written")
