"""Comments, comment properties and issue properties (API-NOTES §7).

Handlers are glue: find the issue or comment (Jira's 404 otherwise), call comment_services, shape
the answer. A `ValidationFailed` becomes Jira's ErrorCollection with the status it carries.
"""

from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import quote

from django.http import HttpResponse
from django.urls import path

from .. import comment_services
from ..models import Comment, Issue
from ..pipeline import READ, WRITE, Ctx, Route, endpoint
from ..responses import ApiError, bad_request, jira_json, not_found
from ..serializers import API, comment_json, rfc3339_datetime
from ..ui.adf import paragraphs
from .common import jira_errors, no_content
from .meta import page_bean

COMMENT_PAGE_LIMIT = 5000
COMMENT_LIST_LIMIT = 1000
# `orderBy` of GET comments → newest first? Jira knows no other order (400 for anything else).
COMMENT_ORDER = {"created": False, "+created": False, "-created": True}


def find_issue(ctx: Ctx, id_or_key: str) -> Issue:
    from ..services import find_issue as lookup  # written alongside; one lookup rule for every call

    return lookup(ctx.site, id_or_key)


def _comment_not_found(comment_id: str) -> ApiError:
    return not_found(f"Can not find a comment for the id: {comment_id}.")


def find_comment(ctx: Ctx, comment_id: str, issue: Issue | None = None) -> Comment:
    """The site's comment by id (on `issue`, when given); Jira's 404 otherwise."""
    text = str(comment_id).strip()
    if not text.isdigit():
        raise _comment_not_found(text)
    comments = Comment.objects.filter(issue__site=ctx.site, comment_id=int(text))
    if issue is not None:
        comments = comments.filter(issue=issue)
    found = comments.select_related("issue__site", "author", "update_author").first()
    if found is None:
        raise _comment_not_found(text)
    return found


def rendered_body(body: Any) -> str:
    """The comment as HTML: one escaped paragraph per ADF block (Jira's `renderedBody`)."""
    return "".join(f"<p>{escape(text).replace(chr(10), '<br />')}</p>" for text in paragraphs(body))


def comment_bean(comment: Comment, ctx: Ctx, expand: set[str] | None = None) -> dict[str, Any]:
    """A Comment as the REST API gives it, with `expand=renderedBody,properties`."""
    expand = set(ctx.query_list("expand")) if expand is None else expand
    data = comment_json(comment, ctx.base, with_properties="properties" in expand)
    # The spec types these `date-time` (RFC 3339), which Jira's `+0000` offset does not satisfy.
    data["created"] = rfc3339_datetime(comment.created)
    data["updated"] = rfc3339_datetime(comment.updated)
    if "renderedBody" in expand:
        data["renderedBody"] = rendered_body(comment.body)
    return data


# ---------------------------------------------------------------------------------------------
# Comments
# ---------------------------------------------------------------------------------------------


def _list(ctx: Ctx, issue: str) -> dict[str, Any]:
    found = find_issue(ctx, issue)
    order_by = ctx.request.GET.get("orderBy") or "created"
    if order_by not in COMMENT_ORDER:
        raise bad_request([f"The value '{order_by}' is invalid for the parameter 'orderBy'."])
    start = ctx.query_int("startAt", 0)
    size = ctx.query_int("maxResults", 100, maximum=COMMENT_PAGE_LIMIT)
    comments = found.comments.select_related("issue", "author", "update_author")
    ordered = comments.order_by("-created", "-comment_id") if COMMENT_ORDER[order_by] else comments
    window = list(ordered[start : start + size])
    return {
        "startAt": start,
        "maxResults": size,
        "total": comments.count(),
        "comments": [comment_bean(c, ctx) for c in window],
    }


def _write_args(ctx: Ctx) -> dict[str, Any]:
    body = ctx.body_object()
    return {
        "body": body.get("body"),
        "properties": body.get("properties"),
        "visibility": body.get("visibility"),
    }


@jira_errors
def _add(ctx: Ctx, issue: str) -> HttpResponse:
    found = find_issue(ctx, issue)
    comment = comment_services.comment_add(issue=found, author=ctx.account, **_write_args(ctx))
    return jira_json(comment_bean(comment, ctx), status=201)


def _get(ctx: Ctx, issue: str, comment_id: str) -> dict[str, Any]:
    return comment_bean(find_comment(ctx, comment_id, find_issue(ctx, issue)), ctx)


@jira_errors
def _edit(ctx: Ctx, issue: str, comment_id: str) -> dict[str, Any]:
    # notifyUsers and overrideEditableFlag are accepted and change nothing here.
    comment = find_comment(ctx, comment_id, find_issue(ctx, issue))
    comment = comment_services.comment_edit(comment=comment, author=ctx.account, **_write_args(ctx))
    return comment_bean(comment, ctx)


def _delete(ctx: Ctx, issue: str, comment_id: str) -> HttpResponse:
    comment = find_comment(ctx, comment_id, find_issue(ctx, issue))
    comment_services.comment_delete(comment=comment, actor=ctx.account)
    return no_content()


def _is_id(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return (isinstance(value, int) and value >= 0) or (isinstance(value, str) and value.isdigit())


def _ids(body: dict[str, Any]) -> list[int]:
    ids = body.get("ids")
    if not isinstance(ids, list) or not all(_is_id(i) for i in ids):
        raise bad_request(errors={"ids": "Provide the comment ids as a list of numbers."})
    if len(ids) > COMMENT_LIST_LIMIT:
        raise bad_request([f"The number of comment IDs must not exceed {COMMENT_LIST_LIMIT}."])
    return [int(i) for i in ids]


def _by_ids(ctx: Ctx) -> dict[str, Any]:
    """`POST comment/list`: the site's comments among the ids (unknown ones are left out)."""
    ids = _ids(ctx.body_object())
    comments = list(
        Comment.objects.filter(issue__site=ctx.site, comment_id__in=ids)
        .select_related("issue", "author", "update_author")
        .order_by("comment_id")
    )
    expand = set(ctx.query_list("expand"))
    return page_bean(ctx, comments, 0, COMMENT_LIST_LIMIT, lambda c: comment_bean(c, ctx, expand))


# ---------------------------------------------------------------------------------------------
# Entity properties: the same rules for issues and comments
# ---------------------------------------------------------------------------------------------


def _property_value(ctx: Ctx) -> Any:
    if not ctx.request.body.strip():
        raise bad_request(["The property value cannot be empty."])
    return ctx.body()


def _property_not_found(key: str) -> ApiError:
    return not_found(f"The property with key '{key}' does not exist.")


def property_keys(properties: dict[str, Any], self_prefix: str) -> dict[str, Any]:
    """PropertyKeys: `{"keys": [{"self", "key"}]}`."""
    return {"keys": [{"self": f"{self_prefix}/{quote(k, safe='')}", "key": k} for k in sorted(properties)]}


def property_bean(properties: dict[str, Any], key: str) -> dict[str, Any]:
    if key not in properties:
        raise _property_not_found(key)
    return {"key": key, "value": properties[key]}


def put_answer(created: bool) -> HttpResponse:
    # 201 for a new key, 200 for a replaced one; the spec wants a JSON body on both.
    return jira_json({}, status=201 if created else 200)


def _issue_properties_prefix(ctx: Ctx, issue: Issue) -> str:
    return f"{ctx.base}{API}/issue/{issue.issue_id}/properties"


def _issue_property_keys(ctx: Ctx, issue: str) -> dict[str, Any]:
    found = find_issue(ctx, issue)
    return property_keys(found.properties or {}, _issue_properties_prefix(ctx, found))


def _issue_property_get(ctx: Ctx, issue: str, key: str) -> dict[str, Any]:
    return property_bean(find_issue(ctx, issue).properties or {}, key)


@jira_errors
def _issue_property_put(ctx: Ctx, issue: str, key: str) -> HttpResponse:
    found = find_issue(ctx, issue)
    created = comment_services.issue_property_set(issue=found, key=key, value=_property_value(ctx))
    return put_answer(created)


def _issue_property_delete(ctx: Ctx, issue: str, key: str) -> HttpResponse:
    found = find_issue(ctx, issue)
    if key not in (found.properties or {}):
        raise _property_not_found(key)
    comment_services.issue_property_delete(issue=found, key=key)
    return no_content()


def _comment_property_keys(ctx: Ctx, comment_id: str) -> dict[str, Any]:
    comment = find_comment(ctx, comment_id)
    return property_keys(comment.properties or {}, f"{ctx.base}{API}/comment/{comment.comment_id}/properties")


def _comment_property_get(ctx: Ctx, comment_id: str, key: str) -> dict[str, Any]:
    return property_bean(find_comment(ctx, comment_id).properties or {}, key)


@jira_errors
def _comment_property_put(ctx: Ctx, comment_id: str, key: str) -> HttpResponse:
    comment = find_comment(ctx, comment_id)
    created = comment_services.comment_property_set(comment=comment, key=key, value=_property_value(ctx))
    return put_answer(created)


def _comment_property_delete(ctx: Ctx, comment_id: str, key: str) -> HttpResponse:
    comment = find_comment(ctx, comment_id)
    if key not in (comment.properties or {}):
        raise _property_not_found(key)
    comment_services.comment_property_delete(comment=comment, key=key)
    return no_content()


issue_comments = endpoint(
    {"GET": Route(_list, scopes=READ), "POST": Route(_add, scopes=WRITE)},
    name="/issue/{issueIdOrKey}/comment",
)
issue_comment = endpoint(
    {
        "GET": Route(_get, scopes=READ),
        "PUT": Route(_edit, scopes=WRITE),
        "DELETE": Route(_delete, scopes=WRITE),
    },
    name="/issue/{issueIdOrKey}/comment/{id}",
)
comment_list = endpoint({"POST": Route(_by_ids, scopes=READ)}, name="/comment/list")
comment_properties = endpoint(
    {"GET": Route(_comment_property_keys, scopes=READ)}, name="/comment/{commentId}/properties"
)
comment_property = endpoint(
    {
        "GET": Route(_comment_property_get, scopes=READ),
        "PUT": Route(_comment_property_put, scopes=WRITE),
        "DELETE": Route(_comment_property_delete, scopes=WRITE),
    },
    name="/comment/{commentId}/properties/{propertyKey}",
)
issue_properties = endpoint(
    {"GET": Route(_issue_property_keys, scopes=READ)}, name="/issue/{issueIdOrKey}/properties"
)
issue_property = endpoint(
    {
        "GET": Route(_issue_property_get, scopes=READ),
        "PUT": Route(_issue_property_put, scopes=WRITE),
        "DELETE": Route(_issue_property_delete, scopes=WRITE),
    },
    name="/issue/{issueIdOrKey}/properties/{propertyKey}",
)

urlpatterns = [
    path("issue/<str:issue>/comment", issue_comments, name="issue_comments"),
    path("issue/<str:issue>/comment/<str:comment_id>", issue_comment, name="issue_comment"),
    path("comment/list", comment_list, name="comment_list"),
    path("comment/<str:comment_id>/properties", comment_properties, name="comment_properties"),
    path("comment/<str:comment_id>/properties/<str:key>", comment_property, name="comment_property"),
    path("issue/<str:issue>/properties", issue_properties, name="issue_properties"),
    path("issue/<str:issue>/properties/<str:key>", issue_property, name="issue_property"),
]
