"""Atlassian's OAuth 2.0 token endpoint: the 3LO code exchange and refresh, and client credentials
for service accounts (API-NOTES §1a, §1b). Wire only: no models, no storage; the auth modules in
`jira/auth/` decide when to call these and keep what they return.

Every call goes to the hosts in settings (`ATLASSIAN_AUTH_URL`, `ATLASSIAN_API_URL`), so the sandbox
can stand in for Atlassian without this module knowing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import requests
from django.conf import settings
from django.utils import timezone

from .errors import JiraAuthError, JiraError, JiraUnavailable, error_for

logger = logging.getLogger(__name__)

AUDIENCE = "api.atlassian.com"
# What a bug-sync integration needs (API-NOTES §12.4), plus offline_access for a refresh token.
# read:field:jira (granular, beside the classic ones) lets the field mapping read field lists
# wherever an endpoint is granular-only; the 3LO app in developer.atlassian.com must have it.
SCOPES_3LO = (
    "read:jira-work",
    "write:jira-work",
    "read:jira-user",
    "manage:jira-webhook",
    "read:field:jira",
    "offline_access",
)
# When the token endpoint leaves expires_in out: Atlassian's tokens live an hour.
DEFAULT_EXPIRES_IN_S = 3600


@dataclass(frozen=True)
class TokenSet:
    """What the token endpoint granted. `refresh_token` is None for client credentials."""

    access_token: str
    expires_at: datetime
    refresh_token: str | None
    scopes: frozenset[str]


def token_url() -> str:
    return f"{settings.ATLASSIAN_AUTH_URL}/oauth/token"


def authorize_url(
    *, client_id: str, redirect_uri: str, state: str, scopes: tuple[str, ...] = SCOPES_3LO
) -> str:
    """The consent page to send the admin's browser to (audience and prompt as every client sends)."""
    query = {
        "audience": AUDIENCE,
        "client_id": client_id,
        "scope": " ".join(scopes),
        "redirect_uri": redirect_uri,
        "state": state,
        "response_type": "code",
        "prompt": "consent",
    }
    return f"{settings.ATLASSIAN_AUTH_URL}/authorize?{urlencode(query)}"


def exchange_code(*, code: str, redirect_uri: str, client_id: str, client_secret: str) -> TokenSet:
    """Trade the callback's one-time code for tokens. Never retried: a code is single-use."""
    return _grant(
        token_url(),
        {
            "grant_type": "authorization_code",
            "client_id": client_id,
            "client_secret": client_secret,
            "code": code,
            "redirect_uri": redirect_uri,
        },
        retry_on_timeout=False,
    )


def refresh(*, refresh_token: str, client_id: str, client_secret: str) -> TokenSet:
    """Rotate: a new access token AND a new refresh token; the one sent is spent.

    A timeout leaves us not knowing whether Atlassian rotated. Resending the same refresh token
    once is safe: reuse within 10 minutes of rotation is allowed (API-NOTES §1a), so the second
    answer is a valid pair either way."""
    return _grant(
        token_url(),
        {
            "grant_type": "refresh_token",
            "client_id": client_id,
            "client_secret": client_secret,
            "refresh_token": refresh_token,
        },
        retry_on_timeout=True,
    )


def client_credentials(*, client_id: str, client_secret: str) -> TokenSet:
    """A service account's 60-minute token. The documented host first; if it refuses the client
    (not a network problem), the older `api.atlassian.com` form with an audience (API-NOTES §1b)."""
    body = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret}
    try:
        return _grant(token_url(), body, retry_on_timeout=True)
    except JiraAuthError as first:
        try:
            return _grant(
                f"{settings.ATLASSIAN_API_URL}/oauth/token",
                {**body, "audience": AUDIENCE},
                retry_on_timeout=True,
            )
        except JiraError:  # the older form does not help: report what the documented one said
            raise first from None


def _grant(url: str, body: dict[str, str], *, retry_on_timeout: bool) -> TokenSet:
    timeout = (settings.JIRA_CONNECT_TIMEOUT_S, settings.JIRA_READ_TIMEOUT_S)
    attempts = 2 if retry_on_timeout else 1
    for attempt in range(attempts):
        try:
            response = requests.post(url, json=body, timeout=timeout, allow_redirects=False)
        except requests.Timeout as exc:
            if attempt + 1 < attempts:
                continue
            raise JiraUnavailable(
                status=None,
                user_message="Atlassian's sign-in service did not answer in time. Try again in a minute.",
            ) from exc
        except requests.RequestException as exc:
            raise JiraUnavailable(
                status=None,
                user_message="Atlassian's sign-in service could not be reached. Check the network and retry.",
            ) from exc
        break
    logger.info("jira.oauth.token", extra={"grant": body["grant_type"], "status": response.status_code})
    if response.status_code != 200:
        raise error_for(response)
    return _token_set(response)


def _token_set(response: requests.Response) -> TokenSet:
    try:
        data: Any = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("access_token"), str):
        raise JiraError(
            status=response.status_code, user_message="Atlassian's sign-in service gave no token."
        )
    try:
        expires_in = int(data.get("expires_in") or DEFAULT_EXPIRES_IN_S)
    except (TypeError, ValueError):
        expires_in = DEFAULT_EXPIRES_IN_S
    refresh_token = data.get("refresh_token")
    scopes = data.get("scope")
    return TokenSet(
        access_token=data["access_token"],
        expires_at=timezone.now() + timedelta(seconds=expires_in),
        refresh_token=refresh_token if isinstance(refresh_token, str) and refresh_token else None,
        scopes=frozenset(scopes.split()) if isinstance(scopes, str) else frozenset(),
    )
