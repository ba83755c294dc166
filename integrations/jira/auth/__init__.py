"""The five ways into Jira Cloud, as a table keyed by `AuthType` (DESIGN.md "Jira client").

`client_for(connection)` is how the rest of the product gets a `JiraClient`: the auth type says
where calls go and signs them; the client knows nothing else.
"""

from __future__ import annotations

from typing import Any

from ... import health, throttle
from ...models import AuthType, JiraConnection
from ..client import JiraClient
from ..errors import JiraError
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


class RecordingClient(JiraClient):
    """The client of a saved connection. Every call waits for its slot in the connection's shared
    rate limit (throttle.py), none is made while Jira's hourly quota is spent (`paused_until`),
    and the connection's health (last successful call, last error) follows what happened."""

    def __init__(self, *args: Any, connection_id: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.connection_id = connection_id

    def _request(self, endpoint: Any, *args: Any, **kwargs: Any) -> Any:
        health.check_not_paused(self.connection_id)
        # Jira's burst buckets are per site, endpoint and method: so are ours.
        key = f"jira:{self.connection_id}:{endpoint.method}:{endpoint.path}"
        throttle.wait_for(key, endpoint.method, self.sleep)
        try:
            response = super()._request(endpoint, *args, **kwargs)
        except JiraError as exc:
            health.record_failure(self.connection_id, exc)
            raise
        health.record_success(self.connection_id)
        return response


def client_for(connection: JiraConnection) -> JiraClient:
    """A client for this connection (saved, or a wizard draft), with a fresh token where needed.
    A saved connection's client records its health; a draft has no row to record it on."""
    auth = auth_for(connection)
    base_url, requests_auth = auth.base_url(connection), auth.requests_auth(connection)
    if connection.pk is None:
        return JiraClient(base_url, requests_auth)
    return RecordingClient(base_url, requests_auth, connection_id=connection.pk)


__all__ = ["AUTH_TYPES", "AuthType", "JiraAuth", "auth_for", "client_for"]
