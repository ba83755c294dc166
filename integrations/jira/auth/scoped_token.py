"""Service accounts with scoped API tokens: Basic with the service account's email and token, but
only through the API gateway; the site URL answers 401 (API-NOTES §1c). The cloud id comes from
the site's unauthenticated `_edge/tenant_info`.
"""

from __future__ import annotations

from typing import Any

import requests
from django.conf import settings

from ...models import AuthType
from ..errors import JiraUnavailable, error_for
from .basic import BasicAuth


class ScopedTokenAuth(BasicAuth):
    """Signed like Basic (email and token); only where the calls go differs."""

    auth_type = AuthType.SCOPED_TOKEN
    via_gateway = True


def tenant_cloud_id(site_url: str) -> str:
    """The site's cloud id from `{site}/_edge/tenant_info` (undocumented but stable; no auth)."""
    timeout = (settings.JIRA_CONNECT_TIMEOUT_S, settings.JIRA_READ_TIMEOUT_S)
    try:
        response = requests.get(f"{site_url}/_edge/tenant_info", timeout=timeout, allow_redirects=False)
    except requests.RequestException as exc:
        raise JiraUnavailable(
            status=None, user_message=f"{site_url} could not be reached. Check the address and try again."
        ) from exc
    if response.status_code != 200:
        raise error_for(response)
    try:
        data: Any = response.json()
    except ValueError:
        data = None
    cloud_id = data.get("cloudId") if isinstance(data, dict) else None
    if not isinstance(cloud_id, str) or not cloud_id:
        raise JiraUnavailable(
            status=response.status_code,
            user_message=f"{site_url} did not say which Jira Cloud site it is. Is it a Jira Cloud site?",
        )
    return cloud_id
