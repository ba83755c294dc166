"""Issues: create (one and bulk), get, edit, delete, assign, and transitions (API-NOTES §3, §6).

Handlers are glue: read the request, call services.py, shape the answer. A `ValidationFailed`
from the services becomes Jira's ErrorCollection (400, or the status it carries).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.http import HttpResponse
from django.urls import path

from .. import services
from ..models import Field, FieldOption, Issue, Transition
from ..pipeline import READ, WRITE, Ctx, Route, endpoint
from ..responses import bad_request, jira_json
from ..serializers import API, issue_json, option_json, resolution_json, status_json
from ..validation import ValidationFailed, kind_of
from .common import jira_errors, no_content

BULK_LIMIT = 50
TRUE = ("true", "1", "yes")


def _flag(ctx: Ctx, name: str) -> bool:
    return str(ctx.request.GET.get(name, "")).lower() in TRUE


# ---------------------------------------------------------------------------------------------
# Create
# ---------------------------------------------------------------------------------------------


def created_json(issue: Issue, base: str) -> dict[str, Any]:
    """CreatedIssue: id, key, self."""
    return {"id": str(issue.issue_id), "key": issue.key, "self": f"{base}{API}/issue/{issue.issue_id}"}


def _transition_after_create(ctx: Ctx, issue: Issue, transition: Any) -> dict[str, Any]:
    """A `transition` in a create body: the issue is created either way; its outcome is reported."""
    transition_id = transition.get("id") if isinstance(transition, dict) else None
    try:
        with transaction.atomic():
            services.issue_transition(issue=issue, actor=ctx.account, transition_id=str(transition_id))
    except ValidationFailed as exc:
        return {
            "status": exc.status,
            "errorCollection": {"errorMessages": exc.messages, "errors": exc.errors},
        }
    return {"status": 200, "errorCollection": {"errorMessages": [], "errors": {}}}


def _create_one(ctx: Ctx, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ValidationFailed(["The issue details must be a JSON object."])
    issue = services.issue_create(
        site=ctx.site,
        actor=ctx.account,
        fields=body.get("fields"),  # validation reports a non-object
        update=body.get("update"),
        properties=body.get("properties"),
    )
    created = created_json(issue, ctx.base)
    if body.get("transition") is not None:
        created["transition"] = _transition_after_create(ctx, issue, body["transition"])
    return created


@jira_errors
def _create(ctx: Ctx) -> HttpResponse:
    return jira_json(_create_one(ctx, ctx.body_object()), status=201)


def _bulk_error(index: int | None, exc: ValidationFailed) -> dict[str, Any]:
    error: dict[str, Any] = {
        "status": exc.status,
        "elementErrors": {"errorMessages": exc.messages, "errors": exc.errors},
    }
    if index is not None:
        error["failedElementNumber"] = index
    return error


def _bulk(ctx: Ctx) -> HttpResponse:
    """201 when any issue was created (failures listed in `errors`), 400 when none was."""
    body = ctx.body()
    updates = body.get("issueUpdates") if isinstance(body, dict) else None
    if not isinstance(updates, list) or not updates or len(updates) > BULK_LIMIT:
        problem = ValidationFailed([f"Provide between 1 and {BULK_LIMIT} issues to create (issueUpdates)."])
        return jira_json({"issues": [], "errors": [_bulk_error(None, problem)]}, status=400)
    issues: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for index, body in enumerate(updates):
        try:
            with transaction.atomic():  # a failed element leaves nothing behind
                issues.append(_create_one(ctx, body))
        except ValidationFailed as exc:
            errors.append(_bulk_error(index, exc))
    return jira_json({"issues": issues, "errors": errors}, status=201 if issues else 400)


# ---------------------------------------------------------------------------------------------
# Get, edit, delete, assign
# ---------------------------------------------------------------------------------------------


def _expanded(ctx: Ctx, issue: Issue, data: dict[str, Any], expand: set[str]) -> dict[str, Any]:
    """`expand=names,schema,transitions` (changelog is the serializer's)."""
    shown = list(data.get("fields", {}))
    if expand & {"names", "schema"}:
        rows = {f.field_id: f for f in Field.objects.filter(site=ctx.site, field_id__in=shown)}
        if "names" in expand:
            data["names"] = {fid: rows[fid].name for fid in shown if fid in rows}
        if "schema" in expand:
            data["schema"] = {fid: rows[fid].schema for fid in shown if fid in rows and rows[fid].schema}
    if "transitions" in expand:
        data["transitions"] = [
            transition_json(t, issue, ctx.base, with_fields=False)
            for t in services.available_transitions(issue)
        ]
    return data


def issue_bean(ctx: Ctx, issue: Issue) -> dict[str, Any]:
    """GET issue's answer for the request's `fields`, `properties` and `expand` parameters."""
    expand = set(ctx.query_list("expand"))
    wanted = ctx.query_list("properties")
    properties = list(issue.properties) if "*all" in wanted else [p for p in wanted if not p.startswith("-")]
    data = issue_json(
        issue,
        ctx.base,
        fields=ctx.query_list("fields") or None,
        properties=properties,
        expand=expand,
    )
    return _expanded(ctx, issue, data, expand)


def _get(ctx: Ctx, issue: str) -> dict[str, Any]:
    return issue_bean(ctx, services.find_issue(ctx.site, issue))


@jira_errors
def _edit(ctx: Ctx, issue: str) -> Any:
    # `transition` in an edit body is ignored, as Jira ignores it (API-NOTES §6);
    # notifyUsers, overrideScreenSecurity and overrideEditableFlag are accepted and change nothing here.
    found = services.find_issue(ctx.site, issue)
    body = ctx.body_object()
    services.issue_edit(issue=found, actor=ctx.account, fields=body.get("fields"), update=body.get("update"))
    if _flag(ctx, "returnIssue"):
        return issue_bean(ctx, services.find_issue(ctx.site, issue))
    return no_content()


def _delete(ctx: Ctx, issue: str) -> HttpResponse:
    # The sandbox has no subtasks, so `deleteSubtasks` never has anything to refuse.
    services.issue_delete(issue=services.find_issue(ctx.site, issue), actor=ctx.account)
    return no_content()


@jira_errors
def _assign(ctx: Ctx, issue: str) -> HttpResponse:
    body = ctx.body_object()
    if "accountId" not in body:
        raise bad_request(errors={"accountId": "Specify the accountId of the assignee, or null to unassign."})
    account_id = body["accountId"]
    if account_id is not None and not isinstance(account_id, str):
        raise bad_request(errors={"accountId": "The accountId must be a string or null."})
    services.issue_assign(
        issue=services.find_issue(ctx.site, issue), actor=ctx.account, account_id=account_id
    )
    return no_content()


# ---------------------------------------------------------------------------------------------
# Transitions
# ---------------------------------------------------------------------------------------------

# Allowed values of a transition-screen field, by the kind of its values.
ALLOWED_VALUES: dict[str, Callable[[FieldOption, str], dict[str, Any]]] = {
    "resolution": resolution_json,
    "option": option_json,
}


def field_metadata(row: Field, base: str, *, required: bool) -> dict[str, Any]:
    """FieldMetadata of a transition-screen field: required, schema, operations, allowedValues."""
    kind = kind_of(row)
    data: dict[str, Any] = {
        "required": required,
        "schema": row.schema,
        "name": row.name,
        "key": row.field_id,
        "operations": list(kind.operations) if kind else [],
    }
    shape = ALLOWED_VALUES.get(str(row.schema.get("items") or row.schema.get("type")))
    if shape is not None:
        data["allowedValues"] = [shape(o, base) for o in row.options.all() if not o.disabled]
    return data


def transition_json(transition: Transition, issue: Issue, base: str, *, with_fields: bool) -> dict[str, Any]:
    """IssueTransition, with the screen's FieldMetadata under `expand=transitions.fields`."""
    data: dict[str, Any] = {
        "id": transition.transition_id,
        "name": transition.name,
        "to": status_json(transition.to_status, base),
        "hasScreen": bool(transition.required_field),
        "isGlobal": transition.from_status_id is None,
        "isInitial": False,
        "isAvailable": True,
        "isConditional": False,
        "looped": transition.to_status_id == issue.status_id,
    }
    if with_fields:
        rows = Field.objects.filter(site_id=issue.site_id, field_id=transition.required_field)
        data["fields"] = {row.field_id: field_metadata(row, base, required=True) for row in rows}
    return data


def _transitions(ctx: Ctx, issue: str) -> dict[str, Any]:
    found = services.find_issue(ctx.site, issue)
    with_fields = "transitions.fields" in ctx.query_list("expand")
    only = ctx.request.GET.get("transitionId")
    listed = [t for t in services.available_transitions(found) if only in (None, "", t.transition_id)]
    data: dict[str, Any] = {
        "transitions": [transition_json(t, found, ctx.base, with_fields=with_fields) for t in listed]
    }
    if with_fields:
        data["expand"] = "transitions"
    return data


@jira_errors
def _do_transition(ctx: Ctx, issue: str) -> HttpResponse:
    body = ctx.body_object()
    transition = body.get("transition")
    transition_id = transition.get("id") if isinstance(transition, dict) else None
    if transition_id in (None, ""):
        raise bad_request(["Missing 'transition' identifier"])
    services.issue_transition(
        issue=services.find_issue(ctx.site, issue),
        actor=ctx.account,
        transition_id=str(transition_id),
        fields=body.get("fields"),
        update=body.get("update"),
    )
    return no_content()


issue_create = endpoint({"POST": Route(_create, scopes=WRITE)}, name="/issue")
issue_bulk = endpoint({"POST": Route(_bulk, scopes=WRITE)}, name="/issue/bulk")
issue_detail = endpoint(
    {
        "GET": Route(_get, scopes=READ),
        "PUT": Route(_edit, scopes=WRITE),
        "DELETE": Route(_delete, scopes=WRITE),
    },
    name="/issue/{issueIdOrKey}",
)
issue_assignee = endpoint({"PUT": Route(_assign, scopes=WRITE)}, name="/issue/{issueIdOrKey}/assignee")
issue_transitions = endpoint(
    {"GET": Route(_transitions, scopes=READ), "POST": Route(_do_transition, scopes=WRITE)},
    name="/issue/{issueIdOrKey}/transitions",
)

# The broad `issue/<issue>` pattern stays last (urls.py also puts this module last).
urlpatterns = [
    path("issue", issue_create, name="issue_create"),
    path("issue/bulk", issue_bulk, name="issue_bulk"),
    path("issue/<str:issue>/assignee", issue_assignee, name="issue_assignee"),
    path("issue/<str:issue>/transitions", issue_transitions, name="issue_transitions"),
    path("issue/<str:issue>", issue_detail, name="issue_detail"),
]
