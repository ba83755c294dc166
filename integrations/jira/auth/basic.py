"""Basic auth: an Atlassian account's email and classic API token, on the site URL (API-NOTES §1d).

The token expires (at most a year since December 2024); its expiry date, when the admin copies it
from Atlassian's page, drives the rotation reminders.
"""

from __future__ import annotations

import requests

from ...models import AuthType, JiraConnection
from .base import JiraAuth


class BasicAuth(JiraAuth):
    auth_type = AuthType.BASIC
    via_gateway = False

    def requests_auth(self, connection: JiraConnection) -> requests.auth.AuthBase:
        return requests.auth.HTTPBasicAuth(
            connection.identity_email, connection.secrets().get("api_token", "")
        )

    def identity(self, connection: JiraConnection) -> str:
        return connection.identity_email
