"""The sandbox Jira's own tables: sites, identities, credentials, Jira data, webhooks and logs.

Nothing here is imported by the product (DESIGN.md: the sandbox and the product share no code).
Ids that Jira exposes as strings (issue ids, account ids, option ids) are stored as Jira shows
them, so serializers never have to guess a format.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import models
from django.db.models.signals import post_delete, post_save
from django.utils import timezone


def _empty_dict() -> dict[str, Any]:
    return {}


def _empty_list() -> list[Any]:
    return []


def new_meta_stamp() -> str:
    """A fresh, never-reused stamp for a site's metadata (see `Site.meta_stamp`)."""
    return uuid.uuid4().hex


class Site(models.Model):
    """One Jira Cloud site (`<name>.atlassian.net`), with its own cloud id, data and knobs."""

    name = models.SlugField(max_length=63, unique=True)
    cloud_id = models.CharField(max_length=36, unique=True)
    title = models.CharField(max_length=120, blank=True)
    # OAuth 2.0 (3LO): "Your site admin must authorize this app" blocks every consent for the site.
    admin_approval_required = models.BooleanField(default=False)
    # Realism knobs (see knobs.py for the names, types and defaults).
    knobs = models.JSONField(default=_empty_dict, blank=True)
    next_issue_id = models.PositiveIntegerField(default=10000)
    next_comment_id = models.PositiveIntegerField(default=10000)
    next_changelog_id = models.PositiveIntegerField(default=10000)
    next_attachment_id = models.PositiveIntegerField(default=10000)
    next_webhook_id = models.PositiveIntegerField(default=1)
    created = models.DateTimeField(default=timezone.now)
    # Changes whenever the site's metadata (projects, screens, fields, options, issue types,
    # priorities, statuses, transitions, webhook registrations) changes: the key of each process's
    # metadata cache (metacache.py). Random, so a site re-created with the same pk never matches.
    meta_stamp = models.CharField(max_length=32, default=new_meta_stamp, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Account(models.Model):
    """An Atlassian account: a person (`atlassian`) or a service account / app user (`app`)."""

    class Type(models.TextChoices):
        ATLASSIAN = "atlassian", "Atlassian account"
        APP = "app", "App or service account"

    account_id = models.CharField(max_length=128, unique=True)
    account_type = models.CharField(max_length=16, choices=Type.choices, default=Type.ATLASSIAN)
    email = models.EmailField(unique=True)
    display_name = models.CharField(max_length=120)
    # Sign-in on the sandbox's consent page (a Django password hash); empty for service accounts.
    password = models.CharField(max_length=128, blank=True)
    time_zone = models.CharField(max_length=64, default="UTC")
    locale = models.CharField(max_length=16, default="en_US")
    active = models.BooleanField(default=True)
    sites = models.ManyToManyField(Site, through="SiteAccess", related_name="accounts")

    class Meta:
        ordering = ["display_name"]

    def __str__(self) -> str:
        return self.display_name


class SiteAccess(models.Model):
    """Product access to a site; admins may register admin webhooks and approve 3LO apps.

    Everyone with access holds every project permission (one permission scheme for the whole
    site), except *Delete issues*, which Jira's default scheme gives to administrators only and
    many sites keep from their integration users: `can_delete_issues` turns it off for one account.
    """

    site = models.ForeignKey(Site, on_delete=models.CASCADE)
    account = models.ForeignKey(Account, on_delete=models.CASCADE)
    is_admin = models.BooleanField(default=False)
    # Site admins may always delete; off, `DELETE /issue/{key}` is a 403 and mypermissions says so.
    can_delete_issues = models.BooleanField(default=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["site", "account"], name="sandbox_siteaccess_unique")]

    @property
    def may_delete_issues(self) -> bool:
        return self.is_admin or self.can_delete_issues


class ApiToken(models.Model):
    """A classic API token (Basic auth on the site URL) or a scoped one (gateway only)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="api_tokens")
    label = models.CharField(max_length=120)
    token_hash = models.CharField(max_length=64, unique=True)
    scoped = models.BooleanField(default=False)
    scopes = models.JSONField(default=_empty_list, blank=True)
    created = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    revoked = models.BooleanField(default=False)

    def __str__(self) -> str:
        return self.label


class OAuthApp(models.Model):
    """An OAuth 2.0 client: a 3LO app from the developer console, or a service account's credential."""

    class Kind(models.TextChoices):
        THREE_LO = "3lo", "OAuth 2.0 (3LO) app"
        SERVICE_ACCOUNT = "service_account", "Service account OAuth credential"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    name = models.CharField(max_length=120)
    client_id = models.CharField(max_length=64, unique=True)
    # Kept in the clear: the sandbox signs 3LO webhook JWTs with it, as Atlassian does.
    client_secret = models.CharField(max_length=128)
    # 3LO: the developer who owns the app. Service account: the account it acts as.
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="oauth_apps")
    redirect_uris = models.JSONField(default=_empty_list, blank=True)
    # Scopes enabled on the app in the console (3LO) or chosen for the credential (service account).
    scopes = models.JSONField(default=_empty_list, blank=True)
    created = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name


class Grant(models.Model):
    """One consent: the family of refresh tokens it issues, and the sites it reaches."""

    app = models.ForeignKey(OAuthApp, on_delete=models.CASCADE, related_name="grants")
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="grants")
    sites = models.ManyToManyField(Site, related_name="grants")
    scopes = models.JSONField(default=_empty_list)
    created = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=120, blank=True)


class AuthCode(models.Model):
    grant = models.ForeignKey(Grant, on_delete=models.CASCADE, related_name="codes")
    code_hash = models.CharField(max_length=64, unique=True)
    redirect_uri = models.CharField(max_length=500)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)


class RefreshToken(models.Model):
    grant = models.ForeignKey(Grant, on_delete=models.CASCADE, related_name="refresh_tokens")
    token_hash = models.CharField(max_length=64, unique=True)
    created = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(default=timezone.now)
    # Set when a refresh replaced it; reusing it after the leeway revokes the whole grant.
    rotated_at = models.DateTimeField(null=True, blank=True)


class AccessToken(models.Model):
    """A bearer token for the gateway: from a 3LO grant, or minted by client credentials."""

    app = models.ForeignKey(OAuthApp, on_delete=models.CASCADE, related_name="access_tokens")
    grant = models.ForeignKey(
        Grant, on_delete=models.CASCADE, null=True, blank=True, related_name="access_tokens"
    )
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="access_tokens")
    token_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=_empty_list)
    created = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()


class ConnectInstall(models.Model):
    """A Connect app installed on a site: its descriptor and the shared secret of this install."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="connect_installs")
    app_key = models.CharField(max_length=64)
    descriptor_url = models.URLField(max_length=500)
    descriptor = models.JSONField(default=_empty_dict)
    base_url = models.URLField(max_length=500)
    client_key = models.CharField(max_length=64, unique=True)
    shared_secret = models.CharField(max_length=128)
    # The app user Jira creates for the add-on; calls signed with the shared secret act as it.
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="connect_installs")
    installed_at = models.DateTimeField(default=timezone.now)
    uninstalled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["site", "app_key"],
                condition=models.Q(uninstalled_at__isnull=True),
                name="sandbox_connect_one_live_install",
            )
        ]


class SigningKey(models.Model):
    """The sandbox's RS256 key pair for signed Connect installs (its connect-install-keys CDN)."""

    kid = models.CharField(max_length=64, unique=True)
    private_pem = models.TextField()
    public_pem = models.TextField()
    created = models.DateTimeField(default=timezone.now)


# ---------------------------------------------------------------------------------------------
# Jira data
# ---------------------------------------------------------------------------------------------


class Project(models.Model):
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="projects")
    project_id = models.CharField(max_length=20)
    key = models.CharField(max_length=10)
    name = models.CharField(max_length=120)
    lead = models.ForeignKey(Account, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    # On: the project uses a priority scheme of the site's custom priorities, not the default five.
    custom_priorities = models.BooleanField(default=False)
    next_issue_number = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["key"]
        constraints = [
            models.UniqueConstraint(fields=["site", "key"], name="sandbox_project_key_unique"),
            models.UniqueConstraint(fields=["site", "project_id"], name="sandbox_project_id_unique"),
        ]

    def __str__(self) -> str:
        return self.key


class IssueType(models.Model):
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="issue_types")
    type_id = models.CharField(max_length=20)
    name = models.CharField(max_length=60)
    description = models.CharField(max_length=255, blank=True)
    subtask = models.BooleanField(default=False)
    hierarchy_level = models.IntegerField(default=0)

    class Meta:
        ordering = ["type_id"]
        constraints = [models.UniqueConstraint(fields=["site", "type_id"], name="sandbox_issuetype_unique")]

    def __str__(self) -> str:
        return self.name


class Field(models.Model):
    """A system or custom field as `GET /field` lists it; `schema` is Jira's JsonTypeBean."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="fields")
    field_id = models.CharField(max_length=40)
    name = models.CharField(max_length=120)
    custom = models.BooleanField(default=False)
    schema = models.JSONField(default=_empty_dict, blank=True)
    searchable = models.BooleanField(default=True)
    orderable = models.BooleanField(default=True)
    navigable = models.BooleanField(default=True)

    class Meta:
        ordering = ["field_id"]
        constraints = [models.UniqueConstraint(fields=["site", "field_id"], name="sandbox_field_unique")]

    def __str__(self) -> str:
        return self.field_id

    @property
    def custom_type(self) -> str:
        """The short custom type (`select`, `textarea`, …) or "" for a system field."""
        return str(self.schema.get("custom", "")).rsplit(":", 1)[-1] if self.custom else ""


class FieldOption(models.Model):
    """An allowed value of a select, multiselect, radiobuttons field, or a resolution."""

    field = models.ForeignKey(Field, on_delete=models.CASCADE, related_name="options")
    option_id = models.CharField(max_length=20)
    value = models.CharField(max_length=255)
    disabled = models.BooleanField(default=False)

    class Meta:
        ordering = ["option_id"]


class ScreenField(models.Model):
    """A field on a project's create screen (for every issue type), and whether it is required."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="screen_fields")
    field = models.ForeignKey(Field, on_delete=models.CASCADE, related_name="+")
    required = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "field"], name="sandbox_screenfield_unique")
        ]


class Priority(models.Model):
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="priorities")
    priority_id = models.CharField(max_length=20)
    name = models.CharField(max_length=60)
    description = models.CharField(max_length=255, blank=True)
    status_color = models.CharField(max_length=7, default="#777777")
    sequence = models.PositiveIntegerField(default=0)
    is_default = models.BooleanField(default=False)
    # False: one of the default scheme's five; True: in the site's custom priority scheme.
    custom = models.BooleanField(default=False)

    class Meta:
        ordering = ["sequence"]
        constraints = [
            models.UniqueConstraint(fields=["site", "priority_id"], name="sandbox_priority_unique")
        ]

    def __str__(self) -> str:
        return self.name


class Status(models.Model):
    class Category(models.TextChoices):
        NEW = "new", "To Do"
        INDETERMINATE = "indeterminate", "In Progress"
        DONE = "done", "Done"

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="statuses")
    status_id = models.CharField(max_length=20)
    name = models.CharField(max_length=60)
    category = models.CharField(max_length=16, choices=Category.choices)

    class Meta:
        ordering = ["status_id"]
        constraints = [models.UniqueConstraint(fields=["site", "status_id"], name="sandbox_status_unique")]

    def __str__(self) -> str:
        return self.name


class Transition(models.Model):
    """The site's one workflow: a transition from a status (or from any, when global)."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="transitions")
    transition_id = models.CharField(max_length=20)
    name = models.CharField(max_length=60)
    from_status = models.ForeignKey(Status, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    to_status = models.ForeignKey(Status, on_delete=models.CASCADE, related_name="+")
    # A field id the transition screen requires (for example "resolution"), or "".
    required_field = models.CharField(max_length=40, blank=True)

    class Meta:
        ordering = ["transition_id"]


class Issue(models.Model):
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="issues")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="issues")
    issue_id = models.PositiveIntegerField()
    number = models.PositiveIntegerField()
    key = models.CharField(max_length=24)
    issue_type = models.ForeignKey(IssueType, on_delete=models.PROTECT, related_name="+")
    summary = models.CharField(max_length=255)
    description = models.JSONField(null=True, blank=True)  # ADF
    status = models.ForeignKey(Status, on_delete=models.PROTECT, related_name="+")
    priority = models.ForeignKey(Priority, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    resolution = models.ForeignKey(
        FieldOption, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    assignee = models.ForeignKey(Account, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    reporter = models.ForeignKey(Account, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    labels = models.JSONField(default=_empty_list, blank=True)
    # customfield_NNNNN → the value in its REST (v3) representation.
    custom_fields = models.JSONField(default=_empty_dict, blank=True)
    properties = models.JSONField(default=_empty_dict, blank=True)
    created = models.DateTimeField(default=timezone.now)
    updated = models.DateTimeField(default=timezone.now)
    resolution_date = models.DateTimeField(null=True, blank=True)
    # Search staleness: the search index shows this issue only from this moment on.
    indexed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["issue_id"]
        constraints = [
            models.UniqueConstraint(fields=["site", "issue_id"], name="sandbox_issue_id_unique"),
            models.UniqueConstraint(fields=["site", "key"], name="sandbox_issue_key_unique"),
        ]
        indexes = [
            models.Index(fields=["site", "updated"], name="sandbox_issue_updated"),
            models.Index(fields=["site", "created"], name="sandbox_issue_created"),
        ]

    def __str__(self) -> str:
        return self.key


class IssueLabel(models.Model):
    """One row per label, so JQL `labels = x` is an indexed join on every database."""

    issue = models.ForeignKey(Issue, on_delete=models.CASCADE, related_name="label_rows")
    name = models.CharField(max_length=255)

    class Meta:
        indexes = [models.Index(fields=["name"], name="sandbox_label_name")]


class Comment(models.Model):
    issue = models.ForeignKey(Issue, on_delete=models.CASCADE, related_name="comments")
    comment_id = models.PositiveIntegerField()
    author = models.ForeignKey(Account, on_delete=models.SET_NULL, null=True, related_name="+")
    update_author = models.ForeignKey(Account, on_delete=models.SET_NULL, null=True, related_name="+")
    body = models.JSONField()  # ADF
    properties = models.JSONField(default=_empty_dict, blank=True)
    # Jira's `visibility` ({"type": "group"|"role", "value"/"identifier"}) as the caller set it.
    visibility = models.JSONField(null=True, blank=True)
    created = models.DateTimeField(default=timezone.now)
    updated = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created", "comment_id"]


class Attachment(models.Model):
    issue = models.ForeignKey(Issue, on_delete=models.CASCADE, related_name="attachments")
    attachment_id = models.PositiveIntegerField()
    filename = models.CharField(max_length=255)
    mime_type = models.CharField(max_length=120)
    size = models.PositiveIntegerField()
    content = models.BinaryField()
    author = models.ForeignKey(Account, on_delete=models.SET_NULL, null=True, related_name="+")
    created = models.DateTimeField(default=timezone.now)


class ChangelogEntry(models.Model):
    issue = models.ForeignKey(Issue, on_delete=models.CASCADE, related_name="changelog")
    changelog_id = models.PositiveIntegerField()
    author = models.ForeignKey(Account, on_delete=models.SET_NULL, null=True, related_name="+")
    created = models.DateTimeField(default=timezone.now)
    # [{field, fieldtype, fieldId, from, fromString, to, toString}]
    items = models.JSONField(default=_empty_list)

    class Meta:
        ordering = ["changelog_id"]


# ---------------------------------------------------------------------------------------------
# Webhooks and logs
# ---------------------------------------------------------------------------------------------


class Webhook(models.Model):
    """A registration: dynamic (3LO app, 30 days), admin (`/rest/webhooks/1.0`), or Connect."""

    class Kind(models.TextChoices):
        DYNAMIC = "dynamic", "Dynamic (OAuth 2.0 app)"
        ADMIN = "admin", "Admin webhook"
        CONNECT = "connect", "Connect app"

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="webhooks")
    webhook_id = models.PositiveIntegerField()
    kind = models.CharField(max_length=16, choices=Kind.choices)
    app = models.ForeignKey(
        OAuthApp, on_delete=models.CASCADE, null=True, blank=True, related_name="webhooks"
    )
    connect_install = models.ForeignKey(
        ConnectInstall, on_delete=models.CASCADE, null=True, blank=True, related_name="webhooks"
    )
    registered_by = models.ForeignKey(Account, on_delete=models.SET_NULL, null=True, related_name="+")
    name = models.CharField(max_length=255, blank=True)
    description = models.TextField(blank=True)
    url = models.URLField(max_length=500)
    events = models.JSONField(default=_empty_list)
    jql_filter = models.TextField(blank=True)
    field_ids_filter = models.JSONField(default=_empty_list, blank=True)
    exclude_body = models.BooleanField(default=False)
    secret = models.CharField(max_length=255, blank=True)  # admin webhooks: X-Hub-Signature key
    enabled = models.BooleanField(default=True)
    expires_at = models.DateTimeField(null=True, blank=True)  # dynamic webhooks only
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["webhook_id"]
        constraints = [
            models.UniqueConstraint(fields=["site", "webhook_id"], name="sandbox_webhook_id_unique")
        ]


class Delivery(models.Model):
    """One event for one registration; retries (and knob-made duplicates) keep its identifier."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"
        DROPPED = "dropped", "Dropped (knob)"

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="deliveries")
    webhook = models.ForeignKey(Webhook, on_delete=models.SET_NULL, null=True, related_name="deliveries")
    identifier = models.CharField(max_length=64)
    event = models.CharField(max_length=64)
    flow = models.CharField(max_length=16, default="Primary")
    url = models.URLField(max_length=500)
    payload = models.TextField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    last_status = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=255, blank=True)
    created = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="sandbox_delivery_due")]


class RequestLog(models.Model):
    """What the sandbox was asked and what it answered, for its UI (never credentials)."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, null=True, blank=True, related_name="requests")
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=500)
    status = models.PositiveIntegerField()
    auth = models.CharField(max_length=32, blank=True)
    account_id = models.CharField(max_length=128, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    note = models.CharField(max_length=255, blank=True)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]


# ---------------------------------------------------------------------------------------------
# Metadata stamp: every save() or delete() of a metadata row gives its site a new `meta_stamp`,
# so no process serves a cached copy of the old metadata (metacache.py). Queryset `update()` and
# `bulk_create()` send no signals: code that changes metadata that way calls `metadata_changed`.
# ---------------------------------------------------------------------------------------------

# Model → how to reach the site id from one of its rows.
_SITE_OF: dict[type[models.Model], Any] = {
    Project: lambda row: [row.site_id],
    IssueType: lambda row: [row.site_id],
    Field: lambda row: [row.site_id],
    Priority: lambda row: [row.site_id],
    Status: lambda row: [row.site_id],
    Transition: lambda row: [row.site_id],
    Webhook: lambda row: [row.site_id],
    FieldOption: lambda row: Field.objects.filter(pk=row.field_id).values("site_id"),
    ScreenField: lambda row: Project.objects.filter(pk=row.project_id).values("site_id"),
}
# Saves that touch only these columns are not metadata changes (the per-project key counter).
_NOT_METADATA = {Project: frozenset({"next_issue_number"})}


def metadata_changed(site_ids: Any) -> None:
    """Give these sites (ids, or a queryset of `site_id` values) a new metadata stamp."""
    Site.objects.filter(pk__in=site_ids).update(meta_stamp=new_meta_stamp())
    from .metacache import forget  # imported late: metacache imports these models

    forget()


def _on_metadata_write(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    update_fields = kwargs.get("update_fields")
    if update_fields and frozenset(update_fields) <= _NOT_METADATA.get(sender, frozenset()):
        return
    metadata_changed(_SITE_OF[sender](instance))


for _model in _SITE_OF:
    post_save.connect(
        _on_metadata_write, sender=_model, dispatch_uid=f"jira_sandbox_meta_save_{_model.__name__}"
    )
    post_delete.connect(
        _on_metadata_write, sender=_model, dispatch_uid=f"jira_sandbox_meta_delete_{_model.__name__}"
    )
