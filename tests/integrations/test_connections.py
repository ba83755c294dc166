"""Jira connections at rest: encrypted columns, key rotation, the admin, the wizard's session
drafts (issue 5 §3)."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection as db
from django.test import Client

from bugs.models import App
from integrations.encryption import CredentialsUnreadable
from integrations.jira import wizard
from integrations.models import AuthType, ConnectInstallation, JiraConnection
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

SECRET = "ATATT3x-very-secret-api-token-0123456789"


def _connection(app: App) -> JiraConnection:
    connection = JiraConnection(
        app=app,
        auth_type=AuthType.BASIC,
        site_url="https://acme.atlassian.net",
        identity_email="alice@acme.example",
    )
    connection.set_secrets({"api_token": SECRET}, entered=True)
    connection.save()
    return connection


def _stored(pk: int) -> str:
    """The credentials column as the database holds it."""
    with db.cursor() as cursor:
        cursor.execute(f"SELECT credentials FROM {JiraConnection._meta.db_table} WHERE id = %s", [pk])  # noqa: S608
        return str(cursor.fetchone()[0])


def test_credentials_are_encrypted_in_the_database(app: App) -> None:
    connection = _connection(app)
    assert SECRET not in _stored(connection.pk)
    assert JiraConnection.objects.get(pk=connection.pk).secrets() == {"api_token": SECRET}


def test_rotate_credentials_key_moves_every_row_to_the_new_first_key(app: App, settings: Any) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.CREDENTIALS_ENCRYPTION_KEYS = [old]
    connection = _connection(app)
    installation = ConnectInstallation.objects.create(
        client_key="client-1", shared_secret="connect-shared-secret", base_url="https://acme.atlassian.net"
    )
    before = _stored(connection.pk)

    settings.CREDENTIALS_ENCRYPTION_KEYS = [new, old]
    out = StringIO()
    call_command("rotate_credentials_key", stdout=out)
    assert "integrations.JiraConnection: 1 row(s)" in out.getvalue()
    assert "integrations.ConnectInstallation: 1 row(s)" in out.getvalue()
    assert _stored(connection.pk) != before

    settings.CREDENTIALS_ENCRYPTION_KEYS = [new]  # the old key is gone: everything still reads
    assert JiraConnection.objects.get(pk=connection.pk).secrets() == {"api_token": SECRET}
    assert ConnectInstallation.objects.get(pk=installation.pk).shared_secret == "connect-shared-secret"


def test_a_row_under_a_key_that_is_gone_is_unreadable_not_empty(app: App, settings: Any) -> None:
    settings.CREDENTIALS_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    connection = _connection(app)
    settings.CREDENTIALS_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(CredentialsUnreadable):
        JiraConnection.objects.get(pk=connection.pk)


def test_the_admin_never_shows_or_edits_a_secret(app: App, client: Client) -> None:
    connection = _connection(app)
    ConnectInstallation.objects.create(
        client_key="client-2", shared_secret="connect-shared-secret", base_url="https://acme.atlassian.net"
    )
    admin = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(admin)
    page = client.get(f"/admin/integrations/jiraconnection/{connection.pk}/change/").content.decode()
    assert SECRET not in page and 'name="credentials"' not in page
    assert "set on" in page
    listing = client.get("/admin/integrations/connectinstallation/").content.decode()
    assert "connect-shared-secret" not in listing
    installation = ConnectInstallation.objects.get(client_key="client-2")
    change = client.get(f"/admin/integrations/connectinstallation/{installation.pk}/change/").content.decode()
    assert "connect-shared-secret" not in change and "set (hidden)" in change


def test_a_wizard_draft_keeps_its_secrets_encrypted_in_the_session(app: App, client: Client) -> None:
    draft = JiraConnection(app=app, auth_type=AuthType.BASIC, site_url="https://acme.atlassian.net")
    draft.set_secrets({"api_token": SECRET}, entered=True)
    session = client.session
    draft_id = wizard.draft_save(session, app.pk, draft, extra={"note": "kept"})
    session.save()

    from django.contrib.sessions.models import Session

    raw = Session.objects.get(session_key=session.session_key).session_data
    assert SECRET not in raw and SECRET not in str(session.get(wizard.DRAFTS))
    loaded = wizard.draft_load(client.session, app.pk, app)
    assert loaded is not None
    restored, restored_id, extra = loaded
    assert restored.pk is None and restored.secrets() == {"api_token": SECRET}
    assert (restored_id, extra, restored.site_url) == (
        draft_id,
        {"note": "kept"},
        "https://acme.atlassian.net",
    )
    assert restored.credentials_set_at == draft.credentials_set_at
