"""The only place comments, entity properties and attachments change.

The REST handlers, the issue services (a comment riding along with an edit or a transition) and
the sandbox's own UI all call these, so each change behaves the same whichever door it came
through: ids come from the Site's counters under a row lock, a comment or attachment change moves
the issue's `updated` and search-index moment, and the webhook events are raised in the same
transaction as Jira raises them (a comment fires its comment event AND `jira:issue_updated`,
API-NOTES §2.4). Bad input raises `validation.ValidationFailed` (400, or 413 for Jira's limits).
"""

from __future__ import annotations

import json
import mimetypes
from datetime import datetime, timedelta
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from . import events
from .knobs import Knobs
from .models import Account, Attachment, ChangelogEntry, Comment, Issue
from .services import allocate
from .validation import (
    ADF_REQUIRED,
    PROPERTY_KEY_LIMIT,
    PROPERTY_VALUE_LIMIT,
    ValidationFailed,
    is_adf,
    validate_properties,
)

# Per-issue limits Jira enforces with a 413 (API-NOTES §7, §8).
COMMENT_LIMIT = 5000
ATTACHMENT_LIMIT = 2000
FILES_PER_REQUEST = 60
EMPTY_BODY = "Comment body can not be empty!"
VISIBILITY_TYPES = ("group", "role")


# ---------------------------------------------------------------------------------------------
# Shared bookkeeping
# ---------------------------------------------------------------------------------------------


def _touch(issue: Issue, now: datetime) -> None:
    """The issue changed: `updated` moves, and search sees it after the site's staleness window."""
    issue.updated = now
    issue.indexed_at = now + timedelta(seconds=Knobs.of(issue.site).search_staleness_s)
    issue.save(update_fields=["updated", "indexed_at"])


def _check_body(body: Any) -> dict[str, Any]:
    if body in (None, "", {}):
        raise ValidationFailed(errors={"comment": EMPTY_BODY})
    if not is_adf(body):
        raise ValidationFailed(errors={"comment": ADF_REQUIRED})
    return body


def _check_visibility(visibility: Any) -> dict[str, Any] | None:
    """`{"type": "group"|"role", "value" or "identifier": name}`; the sandbox has every role."""
    if visibility is None:
        return None
    if not isinstance(visibility, dict) or visibility.get("type") not in VISIBILITY_TYPES:
        raise ValidationFailed(errors={"visibility": "Visibility type must be 'group' or 'role'."})
    name = visibility.get("identifier") or visibility.get("value")
    if not isinstance(name, str) or not name.strip():
        raise ValidationFailed(errors={"visibility": "Specify the group or role the comment is visible to."})
    return {k: v for k, v in visibility.items() if k in ("type", "value", "identifier")}


# ---------------------------------------------------------------------------------------------
# Comments
# ---------------------------------------------------------------------------------------------


@transaction.atomic
def comment_add(
    *,
    issue: Issue,
    author: Account | None,
    body: dict[str, Any],
    properties: list[Any] | None = None,
    visibility: dict[str, Any] | None = None,
) -> Comment:
    """Add an ADF comment (with optional properties and visibility) as `POST …/comment` does."""
    body = _check_body(body)
    stored_properties = validate_properties(properties)
    stored_visibility = _check_visibility(visibility)
    if Comment.objects.filter(issue=issue).count() >= COMMENT_LIMIT:
        raise ValidationFailed([f"This issue has reached the limit of {COMMENT_LIMIT} comments."], status=413)
    comment_id = allocate(issue.site, "next_comment_id")
    now = timezone.now()
    comment = Comment.objects.create(
        issue=issue,
        comment_id=comment_id,
        author=author,
        update_author=author,
        body=body,
        properties=stored_properties,
        visibility=stored_visibility,
        created=now,
        updated=now,
    )
    _touch(issue, now)
    events.comment_created(comment, author)
    events.issue_updated(issue, author, None, event_type_name="issue_commented", comment=comment)
    return comment


@transaction.atomic
def comment_edit(
    *,
    comment: Comment,
    author: Account | None,
    body: dict[str, Any],
    properties: list[Any] | None = None,
    visibility: dict[str, Any] | None = None,
) -> Comment:
    """Replace the body (and set the given properties, and visibility when given) of a comment."""
    body = _check_body(body)
    new_properties = validate_properties(properties)
    stored_visibility = _check_visibility(visibility)
    now = timezone.now()
    comment.body = body
    comment.properties = {**(comment.properties or {}), **new_properties}
    if stored_visibility is not None:
        comment.visibility = stored_visibility
    comment.update_author = author
    comment.updated = now
    comment.save(update_fields=["body", "properties", "visibility", "update_author", "updated"])
    issue = comment.issue
    _touch(issue, now)
    events.comment_updated(comment, author)
    events.issue_updated(issue, author, None, event_type_name="issue_comment_edited", comment=comment)
    return comment


@transaction.atomic
def comment_delete(*, comment: Comment, actor: Account | None) -> None:
    """Delete a comment; its events are raised first, while the row still exists."""
    issue = comment.issue
    _touch(issue, timezone.now())
    events.comment_deleted(comment, actor)
    events.issue_updated(issue, actor, None, event_type_name="issue_comment_deleted", comment=comment)
    comment.delete()


# ---------------------------------------------------------------------------------------------
# Entity properties (issues and comments)
# ---------------------------------------------------------------------------------------------


def check_property(key: Any, value: Any) -> None:
    """Jira's rules for an entity property: a key of 1..255 characters, a value of at most
    32 768 characters of JSON. ValidationFailed (400) otherwise."""
    if not isinstance(key, str) or not key.strip():
        raise ValidationFailed(["The property key cannot be empty."])
    if len(key) > PROPERTY_KEY_LIMIT:
        raise ValidationFailed([f"The property key cannot be longer than {PROPERTY_KEY_LIMIT} characters."])
    if len(json.dumps(value, separators=(",", ":"), ensure_ascii=False)) > PROPERTY_VALUE_LIMIT:
        raise ValidationFailed(
            [f"The property value cannot be longer than {PROPERTY_VALUE_LIMIT} characters."]
        )


def _set_property(model: type[Issue] | type[Comment], pk: int, key: str, value: Any) -> tuple[dict, bool]:
    check_property(key, value)
    # Lock the row: two writers of different keys must not lose each other's property.
    row = model.objects.select_for_update().only("pk", "properties").get(pk=pk)
    stored = dict(row.properties or {})
    created = key not in stored
    stored[key] = value
    model.objects.filter(pk=pk).update(properties=stored)
    return stored, created


def _delete_property(model: type[Issue] | type[Comment], pk: int, key: str) -> dict:
    row = model.objects.select_for_update().only("pk", "properties").get(pk=pk)
    stored = dict(row.properties or {})
    stored.pop(key, None)
    model.objects.filter(pk=pk).update(properties=stored)
    return stored


@transaction.atomic
def issue_property_set(*, issue: Issue, key: str, value: Any) -> bool:
    """Set an issue entity property; True when it was created, False when replaced."""
    issue.properties, created = _set_property(Issue, issue.pk, key, value)
    return created


@transaction.atomic
def issue_property_delete(*, issue: Issue, key: str) -> None:
    """Remove an issue entity property (nothing happens when it is not there)."""
    issue.properties = _delete_property(Issue, issue.pk, key)


@transaction.atomic
def comment_property_set(*, comment: Comment, key: str, value: Any) -> bool:
    """Set a comment property; True when it was created, False when replaced."""
    comment.properties, created = _set_property(Comment, comment.pk, key, value)
    return created


@transaction.atomic
def comment_property_delete(*, comment: Comment, key: str) -> None:
    """Remove a comment property (nothing happens when it is not there)."""
    comment.properties = _delete_property(Comment, comment.pk, key)


# ---------------------------------------------------------------------------------------------
# Attachments
# ---------------------------------------------------------------------------------------------


def _mime_type(upload: UploadedFile) -> str:
    # Jira sniffs the type itself; the part's declared type is kept unless it says nothing useful.
    declared = (upload.content_type or "").split(";")[0].strip()
    if declared and declared != "application/octet-stream":
        return declared
    guessed, _ = mimetypes.guess_type(upload.name or "")
    return guessed or "application/octet-stream"


def _check_uploads(issue: Issue, files: list[UploadedFile]) -> None:
    if not files:
        raise ValidationFailed(["No file was attached: send the files as multipart parts named 'file'."])
    if len(files) > FILES_PER_REQUEST:
        raise ValidationFailed(
            [f"Too many files: at most {FILES_PER_REQUEST} can be attached in one request."], status=413
        )
    limit = Knobs.of(issue.site).upload_limit
    too_big = [f for f in files if (f.size or 0) > limit]
    if too_big:
        raise ValidationFailed(
            [
                f"The file '{f.name}' is {f.size} bytes, larger than the maximum attachment size "
                f"of {limit} bytes."
                for f in too_big
            ],
            status=413,
        )
    if Attachment.objects.filter(issue=issue).count() + len(files) > ATTACHMENT_LIMIT:
        raise ValidationFailed(
            [f"This issue has reached the limit of {ATTACHMENT_LIMIT} attachments."], status=413
        )


def _attachment_change(issue: Issue, actor: Account | None, items: list[dict[str, Any]]) -> None:
    """Attachments show in the issue's history and fire `jira:issue_updated`, as on Jira."""
    changelog_id = allocate(issue.site, "next_changelog_id")
    now = timezone.now()
    _touch(issue, now)
    entry = ChangelogEntry.objects.create(
        issue=issue, changelog_id=changelog_id, author=actor, created=now, items=items
    )
    events.issue_updated(issue, actor, entry, event_type_name="issue_updated")


def _attachment_item(attachment: Attachment, *, added: bool) -> dict[str, Any]:
    ident, name = str(attachment.attachment_id), attachment.filename
    return {
        "field": "Attachment",
        "fieldtype": "jira",
        "fieldId": "attachment",
        "from": None if added else ident,
        "fromString": None if added else name,
        "to": ident if added else None,
        "toString": name if added else None,
    }


@transaction.atomic
def attachments_add(*, issue: Issue, author: Account | None, files: list[UploadedFile]) -> list[Attachment]:
    """Store uploaded files on the issue: all of them or (over a limit: 413) none."""
    _check_uploads(issue, files)
    first_id = allocate(issue.site, "next_attachment_id", len(files))
    now = timezone.now()
    stored = []
    for offset, upload in enumerate(files):
        content = upload.read()
        stored.append(
            Attachment.objects.create(
                issue=issue,
                attachment_id=first_id + offset,
                filename=(upload.name or "file")[:255],
                mime_type=_mime_type(upload)[:120],
                size=len(content),
                content=content,
                author=author,
                created=now,
            )
        )
    _attachment_change(issue, author, [_attachment_item(a, added=True) for a in stored])
    return stored


@transaction.atomic
def attachment_delete(*, attachment: Attachment, actor: Account | None) -> None:
    """Remove an attachment (recorded in the issue's history)."""
    issue = attachment.issue
    item = _attachment_item(attachment, added=False)
    attachment.delete()
    _attachment_change(issue, actor, [item])
