"""Atlassian Connect: signed install from a descriptor, HS256 + qsh calls, reinstall, uninstall.

A tiny threaded HTTP server plays the app: it serves its descriptor and records the lifecycle
calls. The RS256 install JWT is verified here independently: the public key comes from the
sandbox's `connect/keys/<kid>`, and the qsh is computed by the canonicalisation below, written
from API-NOTES §1e (not the sandbox's jwt_qsh module).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import jwt
import pytest
from django.contrib.messages import get_messages
from django.test import Client

from integrations.jira_sandbox import delivery
from integrations.jira_sandbox.connect import ConnectError, connect_install, connect_uninstall
from integrations.jira_sandbox.models import Account, ConnectInstall, Delivery, Site, Webhook
from integrations.jira_sandbox.seed import SeedResult

from .conftest import PREFIX, JiraCaller

pytestmark = pytest.mark.django_db

APP_KEY = "com.example.bugbridge-connect"
SITE_URL = f"http://testserver{PREFIX}/site/acme"


# ---------------------------------------------------------------------------------------------
# An independent qsh (API-NOTES §1e)
# ---------------------------------------------------------------------------------------------


def _pct(text: str) -> str:
    # RFC 3986 unreserved characters stay; everything else is %XX (space → %20, * → %2A).
    return "".join(
        ch if ch.isascii() and (ch.isalnum() or ch in "-._~") else "".join(f"%{b:02X}" for b in ch.encode())
        for ch in text
    )


def canonical(method: str, path: str, query: list[tuple[str, str]]) -> str:
    path = path.rstrip("/") or "/"
    path = path.replace("&", "%26")
    values: dict[str, list[str]] = {}
    for name, value in query:
        if name != "jwt":
            values.setdefault(_pct(name), []).append(_pct(value))
    pairs = [f"{name}={','.join(sorted(vals))}" for name, vals in sorted(values.items())]
    return f"{method.upper()}&{path}&{'&'.join(pairs)}"


def hash_of(method: str, path: str, query: list[tuple[str, str]] | None = None) -> str:
    return hashlib.sha256(canonical(method, path, query or []).encode()).hexdigest()


def test_the_independent_canonicalisation_matches_the_worked_example() -> None:
    query = [
        ("zee_last", "param"),
        ("repeated", "parameter 1"),
        ("first", "param"),
        ("repeated", "parameter 2"),
        ("jwt", "ignored"),
    ]
    assert canonical("get", "/path/to/service/", query) == (
        "GET&/path/to/service&first=param&repeated=parameter%201,parameter%202&zee_last=param"
    )
    assert canonical("POST", "", []) == "POST&/&"


# ---------------------------------------------------------------------------------------------
# The app
# ---------------------------------------------------------------------------------------------


class ConnectApp:
    """Serves `/app/atlassian-connect.json` and records every POST; `answer(500)` scripts statuses."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.script: list[int] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/app"
        self.descriptor: dict[str, Any] = {
            "key": APP_KEY,
            "name": "Bugbridge (Connect test)",
            "description": "A test app",
            "baseUrl": self.base_url,
            "authentication": {"type": "jwt"},
            "apiVersion": 1,
            "scopes": ["READ", "WRITE"],
            "apiMigrations": {"signed-install": True, "context-qsh": True, "gdpr": True},
            "lifecycle": {"installed": "/installed", "uninstalled": "/uninstalled?reason=bye"},
            "modules": {
                "webhooks": [
                    {"event": "jira:issue_created", "url": "/hooks/created", "filter": "project = WEB"},
                    {"event": "comment_created", "url": "/hooks/comment"},
                ]
            },
        }
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        app = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = (
                    json.dumps(app.descriptor).encode() if self.path == "/app/atlassian-connect.json" else b""
                )
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                app.posts.append({"path": self.path, "headers": dict(self.headers), "body": body})
                status = app.script.pop(0) if app.script else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return None

        return Handler

    @property
    def descriptor_url(self) -> str:
        return f"{self.base_url}/atlassian-connect.json"

    def lifecycle(self, event: str) -> list[dict[str, Any]]:
        return [p for p in self.posts if urlsplit(p["path"]).path == f"/app/{event}"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def connect_app() -> Iterator[ConnectApp]:
    app = ConnectApp()
    yield app
    app.close()


def install(client: Client, app: ConnectApp) -> tuple[Any, list[str]]:
    response = client.post(
        f"{PREFIX}/connect/install",
        {"site": "acme", "descriptor_url": app.descriptor_url, "next": f"{PREFIX}/site/acme/"},
    )
    assert response.status_code == 302 and response["Location"] == f"{PREFIX}/site/acme/"
    return response, [str(m) for m in get_messages(response.wsgi_request)]


def verified_lifecycle(
    client: Client, app: ConnectApp, post: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The claims of a lifecycle call's RS256 JWT, checked as an app must, and its JSON body."""
    scheme, _, token = post["headers"]["Authorization"].partition(" ")
    assert scheme == "JWT"
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256"
    key = client.get(f"{PREFIX}/connect/keys/{header['kid']}")
    assert key.status_code == 200 and key["Content-Type"].startswith("text/plain")
    assert key.content.startswith(b"-----BEGIN PUBLIC KEY-----")
    claims = jwt.decode(
        token,
        key.content,
        algorithms=["RS256"],
        audience=app.base_url,
        options={"require": ["exp", "iat", "qsh"]},
    )
    body = json.loads(post["body"])
    assert claims["iss"] == body["clientKey"]
    assert 0 < claims["exp"] - claims["iat"] <= 180
    path = urlsplit(post["path"])
    relative = path.path.removeprefix(urlsplit(app.base_url).path)
    query = [tuple(part.split("=", 1)) for part in path.query.split("&") if part]
    assert claims["qsh"] == hash_of("POST", relative, query)  # type: ignore[arg-type]
    return claims, body


def connect_caller(
    secret: str, method: str = "GET", path: str = "/rest/api/3/myself", **claims: Any
) -> JiraCaller:
    """The app calling the site URL: HS256 with its shared secret, iss = the app key."""
    now = int(time.time())
    payload = {"iss": APP_KEY, "iat": now, "exp": now + 180, "qsh": hash_of(method, path), **claims}
    return JiraCaller(
        f"{PREFIX}/site/acme/rest/api/3", "JWT " + jwt.encode(payload, secret, algorithm="HS256")
    )


# ---------------------------------------------------------------------------------------------
# Install
# ---------------------------------------------------------------------------------------------


def test_signed_install_then_hs256_calls(
    sandbox: SeedResult, client: Client, connect_app: ConnectApp
) -> None:
    _, notes = install(client, connect_app)
    assert any("Installed" in note for note in notes)

    [post] = connect_app.lifecycle("installed")
    assert post["headers"]["Content-Type"] == "application/json"
    claims, body = verified_lifecycle(client, connect_app, post)
    assert claims["qsh"] == hash_of("POST", "/installed")  # relative to the app's baseUrl path
    assert body["key"] == APP_KEY and body["eventType"] == "installed"
    assert body["baseUrl"] == SITE_URL and body["displayUrl"] == SITE_URL
    assert body["productType"] == "jira"
    assert len(body["sharedSecret"]) >= 43
    assert {"description", "serverVersion", "pluginsVersion"} <= set(body)

    row = ConnectInstall.objects.get(app_key=APP_KEY)
    assert row.client_key == body["clientKey"] and row.uninstalled_at is None

    me = connect_caller(body["sharedSecret"]).get("/myself")
    assert me.status_code == 200
    user = me.json()
    assert user["accountType"] == "app" and user["accountId"] == row.account.account_id
    assert me["X-AAccountId"] == row.account.account_id
    assert row.account.sites.filter(name="acme").exists()

    # A query string is part of the qsh.
    query = [("expand", "groups,applicationRoles")]
    now = int(time.time())
    token = jwt.encode(
        {"iss": APP_KEY, "iat": now, "exp": now + 180, "qsh": hash_of("GET", "/rest/api/3/myself", query)},
        body["sharedSecret"],
        algorithm="HS256",
    )
    signed_query = JiraCaller(f"{PREFIX}/site/acme/rest/api/3", f"JWT {token}")
    assert signed_query.get("/myself", params=dict(query)).status_code == 200


def test_a_bad_qsh_or_secret_is_401(sandbox: SeedResult, client: Client, connect_app: ConnectApp) -> None:
    install(client, connect_app)
    secret = json.loads(connect_app.lifecycle("installed")[0]["body"])["sharedSecret"]
    for caller in (
        connect_caller(secret, path="/rest/api/3/project/search"),
        connect_caller(secret, method="POST"),
        connect_caller("not-the-shared-secret-not-the-shared-secret"),
        connect_caller(secret, exp=int(time.time()) - 10),
    ):
        response = caller.get("/myself")
        assert response.status_code == 401
        assert response.json()["status-code"] == 401


def test_descriptor_webhooks_become_connect_registrations(
    sandbox: SeedResult, client: Client, connect_app: ConnectApp
) -> None:
    before = Site.objects.get(name="acme").next_webhook_id
    install(client, connect_app)
    row = ConnectInstall.objects.get(app_key=APP_KEY)
    hooks = list(Webhook.objects.filter(connect_install=row).order_by("webhook_id"))
    assert [(h.kind, h.url, h.events, h.jql_filter) for h in hooks] == [
        ("connect", f"{connect_app.base_url}/hooks/created", ["jira:issue_created"], "project = WEB"),
        ("connect", f"{connect_app.base_url}/hooks/comment", ["comment_created"], ""),
    ]
    assert [h.webhook_id for h in hooks] == [before, before + 1]
    assert Site.objects.get(name="acme").next_webhook_id == before + 2


def test_connect_webhooks_are_signed_with_the_shared_secret(
    sandbox: SeedResult, client: Client, connect_app: ConnectApp, site_api: JiraCaller
) -> None:
    connect_app.descriptor["modules"]["webhooks"][0].pop("filter")  # no JQL: every created issue
    install(client, connect_app)
    row = ConnectInstall.objects.get(app_key=APP_KEY)
    created = site_api.post(
        "/issue", json={"fields": {"project": {"key": "WEB"}, "issuetype": {"id": "10001"}, "summary": "Hi"}}
    )
    assert created.status_code == 201
    ids = list(Delivery.objects.filter(webhook__connect_install=row).values_list("pk", flat=True))
    assert len(ids) == 1
    delivery.deliver_batch(ids)
    [sent] = [p for p in connect_app.posts if p["path"] == "/app/hooks/created"]
    token = sent["headers"]["Authorization"].removeprefix("JWT ")
    claims = jwt.decode(token, row.shared_secret, algorithms=["HS256"])
    assert claims["iss"] == row.client_key and claims["qsh"] == hash_of("POST", "/hooks/created")


def test_an_app_that_refuses_the_install_leaves_nothing_behind(
    sandbox: SeedResult, client: Client, connect_app: ConnectApp
) -> None:
    accounts = Account.objects.count()
    before = Site.objects.get(name="acme").next_webhook_id
    connect_app.script.append(500)
    _, notes = install(client, connect_app)
    assert any("HTTP 500" in note and "not installed" in note for note in notes)
    assert len(connect_app.lifecycle("installed")) == 1
    assert not ConnectInstall.objects.exists()
    assert not Webhook.objects.filter(kind=Webhook.Kind.CONNECT).exists()
    assert Account.objects.count() == accounts
    assert Site.objects.get(name="acme").next_webhook_id == before


def test_an_unreachable_descriptor_is_a_plain_error(sandbox: SeedResult, connect_app: ConnectApp) -> None:
    url = connect_app.descriptor_url
    connect_app.close()
    with pytest.raises(ConnectError, match="could not be fetched"):
        connect_install(site=Site.objects.get(name="acme"), descriptor_url=url)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"key": "k" * 65}, "not valid"),
        ({"key": None}, "no “key”"),
        ({"baseUrl": "not a url"}, "baseUrl"),
        ({"authentication": {"type": "none"}}, "JWT authentication"),
        ({"lifecycle": {"uninstalled": "/u"}}, "“installed” lifecycle"),
    ],
)
def test_descriptors_jira_would_refuse(
    sandbox: SeedResult, connect_app: ConnectApp, change: dict[str, Any], message: str
) -> None:
    connect_app.descriptor.update(change)
    with pytest.raises(ConnectError, match=message):
        connect_install(site=Site.objects.get(name="acme"), descriptor_url=connect_app.descriptor_url)
    assert not connect_app.posts and not ConnectInstall.objects.exists()


# ---------------------------------------------------------------------------------------------
# Reinstall and uninstall
# ---------------------------------------------------------------------------------------------


def test_reinstall_hands_over_a_new_shared_secret(
    sandbox: SeedResult, client: Client, connect_app: ConnectApp
) -> None:
    install(client, connect_app)
    install(client, connect_app)
    first, second = (json.loads(p["body"]) for p in connect_app.lifecycle("installed"))
    assert first["clientKey"] == second["clientKey"]
    assert first["sharedSecret"] != second["sharedSecret"]
    assert ConnectInstall.objects.filter(app_key=APP_KEY).count() == 1
    assert Webhook.objects.filter(kind=Webhook.Kind.CONNECT, enabled=True).count() == 2  # not doubled
    assert connect_caller(first["sharedSecret"]).get("/myself").status_code == 401
    assert connect_caller(second["sharedSecret"]).get("/myself").status_code == 200


def test_uninstall_sends_the_signed_uninstalled_and_ends_access(
    sandbox: SeedResult, client: Client, connect_app: ConnectApp
) -> None:
    install(client, connect_app)
    row = ConnectInstall.objects.get(app_key=APP_KEY)
    secret = row.shared_secret
    assert connect_caller(secret).get("/myself").status_code == 200

    response = client.post(f"{PREFIX}/connect/{row.pk}/uninstall", {"next": f"{PREFIX}/site/acme/"})
    assert response.status_code == 302
    [post] = connect_app.lifecycle("uninstalled")
    claims, body = verified_lifecycle(client, connect_app, post)
    assert claims["qsh"] == hash_of("POST", "/uninstalled", [("reason", "bye")])
    assert body["eventType"] == "uninstalled" and body["clientKey"] == row.client_key
    assert "sharedSecret" not in body

    row.refresh_from_db()
    assert row.uninstalled_at is not None
    assert not Webhook.objects.filter(connect_install=row, enabled=True).exists()
    assert connect_caller(secret).get("/myself").status_code == 401
    with pytest.raises(ConnectError, match="already uninstalled"):
        connect_uninstall(install=row)

    # Installing again later: same tenant (clientKey), a fresh secret, the webhooks back on.
    install(client, connect_app)
    again = json.loads(connect_app.lifecycle("installed")[-1]["body"])
    assert again["clientKey"] == row.client_key and again["sharedSecret"] != secret
    assert Webhook.objects.filter(connect_install=row, enabled=True).count() == 2


def test_uninstall_happens_even_when_the_app_does_not_answer(
    sandbox: SeedResult, client: Client, connect_app: ConnectApp
) -> None:
    install(client, connect_app)
    row = ConnectInstall.objects.get(app_key=APP_KEY)
    connect_app.script.append(503)
    response = client.post(f"{PREFIX}/connect/{row.pk}/uninstall")
    notes = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("HTTP 503" in note for note in notes)
    row.refresh_from_db()
    assert row.uninstalled_at is not None


def test_unknown_key_id_is_404(sandbox: SeedResult, client: Client) -> None:
    assert client.get(f"{PREFIX}/connect/keys/no-such-kid").status_code == 404


def test_install_form_keeps_csrf_protection(sandbox: SeedResult, connect_app: ConnectApp) -> None:
    browser = Client(enforce_csrf_checks=True)
    response = browser.post(
        f"{PREFIX}/connect/install", {"site": "acme", "descriptor_url": connect_app.descriptor_url}
    )
    assert response.status_code == 403
    assert not connect_app.posts


def test_configure_opens_the_apps_page_with_a_context_jwt(
    sandbox: SeedResult, client: Client, connect_app: ConnectApp
) -> None:
    connect_app.descriptor["modules"]["configurePage"] = {"key": "configure", "url": "/configure?from=jira"}
    install(client, connect_app)
    secret = json.loads(connect_app.lifecycle("installed")[0]["body"])["sharedSecret"]
    the_install = ConnectInstall.objects.get(app_key=APP_KEY)

    opened = client.get(f"{PREFIX}/connect/{the_install.pk}/configure")
    assert opened.status_code == 302
    target = urlsplit(opened["Location"])
    assert target.path.endswith("/app/configure") and target.query.startswith("from=jira&jwt=")
    token = target.query.split("jwt=", 1)[1]
    claims = jwt.decode(token, secret, algorithms=["HS256"])
    assert claims["iss"] == the_install.client_key and claims["qsh"] == "context-qsh"
    assert claims["exp"] - claims["iat"] <= 180

    connect_uninstall(install=the_install)
    gone = client.get(f"{PREFIX}/connect/{the_install.pk}/configure")
    assert gone.status_code == 302 and "/app/" not in gone["Location"]
