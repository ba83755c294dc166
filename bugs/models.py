"""Apps, their bug reports, and what hangs off a report (attachments, comments, activity)."""

from __future__ import annotations

import uuid
from pathlib import PurePath

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from accounts.models import Organization


class Platform(models.TextChoices):
    IOS = "ios", "iOS"
    ANDROID = "android", "Android"
    REACT_NATIVE = "react_native", "React Native"
    FLUTTER = "flutter", "Flutter"
    WEB = "web", "Web"


class App(models.Model):
    """A mobile (or web) app whose SDK sends reports. Its SDK token is stored only as a hash."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="apps")
    name = models.CharField(max_length=120)
    platform = models.CharField(max_length=20, choices=Platform.choices)
    sdk_token_hash = models.CharField(max_length=64, unique=True)
    # The first characters of the token, so people can tell which token a device is using.
    sdk_token_prefix = models.CharField(max_length=16)
    sdk_token_rotated_at = models.DateTimeField(default=timezone.now)
    # The last number handed out; incremented with an UPDATE so concurrent inserts never share one.
    report_counter = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint("organization", Lower("name"), name="uniq_app_name_per_organization")
        ]

    def __str__(self) -> str:
        return self.name


class Status(models.TextChoices):
    NEW = "new", "New"
    IN_PROGRESS = "in_progress", "In progress"
    CLOSED = "closed", "Closed"


class Priority(models.TextChoices):
    NA = "na", "NA"
    TRIVIAL = "trivial", "Trivial"
    MINOR = "minor", "Minor"
    MAJOR = "major", "Major"
    BLOCKER = "blocker", "Blocker"


# Sorting by priority compares this rank, stored beside the label, so an index can serve it.
PRIORITY_RANK = {
    Priority.NA: 0,
    Priority.TRIVIAL: 1,
    Priority.MINOR: 2,
    Priority.MAJOR: 3,
    Priority.BLOCKER: 4,
}


class BugReport(models.Model):
    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="reports")
    number = models.PositiveIntegerField()
    title = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    reproduction_steps = models.JSONField(default=list, blank=True)
    reporter_email = models.EmailField(blank=True)
    reporter_name = models.CharField(max_length=150, blank=True)
    device_model = models.CharField(max_length=100, blank=True)
    os_name = models.CharField(max_length=50, blank=True)
    os_version = models.CharField(max_length=50, blank=True)
    app_version = models.CharField(max_length=50, blank=True)
    app_build = models.CharField(max_length=50, blank=True)
    current_view = models.CharField(max_length=255, blank=True)
    locale = models.CharField(max_length=35, blank=True)
    tags = models.JSONField(default=list, blank=True)
    user_attributes = models.JSONField(default=dict, blank=True)
    console_logs = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NEW)
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.NA)
    priority_rank = models.PositiveSmallIntegerField(default=0, editable=False)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_reports",
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["app", "number"], name="uniq_report_number_per_app")]
        # Each index leads with app (every list is per app) and ends with the sort key, so a
        # filter plus "newest first" is one index range scan.
        indexes = [
            models.Index(fields=["app", "-created_at", "-id"], name="report_app_created"),
            models.Index(fields=["app", "-updated_at", "-id"], name="report_app_updated"),
            models.Index(fields=["app", "status", "-created_at"], name="report_app_status"),
            models.Index(fields=["app", "-priority_rank", "-created_at"], name="report_app_priority"),
            models.Index(fields=["app", "assignee", "-created_at"], name="report_app_assignee"),
            models.Index(fields=["app", "app_version", "-created_at"], name="report_app_version"),
            models.Index(fields=["app", "os_name", "-created_at"], name="report_app_os"),
            models.Index(fields=["-created_at", "-id"], name="report_created"),
        ]

    def __str__(self) -> str:
        return f"#{self.number} {self.title}"

    def save(self, *args: object, **kwargs: object) -> None:
        self.priority_rank = PRIORITY_RANK[Priority(self.priority)]
        super().save(*args, **kwargs)  # type: ignore[arg-type]


class ReportTag(models.Model):
    """One tag of a report, as a row: `tags` (JSON) is what pages show, this is what the tag
    filter queries, portably and through an index."""

    report = models.ForeignKey(BugReport, on_delete=models.CASCADE, related_name="tag_rows")
    name = models.CharField(max_length=50)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["report", "name"], name="uniq_report_tag")]
        indexes = [models.Index(fields=["name", "report"], name="report_tag_name")]

    def __str__(self) -> str:
        return self.name


class AttachmentKind(models.TextChoices):
    SCREENSHOT = "screenshot", "Screenshot"
    RECORDING = "recording", "Screen recording"
    LOG = "log", "Log file"


def attachment_path(instance: Attachment, filename: str) -> str:
    # A random name: the original is kept in a column, never trusted as a path.
    suffix = PurePath(filename).suffix.lower()[:10]
    return f"attachments/{instance.report.app_id}/{uuid.uuid4().hex}{suffix}"


class Attachment(models.Model):
    report = models.ForeignKey(BugReport, on_delete=models.CASCADE, related_name="attachments")
    kind = models.CharField(max_length=20, choices=AttachmentKind.choices)
    file = models.FileField(upload_to=attachment_path, max_length=255)
    original_name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.original_name

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/")


class CommentOrigin(models.TextChoices):
    DASHBOARD = "dashboard", "Dashboard"
    JIRA = "jira", "Jira"


class Comment(models.Model):
    report = models.ForeignKey(BugReport, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Kept for comments from Jira, whose authors have no account here.
    author_name = models.CharField(max_length=150, blank=True)
    body = models.TextField()
    origin = models.CharField(max_length=10, choices=CommentOrigin.choices, default=CommentOrigin.DASHBOARD)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"Comment by {self.display_author} on {self.report}"

    @property
    def is_edited(self) -> bool:
        return (self.updated_at - self.created_at).total_seconds() > 2

    @property
    def display_author(self) -> str:
        if self.author is not None:
            return self.author.display_name
        return self.author_name or "Someone"


class ActivityKind(models.TextChoices):
    STATUS = "status", "Status"
    PRIORITY = "priority", "Priority"
    ASSIGNEE = "assignee", "Assignee"


class Activity(models.Model):
    """One change of a report's status, priority or assignee: who, when, from, to."""

    report = models.ForeignKey(BugReport, on_delete=models.CASCADE, related_name="activities")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Who made a change that came from Jira (a Jira person has no account here).
    actor_name = models.CharField(max_length=150, blank=True)
    kind = models.CharField(max_length=20, choices=ActivityKind.choices)
    from_value = models.CharField(max_length=255, blank=True)
    to_value = models.CharField(max_length=255, blank=True)
    origin = models.CharField(max_length=10, choices=CommentOrigin.choices, default=CommentOrigin.DASHBOARD)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name_plural = "activities"

    def __str__(self) -> str:
        return f"{self.kind}: {self.from_value} → {self.to_value}"


class IdempotencyKey(models.Model):
    """The first answer to an SDK request with an Idempotency-Key, replayed for 24 hours."""

    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    report = models.ForeignKey(BugReport, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["app", "key"], name="uniq_idempotency_key_per_app")]

    def __str__(self) -> str:
        return f"{self.key} → report {self.report_id}"
