"""Reconciliation: what webhooks missed, caught by one bounded search per connection (beat, every
JIRA_RECONCILE_INTERVAL_S).

A pass asks `search/jql` for the project's issues updated since the connection's watermark minus
an overlap (JQL dates have minute resolution and search lags behind writes), with only the
fields sync needs, page by page (nextPageToken). Each issue whose `updated` is newer than what
its link holds goes through the same state comparison as a webhook; every issue's comments are
compared one by one (a lost `comment_*` delivery leaves no trace in the issue's `updated` as the
link knows it, when the comment's `jira:issue_updated` came). The watermark moves to the
pass's start only when every page was read and applied; a failed pass leaves it, so the next one
covers the same ground.

Dates: JQL reads a date without a zone in the searching account's time zone (API-NOTES §9.4), so
the literal is written in that zone (`GET myself`, asked once and kept on the connection).
"""

from __future__ import annotations

import logging
import zoneinfo
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from . import sync
from .jira.auth import client_for
from .jira.client import JiraClient
from .jira.errors import JiraError
from .jira.webhooks import jira_time_ms
from .models import IssueLink, JiraConnection

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pass:
    """What one pass did: Jira calls made, issues seen, issues newer than their link or with a
    comment to bring in or delete."""

    calls: int
    seen: int
    changed: int
    ok: bool


def reconcile_due() -> list[int]:
    """The connections a pass is for: active, set up, with something syncing back."""
    rows = JiraConnection.objects.filter(status=JiraConnection.Status.ACTIVE).exclude(project_key="")
    return [
        c.pk
        for c in rows.only("pk", "sync_status", "sync_priority", "sync_comments")
        if c.sync_status or c.sync_priority or c.sync_comments
    ]


def _zone(connection: JiraConnection, client: JiraClient) -> tuple[zoneinfo.ZoneInfo, int]:
    """The identity's time zone, from the connection or (once) from Jira; and calls made."""
    calls = 0
    name = connection.jira_time_zone
    if not name:
        name = str(client.myself().get("timeZone") or "UTC")
        calls = 1
        JiraConnection.objects.filter(pk=connection.pk).update(jira_time_zone=name[:64])
    try:
        return zoneinfo.ZoneInfo(name), calls
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC"), calls


def jql_since(connection: JiraConnection, since: datetime, zone: zoneinfo.ZoneInfo) -> str:
    """`project = KEY AND updated >= "<since, floored to the minute, in the identity's zone>"`."""
    local = since.astimezone(zone).replace(second=0, microsecond=0)
    return f'project = {connection.project_key} AND updated >= "{local:%Y/%m/%d %H:%M}" ORDER BY updated ASC'


def _fields(connection: JiraConnection) -> list[str]:
    return [*sync.SYNC_FIELDS, *(["comment"] if connection.sync_comments else [])]


def reconcile_connection(*, connection_id: int, now: datetime | None = None) -> Pass:
    """One pass for one connection (see the module docstring)."""
    connection = JiraConnection.objects.get(pk=connection_id)
    started = now or timezone.now()
    overlap = timedelta(seconds=settings.JIRA_RECONCILE_OVERLAP_S)
    since = (connection.sync_watermark or connection.configured_at or connection.created_at) - overlap
    client = client_for(connection)
    calls = seen = changed = 0
    try:
        zone, calls = _zone(connection, client)
        jql = jql_since(connection, since, zone)
        token: str | None = None
        while True:
            page = client.search_jql(
                jql,
                fields=_fields(connection),
                next_page_token=token,
                max_results=settings.JIRA_RECONCILE_PAGE_SIZE,
            )
            calls += 1
            issues = [i for i in page.get("issues") or [] if isinstance(i, dict)]
            seen += len(issues)
            changed_here, extra_calls = _apply_page(connection, client, issues)
            changed += changed_here
            calls += extra_calls
            token = page.get("nextPageToken")
            if page.get("isLast", not token) or not token:
                break
    except JiraError as exc:
        logger.warning(
            "jira.reconcile.failed", extra={"connection": connection_id, "error": type(exc).__name__}
        )
        return Pass(calls, seen, changed, ok=False)
    JiraConnection.objects.filter(pk=connection_id).update(
        sync_watermark=started, reconciled_at=timezone.now()
    )
    logger.info(
        "jira.reconcile.done",
        extra={"connection": connection_id, "calls": calls, "seen": seen, "changed": changed},
    )
    return Pass(calls, seen, changed, ok=True)


def _apply_page(
    connection: JiraConnection, client: JiraClient, issues: list[dict[str, Any]]
) -> tuple[int, int]:
    """Apply the page's issues to their links; (how many were newer or changed a comment, extra
    calls made).

    State goes through the comparison only when the issue is newer than its link. Comments are
    compared for every issue of the page, one by one: the link's `updated` is no guide to them
    (the `jira:issue_updated` of a comment can arrive while its `comment_created` was lost)."""
    by_id = {str(i.get("id")): i for i in issues}
    links = IssueLink.objects.filter(
        connection=connection, state=IssueLink.State.LINKED, issue_id__in=list(by_id)
    )
    changed = calls = 0
    for link in links.only("pk", "issue_id", "jira_updated_ms"):
        fields = by_id[link.issue_id].get("fields") or {}
        touched = 0
        if connection.sync_comments:
            comments, more = _comments(client, link.issue_id, fields.get("comment"))
            reread = _Reread(client, link.issue_id)
            touched = sync.comments_reconcile(
                link_id=link.pk, comments=comments, source="reconcile", recheck=reread
            )
            calls += more + reread.calls
        newer = jira_time_ms(fields.get("updated")) > link.jira_updated_ms
        if newer:
            sync.issue_state_apply(link_id=link.pk, fields=fields, source="reconcile")
        changed += newer or touched > 0
    return changed, calls


@dataclass
class _Reread:
    """The issue's comments read again (for ones the search's list lacks), counting the calls."""

    client: JiraClient
    issue_id: str
    calls: int = 0

    def __call__(self) -> list[dict[str, Any]]:
        found = list(self.client.iter_comments(self.issue_id))
        self.calls += 1 + max(0, len(found) - 1) // 100
        return found


def _comments(client: JiraClient, issue_id: str, inline: Any) -> tuple[list[dict[str, Any]], int]:
    """The issue's comments: those search returned inline (at most 20), or all of them, paged,
    when it has more."""
    inline = inline if isinstance(inline, dict) else {}
    found = [c for c in inline.get("comments") or [] if isinstance(c, dict)]
    total = inline.get("total")
    if isinstance(total, int) and total > len(found):
        return list(client.iter_comments(issue_id)), 1 + (total - 1) // 100
    return found, 0
