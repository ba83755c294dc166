"""What every auth type provides (DESIGN.md "Jira client"): where its calls go, how a request is
signed, who the caller is, and when its secret runs out. One subclass per module in this package,
picked from `AUTH_TYPES` by the connection's `auth_type`.

A connection here is a `JiraConnection`, saved or not: an unsaved one is a wizard draft whose
tokens nobody else can be refreshing, so only saved ones take the refresh lock.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime

import requests
from django.conf import settings

from ...models import AuthType, JiraConnection


class BearerAuth(requests.auth.AuthBase):
    """`Authorization: Bearer <token>` (OAuth 2.0 access tokens)."""

    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request


def gateway_base(cloud_id: str) -> str:
    """Atlassian's API gateway for one site: OAuth tokens and scoped API tokens only work here."""
    return f"{settings.ATLASSIAN_API_URL}/ex/jira/{cloud_id}"


class JiraAuth(ABC):
    """One way into Jira Cloud. Stateless: everything it knows is on the connection."""

    auth_type: AuthType
    # Whether calls go through the gateway (then the connection needs its cloud id).
    via_gateway: bool

    def base_url(self, connection: JiraConnection) -> str:
        if self.via_gateway:
            if not connection.cloud_id:
                raise ValueError("this connection has no cloud id yet")
            return gateway_base(connection.cloud_id)
        return connection.site_url

    @abstractmethod
    def requests_auth(self, connection: JiraConnection) -> requests.auth.AuthBase:
        """What signs each request; refreshes an expiring token first where the type has one."""

    @abstractmethod
    def identity(self, connection: JiraConnection) -> str:
        """Who the calls act as, in words for the health card ("alice@acme.com")."""

    def secret_expires_at(self, connection: JiraConnection) -> datetime | None:
        """When the long-lived secret stops working (None: it does not expire on its own)."""
        return connection.secret_expires_at
