"""The auth server (3LO authorize + token endpoint), client credentials and accessible-resources.

The 3LO dance runs through Django's test client like a browser would: authorize → sign in →
consent with a site → redirect with code and state → token exchange → gateway calls with the
bearer token (answers checked against Atlassian's spec by JiraCaller).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.test import Client
from django.utils import timezone

from integrations.jira_sandbox.models import AccessToken, AuthCode, Grant, OAuthApp, RefreshToken, Site
from integrations.jira_sandbox.oauth import SESSION_ACCOUNT_KEY
from integrations.jira_sandbox.seed import DEMO_PASSWORD, SeedResult

from .conftest import PREFIX, JiraCaller

pytestmark = pytest.mark.django_db

AUTHORIZE = f"{PREFIX}/auth/authorize"
TOKEN = f"{PREFIX}/auth/oauth/token"
RESOURCES = f"{PREFIX}/api/oauth/token/accessible-resources"
ALICE = "alice@acme.example"
ALL_SCOPES = "read:jira-work write:jira-work read:jira-user manage:jira-webhook offline_access"
ADMIN_MESSAGE = (
    "Your site admin must authorize this app for the site acme.atlassian.net "
    "before the app can access your account."
)


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


class Clock:
    """Moves `timezone.now()` forward for everything that asks it (tokens, codes, the gateway)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def advance(self, **delta: float) -> None:
        self.offset += timedelta(**delta)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    travel = Clock()
    real_now: Callable[[], datetime] = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: real_now() + travel.offset)
    return travel


def app() -> OAuthApp:
    return OAuthApp.objects.get(kind=OAuthApp.Kind.THREE_LO)


def authorize_url(**overrides: str) -> str:
    the_app = app()
    params = {
        "audience": "api.atlassian.com",
        "client_id": the_app.client_id,
        "scope": ALL_SCOPES,
        "redirect_uri": the_app.redirect_uris[0],
        "state": "state-42",
        "response_type": "code",
        "prompt": "consent",
        **overrides,
    }
    return f"{AUTHORIZE}?{urlencode(params)}"


def sign_in(
    client: Client, url: str, email: str = "alice@acme.example", password: str = DEMO_PASSWORD
) -> Any:
    return client.post(url, {"action": "signin", "email": email, "password": password})


def callback_params(response: Any) -> dict[str, str]:
    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith(app().redirect_uris[0] + "?")
    return {name: values[0] for name, values in parse_qs(urlsplit(location).query).items()}


def consent(
    client: Client, *, scope: str = ALL_SCOPES, site: str = "acme", email: str = "alice@acme.example"
) -> str:
    """Sign in and accept for `site`; the authorization code from the redirect."""
    url = authorize_url(scope=scope)
    assert sign_in(client, url, email)["Location"] == url
    params = callback_params(client.post(url, {"action": "accept", "site": site}))
    assert params["state"] == "state-42"
    return params["code"]


def token_call(client: Client, **body: str) -> Any:
    return client.post(TOKEN, body, content_type="application/json")


def exchange(client: Client, code: str, **overrides: str) -> Any:
    the_app = app()
    body = {
        "grant_type": "authorization_code",
        "client_id": the_app.client_id,
        "client_secret": the_app.client_secret,
        "code": code,
        "redirect_uri": the_app.redirect_uris[0],
        **overrides,
    }
    return token_call(client, **body)


def refresh(client: Client, refresh_token: str) -> Any:
    the_app = app()
    return token_call(
        client,
        grant_type="refresh_token",
        client_id=the_app.client_id,
        client_secret=the_app.client_secret,
        refresh_token=refresh_token,
    )


def tokens(client: Client, **consent_kw: str) -> dict[str, Any]:
    response = exchange(client, consent(client, **consent_kw))
    assert response.status_code == 200, response.content
    return response.json()


def gateway(access_token: str, site: str = "acme") -> JiraCaller:
    cloud_id = Site.objects.get(name=site).cloud_id
    return JiraCaller(f"{PREFIX}/api/ex/jira/{cloud_id}/rest/api/3", f"Bearer {access_token}")


def resources(client: Client, access_token: str) -> Any:
    return client.get(RESOURCES, headers={"Authorization": f"Bearer {access_token}"})


UNAUTHORIZED = {"code": 401, "message": "Unauthorized"}
INVALID_REFRESH = {"error": "invalid_grant", "error_description": "Unknown or invalid refresh token."}


# ---------------------------------------------------------------------------------------------
# The 3LO dance
# ---------------------------------------------------------------------------------------------


def test_full_3lo_dance(sandbox: SeedResult, client: Client) -> None:
    url = authorize_url()
    page = client.get(url)
    assert page.status_code == 200
    assert b"Log in to continue to Bugbridge" in page.content
    assert b'<label for="signin-password">' in page.content

    signed_in = sign_in(client, url)
    assert signed_in.status_code == 302 and signed_in["Location"] == url
    consent_page = client.get(url).content.decode()
    assert "Bugbridge is requesting access" in consent_page
    assert "Create and manage issues" in consent_page and "View user profiles" in consent_page
    assert 'value="acme"' in consent_page and 'value="globex"' in consent_page
    assert 'value="accept"' in consent_page

    params = callback_params(client.post(url, {"action": "accept", "site": "acme"}))
    assert params["state"] == "state-42" and params["code"]
    assert "error" not in params

    response = exchange(client, params["code"])
    assert response.status_code == 200
    body = response.json()
    assert body["expires_in"] == 3600 and body["token_type"] == "Bearer"
    assert body["scope"].split() == ALL_SCOPES.split()
    assert body["refresh_token"] and body["access_token"] != body["refresh_token"]

    me = gateway(body["access_token"]).get("/myself")
    assert me.status_code == 200
    assert me.json()["emailAddress"] == "alice@acme.example"
    assert me["X-AAccountId"] == me.json()["accountId"]

    listed = resources(client, body["access_token"])
    assert listed.status_code == 200
    acme = Site.objects.get(name="acme")
    assert listed.json() == [
        {
            "id": acme.cloud_id,
            "name": "acme",
            "url": f"http://testserver{PREFIX}/site/acme",
            "scopes": ALL_SCOPES.split(),
            "avatarUrl": listed.json()[0]["avatarUrl"],
        }
    ]
    # Tokens are stored hashed, never in the clear.
    assert not AccessToken.objects.filter(token_hash=body["access_token"]).exists()
    assert not RefreshToken.objects.filter(token_hash=body["refresh_token"]).exists()


def test_the_token_reaches_only_the_chosen_site(sandbox: SeedResult, client: Client) -> None:
    access = tokens(client, site="globex")["access_token"]
    assert gateway(access, "globex").get("/myself").status_code == 200
    refused = gateway(access, "acme").get("/myself")
    assert refused.status_code == 401 and refused.json() == UNAUTHORIZED
    assert [r["name"] for r in resources(client, access).json()] == ["globex"]


def test_form_encoded_token_requests_are_accepted(sandbox: SeedResult, client: Client) -> None:
    the_app = app()
    response = client.post(
        TOKEN,
        {
            "grant_type": "authorization_code",
            "client_id": the_app.client_id,
            "client_secret": the_app.client_secret,
            "code": consent(client),
            "redirect_uri": the_app.redirect_uris[0],
        },
    )
    assert response.status_code == 200 and response.json()["token_type"] == "Bearer"


def test_wrong_password_says_so_and_signs_nobody_in(sandbox: SeedResult, client: Client) -> None:
    url = authorize_url()
    response = sign_in(client, url, password="not-it")
    assert response.status_code == 200
    assert b"Incorrect email address and / or password." in response.content
    assert SESSION_ACCOUNT_KEY not in client.session
    # Still the sign-in page, not the consent page; an accept without signing in grants nothing.
    assert b"Log in to continue" in client.get(url).content
    assert client.post(url, {"action": "accept", "site": "acme"}).status_code == 200
    assert not Grant.objects.exists()
    # Service accounts have no password and cannot sign in.
    sa = sign_in(client, url, email="bugbridge-sa@serviceaccount.atlassian.com", password="")
    assert b"Incorrect email address" in sa.content


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"redirect_uri": "https://evil.example/callback"}, "not a callback URL registered"),
        ({"client_id": "nobody"}, "No OAuth 2.0 (3LO) app has this client_id"),
        ({"scope": "read:jira-work delete:everything"}, "not enabled on it: delete:everything"),
        ({"response_type": "token"}, "Unsupported response_type"),
    ],
)
def test_broken_authorize_requests_get_an_error_page_never_a_redirect(
    sandbox: SeedResult, client: Client, overrides: dict[str, str], message: str
) -> None:
    url = authorize_url(**overrides)
    for response in (client.get(url), sign_in(client, url), client.post(url, {"action": "cancel"})):
        assert response.status_code == 400
        assert "Location" not in response
        assert message in response.content.decode()
    assert not Grant.objects.exists()


def test_cancel_redirects_with_access_denied(sandbox: SeedResult, client: Client) -> None:
    url = authorize_url()
    sign_in(client, url)
    params = callback_params(client.post(url, {"action": "cancel"}))
    assert params["error"] == "access_denied" and params["state"] == "state-42"
    assert params["error_description"]
    assert "code" not in params


def test_admin_approval_lets_nothing_through(sandbox: SeedResult, client: Client) -> None:
    Site.objects.filter(name="acme").update(admin_approval_required=True)
    url = authorize_url()
    sign_in(client, url)
    picker = client.get(url).content.decode()
    assert "acme.atlassian.net (needs site admin approval)" in picker

    blocked = client.post(url, {"action": "accept", "site": "acme"})
    assert blocked.status_code == 200
    page = blocked.content.decode()
    assert ADMIN_MESSAGE in page
    assert "Atlassian Administration → Apps → Connected apps" in page
    assert 'value="accept"' not in page and 'value="cancel"' in page
    assert not Grant.objects.exists() and not AuthCode.objects.exists()

    params = callback_params(client.post(url, {"action": "cancel"}))
    assert params["error"] == "access_denied" and "code" not in params
    # Another site of the same person is not blocked.
    assert "code" in callback_params(client.post(url, {"action": "accept", "site": "globex"}))


def test_admin_approval_shows_at_once_for_a_person_with_one_site(sandbox: SeedResult, client: Client) -> None:
    Site.objects.filter(name="acme").update(admin_approval_required=True)
    url = authorize_url()
    sign_in(client, url, email="bob@acme.example")
    page = client.get(url).content.decode()
    assert ADMIN_MESSAGE in page and 'value="accept"' not in page


def test_accept_for_a_site_the_person_cannot_use_grants_nothing(sandbox: SeedResult, client: Client) -> None:
    url = authorize_url()
    sign_in(client, url, email="bob@acme.example")  # bob is on acme only
    response = client.post(url, {"action": "accept", "site": "globex"})
    assert response.status_code == 200 and not Grant.objects.exists()


def test_the_browser_forms_keep_csrf_protection_and_the_token_endpoint_does_not_need_it(
    sandbox: SeedResult,
) -> None:
    browser = Client(enforce_csrf_checks=True)
    url = authorize_url()
    assert sign_in(browser, url).status_code == 403
    machine = Client(enforce_csrf_checks=True)
    response = machine.post(TOKEN, {"grant_type": "client_credentials"}, content_type="application/json")
    assert response.status_code == 401


# ---------------------------------------------------------------------------------------------
# The code exchange
# ---------------------------------------------------------------------------------------------


def test_a_code_works_once(sandbox: SeedResult, client: Client) -> None:
    code = consent(client)
    assert exchange(client, code).status_code == 200
    again = exchange(client, code)
    assert again.status_code == 403
    assert again.json() == {"error": "invalid_grant", "error_description": "Invalid authorization code"}


@pytest.mark.parametrize(
    "overrides",
    [{"redirect_uri": "http://testserver/elsewhere"}, {"code": "made-up"}],
)
def test_a_code_with_another_redirect_uri_or_unknown_is_invalid_grant(
    sandbox: SeedResult, client: Client, overrides: dict[str, str]
) -> None:
    body = {"code": consent(client), **overrides}
    response = exchange(client, **body)
    assert response.status_code == 403
    assert response.json()["error"] == "invalid_grant"


def test_a_code_expires_after_ten_minutes(sandbox: SeedResult, client: Client, clock: Clock) -> None:
    code = consent(client)
    clock.advance(minutes=10, seconds=1)
    assert exchange(client, code).status_code == 403


@pytest.mark.parametrize("secret", ["", "wrong-secret"])
def test_a_missing_or_wrong_client_secret_is_401(sandbox: SeedResult, client: Client, secret: str) -> None:
    code = consent(client)
    response = exchange(client, code, client_secret=secret)
    assert response.status_code == 401
    assert response.json() == {"error": "access_denied", "error_description": "Unauthorized"}
    assert exchange(client, code).status_code == 200  # the failed attempt did not burn the code


def test_no_refresh_token_without_offline_access(sandbox: SeedResult, client: Client) -> None:
    body = tokens(client, scope="read:jira-work read:jira-user")
    assert "refresh_token" not in body
    assert body["scope"] == "read:jira-work read:jira-user"


def test_unknown_grant_type(sandbox: SeedResult, client: Client) -> None:
    response = token_call(client, grant_type="password")
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"
    assert client.get(TOKEN).status_code == 405


# ---------------------------------------------------------------------------------------------
# Access tokens, scopes, the wrong host
# ---------------------------------------------------------------------------------------------


def test_access_token_lives_one_hour(sandbox: SeedResult, client: Client, clock: Clock) -> None:
    access = tokens(client)["access_token"]
    clock.advance(minutes=59)
    assert gateway(access).get("/myself").status_code == 200
    clock.advance(minutes=2)
    expired = gateway(access).get("/myself")
    assert expired.status_code == 401 and expired.json() == UNAUTHORIZED
    assert resources(client, access).status_code == 401


def test_a_token_without_the_scope_gets_scope_does_not_match(sandbox: SeedResult, client: Client) -> None:
    access = tokens(client, scope="read:jira-work")["access_token"]
    response = gateway(access).get("/myself")
    assert response.status_code == 401
    assert response.json() == {"code": 401, "message": "Unauthorized; scope does not match"}
    assert gateway(access).get("/issue/MOB-1").status_code == 200  # read:jira-work is enough here


def test_a_bearer_token_on_the_site_url_is_401(sandbox: SeedResult, client: Client) -> None:
    access = tokens(client)["access_token"]
    response = JiraCaller(f"{PREFIX}/site/acme/rest/api/3", f"Bearer {access}").get("/myself")
    assert response.status_code == 401
    assert response.json()["status-code"] == 401


def test_accessible_resources_refuses_a_bad_token(sandbox: SeedResult, client: Client) -> None:
    for headers in ({"Authorization": "Bearer nope"}, {}):
        response = client.get(RESOURCES, headers=headers)
        assert response.status_code == 401 and response.json() == UNAUTHORIZED


# ---------------------------------------------------------------------------------------------
# Refresh-token rotation
# ---------------------------------------------------------------------------------------------


def test_refresh_rotates_and_allows_reuse_within_ten_minutes(sandbox: SeedResult, client: Client) -> None:
    first = tokens(client)
    second = refresh(client, first["refresh_token"])
    assert second.status_code == 200
    rotated = second.json()
    assert rotated["refresh_token"] != first["refresh_token"]
    assert rotated["access_token"] != first["access_token"]
    assert rotated["expires_in"] == 3600 and rotated["scope"] == first["scope"]
    assert RefreshToken.objects.exclude(rotated_at=None).count() == 1

    # Two workers racing: the old token again, inside the leeway, gets a fresh pair.
    again = refresh(client, first["refresh_token"])
    assert again.status_code == 200
    assert again.json()["refresh_token"] not in (first["refresh_token"], rotated["refresh_token"])
    for access in (first["access_token"], rotated["access_token"], again.json()["access_token"]):
        assert gateway(access).get("/myself").status_code == 200


def test_reuse_after_the_leeway_revokes_the_whole_family(
    sandbox: SeedResult, client: Client, clock: Clock
) -> None:
    first = tokens(client)
    rotated = refresh(client, first["refresh_token"]).json()
    other = tokens(Client())  # another consent: its own family, untouched
    clock.advance(minutes=10, seconds=5)

    reused = refresh(client, first["refresh_token"])
    assert reused.status_code == 403 and reused.json() == INVALID_REFRESH

    # The newest refresh token and every access token of the family are dead now.
    assert refresh(client, rotated["refresh_token"]).json() == INVALID_REFRESH
    for access in (first["access_token"], rotated["access_token"]):
        dead = gateway(access).get("/myself")
        assert dead.status_code == 401 and dead.json() == UNAUTHORIZED
        assert resources(client, access).status_code == 401
    assert Grant.objects.exclude(revoked_at=None).count() == 1

    assert gateway(other["access_token"]).get("/myself").status_code == 200
    assert refresh(client, other["refresh_token"]).status_code == 200


def test_refresh_token_dies_after_90_days_unused(sandbox: SeedResult, client: Client, clock: Clock) -> None:
    first = tokens(client)
    clock.advance(days=89)
    second = refresh(client, first["refresh_token"])
    assert second.status_code == 200  # each use restarts the 90-day clock
    clock.advance(days=89)
    third = refresh(client, second.json()["refresh_token"])
    assert third.status_code == 200
    clock.advance(days=90, seconds=1)
    assert refresh(client, third.json()["refresh_token"]).json() == INVALID_REFRESH


def test_refresh_stops_365_days_after_consent(sandbox: SeedResult, client: Client, clock: Clock) -> None:
    current = tokens(client)["refresh_token"]
    for _ in range(4):
        clock.advance(days=80)
        response = refresh(client, current)
        assert response.status_code == 200
        current = response.json()["refresh_token"]
    clock.advance(days=46)  # 366 days after consent, 46 after the last use
    assert refresh(client, current).json() == INVALID_REFRESH


def test_refresh_with_another_apps_credentials_is_refused(sandbox: SeedResult, client: Client) -> None:
    first = tokens(client)
    wrong_secret = token_call(
        client,
        grant_type="refresh_token",
        client_id=app().client_id,
        client_secret="nope",
        refresh_token=first["refresh_token"],
    )
    assert wrong_secret.status_code == 401
    assert refresh(client, "sbxrt-made-up").json() == INVALID_REFRESH
    assert refresh(client, first["refresh_token"]).status_code == 200


# ---------------------------------------------------------------------------------------------
# Client credentials (service accounts)
# ---------------------------------------------------------------------------------------------


def test_client_credentials(sandbox: SeedResult, client: Client, clock: Clock) -> None:
    c = sandbox.credentials
    response = token_call(
        client,
        grant_type="client_credentials",
        client_id=c["sa_client_id"],
        client_secret=c["sa_client_secret"],
    )
    assert response.status_code == 200
    body = response.json()
    assert body["expires_in"] == 3600 and body["token_type"] == "Bearer"
    assert "refresh_token" not in body
    sa_app = OAuthApp.objects.get(client_id=c["sa_client_id"])
    assert body["scope"].split() == sa_app.scopes

    me = gateway(body["access_token"]).get("/myself")
    assert me.status_code == 200 and me.json()["emailAddress"] == c["service_account_email"]
    listed = resources(client, body["access_token"]).json()
    assert [r["name"] for r in listed] == ["acme"]  # the service account's SiteAccess
    assert listed[0]["scopes"] == sa_app.scopes

    clock.advance(minutes=61)
    assert gateway(body["access_token"]).get("/myself").status_code == 401


def test_client_credentials_form_on_the_gateway_host(sandbox: SeedResult, client: Client) -> None:
    c = sandbox.credentials
    response = client.post(
        f"{PREFIX}/api/oauth/token",
        {
            "audience": "api.atlassian.com",
            "grant_type": "client_credentials",
            "client_id": c["sa_client_id"],
            "client_secret": c["sa_client_secret"],
        },
    )
    assert response.status_code == 200
    assert gateway(response.json()["access_token"]).get("/myself").status_code == 200


def test_client_credentials_with_a_wrong_secret_is_401(sandbox: SeedResult, client: Client) -> None:
    c = sandbox.credentials
    response = token_call(
        client, grant_type="client_credentials", client_id=c["sa_client_id"], client_secret="wrong"
    )
    assert response.status_code == 401
    assert response.json() == {"error": "access_denied", "error_description": "Unauthorized"}
    assert not AccessToken.objects.exists()


def test_a_3lo_app_cannot_use_client_credentials(sandbox: SeedResult, client: Client) -> None:
    the_app = app()
    response = token_call(
        client,
        grant_type="client_credentials",
        client_id=the_app.client_id,
        client_secret=the_app.client_secret,
    )
    assert response.status_code == 403 and response.json()["error"] == "unauthorized_client"
    assert not AccessToken.objects.exists()
