"""Forwarding reports to Jira: the services behind "Send to Jira" (one report, in bulk, or
automatically), with exactly one Jira issue per report and connection whatever happens.

How "exactly one" holds (issue 7 §2):

1. `forward_request` writes the IssueLink (unique per report and connection) as `pending` before
   anything reaches Jira; asking again for a pending or linked report changes nothing.
2. `forward_link` (the task's one service) first claims the link with a conditional UPDATE, so
   two workers never talk to Jira for the same link at once; a claim expires (`LEASE`) so a killed
   worker does not hold it for ever.
3. Before each create it commits `create_started_at`. The create carries a label unique to the
   report and an issue property naming it. A link with `create_started_at` and no key may have
   its issue in Jira already (a timeout, a dropped answer, a worker killed after the create), so
   the next attempt searches by the label first, and keeps searching for the search's
   consistency window (`JIRA_SEARCH_CONSISTENCY_S`) before it creates again.

Failures follow their kind: transient ones (429, 5xx, timeouts) come back with the seconds to
wait; permanent ones (validation, permission, a deleted project) fail the link with words and a
Retry; auth ones pause the connection's queue (nothing is dropped) until it is authenticated
again, when `forward_resume` sends what waited.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from bugs.models import PRIORITY_RANK, BugReport, Priority

from . import services
from .jira import issue_builder
from .jira.auth import client_for
from .jira.client import AttachmentUpload, JiraClient
from .jira.errors import (
    JiraAuthError,
    JiraError,
    JiraNotFound,
    JiraOutcomeUnknown,
    JiraPermissionError,
    JiraRateLimited,
    JiraValidationError,
)
from .models import ForwardBatch, IssueLink, JiraConnection

logger = logging.getLogger(__name__)


def _lease() -> timedelta:
    """How long a worker's claim on a link lasts (longer than any one attempt's Jira calls)."""
    return timedelta(seconds=settings.JIRA_FORWARD_LEASE_S)


# Transient failures in a row before the link fails (a person then presses Retry).
MAX_ATTEMPTS = 10
# Waits between transient attempts, by attempt number (the last repeats).
BACKOFF_S = (5, 15, 30, 60, 120, 300)
# How often an unknown outcome's lookup is repeated within the consistency window.
LOOKUP_EVERY_S = 3
PROPERTY_KEY = "com.bugbridge.report"
LABEL_PREFIX = "bugbridge"


class NotConnected(Exception):
    """The app has no usable Jira connection (words for the page)."""

    def __init__(self, words: str) -> None:
        super().__init__(words)
        self.words = words


@dataclass(frozen=True)
class Step:
    """What one attempt came to: `retry_in` seconds to wait before the next (None: nothing to
    schedule: linked, failed, paused, or another worker holds the link)."""

    state: str
    retry_in: float | None = None


def report_label(report: BugReport) -> str:
    """The label only this report's issue carries (labels cannot contain spaces)."""
    return f"{LABEL_PREFIX}-{report.app_id}-{report.number}"


def usable_connection(app_id: int) -> JiraConnection:
    connection = JiraConnection.objects.filter(app_id=app_id).first()
    if connection is None or connection.status == JiraConnection.Status.DISCONNECTED:
        raise NotConnected("This app is not connected to Jira. An owner or admin can connect it in Settings.")
    if not connection.project_id:
        raise NotConnected("Jira is connected but no project is chosen yet. Finish the set up in Settings.")
    return connection


# ---------------------------------------------------------------------------------------------
# Asking
# ---------------------------------------------------------------------------------------------


def forward_request(
    *,
    report: BugReport,
    user: User | None = None,
    origin: str = IssueLink.Origin.MANUAL,
    overrides: dict[str, Any] | None = None,
    batch: ForwardBatch | None = None,
) -> IssueLink:
    """Ask for the report's Jira issue. Idempotent: a report already sent or being sent keeps its
    link (a double click, a bulk send racing automatic forwarding). A failed link is asked again
    (that is Retry). The task is queued when the transaction commits."""
    connection = usable_connection(report.app_id)
    with transaction.atomic():
        link, created = IssueLink.objects.select_for_update().get_or_create(
            report=report,
            connection=connection,
            defaults={
                "origin": origin,
                "requested_by": user,
                "overrides": overrides or {},
                "batch": batch,
                "label": report_label(report),
                "next_attempt_at": timezone.now(),
            },
        )
        if not created:
            if link.state in (IssueLink.State.PENDING, IssueLink.State.LINKED):
                return link
            # Failed, or its issue was deleted in Jira: send again, as a new issue.
            link.state = IssueLink.State.PENDING
            link.origin, link.requested_by, link.batch = origin, user, batch
            link.overrides = overrides or {}
            link.issue_id = link.issue_key = ""
            link.create_started_at = link.claimed_until = None
            link.attempts = 0
            link.error_kind, link.last_error, link.error_field = "", "", ""
            link.attachments_done, link.attachments_note = False, ""
            link.label = report_label(report)
            link.next_attempt_at = link.updated_at = timezone.now()
            link.save()
        _enqueue(link.pk)
    logger.info("jira.forward.requested", extra={"link": link.pk, "origin": origin})
    return link


def forward_bulk(*, reports: list[BugReport], user: User | None) -> ForwardBatch:
    """Ask for many reports at once; the batch counts them for the progress bar."""
    batch = ForwardBatch.objects.create(app_id=reports[0].app_id, requested_by=user, total=len(reports))
    for report in reports:
        forward_request(report=report, user=user, origin=IssueLink.Origin.BULK, batch=batch)
    return batch


def forward_if_automatic(*, report: BugReport) -> IssueLink | None:
    """Forward a new report when its app's connection forwards automatically and it matches the
    rule (at least the minimum priority; any of the tags, when tags are given)."""
    connection = JiraConnection.objects.filter(app_id=report.app_id, auto_forward=True).first()
    if connection is None or connection.status == JiraConnection.Status.DISCONNECTED:
        return None
    if not rule_matches(connection, report):
        return None
    try:
        return forward_request(report=report, origin=IssueLink.Origin.AUTO)
    except NotConnected:
        return None


def rule_matches(connection: JiraConnection, report: BugReport) -> bool:
    minimum = connection.forward_min_priority
    if minimum and PRIORITY_RANK[Priority(report.priority)] < PRIORITY_RANK[Priority(minimum)]:
        return False
    wanted = set(connection.forward_tags or [])
    return not wanted or bool(wanted & set(report.tags or []))


def _enqueue(link_id: int, countdown: float | None = None) -> None:
    from . import tasks  # tasks import this module

    transaction.on_commit(lambda: tasks.forward_link.apply_async((link_id,), countdown=countdown))


# ---------------------------------------------------------------------------------------------
# Sending (one attempt; the task calls it)
# ---------------------------------------------------------------------------------------------


def _claim(link_id: int) -> bool:
    now = timezone.now()
    return bool(
        IssueLink.objects.filter(pk=link_id, state=IssueLink.State.PENDING)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(claimed_until=now + _lease())
    )


def _save(link: IssueLink, **values: Any) -> None:
    """Set and store some of the link's fields (and always release the claim)."""
    values.setdefault("claimed_until", None)
    values["updated_at"] = timezone.now()
    for name, value in values.items():
        setattr(link, name, value)
    link.save(update_fields=list(values))


def forward_link(*, link_id: int) -> Step:
    """One attempt at the link's issue. Safe to run twice, and from two workers at once."""
    if not _claim(link_id):
        link = IssueLink.objects.filter(pk=link_id).first()
        if link is None or link.state != IssueLink.State.PENDING:
            return Step(link.state if link else "gone")
        # Another worker holds it; look again when its claim would have run out.
        left = (link.claimed_until - timezone.now()).total_seconds() if link.claimed_until else 1
        return Step(link.state, retry_in=max(1.0, left))
    link = IssueLink.objects.select_related("connection", "report__app").get(pk=link_id)
    connection = link.connection
    if connection.status != JiraConnection.Status.ACTIVE:
        if connection.status == JiraConnection.Status.NEEDS_REAUTH:
            # Marked by someone else (a refused OAuth refresh): the admins still hear of it once.
            _pause_for_auth(connection, None)
        _save(link, error_kind=IssueLink.ErrorKind.PAUSED, last_error=_paused_words(connection))
        return Step(link.state)
    try:
        client = client_for(connection)
        if link.create_started_at is not None:
            found = _find_created(client, link)
            if found is not None:
                return _linked(link, client, found, how="found")
            waited = (timezone.now() - link.create_started_at).total_seconds()
            window = settings.JIRA_SEARCH_CONSISTENCY_S
            if waited < window:
                # Jira may have created it and search not show it yet: look again before creating.
                retry = min(LOOKUP_EVERY_S, window - waited)
                _save(link, next_attempt_at=timezone.now() + timedelta(seconds=retry))
                return Step(link.state, retry_in=retry)
        return _create(link, client)
    except JiraError as exc:
        return _failed_attempt(link, exc)


def _plan(link: IssueLink) -> issue_builder.IssuePlan:
    connection = link.connection
    rows = services.mapping_rows(connection=connection)
    overrides = link.overrides or {}
    plan = services.issue_plan(connection, rows)
    return issue_builder.IssuePlan(
        project_id=plan.project_id,
        issue_type_id=plan.issue_type_id,
        assignee=overrides.get("assignee", plan.assignee),
        priority_names=plan.priority_names,
        mappings=plan.mappings,
        extra_labels=(link.label,),
    )


def build(link: IssueLink) -> issue_builder.BuiltIssue:
    """The issue exactly as it will be created (the preview shows this too)."""
    report = link.report
    overrides = link.overrides or {}
    if overrides.get("priority"):
        report.priority = overrides["priority"]
    built = issue_builder.build_issue(report, _plan(link), report_url=services.report_url(report))
    if overrides.get("summary"):
        built.fields["summary"] = str(overrides["summary"])[:255]
    return built


def _create(link: IssueLink, client: JiraClient) -> Step:
    built = build(link)
    # Committed before the call (we are in no transaction): if the answer never arrives, the
    # next attempt knows to look for the issue first.
    _save(
        link,
        create_started_at=timezone.now(),
        attempts=link.attempts + 1,
        claimed_until=timezone.now() + _lease(),
    )
    properties = [
        {"key": PROPERTY_KEY, "value": {"report": link.report_id, "link": link.pk, "app": link.report.app_id}}
    ]
    try:
        created = client.create_issue(built.fields, properties=properties)
    except JiraRateLimited as exc:
        if exc.status in (429, None):
            # Refused at the door (429) or never sent (a quota pause): no issue exists, so the
            # next attempt creates at once instead of searching for one.
            _save(link, create_started_at=None, claimed_until=link.claimed_until)
        raise
    return _linked(link, client, created, how="created")


def _find_created(client: JiraClient, link: IssueLink) -> dict[str, Any] | None:
    """The issue an earlier attempt may have created, by its unique label (oldest first)."""
    page = client.search_jql(
        f'labels = "{link.label}" ORDER BY created ASC', fields=("created",), max_results=5
    )
    issues = [i for i in page.get("issues") or [] if isinstance(i, dict) and i.get("key")]
    if len(issues) > 1:
        logger.error("jira.forward.duplicates_seen", extra={"link": link.pk, "count": len(issues)})
    return issues[0] if issues else None


def _linked(link: IssueLink, client: JiraClient, issue: dict[str, Any], *, how: str) -> Step:
    _save(
        link,
        state=IssueLink.State.LINKED,
        issue_id=str(issue.get("id") or ""),
        issue_key=str(issue.get("key") or ""),
        linked_at=timezone.now(),
        error_kind="",
        last_error="",
        error_field="",
        next_attempt_at=None,
    )
    logger.info("jira.forward.linked", extra={"link": link.pk, "key": link.issue_key, "how": how})
    _upload_attachments(link, client)
    return Step(link.state)


def _upload_attachments(link: IssueLink, client: JiraClient) -> None:
    """The report's files in one multipart call, within the site's upload limit. Never resent:
    an upload whose outcome is unknown is reported, not repeated (it would duplicate files)."""
    if link.attachments_done:
        return
    files = list(link.report.attachments.all())
    if not files:
        _save(link, attachments_done=True)
        return
    try:
        meta = _attachment_meta(link.connection, client)
        if not meta.get("enabled", True):
            _save(
                link, attachments_done=True, attachments_note="Attachments are turned off on this Jira site."
            )
            return
        limit = int(meta.get("uploadLimit") or 0)
        uploads: list[AttachmentUpload] = []
        skipped = []
        for attachment in files:
            if limit and attachment.size > limit:
                skipped.append(attachment.original_name)
                continue
            with attachment.file.open("rb") as handle:
                uploads.append((attachment.original_name, handle.read(), attachment.content_type))
        if uploads:
            client.add_attachments(link.issue_key, uploads)
        note = (
            f"Not uploaded, over the site's {limit // (1024 * 1024)} MB limit: {', '.join(skipped)}."
            if skipped
            else ""
        )
        _save(link, attachments_done=True, attachments_note=note)
    except (JiraError, OSError) as exc:
        words = exc.user_message if isinstance(exc, JiraError) else "a file could not be read"
        _save(link, attachments_done=True, attachments_note=f"Attachments were not uploaded: {words}")


ATTACHMENT_META_TTL_S = 60 * 60


def _attachment_meta(connection: JiraConnection, client: JiraClient) -> dict[str, Any]:
    """The site's attachment settings, asked once an hour per connection rather than per upload."""
    key = f"jira:attachment-meta:{connection.pk}"
    meta = cache.get(key)
    if meta is None:
        meta = client.attachment_meta()
        cache.set(key, meta, ATTACHMENT_META_TTL_S)
    return meta


def _failed_attempt(link: IssueLink, exc: JiraError) -> Step:
    now = timezone.now()
    if isinstance(exc, JiraAuthError):
        _pause_for_auth(link.connection, exc)
        _save(link, error_kind=IssueLink.ErrorKind.PAUSED, last_error=_paused_words(link.connection))
        return Step(link.state)
    if isinstance(exc, JiraValidationError | JiraPermissionError | JiraNotFound):
        field = next(iter(exc.field_errors), "") if isinstance(exc, JiraValidationError) else ""
        _save(
            link,
            state=IssueLink.State.FAILED,
            error_kind=IssueLink.ErrorKind.PERMANENT,
            last_error=exc.user_message[:500],
            error_field=field[:64],
            next_attempt_at=None,
        )
        logger.info("jira.forward.refused", extra={"link": link.pk, "status": exc.status})
        return Step(link.state)
    limited = isinstance(exc, JiraRateLimited)
    if link.attempts >= MAX_ATTEMPTS and not limited:
        _save(
            link,
            state=IssueLink.State.FAILED,
            error_kind=IssueLink.ErrorKind.TRANSIENT,
            last_error=f"Jira kept failing ({exc.user_message}) Press Retry to try again."[:500],
            next_attempt_at=None,
        )
        return Step(link.state)
    if isinstance(exc, JiraRateLimited) and exc.retry_after:
        wait = float(exc.retry_after)
    else:
        wait = float(BACKOFF_S[min(link.attempts, len(BACKOFF_S) - 1)])
    if isinstance(exc, JiraOutcomeUnknown):
        wait = float(LOOKUP_EVERY_S)  # look it up soon
    _save(
        link,
        # A create counted itself; being told to wait (429) is not a failed attempt.
        attempts=link.attempts if link.create_started_at or limited else link.attempts + 1,
        error_kind=IssueLink.ErrorKind.TRANSIENT,
        last_error=exc.user_message[:500],
        next_attempt_at=now + timedelta(seconds=wait),
    )
    logger.info("jira.forward.retry", extra={"link": link.pk, "wait_s": wait, "error": type(exc).__name__})
    return Step(link.state, retry_in=wait)


# ---------------------------------------------------------------------------------------------
# Pausing and resuming
# ---------------------------------------------------------------------------------------------


def _paused_words(connection: JiraConnection) -> str:
    return (
        "Waiting: the Jira connection needs attention "
        f"({connection.get_status_display().lower()}). It is sent once an admin fixes it in Settings."
    )


def _pause_for_auth(connection: JiraConnection, exc: JiraAuthError | None) -> None:
    """Mark the connection as needing re-authentication; its admins get one email, when it
    changes, not one per waiting report."""
    # Whoever noticed first (this attempt, or the OAuth refresh that was refused) marked it or
    # will; the email goes with the first marking of reauth_notified_at, once per breakage.
    marks: dict[str, Any] = {
        "status": JiraConnection.Status.NEEDS_REAUTH,
        "reauth_notified_at": timezone.now(),
    }
    if exc is not None:
        marks.update(last_error=exc.user_message[:500], last_error_at=timezone.now())
    changed = JiraConnection.objects.filter(pk=connection.pk, reauth_notified_at__isnull=True).update(**marks)
    connection.status = JiraConnection.Status.NEEDS_REAUTH
    if changed:
        _email_admins(connection)
        logger.warning("jira.connection.paused", extra={"connection": connection.pk})


def _email_admins(connection: JiraConnection) -> None:
    recipients = services.managers_emails(connection.app)
    if not recipients:
        return
    context = {
        "connection": connection,
        "app": connection.app,
        "link": settings.SITE_URL + reverse("jira_settings", kwargs={"app_id": connection.app_id}),
    }
    subject = render_to_string("integrations/email/reauth_subject.txt", context).strip()
    body = render_to_string("integrations/email/reauth.txt", context)
    send_mail(subject=subject, message=body, from_email=None, recipient_list=recipients)


def forward_resume(*, connection: JiraConnection) -> int:
    """Queue every link that waited for this connection (after it is authenticated again)."""
    waiting = list(
        IssueLink.objects.filter(connection=connection, state=IssueLink.State.PENDING).values_list(
            "pk", flat=True
        )
    )
    IssueLink.objects.filter(pk__in=waiting).update(
        error_kind="", last_error="", next_attempt_at=timezone.now()
    )
    for pk in waiting:
        _enqueue(pk)
    return len(waiting)


def forward_due(*, now: Any = None) -> int:
    """Queue pending links whose next attempt is due and nobody holds (beat runs this, so a lost
    message or a killed worker never leaves a report waiting for ever)."""
    now = now or timezone.now()
    due = list(
        IssueLink.objects.filter(
            state=IssueLink.State.PENDING, connection__status=JiraConnection.Status.ACTIVE
        )
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .values_list("pk", flat=True)[:500]
    )
    for pk in due:
        _enqueue(pk)
    return len(due)


# ---------------------------------------------------------------------------------------------
# Linking by hand
# ---------------------------------------------------------------------------------------------


def link_existing(*, report: BugReport, user: User | None, key_or_url: str) -> IssueLink:
    """Link the report to an issue that already exists, given its key or its URL on the
    connection's site; the issue must be readable. Raises NotConnected or a JiraError."""
    connection = usable_connection(report.app_id)
    key = _issue_key(key_or_url, connection.site_url)
    issue = client_for(connection).get_issue(key, fields=["status", "summary"])
    status = (issue.get("fields") or {}).get("status") or {}
    with transaction.atomic():
        link, created = IssueLink.objects.select_for_update().get_or_create(
            report=report, connection=connection, defaults={"label": report_label(report)}
        )
        if not created and link.state == IssueLink.State.PENDING:
            raise NotConnected(
                "This report is being sent to Jira right now. Wait for it, then change the link."
            )
        link.state, link.origin, link.requested_by = IssueLink.State.LINKED, IssueLink.Origin.LINKED, user
        link.issue_id, link.issue_key = str(issue.get("id") or ""), str(issue.get("key") or key)
        link.jira_status_name = str(status.get("name") or "")
        link.jira_status_category = str((status.get("statusCategory") or {}).get("key") or "")
        link.error_kind, link.last_error, link.error_field = "", "", ""
        link.create_started_at = link.claimed_until = link.next_attempt_at = None
        link.attachments_done = True
        link.linked_at = link.updated_at = timezone.now()
        link.save()
    return link


def unlink(*, report: BugReport) -> None:
    """Forget the report's link (the Jira issue stays as it is)."""
    IssueLink.objects.filter(report=report).exclude(state=IssueLink.State.PENDING).delete()


class BadIssueReference(NotConnected):
    pass


def _issue_key(value: str, site_url: str) -> str:
    value = value.strip()
    if re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*-\d+", value):
        return value.upper()
    match = re.fullmatch(
        r"(https?://[^/]+(?:/[^?#]*?)?)/browse/([A-Za-z][A-Za-z0-9_]*-\d+)/?(?:[?#].*)?", value
    )
    if match is None:
        raise BadIssueReference("Enter an issue key like MOB-12, or the issue's address in Jira.")
    if match.group(1).rstrip("/") != site_url.rstrip("/"):
        raise BadIssueReference(f"That issue is not on {site_url}, the site this app is connected to.")
    return match.group(2).upper()


# ---------------------------------------------------------------------------------------------
# The Jira status of new issues (a create answers with the key only)
# ---------------------------------------------------------------------------------------------

# search/jql's reconcileIssues takes at most this many ids: read-after-write for issues just made.
STATUS_BATCH = 50


def link_statuses_fill(*, connection: JiraConnection) -> int:
    """Fill in the Jira status of linked issues that have none yet (just created), with one
    search per 50 issues. Returns how many links got theirs."""
    links = list(
        IssueLink.objects.filter(connection=connection, state=IssueLink.State.LINKED, jira_status_name="")
        .exclude(issue_id="")
        .order_by("linked_at")[:STATUS_BATCH]
    )
    if not links:
        return 0
    ids = [int(link.issue_id) for link in links if link.issue_id.isdigit()]
    page = client_for(connection).search_jql(
        f"id in ({', '.join(str(i) for i in ids)})",
        fields=("status",),
        max_results=STATUS_BATCH,
        reconcile_issues=ids,
    )
    found = {
        str(issue.get("id")): (issue.get("fields") or {}).get("status") or {}
        for issue in page.get("issues") or []
    }
    filled = 0
    for link in links:
        status = found.get(link.issue_id)
        if not status:
            continue
        IssueLink.objects.filter(pk=link.pk, jira_status_name="").update(
            jira_status_name=str(status.get("name") or "")[:255],
            jira_status_category=str((status.get("statusCategory") or {}).get("key") or "")[:32],
        )
        filled += 1
    return filled


def link_statuses_fill_all() -> int:
    """Every usable connection's new issues (beat runs this every minute)."""
    filled = 0
    for connection in JiraConnection.objects.filter(status=JiraConnection.Status.ACTIVE).exclude(
        project_id=""
    ):
        try:
            filled += link_statuses_fill(connection=connection)
        except JiraError as exc:  # the connection's health records it; the next run tries again
            logger.info(
                "jira.forward.statuses_skipped",
                extra={"connection": connection.pk, "error": type(exc).__name__},
            )
    return filled
