"""OAuth service accounts: client credentials an org admin created for a service account, traded
for 60-minute bearer tokens through the gateway (API-NOTES §1b). No refresh token: a new token is
minted 5 minutes before the old one runs out and kept on the connection until then.

Two processes minting at once is harmless (both tokens are valid), so this takes no lock.
"""

from __future__ import annotations

from datetime import timedelta

import requests
from django.utils import timezone

from ...models import AuthType, JiraConnection
from .. import oauth
from .base import BearerAuth, JiraAuth

RENEW_BEFORE = timedelta(minutes=5)


class ServiceAccountAuth(JiraAuth):
    auth_type = AuthType.OAUTH_SERVICE_ACCOUNT
    via_gateway = True

    def requests_auth(self, connection: JiraConnection) -> requests.auth.AuthBase:
        return BearerAuth(access_token(connection))

    def identity(self, connection: JiraConnection) -> str:
        return connection.identity_name or connection.identity_email or "service account"


def access_token(connection: JiraConnection) -> str:
    """The cached token while it has more than RENEW_BEFORE left, else a freshly minted one."""
    secrets = connection.secrets()
    expires = connection.access_expires_at
    if secrets.get("access_token") and expires is not None and expires - RENEW_BEFORE > timezone.now():
        return str(secrets["access_token"])
    granted = oauth.client_credentials(client_id=secrets["client_id"], client_secret=secrets["client_secret"])
    connection.set_secrets({**secrets, "access_token": granted.access_token})
    connection.access_expires_at = granted.expires_at
    if connection.pk is not None:
        connection.save(update_fields=["credentials", "access_expires_at"])
    return granted.access_token
