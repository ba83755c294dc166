"""Attachments: upload (XSRF header, `file` parts, Jira's 413s), metadata, content, delete (API-NOTES §8).

The upload limit is the site's `upload_limit` knob, which `GET attachment/meta` reports.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import RequestDataTooBig, TooManyFilesSent
from django.http import HttpResponse
from django.urls import path
from django.utils.http import content_disposition_header

from .. import comment_services
from ..models import Attachment
from ..pipeline import READ, WRITE, Ctx, Route, endpoint
from ..responses import ApiError, error_collection, jira_json, not_found
from ..serializers import attachment_json, rfc3339_datetime, user_json
from .comments import find_issue, jira_errors, no_content

XSRF_HEADER = "X-Atlassian-Token"
XSRF_VALUES = ("no-check", "nocheck")


def attachment_bean(attachment: Attachment, ctx: Ctx) -> dict[str, Any]:
    """Attachment, as the upload answers it (`created` in RFC 3339, as the spec types it)."""
    return {**attachment_json(attachment, ctx.base), "created": rfc3339_datetime(attachment.created)}


def attachment_metadata(attachment: Attachment, ctx: Ctx) -> dict[str, Any]:
    """AttachmentMetadata (`GET attachment/{id}`): the same facts, with a numeric id."""
    data: dict[str, Any] = {
        "id": attachment.attachment_id,
        "self": f"{ctx.base}/rest/api/3/attachment/{attachment.attachment_id}",
        "filename": attachment.filename,
        "created": rfc3339_datetime(attachment.created),
        "size": attachment.size,
        "mimeType": attachment.mime_type,
        "properties": {},
        "content": f"{ctx.base}/rest/api/3/attachment/content/{attachment.attachment_id}",
    }
    if attachment.author is not None:
        data["author"] = user_json(attachment.author, ctx.base, with_email=False)
    return data


def find_attachment(ctx: Ctx, attachment_id: str) -> Attachment:
    text = str(attachment_id).strip()
    found = (
        Attachment.objects.filter(issue__site=ctx.site, attachment_id=int(text))
        .select_related("issue__site", "author")
        .first()
        if text.isdigit()
        else None
    )
    if found is None:
        raise not_found(f"The attachment with id '{text}' does not exist.")
    return found


def _files(ctx: Ctx) -> list[Any]:
    try:
        return ctx.request.FILES.getlist("file")
    except (TooManyFilesSent, RequestDataTooBig) as exc:  # Django's own caps, above Jira's 60 files
        raise ApiError(error_collection(413, ["The request has too many files or is too large."])) from exc


@jira_errors
def _upload(ctx: Ctx, issue: str) -> Any:
    # Jira's XSRF filter runs before the resource: without the header nothing else is looked at.
    if ctx.request.headers.get(XSRF_HEADER, "").strip().lower() not in XSRF_VALUES:
        return HttpResponse("XSRF check failed", status=403, content_type="text/plain;charset=UTF-8")
    found = find_issue(ctx, issue)
    stored = comment_services.attachments_add(issue=found, author=ctx.account, files=_files(ctx))
    return jira_json([attachment_bean(a, ctx) for a in stored])


def _get(ctx: Ctx, attachment_id: str) -> dict[str, Any]:
    return attachment_metadata(find_attachment(ctx, attachment_id), ctx)


def _delete(ctx: Ctx, attachment_id: str) -> HttpResponse:
    comment_services.attachment_delete(attachment=find_attachment(ctx, attachment_id), actor=ctx.account)
    return no_content()


def _content(ctx: Ctx, attachment_id: str) -> HttpResponse:
    # Jira redirects (303) to its media store unless `redirect=false`; the sandbox always serves
    # the bytes itself, which is what a client following the redirect ends up with.
    attachment = find_attachment(ctx, attachment_id)
    response = HttpResponse(bytes(attachment.content), content_type=attachment.mime_type)
    response["Content-Disposition"] = content_disposition_header(True, attachment.filename)
    response["Content-Length"] = str(attachment.size)
    return response


issue_attachments = endpoint({"POST": Route(_upload, scopes=WRITE)}, name="/issue/{issueIdOrKey}/attachments")
attachment_detail = endpoint(
    {"GET": Route(_get, scopes=READ), "DELETE": Route(_delete, scopes=WRITE)}, name="/attachment/{id}"
)
attachment_content = endpoint({"GET": Route(_content, scopes=READ)}, name="/attachment/content/{id}")

# `attachment/meta` lives in meta.py, which urls.py includes first.
urlpatterns = [
    path("issue/<str:issue>/attachments", issue_attachments, name="issue_attachments"),
    path("attachment/content/<str:attachment_id>", attachment_content, name="attachment_content"),
    path("attachment/<str:attachment_id>", attachment_detail, name="attachment_detail"),
]
