"""The token endpoint calls (jira/oauth.py) with `responses`: the bodies sent, what a grant
becomes, the client-credentials fallback to the older host, and errors."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from django.utils import timezone

from integrations.jira import oauth
from integrations.jira.errors import JiraAuthError, JiraUnavailable

AUTH = "https://auth.example.test"
API = "https://api.example.test"


@pytest.fixture(autouse=True)
def hosts(settings: Any) -> None:
    settings.ATLASSIAN_AUTH_URL = AUTH
    settings.ATLASSIAN_API_URL = API


def _body(call: Any) -> dict[str, Any]:
    return json.loads(call.request.body)


@responses.activate
def test_authorize_url_carries_what_every_client_sends() -> None:
    url = oauth.authorize_url(client_id="cid", redirect_uri="https://app.test/cb", state="s1")
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{AUTH}/authorize"
    assert query == {
        "audience": "api.atlassian.com",
        "client_id": "cid",
        "scope": " ".join(oauth.SCOPES_3LO),
        "redirect_uri": "https://app.test/cb",
        "state": "s1",
        "response_type": "code",
        "prompt": "consent",
    }


@responses.activate
def test_code_exchange_sends_the_secret_server_side_and_reads_the_grant() -> None:
    responses.post(
        f"{AUTH}/oauth/token",
        json={
            "access_token": "at",
            "refresh_token": "rt",
            "expires_in": 3600,
            "scope": "read:jira-work offline_access",
        },
    )
    granted = oauth.exchange_code(
        code="c1", redirect_uri="https://app.test/cb", client_id="cid", client_secret="cs"
    )
    assert _body(responses.calls[0]) == {
        "grant_type": "authorization_code",
        "client_id": "cid",
        "client_secret": "cs",
        "code": "c1",
        "redirect_uri": "https://app.test/cb",
    }
    assert (granted.access_token, granted.refresh_token) == ("at", "rt")
    assert granted.scopes == {"read:jira-work", "offline_access"}
    assert timedelta(minutes=59) < granted.expires_at - timezone.now() <= timedelta(hours=1)


@responses.activate
def test_a_code_is_never_sent_twice() -> None:
    responses.post(f"{AUTH}/oauth/token", body=requests.Timeout())
    with pytest.raises(JiraUnavailable):
        oauth.exchange_code(code="c1", redirect_uri="r", client_id="cid", client_secret="cs")
    assert len(responses.calls) == 1


@responses.activate
def test_a_refresh_that_timed_out_is_resent_once_within_the_reuse_leeway() -> None:
    responses.post(f"{AUTH}/oauth/token", body=requests.Timeout())
    responses.post(
        f"{AUTH}/oauth/token", json={"access_token": "at2", "refresh_token": "rt2", "expires_in": 3600}
    )
    granted = oauth.refresh(refresh_token="rt1", client_id="cid", client_secret="cs")
    assert granted.refresh_token == "rt2" and len(responses.calls) == 2
    assert all(_body(c)["refresh_token"] == "rt1" for c in responses.calls)


@responses.activate
def test_invalid_grant_is_an_auth_error() -> None:
    responses.post(
        f"{AUTH}/oauth/token",
        status=403,
        json={"error": "invalid_grant", "error_description": "Unknown or invalid refresh token."},
    )
    with pytest.raises(JiraAuthError) as caught:
        oauth.refresh(refresh_token="rt1", client_id="cid", client_secret="cs")
    assert caught.value.reason == "revoked"


@responses.activate
def test_client_credentials_falls_back_to_the_older_host_with_an_audience() -> None:
    responses.post(
        f"{AUTH}/oauth/token",
        status=401,
        json={"error": "access_denied", "error_description": "Unauthorized"},
    )
    responses.post(f"{API}/oauth/token", json={"access_token": "sa-at", "expires_in": 3600})
    granted = oauth.client_credentials(client_id="sa", client_secret="sa-secret")
    assert granted.access_token == "sa-at" and granted.refresh_token is None
    assert _body(responses.calls[0]) == {
        "grant_type": "client_credentials",
        "client_id": "sa",
        "client_secret": "sa-secret",
    }
    assert _body(responses.calls[1])["audience"] == "api.atlassian.com"


@responses.activate
def test_client_credentials_refused_by_both_hosts_reports_the_documented_ones_error() -> None:
    responses.post(
        f"{AUTH}/oauth/token",
        status=401,
        json={"error": "access_denied", "error_description": "Unauthorized"},
    )
    responses.post(f"{API}/oauth/token", status=404, body="<html>nope</html>")
    with pytest.raises(JiraAuthError):
        oauth.client_credentials(client_id="sa", client_secret="wrong")


@responses.activate
def test_a_200_without_a_token_is_an_error_not_a_grant() -> None:
    responses.post(f"{AUTH}/oauth/token", json={"nothing": "here"})
    with pytest.raises(Exception) as caught:
        oauth.refresh(refresh_token="rt1", client_id="cid", client_secret="cs")
    assert "no token" in str(caught.value)
