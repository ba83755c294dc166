"""Typed-in credentials on the Jira page (Basic, scoped token, service account), checked live
against the sandbox: errors in place and in words, secrets never sent back, an empty secret
field keeping the stored secret (issue 5 §3)."""

from __future__ import annotations

from datetime import date

import pytest
from django.test import Client

from bugs.models import App
from integrations import services
from integrations.jira import wizard
from integrations.models import AuthType, JiraConnection

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
    assert "<details open>" in page or "details open" in page
    assert wizard.draft_load(web.session, app.pk, app) is None


def test_a_bad_site_url_is_an_error_on_that_field(web: Client, app: App, jira: dict[str, str]) -> None:
    answer = web.post(_url(app, "basic"), _basic(jira, **{"basic-site_url": "https://10.0.0.5"}))
    assert answer.status_code == 400
    field = answer.context["credential_forms"][2]
    assert field.auth_type == AuthType.BASIC and "site_url" in field.errors


def test_an_empty_secret_keeps_the_stored_one(web: Client, app: App, jira: dict[str, str]) -> None:
    draft = services.jira_draft_from_credentials(
        app=app,
        auth_type=AuthType.BASIC,
        site_url=jira["site_url"],
        email=jira["user_email"],
        api_token=jira["api_token"],
    )
    services.jira_connection_save(app=app, draft=draft)

    page = web.get(f"/apps/{app.pk}/settings/integrations/jira/").content.decode()
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
    assert web.post(f"/apps/{app.pk}/settings/integrations/jira/draft/save/").status_code == 302
    saved = JiraConnection.objects.get(app=app)
    assert saved.auth_type == AuthType.OAUTH_SERVICE_ACCOUNT and saved.cloud_id
    page = web.get(f"/apps/{app.pk}/settings/integrations/jira/").content.decode()
    assert jira["sa_client_id"] in page and jira["sa_client_secret"] not in page
    assert saved.secrets()["access_token"] not in page


def test_an_unknown_auth_type_is_a_404(web: Client, app: App) -> None:
    assert web.post(_url(app, "oauth2"), {}).status_code == 404
    assert web.post(_url(app, "nonsense"), {}).status_code == 404
