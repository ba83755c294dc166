"""The legacy Connect add-on: Jira installed our descriptor and gave us a shared secret; every
call to the site is signed with an HS256 JWT whose qsh binds it to the request (API-NOTES §1e)."""

from __future__ import annotations

import requests
from django.conf import settings

from ...models import AuthType, JiraConnection
from ..connect import ConnectJwtAuth
from .base import JiraAuth


class ConnectAuth(JiraAuth):
    auth_type = AuthType.CONNECT
    via_gateway = False

    def base_url(self, connection: JiraConnection) -> str:
        installation = _installation(connection)
        return installation.base_url.rstrip("/")

    def requests_auth(self, connection: JiraConnection) -> requests.auth.AuthBase:
        installation = _installation(connection)
        return ConnectJwtAuth(
            settings.JIRA_CONNECT_APP_KEY, installation.shared_secret, installation.base_url
        )

    def identity(self, connection: JiraConnection) -> str:
        return connection.identity_name or "Bugbridge add-on"


def _installation(connection: JiraConnection):  # type: ignore[no-untyped-def]
    installation = connection.connect_installation
    if installation is None or installation.uninstalled_at is not None:
        raise ValueError("this connection's add-on is not installed")
    return installation
