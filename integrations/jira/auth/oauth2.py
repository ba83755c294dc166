"""OAuth 2.0 (3LO): an admin consents once; we hold a 1-hour access token and a rotating refresh
token, and call Jira through the gateway (API-NOTES §1a).

Refresh is single-flight per connection. Atlassian spends a refresh token when it rotates it, and
reusing a spent one more than 10 minutes later revokes the whole grant, so two workers must never
refresh the same connection from the same token. On PostgreSQL the refresh runs under a row lock
(`select_for_update`), and whoever waited re-reads the row and finds a fresh token. SQLite has no
row locks, and holding its database-wide write lock across an HTTP call would stall every other
writer (the sandbox's token endpoint included, when it shares the database): there a short
`refresh_lease_until` claim, taken by one conditional UPDATE, plays the lock, and the others poll
until the lease holder has stored the new pair.

`invalid_grant` (a refresh token revoked, expired or reused) marks the connection "needs
re-authentication" and raises; nothing else about the connection changes.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

import requests
from django.conf import settings
from django.db import connection as db_connection
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ...models import AuthType, JiraConnection
from .. import oauth
from ..errors import JiraAuthError, JiraUnavailable
from .base import BearerAuth, JiraAuth

logger = logging.getLogger(__name__)

# Refresh this long before the access token runs out, so a call never starts with a dying token.
REFRESH_BEFORE = timedelta(minutes=5)
# Atlassian's absolute limit on a refresh-token family: consent again after a year.
GRANT_LIFETIME = timedelta(days=365)
# How long a SQLite lease holder may take, and how long the others wait for it.
LEASE = timedelta(seconds=45)
POLL_S = 0.05


class OAuth2Auth(JiraAuth):
    auth_type = AuthType.OAUTH2
    via_gateway = True

    def requests_auth(self, connection: JiraConnection) -> requests.auth.AuthBase:
        return BearerAuth(access_token(connection))

    def identity(self, connection: JiraConnection) -> str:
        return connection.identity_name or connection.identity_email or connection.account_id


def store_grant(connection: JiraConnection, granted: oauth.TokenSet, *, consented: bool) -> None:
    """Put a token pair on the connection (not saved). `consented`: a new consent, which starts
    the refresh token family's one-year clock."""
    secrets = connection.secrets()
    secrets["access_token"] = granted.access_token
    if granted.refresh_token:
        secrets["refresh_token"] = granted.refresh_token
    secrets["scopes"] = sorted(granted.scopes)
    connection.set_secrets(secrets, entered=consented)
    connection.access_expires_at = granted.expires_at
    if consented:
        connection.secret_expires_at = timezone.now() + GRANT_LIFETIME
    connection.status = JiraConnection.Status.ACTIVE


def access_token(connection: JiraConnection) -> str:
    """A usable access token, refreshing (once, across every process) when it is about to expire."""
    if not _expiring(connection):
        return str(connection.secrets()["access_token"])
    if connection.pk is None:  # a wizard draft: only this request holds it
        _refresh(connection)
        return str(connection.secrets()["access_token"])
    fresh = _refresh_locked(connection.pk) if _has_row_locks() else _refresh_leased(connection.pk)
    # The caller's instance sees what was stored, so it does not refresh again.
    for name in ("credentials", "access_expires_at", "status", "refresh_lease_until"):
        setattr(connection, name, getattr(fresh, name))
    return str(fresh.secrets()["access_token"])


def _expiring(connection: JiraConnection) -> bool:
    expires = connection.access_expires_at
    return (
        expires is None
        or expires - REFRESH_BEFORE <= timezone.now()
        or not connection.secrets().get("access_token")
    )


def _has_row_locks() -> bool:
    return bool(db_connection.features.has_select_for_update)


def _refresh(connection: JiraConnection) -> JiraAuthError | None:
    """Rotate the pair on this instance (not saved). Returns the auth error to raise once the new
    state is stored: `invalid_grant` must be recorded, not rolled back with the exception."""
    refresh_token = connection.secrets().get("refresh_token")
    if not refresh_token:
        connection.status = JiraConnection.Status.NEEDS_REAUTH
        return JiraAuthError(
            status=None,
            user_message="This Jira connection has no refresh token. Connect with OAuth 2.0 again.",
            reason="revoked",
        )
    try:
        granted = oauth.refresh(
            refresh_token=refresh_token,
            client_id=settings.ATLASSIAN_OAUTH_CLIENT_ID,
            client_secret=settings.ATLASSIAN_OAUTH_CLIENT_SECRET,
        )
    except JiraAuthError as exc:
        logger.warning(
            "jira.oauth.refresh_refused", extra={"connection": connection.pk, "reason": exc.reason}
        )
        connection.status = JiraConnection.Status.NEEDS_REAUTH
        connection.last_error = "Jira refused to renew access. Connect with OAuth 2.0 again."[:500]
        connection.last_error_at = timezone.now()
        return exc
    store_grant(connection, granted, consented=False)
    logger.info("jira.oauth.refreshed", extra={"connection": connection.pk})
    return None


REFRESH_FIELDS = ["credentials", "access_expires_at", "status", "last_error", "last_error_at"]


def _refresh_locked(pk: int) -> JiraConnection:
    with transaction.atomic():
        row = JiraConnection.objects.select_for_update().get(pk=pk)
        if not _expiring(row):  # someone refreshed while we waited for the lock
            return row
        failure = _refresh(row)
        row.save(update_fields=REFRESH_FIELDS)
    if failure is not None:
        raise failure
    return row


def _refresh_leased(pk: int) -> JiraConnection:
    deadline = time.monotonic() + LEASE.total_seconds()
    while True:
        now = timezone.now()
        claimed = (
            JiraConnection.objects.filter(pk=pk)
            .filter(Q(refresh_lease_until__isnull=True) | Q(refresh_lease_until__lt=now))
            .update(refresh_lease_until=now + LEASE)
        )
        row = JiraConnection.objects.get(pk=pk)
        if claimed:
            failure = None
            try:
                if _expiring(row):
                    failure = _refresh(row)
                    row.save(update_fields=REFRESH_FIELDS)
            finally:
                JiraConnection.objects.filter(pk=pk).update(refresh_lease_until=None)
                row.refresh_lease_until = None
            if failure is not None:
                raise failure
            return row
        if not _expiring(row):  # the lease holder stored a fresh pair
            return row
        if row.status == JiraConnection.Status.NEEDS_REAUTH:
            raise JiraAuthError(
                status=None,
                user_message="Jira refused to renew access. Connect with OAuth 2.0 again.",
                reason="revoked",
            )
        if time.monotonic() > deadline:
            raise JiraUnavailable(
                status=None, user_message="Renewing access to Jira is taking too long. Retry."
            )
        time.sleep(POLL_S)
