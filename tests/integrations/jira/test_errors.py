"""`error_for` and friends: every body shape Jira sends becomes the right typed error, and no
body, however broken, makes the parser raise."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from requests.structures import CaseInsensitiveDict

from integrations.jira.errors import (
    JiraAuthError,
    JiraConflict,
    JiraError,
    JiraNotFound,
    JiraOutcomeUnknown,
    JiraPermissionError,
    JiraRateLimited,
    JiraUnavailable,
    JiraValidationError,
    answered_anonymously,
    error_for,
    parse_body,
    rate_limit_reason,
    retry_after_seconds,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "jira"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def response(
    status: int, body: bytes | str = b"", headers: dict[str, str] | None = None
) -> requests.Response:
    made = requests.Response()
    made.status_code = status
    made._content = body.encode() if isinstance(body, str) else body
    made.headers = CaseInsensitiveDict(headers or {})
    made.url = "https://acme.atlassian.net/rest/api/3/issue/APP-1"
    return made


HTML_401 = (
    "<!DOCTYPE html><html><head><title>Unauthorized (401)</title></head><body><h1>Unauthorized</h1>"
    "<p>Basic authentication with passwords is deprecated.</p></body></html>"
)

# (id, status, body, headers, class, reason or None, a message that must be among `messages`)
CASES: list[tuple[str, int, bytes | str, dict[str, str], type[JiraError], str | None, str | None]] = [
    (
        "401 error collection",
        401,
        fixture_bytes("error__unauthenticated"),
        {},
        JiraAuthError,
        "invalid_credentials",
        "You are not authenticated. Authentication required to perform this operation.",
    ),
    (
        "401 gateway scope",
        401,
        fixture_bytes("error__gateway_scope"),
        {},
        JiraAuthError,
        "missing_scope",
        "Unauthorized; scope does not match",
    ),
    (
        "401 site message/status-code",
        401,
        fixture_bytes("error__site_401"),
        {},
        JiraAuthError,
        "invalid_credentials",
        "Client must be authenticated to access this resource.",
    ),
    ("401 html page", 401, HTML_401, {}, JiraAuthError, "invalid_credentials", "Unauthorized (401)"),
    ("401 empty", 401, b"", {}, JiraAuthError, "invalid_credentials", None),
    (
        "403 token invalid_grant",
        403,
        fixture_bytes("error__token_invalid_grant"),
        {},
        JiraAuthError,
        "revoked",
        "Unknown or invalid refresh token.",
    ),
    (
        "400 token expired grant",
        400,
        fixture_bytes("error__token_expired"),
        {},
        JiraAuthError,
        "revoked",
        "Token has been expired or revoked.",
    ),
    (
        "401 token access_denied",
        401,
        fixture_bytes("error__token_access_denied"),
        {},
        JiraAuthError,
        "invalid_credentials",
        "Unauthorized",
    ),
    ("401 expired api token", 401, '{"message": "API token expired"}', {}, JiraAuthError, "expired", None),
    (
        "403 admin approval",
        403,
        '{"message": "Your site admin must authorize this app for the site acme.atlassian.net."}',
        {},
        JiraAuthError,
        "admin_approval_required",
        None,
    ),
    (
        "403 permission",
        403,
        fixture_bytes("error__permission"),
        {},
        JiraPermissionError,
        None,
        "You do not have permission to edit issue properties.",
    ),
    (
        "404 issue",
        404,
        fixture_bytes("error__not_found"),
        {},
        JiraNotFound,
        None,
        "Issue does not exist or you do not have permission to see it.",
    ),
    (
        "404 project",
        404,
        fixture_bytes("error__project_not_found"),
        {},
        JiraNotFound,
        None,
        "No project could be found with key 'NOPE'.",
    ),
    (
        "400 field errors",
        400,
        fixture_bytes("create_issue__required_field"),
        {},
        JiraValidationError,
        None,
        None,
    ),
    (
        "400 bulk all failed",
        400,
        fixture_bytes("bulk_create_issues__all_failed"),
        {},
        JiraValidationError,
        None,
        "issue 0: Field 'priority' is required",
    ),
    (
        "409 conflict",
        409,
        '{"errorMessages": ["Conflict"], "errors": {}}',
        {},
        JiraConflict,
        None,
        "Conflict",
    ),
    (
        "413 comment limit",
        413,
        fixture_bytes("error__comment_limit"),
        {},
        JiraValidationError,
        None,
        "The issue has reached the limit of 5000 comments.",
    ),
    (
        "422 configuration",
        422,
        '{"errorMessages": ["Workflow is broken"]}',
        {},
        JiraValidationError,
        None,
        "Workflow is broken",
    ),
    ("410 removed endpoint", 410, fixture_bytes("error__search_removed"), {}, JiraError, None, None),
    (
        "429 burst",
        429,
        fixture_bytes("error__rate_limited"),
        {"Retry-After": "5", "RateLimit-Reason": "jira-burst-based"},
        JiraRateLimited,
        "burst",
        "Rate limit exceeded.",
    ),
    (
        "429 tenant quota",
        429,
        b"",
        {"RateLimit-Reason": "jira-quota-tenant-based"},
        JiraRateLimited,
        "quota",
        None,
    ),
    (
        "429 global quota",
        429,
        b"",
        {"RateLimit-Reason": "jira-quota-global-based"},
        JiraRateLimited,
        "quota",
        None,
    ),
    (
        "429 per issue",
        429,
        b"",
        {"RateLimit-Reason": "jira-per-issue-on-write"},
        JiraRateLimited,
        "per_issue_write",
        None,
    ),
    (
        "429 bare gateway",
        429,
        b"",
        {"X-Failure-Category": "FAILURE_CLIENT_RATE_LIMITED"},
        JiraRateLimited,
        "unknown",
        None,
    ),
    ("503 with retry-after", 503, b"", {"Retry-After": "3"}, JiraRateLimited, "unknown", None),
    ("503 plain", 503, "Service Unavailable", {}, JiraUnavailable, None, "Service Unavailable"),
    (
        "502 html",
        502,
        "<html><head><title>502 Bad Gateway</title></head></html>",
        {},
        JiraUnavailable,
        None,
        "502 Bad Gateway",
    ),
    ("500 invalid json", 500, '{"errorMessages": [', {}, JiraUnavailable, None, '{"errorMessages": ['),
    (
        "200 anonymous",
        200,
        '{"issues": []}',
        {"X-Seraph-LoginReason": "AUTHENTICATED_FAILED"},
        JiraAuthError,
        "anonymous",
        None,
    ),
    (
        "200 denied",
        200,
        "{}",
        {"X-Seraph-LoginReason": "AUTHENTICATION_DENIED"},
        JiraAuthError,
        "anonymous",
        None,
    ),
    (
        "404 anonymous",
        404,
        fixture_bytes("error__not_found"),
        {"X-Seraph-LoginReason": "AUTHENTICATED_FAILED"},
        JiraAuthError,
        "anonymous",
        None,
    ),
]


@pytest.mark.parametrize(
    ("status", "body", "headers", "expected", "reason", "message"),
    [case[1:] for case in CASES],
    ids=[c[0] for c in CASES],
)
def test_error_for_maps_each_body_shape(
    status: int,
    body: bytes | str,
    headers: dict[str, str],
    expected: type[JiraError],
    reason: str | None,
    message: str | None,
) -> None:
    error = error_for(response(status, body, headers))

    assert type(error) is expected
    assert error.status == status
    if reason is not None:
        assert error.reason == reason  # type: ignore[attr-defined]
    if message is not None:
        assert message in error.messages
    assert error.user_message and "{" not in error.user_message


def test_validation_error_keeps_field_errors_by_field_id() -> None:
    error = error_for(response(400, fixture_bytes("create_issue__required_field")))

    assert isinstance(error, JiraValidationError)
    assert error.field_errors == {
        "customfield_10050": "Environment tier is required.",
        "description": "Operation value must be an Atlassian Document (see the Atlassian Document Format)",
    }
    assert "Environment tier is required." in error.user_message
    assert "customfield_10050: Environment tier is required." in str(error)


def test_bulk_failures_name_the_failed_element() -> None:
    error = error_for(response(400, fixture_bytes("bulk_create_issues__all_failed")))

    assert isinstance(error, JiraValidationError)
    assert error.field_errors == {"summary": "You must specify a summary of the issue."}
    assert "issue 1: summary: You must specify a summary of the issue." in error.messages


def test_rate_limited_carries_retry_after_and_reason() -> None:
    error = error_for(response(429, b"", {"Retry-After": "17", "RateLimit-Reason": "jira-burst-based"}))

    assert isinstance(error, JiraRateLimited)
    assert error.retry_after == 17.0
    assert error.reason == "burst"
    assert "slow down" in error.user_message


def test_auth_reasons_give_different_advice() -> None:
    scope = error_for(response(401, fixture_bytes("error__gateway_scope")))
    bad = error_for(response(401, fixture_bytes("error__unauthenticated")))

    assert scope.user_message != bad.user_message
    assert "permission" in scope.user_message


def test_explicit_user_message_wins() -> None:
    error = JiraUnavailable(
        status=None, messages=["sign-in service timed out"], user_message="Try again in a minute."
    )

    assert error.user_message == "Try again in a minute."
    assert str(error) == "sign-in service timed out"


def test_outcome_unknown_is_not_retryable_as_unavailable() -> None:
    # Code that retries on JiraUnavailable must never resend a create whose outcome is unknown.
    assert not issubclass(JiraOutcomeUnknown, JiraUnavailable)
    assert "may have been" in JiraOutcomeUnknown(status=504).user_message


GARBAGE: list[bytes] = [
    b"\xff\xfe\x00\x81garbage",
    b"null",
    b"42",
    b'"just a string"',
    b"[1, 2, {}]",
    b'{"errorMessages": "not a list", "errors": ["x", 3]}',
    b'{"errorMessages": [null, {"a": 1}, 7], "errors": {"f": null, "g": {"nested": true}}}',
    b'{"error": {"code": 1}, "message": ["a", "b"], "code": "401"}',
    b"<html><body>" + b"x" * 100_000 + b"</body></html>",
    b"<" * 5000,
    b"{" * 5000,
    b"   \n\t  ",
]


@pytest.mark.parametrize("status", [200, 400, 401, 403, 404, 413, 429, 500, 502, 503])
@pytest.mark.parametrize("body", GARBAGE, ids=range(len(GARBAGE)))
def test_garbage_bodies_never_crash(status: int, body: bytes) -> None:
    error = error_for(response(status, body))

    assert isinstance(error, JiraError)
    assert all(isinstance(text, str) and len(text) <= 300 for text in error.messages)
    assert error.user_message


def test_html_title_is_the_message() -> None:
    assert parse_body(response(401, HTML_401)).messages == ["Unauthorized (401)"]


def test_a_body_that_cannot_be_read_is_an_empty_one() -> None:
    class Broken(requests.Response):
        @property
        def content(self) -> Any:  # type: ignore[override]
            raise requests.exceptions.ChunkedEncodingError("connection broken")

    broken = Broken()
    broken.status_code = 502
    assert isinstance(error_for(broken), JiraUnavailable)


def test_retry_after_seconds_reads_every_form() -> None:
    now = datetime(2026, 11, 28, 10, 0, 0, tzinfo=UTC)

    assert retry_after_seconds(response(429, headers={"Retry-After": "7"}), now) == 7.0
    assert retry_after_seconds(response(429, headers={"Retry-After": "2.5"}), now) == 2.5
    http_date = {"Retry-After": "Sat, 28 Nov 2026 10:00:12 GMT"}
    assert retry_after_seconds(response(429, headers=http_date), now) == 12.0
    reset = {"X-RateLimit-Reset": "2026-11-28T10:00:40Z"}
    assert retry_after_seconds(response(429, headers=reset), now) == 40.0
    past = {"X-RateLimit-Reset": (now - timedelta(seconds=5)).isoformat()}
    assert retry_after_seconds(response(429, headers=past), now) == 0.0
    assert retry_after_seconds(response(429, headers={"Retry-After": "soon"}), now) is None
    assert retry_after_seconds(response(429), now) is None


def test_retry_after_wins_over_reset() -> None:
    now = datetime(2026, 11, 28, 10, 0, 0, tzinfo=UTC)
    both = {"Retry-After": "3", "X-RateLimit-Reset": "2026-11-28T10:10:00Z"}

    assert retry_after_seconds(response(429, headers=both), now) == 3.0


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("jira-burst-based", "burst"),
        ("JIRA-QUOTA-GLOBAL-BASED", "quota"),
        ("jira-cost-based", "quota"),
        ("jira-per-issue-on-write", "per_issue_write"),
        ("jira-max-concurrent-threads-across-all-instances-per-tenant-per-user", "burst"),
        ("something-new", "unknown"),
        ("", "unknown"),
    ],
)
def test_rate_limit_reason_from_header(header: str, reason: str) -> None:
    assert rate_limit_reason(response(429, headers={"RateLimit-Reason": header})) == reason


@pytest.mark.parametrize(
    ("value", "anonymous"),
    [
        ("AUTHENTICATED_FAILED", True),
        ("AUTHENTICATION_DENIED", True),
        ("OK", False),
        ("OUT", False),
        ("", False),
    ],
)
def test_answered_anonymously(value: str, anonymous: bool) -> None:
    assert answered_anonymously(response(200, "{}", {"X-Seraph-LoginReason": value})) is anonymous


def test_parse_body_handles_fixture_shapes_without_raising() -> None:
    # Every stored fixture is a body Jira may send; none makes the parser fail.
    rng = random.Random(5)
    for path in FIXTURES.glob("*.json"):
        status = rng.choice([400, 401, 403, 404, 500])
        parsed = parse_body(response(status, path.read_bytes()))
        assert isinstance(parsed.messages, list)
        json.loads(path.read_bytes())
