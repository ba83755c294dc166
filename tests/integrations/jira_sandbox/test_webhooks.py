"""Webhook registration: dynamic webhooks for apps (/rest/api/3/webhook) and admin webhooks
(/rest/webhooks/1.0/webhook). Delivery is in test_delivery.py, which reuses the helpers here.

Every /rest/api/3/ answer is checked against Atlassian's spec by JiraCaller.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.utils import timezone

from integrations.jira_sandbox.auth import hash_token, new_token
from integrations.jira_sandbox.models import (
    AccessToken,
    Account,
    ApiToken,
    Grant,
    OAuthApp,
    Site,
    Webhook,
)

from .conftest import PREFIX, JiraCaller, basic

pytestmark = pytest.mark.django_db

WEBHOOK_SCOPES = ["read:jira-work", "write:jira-work", "manage:jira-webhook"]
DAY_MS = 24 * 3600 * 1000


# ---------------------------------------------------------------------------------------------
# Helpers shared with test_delivery.py
# ---------------------------------------------------------------------------------------------


class Receiver:
    """A tiny HTTP server on 127.0.0.1 recording every request; `answer(503, 200)` scripts the
    statuses of the next requests (200 once the script runs out)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.script: list[int] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.requests.append(
                        {"method": "POST", "path": self.path, "headers": dict(self.headers), "body": body}
                    )
                    status = receiver.script.pop(0) if receiver.script else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def answer(self, *statuses: int) -> None:
        self.script.extend(statuses)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def acme() -> Site:
    return Site.objects.get(name="acme")


def app_token(*, app: OAuthApp | None = None, scopes: list[str] | None = None) -> str:
    """A 3LO access token for alice's consent to the app (the seeded "Bugbridge" by default)."""
    app = app or OAuthApp.objects.get(kind=OAuthApp.Kind.THREE_LO, name="Bugbridge")
    alice = Account.objects.get(email="alice@acme.example")
    scopes = WEBHOOK_SCOPES if scopes is None else scopes
    grant = Grant.objects.create(app=app, account=alice, scopes=scopes)
    grant.sites.add(acme())
    raw = new_token("test3lo-")
    AccessToken.objects.create(
        app=app,
        grant=grant,
        account=alice,
        token_hash=hash_token(raw),
        scopes=scopes,
        expires_at=timezone.now() + timedelta(hours=1),
    )
    return raw


def gateway_caller(token: str) -> JiraCaller:
    return JiraCaller(f"{PREFIX}/api/ex/jira/{acme().cloud_id}/rest/api/3", f"Bearer {token}")


def other_app() -> OAuthApp:
    return OAuthApp.objects.create(
        kind=OAuthApp.Kind.THREE_LO,
        name="Someone else's app",
        client_id="other-app-client",
        client_secret="other-app-secret-0123456789",
        account=Account.objects.get(email="bob@acme.example"),
        scopes=WEBHOOK_SCOPES,
    )


def register(api: JiraCaller, url: str, *entries: dict[str, Any]) -> list[dict[str, Any]]:
    response = api.post("/webhook", json={"url": url, "webhooks": list(entries)})
    assert response.status_code == 200, response.content
    return response.json()["webhookRegistrationResult"]


def admin_caller(email: str, token: str) -> JiraCaller:
    return JiraCaller(f"{PREFIX}/site/acme/rest/webhooks/1.0", basic(email, token))


def bob_token() -> str:
    raw = new_token("bobtok-")
    ApiToken.objects.create(
        account=Account.objects.get(email="bob@acme.example"),
        label="bob",
        token_hash=hash_token(raw),
        expires_at=timezone.now() + timedelta(days=1),
    )
    return raw


@pytest.fixture
def app_api(sandbox: Any) -> JiraCaller:
    """The seeded 3LO app, through the gateway, with a webhook-capable token."""
    return gateway_caller(app_token())


@pytest.fixture
def alice_admin(sandbox: Any) -> JiraCaller:
    c = sandbox.credentials
    return admin_caller(c["user_email"], c["api_token"])


def now_ms() -> int:
    return int(timezone.now().timestamp() * 1000)


# ---------------------------------------------------------------------------------------------
# Dynamic webhooks
# ---------------------------------------------------------------------------------------------


def test_register_answers_each_entry_on_its_own_in_request_order(app_api: JiraCaller) -> None:
    results = register(
        app_api,
        "https://app.example.com/hooks",
        {"events": ["jira:issue_created", "jira:issue_updated"], "jqlFilter": "project = MOB"},
        {"events": ["jira:issue_created"], "jqlFilter": "project = MOB AND watchCount = 3"},
        {"events": ["jira:issue_created"]},
        {"events": ["jira:worklog_updated"], "jqlFilter": "project = MOB"},
        {"events": ["comment_created"], "jqlFilter": "issuetype = Bug", "fieldIdsFilter": ["summary"]},
    )
    assert len(results) == 5
    first, unsupported_clause, no_jql, bad_event, last = results
    assert set(first) == {"createdWebhookId"} and set(last) == {"createdWebhookId"}
    assert last["createdWebhookId"] > first["createdWebhookId"]
    assert any("watchCount" in error for error in unsupported_clause["errors"])
    assert no_jql["errors"] and "createdWebhookId" not in no_jql
    assert any("jira:worklog_updated" in error for error in bad_event["errors"])
    assert Webhook.objects.filter(kind=Webhook.Kind.DYNAMIC).count() == 2
    for bad in ({}, {"url": "https://app.example.com/hooks"}, {"url": "not a url", "webhooks": []}):
        response = app_api.post("/webhook", json=bad)
        assert response.status_code == 400
        assert response.json()["errorMessages"]


def test_list_shows_the_apps_registrations_with_a_30_day_expiry(app_api: JiraCaller) -> None:
    before = now_ms()
    (created,) = register(
        app_api,
        "https://app.example.com/hooks",
        {"events": ["jira:issue_updated"], "jqlFilter": "project = MOB", "fieldIdsFilter": ["summary"]},
    )
    page = app_api.get("/webhook").json()
    assert page["total"] == 1 and page["isLast"] is True and page["startAt"] == 0
    assert page["maxResults"] == 100
    (value,) = page["values"]
    assert value["id"] == created["createdWebhookId"]
    assert value["events"] == ["jira:issue_updated"]
    assert value["jqlFilter"] == "project = MOB"
    assert value["fieldIdsFilter"] == ["summary"]
    assert value["url"] == "https://app.example.com/hooks"
    assert before + 30 * DAY_MS - 60_000 <= value["expirationDate"] <= now_ms() + 30 * DAY_MS


def test_list_pages(app_api: JiraCaller) -> None:
    entries = [
        {"events": ["jira:issue_created"], "jqlFilter": f"project = {k}"} for k in ("MOB", "WEB", "OPS")
    ]
    register(app_api, "https://app.example.com/hooks", *entries)
    first = app_api.get("/webhook", params={"maxResults": 2}).json()
    assert [v["jqlFilter"] for v in first["values"]] == ["project = MOB", "project = WEB"]
    assert first["isLast"] is False and first["total"] == 3
    assert "startAt=2" in first["nextPage"]
    second = app_api.get("/webhook", params={"startAt": 2, "maxResults": 2}).json()
    assert [v["jqlFilter"] for v in second["values"]] == ["project = OPS"]
    assert second["isLast"] is True


def test_one_callback_url_per_app(app_api: JiraCaller) -> None:
    entry = {"events": ["jira:issue_created"], "jqlFilter": "project = MOB"}
    assert "createdWebhookId" in register(app_api, "https://app.example.com/hooks", entry)[0]
    (refused,) = register(app_api, "https://elsewhere.example.com/hooks", entry)
    assert any("https://app.example.com/hooks" in error for error in refused["errors"])
    assert "createdWebhookId" in register(app_api, "https://app.example.com/hooks", entry)[0]
    # Another app has its own URL.
    other = gateway_caller(app_token(app=other_app()))
    assert "createdWebhookId" in register(other, "https://elsewhere.example.com/hooks", entry)[0]


def test_refresh_extends_the_expiry_by_30_days(app_api: JiraCaller) -> None:
    (created,) = register(
        app_api,
        "https://app.example.com/hooks",
        {"events": ["jira:issue_created"], "jqlFilter": "project = MOB"},
    )
    hook_id = created["createdWebhookId"]
    Webhook.objects.filter(webhook_id=hook_id).update(expires_at=timezone.now() + timedelta(days=1))
    assert app_api.get("/webhook").json()["values"][0]["expirationDate"] < now_ms() + 2 * DAY_MS
    response = app_api.put("/webhook/refresh", json={"webhookIds": [hook_id]})
    assert response.status_code == 200
    expiration = response.json()["expirationDate"]
    assert abs(expiration - (now_ms() + 30 * DAY_MS)) < 60_000
    assert app_api.get("/webhook").json()["values"][0]["expirationDate"] == expiration


def test_delete_ignores_other_apps_ids(app_api: JiraCaller) -> None:
    entry = {"events": ["jira:issue_created"], "jqlFilter": "project = MOB"}
    (mine,) = register(app_api, "https://app.example.com/hooks", entry)
    other = gateway_caller(app_token(app=other_app()))
    (theirs,) = register(other, "https://other.example.com/hooks", entry)
    # The other app sees only its own registration and cannot delete or refresh mine.
    assert [v["id"] for v in other.get("/webhook").json()["values"]] == [theirs["createdWebhookId"]]
    response = other.delete(
        "/webhook", json={"webhookIds": [mine["createdWebhookId"], theirs["createdWebhookId"]]}
    )
    assert response.status_code == 202
    assert other.get("/webhook").json()["total"] == 0
    assert [v["id"] for v in app_api.get("/webhook").json()["values"]] == [mine["createdWebhookId"]]
    assert app_api.delete("/webhook", json={}).status_code == 400


def test_only_apps_may_use_dynamic_webhooks(
    sandbox: Any, site_api: JiraCaller, gateway_api: JiraCaller
) -> None:
    body = {
        "url": "https://x.example.com/h",
        "webhooks": [{"events": ["jira:issue_created"], "jqlFilter": "project = MOB"}],
    }
    for caller in (site_api, gateway_api):  # alice's classic token; the service account's scoped token
        for response in (
            caller.post("/webhook", json=body),
            caller.get("/webhook"),
            caller.delete("/webhook", json={"webhookIds": [1]}),
            caller.put("/webhook/refresh", json={"webhookIds": [1]}),
        ):
            assert response.status_code == 403
            assert response.json()["errorMessages"]
    assert not Webhook.objects.exists()


def test_dynamic_webhooks_need_the_webhook_scope(sandbox: Any) -> None:
    api = gateway_caller(app_token(scopes=["read:jira-work", "write:jira-work"]))
    response = api.get("/webhook")
    assert response.status_code == 401
    assert response.json() == {"code": 401, "message": "Unauthorized; scope does not match"}


def test_failed_webhooks_are_for_connect_apps_only(app_api: JiraCaller) -> None:
    response = app_api.get("/webhook/failed")
    assert response.status_code == 403
    assert response.json()["errorMessages"]


# ---------------------------------------------------------------------------------------------
# Admin webhooks
# ---------------------------------------------------------------------------------------------

ADMIN_BODY = {
    "name": "Bugbridge sync",
    "description": "Issue changes to Bugbridge",
    "url": "https://bugbridge.example.com/jira/hook",
    "events": ["jira:issue_created", "jira:issue_updated", "comment_created"],
    "filters": {"issue-related-events-section": "project = MOB AND labels = crash"},
    "excludeBody": False,
    "secret": "It's a Secret to Everybody",
}


def test_admin_webhook_lifecycle_never_reveals_the_secret(alice_admin: JiraCaller) -> None:
    created = alice_admin.post("/webhook", json=ADMIN_BODY)
    assert created.status_code == 201
    echo = created.json()
    assert "secret" not in echo and ADMIN_BODY["secret"] not in created.content.decode()
    assert echo["isSigned"] is True and echo["enabled"] is True
    assert echo["filters"] == ADMIN_BODY["filters"]
    assert echo["events"] == ADMIN_BODY["events"]
    assert echo["lastUpdatedDisplayName"] == "Alice Admin"
    assert echo["self"].endswith(f"/site/acme/rest/webhooks/1.0/webhook/{echo['self'].rsplit('/', 1)[1]}")
    hook_id = int(echo["self"].rsplit("/", 1)[1])
    assert Webhook.objects.get(webhook_id=hook_id).expires_at is None  # admin webhooks do not expire

    listed = alice_admin.get("/webhook").json()
    assert [h["name"] for h in listed] == ["Bugbridge sync"]
    assert ADMIN_BODY["secret"] not in alice_admin.get("/webhook").content.decode()

    updated = alice_admin.put(
        f"/webhook/{hook_id}", json={"name": "Renamed", "secret": None, "enabled": False}
    )
    assert updated.status_code == 200
    assert updated.json()["name"] == "Renamed"
    assert updated.json()["isSigned"] is False and updated.json()["enabled"] is False
    assert alice_admin.get(f"/webhook/{hook_id}").json()["url"] == ADMIN_BODY["url"]

    assert alice_admin.delete(f"/webhook/{hook_id}").status_code == 204
    assert alice_admin.get(f"/webhook/{hook_id}").status_code == 404


def test_admin_webhook_validation(alice_admin: JiraCaller) -> None:
    response = alice_admin.post(
        "/webhook", json={"url": "not a url", "events": "jira:issue_created", "filters": "project = MOB"}
    )
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"name", "url", "events", "filters"}
    assert not Webhook.objects.exists()


def test_non_admins_get_403_on_admin_webhooks(sandbox: Any) -> None:
    bob = admin_caller("bob@acme.example", bob_token())
    assert bob.post("/webhook", json=ADMIN_BODY).status_code == 403
    assert bob.get("/webhook").status_code == 403
    assert not Webhook.objects.exists()


def test_admin_webhooks_through_the_gateway_with_a_scoped_token(sandbox: Any) -> None:
    c = sandbox.credentials
    caller = JiraCaller(
        f"{PREFIX}/api/ex/jira/{acme().cloud_id}/rest/webhooks/1.0",
        basic(c["service_account_email"], c["scoped_api_token"]),
    )
    created = caller.post("/webhook", json={**ADMIN_BODY, "secret": ""})
    assert created.status_code == 201
    assert created.json()["isSigned"] is False
    assert f"/api/ex/jira/{acme().cloud_id}/rest/webhooks/1.0/webhook/" in created.json()["self"]
