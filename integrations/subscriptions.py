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

from django.conf import settings
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
    values = connection.secrets()
    values["webhook_secret"] = secret
    connection.set_secrets(values)
    return [webhook_id], None


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
    services.webhooks_remove(connection=connection)
    connection.refresh_from_db()
    if not syncs(connection) or connection.status != JiraConnection.Status.ACTIVE:
        return ""
    kind, register = channel
    try:
        ids, expires = register(client_for(connection), connection)
    except (JiraError, CredentialsUnreadable) as exc:
        words = exc.user_message if isinstance(exc, JiraError) else "its credentials could not be read"
        connection.webhook_error = (
            f"Bugbridge could not register a webhook in Jira ({words}). "
            "Changes made in Jira still arrive, by polling every few minutes."
        )[:500]
        connection.save(update_fields=["webhook_error"])
        logger.warning("jira.webhooks.unregistered", extra={"connection": connection.pk})
        return connection.webhook_error
    connection.webhook_kind = kind if ids else ""
    connection.webhook_ids = ids
    connection.webhook_expires_at = expires
    connection.webhook_error = ""
    connection.save(
        update_fields=["webhook_kind", "webhook_ids", "webhook_expires_at", "webhook_error", "credentials"]
    )
    logger.info(
        "jira.webhooks.registered", extra={"connection": connection.pk, "kind": kind, "count": len(ids)}
    )
    return ""


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
        try:
            answer = client_for(connection).refresh_webhooks([int(i) for i in connection.webhook_ids])
        except (JiraNotFound, JiraValidationError):
            webhooks_ensure(connection=connection)
            continue
        except (JiraError, CredentialsUnreadable) as exc:
            logger.warning(
                "jira.webhooks.refresh_failed",
                extra={"connection": connection.pk, "error": type(exc).__name__},
            )
            continue
        connection.webhook_expires_at = _expiry(answer.get("expirationDate")) or now + DYNAMIC_LIFETIME
        connection.webhook_error = ""
        connection.save(update_fields=["webhook_expires_at", "webhook_error"])
        kept += 1
    return kept
