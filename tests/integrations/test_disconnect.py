"""Disconnect: asked first, deletes the credentials, keeps the connection row (and so its
history), and connecting again brings it back."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import Membership
from bugs.models import App
from integrations import services
from integrations.models import AuthType, JiraConnection
from tests.factories import AppFactory

from ..conftest import login

pytestmark = pytest.mark.django_db

SECRET = "ATATT3x-secret-to-forget-0123456789"


def _connected(app: App) -> JiraConnection:
    draft = JiraConnection(app=app, auth_type=AuthType.BASIC, site_url="https://acme.atlassian.net")
    draft.identity_email = "alice@acme.example"
    draft.set_secrets({"api_token": SECRET}, entered=True)
    return services.jira_connection_save(app=app, draft=draft)


def test_disconnect_asks_first_then_forgets_the_credentials(web: Client, app: App) -> None:
    connection = _connected(app)
    url = f"/apps/{app.pk}/settings/integrations/jira/disconnect/"
    page = web.get(f"/apps/{app.pk}/settings/integrations/jira/").content.decode()
    assert url in page

    asked = web.get(url)
    assert asked.status_code == 200 and b"Disconnect" in asked.content
    assert JiraConnection.objects.get(pk=connection.pk).secrets() == {
        "api_token": SECRET
    }  # a GET changes nothing

    assert web.post(url).status_code == 302
    stored = JiraConnection.objects.get(pk=connection.pk)  # the row stays
    assert stored.status == JiraConnection.Status.DISCONNECTED
    assert stored.secrets() == {} and stored.credentials_set_at is None and stored.secret_expires_at is None
    after = web.get(f"/apps/{app.pk}/settings/integrations/jira/").content.decode()
    assert "Disconnected" in after and url not in after
    assert web.get(url).status_code == 404  # nothing left to disconnect


def test_connecting_again_reuses_the_row(web: Client, app: App) -> None:
    connection = _connected(app)
    services.jira_connection_disconnect(connection=connection)
    again = _connected(app)
    assert again.pk == connection.pk and again.status == JiraConnection.Status.ACTIVE
    assert again.secrets() == {"api_token": SECRET}


def test_members_and_apps_without_a_connection_get_a_404(
    client: Client, member: Membership, web: Client, app: App
) -> None:
    assert web.get(f"/apps/{app.pk}/settings/integrations/jira/disconnect/").status_code == 404
    other = AppFactory(organization=member.organization)
    _connected(other)
    login(client, member.user)
    assert client.post(f"/apps/{other.pk}/settings/integrations/jira/disconnect/").status_code == 404
    assert JiraConnection.objects.get(app=other).status == JiraConnection.Status.ACTIVE
