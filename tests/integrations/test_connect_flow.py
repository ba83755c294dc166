"""The legacy Connect add-on end to end against the sandbox on a live server (issue 5 §2.5):
Jira fetches our descriptor and POSTs a signed `installed`; we verify it against the install
keys, keep the shared secret, let an admin link the site to an app from the configure page, sign
our calls with HS256 + qsh, take a reinstall's new secret, and hear `uninstalled`."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

import jwt
import pytest
import requests
from django.test import Client

from accounts.models import Membership
from bugs.models import App
from integrations.jira.auth import client_for
from integrations.jira.connect import CONTEXT_QSH, sign_request
from integrations.jira_sandbox import connect as sandbox_connect
from integrations.jira_sandbox import models as sandbox
from integrations.models import AuthType, ConnectInstallation, JiraConnection
from tests.integrations.conftest import finish_wizard

pytestmark = pytest.mark.django_db(transaction=True)

DESCRIPTOR = "/integrations/jira/connect/atlassian-connect.json"


def _install(jira: dict[str, str]) -> sandbox.ConnectInstall:
    """What an admin's "Install app" click on the sandbox site does."""
    return sandbox_connect.connect_install(
        site=sandbox.Site.objects.get(name="acme"),
        descriptor_url=f"{jira['base']}{DESCRIPTOR}",
        site_url=jira["site_url"],
    )


def _context_jwt(installation: ConnectInstallation, secret: str) -> str:
    now = int(time.time())
    claims = {"iss": installation.client_key, "iat": now, "exp": now + 180, "qsh": CONTEXT_QSH}
    return jwt.encode(claims, secret, algorithm="HS256")


def test_the_descriptor_describes_the_add_on(jira: dict[str, str]) -> None:
    descriptor = requests.get(f"{jira['base']}{DESCRIPTOR}", timeout=10).json()
    assert descriptor["key"] == "com.bugbridge.jira"
    assert descriptor["baseUrl"] == jira["base"]
    assert descriptor["authentication"] == {"type": "jwt"}
    assert descriptor["lifecycle"]["installed"] == "/integrations/jira/connect/installed"
    assert descriptor["apiMigrations"]["signed-install"] is True
    assert descriptor["apiMigrations"]["context-qsh"] is True
    events = {hook["event"] for hook in descriptor["modules"]["webhooks"]}
    assert {"jira:issue_updated", "comment_created"} <= events


def test_install_link_call_reinstall_and_uninstall(
    jira: dict[str, str],
    client: Client,
    owner: Membership,
    app: App,
) -> None:
    installed = _install(jira)
    installation = ConnectInstallation.objects.get(client_key=installed.client_key)
    assert installation.shared_secret == installed.shared_secret
    assert installation.base_url == jira["site_url"] and installation.uninstalled_at is None

    # Jira opens the configure page in an iframe with a context JWT.
    anonymous = Client()
    refused = anonymous.get("/integrations/jira/connect/configure")
    assert refused.status_code == 401
    opened = requests.get(
        f"{jira['base']}/sandbox/jira/connect/{installed.pk}/configure", allow_redirects=False, timeout=10
    )
    assert opened.status_code == 302  # the sandbox's "Configure" link, signed as Jira signs it
    target = urlsplit(opened.headers["Location"])
    assert target.path == "/integrations/jira/connect/configure"
    page = anonymous.get(f"{target.path}?{target.query}")
    assert page.status_code == 200 and "X-Frame-Options" not in page
    link = page.context["link"]
    forged = _context_jwt(installation, "not-the-shared-secret-but-just-as-long-0123456789")
    assert anonymous.get("/integrations/jira/connect/configure", {"jwt": forged}).status_code == 401

    # An owner, signed in to Bugbridge, links the installation to an app and saves it.
    client.force_login(owner.user)
    path = (
        link.split(jira["base"], 1)[-1] if link.startswith(jira["base"]) else link.split("testserver", 1)[-1]
    )
    assert client.get(path).status_code == 200
    assert client.post(path, {"app": app.pk}).status_code == 302
    assert finish_wizard(client, app).status_code == 302
    connection = JiraConnection.objects.get(app=app)
    assert connection.auth_type == AuthType.CONNECT and connection.connect_installation == installation
    assert connection.account_id == installed.account.account_id  # the add-on's app user

    # Our calls are signed with the shared secret (HS256 + qsh) on the site URL.
    keys = {p["key"] for p in client_for(connection).search_projects(max_results=50)["values"]}
    assert "WEB" in keys

    # A reinstall hands over a new shared secret; we take it and keep working.
    reinstalled = _install(jira)
    assert reinstalled.shared_secret != installed.shared_secret
    installation.refresh_from_db()
    assert installation.shared_secret == reinstalled.shared_secret
    client_for(JiraConnection.objects.get(pk=connection.pk)).myself()

    # Uninstall: the installation is gone, the connection says what happened.
    sandbox_connect._uninstall(reinstalled, jira["site_url"])
    installation.refresh_from_db()
    assert installation.uninstalled_at is not None
    stored = JiraConnection.objects.get(pk=connection.pk)
    assert stored.status == JiraConnection.Status.NEEDS_REAUTH and "uninstalled" in stored.last_error


def test_an_install_not_signed_by_the_install_keys_is_refused(jira: dict[str, str]) -> None:
    body = {
        "key": "com.bugbridge.jira",
        "clientKey": "forged-client",
        "sharedSecret": "attacker-secret-long-enough-for-hs256-0123456789",
        "baseUrl": "https://evil.atlassian.net",
        "productType": "jira",
        "eventType": "installed",
    }
    forged = sign_request(
        method="POST",
        url=f"{jira['base']}/integrations/jira/connect/installed",
        base_url=jira["base"],
        app_key="forged-client",
        shared_secret="attacker-secret-long-enough-for-hs256-0123456789",
    )
    answer = requests.post(
        f"{jira['base']}/integrations/jira/connect/installed",
        json=body,
        headers={"Authorization": forged},
        timeout=10,
    )
    assert answer.status_code == 401
    assert not ConnectInstallation.objects.exists()


def test_webhooks_must_be_signed_by_the_installation(jira: dict[str, str]) -> None:
    installed = _install(jira)
    url = f"{jira['base']}/integrations/jira/connect/webhook"

    def post(secret: str) -> int:
        auth = sign_request(
            method="POST", url=url, base_url=jira["base"], app_key=installed.client_key, shared_secret=secret
        )
        return requests.post(
            url, json={"webhookEvent": "jira:issue_updated"}, headers={"Authorization": auth}, timeout=10
        ).status_code

    assert post(installed.shared_secret) == 202
    assert post("wrong-secret-long-enough-for-hs256-0123456789") == 401


def test_a_link_from_the_configure_page_expires(client: Client, owner: Membership, settings: Any) -> None:
    client.force_login(owner.user)
    answer = client.get("/integrations/jira/connect/link/not-a-token/")
    assert answer.status_code == 404 and b"This link has expired" in answer.content
