"""Typed errors for everything that can go wrong talking to Jira (DESIGN.md "Jira client").

Callers catch meanings (`JiraAuthError`, `JiraRateLimited`...), never status codes. `error_for`
turns any failed `requests.Response` into one of them; it parses every body shape Jira and
Atlassian's edges are known to send (API-NOTES §11) and never raises while doing so.

Each error carries `messages` (what Jira said, for logs and admins) and `user_message` (plain
words: what happened and what to do next, safe to show on a page).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import requests

RateLimitReason = Literal["burst", "quota", "per_issue_write", "unknown"]
AuthReason = Literal[
    "invalid_credentials", "expired", "revoked", "admin_approval_required", "missing_scope", "anonymous"
]

# Long bodies (an HTML error page, a stack trace) are cut: messages go to logs and pages.
MAX_MESSAGE_CHARS = 300
MAX_MESSAGES = 20


class JiraError(Exception):
    """Base of every Jira failure. `status` is None when no HTTP answer came back."""

    default_user_message = (
        "Jira could not complete the request. Try again; if it keeps failing, check the connection."
    )

    def __init__(
        self,
        *,
        status: int | None = None,
        messages: list[str] | None = None,
        user_message: str | None = None,
    ) -> None:
        self.status = status
        self.messages = list(messages or [])
        self._user_message = user_message
        super().__init__(self.summary())

    @property
    def user_message(self) -> str:
        return self._user_message or self.advice()

    def advice(self) -> str:
        """What to tell the person who can act on it (overridden where the class knows more)."""
        return self.default_user_message

    def summary(self) -> str:
        detail = "; ".join(self.messages) or self.user_message
        return f"HTTP {self.status}: {detail}" if self.status is not None else detail


AUTH_ADVICE: dict[str, str] = {
    "invalid_credentials": (
        "Jira did not accept the saved credentials. Check the account and token, then reconnect Jira."
    ),
    "expired": "The Jira token has expired. Create a new one (or sign in again) and reconnect Jira.",
    "revoked": "Access to Jira was revoked or has lapsed. Reconnect Jira to grant access again.",
    "admin_approval_required": (
        "A Jira site admin must authorize Bugbridge first (Atlassian Administration → Apps → "
        "Connected apps). Ask an admin, then reconnect."
    ),
    "missing_scope": (
        "The Jira connection lacks a permission this action needs. Reconnect Jira and grant every "
        "requested permission."
    ),
    "anonymous": (
        "Jira ignored the credentials and answered as an anonymous visitor. Check the email and API "
        "token (it may have expired), then reconnect Jira."
    ),
}


class JiraAuthError(JiraError):
    """The credentials did not work; `reason` says why (see AUTH_ADVICE for the known ones)."""

    def __init__(
        self,
        *,
        status: int | None = None,
        messages: list[str] | None = None,
        user_message: str | None = None,
        reason: str = "invalid_credentials",
    ) -> None:
        self.reason = reason
        super().__init__(status=status, messages=messages, user_message=user_message)

    def advice(self) -> str:
        return AUTH_ADVICE.get(self.reason, AUTH_ADVICE["invalid_credentials"])


class JiraPermissionError(JiraError):
    default_user_message = (
        "The Jira account Bugbridge uses is not allowed to do this. Ask a Jira admin to grant the "
        "missing project permission (for example Create issues or Edit issues)."
    )


class JiraNotFound(JiraError):
    # Jira hides what the caller may not see: a 404 also means "no permission" (API-NOTES §11).
    default_user_message = (
        "Jira could not find it, or the connected account is not allowed to see it. Check that it "
        "still exists and that the account can browse the project."
    )


class JiraConflict(JiraError):
    default_user_message = "Someone changed this Jira issue at the same moment. Try again."


class JiraRedirected(JiraError):
    """Jira answered with a redirect the client will not follow (another host, or a write)."""

    def __init__(self, *, status: int | None, location_host: str, messages: list[str] | None = None) -> None:
        self.location_host = location_host
        super().__init__(status=status, messages=messages)

    def advice(self) -> str:
        return (
            f"Jira sent Bugbridge to another address ({self.location_host}). If the Jira site was "
            "renamed or moved, update the site URL in the connection settings."
        )


RATE_LIMIT_ADVICE: dict[str, str] = {
    "burst": "Jira asked Bugbridge to slow down. It will try again shortly.",
    "quota": (
        "Bugbridge used up its hourly Jira allowance. Calls resume after the reset at the top of the hour."
    ),
    "per_issue_write": (
        "This Jira issue was changed too often in a short time. Bugbridge will try again shortly."
    ),
    "unknown": "Jira is limiting how fast Bugbridge may call it. It will try again shortly.",
}


class JiraRateLimited(JiraError):
    """429 (or 503 with Retry-After) once retries ran out. `retry_after` in seconds, if known."""

    def __init__(
        self,
        *,
        status: int | None = 429,
        messages: list[str] | None = None,
        user_message: str | None = None,
        retry_after: float | None = None,
        reason: RateLimitReason = "unknown",
    ) -> None:
        self.retry_after = retry_after
        self.reason = reason
        super().__init__(status=status, messages=messages, user_message=user_message)

    def advice(self) -> str:
        return RATE_LIMIT_ADVICE.get(self.reason, RATE_LIMIT_ADVICE["unknown"])


class JiraValidationError(JiraError):
    """Jira rejected the values sent. `field_errors` maps field ids to Jira's message."""

    def __init__(
        self,
        *,
        status: int | None = 400,
        messages: list[str] | None = None,
        user_message: str | None = None,
        field_errors: dict[str, str] | None = None,
    ) -> None:
        self.field_errors = dict(field_errors or {})
        super().__init__(status=status, messages=messages, user_message=user_message)

    def summary(self) -> str:
        fields = [f"{name}: {text}" for name, text in self.field_errors.items()]
        detail = "; ".join([*self.messages, *fields]) or self.user_message
        return f"HTTP {self.status}: {detail}" if self.status is not None else detail

    def advice(self) -> str:
        said = "; ".join([*self.messages, *self.field_errors.values()][:3])
        if self.status == 413:
            lead = "The issue has reached a Jira limit, or the file is larger than the site allows"
        elif self.status == 422:
            lead = "The Jira project's configuration prevents this"
        else:
            lead = "Jira rejected the values sent"
        tail = "Check the Jira project settings and the field mapping, then try again."
        return f"{lead} ({said}). {tail}" if said else f"{lead}. {tail}"


class JiraUnavailable(JiraError):
    default_user_message = (
        "Jira is not answering properly right now. Bugbridge will try again; if this lasts, check "
        "https://status.atlassian.com."
    )


class JiraOutcomeUnknown(JiraError):
    """A call that is not safe to repeat timed out or got a 5xx: Jira may or may not have done it.

    Deliberately not a `JiraUnavailable`: code that retries on "unavailable" must not resend this
    one blindly (a second issue, a second comment). Check Jira first (API-NOTES §7).
    """

    default_user_message = (
        "Jira did not confirm whether this was done: it may have been. Check Jira before trying again."
    )


# --- parsing ----------------------------------------------------------------------------------


@dataclass
class ParsedBody:
    """Everything useful in an error body, whatever its shape."""

    messages: list[str] = field(default_factory=list)
    field_errors: dict[str, str] = field(default_factory=dict)
    oauth_error: str | None = None  # the token endpoint's `error` code, e.g. "invalid_grant"


def _text(value: Any) -> str:
    return " ".join(str(value).split())[:MAX_MESSAGE_CHARS]


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [_text(value)] if value.strip() else []
    if isinstance(value, list):
        return [_text(item) for item in value if isinstance(item, str | int | float) and str(item).strip()]
    return []


def _field_errors(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {_text(key): _text(text) for key, text in value.items() if text not in (None, "")}


def _bulk_element_errors(value: Any, parsed: ParsedBody) -> None:
    """Bulk create puts a list in `errors`: one ErrorCollection per failed element (API-NOTES §3.2)."""
    for item in value if isinstance(value, list) else []:
        if not isinstance(item, dict):
            continue
        inner = item.get("elementErrors") if isinstance(item.get("elementErrors"), dict) else {}
        number = item.get("failedElementNumber")
        prefix = f"issue {number}: " if isinstance(number, int) else ""
        parsed.messages.extend(prefix + text for text in _strings(inner.get("errorMessages")))
        for name, text in _field_errors(inner.get("errors")).items():
            parsed.field_errors.setdefault(name, text)
            parsed.messages.append(f"{prefix}{name}: {text}")


def _from_json(data: Any) -> ParsedBody:
    parsed = ParsedBody()
    if isinstance(data, list | str):
        parsed.messages = _strings(data)
        return parsed
    if not isinstance(data, dict):
        return parsed
    parsed.messages.extend(_strings(data.get("errorMessages")))
    errors = data.get("errors")
    if isinstance(errors, list):
        _bulk_element_errors(errors, parsed)
    else:
        parsed.field_errors = _field_errors(errors)
    # The gateway's {"code", "message"}, the site's {"message", "status-code"}, and others.
    for key in ("message", "errorMessage", "error_description"):
        parsed.messages.extend(_strings(data.get(key)))
    error = data.get("error")
    if isinstance(error, str) and error.strip():
        parsed.oauth_error = _text(error)
        if not parsed.messages:
            parsed.messages.append(parsed.oauth_error)
    parsed.messages = parsed.messages[:MAX_MESSAGES]
    return parsed


_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_TAGS = re.compile(r"<[^>]+>")


def _from_text(text: str) -> ParsedBody:
    stripped = text.strip()
    if not stripped:
        return ParsedBody()
    if stripped.startswith("<"):
        # An HTML error page (a proxy, a login page): its title is the only readable part.
        title = _TITLE.search(stripped)
        words = _text(_TAGS.sub(" ", title.group(1) if title else stripped))
        return ParsedBody(messages=[words] if words else [])
    return ParsedBody(messages=[_text(stripped)])


def parse_body(response: requests.Response) -> ParsedBody:
    """Read an error body of any shape; never raises."""
    try:
        raw = response.content or b""
    except Exception:  # a body that fails to stream is just an empty one here
        return ParsedBody()
    text = raw.decode("utf-8", errors="replace")
    try:
        return _from_json(json.loads(text))
    except ValueError:
        return _from_text(text)


# --- rate limits ------------------------------------------------------------------------------

RATE_LIMIT_REASONS: dict[str, RateLimitReason] = {
    "jira-burst-based": "burst",
    # Seen in production though undocumented: too many concurrent requests is a burst, too.
    "jira-max-concurrent-threads-across-all-instances-per-tenant-per-user": "burst",
    "jira-quota-global-based": "quota",
    "jira-quota-tenant-based": "quota",
    "jira-quota-based": "quota",
    "jira-cost-based": "quota",
    "jira-per-issue-on-write": "per_issue_write",
}


def rate_limit_reason(response: requests.Response) -> RateLimitReason:
    header = (response.headers.get("RateLimit-Reason") or "").strip().lower()
    return RATE_LIMIT_REASONS.get(header, "unknown")


def _parse_instant(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def retry_after_seconds(response: requests.Response, now: datetime | None = None) -> float | None:
    """How long Jira asked us to wait: `Retry-After` (seconds or an HTTP date), else the time left
    until `X-RateLimit-Reset` (an ISO instant). None when neither is there or readable."""
    now = now or datetime.now(UTC)
    header = (response.headers.get("Retry-After") or "").strip()
    if header:
        try:
            return max(0.0, float(header))
        except ValueError:
            moment = _parse_instant(header)
            if moment is not None:
                return max(0.0, (moment - now).total_seconds())
    reset = (response.headers.get("X-RateLimit-Reset") or "").strip()
    moment = _parse_instant(reset) if reset else None
    if moment is not None:
        return max(0.0, (moment - now).total_seconds())
    return None


# --- status → error ---------------------------------------------------------------------------

# What Jira's X-Seraph-LoginReason says when it dropped the credentials and went on anonymously.
ANONYMOUS_LOGIN_REASONS = frozenset({"AUTHENTICATED_FAILED", "AUTHENTICATION_DENIED"})


def answered_anonymously(response: requests.Response) -> bool:
    """True when Jira ignored the credentials (API-NOTES §1d): the data is an anonymous view."""
    values = (response.headers.get("X-Seraph-LoginReason") or "").upper().replace(" ", "").split(",")
    return any(value in ANONYMOUS_LOGIN_REASONS for value in values)


# Words in a body that say why credentials failed, checked in order (lower-case).
AUTH_HINTS: tuple[tuple[str, str], ...] = (
    ("scope does not match", "missing_scope"),
    ("insufficient scope", "missing_scope"),
    ("admin must authorize", "admin_approval_required"),
    ("admin approval", "admin_approval_required"),
    ("revoked", "revoked"),
    ("expired", "expired"),
)
# The OAuth token endpoint's `error` codes (RFC 6749 §5.2) that mean the grant is unusable.
OAUTH_AUTH_ERRORS: dict[str, str] = {
    "invalid_grant": "revoked",
    "invalid_client": "invalid_credentials",
    "unauthorized_client": "invalid_credentials",
    "access_denied": "invalid_credentials",
    "invalid_scope": "missing_scope",
}


def _auth_reason(parsed: ParsedBody, default: str) -> str:
    said = " ".join(parsed.messages).lower()
    for hint, reason in AUTH_HINTS:
        if hint in said:
            return reason
    return default


def _auth_error(response: requests.Response, parsed: ParsedBody) -> JiraAuthError | None:
    status = response.status_code
    if answered_anonymously(response):
        return JiraAuthError(
            status=status,
            messages=parsed.messages or ["Jira answered anonymously (X-Seraph-LoginReason)."],
            reason="anonymous",
        )
    if parsed.oauth_error in OAUTH_AUTH_ERRORS:
        return JiraAuthError(
            status=status,
            messages=parsed.messages,
            reason=_auth_reason(parsed, OAUTH_AUTH_ERRORS[parsed.oauth_error]),
        )
    if status == 401:
        return JiraAuthError(
            status=status, messages=parsed.messages, reason=_auth_reason(parsed, "invalid_credentials")
        )
    if status == 403 and _auth_reason(parsed, "") == "admin_approval_required":
        return JiraAuthError(status=status, messages=parsed.messages, reason="admin_approval_required")
    return None


def _rate_limited(response: requests.Response, parsed: ParsedBody) -> JiraRateLimited:
    return JiraRateLimited(
        status=response.status_code,
        messages=parsed.messages,
        retry_after=retry_after_seconds(response),
        reason=rate_limit_reason(response),
    )


# Status → class; anything 5xx not listed is JiraUnavailable, anything else the base class.
STATUS_ERRORS: dict[int, type[JiraError]] = {
    400: JiraValidationError,
    403: JiraPermissionError,
    404: JiraNotFound,
    409: JiraConflict,
    413: JiraValidationError,
    422: JiraValidationError,
}


def error_for(response: requests.Response) -> JiraError:
    """The typed error for a failed (or anonymously answered) response. Never raises."""
    parsed = parse_body(response)
    status = response.status_code
    auth = _auth_error(response, parsed)
    if auth is not None:
        return auth
    if status == 429 or (status == 503 and response.headers.get("Retry-After")):
        return _rate_limited(response, parsed)
    cls = STATUS_ERRORS.get(status) or (JiraUnavailable if status >= 500 else JiraError)
    if cls is JiraValidationError:
        return JiraValidationError(status=status, messages=parsed.messages, field_errors=parsed.field_errors)
    messages = parsed.messages + [f"{name}: {text}" for name, text in parsed.field_errors.items()]
    return cls(status=status, messages=messages)
