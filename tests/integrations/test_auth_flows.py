"""Each auth type's whole flow against the sandbox Jira over real HTTP (a live server): the
product's code reaches Atlassian's stand-ins only through its settings, as it would reach Atlassian.

Covers issue 5 §5: Basic (and an expired token), a scoped API token through the gateway (and a
missing scope), OAuth client credentials, the OAuth 2.0 consent round trip through our views, two
threads refreshing one connection at once (one refresh call), a refused refresh, the site-admin
approval path, and that no secret reaches a log or a page.
"""

from __future__ import annotations

import logging
import re
import threading
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.db import connections
from django.test import Client
from django.utils import timezone

from accounts.models import Membership
from bugs.models import App
from integrations import services
from integrations.jira import wizard
from integrations.jira.auth import client_for
from integrations.jira.auth import oauth2 as oauth2_auth
from integrations.jira.errors import JiraAuthError
from integrations.jira.wizard import STATES
from integrations.jira_sandbox import models as sandbox
from integrations.models import AuthType, JiraConnection
from tests.integrations.conftest import finish_wizard

from ..conftest import login

pytestmark = pytest.mark.django_db(transaction=True)


def _draft(app: App, jira: dict[str, str], auth_type: str, **kw: str) -> JiraConnection:
    return services.jira_draft_from_credentials(app=app, auth_type=auth_type, site_url=jira["site_url"], **kw)


# ---------------------------------------------------------------------------------------------
# Basic, scoped API tokens, OAuth client credentials
# ---------------------------------------------------------------------------------------------


def test_basic_auth_connects_and_calls_the_site(app: App, jira: dict[str, str]) -> None:
    draft = _draft(app, jira, AuthType.BASIC, email=jira["user_email"], api_token=jira["api_token"])
    alice = sandbox.Account.objects.get(email=jira["user_email"])
    assert (draft.account_id, draft.identity_name) == (alice.account_id, alice.display_name)
    assert draft.cloud_id == ""
    saved = services.jira_connection_save(app=app, draft=draft)

    client = client_for(JiraConnection.objects.get(pk=saved.pk))
    assert client.base_url.rstrip("/") == jira["site_url"]
    keys = {p["key"] for p in client.search_projects(max_results=50)["values"]}
    assert {"MOB", "WEB"} <= keys
    assert client.account_id == saved.account_id  # X-AAccountId says who Jira thinks we are


def test_an_expired_basic_token_is_an_auth_error_in_words(app: App, jira: dict[str, str]) -> None:
    draft = _draft(app, jira, AuthType.BASIC, email=jira["user_email"], api_token=jira["api_token"])
    sandbox.ApiToken.objects.filter(scoped=False).update(expires_at=timezone.now() - timedelta(days=1))
    with pytest.raises(JiraAuthError) as caught:
        client_for(draft).myself()
    assert caught.value.status == 401
    assert caught.value.user_message


def test_a_wrong_basic_token_never_reaches_the_connection(app: App, jira: dict[str, str]) -> None:
    with pytest.raises(JiraAuthError):
        _draft(app, jira, AuthType.BASIC, email=jira["user_email"], api_token="ATATT3x-not-the-token")
    assert not JiraConnection.objects.exists()


def test_scoped_token_goes_through_the_gateway_with_the_tenant_cloud_id(
    app: App, jira: dict[str, str]
) -> None:
    draft = _draft(
        app,
        jira,
        AuthType.SCOPED_TOKEN,
        email=jira["service_account_email"],
        api_token=jira["scoped_api_token"],
    )
    site = sandbox.Site.objects.get(name="acme")
    assert draft.cloud_id == site.cloud_id
    client = client_for(draft)
    assert client.base_url == f"{jira['base']}/sandbox/jira/api/ex/jira/{site.cloud_id}"
    assert client.myself()["accountId"] == draft.account_id


def test_a_scoped_token_without_the_write_scope_is_a_missing_scope_error(
    app: App, jira: dict[str, str]
) -> None:
    draft = _draft(
        app,
        jira,
        AuthType.SCOPED_TOKEN,
        email=jira["service_account_email"],
        api_token=jira["scoped_api_token"],
    )
    sandbox.ApiToken.objects.filter(scoped=True).update(scopes=["read:jira-work", "read:jira-user"])
    with pytest.raises(JiraAuthError) as caught:
        client_for(draft).create_issue(
            {"project": {"key": "WEB"}, "issuetype": {"id": "10004"}, "summary": "x"}
        )
    assert caught.value.reason == "missing_scope"


def test_oauth_service_account_mints_caches_and_renews_its_token(app: App, jira: dict[str, str]) -> None:
    draft = _draft(
        app,
        jira,
        AuthType.OAUTH_SERVICE_ACCOUNT,
        client_id=jira["sa_client_id"],
        client_secret=jira["sa_client_secret"],
    )
    assert draft.cloud_id == sandbox.Site.objects.get(name="acme").cloud_id
    saved = services.jira_connection_save(app=app, draft=draft)
    minted = sandbox.AccessToken.objects.count()

    client_for(JiraConnection.objects.get(pk=saved.pk)).myself()
    assert sandbox.AccessToken.objects.count() == minted  # the stored token is still good

    JiraConnection.objects.filter(pk=saved.pk).update(access_expires_at=timezone.now() + timedelta(minutes=4))
    client_for(JiraConnection.objects.get(pk=saved.pk)).myself()
    assert sandbox.AccessToken.objects.count() == minted + 1  # within 5 minutes of expiry: renewed


def test_oauth_service_account_without_access_to_the_site_says_so(app: App, jira: dict[str, str]) -> None:
    other = jira["site_url"].replace("/site/acme", "/site/globex")
    with pytest.raises(JiraAuthError) as caught:
        services.jira_draft_from_credentials(
            app=app,
            auth_type=AuthType.OAUTH_SERVICE_ACCOUNT,
            site_url=other,
            client_id=jira["sa_client_id"],
            client_secret=jira["sa_client_secret"],
        )
    assert "no access to" in caught.value.user_message


# ---------------------------------------------------------------------------------------------
# OAuth 2.0 (3LO) through our views and the sandbox's consent page
# ---------------------------------------------------------------------------------------------


def _form_post(browser: requests.Session, url: str, data: dict[str, str]) -> requests.Response:
    """Post one of the sandbox's consent forms as a browser would: with the page's CSRF token."""
    page = browser.get(url, timeout=10)
    assert page.status_code == 200, page.text[:300]
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token is not None, page.text[:300]
    return browser.post(
        url,
        data={**data, "csrfmiddlewaretoken": token.group(1)},
        headers={"Referer": url},
        allow_redirects=False,
        timeout=10,
    )


def _sign_in(browser: requests.Session, authorize_url: str, jira: dict[str, str]) -> requests.Response:
    return _form_post(
        browser,
        authorize_url,
        {"action": "signin", "email": jira["user_email"], "password": jira["user_password"]},
    )


def _consent(authorize_url: str, jira: dict[str, str], *, site: str = "acme") -> requests.Response:
    """Alice signs in on the sandbox's consent page and allows the app for `site`."""
    browser = requests.Session()
    _sign_in(browser, authorize_url, jira)
    return _form_post(browser, authorize_url, {"action": "accept", "site": site})


def _start(web: Client, app: App) -> str:
    started = web.post(f"/apps/{app.pk}/settings/integrations/jira/oauth/start/")
    assert started.status_code == 302
    return str(started["Location"])


def _callback_path(redirect: requests.Response) -> str:
    assert redirect.status_code == 302, redirect.text[:300]
    location = urlsplit(redirect.headers["Location"])
    assert location.path == "/integrations/jira/oauth/callback"
    return f"{location.path}?{location.query}"


def _connect_with_oauth(web: Client, app: App, jira: dict[str, str]) -> JiraConnection:
    back = web.get(_callback_path(_consent(_start(web, app), jira)))
    assert back.status_code == 302
    page = web.get(f"/apps/{app.pk}/settings/integrations/jira/")
    assert b"Signed in, not saved yet" in page.content
    saved = finish_wizard(web, app)
    assert saved.status_code == 302
    return JiraConnection.objects.get(app=app)


def test_oauth_consent_round_trip_saves_a_gateway_connection(
    web: Client, app: App, jira: dict[str, str]
) -> None:
    authorize = _start(web, app)
    query = parse_qs(urlsplit(authorize).query)
    assert authorize.startswith(f"{jira['base']}/sandbox/jira/auth/authorize?")
    assert query["audience"] == ["api.atlassian.com"] and query["prompt"] == ["consent"]
    assert "offline_access" in query["scope"][0].split()

    connection = _connect_with_oauth(web, app, jira)
    site = sandbox.Site.objects.get(name="acme")
    assert connection.auth_type == AuthType.OAUTH2
    assert connection.cloud_id == site.cloud_id
    assert connection.site_url.endswith("/sandbox/jira/site/acme")
    assert connection.account_id == sandbox.Account.objects.get(email=jira["user_email"]).account_id
    assert connection.secret_expires_at > timezone.now() + timedelta(days=364)
    assert set(connection.secrets()) >= {"access_token", "refresh_token"}
    assert client_for(connection).myself()["accountId"] == connection.account_id
    page = web.get(f"/apps/{app.pk}/settings/integrations/jira/")
    assert b"OAuth 2.0 (Recommended)" in page.content and b"Connected" in page.content


def test_a_state_works_once_and_only_in_its_session(web: Client, app: App, jira: dict[str, str]) -> None:
    callback = _callback_path(_consent(_start(web, app), jira))
    stranger = Client()
    login(stranger, Membership.objects.get(organization=app.organization).user)
    assert stranger.get(callback).status_code == 400  # another session never issued that state
    assert web.get(callback).status_code == 302
    assert web.get(callback).status_code == 400  # spent
    assert b"has expired" in web.get(callback).content


def test_a_state_expires_after_ten_minutes(web: Client, app: App, jira: dict[str, str]) -> None:
    callback = _callback_path(_consent(_start(web, app), jira))
    session = web.session
    states = session[STATES]
    for entry in states.values():
        entry["at"] = (timezone.now() - timedelta(minutes=11)).isoformat()
    session[STATES] = states
    session.save()
    assert web.get(callback).status_code == 400
    assert not JiraConnection.objects.exists()


def test_access_denied_explains_the_site_admin_path(web: Client, app: App, jira: dict[str, str]) -> None:
    authorize = _start(web, app)
    state = parse_qs(urlsplit(authorize).query)["state"][0]
    back = web.get(
        "/integrations/jira/oauth/callback", {"error": "access_denied", "state": state}, follow=True
    )
    assert b"admin.atlassian.com" in back.content and b"Connected apps" in back.content
    assert not JiraConnection.objects.exists()


def test_admin_approval_keeps_the_code_back_and_the_page_explains(
    web: Client, app: App, jira: dict[str, str]
) -> None:
    sandbox.Site.objects.filter(name="acme").update(admin_approval_required=True)
    authorize = _start(web, app)
    browser = requests.Session()
    _sign_in(browser, authorize, jira)
    blocked = _form_post(browser, authorize, {"action": "accept", "site": "acme"})
    assert blocked.status_code == 200  # no redirect back to us: the admin is stuck there
    assert "Your site admin must authorize this app" in blocked.text
    assert not sandbox.AuthCode.objects.exists()
    page = web.get(f"/apps/{app.pk}/settings/integrations/jira/")
    assert b"has not come back from Atlassian" in page.content
    assert b"Connected apps" in page.content


def test_two_threads_refreshing_at_once_make_one_refresh_call(
    web: Client, app: App, jira: dict[str, str]
) -> None:
    connection = _connect_with_oauth(web, app, jira)
    JiraConnection.objects.filter(pk=connection.pk).update(
        access_expires_at=timezone.now() - timedelta(seconds=1)
    )
    rotations = sandbox.RefreshToken.objects.count()
    results: list[str] = []
    failures: list[BaseException] = []
    barrier = threading.Barrier(2)

    def refresh() -> None:
        try:
            row = JiraConnection.objects.get(pk=connection.pk)
            barrier.wait(timeout=10)
            results.append(oauth2_auth.access_token(row))
        except BaseException as exc:
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=refresh) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures
    assert len(results) == 2 and results[0] == results[1]
    assert sandbox.RefreshToken.objects.count() == rotations + 1  # exactly one rotation
    assert not sandbox.Grant.objects.exclude(revoked_at=None).exists()
    stored = JiraConnection.objects.get(pk=connection.pk)
    assert stored.secrets()["access_token"] == results[0]
    assert stored.refresh_lease_until is None
    assert client_for(stored).myself()["accountId"] == stored.account_id


def test_a_refused_refresh_marks_the_connection_and_nothing_else(
    web: Client, app: App, jira: dict[str, str]
) -> None:
    connection = _connect_with_oauth(web, app, jira)
    sandbox.Grant.objects.update(revoked_at=timezone.now())
    JiraConnection.objects.filter(pk=connection.pk).update(
        access_expires_at=timezone.now() - timedelta(seconds=1)
    )
    with pytest.raises(JiraAuthError):
        client_for(JiraConnection.objects.get(pk=connection.pk))
    stored = JiraConnection.objects.get(pk=connection.pk)
    assert stored.status == JiraConnection.Status.NEEDS_REAUTH
    assert stored.site_url == connection.site_url and stored.cloud_id == connection.cloud_id
    assert stored.secrets()["refresh_token"] == connection.secrets()["refresh_token"]
    page = web.get(f"/apps/{app.pk}/settings/integrations/jira/")
    assert b"Needs re-authentication" in page.content


def test_members_get_a_404(client: Client, member: Membership) -> None:
    login(client, member.user)
    from tests.factories import AppFactory

    app = AppFactory(organization=member.organization)
    assert client.get(f"/apps/{app.pk}/settings/integrations/jira/").status_code == 404
    assert client.post(f"/apps/{app.pk}/settings/integrations/jira/oauth/start/").status_code == 404


# ---------------------------------------------------------------------------------------------
# Secrets stay secret
# ---------------------------------------------------------------------------------------------


def test_no_secret_reaches_a_log_or_a_page(
    web: Client, app: App, jira: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    connection = _connect_with_oauth(web, app, jira)
    JiraConnection.objects.filter(pk=connection.pk).update(
        access_expires_at=timezone.now() - timedelta(seconds=1)
    )
    client_for(JiraConnection.objects.get(pk=connection.pk)).myself()
    basic = _draft(app, jira, AuthType.BASIC, email=jira["user_email"], api_token=jira["api_token"])
    client_for(basic).myself()
    page = web.get(f"/apps/{app.pk}/settings/integrations/jira/").content.decode()

    stored = JiraConnection.objects.get(pk=connection.pk).secrets()
    secrets = [
        jira["api_token"],
        jira["oauth_client_secret"],
        connection.secrets()["access_token"],
        connection.secrets()["refresh_token"],
        stored["access_token"],
        stored["refresh_token"],
    ]
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert caplog.records  # the flow did log
    for secret in secrets:
        assert secret not in logged
        assert secret not in page


def test_reconfigure_never_forks_the_oauth_refresh_token(web: Client, app: App, jira: dict[str, str]) -> None:
    """Atlassian rotates refresh tokens: a Reconfigure draft that renewed its own copy would leave
    the saved connection (and the workers using it) with a dead one, and Finish would bring the
    draft's older copy back. The draft renews through the row, and Finish keeps the row's."""
    saved = _connect_with_oauth(web, app, jira)
    assert web.post(f"/apps/{app.pk}/settings/integrations/jira/reconfigure/").status_code == 302
    # The access token runs out while the admin works on the set up (the row's and the draft's).
    JiraConnection.objects.filter(pk=saved.pk).update(access_expires_at=timezone.now() - timedelta(minutes=1))
    session = web.session
    loaded = wizard.draft_load(session, app.pk, app)
    assert loaded is not None and loaded[0].pk == saved.pk
    loaded[0].access_expires_at = timezone.now() - timedelta(minutes=1)
    wizard.draft_save(session, app.pk, loaded[0], extra={**loaded[2], "id": loaded[1]})
    session.save()
    assert web.get(f"/apps/{app.pk}/settings/integrations/jira/setup/").status_code == 200
    row = JiraConnection.objects.get(pk=saved.pk)
    assert row.secrets()["refresh_token"] != saved.secrets()["refresh_token"]  # renewed on the row
    # Meanwhile a worker renews again through the saved connection.
    JiraConnection.objects.filter(pk=saved.pk).update(access_expires_at=timezone.now() - timedelta(minutes=1))
    client_for(JiraConnection.objects.get(pk=saved.pk)).myself()
    newest = JiraConnection.objects.get(pk=saved.pk).secrets()["refresh_token"]
    assert newest != row.secrets()["refresh_token"]

    assert finish_wizard(web, app).status_code == 302
    after = JiraConnection.objects.get(pk=saved.pk)
    assert after.secrets()["refresh_token"] == newest  # not the draft's older copy
    JiraConnection.objects.filter(pk=saved.pk).update(access_expires_at=timezone.now() - timedelta(minutes=1))
    assert client_for(JiraConnection.objects.get(pk=saved.pk)).myself()["accountId"]
