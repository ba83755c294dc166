"""Every write to apps, reports, attachments and comments goes through here."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import Membership, Organization, User
from accounts.tokens import hash_secret, new_secret

from . import signals
from .attachments import attachment_check
from .errors import BugsError, IdempotencyConflict, NotAMember
from .models import (
    Activity,
    App,
    Attachment,
    BugReport,
    Comment,
    CommentOrigin,
    IdempotencyKey,
    Priority,
    ReportTag,
    Status,
)

logger = logging.getLogger(__name__)

SDK_TOKEN_PREFIX = "bb_"  # noqa: S105  (a prefix, not a secret)

# The report fields an SDK (or the demo seed) may set at creation.
REPORT_INPUT_FIELDS = frozenset(
    {
        "title",
        "description",
        "reproduction_steps",
        "reporter_email",
        "reporter_name",
        "device_model",
        "os_name",
        "os_version",
        "app_version",
        "app_build",
        "current_view",
        "locale",
        "tags",
        "user_attributes",
        "console_logs",
        "priority",
    }
)


# --- apps -------------------------------------------------------------------------------------


def _token_fields(token: str) -> dict[str, Any]:
    return {
        "sdk_token_hash": hash_secret(token),
        "sdk_token_prefix": token[: len(SDK_TOKEN_PREFIX) + 6],
        "sdk_token_rotated_at": timezone.now(),
    }


@transaction.atomic
def app_create(
    *, organization: Organization, name: str, platform: str, token: str | None = None
) -> tuple[App, str]:
    """A new app and its SDK token. The token is returned once and stored only as a hash."""
    token = token or new_secret(SDK_TOKEN_PREFIX)
    app = App.objects.create(
        organization=organization, name=name.strip(), platform=platform, **_token_fields(token)
    )
    logger.info("bugs.app.created", extra={"app_id": app.pk, "organization_id": organization.pk})
    return app, token


@transaction.atomic
def app_rotate_token(*, app: App) -> str:
    """Issue a new SDK token; the old one stops working as soon as this commits."""
    token = new_secret(SDK_TOKEN_PREFIX)
    for field, value in _token_fields(token).items():
        setattr(app, field, value)
    app.save(update_fields=["sdk_token_hash", "sdk_token_prefix", "sdk_token_rotated_at"])
    logger.info("bugs.app.token_rotated", extra={"app_id": app.pk})
    return token


# --- reports ----------------------------------------------------------------------------------


def _next_number(app_id: int) -> int:
    # One UPDATE … RETURNING (SQLite ≥ 3.35, PostgreSQL): it takes the row's write lock, so a
    # concurrent insert waits for our commit and then gets the next number; never a shared one.
    table = connection.ops.quote_name(App._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET report_counter = report_counter + 1 WHERE id = %s "  # noqa: S608
            "RETURNING report_counter",
            [app_id],
        )
        return cursor.fetchone()[0]


@transaction.atomic
def report_create(*, app: App, fields: Mapping[str, Any]) -> BugReport:
    """Save a new report with the next number of its app; `report_created` fires on commit."""
    unknown = set(fields) - REPORT_INPUT_FIELDS - {"created_at", "status", "assignee"}
    if unknown:
        raise ValueError(f"Unknown report fields: {sorted(unknown)}")
    report = BugReport(app=app, number=_next_number(app.pk), **fields)
    report.save()
    if report.tags:
        names = {str(tag).strip().lower()[:50] for tag in report.tags} - {""}
        ReportTag.objects.bulk_create([ReportTag(report=report, name=name) for name in names])
    transaction.on_commit(lambda: signals.report_created.send(sender=BugReport, report=report))
    logger.info("bugs.report.created", extra={"app_id": app.pk, "report_id": report.pk})
    return report


def request_fingerprint(payload: Mapping[str, Any]) -> str:
    """A stable hash of a request body, to tell a retry from a different request."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def report_ingest(
    *, app: App, fields: Mapping[str, Any], idempotency_key: str | None = None
) -> tuple[BugReport, bool]:
    """Create a report from the SDK. With an idempotency key, a retry within the TTL returns
    the first report instead of creating another. Returns (report, created)."""
    if not idempotency_key:
        return report_create(app=app, fields=fields), True
    fingerprint = request_fingerprint(fields)
    cutoff = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_TTL_HOURS)
    try:
        with transaction.atomic():
            # An expired key is free to be used again.
            IdempotencyKey.objects.filter(app=app, key=idempotency_key, created_at__lt=cutoff).delete()
            report = report_create(app=app, fields=fields)
            # The unique (app, key) constraint makes a concurrent twin wait for this commit,
            # then fail here and fall through to replaying our report.
            IdempotencyKey.objects.create(
                app=app, key=idempotency_key, request_hash=fingerprint, report=report
            )
            return report, True
    except IntegrityError:
        existing = IdempotencyKey.objects.select_related("report").get(app=app, key=idempotency_key)
        if existing.request_hash != fingerprint:
            raise IdempotencyConflict(
                "This Idempotency-Key was already used with a different request body. "
                "Use a new key for a new report."
            ) from None
        return existing.report, False


def idempotency_keys_purge() -> int:
    """Forget keys past their TTL. Returns how many were deleted."""
    cutoff = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_TTL_HOURS)
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted


UNSET: Any = object()


@transaction.atomic
def report_update(
    *,
    report: BugReport,
    actor: User | None,
    status: str | None = None,
    priority: str | None = None,
    assignee: User | None = UNSET,
    origin: str = CommentOrigin.DASHBOARD,
    actor_name: str = "",
) -> list[Activity]:
    """Change status, priority and/or assignee, recording one activity per real change.
    `actor_name`: who made a change that came from elsewhere (Jira), when there is no `actor`."""
    changes: dict[str, tuple[str, str]] = {}
    activities: list[Activity] = []
    if status is not None and status != report.status:
        Status(status)  # a ValueError for anything else
        changes["status"] = (report.get_status_display(), Status(status).label)
        report.status = status
    if priority is not None and priority != report.priority:
        Priority(priority)
        changes["priority"] = (report.get_priority_display(), Priority(priority).label)
        report.priority = priority
    if assignee is not UNSET and assignee != report.assignee:
        if (
            assignee is not None
            and not Membership.objects.filter(
                organization_id=report.app.organization_id, user=assignee
            ).exists()
        ):
            raise NotAMember(f"{assignee} is not a member of this organization.")
        old = report.assignee.display_name if report.assignee else "Unassigned"
        changes["assignee"] = (old, assignee.display_name if assignee else "Unassigned")
        report.assignee = assignee
    if not changes:
        return activities
    # Only what changed: a whole-row save would write back the other fields as this request read
    # them, undoing a change made meanwhile by someone else (or by Jira sync, on the other field).
    columns = {"status": ["status"], "priority": ["priority", "priority_rank"], "assignee": ["assignee"]}
    report.save(update_fields=[c for kind in changes for c in columns[kind]] + ["updated_at"])
    for kind, (old, new) in changes.items():
        activities.append(
            Activity.objects.create(
                report=report,
                actor=actor,
                actor_name=actor_name[:150],
                kind=kind,
                from_value=old,
                to_value=new,
                origin=origin,
            )
        )
    transaction.on_commit(
        lambda: signals.report_changed.send(
            sender=BugReport, report=report, changes=changes, actor=actor, origin=origin
        )
    )
    return activities


BULK_LIMIT = 1000


@transaction.atomic
def reports_bulk_update(
    *,
    reports: QuerySet[BugReport],
    actor: User | None,
    status: str | None = None,
    priority: str | None = None,
    assignee: User | None = UNSET,
) -> int:
    """The same change on many reports, each recorded as if made one by one (activity, signals).
    Returns how many changed. Refuses more than BULK_LIMIT at once, before touching any."""
    total = reports.count()
    if total > BULK_LIMIT:
        raise BugsError(
            f"{total} reports match: at most {BULK_LIMIT} can be changed at once. Narrow the filter."
        )
    changed = 0
    for report in reports.select_related("app", "assignee").order_by("pk"):
        changed += bool(
            report_update(report=report, actor=actor, status=status, priority=priority, assignee=assignee)
        )
    return changed


# --- attachments ------------------------------------------------------------------------------


def attachments_add(*, report: BugReport, files: Iterable[UploadedFile]) -> list[Attachment]:
    """Store files on a report: all of them or, if any is rejected, none."""
    files = list(files)
    checked = [(upload, attachment_check(upload)) for upload in files]
    saved: list[Attachment] = []
    try:
        with transaction.atomic():
            for upload, allowed in checked:
                attachment = Attachment(
                    report=report,
                    kind=allowed.kind,
                    original_name=(upload.name or "file")[-255:],
                    content_type=upload.content_type.split(";")[0].strip().lower(),
                    size=upload.size,
                )
                attachment.file.save(upload.name or "file", upload, save=False)
                saved.append(attachment)
                attachment.save()
    except Exception:
        # The rows rolled back; the files already written must go too.
        for attachment in saved:
            attachment.file.delete(save=False)
        raise
    logger.info("bugs.attachments.added", extra={"report_id": report.pk, "count": len(saved)})
    return saved


# --- comments ---------------------------------------------------------------------------------


@transaction.atomic
def comment_create(
    *,
    report: BugReport,
    body: str,
    author: User | None,
    author_name: str = "",
    origin: str = CommentOrigin.DASHBOARD,
) -> Comment:
    comment = Comment.objects.create(
        report=report, body=body.strip(), author=author, author_name=author_name, origin=origin
    )
    BugReport.objects.filter(pk=report.pk).update(updated_at=timezone.now())
    transaction.on_commit(
        lambda: signals.comment_changed.send(sender=Comment, comment=comment, action="created", origin=origin)
    )
    return comment


@transaction.atomic
def comment_update(*, comment: Comment, body: str, origin: str = CommentOrigin.DASHBOARD) -> Comment:
    """Replace a comment's text; `origin` says where the edit was made (Jira's are not sent back)."""
    comment.body = body.strip()
    comment.save(update_fields=["body", "updated_at"])
    transaction.on_commit(
        lambda: signals.comment_changed.send(sender=Comment, comment=comment, action="updated", origin=origin)
    )
    return comment


@transaction.atomic
def comment_delete(*, comment: Comment, origin: str = CommentOrigin.DASHBOARD) -> None:
    comment_id = comment.pk
    comment.delete()
    comment.pk = comment_id
    transaction.on_commit(
        lambda: signals.comment_changed.send(sender=Comment, comment=comment, action="deleted", origin=origin)
    )
