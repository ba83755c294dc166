"""The Jira Cloud connection of an app, and the Connect installations that can back one.

Secrets live in one encrypted JSON column per row (`credentials`), read and written only through
`secrets()` / `set_secrets()`, so no form, page, log or admin field ever holds them in clear
(the admin masks the column). What is not secret stays in plain columns the pages can show: the
identity, the site, when the secret expires, the health fields.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from bugs.models import App

from .encryption import EncryptedTextField


class AuthType(models.TextChoices):
    """Jira Cloud's five ways in, in the order the wizard offers them."""

    OAUTH2 = "oauth2", "OAuth 2.0 (Recommended)"
    OAUTH_SERVICE_ACCOUNT = "oauth_service_account", "OAuth service accounts"
    SCOPED_TOKEN = "scoped_token", "Service accounts with scoped API Tokens"
    BASIC = "basic", "Basic Authentication"
    CONNECT = "connect", "Bugbridge Add-on (Legacy)"


class ConnectInstallation(models.Model):
    """One Jira site's install of our Connect add-on (one per clientKey; a reinstall updates it)."""

    client_key = models.CharField(max_length=255, unique=True)
    shared_secret = EncryptedTextField()
    base_url = models.CharField(max_length=255)
    display_url = models.CharField(max_length=255, blank=True)
    installed_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    uninstalled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-installed_at"]

    def __str__(self) -> str:
        return self.base_url


class JiraConnection(models.Model):
    """How one app reaches Jira Cloud. Unsaved instances are the wizard's drafts."""

    UNASSIGNED = "unassigned"  # default_assignee: leave new issues unassigned

    class Status(models.TextChoices):
        ACTIVE = "active", "Connected"
        NEEDS_REAUTH = "needs_reauth", "Needs re-authentication"
        DISCONNECTED = "disconnected", "Disconnected"

    app = models.OneToOneField(App, on_delete=models.CASCADE, related_name="jira_connection")
    auth_type = models.CharField(max_length=32, choices=AuthType.choices)
    site_url = models.CharField(max_length=255)
    cloud_id = models.CharField(max_length=64, blank=True)
    # JSON of the auth type's secrets (tokens, client secret, API token): see secrets().
    credentials = EncryptedTextField(blank=True, default="")
    # When an admin last entered them (forms show "set on <date>" instead of the secret).
    credentials_set_at = models.DateTimeField(null=True, blank=True)
    # When the current access token stops working (OAuth); not a secret, it saves a decrypt.
    access_expires_at = models.DateTimeField(null=True, blank=True)
    # When the long-lived secret dies: the API token's expiry (Basic, scoped), the refresh
    # token's 365-day limit (OAuth 2.0). Drives the rotation reminders.
    secret_expires_at = models.DateTimeField(null=True, blank=True)
    # The last expiry reminder sent for the current secret, in days before expiry (14, 3, 0);
    # None once new credentials are saved. See services.credential_expiry_reminders.
    expiry_reminder_days = models.PositiveSmallIntegerField(null=True, blank=True)
    # SQLite's stand-in for a row lock while one process refreshes the OAuth tokens.
    refresh_lease_until = models.DateTimeField(null=True, blank=True)
    connect_installation = models.ForeignKey(
        ConnectInstallation, on_delete=models.SET_NULL, null=True, blank=True, related_name="connections"
    )
    # Where issues go (the wizard's Set up step): the project, its issue type, and the default
    # assignee ("" = the project's default, "unassigned", or an account id).
    project_id = models.CharField(max_length=32, blank=True)
    project_key = models.CharField(max_length=32, blank=True)
    project_name = models.CharField(max_length=255, blank=True)
    issue_type_id = models.CharField(max_length=32, blank=True)
    issue_type_name = models.CharField(max_length=255, blank=True)
    default_assignee = models.CharField(max_length=128, blank=True)
    default_assignee_name = models.CharField(max_length=255, blank=True)
    # Jira status id → report status (defaulted from the status category, editable in Set up).
    status_map = models.JSONField(default=dict, blank=True)
    # Whether priority syncs both ways: only while the project uses Jira's default five.
    priority_two_way = models.BooleanField(default=False)
    # Our priority → the Jira priority name new issues get: the table's names this project's
    # create screen offers (a priority it lacks is not sent rather than refused by Jira).
    priority_names = models.JSONField(default=dict, blank=True)
    # The Finish step's switches. Automatic forwarding of new reports, with an optional rule
    # (a minimum priority, and/or any of some tags); two-way sync, per kind of change.
    auto_forward = models.BooleanField(default=False)
    forward_min_priority = models.CharField(max_length=10, blank=True)
    forward_tags = models.JSONField(default=list, blank=True)
    sync_status = models.BooleanField(default=False)
    sync_priority = models.BooleanField(default=False)
    sync_comments = models.BooleanField(default=False)
    # When the wizard last finished for this connection (None: saved before Finish existed).
    configured_at = models.DateTimeField(null=True, blank=True)
    # Webhooks this connection registered in Jira (dynamic ids for OAuth 2.0, one admin webhook
    # id for the other types), so Disconnect can remove them. Empty: none registered.
    webhook_kind = models.CharField(max_length=16, blank=True)
    webhook_ids = models.JSONField(default=list, blank=True)
    webhook_expires_at = models.DateTimeField(null=True, blank=True)
    # Why the last attempt to register webhooks failed ("" when it worked or was not needed).
    webhook_error = models.CharField(max_length=500, blank=True)
    # Two-way sync's health: the last signed delivery, the last reconciliation pass, and the
    # watermark it moved (issues updated since then, minus an overlap, are searched next time).
    last_delivery_at = models.DateTimeField(null=True, blank=True)
    reconciled_at = models.DateTimeField(null=True, blank=True)
    sync_watermark = models.DateTimeField(null=True, blank=True)
    # The identity's time zone (from GET myself): JQL reads a date without a zone in it.
    jira_time_zone = models.CharField(max_length=64, blank=True)
    account_id = models.CharField(max_length=128, blank=True)
    identity_name = models.CharField(max_length=255, blank=True)
    identity_email = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    # Jira's hourly points quota ran out: no call is made before this time (its reset).
    paused_until = models.DateTimeField(null=True, blank=True)
    # When the admins were told the connection stopped working (once per breakage; new
    # credentials clear it).
    reauth_notified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["app__name"]

    def __str__(self) -> str:
        return f"{self.app} → {self.site_url}"

    # What a draft carries to the saved row (and Reconfigure back), besides `credentials`: who
    # and where, the secret's dates, and the Set up choices. By attribute name.
    CARRIED = (
        "auth_type",
        "site_url",
        "cloud_id",
        "credentials_set_at",
        "access_expires_at",
        "secret_expires_at",
        "connect_installation_id",
        "account_id",
        "identity_name",
        "identity_email",
        "last_success_at",
        "project_id",
        "project_key",
        "project_name",
        "issue_type_id",
        "issue_type_name",
        "default_assignee",
        "default_assignee_name",
        "status_map",
        "priority_two_way",
        "priority_names",
        "auto_forward",
        "forward_min_priority",
        "forward_tags",
        "sync_status",
        "sync_priority",
        "sync_comments",
    )

    def secrets(self) -> dict[str, Any]:
        """The decrypted secrets (an empty dict when none are stored)."""
        if not self.credentials:
            return {}
        value = json.loads(self.credentials)
        return value if isinstance(value, dict) else {}

    def set_secrets(self, values: dict[str, Any], *, entered: bool = False) -> None:
        """Replace the secrets (the row still has to be saved). `entered`: an admin typed them in
        (forms show "set on <date>"), as opposed to tokens the integration renewed itself."""
        self.credentials = json.dumps(values, separators=(",", ":"), sort_keys=True)
        if entered:
            self.credentials_set_at = timezone.now()


class FieldMapping(models.Model):
    """One Jira field a connection fills on create: from a report value (`source`, a key of
    `jira.fields` such as "title" or "user_attribute:plan"), or with a fixed value when `source`
    is empty (required fields no report value fills). One Jira field takes one source."""

    connection = models.ForeignKey(JiraConnection, on_delete=models.CASCADE, related_name="field_mappings")
    jira_field_id = models.CharField(max_length=64)
    jira_field_name = models.CharField(max_length=255)
    # The field as createmeta described it when mapped (schema, allowedValues, required): the
    # converters need the schema, and the page can say what the field was without asking Jira.
    jira_field = models.JSONField(default=dict)
    source = models.CharField(max_length=300, blank=True)
    # Our value → Jira option id, for option fields.
    value_map = models.JSONField(default=dict, blank=True)
    fixed_value = models.JSONField(null=True, blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["connection", "jira_field_id"], name="fieldmapping_one_source")
        ]

    def __str__(self) -> str:
        return f"{self.source or 'fixed'} → {self.jira_field_name}"


class ForwardBatch(models.Model):
    """A bulk "Send to Jira": which links it asked for, so its progress survives a reload."""

    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="forward_batches")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    total = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"batch {self.pk} of {self.total}"


class IssueLink(models.Model):
    """A report ↔ a Jira issue of one connection. Written `pending` before the create call, so a
    retry finds it instead of creating a second issue; the history stays after a disconnect.

    `create_started_at` is set (and committed) just before each create call: with no key stored,
    it means Jira may have created the issue without us hearing back, so the next attempt looks
    the issue up by its label before creating again."""

    class State(models.TextChoices):
        PENDING = "pending", "Sending"
        LINKED = "linked", "In Jira"
        FAILED = "failed", "Failed"
        DELETED = "deleted", "Deleted in Jira"

    class Origin(models.TextChoices):
        MANUAL = "manual", "Sent by hand"
        BULK = "bulk", "Sent in bulk"
        AUTO = "auto", "Sent automatically"
        LINKED = "linked", "Linked to an existing issue"

    class ErrorKind(models.TextChoices):
        NONE = "", "None"
        TRANSIENT = "transient", "Jira is busy or unreachable: retrying"
        PERMANENT = "permanent", "Jira refused the issue"
        PAUSED = "paused", "Waiting for the connection"

    report = models.ForeignKey("bugs.BugReport", on_delete=models.CASCADE, related_name="issue_links")
    connection = models.ForeignKey(JiraConnection, on_delete=models.CASCADE, related_name="issue_links")
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    origin = models.CharField(max_length=16, choices=Origin.choices, default=Origin.MANUAL)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    batch = models.ForeignKey(
        ForwardBatch, on_delete=models.SET_NULL, null=True, blank=True, related_name="links"
    )
    # Edits made in the "Send to Jira…" preview for this one report (summary, assignee, priority).
    overrides = models.JSONField(default=dict, blank=True)
    issue_id = models.CharField(max_length=32, blank=True)
    issue_key = models.CharField(max_length=64, blank=True)
    # The unique label the issue carries, so an unknown outcome can be settled by a search.
    label = models.CharField(max_length=255, blank=True)
    jira_status_name = models.CharField(max_length=255, blank=True)
    jira_status_category = models.CharField(max_length=32, blank=True)
    # Two-way sync: the issue's state as we last knew it (ids, never names) and Jira's `updated`
    # of that state in epoch ms, so an older delivery never overwrites a newer state.
    jira_status_id = models.CharField(max_length=32, blank=True)
    jira_priority_id = models.CharField(max_length=32, blank=True)
    jira_updated_ms = models.BigIntegerField(default=0)
    # Dashboard changes not yet written to Jira: field → epoch ms of the change (the later side
    # wins a conflict).
    pending = models.JSONField(default=dict, blank=True)
    # Why the last write to Jira failed, in words the report page shows ("" when it worked).
    sync_error = models.CharField(max_length=500, blank=True)
    create_started_at = models.DateTimeField(null=True, blank=True)
    # A worker's claim on the link while it talks to Jira (two workers never create at once).
    claimed_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    error_kind = models.CharField(max_length=16, choices=ErrorKind.choices, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    # The Jira field the last refusal named, for a link to its mapping row.
    error_field = models.CharField(max_length=64, blank=True)
    attachments_note = models.CharField(max_length=500, blank=True)
    attachments_done = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    linked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["report", "connection"], name="issuelink_one_per_report")
        ]
        indexes = [
            models.Index(fields=["connection", "state", "next_attempt_at"], name="issuelink_due"),
            # Every webhook delivery and reconciliation page finds links by Jira issue id.
            models.Index(fields=["connection", "issue_id"], name="issuelink_issue"),
        ]

    def __str__(self) -> str:
        return f"{self.report_id} → {self.issue_key or self.state}"

    @property
    def issue_url(self) -> str:
        return f"{self.connection.site_url}/browse/{self.issue_key}" if self.issue_key else ""


class CommentLink(models.Model):
    """A report comment ↔ a Jira comment of one issue link. `comment_pk` outlives the comment, so
    a deletion here can still be sent to Jira; `jira_comment_id` is empty while our create call
    is in flight (a delivery of an unknown comment then checks its origin property)."""

    link = models.ForeignKey(IssueLink, on_delete=models.CASCADE, related_name="comment_links")
    comment = models.ForeignKey(
        "bugs.Comment", on_delete=models.SET_NULL, null=True, blank=True, related_name="jira_links"
    )
    # None for a tombstone: a Jira comment deleted before we ever saw it created.
    comment_pk = models.PositiveBigIntegerField(null=True, blank=True)
    jira_comment_id = models.CharField(max_length=32, blank=True)
    jira_updated_ms = models.BigIntegerField(default=0)
    # Where the comment was written first ("dashboard" or "jira").
    origin = models.CharField(max_length=10)
    deleted = models.BooleanField(default=False)
    # A worker's claim while it writes this comment to Jira (two never create it twice).
    claimed_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["link", "comment_pk"], name="commentlink_one_per_comment"),
            models.UniqueConstraint(
                fields=["link", "jira_comment_id"],
                condition=~models.Q(jira_comment_id=""),
                name="commentlink_one_per_jira_comment",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.comment_pk} ↔ {self.jira_comment_id or 'pending'}"


class WebhookDelivery(models.Model):
    """One webhook request Jira sent us: a signed one once per (site, identifier), so a retry or
    a duplicate is answered and dropped; a rejected one (bad signature) for the record only."""

    class Outcome(models.TextChoices):
        QUEUED = "queued", "Queued"
        APPLIED = "applied", "Applied"
        IGNORED = "ignored", "Ignored"
        FAILED = "failed", "Failed"
        REJECTED = "rejected", "Rejected (signature)"

    site = models.CharField(max_length=255)
    identifier = models.CharField(max_length=255)
    kind = models.CharField(max_length=16)
    event = models.CharField(max_length=64, blank=True)
    connection_ids = models.JSONField(default=list, blank=True)
    payload = models.JSONField(null=True, blank=True)
    # The body's `timestamp` (epoch ms): how late the delivery came is the sync's lag.
    event_ms = models.BigIntegerField(null=True, blank=True)
    retry = models.PositiveSmallIntegerField(default=0)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.QUEUED)
    note = models.CharField(max_length=500, blank=True)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["site", "identifier"],
                condition=~models.Q(outcome="rejected"),
                name="webhookdelivery_once",
            )
        ]
        indexes = [
            # What the drain and the sweeper look for: the few rows still queued among the 14
            # days kept (without it, each drain read the table from its oldest row).
            models.Index(fields=["id"], condition=models.Q(outcome="queued"), name="webhookdelivery_queued"),
        ]

    def __str__(self) -> str:
        return f"{self.event or self.kind} {self.identifier}"


class SyncEvent(models.Model):
    """The audit trail of two-way sync: one row per change in or out, and what came of it."""

    class Direction(models.TextChoices):
        INBOUND = "in", "From Jira"
        OUTBOUND = "out", "To Jira"

    class Outcome(models.TextChoices):
        APPLIED = "applied", "Applied"
        ECHO = "echo", "Our own change, recognised"
        STALE = "stale", "Older than what we have"
        KEPT = "kept", "Kept the later change"
        FAILED = "failed", "Failed"

    connection = models.ForeignKey(JiraConnection, on_delete=models.CASCADE, related_name="sync_events")
    link = models.ForeignKey(
        IssueLink, on_delete=models.CASCADE, null=True, blank=True, related_name="sync_events"
    )
    direction = models.CharField(max_length=3, choices=Direction.choices)
    # webhook, reconcile or dashboard
    source = models.CharField(max_length=16)
    field = models.CharField(max_length=16)
    from_value = models.CharField(max_length=255, blank=True)
    to_value = models.CharField(max_length=255, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    detail = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["link", "-created_at"], name="syncevent_link"),
            models.Index(fields=["connection", "outcome", "-created_at"], name="syncevent_connection"),
        ]

    def __str__(self) -> str:
        return f"{self.direction} {self.field}: {self.to_value} ({self.outcome})"


class ThrottleSlot(models.Model):
    """The embedded default's shared rate limiter state (Redis holds it in production): per key,
    the theoretical arrival time of the next call (GCRA), in epoch seconds. See throttle.py."""

    key = models.CharField(max_length=100, unique=True)
    tat = models.FloatField(default=0.0)

    def __str__(self) -> str:
        return self.key
