"""The five ways into Jira Cloud, as a table keyed by `AuthType` (DESIGN.md "Jira client").

`client_for(connection)` is how the rest of the product gets a `JiraClient`: the auth type says
where calls go and signs them; the client knows nothing else.
"""

from __future__ import annotations

from ...models import AuthType, JiraConnection
from ..client import JiraClient
from .base import JiraAuth
from .basic import BasicAuth
from .connect import ConnectAuth
from .oauth2 import OAuth2Auth
from .oauth_service_account import ServiceAccountAuth
from .scoped_token import ScopedTokenAuth

AUTH_TYPES: dict[str, JiraAuth] = {
    auth.auth_type: auth
    for auth in (OAuth2Auth(), ServiceAccountAuth(), ScopedTokenAuth(), BasicAuth(), ConnectAuth())
}


def auth_for(connection: JiraConnection) -> JiraAuth:
    return AUTH_TYPES[connection.auth_type]


def client_for(connection: JiraConnection) -> JiraClient:
    """A client for this connection (saved, or a wizard draft), with a fresh token where needed."""
    auth = auth_for(connection)
    return JiraClient(auth.base_url(connection), auth.requests_auth(connection))


__all__ = ["AUTH_TYPES", "AuthType", "JiraAuth", "auth_for", "client_for"]
