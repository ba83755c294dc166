"""The SDK ingest API under /api/v1/, driven through Django's test client and the real middleware.

Every error answer must have the stable shape {"error": {"code", "message", "fields"?}}, and no
failed request may leave anything behind (no report, no consumed number, no attachment, no file).
"""

from __future__ import annotations

import io
import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.urls import resolve
from django.utils import timezone
from PIL import Image

from bugs import ratelimit, services
from bugs.models import Activity, App, Attachment, BugReport, IdempotencyKey
from config.logging import ContextFormatter
from tests.factories import AppFactory, ReportFactory

pytestmark = pytest.mark.django_db

REPORTS_URL = "/api/v1/reports"


def attachments_url(report_id: int) -> str:
    return f"/api/v1/reports/{report_id}/attachments"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def post_report(
    client: Client,
    token: str | None,
    body: Any,
    *,
    headers: dict[str, str] | None = None,
    content_type: str = "application/json",
):  # type: ignore[no-untyped-def]
    """POST a report; `body` is JSON-encoded unless it is already a str or bytes."""
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    all_headers = {**(bearer(token) if token else {}), **(headers or {})}
    return client.post(REPORTS_URL, data=data, content_type=content_type, headers=all_headers)


def post_files(client: Client, token: str, report_id: int, *files: SimpleUploadedFile):  # type: ignore[no-untyped-def]
    """Multipart upload of one or more `files` parts (the test client encodes it)."""
    return client.post(attachments_url(report_id), {"files": list(files)}, headers=bearer(token))


def assert_error(response, status: int, code: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The stable error shape; returns the inner `error` object for further checks."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert list(body) == ["error"]
    error = body["error"]
    assert set(error) <= {"code", "message", "fields"}
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"].strip()
    if "fields" in error:
        assert isinstance(error["fields"], dict) and error["fields"]
        for name, messages in error["fields"].items():
            assert isinstance(name, str) and name
            assert isinstance(messages, list) and messages
            assert all(isinstance(m, str) and m.strip() for m in messages)
    return error


def png_bytes(size: tuple[int, int] = (8, 6)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (220, 40, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


def png_upload(name: str = "screen.png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, png_bytes(), content_type="image/png")


def log_upload(
    name: str = "console.log", data: bytes = b"12:00:01 boot\n12:00:02 crash\n"
) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="text/plain")


def stored_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


@pytest.fixture
def media_root(settings, tmp_path: Path) -> Path:
    """A MEDIA_ROOT of this test's own, so "no file was written" can be checked exactly."""
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = str(root)
    return root


@pytest.fixture
def report(app: App) -> BugReport:
    return ReportFactory(app=app)


@pytest.fixture
def rate_clock(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """Pins the rate limiter's clock (only its module's view of `time`), 10.5 s into a minute."""
    clock = SimpleNamespace(now=1_700_000_040.0 + 10.5)  # 1_700_000_040 is a multiple of 60
    assert clock.now % 60 == 10.5
    monkeypatch.setattr(ratelimit, "time", SimpleNamespace(time=lambda: clock.now))
    return clock


FULL_REPORT: dict[str, Any] = {
    "title": "  Checkout button does nothing  ",
    "description": "Tapping Pay on the cart screen has no effect.",
    "reproduction_steps": ["Open the cart", "Tap Pay", "Nothing happens"],
    "reporter_email": "  Jane.Doe@Example.COM ",
    "reporter_name": "Jane Doe",
    "device_model": "iPhone 15 Pro",
    "os_name": "iOS",
    "os_version": "18.1",
    "app_version": "4.2.0",
    "app_build": "4200",
    "current_view": "CartViewController",
    "locale": "en_GB",
    "tags": ["checkout", "payments", "checkout", " payments "],
    "user_attributes": {"plan": "pro", "seats": 3, "ratio": 0.5, "beta": True, "referrer": None},
    "console_logs": [
        {"timestamp": "2024-05-01T12:00:00Z", "level": "error", "message": "Payment sheet failed"},
        {"timestamp": "2024-05-01T12:00:01+02:00", "message": "Retrying"},
    ],
    "priority": "blocker",
}


# --- POST /api/v1/reports: success ------------------------------------------------------------


def test_create_report_answers_201_with_id_number_and_dashboard_url(client, app, owner, settings):
    response = post_report(client, app.test_token, {"title": "App crashes on launch"})

    assert response.status_code == 201, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"id", "number", "url"}
    report = BugReport.objects.get()
    assert body["id"] == report.pk
    assert body["number"] == report.number == 1
    assert report.app == app
    assert body["url"] == f"{settings.SITE_URL}/apps/{app.pk}/reports/1/"
    match = resolve(urlsplit(body["url"]).path)
    assert match.url_name == "report_detail"
    assert match.kwargs == {"app_id": app.pk, "number": 1}
    # The link really is the report's page for someone of the app's organization.
    dashboard = Client()
    dashboard.force_login(owner.user)
    page = dashboard.get(urlsplit(body["url"]).path)
    assert page.status_code == 200
    assert b"App crashes on launch" in page.content


def test_create_report_saves_every_optional_field(client, app):
    response = post_report(client, app.test_token, FULL_REPORT)

    assert response.status_code == 201, response.content
    report = BugReport.objects.get(pk=response.json()["id"])
    assert report.title == "Checkout button does nothing"
    assert report.description == FULL_REPORT["description"]
    assert report.reproduction_steps == ["Open the cart", "Tap Pay", "Nothing happens"]
    assert report.reporter_email == "jane.doe@example.com"
    assert report.reporter_name == "Jane Doe"
    assert report.device_model == "iPhone 15 Pro"
    assert (report.os_name, report.os_version) == ("iOS", "18.1")
    assert (report.app_version, report.app_build) == ("4.2.0", "4200")
    assert report.current_view == "CartViewController"
    assert report.locale == "en_GB"
    assert report.tags == ["checkout", "payments"]  # repeats dropped, order kept
    assert report.user_attributes == FULL_REPORT["user_attributes"]
    assert type(report.user_attributes["seats"]) is int
    assert type(report.user_attributes["beta"]) is bool
    assert report.priority == "blocker"
    assert report.priority_rank == 4
    assert report.status == "new"
    assert [(log["level"], log["message"]) for log in report.console_logs] == [
        ("error", "Payment sheet failed"),
        ("info", "Retrying"),  # the default level
    ]
    assert [datetime.fromisoformat(log["timestamp"]) for log in report.console_logs] == [
        datetime.fromisoformat("2024-05-01T12:00:00+00:00"),
        datetime.fromisoformat("2024-05-01T12:00:01+02:00"),
    ]
    # The timeline starts from created_at; nothing has changed yet, so there is no activity.
    assert not Activity.objects.filter(report=report).exists()


def test_create_report_with_only_a_title_uses_the_defaults(client, app):
    response = post_report(client, app.test_token, {"title": "Typo on the login screen"})

    assert response.status_code == 201, response.content
    report = BugReport.objects.get()
    assert report.title == "Typo on the login screen"
    assert report.description == ""
    assert report.reproduction_steps == []
    assert report.reporter_email == ""
    assert report.tags == []
    assert report.user_attributes == {}
    assert report.console_logs == []
    assert report.priority == "na"


def test_a_title_of_exactly_255_characters_is_accepted(client, app):
    response = post_report(client, app.test_token, {"title": "x" * 255})

    assert response.status_code == 201, response.content
    assert BugReport.objects.get().title == "x" * 255


def test_a_content_type_with_a_charset_parameter_is_accepted(client, app):
    response = post_report(
        client, app.test_token, {"title": "Charset"}, content_type="application/json; charset=utf-8"
    )

    assert response.status_code == 201, response.content


def test_report_numbers_increment_per_app_and_are_independent_between_apps(client):
    first, second = AppFactory(), AppFactory()

    first_numbers = [
        post_report(client, first.test_token, {"title": f"A{i}"}).json()["number"] for i in range(3)
    ]
    second_numbers = [
        post_report(client, second.test_token, {"title": f"B{i}"}).json()["number"] for i in range(2)
    ]
    first_numbers.append(post_report(client, first.test_token, {"title": "A3"}).json()["number"])

    assert first_numbers == [1, 2, 3, 4]
    assert second_numbers == [1, 2]
    assert sorted(BugReport.objects.filter(app=first).values_list("number", flat=True)) == [1, 2, 3, 4]
    assert sorted(BugReport.objects.filter(app=second).values_list("number", flat=True)) == [1, 2]


# --- 401 ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(None, id="missing-header"),
        pytest.param("", id="empty-header"),
        pytest.param("Basic {token}", id="basic-scheme"),
        pytest.param("Token {token}", id="token-scheme"),
        pytest.param("{token}", id="no-scheme"),
        pytest.param("Bearer", id="bearer-without-token"),
        pytest.param("Bearer ", id="bearer-with-blank-token"),
        pytest.param("Bearer bb_thisIsNotAnyAppsToken0123456789abcdefghijk", id="unknown-token"),
        pytest.param("Bearer {token}x", id="token-with-extra-character"),
    ],
)
def test_a_request_without_a_valid_sdk_token_is_401_with_www_authenticate(client, app, authorization):
    headers = {} if authorization is None else {"Authorization": authorization.format(token=app.test_token)}

    response = post_report(client, None, {"title": "Crash"}, headers=headers)

    error = assert_error(response, 401, "unauthorized")
    assert "fields" not in error
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert 'realm="bugbridge-sdk"' in response["WWW-Authenticate"]
    assert BugReport.objects.count() == 0


def test_the_bearer_scheme_is_case_insensitive(client, app):
    response = post_report(
        client, None, {"title": "Crash"}, headers={"Authorization": f"bearer {app.test_token}"}
    )

    assert response.status_code == 201, response.content


def test_a_rotated_token_stops_working_at_once_and_the_new_one_works(client, app):
    old_token = app.test_token
    assert post_report(client, old_token, {"title": "Before rotation"}).status_code == 201

    new_token = services.app_rotate_token(app=app)

    rejected = post_report(client, old_token, {"title": "With the old token"})
    assert_error(rejected, 401, "unauthorized")
    assert rejected["WWW-Authenticate"].startswith("Bearer")
    accepted = post_report(client, new_token, {"title": "With the new token"})
    assert accepted.status_code == 201, accepted.content
    assert accepted.json()["number"] == 2
    assert list(BugReport.objects.order_by("number").values_list("title", flat=True)) == [
        "Before rotation",
        "With the new token",
    ]


def test_the_attachment_endpoint_also_needs_a_valid_token(client, report, media_root):
    response = client.post(attachments_url(report.pk), {"files": [log_upload()]})

    assert_error(response, 401, "unauthorized")
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert Attachment.objects.count() == 0
    assert stored_files(media_root) == []


# --- 422 and 400: the body ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({}, "title", id="title-missing"),
        pytest.param({"title": ""}, "title", id="title-empty"),
        pytest.param({"title": "   "}, "title", id="title-only-whitespace"),
        pytest.param({"title": "x" * 256}, "title", id="title-256-chars"),
        pytest.param({"title": 123}, "title", id="title-a-number"),
        pytest.param({"title": None}, "title", id="title-null"),
        pytest.param({"title": ["Crash"]}, "title", id="title-a-list"),
        pytest.param({"title": "ok", "reporter_email": "not-an-email"}, "reporter_email", id="bad-email"),
        pytest.param({"title": "ok", "reporter_email": "a@b@c.com"}, "reporter_email", id="two-at-signs"),
        pytest.param({"title": "ok", "tags": "checkout"}, "tags", id="tags-a-string"),
        pytest.param({"title": "ok", "tags": [""]}, "tags.0", id="tag-empty"),
        pytest.param({"title": "ok", "reproduction_steps": "Tap Pay"}, "reproduction_steps", id="steps-str"),
        pytest.param({"title": "ok", "description": ["a"]}, "description", id="description-a-list"),
        pytest.param({"title": "ok", "user_attributes": ["plan"]}, "user_attributes", id="attributes-a-list"),
        pytest.param({"title": "ok", "priority": "urgent"}, "priority", id="unknown-priority"),
        pytest.param({"title": "ok", "os_name": "x" * 51}, "os_name", id="os-name-too-long"),
        pytest.param({"title": "ok", "console_logs": {"level": "info"}}, "console_logs", id="logs-an-object"),
        pytest.param(
            {
                "title": "ok",
                "console_logs": [{"timestamp": "2024-05-01T12:00:00Z", "level": "fatal", "message": "m"}],
            },
            "console_logs.0.level",
            id="bad-console-log-level",
        ),
        pytest.param(
            {"title": "ok", "console_logs": [{"timestamp": "yesterday", "message": "m"}]},
            "console_logs.0.timestamp",
            id="bad-console-log-timestamp",
        ),
        pytest.param(
            {"title": "ok", "console_logs": [{"timestamp": "2024-05-01T12:00:00Z"}]},
            "console_logs.0.message",
            id="console-log-without-message",
        ),
    ],
)
def test_an_invalid_field_is_422_with_a_message_for_that_field(client, app, body, field):
    response = post_report(client, app.test_token, body)

    error = assert_error(response, 422, "validation_error")
    assert field in error["fields"], error["fields"]
    assert BugReport.objects.count() == 0


def test_a_bad_email_says_what_is_wrong(client, app):
    response = post_report(client, app.test_token, {"title": "ok", "reporter_email": "jane@"})

    error = assert_error(response, 422, "validation_error")
    assert error["fields"] == {"reporter_email": ["Enter a valid email address."]}


def test_a_user_attribute_that_is_not_a_scalar_is_422_naming_the_attribute(client, app):
    response = post_report(client, app.test_token, {"title": "ok", "user_attributes": {"cart": [1, 2]}})

    error = assert_error(response, 422, "validation_error")
    # One message naming the attribute, not one per member of a type union.
    assert error["fields"] == {"user_attributes.cart": ["Must be a string, a number, true/false or null."]}


def test_more_than_100_user_attributes_is_422(client, app):
    attributes = {f"key{i}": i for i in range(101)}

    response = post_report(client, app.test_token, {"title": "ok", "user_attributes": attributes})

    error = assert_error(response, 422, "validation_error")
    assert "user_attributes" in error["fields"]
    assert BugReport.objects.count() == 0


def test_every_invalid_field_is_reported_at_once(client, app):
    body = {"title": "", "reporter_email": "nope", "priority": "urgent", "tags": "x"}

    response = post_report(client, app.test_token, body)

    error = assert_error(response, 422, "validation_error")
    assert {"title", "reporter_email", "priority", "tags"} <= set(error["fields"])


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param('{"title": "Crash"', id="unterminated-object"),
        pytest.param("{'title': 'Crash'}", id="single-quotes"),
        pytest.param("title=Crash", id="form-syntax"),
        pytest.param(b"\xff\xfe\x00garbage", id="not-utf8"),
    ],
)
def test_malformed_json_is_400_bad_request(client, app, raw):
    response = post_report(client, app.test_token, raw)

    error = assert_error(response, 400, "bad_request")
    assert "JSON" in error["message"]
    assert BugReport.objects.count() == 0


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("[]", id="array"),
        pytest.param('[{"title": "Crash"}]', id="array-of-a-report"),
        pytest.param("null", id="null"),
        pytest.param("42", id="number"),
        pytest.param("true", id="boolean"),
        # ninja reads schema fields with getattr: a bare string once lent str.title as the title.
        pytest.param('"hello world"', id="string"),
    ],
)
def test_json_that_is_not_an_object_is_400_and_saves_nothing(client, app, raw):
    response = post_report(client, app.test_token, raw)

    error = assert_error(response, 400, "bad_request")
    assert "JSON object" in error["message"]
    assert BugReport.objects.count() == 0


# --- 415 and 413: content type and size --------------------------------------------------------


def test_a_form_encoded_report_is_415(client, app):
    response = client.post(
        REPORTS_URL,
        data="title=Crash&description=Boom",
        content_type="application/x-www-form-urlencoded",
        headers=bearer(app.test_token),
    )

    error = assert_error(response, 415, "unsupported_media_type")
    assert "application/json" in error["message"]
    assert BugReport.objects.count() == 0


def test_a_multipart_report_is_415(client, app):
    response = client.post(REPORTS_URL, {"title": "Crash"}, headers=bearer(app.test_token))

    assert_error(response, 415, "unsupported_media_type")
    assert BugReport.objects.count() == 0


def test_json_sent_as_text_plain_is_415(client, app):
    response = post_report(client, app.test_token, {"title": "Crash"}, content_type="text/plain")

    assert_error(response, 415, "unsupported_media_type")
    assert BugReport.objects.count() == 0


def test_json_sent_to_the_attachment_endpoint_is_415(client, report, media_root):
    response = client.post(
        attachments_url(report.pk),
        data=json.dumps({"files": ["screen.png"]}),
        content_type="application/json",
        headers=bearer(report.app.test_token),
    )

    error = assert_error(response, 415, "unsupported_media_type")
    assert "multipart/form-data" in error["message"]
    assert Attachment.objects.count() == 0


def test_a_body_over_sdk_max_body_bytes_is_413(client, app, settings):
    settings.SDK_MAX_BODY_BYTES = 200
    body = json.dumps({"title": "Crash", "description": "x" * 300})
    assert len(body.encode()) > 200

    response = post_report(client, app.test_token, body)

    error = assert_error(response, 413, "payload_too_large")
    assert "200" in error["message"]  # the limit is named
    assert BugReport.objects.count() == 0


def test_a_body_of_exactly_sdk_max_body_bytes_is_accepted(client, app, settings):
    body = json.dumps({"title": "Crash", "description": "x" * 100})
    settings.SDK_MAX_BODY_BYTES = len(body.encode())

    response = post_report(client, app.test_token, body)

    assert response.status_code == 201, response.content


def test_an_attachment_over_attachment_max_bytes_is_413(client, report, media_root, settings):
    settings.ATTACHMENT_MAX_BYTES = 100

    response = post_files(client, report.app.test_token, report.pk, log_upload(data=b"x" * 101))

    error = assert_error(response, 413, "payload_too_large")
    assert "files" in error["fields"]
    assert Attachment.objects.count() == 0
    assert stored_files(media_root) == []


def test_an_upload_request_over_sdk_max_upload_bytes_is_413(client, report, media_root, settings):
    settings.SDK_MAX_UPLOAD_BYTES = 1000

    response = post_files(client, report.app.test_token, report.pk, log_upload(data=b"x" * 2000))

    assert_error(response, 413, "payload_too_large")
    assert Attachment.objects.count() == 0
    assert stored_files(media_root) == []


# --- 429 ------------------------------------------------------------------------------------


def test_requests_over_the_rate_limit_are_429_with_retry_after(client, app, settings):
    settings.SDK_RATE_LIMIT_PER_MINUTE = 3

    allowed = [post_report(client, app.test_token, {"title": f"R{i}"}) for i in range(3)]
    limited = post_report(client, app.test_token, {"title": "One too many"})

    assert [r.status_code for r in allowed] == [201, 201, 201]
    error = assert_error(limited, 429, "rate_limited")
    assert "fields" not in error
    retry_after = limited["Retry-After"]
    assert retry_after.isdigit(), retry_after
    assert 1 <= int(retry_after) <= 60
    assert BugReport.objects.count() == 3


def test_the_rate_limit_of_one_app_does_not_affect_another(client, settings):
    settings.SDK_RATE_LIMIT_PER_MINUTE = 2
    busy, quiet = AppFactory(), AppFactory()
    for i in range(2):
        assert post_report(client, busy.test_token, {"title": f"R{i}"}).status_code == 201
    assert_error(post_report(client, busy.test_token, {"title": "Limited"}), 429, "rate_limited")

    response = post_report(client, quiet.test_token, {"title": "Unaffected"})

    assert response.status_code == 201, response.content
    assert BugReport.objects.filter(app=quiet).count() == 1


def test_retry_after_is_the_time_left_in_the_window_and_is_honest(client, app, settings, rate_clock):
    settings.SDK_RATE_LIMIT_PER_MINUTE = 1
    assert post_report(client, app.test_token, {"title": "First"}).status_code == 201

    limited = post_report(client, app.test_token, {"title": "Second"})

    assert_error(limited, 429, "rate_limited")
    assert limited["Retry-After"] == "50"  # 10.5 s into the minute: 49.5 s left, rounded up
    rate_clock.now += int(limited["Retry-After"])
    assert post_report(client, app.test_token, {"title": "After waiting"}).status_code == 201


def test_rejected_requests_count_against_the_rate_limit_too(client, app, settings, rate_clock):
    settings.SDK_RATE_LIMIT_PER_MINUTE = 2
    assert post_report(client, app.test_token, {"title": ""}).status_code == 422
    assert post_report(client, app.test_token, "{oops").status_code == 400

    response = post_report(client, app.test_token, {"title": "Valid but over the limit"})

    assert_error(response, 429, "rate_limited")
    assert BugReport.objects.count() == 0


# --- nothing half-saved -----------------------------------------------------------------------


def _unauthorized(client, app):  # type: ignore[no-untyped-def]
    return post_report(client, "bb_wrong", {"title": "x"})


def _wrong_content_type(client, app):  # type: ignore[no-untyped-def]
    return post_report(client, app.test_token, "title=x", content_type="application/x-www-form-urlencoded")


def _too_large(client, app):  # type: ignore[no-untyped-def]
    return post_report(client, app.test_token, {"title": "x", "description": "y" * 5000})


def _invalid(client, app):  # type: ignore[no-untyped-def]
    return post_report(client, app.test_token, {"title": "x", "console_logs": [{"level": "loud"}]})


def _malformed(client, app):  # type: ignore[no-untyped-def]
    return post_report(client, app.test_token, '{"title": ')


def _idempotency_conflict(client, app):  # type: ignore[no-untyped-def]
    return post_report(client, app.test_token, {"title": "Other body"}, headers={"Idempotency-Key": "k1"})


def _rate_limited(client, app):  # type: ignore[no-untyped-def]
    from django.conf import settings

    settings.SDK_RATE_LIMIT_PER_MINUTE = 1  # the setup request already used the budget
    return post_report(client, app.test_token, {"title": "x"})


@pytest.mark.parametrize(
    ("send", "status"),
    [
        pytest.param(_unauthorized, 401, id="401"),
        pytest.param(_wrong_content_type, 415, id="415"),
        pytest.param(_too_large, 413, id="413"),
        pytest.param(_invalid, 422, id="422"),
        pytest.param(_malformed, 400, id="400"),
        pytest.param(_idempotency_conflict, 409, id="409"),
        pytest.param(_rate_limited, 429, id="429"),
    ],
)
def test_a_failed_request_saves_nothing_and_consumes_no_number(client, app, settings, send, status):
    settings.SDK_MAX_BODY_BYTES = 1000
    first = post_report(client, app.test_token, {"title": "First"}, headers={"Idempotency-Key": "k1"})
    assert first.status_code == 201
    counts = (BugReport.objects.count(), Activity.objects.count(), IdempotencyKey.objects.count())

    response = send(client, app)

    assert response.status_code == status, response.content
    assert response.json()["error"]["code"]
    assert (BugReport.objects.count(), Activity.objects.count(), IdempotencyKey.objects.count()) == counts
    settings.SDK_RATE_LIMIT_PER_MINUTE = 100
    after = post_report(client, app.test_token, {"title": "Next"})
    assert after.json()["number"] == 2  # no number was burned by the failure


# --- Idempotency-Key ----------------------------------------------------------------------------


def test_the_same_key_and_body_twice_replays_the_first_report(client, app):
    body = {"title": "Crash on launch", "tags": ["startup"]}

    first = post_report(client, app.test_token, body, headers={"Idempotency-Key": "retry-1"})
    second = post_report(client, app.test_token, body, headers={"Idempotency-Key": "retry-1"})

    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert "Idempotent-Replayed" not in first
    assert second["Idempotent-Replayed"] == "true"
    assert BugReport.objects.count() == 1
    assert IdempotencyKey.objects.get().report_id == first.json()["id"]


def test_the_same_key_with_a_different_body_is_409(client, app):
    first = post_report(client, app.test_token, {"title": "Crash"}, headers={"Idempotency-Key": "k"})

    conflict = post_report(
        client, app.test_token, {"title": "Another crash"}, headers={"Idempotency-Key": "k"}
    )

    assert first.status_code == 201
    error = assert_error(conflict, 409, "idempotency_conflict")
    assert "Idempotency-Key" in error["message"]
    assert list(BugReport.objects.values_list("title", flat=True)) == ["Crash"]


def test_the_same_key_on_two_apps_creates_two_reports(client):
    first_app, second_app = AppFactory(), AppFactory()
    body = {"title": "Same key, different apps"}

    first = post_report(client, first_app.test_token, body, headers={"Idempotency-Key": "shared"})
    second = post_report(client, second_app.test_token, body, headers={"Idempotency-Key": "shared"})

    assert first.status_code == second.status_code == 201
    assert "Idempotent-Replayed" not in second
    assert first.json()["id"] != second.json()["id"]
    assert BugReport.objects.get(pk=first.json()["id"]).app == first_app
    assert BugReport.objects.get(pk=second.json()["id"]).app == second_app
    assert IdempotencyKey.objects.filter(key="shared").count() == 2


def test_different_keys_with_the_same_body_create_two_reports(client, app):
    body = {"title": "Two separate reports"}

    first = post_report(client, app.test_token, body, headers={"Idempotency-Key": "a"})
    second = post_report(client, app.test_token, body, headers={"Idempotency-Key": "b"})

    assert [first.json()["number"], second.json()["number"]] == [1, 2]
    assert BugReport.objects.count() == 2


def test_without_a_key_the_same_body_twice_creates_two_reports(client, app):
    first = post_report(client, app.test_token, {"title": "Twice"})
    second = post_report(client, app.test_token, {"title": "Twice"})

    assert [first.json()["number"], second.json()["number"]] == [1, 2]
    assert "Idempotent-Replayed" not in second


def test_a_key_still_within_its_ttl_is_replayed(client, app, settings):
    body = {"title": "Crash"}
    first = post_report(client, app.test_token, body, headers={"Idempotency-Key": "k"})
    IdempotencyKey.objects.filter(app=app, key="k").update(
        created_at=timezone.now() - timedelta(hours=settings.IDEMPOTENCY_TTL_HOURS) + timedelta(minutes=5)
    )

    second = post_report(client, app.test_token, body, headers={"Idempotency-Key": "k"})

    assert second.json()["id"] == first.json()["id"]
    assert second["Idempotent-Replayed"] == "true"
    assert BugReport.objects.count() == 1


def test_a_key_older_than_its_ttl_creates_a_new_report(client, app, settings):
    body = {"title": "Crash"}
    first = post_report(client, app.test_token, body, headers={"Idempotency-Key": "k"})
    IdempotencyKey.objects.filter(app=app, key="k").update(
        created_at=timezone.now() - timedelta(hours=settings.IDEMPOTENCY_TTL_HOURS, minutes=1)
    )

    second = post_report(client, app.test_token, body, headers={"Idempotency-Key": "k"})

    assert second.status_code == 201, second.content
    assert "Idempotent-Replayed" not in second
    assert second.json()["id"] != first.json()["id"]
    assert second.json()["number"] == 2
    assert BugReport.objects.count() == 2
    assert IdempotencyKey.objects.get(app=app, key="k").report_id == second.json()["id"]


# --- concurrency (PostgreSQL only) ---------------------------------------------------------------

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs real concurrent transactions with row locks: run with DATABASE_URL=postgres://…",
)


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_reports_get_numbers_1_to_n_without_duplicates():
    app = AppFactory()
    threads, per_thread = 8, 5
    barrier = threading.Barrier(threads)

    def create_reports(worker: int) -> list[int]:
        try:
            barrier.wait(timeout=30)
            return [
                services.report_create(app=app, fields={"title": f"Worker {worker} report {i}"}).number
                for i in range(per_thread)
            ]
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=threads) as pool:
        results = list(pool.map(create_reports, range(threads)))

    numbers = [number for result in results for number in result]
    total = threads * per_thread
    assert sorted(numbers) == list(range(1, total + 1))
    assert sorted(BugReport.objects.filter(app=app).values_list("number", flat=True)) == list(
        range(1, total + 1)
    )
    assert App.objects.get(pk=app.pk).report_counter == total


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_with_one_idempotency_key_create_one_report():
    app = AppFactory()
    threads = 6
    barrier = threading.Barrier(threads)

    def ingest(_: int) -> tuple[int, bool]:
        try:
            barrier.wait(timeout=30)
            report, created = services.report_ingest(
                app=app, fields={"title": "Retried"}, idempotency_key="same-key"
            )
            return report.pk, created
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=threads) as pool:
        results = list(pool.map(ingest, range(threads)))

    assert len({report_id for report_id, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert BugReport.objects.filter(app=app).count() == 1
    assert BugReport.objects.get(app=app).number == 1


# --- POST /api/v1/reports/{id}/attachments ---------------------------------------------------------


def test_uploading_a_screenshot_and_a_log_stores_both(client, report, media_root):
    png, log_data = png_bytes(), b"12:00:01 boot\n12:00:02 crash\n"

    response = post_files(
        client,
        report.app.test_token,
        report.pk,
        SimpleUploadedFile("screen.png", png, content_type="image/png"),
        SimpleUploadedFile("console.log", log_data, content_type="text/plain"),
    )

    assert response.status_code == 201, response.content
    listed = response.json()["attachments"]
    assert [(a["name"], a["kind"], a["content_type"], a["size"]) for a in listed] == [
        ("screen.png", "screenshot", "image/png", len(png)),
        ("console.log", "log", "text/plain", len(log_data)),
    ]
    assert set(listed[0]) == {"id", "name", "kind", "content_type", "size"}
    rows = list(Attachment.objects.filter(report=report).order_by("id"))
    assert [a.pk for a in rows] == [a["id"] for a in listed]
    assert [Path(a.file.path).read_bytes() for a in rows] == [png, log_data]
    assert all(Path(a.file.path).is_relative_to(media_root) for a in rows)
    # Stored under random names, never the client's.
    assert all(Path(a.file.name).name not in ("screen.png", "console.log") for a in rows)


def test_uploading_one_file_lists_one_attachment(client, report, media_root):
    response = post_files(client, report.app.test_token, report.pk, png_upload("only.png"))

    assert response.status_code == 201, response.content
    assert [a["name"] for a in response.json()["attachments"]] == ["only.png"]
    assert Attachment.objects.filter(report=report).count() == 1


def test_attaching_to_a_report_of_another_app_is_404(client, report, media_root):
    other_app = AppFactory()

    response = post_files(client, other_app.test_token, report.pk, log_upload())

    assert_error(response, 404, "not_found")
    assert Attachment.objects.count() == 0
    assert stored_files(media_root) == []


def test_attaching_to_an_unknown_report_is_404(client, app, media_root):
    response = post_files(client, app.test_token, 999_999, log_upload())

    assert_error(response, 404, "not_found")
    assert Attachment.objects.count() == 0


def test_a_file_that_claims_to_be_png_but_is_not_an_image_is_415(client, report, media_root):
    fake = SimpleUploadedFile("screen.png", b"<script>alert(1)</script>" * 4, content_type="image/png")

    response = post_files(client, report.app.test_token, report.pk, fake)

    error = assert_error(response, 415, "unsupported_media_type")
    assert "files" in error["fields"]
    assert Attachment.objects.count() == 0
    assert stored_files(media_root) == []


@pytest.mark.parametrize(
    ("name", "content_type", "data"),
    [
        ("page.html", "text/html", b"<html><script>alert(1)</script></html>"),
        (
            "icon.svg",
            "image/svg+xml",
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        ),
        ("tool.exe", "application/octet-stream", b"MZ\x90\x00"),
    ],
)
def test_a_disallowed_type_is_415(client, report, media_root, name, content_type, data):
    upload = SimpleUploadedFile(name, data, content_type=content_type)

    response = post_files(client, report.app.test_token, report.pk, upload)

    error = assert_error(response, 415, "unsupported_media_type")
    assert content_type in error["message"]
    assert Attachment.objects.count() == 0
    assert stored_files(media_root) == []


def test_when_the_second_file_is_bad_no_file_is_saved(client, report, media_root):
    good = png_upload("good.png")
    bad = SimpleUploadedFile("bad.png", b"definitely not a png", content_type="image/png")

    response = post_files(client, report.app.test_token, report.pk, good, bad)

    error = assert_error(response, 415, "unsupported_media_type")
    assert "bad.png" in error["message"]
    assert Attachment.objects.count() == 0
    assert stored_files(media_root) == []


def test_an_empty_file_is_400(client, report, media_root):
    empty = SimpleUploadedFile("empty.log", b"", content_type="text/plain")

    response = post_files(client, report.app.test_token, report.pk, empty)

    assert_error(response, 400, "bad_request")
    assert Attachment.objects.count() == 0


def test_an_upload_without_files_parts_is_422(client, report, media_root):
    response = client.post(
        attachments_url(report.pk), {"note": "no files here"}, headers=bearer(report.app.test_token)
    )

    error = assert_error(response, 422, "validation_error")
    assert "files" in error["fields"]
    assert Attachment.objects.count() == 0


# --- OpenAPI and docs ---------------------------------------------------------------------------


def test_the_openapi_schema_lists_both_endpoints(client):
    response = client.get("/api/v1/openapi.json")

    assert response.status_code == 200
    schema = response.json()
    assert "post" in schema["paths"]["/api/v1/reports"]
    assert "post" in schema["paths"]["/api/v1/reports/{report_id}/attachments"]
    schemes = schema["components"]["securitySchemes"]
    assert any(s.get("scheme") == "bearer" for s in schemes.values())


def test_the_docs_page_needs_no_login(client):
    response = client.get("/api/v1/docs")

    assert response.status_code == 200
    assert b"openapi.json" in response.content


# --- secrets --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [
        "Token {token}",
        "{token}",
        "Bearer{token}",
        "Bearer {token} trailing-garbage",
        "Basic {token}",
        "Bearer  {token}x",
    ],
)
def test_a_malformed_authorization_header_is_never_logged(client, app, caplog, authorization):
    token = app.test_token
    caplog.set_level(logging.DEBUG)
    header = authorization.format(token=token)

    response = post_report(client, None, {"title": "x"}, headers={"Authorization": header})

    assert response.status_code == 401
    assert token not in response.content.decode()
    assert caplog.records  # the 401 is logged, just without the secret
    assert token not in caplog.text
    # Nor in the `extra=` context the project's formatter prints beside each message.
    formatter = ContextFormatter()
    assert not [r for r in caplog.records if token in formatter.format(r)]
