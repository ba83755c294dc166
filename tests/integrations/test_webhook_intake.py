"""Webhook intake (integrations/webhook_views.py, intake.py): the three endpoints Jira delivers
to, one per way of signing. Through Django's test client for what a caller can send (bad
signatures, bodies, headers), and through the sandbox on a live server for what Jira sends.

Answers: 401 (and a rejected row) for a missing, forged or expired signature; 400 for a body that
is not a JSON object; 202 for a delivery recorded (queued or ignored); 200 for a repeat. Never a
500: Jira would retry it for half an hour.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import jwt
import pytest
from django.conf import settings
from django.test import Client, TestCase
from django.utils import timezone

from bugs.models import Activity, App
from integrations import forwarding, intake, reconcile, tasks
from integrations.jira import connect
from integrations.jira.webhooks import delivery_of
from integrations.jira_sandbox import models as sandbox
from integrations.jira_sandbox.knobs import knobs_update
from integrations.models import (
    AuthType,
    ConnectInstallation,
    IssueLink,
    JiraConnection,
    SyncEvent,
    WebhookDelivery,
)
from tests.factories import AppFactory, ReportFactory
from tests.integrations import test_sync
from tests.integrations.test_auth_flows import _connect_with_oauth
from tests.integrations.test_sync import _acme, _issue, _transition_to, settle

pytestmark = pytest.mark.django_db

linked = test_sync.linked  # a report sent to Jira through a Basic connection (status sync on)

SITE = "https://acme.atlassian.net"
CLOUD_ID = "8f3c1f9e-0000-4000-8000-000000000acd"
ADMIN_SECRET = "whsec-" + "a1" * 24
OLD_ADMIN_SECRET = "whsec-" + "0f" * 24
CONNECT_KEY = "jira:2a0d6c3e-acme-client-key"
CONNECT_SECRET = "connect-shared-secret-" + "5e" * 24
OAUTH = "/integrations/jira/webhooks/oauth"
CONNECT = "/integrations/jira/connect/webhook"

EVENT = {
    "timestamp": 1_764_324_000_000,
    "webhookEvent": "jira:issue_updated",
    "issue_event_type_name": "issue_generic",
    "user": {"accountId": "712020:alice", "displayName": "Alice"},
    "issue": {"id": "10042", "key": "WEB-42", "self": f"{SITE}/rest/api/2/issue/10042", "fields": {}},
    "changelog": {"id": "10124", "items": [{"field": "status", "fieldId": "status"}]},
}


def _body(**changes: Any) -> bytes:
    return json.dumps({**EVENT, **changes}).encode()


# ---------------------------------------------------------------------------------------------
# One connection per signing kind, and how each endpoint's deliveries are signed
# ---------------------------------------------------------------------------------------------


def _connection(app: App, auth_type: str, **values: Any) -> JiraConnection:
    row = JiraConnection(
        app=app, auth_type=auth_type, site_url=SITE, project_key="WEB", project_id="10000", sync_status=True
    )
    secrets = values.pop("secrets", {})
    for name, value in values.items():
        setattr(row, name, value)
    row.set_secrets(secrets)
    row.save()
    return row


@pytest.fixture
def admin_connection(app: App) -> JiraConnection:
    return _connection(
        app,
        AuthType.BASIC,
        webhook_kind="admin",
        webhook_ids=["7"],
        secrets={"email": "alice@acme.example", "api_token": "ATATT3x-x", "webhook_secret": ADMIN_SECRET},
    )


@pytest.fixture
def oauth_connection(app: App) -> JiraConnection:
    other = AppFactory(organization=app.organization)
    return _connection(
        other,
        AuthType.OAUTH2,
        cloud_id=CLOUD_ID,
        webhook_kind="dynamic",
        webhook_ids=["1000", "1001"],
        webhook_expires_at=timezone.now() + timedelta(days=30),
        secrets={"access_token": "at", "refresh_token": "rt"},
    )


@pytest.fixture
def connect_connection(app: App) -> JiraConnection:
    other = AppFactory(organization=app.organization)
    installation = ConnectInstallation.objects.create(
        client_key=CONNECT_KEY, shared_secret=CONNECT_SECRET, base_url=SITE
    )
    return _connection(other, AuthType.CONNECT, connect_installation=installation)


def _bearer(secret: str | None = None, *, exp_in: int = 180) -> str:
    now = int(time.time())
    claims = {"iss": f"jira:{CLOUD_ID}", "iat": now - 5, "exp": now + exp_in}
    return "Bearer " + jwt.encode(claims, secret or settings.ATLASSIAN_OAUTH_CLIENT_SECRET, algorithm="HS256")


def _connect_jwt(secret: str = CONNECT_SECRET, *, now: int | None = None, path: str = CONNECT) -> str:
    return connect.sign_request(
        method="POST",
        url=f"{settings.SITE_URL}{path}",
        base_url=settings.SITE_URL,
        app_key=CONNECT_KEY,
        shared_secret=secret,
        now=now,
    )


def _hub(body: bytes, secret: str = ADMIN_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Endpoint:
    """One delivery URL and its signatures: `sign(body, how)` gives the headers, for `how` in
    good / missing / forged / expired (for an admin webhook, whose HMAC never expires: the
    secret of the registration it replaced)."""

    kind: str
    fixture: str
    header: str
    url: Callable[[JiraConnection], str]
    sign: Callable[[bytes, str], dict[str, str]]


def _sign_admin(body: bytes, how: str) -> dict[str, str]:
    secrets = {"good": ADMIN_SECRET, "forged": "whsec-guessed-" + "9" * 40, "expired": OLD_ADMIN_SECRET}
    return {"X-Hub-Signature": _hub(body, secrets[how])} if how in secrets else {}


def _sign_oauth(body: bytes, how: str) -> dict[str, str]:
    signed = {
        "good": lambda: _bearer(),
        "forged": lambda: _bearer("not-the-client-secret-" + "x" * 40),
        "expired": lambda: _bearer(exp_in=-600),
    }
    return {"Authorization": signed[how]()} if how in signed else {}


def _sign_connect(body: bytes, how: str) -> dict[str, str]:
    signed = {
        "good": lambda: _connect_jwt(),
        "forged": lambda: _connect_jwt("not-the-shared-secret-" + "x" * 40),
        "expired": lambda: _connect_jwt(now=int(time.time()) - 3600),
    }
    return {"Authorization": signed[how]()} if how in signed else {}


ENDPOINTS = [
    Endpoint(
        "admin",
        "admin_connection",
        "X-Hub-Signature",
        lambda c: f"/integrations/jira/webhooks/connection/{c.pk}",
        _sign_admin,
    ),
    Endpoint("dynamic", "oauth_connection", "Authorization", lambda c: OAUTH, _sign_oauth),
    Endpoint("connect", "connect_connection", "Authorization", lambda c: CONNECT, _sign_connect),
]
IDS = [e.kind for e in ENDPOINTS]


def _bodies(endpoint: Endpoint) -> bytes:
    # Dynamic deliveries name the registrations they matched.
    return _body(matchedWebhookIds=[1001]) if endpoint.kind == "dynamic" else _body()


def _post(
    client: Client, url: str, body: bytes, headers: dict[str, str], identifier: str | None = "wh-1"
) -> Any:
    if identifier is not None:
        headers = {**headers, "X-Atlassian-Webhook-Identifier": identifier}
    # Tests without transaction=True run inside one: the commit hooks (the enqueue) run here.
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.generic("POST", url, data=body, content_type="application/json", headers=headers)


@pytest.fixture
def anonymous() -> Client:
    # A 500 comes back as a response (not raised), so the assertions below say what it was.
    return Client(raise_request_exception=False)


@pytest.fixture
def enqueued(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The ids handed to the worker: the queue boundary recorded instead of run (the tests then
    run the task themselves where they mean to)."""
    found: list[int] = []
    monkeypatch.setattr(intake, "_enqueue", lambda delivery_id: found.append(delivery_id))
    return found


# ---------------------------------------------------------------------------------------------
# Signatures
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
@pytest.mark.parametrize("how", ["missing", "forged", "expired"])
def test_an_unsigned_forged_or_expired_delivery_is_a_401_and_recorded(
    request: pytest.FixtureRequest, anonymous: Client, enqueued: list[int], endpoint: Endpoint, how: str
) -> None:
    connection = request.getfixturevalue(endpoint.fixture)
    body = _bodies(endpoint)
    answer = _post(anonymous, endpoint.url(connection), body, endpoint.sign(body, how))
    assert answer.status_code == 401, answer.content
    assert "not signed" in answer.json()["error"]
    rejected = WebhookDelivery.objects.get()
    assert (rejected.outcome, rejected.kind) == ("rejected", endpoint.kind)
    assert rejected.note and rejected.payload is None and rejected.connection_ids == []
    if how == "expired" and endpoint.kind != "admin":
        assert "expired" in rejected.note  # refused for its time, not its signature
    assert enqueued == []
    connection.refresh_from_db()
    assert connection.last_delivery_at is None  # only signed deliveries count as heard from Jira


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_a_signed_delivery_is_recorded_queued_and_handed_to_the_worker(
    request: pytest.FixtureRequest, anonymous: Client, enqueued: list[int], endpoint: Endpoint
) -> None:
    connection = request.getfixturevalue(endpoint.fixture)
    body = _bodies(endpoint)
    answer = _post(anonymous, endpoint.url(connection), body, endpoint.sign(body, "good"))
    assert (answer.status_code, answer.json()) == (202, {"status": "queued"})
    row = WebhookDelivery.objects.get()
    assert (row.kind, row.event, row.identifier) == (endpoint.kind, "jira:issue_updated", "wh-1")
    assert row.connection_ids == [connection.pk] and row.event_ms == EVENT["timestamp"]
    assert row.payload == json.loads(body)
    assert enqueued == [row.pk]
    connection.refresh_from_db()
    assert connection.last_delivery_at is not None


def test_a_valid_signature_on_another_body_is_refused(
    anonymous: Client, admin_connection: JiraConnection
) -> None:
    url = f"/integrations/jira/webhooks/connection/{admin_connection.pk}"
    signed_for = _body()
    answer = _post(
        anonymous, url, _body(webhookEvent="jira:issue_deleted"), {"X-Hub-Signature": _hub(signed_for)}
    )
    assert answer.status_code == 401
    assert WebhookDelivery.objects.get().outcome == "rejected"


def test_a_sha512_signature_is_honoured(
    anonymous: Client, admin_connection: JiraConnection, enqueued: list[int]
) -> None:
    body = _body()
    signature = "sha512=" + hmac.new(ADMIN_SECRET.encode(), body, hashlib.sha512).hexdigest()
    url = f"/integrations/jira/webhooks/connection/{admin_connection.pk}"
    assert _post(anonymous, url, body, {"X-Hub-Signature": signature}).status_code == 202


def test_another_connection_s_secret_does_not_open_this_one(
    anonymous: Client, admin_connection: JiraConnection, app: App
) -> None:
    other = _connection(
        AppFactory(organization=app.organization),
        AuthType.BASIC,
        webhook_kind="admin",
        webhook_ids=["8"],
        secrets={"webhook_secret": "whsec-other-" + "3" * 40},
    )
    body = _body()
    url = f"/integrations/jira/webhooks/connection/{admin_connection.pk}"
    assert (
        _post(anonymous, url, body, {"X-Hub-Signature": _hub(body, "whsec-other-" + "3" * 40)}).status_code
        == 401
    )
    assert (
        _post(
            anonymous,
            f"/integrations/jira/webhooks/connection/{other.pk}",
            body,
            {"X-Hub-Signature": _hub(body, ADMIN_SECRET)},
        ).status_code
        == 401
    )
    assert WebhookDelivery.objects.filter(outcome="rejected").count() == 2


def test_a_disconnected_or_unknown_connection_takes_nothing(
    anonymous: Client, admin_connection: JiraConnection
) -> None:
    body = _body()
    headers = {"X-Hub-Signature": _hub(body)}
    assert _post(anonymous, "/integrations/jira/webhooks/connection/999999", body, headers).status_code == 401
    JiraConnection.objects.filter(pk=admin_connection.pk).update(status=JiraConnection.Status.DISCONNECTED)
    url = f"/integrations/jira/webhooks/connection/{admin_connection.pk}"
    assert _post(anonymous, url, body, headers).status_code == 401
    assert set(WebhookDelivery.objects.values_list("outcome", flat=True)) == {"rejected"}


def test_a_connect_jwt_for_another_path_is_refused(
    anonymous: Client, connect_connection: JiraConnection
) -> None:
    # The qsh binds the token to the request it was made for: one for `installed` is no webhook's.
    token = _connect_jwt(path="/integrations/jira/connect/installed")
    assert _post(anonymous, CONNECT, _body(), {"Authorization": token}).status_code == 401


def test_an_oauth_bearer_is_not_accepted_by_the_connect_endpoint(
    anonymous: Client, connect_connection: JiraConnection, oauth_connection: JiraConnection
) -> None:
    assert _post(anonymous, CONNECT, _body(), {"Authorization": _bearer()}).status_code == 401
    assert _post(anonymous, OAUTH, _body(), {"Authorization": _connect_jwt()}).status_code == 401


# ---------------------------------------------------------------------------------------------
# Bodies and headers: 400 or 401 or 202, never 500
# ---------------------------------------------------------------------------------------------

NOT_AN_OBJECT = [
    b"",
    b"{",
    b'{"webhookEvent": "jira:issue_updated",',
    b"[]",
    b'[{"webhookEvent": "jira:issue_updated"}]',
    b"null",
    b'"jira:issue_updated"',
    b"\xff\xfe\xfd garbage \x00\x01",
    '{"webhookEvent": "café"}'.encode("latin-1"),
    b"[" * 200_000,
    b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
]


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
@pytest.mark.parametrize("body", NOT_AN_OBJECT, ids=range(len(NOT_AN_OBJECT)))
def test_a_signed_body_that_is_not_a_json_object_is_a_400(
    request: pytest.FixtureRequest, anonymous: Client, enqueued: list[int], endpoint: Endpoint, body: bytes
) -> None:
    connection = request.getfixturevalue(endpoint.fixture)
    answer = _post(anonymous, endpoint.url(connection), body, endpoint.sign(body, "good"))
    assert answer.status_code == 400, answer.content[:300]
    assert answer.json() == {"error": "The body is not a JSON object."}
    assert not WebhookDelivery.objects.exists() and enqueued == []


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
@pytest.mark.parametrize("body", NOT_AN_OBJECT[::3], ids=range(len(NOT_AN_OBJECT[::3])))
def test_an_unsigned_garbage_body_is_a_401(
    request: pytest.FixtureRequest, anonymous: Client, endpoint: Endpoint, body: bytes
) -> None:
    connection = request.getfixturevalue(endpoint.fixture)
    answer = _post(anonymous, endpoint.url(connection), body, {})
    assert answer.status_code == 401  # the signature first: an unsigned caller learns nothing


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_a_body_over_the_upload_limit_is_a_400(
    request: pytest.FixtureRequest, anonymous: Client, endpoint: Endpoint
) -> None:
    connection = request.getfixturevalue(endpoint.fixture)
    body = _body(junk="x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1))
    answer = _post(anonymous, endpoint.url(connection), body, endpoint.sign(body, "good"))
    assert answer.status_code == 400
    assert not WebhookDelivery.objects.exclude(outcome="rejected").exists()


@pytest.mark.parametrize(
    "changes",
    [
        {"timestamp": 10**30},
        {"timestamp": "yesterday"},
        {"timestamp": True},
        {"matchedWebhookIds": ["²", "1001", None, {"id": 1}]},
        {"issue": {**EVENT["issue"], "fields": {"summary": "a\x00b"}}},
        {"issue": "WEB-42", "changelog": [1], "user": 7},
    ],
    ids=["huge-timestamp", "text-timestamp", "bool-timestamp", "odd-ids", "nul", "wrong-shapes"],
)
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_odd_values_in_a_signed_body_are_read_as_missing(
    request: pytest.FixtureRequest,
    anonymous: Client,
    enqueued: list[int],
    endpoint: Endpoint,
    changes: dict[str, Any],
) -> None:
    connection = request.getfixturevalue(endpoint.fixture)
    data = {**json.loads(_bodies(endpoint)), **changes}
    body = json.dumps(data).encode()
    answer = _post(anonymous, endpoint.url(connection), body, endpoint.sign(body, "good"))
    assert answer.status_code == 202, answer.content[:300]
    row = WebhookDelivery.objects.get()
    assert row.event == "jira:issue_updated"
    if "timestamp" in changes:
        assert row.event_ms is None
    # What is kept can be stored in any database's JSON column (PostgreSQL refuses U+0000).
    assert "\\u0000" not in json.dumps(row.payload)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_what_is_stored_is_what_sync_reads_of_the_body(
    request: pytest.FixtureRequest, anonymous: Client, endpoint: Endpoint
) -> None:
    """The issue's fields are cut to those sync compares, the user to who they are; the rest of
    a (often large) body is not kept. What the handlers read of it reads the same."""
    connection = request.getfixturevalue(endpoint.fixture)
    sent = json.loads(_bodies(endpoint))
    status = {"id": "3", "name": "In Progress", "statusCategory": {"id": 4, "key": "indeterminate"}}
    sent["issue"]["fields"] = {
        "status": status,
        "priority": {"id": "2", "name": "High"},
        "updated": "2026-11-29T10:00:00.000+0000",
        "description": "x" * 20_000,
        "customfield_10042": {"value": "big"},
    }
    sent["user"] = {**sent["user"], "avatarUrls": {"48x48": "https://example.com/a.png"}, "timeZone": "UTC"}
    sent["comment"] = {"id": "99", "body": "caf\u00e9 \u2603 </script>", "author": {"displayName": "Bo"}}
    body = json.dumps(sent, indent=2, ensure_ascii=False).encode()
    answer = _post(anonymous, endpoint.url(connection), body, endpoint.sign(body, "good"))
    assert answer.status_code == 202, answer.content[:300]
    stored = WebhookDelivery.objects.get().payload
    assert stored["issue"]["fields"] == {
        "status": status,
        "priority": {"id": "2", "name": "High"},
        "updated": "2026-11-29T10:00:00.000+0000",
    }
    assert stored["user"] == {"accountId": "712020:alice", "displayName": "Alice"}
    assert len(json.dumps(stored)) < 1_000
    read, original = delivery_of(stored), delivery_of(sent)
    for name in ("event", "timestamp_ms", "comment", "changelog", "issue_id", "self_url", "actor_account_id"):
        assert getattr(read, name) == getattr(original, name), name


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_numbers_json_does_not_have_are_a_400(
    request: pytest.FixtureRequest, anonymous: Client, endpoint: Endpoint, value: str
) -> None:
    connection = request.getfixturevalue(endpoint.fixture)
    body = _bodies(endpoint).replace(str(EVENT["timestamp"]).encode(), value.encode())
    assert value.encode() in body
    answer = _post(anonymous, endpoint.url(connection), body, endpoint.sign(body, "good"))
    assert answer.status_code == 400
    assert not WebhookDelivery.objects.exists()


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_an_event_name_with_control_characters_is_not_an_event_we_handle(
    request: pytest.FixtureRequest, anonymous: Client, enqueued: list[int], endpoint: Endpoint
) -> None:
    connection = request.getfixturevalue(endpoint.fixture)
    body = json.dumps({**json.loads(_bodies(endpoint)), "webhookEvent": "jira:issue_updated\x00"}).encode()
    answer = _post(anonymous, endpoint.url(connection), body, endpoint.sign(body, "good"))
    assert (answer.status_code, answer.json()) == (202, {"status": "ignored"})
    assert "\x00" not in WebhookDelivery.objects.get().event and enqueued == []


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
@pytest.mark.parametrize(
    "headers",
    [
        {"X-Atlassian-Webhook-Retry": "²"},
        {"X-Atlassian-Webhook-Retry": "99999999999"},
        {"X-Atlassian-Webhook-Retry": "-1"},
        {"X-Atlassian-Webhook-Identifier": "é" * 400},
        {"X-Hub-Signature": "sha256=é" + "0" * 63, "Authorization": "Bearer é.é.é"},
        {"Authorization": "JWT é.é.é"},
    ],
    ids=["retry-superscript", "retry-huge", "retry-negative", "identifier-long", "sig-latin1", "jwt-latin1"],
)
def test_odd_headers_never_make_a_500(
    request: pytest.FixtureRequest,
    anonymous: Client,
    enqueued: list[int],
    endpoint: Endpoint,
    headers: dict[str, str],
) -> None:
    connection = request.getfixturevalue(endpoint.fixture)
    body = _bodies(endpoint)
    signed = {**endpoint.sign(body, "good"), **headers}
    answer = _post(anonymous, endpoint.url(connection), body, signed, identifier=None)
    row = WebhookDelivery.objects.get()
    if endpoint.header in headers:
        assert answer.status_code == 401 and row.outcome == "rejected"
    else:
        assert answer.status_code == 202 and row.outcome == "queued"
        assert 0 <= row.retry <= 32767 and len(row.identifier) <= 255


# ---------------------------------------------------------------------------------------------
# What is recorded: ignored events, duplicates, matching
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
@pytest.mark.parametrize(
    "data",
    [
        {"webhookEvent": "jira:version_released", "timestamp": 1, "version": {"id": "1"}},
        {"webhookEvent": "issuelink_created", "issueLink": {"id": 5}},
        {"hello": "world"},
        {},
    ],
    ids=["version", "issuelink", "unknown-shape", "empty"],
)
def test_an_event_we_do_not_handle_is_a_202_recorded_as_ignored_and_logged(
    request: pytest.FixtureRequest,
    anonymous: Client,
    enqueued: list[int],
    caplog: pytest.LogCaptureFixture,
    endpoint: Endpoint,
    data: dict[str, Any],
) -> None:
    connection = request.getfixturevalue(endpoint.fixture)
    body = json.dumps(data).encode()
    with caplog.at_level(logging.INFO, logger="integrations.intake"):
        answer = _post(anonymous, endpoint.url(connection), body, endpoint.sign(body, "good"))
    assert (answer.status_code, answer.json()) == (202, {"status": "ignored"})
    row = WebhookDelivery.objects.get()
    assert row.outcome == "ignored" and row.processed_at is not None and row.payload is None
    assert row.event == str(data.get("webhookEvent", ""))
    assert enqueued == []
    logged = [r for r in caplog.records if r.getMessage() == "jira.webhook.ignored"]
    assert len(logged) == 1 and logged[0].event == row.event  # type: ignore[attr-defined]


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_the_same_identifier_twice_is_one_row_and_one_task(
    request: pytest.FixtureRequest, anonymous: Client, enqueued: list[int], endpoint: Endpoint
) -> None:
    connection = request.getfixturevalue(endpoint.fixture)
    body = _bodies(endpoint)
    first = _post(anonymous, endpoint.url(connection), body, endpoint.sign(body, "good"), identifier="same")
    assert first.status_code == 202
    tasks.sync_delivery(enqueued[0])  # the worker's turn
    again = _post(
        anonymous,
        endpoint.url(connection),
        body,
        {**endpoint.sign(body, "good"), "X-Atlassian-Webhook-Retry": "1"},
        identifier="same",
    )
    assert (again.status_code, again.json()) == (200, {"status": "duplicate"})
    row = WebhookDelivery.objects.get()
    assert row.outcome == "applied" and row.retry == 0
    assert len(enqueued) == 1
    # Another identifier is another delivery.
    assert (
        _post(
            anonymous, endpoint.url(connection), body, endpoint.sign(body, "good"), identifier="next"
        ).status_code
        == 202
    )
    assert WebhookDelivery.objects.count() == 2


def test_without_an_identifier_the_same_bytes_are_one_delivery(
    anonymous: Client, admin_connection: JiraConnection, enqueued: list[int]
) -> None:
    url = f"/integrations/jira/webhooks/connection/{admin_connection.pk}"
    body = _body()
    assert _post(anonymous, url, body, {"X-Hub-Signature": _hub(body)}, identifier=None).status_code == 202
    assert _post(anonymous, url, body, {"X-Hub-Signature": _hub(body)}, identifier=None).status_code == 200
    other = _body(timestamp=EVENT["timestamp"] + 1)
    assert _post(anonymous, url, other, {"X-Hub-Signature": _hub(other)}, identifier=None).status_code == 202
    first, second = WebhookDelivery.objects.order_by("pk")
    # The repeat of a delivery still waiting is handed to the worker again (in case the first
    # never reached it); processing claims the row, so it is applied once.
    assert enqueued == [first.pk, first.pk, second.pk]
    assert [intake.delivery_process(delivery_id=i) for i in enqueued] == ["applied", "done", "applied"]


def test_identifiers_are_per_site(
    anonymous: Client, admin_connection: JiraConnection, oauth_connection: JiraConnection, enqueued: list[int]
) -> None:
    """X-Atlassian-Webhook-Identifier is unique within a tenant only: the same one from two
    sites is two deliveries."""
    admin_body = _body()
    admin_url = f"/integrations/jira/webhooks/connection/{admin_connection.pk}"
    assert _post(anonymous, admin_url, admin_body, {"X-Hub-Signature": _hub(admin_body)}).status_code == 202
    oauth_body = _body(matchedWebhookIds=[1000])
    assert _post(anonymous, OAUTH, oauth_body, {"Authorization": _bearer()}).status_code == 202
    assert sorted(WebhookDelivery.objects.values_list("site", flat=True)) == sorted([CLOUD_ID, SITE])


def test_a_dynamic_delivery_goes_to_the_connections_whose_webhooks_it_matched(
    anonymous: Client, oauth_connection: JiraConnection, enqueued: list[int]
) -> None:
    body = _body(matchedWebhookIds=[1001])
    assert _post(anonymous, OAUTH, body, {"Authorization": _bearer()}, identifier="a").status_code == 202
    row = WebhookDelivery.objects.get(identifier="a")
    assert row.connection_ids == [oauth_connection.pk] and row.site == CLOUD_ID

    # Ids nobody here registered (another app's, or ones since removed): recorded, ignored.
    body = _body(matchedWebhookIds=[4242])
    answer = _post(anonymous, OAUTH, body, {"Authorization": _bearer()}, identifier="b")
    assert (answer.status_code, answer.json()) == (202, {"status": "ignored"})
    row = WebhookDelivery.objects.get(identifier="b")
    assert row.connection_ids == [] and row.note == "no connection uses it"
    # No ids at all (an admin webhook's body sent to the OAuth URL): the same.
    body = _body()
    assert _post(anonymous, OAUTH, body, {"Authorization": _bearer()}, identifier="c").json() == {
        "status": "ignored"
    }
    assert enqueued == [WebhookDelivery.objects.get(identifier="a").pk]


def test_colliding_webhook_ids_of_two_sites_are_told_apart_by_the_issue_s_url(
    anonymous: Client, oauth_connection: JiraConnection, app: App, enqueued: list[int]
) -> None:
    globex = _connection(
        AppFactory(organization=app.organization),
        AuthType.OAUTH2,
        site_url="https://globex.atlassian.net",
        cloud_id="globex-cloud",
        webhook_kind="dynamic",
        webhook_ids=["1001"],
    )
    issue = {"id": "1", "self": "https://globex.atlassian.net/rest/api/2/issue/1"}
    body = _body(matchedWebhookIds=[1001], issue=issue)
    assert _post(anonymous, OAUTH, body, {"Authorization": _bearer()}).status_code == 202
    assert WebhookDelivery.objects.get().connection_ids == [globex.pk]


def test_a_disconnected_oauth_connection_hears_nothing(
    anonymous: Client, oauth_connection: JiraConnection, enqueued: list[int]
) -> None:
    JiraConnection.objects.filter(pk=oauth_connection.pk).update(status=JiraConnection.Status.DISCONNECTED)
    body = _body(matchedWebhookIds=[1000])
    assert _post(anonymous, OAUTH, body, {"Authorization": _bearer()}).json() == {"status": "ignored"}
    assert enqueued == []


@pytest.mark.django_db(transaction=True)  # the enqueue runs at the commit, as in production
def test_a_broker_that_is_down_is_no_500_and_jira_s_retry_queues_it_again(
    anonymous: Client, admin_connection: JiraConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[dict[str, Any]] = []

    def down(**kwargs: Any) -> None:
        raise ConnectionRefusedError("broker down")

    monkeypatch.setattr(tasks.sync_drain, "apply_async", down)
    url = f"/integrations/jira/webhooks/connection/{admin_connection.pk}"
    body = _body()
    answer = _post(anonymous, url, body, {"X-Hub-Signature": _hub(body)})
    assert answer.status_code == 503  # Jira retries a 5xx; a 500 would say we failed to read it
    row = WebhookDelivery.objects.get()
    assert row.outcome == "queued"

    monkeypatch.setattr(tasks.sync_drain, "apply_async", lambda **kwargs: sent.append(kwargs))
    retry = _post(anonymous, url, body, {"X-Hub-Signature": _hub(body), "X-Atlassian-Webhook-Retry": "1"})
    assert (retry.status_code, retry.json()) == (200, {"status": "duplicate"})
    # The retry queued a drain again, which reads every queued row: this one among them.
    assert len(sent) == 1 and WebhookDelivery.objects.count() == 1
    assert intake.deliveries_drain() == (1, False)
    assert WebhookDelivery.objects.get().outcome == "applied"


def test_a_delivery_processed_twice_is_applied_once(
    anonymous: Client, admin_connection: JiraConnection, enqueued: list[int]
) -> None:
    url = f"/integrations/jira/webhooks/connection/{admin_connection.pk}"
    body = _body()
    _post(anonymous, url, body, {"X-Hub-Signature": _hub(body)})
    assert intake.delivery_process(delivery_id=enqueued[0]) == "applied"
    assert intake.delivery_process(delivery_id=enqueued[0]) == "done"


# ---------------------------------------------------------------------------------------------
# From the sandbox Jira over real HTTP
# ---------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_intake_does_no_sync_work_inline(linked: IssueLink, enqueued: list[int]) -> None:
    report = linked.report
    _transition_to(_issue(linked), "done")  # three changes in Jira, each delivered at once
    rows = list(WebhookDelivery.objects.filter(event="jira:issue_updated").order_by("pk"))
    assert len(rows) == 3 and {r.outcome for r in rows} == {"queued"} and {r.kind for r in rows} == {"admin"}
    assert enqueued == [r.pk for r in rows]
    report.refresh_from_db()
    assert report.status == "new"
    assert not SyncEvent.objects.filter(link=linked, direction="in").exists()
    # The worker's turn: the state they bring is applied (each task re-reads nothing from Jira).
    for delivery_id in enqueued:
        tasks.sync_delivery(delivery_id)
    report.refresh_from_db()
    assert report.status == "closed"


@pytest.mark.django_db(transaction=True)
def test_jira_s_duplicate_delivery_is_answered_200_and_processed_once(linked: IssueLink) -> None:
    knobs_update(site=_acme(), changes={"webhook_duplicate_rate": 1.0})
    _transition_to(_issue(linked), "indeterminate")  # To Do → In Progress: one change
    settle()
    sent = sandbox.Delivery.objects.get(event="jira:issue_updated")
    assert sent.duplicates == 1 and sent.state == sandbox.Delivery.State.DELIVERED and sent.last_status == 202
    row = WebhookDelivery.objects.get(identifier=sent.identifier)
    assert row.outcome == "applied"
    assert (
        SyncEvent.objects.filter(link=linked, direction="in", field="status", outcome="applied").count() == 1
    )
    assert Activity.objects.filter(report=linked.report, origin="jira", kind="status").count() == 1


@pytest.mark.django_db(transaction=True)
def test_an_oauth_delivery_is_verified_by_its_bearer_and_matched_by_its_webhook_ids(
    web: Client, app: App, jira: dict[str, str], settings: Any
) -> None:
    settings.JIRA_SEARCH_CONSISTENCY_S = 0
    connection = _connect_with_oauth(web, app, jira)
    assert connection.webhook_kind == "dynamic" and connection.webhook_ids
    link = forwarding.forward_request(report=ReportFactory(app=app))
    link.refresh_from_db()
    reconcile.reconcile_connection(connection_id=connection.pk)
    _transition_to(_issue(link), "done")
    settle()
    sent = sandbox.Delivery.objects.filter(event="jira:issue_updated", webhook__kind="dynamic")
    assert sent.count() == 3 and {d.last_status for d in sent} == {202}
    rows = WebhookDelivery.objects.filter(kind="dynamic", event="jira:issue_updated")
    assert rows.count() == 3 and {r.outcome for r in rows} == {"applied"}
    assert all(r.connection_ids == [connection.pk] and r.site == connection.cloud_id for r in rows)
    assert {tuple(r.payload["matchedWebhookIds"]) for r in rows} == {
        tuple(int(i) for i in connection.webhook_ids)
    }
    link.report.refresh_from_db()
    assert link.report.status == "closed"
    assert not WebhookDelivery.objects.filter(outcome="rejected").exists()


@pytest.mark.django_db
def test_a_delivery_whose_task_was_lost_is_queued_again_by_the_sweeper(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sent: list[int] = []
    monkeypatch.setattr(tasks.sync_delivery, "delay", lambda pk: sent.append(pk))
    now = timezone.now()
    old = WebhookDelivery.objects.create(site="s", identifier="a", kind="admin", event="jira:issue_updated")
    WebhookDelivery.objects.filter(pk=old.pk).update(received_at=now - timedelta(minutes=3))
    WebhookDelivery.objects.create(site="s", identifier="b", kind="admin", event="jira:issue_updated")
    done = WebhookDelivery.objects.create(
        site="s", identifier="c", kind="admin", event="jira:issue_updated", outcome="applied"
    )
    WebhookDelivery.objects.filter(pk=done.pk).update(received_at=now - timedelta(minutes=3))
    assert intake.deliveries_requeue(now=now) == 1 and sent == [old.pk]


def test_a_burst_of_deliveries_costs_one_queue_message_per_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """Outside eager mode, the first delivery of a window queues one drain, due when the window
    closes; the next ones of the window do not queue another; after it, the next one does."""
    sent: list[dict[str, Any]] = []
    clock = {"now": 1000.0}
    monkeypatch.setattr(intake, "_eager", lambda task: False)
    monkeypatch.setattr(intake.time, "monotonic", lambda: clock["now"])
    monkeypatch.setattr(intake, "_window", {"until": 0.0})
    monkeypatch.setattr(tasks.sync_drain, "apply_async", lambda **kwargs: sent.append(kwargs))
    for delivery_id in range(5):
        intake._enqueue(delivery_id)
    assert sent == [{"countdown": intake.DRAIN_WINDOW_S}]
    clock["now"] += intake.DRAIN_WINDOW_S
    intake._enqueue(6)
    assert len(sent) == 2


def test_the_drain_and_the_sweeper_find_queued_rows_through_their_index() -> None:
    """Among days of handled deliveries, the few still queued are found through the partial
    index, on SQLite and PostgreSQL alike (a plan that reads every row is the bug this pins)."""
    from django.db import connection

    old = timezone.now() - timedelta(days=1)
    WebhookDelivery.objects.bulk_create(
        [WebhookDelivery(site="s", identifier=f"a{i}", kind="admin", outcome="applied") for i in range(3000)],
        batch_size=1000,
    )
    WebhookDelivery.objects.bulk_create(
        [WebhookDelivery(site="s", identifier=f"q{i}", kind="admin", outcome="queued") for i in range(3)]
    )
    WebhookDelivery.objects.update(received_at=old)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    drain = intake.queued_ids()[: intake.DRAIN_BATCH + 1]
    sweep = intake.queued_ids().filter(received_at__lt=timezone.now() - intake.STRAGGLER_AFTER)[:1000]
    for query in (drain, sweep):
        assert "webhookdelivery_queued" in query.explain(), query.explain()
    assert len(list(drain)) == len(list(sweep)) == 3


def test_the_lag_shown_is_the_median_of_the_connection_s_latest_deliveries(
    admin_connection: JiraConnection,
) -> None:
    """Older deliveries and a busier connection's newer ones do not decide this one's lag."""
    from integrations.selectors import LAG_SAMPLE, sync_health

    now = timezone.now()

    def delivered(connection_id: int, lag_ms: int, age_s: float, count: int, tag: str) -> None:
        received = now - timedelta(seconds=age_s)
        WebhookDelivery.objects.bulk_create(
            WebhookDelivery(
                site="cloud",
                identifier=f"{tag}-{i}",
                kind="admin",
                outcome="applied",
                connection_ids=[connection_id],
                event_ms=int(received.timestamp() * 1000) - lag_ms,
                received_at=received,
            )
            for i in range(count)
        )

    assert sync_health(connection=admin_connection).lag_ms is None
    delivered(admin_connection.pk, lag_ms=100, age_s=600, count=40, tag="older")
    delivered(admin_connection.pk, lag_ms=2_500, age_s=300, count=LAG_SAMPLE, tag="latest")
    delivered(admin_connection.pk + 1000, lag_ms=10, age_s=60, count=400, tag="busy-neighbour")
    assert sync_health(connection=admin_connection).lag_ms == 2_500
