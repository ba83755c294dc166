"""Webhook registration (integrations/subscriptions.py) against the sandbox Jira over real HTTP:
what the wizard's Finish registers per auth type and identity, what Reconfigure and Disconnect do
to it, the daily refresh of dynamic webhooks, and what a failure looks like to the admin."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from django.test import Client
from django.utils import timezone

from bugs.models import App
from integrations import subscriptions
from integrations.jira_sandbox import models as sandbox
from integrations.jira_sandbox import services as sandbox_services
from integrations.models import AuthType, ConnectInstallation, JiraConnection, WebhookDelivery
from tests.integrations.conftest import finish_wizard
from tests.integrations.jira_sandbox.test_webhooks import bob_token
from tests.integrations.test_auth_flows import _connect_with_oauth
from tests.integrations.test_connect_flow import _install
from tests.integrations.test_sync import _acme, _alice, in_jira, settle

pytestmark = pytest.mark.django_db(transaction=True)

# The five events two-way sync needs (issue_created says nothing about issues we already link).
EVENTS = {"jira:issue_updated", "jira:issue_deleted", "comment_created", "comment_updated", "comment_deleted"}
DAY = timedelta(days=1)


def _base(app: App) -> str:
    return f"/apps/{app.pk}/settings/integrations/jira/"


def _credentials(web: Client, app: App, auth_type: str, **fields: str) -> None:
    answer = web.post(
        f"{_base(app)}credentials/{auth_type}/", {f"{auth_type}-{k}": v for k, v in fields.items()}
    )
    assert answer.status_code == 302, answer.content.decode()[-1500:]


def _set_up(web: Client, app: App) -> None:
    """The Set up step: acme's WEB project, issue type Bug, nothing mapped."""
    project = sandbox.Project.objects.get(site=_acme(), key="WEB")
    bug = sandbox.IssueType.objects.get(site=_acme(), name="Bug")
    answer = web.post(
        _base(app) + "setup/", {"project": project.project_id, "issue_type": bug.type_id, "assignee": ""}
    )
    assert answer.status_code == 302, answer.content.decode()[-1500:]


def _finish(web: Client, app: App, **switches: str) -> Any:
    """Finish with exactly these switches (finish_wizard turns status sync on)."""
    page = web.get(_base(app) + "finish/").content.decode()
    revision = re.search(r'name="revision" value="([^"]+)"', page)
    assert revision, page[-1500:]
    return web.post(_base(app) + "finish/", {"revision": revision.group(1), **switches}, follow=True)


def _reconfigure(web: Client, app: App) -> None:
    assert web.post(_base(app) + "reconfigure/").status_code == 302


def _page(web: Client, app: App) -> str:
    return web.get(_base(app)).content.decode()


def _hooks(kind: str) -> Any:
    return sandbox.Webhook.objects.filter(site=_acme(), kind=kind)


def _web_issue() -> sandbox.Issue:
    return sandbox.Issue.objects.filter(site=_acme(), project__key="WEB").first()


def _change_in_jira(summary: str) -> None:
    issue = _web_issue()
    with in_jira():
        sandbox_services.issue_edit(issue=issue, actor=_alice(), fields={"summary": summary})


@pytest.fixture
def oauth(web: Client, app: App, jira: dict[str, str]) -> JiraConnection:
    return _connect_with_oauth(web, app, jira)


# ---------------------------------------------------------------------------------------------
# What Finish registers
# ---------------------------------------------------------------------------------------------


def test_oauth2_registers_dynamic_webhooks_for_the_project(
    oauth: JiraConnection, jira: dict[str, str], web: Client, app: App
) -> None:
    assert oauth.webhook_kind == "dynamic" and oauth.webhook_ids and not oauth.webhook_error
    hooks = _hooks(sandbox.Webhook.Kind.DYNAMIC)
    assert sorted(str(h.webhook_id) for h in hooks) == sorted(oauth.webhook_ids)
    for hook in hooks:
        assert hook.jql_filter == "project = WEB"
        assert set(hook.events) == EVENTS and len(hook.events) == 5
        assert hook.url == f"{jira['base']}/integrations/jira/webhooks/oauth"
        assert hook.app.client_id == jira["oauth_client_id"]
        assert abs(hook.expires_at - oauth.webhook_expires_at) < timedelta(minutes=1)
    # About 30 days from now: Jira's lifetime, which the daily refresh keeps pushing out.
    assert timedelta(days=29, hours=23) < oauth.webhook_expires_at - timezone.now() <= timedelta(days=30)
    assert not _hooks(sandbox.Webhook.Kind.ADMIN).exists()
    page = _page(web, app)
    assert f"{len(oauth.webhook_ids)} registered by Bugbridge, renewed before" in page


def test_basic_as_a_jira_admin_registers_a_signed_admin_webhook_whose_deliveries_verify(
    connection: JiraConnection, jira: dict[str, str], web: Client, app: App
) -> None:
    hook = _hooks(sandbox.Webhook.Kind.ADMIN).get()
    secret = connection.secrets()["webhook_secret"]
    assert connection.webhook_kind == "admin" and connection.webhook_ids == [str(hook.webhook_id)]
    assert connection.webhook_expires_at is None  # admin webhooks do not expire
    assert hook.secret == secret and len(secret) >= 32
    assert hook.url == f"{jira['base']}/integrations/jira/webhooks/connection/{connection.pk}"
    assert hook.jql_filter == "project = WEB" and set(hook.events) == EVENTS
    assert not _hooks(sandbox.Webhook.Kind.DYNAMIC).exists()
    # As Jira lists it: signed, the secret itself never shown.
    listed = requests.get(
        f"{jira['site_url']}/rest/webhooks/1.0/webhook",
        auth=(jira["user_email"], jira["api_token"]),
        timeout=10,
    ).json()
    assert [(h["isSigned"], "secret" in h) for h in listed] == [(True, False)]

    _change_in_jira("Dashboard chart overlaps the legend on Safari")
    settle()
    sent = sandbox.Delivery.objects.get(webhook=hook, event="jira:issue_updated")
    assert sent.state == sandbox.Delivery.State.DELIVERED and sent.last_status == 202
    received = WebhookDelivery.objects.get(identifier=sent.identifier)
    assert (received.kind, received.outcome, received.connection_ids) == ("admin", "applied", [connection.pk])
    assert "Webhooks, with polling as a backstop" in _page(web, app)


@pytest.mark.parametrize(
    ("auth_type", "fields"),
    [
        ("scoped_token", {"email": "service_account_email", "api_token": "scoped_api_token"}),
        ("oauth_service_account", {"client_id": "sa_client_id", "client_secret": "sa_client_secret"}),
    ],
)
def test_service_accounts_that_administer_jira_register_an_admin_webhook(
    web: Client, app: App, jira: dict[str, str], auth_type: str, fields: dict[str, str]
) -> None:
    _credentials(web, app, auth_type, site_url=jira["site_url"], **{k: jira[v] for k, v in fields.items()})
    assert finish_wizard(web, app).status_code == 302
    connection = JiraConnection.objects.get(app=app)
    hook = _hooks(sandbox.Webhook.Kind.ADMIN).get()
    assert connection.auth_type == auth_type and connection.webhook_ids == [str(hook.webhook_id)]
    assert hook.secret == connection.secrets()["webhook_secret"]
    assert hook.registered_by.email == jira["service_account_email"]
    _change_in_jira("Seen through a service account")
    settle()
    assert WebhookDelivery.objects.get(kind="admin").outcome == "applied"


def test_an_identity_that_is_not_a_jira_admin_registers_nothing_and_polls(
    web: Client, app: App, jira: dict[str, str]
) -> None:
    bob = sandbox.Account.objects.get(email="bob@acme.example")
    assert not sandbox.SiteAccess.objects.get(site=_acme(), account=bob).is_admin
    _credentials(web, app, "basic", site_url=jira["site_url"], email=bob.email, api_token=bob_token())
    _set_up(web, app)
    finish_page = web.get(_base(app) + "finish/").content.decode()
    assert "Bob Builder is not a Jira administrator" in finish_page
    assert finish_wizard(web, app).status_code == 302
    connection = JiraConnection.objects.get(app=app)
    assert connection.sync_status and connection.webhook_ids == [] and connection.webhook_kind == ""
    assert connection.webhook_error == ""  # not an error: the way this identity works
    assert not sandbox.Webhook.objects.exists()
    assert connection.secrets().get("webhook_secret") is None
    page = _page(web, app)
    assert "Polling only: the identity may not register a Jira webhook" in page
    assert "None registered" in page


def test_a_connect_add_on_registers_nothing(web: Client, app: App, jira: dict[str, str]) -> None:
    installed = _install(jira)
    descriptor_hooks = set(sandbox.Webhook.objects.values_list("pk", flat=True))
    assert descriptor_hooks and set(_hooks(sandbox.Webhook.Kind.CONNECT).values_list("pk", flat=True)) == (
        descriptor_hooks
    )
    opened = requests.get(
        f"{jira['base']}/sandbox/jira/connect/{installed.pk}/configure", allow_redirects=False, timeout=10
    )
    target = urlsplit(opened.headers["Location"])
    link = Client().get(f"{target.path}?{target.query}").context["link"]
    assert web.post(urlsplit(link).path, {"app": app.pk}).status_code == 302
    assert finish_wizard(web, app).status_code == 302
    connection = JiraConnection.objects.get(app=app)
    assert connection.auth_type == AuthType.CONNECT
    assert connection.connect_installation == ConnectInstallation.objects.get(client_key=installed.client_key)
    assert connection.webhook_ids == [] and connection.webhook_kind == "" and connection.webhook_error == ""
    assert set(sandbox.Webhook.objects.values_list("pk", flat=True)) == descriptor_hooks
    assert "The add-on&#x27;s webhooks (from its descriptor)" in _page(web, app)


def test_with_no_sync_switch_on_nothing_is_registered(web: Client, app: App, jira: dict[str, str]) -> None:
    _credentials(
        web, app, "basic", site_url=jira["site_url"], email=jira["user_email"], api_token=jira["api_token"]
    )
    _set_up(web, app)
    done = _finish(web, app)
    assert done.redirect_chain and done.status_code == 200
    connection = JiraConnection.objects.get(app=app)
    assert not subscriptions.syncs(connection) and connection.configured_at is not None
    assert connection.webhook_ids == [] and not sandbox.Webhook.objects.exists()
    assert "Off: changes made in Jira do not come back" in done.content.decode()


def test_turning_sync_off_on_reconfigure_removes_the_webhook(
    connection: JiraConnection, web: Client, app: App
) -> None:
    assert _hooks(sandbox.Webhook.Kind.ADMIN).exists()
    _reconfigure(web, app)
    _finish(web, app)
    connection.refresh_from_db()
    assert not connection.sync_status and connection.webhook_ids == [] and connection.webhook_kind == ""
    assert not sandbox.Webhook.objects.exists()


# ---------------------------------------------------------------------------------------------
# Reconfigure and Disconnect
# ---------------------------------------------------------------------------------------------


def test_reconfigure_replaces_the_admin_webhook(connection: JiraConnection, web: Client, app: App) -> None:
    old_id, old_secret = connection.webhook_ids[0], connection.secrets()["webhook_secret"]
    _reconfigure(web, app)
    assert finish_wizard(web, app).status_code == 302
    connection.refresh_from_db()
    hook = _hooks(sandbox.Webhook.Kind.ADMIN).get()  # one: the old one is gone
    assert connection.webhook_ids == [str(hook.webhook_id)] != [old_id]
    new_secret = connection.secrets()["webhook_secret"]
    assert hook.secret == new_secret != old_secret
    assert connection.secrets()["api_token"]  # the rest of the credentials kept
    _change_in_jira("After a reconfigure")
    settle()
    assert WebhookDelivery.objects.get(kind="admin").outcome == "applied"


def test_reconfigure_replaces_dynamic_webhooks(oauth: JiraConnection, web: Client, app: App) -> None:
    old = set(oauth.webhook_ids)
    _reconfigure(web, app)
    assert finish_wizard(web, app).status_code == 302
    oauth.refresh_from_db()
    now = {str(h.webhook_id) for h in _hooks(sandbox.Webhook.Kind.DYNAMIC)}
    assert now == set(oauth.webhook_ids) and not now & old


def test_a_webhook_jira_would_not_remove_is_kept_and_the_admin_told(
    connection: JiraConnection, web: Client, app: App
) -> None:
    """Alice is no longer a Jira admin: her webhook cannot be deleted, and no new one made."""
    sandbox.SiteAccess.objects.filter(site=_acme(), account=_alice()).update(is_admin=False)
    hook = _hooks(sandbox.Webhook.Kind.ADMIN).get()
    secret = connection.secrets()["webhook_secret"]
    _reconfigure(web, app)
    done = finish_wizard(web, app)
    assert done.status_code == 302
    shown = _page(web, app)
    assert "could not remove its webhooks from Jira" in shown and "System → WebHooks" in shown
    connection.refresh_from_db()
    # Still registered in Jira, so still on the row (Disconnect tries again) and still verified.
    assert (
        connection.webhook_ids == [str(hook.webhook_id)] and connection.secrets()["webhook_secret"] == secret
    )
    _change_in_jira("Still heard")
    settle()
    assert WebhookDelivery.objects.get(kind="admin").outcome == "applied"


def test_disconnect_removes_the_admin_webhook(connection: JiraConnection, web: Client, app: App) -> None:
    assert _hooks(sandbox.Webhook.Kind.ADMIN).exists()
    assert web.post(_base(app) + "disconnect/").status_code == 302
    assert not sandbox.Webhook.objects.exists()
    connection.refresh_from_db()
    assert connection.webhook_ids == [] and connection.webhook_kind == ""


def test_disconnect_removes_dynamic_webhooks(oauth: JiraConnection, web: Client, app: App) -> None:
    assert _hooks(sandbox.Webhook.Kind.DYNAMIC).count() == len(oauth.webhook_ids) > 0
    assert web.post(_base(app) + "disconnect/").status_code == 302
    assert not sandbox.Webhook.objects.exists()
    oauth.refresh_from_db()
    assert oauth.webhook_ids == [] and oauth.webhook_expires_at is None


# ---------------------------------------------------------------------------------------------
# The daily refresh of dynamic webhooks
# ---------------------------------------------------------------------------------------------


def _expire_in(connection: JiraConnection, days: float) -> None:
    when = timezone.now() + timedelta(days=days)
    JiraConnection.objects.filter(pk=connection.pk).update(webhook_expires_at=when)
    _hooks(sandbox.Webhook.Kind.DYNAMIC).update(expires_at=when)


def test_the_refresh_pushes_out_webhooks_expiring_within_20_days(oauth: JiraConnection) -> None:
    _expire_in(oauth, 25)
    assert subscriptions.webhooks_refresh_due() == 0  # not due yet: left alone
    hook = _hooks(sandbox.Webhook.Kind.DYNAMIC).first()
    assert hook.expires_at - timezone.now() < timedelta(days=25, minutes=1)

    _expire_in(oauth, 19)
    assert subscriptions.webhooks_refresh_due() == 1
    oauth.refresh_from_db()
    for hook in _hooks(sandbox.Webhook.Kind.DYNAMIC):
        assert hook.expires_at - timezone.now() > timedelta(days=29, hours=23)
        assert abs(hook.expires_at - oauth.webhook_expires_at) < timedelta(seconds=1)
    assert {str(h.webhook_id) for h in _hooks(sandbox.Webhook.Kind.DYNAMIC)} == set(oauth.webhook_ids)


def test_the_refresh_registers_again_what_jira_no_longer_has(
    oauth: JiraConnection, jira: dict[str, str]
) -> None:
    old = set(oauth.webhook_ids)
    _expire_in(oauth, 3)
    _hooks(sandbox.Webhook.Kind.DYNAMIC).delete()  # an admin removed them in Jira
    assert subscriptions.webhooks_refresh_due() == 0
    oauth.refresh_from_db()
    hooks = _hooks(sandbox.Webhook.Kind.DYNAMIC)
    assert {str(h.webhook_id) for h in hooks} == set(oauth.webhook_ids) and not old & set(oauth.webhook_ids)
    assert all(h.jql_filter == "project = WEB" and set(h.events) == EVENTS for h in hooks)
    assert oauth.webhook_expires_at - timezone.now() > timedelta(days=29, hours=23)


def test_the_refresh_leaves_a_connection_jira_refuses_for_the_next_day(oauth: JiraConnection) -> None:
    _expire_in(oauth, 3)
    sandbox.Grant.objects.all().delete()  # the consent was revoked in Atlassian's account settings
    sandbox.AccessToken.objects.all().delete()
    assert subscriptions.webhooks_refresh_due() == 0
    oauth.refresh_from_db()
    assert oauth.webhook_ids and oauth.webhook_expires_at - timezone.now() < 3 * DAY


# ---------------------------------------------------------------------------------------------
# When registration fails
# ---------------------------------------------------------------------------------------------


def test_a_failed_registration_still_saves_and_says_so(web: Client, app: App, jira: dict[str, str]) -> None:
    """Jira allows one callback URL per app: another deployment of the app already uses it."""
    three_lo = sandbox.OAuthApp.objects.get(
        kind=sandbox.OAuthApp.Kind.THREE_LO, client_id=jira["oauth_client_id"]
    )
    elsewhere = sandbox.Webhook.objects.create(
        site=_acme(),
        webhook_id=9000,
        kind=sandbox.Webhook.Kind.DYNAMIC,
        app=three_lo,
        url="https://staging.bugbridge.example/integrations/jira/webhooks/oauth",
        events=["jira:issue_updated"],
        jql_filter="project = WEB",
        expires_at=timezone.now() + 10 * DAY,
    )
    connection = _connect_with_oauth(web, app, jira)
    assert connection.configured_at is not None and connection.sync_status  # saved all the same
    assert connection.webhook_ids == [] and connection.webhook_kind == ""
    assert "could not register a webhook in Jira" in connection.webhook_error
    assert "Only one webhook URL is allowed per app" in connection.webhook_error
    assert "polling every few minutes" in connection.webhook_error
    assert list(sandbox.Webhook.objects.all()) == [elsewhere]
    page = _page(web, app)
    assert "could not register a webhook in Jira" in page  # the health card keeps saying it

    # Once the other URL is gone, Reconfigure → Finish registers, and the warning goes.
    elsewhere.delete()
    _reconfigure(web, app)
    done = finish_wizard(web, app)
    assert done.status_code == 302
    connection.refresh_from_db()
    assert connection.webhook_kind == "dynamic" and connection.webhook_ids and connection.webhook_error == ""
    assert "could not register" not in _page(web, app)


def test_the_warning_is_shown_on_the_page_finish_leads_to(
    web: Client, app: App, jira: dict[str, str]
) -> None:
    _credentials(
        web,
        app,
        "scoped_token",
        site_url=jira["site_url"],
        email=jira["service_account_email"],
        api_token=jira["scoped_api_token"],
    )
    _set_up(web, app)
    # The token's scopes were cut meanwhile: no more `manage:jira-webhook`.
    sandbox.ApiToken.objects.filter(scoped=True).update(
        scopes=["read:jira-work", "write:jira-work", "read:jira-user"]
    )
    done = _finish(web, app, sync_status="on")
    assert done.redirect_chain[-1][0].endswith(_base(app))
    flashes = re.findall(r'<p class="flash flash-(\w+)">([^<]*)</p>', done.content.decode())
    assert [k for k, t in flashes if "Jira Cloud is set up" in t] == ["success"]
    warnings = [text for kind, text in flashes if kind == "warning"]
    assert len(warnings) == 1 and "could not register a webhook in Jira" in warnings[0]
    connection = JiraConnection.objects.get(app=app)
    assert connection.webhook_error == warnings[0].replace("&#x27;", "'")
    assert connection.status == JiraConnection.Status.ACTIVE and connection.configured_at is not None
    assert "lacks a permission" in connection.webhook_error
    assert connection.webhook_ids == [] and not sandbox.Webhook.objects.exists()
