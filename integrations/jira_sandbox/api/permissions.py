"""`GET /mypermissions`: what the caller may do, globally, in a project, on an issue or a comment.

The sandbox has one permission scheme per site. Everyone with access to the site holds every
project permission, except the administrative ones (site admins only) and *Delete issues*, which
`SiteAccess.can_delete_issues` can withhold (admins keep it). Anonymous callers, and accounts the
site does not know, hold nothing. Every project is alike, so the context (project, issue, comment)
changes no answer: it only has to exist and be visible, Jira's 404 otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.urls import path

from ..models import Comment, Project, SiteAccess
from ..pipeline import READ, Ctx, Route, endpoint
from ..responses import bad_request, not_found
from ..services import find_issue
from .meta import find_project

PERMISSIONS_REQUIRED = "The 'permissions' query parameter is required."
COMMENT_PERMISSION = "BROWSE_PROJECTS"


@dataclass(frozen=True)
class Permission:
    """One of Jira's built-in permissions, and which site accesses hold it."""

    permission_id: str
    key: str
    name: str
    kind: str  # GLOBAL or PROJECT
    description: str
    held_by: Callable[[SiteAccess], bool]


def _member(access: SiteAccess) -> bool:
    return True


def _admin(access: SiteAccess) -> bool:
    return access.is_admin


def _deleter(access: SiteAccess) -> bool:
    return access.may_delete_issues


# Jira's ids, names and descriptions for the keys an integration asks about.
PERMISSIONS = {
    p.key: p
    for p in (
        Permission(
            "0",
            "ADMINISTER",
            "Administer Jira",
            "GLOBAL",
            "Create and administer projects, issue types, fields, workflows, and schemes for all projects.",
            _admin,
        ),
        Permission(
            "27",
            "USER_PICKER",
            "Browse users and groups",
            "GLOBAL",
            "View and select users or groups from the user picker.",
            _member,
        ),
        Permission(
            "10",
            "BROWSE_PROJECTS",
            "Browse Projects",
            "PROJECT",
            "Ability to browse projects and the issues within them.",
            _member,
        ),
        Permission("11", "CREATE_ISSUES", "Create Issues", "PROJECT", "Ability to create issues.", _member),
        Permission("12", "EDIT_ISSUES", "Edit Issues", "PROJECT", "Ability to edit issues.", _member),
        Permission(
            "13",
            "ASSIGN_ISSUES",
            "Assign Issues",
            "PROJECT",
            "Ability to assign issues to other people.",
            _member,
        ),
        Permission(
            "14",
            "RESOLVE_ISSUES",
            "Resolve Issues",
            "PROJECT",
            "Ability to resolve and reopen issues. This includes the ability to set a fix version.",
            _member,
        ),
        Permission("15", "ADD_COMMENTS", "Add Comments", "PROJECT", "Ability to comment on issues.", _member),
        Permission("16", "DELETE_ISSUES", "Delete Issues", "PROJECT", "Ability to delete issues.", _deleter),
        Permission(
            "17",
            "ASSIGNABLE_USER",
            "Assignable User",
            "PROJECT",
            "Users with this permission may be assigned to issues.",
            _member,
        ),
        Permission("18", "CLOSE_ISSUES", "Close Issues", "PROJECT", "Ability to close issues.", _member),
        Permission(
            "19",
            "CREATE_ATTACHMENTS",
            "Create Attachments",
            "PROJECT",
            "Users with this permission may create attachments.",
            _member,
        ),
        Permission(
            "21",
            "LINK_ISSUES",
            "Link Issues",
            "PROJECT",
            "Ability to link issues together and create linked issues.",
            _member,
        ),
        Permission(
            "23",
            "ADMINISTER_PROJECTS",
            "Administer Projects",
            "PROJECT",
            "Ability to administer a project in Jira.",
            _admin,
        ),
        Permission(
            "30",
            "MODIFY_REPORTER",
            "Modify Reporter",
            "PROJECT",
            "Ability to modify the reporter when creating or editing an issue.",
            _member,
        ),
        Permission(
            "35",
            "EDIT_OWN_COMMENTS",
            "Edit Own Comments",
            "PROJECT",
            "Ability to edit own comments made on issues.",
            _member,
        ),
        Permission(
            "37",
            "DELETE_OWN_COMMENTS",
            "Delete Own Comments",
            "PROJECT",
            "Ability to delete own comments made on issues.",
            _member,
        ),
        Permission(
            "46",
            "TRANSITION_ISSUES",
            "Transition Issues",
            "PROJECT",
            "Ability to transition issues.",
            _member,
        ),
    )
}


def _requested(ctx: Ctx) -> list[str]:
    """The `permissions` keys, in order, once each; Jira's 400 for none or for an unknown key."""
    keys = list(dict.fromkeys(k.strip() for k in ctx.query_list("permissions") if k.strip()))
    if not keys:
        raise bad_request([PERMISSIONS_REQUIRED])
    unknown = [k for k in keys if k not in PERMISSIONS]
    if unknown:
        raise bad_request([f"Permission key '{k}' is not valid." for k in unknown])
    return keys


def _check_project(ctx: Ctx, visible: bool) -> None:
    """`projectId` (which wins, as in Jira) or `projectKey`: the project must exist and be visible."""
    project_id = ctx.request.GET.get("projectId", "").strip()
    project_key = ctx.request.GET.get("projectKey", "").strip()
    if project_id:
        if not (
            visible
            and project_id.isdigit()
            and Project.objects.filter(site=ctx.site, project_id=project_id).exists()
        ):
            raise not_found(f"No project could be found with id '{project_id}'.")
    elif project_key:
        if not visible:
            raise not_found(f"No project could be found with key '{project_key}'.")
        find_project(ctx.site, project_key)


def _check_issue(ctx: Ctx, visible: bool) -> None:
    """`issueId` (which wins) or `issueKey`: the issue must exist and be visible."""
    issue = (ctx.request.GET.get("issueId") or ctx.request.GET.get("issueKey") or "").strip()
    if issue:
        if not visible:
            raise not_found()
        find_issue(ctx.site, issue)


def _check_comment(ctx: Ctx, keys: list[str], visible: bool) -> None:
    """`commentId`: only BROWSE_PROJECTS may be asked about, and the comment must exist."""
    comment_id = ctx.request.GET.get("commentId", "").strip()
    if not comment_id:
        return
    if keys != [COMMENT_PERMISSION]:
        raise bad_request([f"Only the {COMMENT_PERMISSION} permission is supported for a comment."])
    if not (
        visible
        and comment_id.isdigit()
        and Comment.objects.filter(issue__site=ctx.site, comment_id=int(comment_id)).exists()
    ):
        raise not_found("Comment does not exist or you do not have permission to see it.")


def _permission_json(permission: Permission, access: SiteAccess | None) -> dict[str, Any]:
    """UserPermission: the permission and whether the caller holds it (`havePermission`)."""
    return {
        "id": permission.permission_id,
        "key": permission.key,
        "name": permission.name,
        "type": permission.kind,
        "description": permission.description,
        "havePermission": access is not None and permission.held_by(access),
    }


def _my_permissions(ctx: Ctx) -> dict[str, Any]:
    keys = _requested(ctx)
    access = (
        SiteAccess.objects.filter(site=ctx.site, account=ctx.account).first()
        if ctx.account is not None
        else None
    )
    visible = access is not None  # the context, for a caller who can see nothing, is a 404
    _check_comment(ctx, keys, visible)
    _check_project(ctx, visible)
    _check_issue(ctx, visible)
    return {"permissions": {key: _permission_json(PERMISSIONS[key], access) for key in keys}}


my_permissions = endpoint(
    # Jira answers anonymous callers too: every permission is then `havePermission: false`.
    {"GET": Route(_my_permissions, scopes=READ, anonymous=True)},
    name="/mypermissions",
)

urlpatterns = [
    path("mypermissions", my_permissions, name="mypermissions"),
]
