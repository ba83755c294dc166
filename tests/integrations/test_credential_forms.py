"""Typed-in credentials on the Jira page (Basic, scoped token, service account), checked live
against the sandbox: errors in place and in words, secrets never sent back, an empty secret
field keeping the stored secret (issue 5 §3)."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import Membership
from bugs.models import App
from integrations import services
from integrations.jira import wizard
from integrations.jira_sandbox import models as sandbox
from integrations.models import AuthType, JiraConnection
from tests.integrations.conftest import finish_wizard

from ..conftest import login

pytestmark = pytest.mark.django_db(transaction=True)


def _url(app: App, auth_type: str) -> str:
    return f"/apps/{app.pk}/settings/integrations/jira/credentials/{auth_type}/"


def _basic(jira: dict[str, str], **overrides: str) -> dict[str, str]:
    data = {
        "basic-site_url": jira["site_url"],
        "basic-email": jira["user_email"],
        "basic-api_token": jira["api_token"],
        "basic-token_expires_on": "2027-06-30",
    }
    return {**data, **overrides}


def test_basic_credentials_become_a_checked_draft(web: Client, app: App, jira: dict[str, str]) -> None:
    answer = web.post(_url(app, "basic"), _basic(jira))
    assert answer.status_code == 302
    loaded = wizard.draft_load(web.session, app.pk, app)
    assert loaded is not None
    draft = loaded[0]
    assert draft.auth_type == AuthType.BASIC and draft.identity_email == jira["user_email"]
    assert draft.secret_expires_at is not None and draft.secret_expires_at.date() == date(2027, 6, 30)
    page = web.get(f"/apps/{app.pk}/settings/integrations/jira/").content.decode()
    assert "Signed in, not saved yet" in page and jira["api_token"] not in page


def test_a_wrong_token_is_shown_in_place_and_never_echoed(
    web: Client, app: App, jira: dict[str, str]
) -> None:
    wrong = "ATATT3x-this-is-not-the-right-token-0000000000"
    answer = web.post(_url(app, "basic"), _basic(jira, **{"basic-api_token": wrong}))
    assert answer.status_code == 400
    page = answer.content.decode()
    assert "Jira did not accept these credentials" in page
    assert wrong not in page and jira["user_email"] in page  # what was typed (but the secret) stays
    assert 'value="basic" selected' in page  # the form that failed stays chosen
    assert wizard.draft_load(web.session, app.pk, app) is None


def test_a_bad_site_url_is_an_error_on_that_field(web: Client, app: App, jira: dict[str, str]) -> None:
    answer = web.post(_url(app, "basic"), _basic(jira, **{"basic-site_url": "https://10.0.0.5"}))
    assert answer.status_code == 400
    form = answer.context["form"]
    assert form.auth_type == AuthType.BASIC and "site_url" in form.errors


def test_an_empty_secret_keeps_the_stored_one(web: Client, app: App, jira: dict[str, str]) -> None:
    draft = services.jira_draft_from_credentials(
        app=app,
        auth_type=AuthType.BASIC,
        site_url=jira["site_url"],
        email=jira["user_email"],
        api_token=jira["api_token"],
    )
    services.jira_connection_save(app=app, draft=draft)

    page = web.get(f"/apps/{app.pk}/settings/integrations/jira/").content.decode()  # Basic is chosen
    assert "Leave empty to keep it." in page and jira["api_token"] not in page
    assert 'name="basic-api_token"' in page and 'name="basic-api_token" value' not in page

    answer = web.post(_url(app, "basic"), _basic(jira, **{"basic-api_token": ""}))
    assert answer.status_code == 302
    loaded = wizard.draft_load(web.session, app.pk, app)
    assert loaded is not None and loaded[0].secrets() == {"api_token": jira["api_token"]}


def test_service_account_form_keeps_the_client_id_visible_and_the_secret_hidden(
    web: Client,
    app: App,
    jira: dict[str, str],
) -> None:
    data = {
        "oauth_service_account-site_url": jira["site_url"],
        "oauth_service_account-client_id": jira["sa_client_id"],
        "oauth_service_account-client_secret": jira["sa_client_secret"],
    }
    assert web.post(_url(app, "oauth_service_account"), data).status_code == 302
    assert finish_wizard(web, app).status_code == 302
    saved = JiraConnection.objects.get(app=app)
    assert saved.auth_type == AuthType.OAUTH_SERVICE_ACCOUNT and saved.cloud_id
    page = web.get(f"/apps/{app.pk}/settings/integrations/jira/").content.decode()
    assert 'value="oauth_service_account" selected' in page
    assert jira["sa_client_id"] in page and jira["sa_client_secret"] not in page
    assert saved.secrets()["access_token"] not in page


def test_an_unknown_auth_type_is_a_404(web: Client, app: App) -> None:
    assert web.post(_url(app, "oauth2"), {}).status_code == 404
    assert web.post(_url(app, "nonsense"), {}).status_code == 404


# ---------------------------------------------------------------------------------------------
# The authentication type dropdown
# ---------------------------------------------------------------------------------------------

ORDER = [
    "OAuth 2.0 (Recommended)",
    "OAuth service accounts",
    "Service accounts with scoped API Tokens",
    "Basic Authentication",
    "Bugbridge Add-on (Legacy)",
]


def test_the_dropdown_offers_the_five_types_in_order_oauth_first(web: Client, app: App) -> None:
    page = web.get(f"/apps/{app.pk}/settings/integrations/jira/").content.decode()
    dropdown = page.split('<select id="auth-type" name="type">', 1)[1].split("</select>", 1)[0]
    offered = re.findall(r"<option [^>]*>([^<]+)</option>", dropdown)
    assert offered == ORDER
    assert 'value="oauth2" selected' in page and "Sign in with Atlassian" in page


def test_choosing_a_type_swaps_in_its_part_only(web: Client, app: App) -> None:
    url = f"/apps/{app.pk}/settings/integrations/jira/"
    part = web.get(url, {"type": "basic"}, headers={"HX-Request": "true"}).content.decode()
    assert part.lstrip().startswith('<div id="auth-form"') and "<html" not in part
    assert 'name="basic-api_token"' in part and "plan yearly rotation" in part
    scoped = web.get(url, {"type": "scoped_token"}, headers={"HX-Request": "true"}).content.decode()
    assert "1 to 365 days" in scoped and "manage:jira-webhook" in scoped
    whole = web.get(url, {"type": "scoped_token"}).content.decode()  # without htmx: the whole page
    assert "<html" in whole and 'value="scoped_token" selected' in whole
    assert 'value="oauth2" selected' in web.get(url, {"type": "nonsense"}).content.decode()


def test_the_add_on_option_explains_the_install_and_waits_for_the_link(web: Client, app: App) -> None:
    url = f"/apps/{app.pk}/settings/integrations/jira/"
    part = web.get(url, {"type": "connect"}, headers={"HX-Request": "true"}).content.decode()
    assert "/integrations/jira/connect/atlassian-connect.json" in part and "development mode" in part
    status_url = f"/apps/{app.pk}/settings/integrations/jira/connect-status/"
    assert f'hx-get="{status_url}"' in part and 'hx-trigger="every 3s"' in part

    waiting = web.get(status_url, headers={"HX-Request": "true"})
    assert waiting.status_code == 200 and "HX-Refresh" not in waiting and b"Waiting" in waiting.content
    draft = JiraConnection(app=app, auth_type=AuthType.CONNECT, site_url="https://acme.atlassian.net")
    session = web.session
    wizard.draft_save(session, app.pk, draft)
    session.save()
    linked = web.get(status_url, headers={"HX-Request": "true"})
    assert linked["HX-Refresh"] == "true"


def test_members_cannot_poll_or_choose(client: Client, member: Membership) -> None:
    from tests.factories import AppFactory

    login(client, member.user)
    app = AppFactory(organization=member.organization)
    assert client.get(f"/apps/{app.pk}/settings/integrations/jira/connect-status/").status_code == 404
    assert client.get(f"/apps/{app.pk}/settings/integrations/jira/", {"type": "basic"}).status_code == 404


def test_once_linked_the_add_on_option_stops_polling(web: Client, app: App) -> None:
    draft = JiraConnection(app=app, auth_type=AuthType.CONNECT, site_url="https://acme.atlassian.net")
    session = web.session
    wizard.draft_save(session, app.pk, draft)
    session.save()
    page = web.get(f"/apps/{app.pk}/settings/integrations/jira/", {"type": "connect"}).content.decode()
    assert "is linked to" in page and 'hx-trigger="every 3s"' not in page


def test_missing_scopes_are_listed_in_place(web: Client, app: App, jira: dict[str, str]) -> None:
    sandbox.ApiToken.objects.filter(scoped=True).update(scopes=["read:jira-work", "read:jira-user"])
    answer = web.post(
        _url(app, "scoped_token"),
        {
            "scoped_token-site_url": jira["site_url"],
            "scoped_token-email": jira["service_account_email"],
            "scoped_token-api_token": jira["scoped_api_token"],
        },
    )
    text = answer.content.decode()
    assert answer.status_code == 400
    assert "lack scopes Bugbridge needs: write:jira-work, manage:jira-webhook." in text
    assert wizard.draft_load(web.session, app.pk, app) is None


def test_an_expired_token_is_named_in_place(web: Client, app: App, jira: dict[str, str]) -> None:
    sandbox.ApiToken.objects.filter(scoped=False).update(expires_at=timezone.now() - timedelta(days=1))
    answer = web.post(
        _url(app, "basic"),
        {
            "basic-site_url": jira["site_url"],
            "basic-email": jira["user_email"],
            "basic-api_token": jira["api_token"],
        },
    )
    assert answer.status_code == 400
    # Jira answers an expired token like a wrong one, so the words name both.
    assert "revoked or expired" in answer.content.decode()
    # With the expiry date the admin knows, the form says it outright.
    dated = web.post(
        _url(app, "basic"),
        {
            "basic-site_url": jira["site_url"],
            "basic-email": jira["user_email"],
            "basic-api_token": jira["api_token"],
            "basic-token_expires_on": (timezone.localdate() - timedelta(days=2)).isoformat(),
        },
    )
    assert dated.status_code == 400 and "This token has expired." in dated.content.decode()
