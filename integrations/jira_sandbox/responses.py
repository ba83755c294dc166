"""Jira's error bodies, one function per shape it uses (API-NOTES §11), and the JSON answer."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpResponse


def jira_json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> HttpResponse:
    response = HttpResponse(
        json.dumps(data, separators=(",", ":")), status=status, content_type="application/json;charset=UTF-8"
    )
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def error_collection(
    status: int, messages: list[str] | tuple[str, ...] = (), errors: dict[str, str] | None = None
) -> HttpResponse:
    """ErrorCollection: `{"errorMessages": [...], "errors": {fieldId: message}}`."""
    return jira_json({"errorMessages": list(messages), "errors": errors or {}}, status=status)


def gateway_error(status: int, message: str) -> HttpResponse:
    """The API gateway's shape: `{"code": 401, "message": "Unauthorized"}`."""
    return jira_json({"code": status, "message": message}, status=status)


def token_error(status: int, error: str, description: str) -> HttpResponse:
    """The OAuth token endpoint's shape: `{"error": ..., "error_description": ...}`."""
    return jira_json({"error": error, "error_description": description}, status=status)


def site_unauthenticated() -> HttpResponse:
    """What a site answers a missing, wrong or expired Basic token (API-NOTES §1d)."""
    return jira_json(
        {"message": "Client must be authenticated to access this resource.", "status-code": 401}, 401
    )


NOT_AUTHENTICATED = "You are not authenticated. Authentication required to perform this operation."
ISSUE_NOT_FOUND = "Issue does not exist or you do not have permission to see it."


class ApiError(Exception):
    """Raised by handlers and the pipeline; carries the exact response Jira would give."""

    def __init__(self, response: HttpResponse) -> None:
        super().__init__(response.status_code)
        self.response = response


def bad_request(messages: list[str] | tuple[str, ...] = (), errors: dict[str, str] | None = None) -> ApiError:
    return ApiError(error_collection(400, messages, errors))


def not_found(message: str = ISSUE_NOT_FOUND) -> ApiError:
    return ApiError(error_collection(404, [message]))


def forbidden(message: str) -> ApiError:
    return ApiError(error_collection(403, [message]))
