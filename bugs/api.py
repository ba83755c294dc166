"""The SDK ingest API (django-ninja): /api/v1/reports and their attachments.

Every error has one JSON shape, {"error": {"code", "message", "fields"?}}, and the checks run in
a fixed order: token (401), rate (429), content type (415), size (413), then the body (400/422).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from ninja import File, NinjaAPI, Status
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.files import UploadedFile
from ninja.parser import Parser
from ninja.security.http import HttpAuthBase

from . import selectors, services
from .errors import AttachmentRejected, IdempotencyConflict
from .models import App, BugReport
from .ratelimit import rate_limit_hit
from .schemas import AttachmentsCreated, ErrorOut, ReportCreated, ReportIn

logger = logging.getLogger(__name__)


class ObjectBodyParser(Parser):
    """JSON bodies must be objects. ninja reads a schema's fields with getattr, so a bare JSON
    string would otherwise lend its str methods (str.title!) as field values."""

    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        data = json.loads(request.body)
        if not isinstance(data, dict):
            raise ValueError("the body is not a JSON object")
        return data


api = NinjaAPI(
    parser=ObjectBodyParser(),
    title="Bugbridge SDK API",
    version="1",
    description=(
        "Send bug reports and feedback from your app. Authenticate with "
        "`Authorization: Bearer <SDK token>` (Settings → Apps). Errors share one shape: "
        '`{"error": {"code": ..., "message": ..., "fields": {...}}}`.'
    ),
    urls_namespace="api",
)


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        fields: dict[str, list[str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.fields, self.headers = fields, headers or {}


def _error(request: HttpRequest, error: ApiError) -> HttpResponse:
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.fields:
        body["fields"] = error.fields
    response = api.create_response(request, {"error": body}, status=error.status)
    for name, value in error.headers.items():
        response[name] = value
    return response


class SdkToken(HttpAuthBase):
    """Bearer SDK token, then the per-token rate, then what this operation accepts."""

    openapi_scheme = "bearer"

    def __init__(self, *, content_types: tuple[str, ...], max_bytes_setting: str) -> None:
        super().__init__()
        self.content_types = content_types
        self.max_bytes_setting = max_bytes_setting

    def __call__(self, request: HttpRequest) -> App:
        # Not HttpBearer.__call__: that one logs a malformed Authorization header, secret and all.
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        app = selectors.app_by_sdk_token(token=token.strip()) if scheme.lower() == "bearer" else None
        if app is None:
            raise ApiError(
                401,
                "unauthorized",
                "Missing or invalid SDK token. Send `Authorization: Bearer <SDK token>`; "
                "find the token under Settings → Apps (rotating it invalidates the old one).",
                headers={"WWW-Authenticate": 'Bearer realm="bugbridge-sdk"'},
            )
        retry_after = rate_limit_hit(scope=f"sdk:{app.pk}", limit=settings.SDK_RATE_LIMIT_PER_MINUTE)
        if retry_after is not None:
            raise ApiError(
                429,
                "rate_limited",
                f"Too many requests for this token: the limit is {settings.SDK_RATE_LIMIT_PER_MINUTE}"
                f" a minute. Retry after {retry_after} seconds.",
                headers={"Retry-After": str(retry_after)},
            )
        content_type = request.content_type.lower()
        if content_type not in self.content_types:
            raise ApiError(
                415,
                "unsupported_media_type",
                f"Send the body as {' or '.join(self.content_types)}, not {content_type or 'nothing'}.",
            )
        limit = getattr(settings, self.max_bytes_setting)
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > limit:
            raise ApiError(
                413,
                "payload_too_large",
                f"The request body is {filesizeformat(length)}; the limit is {filesizeformat(limit)}.",
            )
        request.sdk_app = app  # type: ignore[attr-defined]
        return app


json_endpoint = SdkToken(content_types=("application/json",), max_bytes_setting="SDK_MAX_BODY_BYTES")
upload_endpoint = SdkToken(content_types=("multipart/form-data",), max_bytes_setting="SDK_MAX_UPLOAD_BYTES")
ERRORS = {code: ErrorOut for code in (400, 401, 404, 409, 413, 415, 422, 429)}


@api.exception_handler(ApiError)
def _on_api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
    return _error(request, exc)


@api.exception_handler(ValidationError)
def _on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    fields: dict[str, list[str]] = {}
    for item in exc.errors:
        # loc is (source, [our "payload" parameter,] field, index, ...): keep what the SDK
        # developer wrote, e.g. "title", "console_logs.0.level" or "files".
        loc = [str(part) for part in item.get("loc", ())][1:]
        if loc[:1] == ["payload"]:
            loc = loc[1:]
        message = str(item.get("msg", "Invalid value.")).removeprefix("Value error, ")
        fields.setdefault(".".join(loc) or "body", []).append(message)
    return _error(request, ApiError(422, "validation_error", "Some fields are invalid.", fields=fields))


@api.exception_handler(AuthenticationError)
def _on_auth_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return _error(request, ApiError(401, "unauthorized", "Missing or invalid SDK token."))


@api.exception_handler(HttpError)
def _on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    code = "bad_request" if exc.status_code == 400 else "error"
    message = str(exc)
    if message.startswith("Cannot parse request body"):
        message = "The body must be a JSON object with the report's fields (see /api/v1/docs)."
    return _error(request, ApiError(exc.status_code, code, message))


@api.exception_handler(Http404)
def _on_not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return _error(request, ApiError(404, "not_found", str(exc) or "Not found."))


@api.post(
    "/reports",
    auth=json_endpoint,
    response={201: ReportCreated, **ERRORS},
    summary="Create a bug report",
    description=(
        "Send `Idempotency-Key: <unique string>` to make retries safe: the same key within 24 "
        "hours returns the first report (201) instead of creating another; reusing a key with a "
        "different body is a 409."
    ),
)
def create_report(request: HttpRequest, response: HttpResponse, payload: ReportIn) -> Status:
    key = request.headers.get("Idempotency-Key", "").strip()[:255] or None
    fields = payload.model_dump(mode="json")
    try:
        report, created = services.report_ingest(app=request.auth, fields=fields, idempotency_key=key)
    except IdempotencyConflict as error:
        raise ApiError(409, "idempotency_conflict", str(error)) from None
    if not created:
        # A replay: same status and body as the first answer, flagged for the SDK's logs.
        response["Idempotent-Replayed"] = "true"
    return Status(201, _report_created(report))


def _report_created(report: BugReport) -> dict[str, Any]:
    path = reverse("report_detail", kwargs={"app_id": report.app_id, "number": report.number})
    return {"id": report.pk, "number": report.number, "url": settings.SITE_URL + path}


@api.post(
    "/reports/{report_id}/attachments",
    auth=upload_endpoint,
    response={201: AttachmentsCreated, **ERRORS},
    summary="Attach files to a report",
    description="Multipart form with one or more `files` parts: screenshots, screen recordings or logs.",
)
def create_attachments(request: HttpRequest, report_id: int, files: list[UploadedFile] = File(...)) -> Status:
    report = BugReport.objects.filter(pk=report_id, app=request.auth).first()
    if report is None:
        raise Http404("No report with this id for this app.")
    try:
        attachments = services.attachments_add(report=report, files=files)
    except AttachmentRejected as error:
        raise ApiError(
            error.status, _REJECTION_CODES[error.status], str(error), fields={error.field: [str(error)]}
        ) from None
    return Status(
        201,
        {
            "attachments": [
                {
                    "id": a.pk,
                    "name": a.original_name,
                    "kind": a.kind,
                    "content_type": a.content_type,
                    "size": a.size,
                }
                for a in attachments
            ]
        },
    )


_REJECTION_CODES = {400: "bad_request", 413: "payload_too_large", 415: "unsupported_media_type"}
