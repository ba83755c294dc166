"""The webhooks a connection registers in Jira so changes reach us within seconds (API-NOTES §2).

Per auth type, a table (`CHANNELS`):
- OAuth 2.0: dynamic webhooks on the app's one callback URL, JQL `project = <key>`; they expire
  30 days after registration or their last refresh, so beat refreshes them well before;
- Basic, scoped token, OAuth service account: one admin webhook with a secret of this
  connection (X-Hub-Signature), when the identity is a Jira administrator; otherwise none, and
  reconciliation (polling) is the only way changes arrive;
- Connect: the add-on's descriptor declares its webhooks; nothing to register.

Registration happens when the wizard finishes (and again on Reconfigure); removal on
Disconnect (`services.jira_connection_disconnect`).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from . import intake, services
from .encryption import CredentialsUnreadable
from .jira.auth import client_for
from .jira.client import JiraClient
from .jira.errors import JiraError, JiraNotFound, JiraValidationError
from .models import AuthType, JiraConnection

logger = logging.getLogger(__name__)

# Dynamic webhooks live 30 days; beat refreshes any that would die within REFRESH_WITHIN.
DYNAMIC_LIFETIME = timedelta(days=30)
REFRESH_WITHIN = timedelta(days=20)


def syncs(connection: JiraConnection) -> bool:
    """Whether any change is meant to come back from Jira."""
    return bool(connection.sync_status or connection.sync_priority or connection.sync_comments)


def jql_filter(connection: JiraConnection) -> str:
    return f"project = {connection.project_key}"


def _absolute(name: str, **kwargs: int) -> str:
    return settings.SITE_URL.rstrip("/") + reverse(name, kwargs=kwargs or None)


def _register_dynamic(client: JiraClient, connection: JiraConnection) -> tuple[list[str], datetime | None]:
    results = client.register_webhooks(
        _absolute("jira_webhook_oauth"),
        [{"events": list(intake.SYNC_EVENTS), "jqlFilter": jql_filter(connection)}],
    )
    ids = [str(r["createdWebhookId"]) for r in results if isinstance(r, dict) and r.get("createdWebhookId")]
    errors = [e for r in results if isinstance(r, dict) for e in (r.get("errors") or [])]
    if not ids:
        raise JiraValidationError(
            status=400, messages=[str(e) for e in errors] or ["Jira registered no webhook."]
        )
    return ids, timezone.now() + DYNAMIC_LIFETIME


def _register_admin(client: JiraClient, connection: JiraConnection) -> tuple[list[str], datetime | None]:
    if not client.my_permissions(["ADMINISTER"]).get("ADMINISTER", False):
        return [], None  # not a Jira admin: polling only
    secret = secrets.token_urlsafe(32)
    made = client.create_admin_webhook(
        name=f"Bugbridge: {connection.app.name}"[:255],
        url=_absolute("jira_webhook_connection", connection_id=connection.pk),
        events=list(intake.SYNC_EVENTS),
        jql=jql_filter(connection),
        secret=secret,
    )
    webhook_id = str(made.get("self") or "").rstrip("/").rsplit("/", 1)[-1]
    if not webhook_id.isdigit():
        raise JiraValidationError(status=400, messages=["Jira did not say which webhook it made."])
    _secret_store(connection, secret)
    return [webhook_id], None


@transaction.atomic
def _secret_store(connection: JiraConnection, secret: str) -> None:
    # Into the row as it is now (locked): a worker may have renewed an access token meanwhile,
    # and writing this instance's copy of the credentials back would undo that.
    row = JiraConnection.objects.select_for_update().get(pk=connection.pk)
    values = row.secrets()
    values["webhook_secret"] = secret
    row.set_secrets(values)
    row.save(update_fields=["credentials"])
    connection.credentials = row.credentials


CHANNELS: dict[str, tuple[str, Callable[[JiraClient, JiraConnection], tuple[list[str], datetime | None]]]] = {
    AuthType.OAUTH2: ("dynamic", _register_dynamic),
    AuthType.BASIC: ("admin", _register_admin),
    AuthType.SCOPED_TOKEN: ("admin", _register_admin),
    AuthType.OAUTH_SERVICE_ACCOUNT: ("admin", _register_admin),
}


def webhooks_ensure(*, connection: JiraConnection) -> str:
    """Register this connection's webhooks afresh (the old ones go first), or none when nothing
    syncs back. Returns a warning for the page ("" when all went well); the connection's
    `webhook_error` keeps it for the health card."""
    connection.refresh_from_db()
    channel = CHANNELS.get(connection.auth_type)
    if channel is None:  # Connect: the descriptor's webhooks
        return ""
    # Old ones Jira would not remove are left to it (the warning says how to remove them by
    # hand): they must not stand in the way of the new set up.
    left = services.webhooks_remove(connection=connection)
    connection.refresh_from_db()
    if not syncs(connection) or connection.status != JiraConnection.Status.ACTIVE:
        return left
    kind, register = channel
    try:
        ids, expires = register(client_for(connection), connection)
    except (JiraError, CredentialsUnreadable) as exc:
        words = exc.user_message if isinstance(exc, JiraError) else "its credentials could not be read"
        words = words.rstrip(". ")
        error = (
            f"Bugbridge could not register a webhook in Jira ({words}). "
            "Changes made in Jira still arrive, by polling every few minutes."
        )[:500]
        JiraConnection.objects.filter(pk=connection.pk).update(webhook_error=error)
        connection.webhook_error = error
        logger.warning(
            "jira.webhooks.unregistered", extra={"connection": connection.pk, "error": type(exc).__name__}
        )
        return " ".join(w for w in (left, error) if w)
    # Only the webhook fields: the credentials may have been renewed (and rotated) meanwhile.
    # Old ones that could not be removed stay on the row unless new ones replace them: they
    # still deliver (their secret is kept), and Disconnect tries again.
    fields: dict[str, Any] = {"webhook_error": ""}
    if ids or not left:
        fields.update(webhook_kind=kind if ids else "", webhook_ids=ids, webhook_expires_at=expires)
    JiraConnection.objects.filter(pk=connection.pk).update(**fields)
    for name, value in fields.items():
        setattr(connection, name, value)
    logger.info(
        "jira.webhooks.registered", extra={"connection": connection.pk, "kind": kind, "count": len(ids)}
    )
    return left


def _expiry(value: object) -> datetime | None:
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


def webhooks_refresh_due(*, now: datetime | None = None) -> int:
    """Run daily by beat: push out the expiry of dynamic webhooks that would die within
    REFRESH_WITHIN; ones Jira no longer knows are registered again. Returns how many were kept."""
    now = now or timezone.now()
    due = JiraConnection.objects.filter(
        webhook_kind="dynamic",
        status=JiraConnection.Status.ACTIVE,
        webhook_expires_at__lt=now + REFRESH_WITHIN,
    )
    kept = 0
    for connection in due:
        ids = [str(i) for i in connection.webhook_ids]
        answer: dict[str, object] | None = None
        try:
            client = client_for(connection)
            # Jira answers a refresh of ids it no longer has (deleted by an admin, or expired)
            # like any other: only its list says which are still there.
            known = {str(h.get("id")) for h in client.iter_webhooks() if isinstance(h, dict)}
            if set(ids) <= known:
                answer = client.refresh_webhooks([int(i) for i in ids])
        except (JiraNotFound, JiraValidationError):
            answer = None
        except (JiraError, CredentialsUnreadable) as exc:
            logger.warning(
                "jira.webhooks.refresh_failed",
                extra={"connection": connection.pk, "error": type(exc).__name__},
            )
            continue
        if answer is None:
            logger.info("jira.webhooks.reregistered", extra={"connection": connection.pk})
            webhooks_ensure(connection=connection)
            continue
        JiraConnection.objects.filter(pk=connection.pk).update(
            webhook_expires_at=_expiry(answer.get("expirationDate")) or now + DYNAMIC_LIFETIME,
            webhook_error="",
        )
        kept += 1
    return kept
