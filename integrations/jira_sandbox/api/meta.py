"""Who am I, the site's identity, and the metadata calls: projects, createmeta, fields,
priorities and priority schemes, statuses, assignable users, attachment settings (API-NOTES §4 to §8).

Everything here reads; nothing changes. Paged answers share `page_bean` (Jira's PageBean:
`self`, `nextPage` while not last, `isLast`, `total`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_not_required
from django.db.models import Count, Max
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.http import require_GET

from ..models import Account, Field, FieldOption, IssueType, Priority, Project, ScreenField, Site, Status
from ..pipeline import CONFIG, READ, USER, Ctx, Route, endpoint
from ..responses import bad_request, error_collection, forbidden, jira_json, not_found
from ..serializers import (
    API,
    CATEGORY,
    avatar_urls,
    field_json,
    issue_type_json,
    option_json,
    priority_json,
    project_json,
    rfc3339_datetime,
    status_category_json,
    status_json,
    user_json,
)
from ..validation import kind_of

TRUE = ("true", "1", "yes")
CREATEMETA_LIMIT = 200
PROJECT_PAGE_LIMIT = 100
USER_PAGE_LIMIT = 1000


# ---------------------------------------------------------------------------------------------
# Paging and lookups shared by the handlers (comments.py uses page_bean too)
# ---------------------------------------------------------------------------------------------


def request_url(ctx: Ctx, **overrides: Any) -> str:
    """The absolute URL of this call, with some query parameters replaced (for self / nextPage)."""
    params = [(k, v) for k in ctx.request.GET for v in ctx.request.GET.getlist(k) if k not in overrides]
    params += [(k, str(v)) for k, v in overrides.items()]
    url = ctx.request.build_absolute_uri(ctx.request.path)
    return f"{url}?{urlencode(params)}" if params else url


def page_bean(
    ctx: Ctx, items: Sequence[Any], start: int, size: int, shape: Callable[[Any], Any]
) -> dict[str, Any]:
    """Jira's PageBean over `items` (already filtered and ordered): one window of `size` from `start`."""
    window = list(items[start : start + size])
    last = start + len(window) >= len(items)
    data: dict[str, Any] = {
        "self": request_url(ctx),
        "maxResults": size,
        "startAt": start,
        "total": len(items),
        "isLast": last,
        "values": [shape(item) for item in window],
    }
    if not last:
        data["nextPage"] = request_url(ctx, startAt=start + size)
    return data


def flag(ctx: Ctx, name: str) -> bool:
    return str(ctx.request.GET.get(name, "")).lower() in TRUE


def find_project(site: Site, id_or_key: str) -> Project:
    """The site's project by id (digits) or key (any case); Jira's 404 otherwise."""
    text = str(id_or_key).strip()
    by_id = text.isdigit()
    found = (
        Project.objects.filter(site=site, project_id=text)
        if by_id
        else Project.objects.filter(site=site, key=text.upper())
    ).first()
    if found is None:
        raise not_found(f"No project could be found with {'id' if by_id else 'key'} '{text}'.")
    return found


def site_account(site: Site, account_id: str) -> Account | None:
    """An account with access to the site (the only ones the site's user calls can see)."""
    return Account.objects.filter(account_id=account_id, siteaccess__site=site).first()


# ---------------------------------------------------------------------------------------------
# Myself, tenant info, users
# ---------------------------------------------------------------------------------------------


def _myself(ctx: Ctx) -> dict[str, Any]:
    return user_json(ctx.account, ctx.base, full=True)


myself = endpoint({"GET": Route(_myself, scopes=USER)}, name="/myself")


@login_not_required
@require_GET
def tenant_info(request: HttpRequest, site_name: str) -> HttpResponse:
    """`https://<site>.atlassian.net/_edge/tenant_info`: no auth, the site's cloud id (API-NOTES §1c)."""
    site = Site.objects.filter(name=site_name).first()
    if site is None:
        return error_collection(404, ["Site not found."])
    return jira_json({"cloudId": site.cloud_id})


def _user(ctx: Ctx) -> dict[str, Any]:
    account_id = ctx.request.GET.get("accountId", "").strip()
    if not account_id:
        raise bad_request(["The 'accountId' query parameter needs to be provided."])
    account = site_account(ctx.site, account_id)
    if account is None:
        raise not_found("Specified user does not exist or you do not have required permissions")
    return user_json(account, ctx.base, full=True)


ASSIGNABLE_TYPES = (Account.Type.ATLASSIAN, Account.Type.APP)


def _assignable_scope(ctx: Ctx) -> None:
    """`project`, or `issueKey` / `issueId`: which one must exist (404 otherwise)."""
    from ..services import find_issue  # written alongside; imported late to keep this module light

    project = ctx.request.GET.get("project", "").strip()
    issue = (ctx.request.GET.get("issueKey") or ctx.request.GET.get("issueId") or "").strip()
    if project:
        find_project(ctx.site, project)
    elif issue:
        find_issue(ctx.site, issue)
    else:
        raise bad_request(["Either the 'project' or the 'issueKey' or 'issueId' parameter must be provided."])


def _matches(account: Account, query: str) -> bool:
    """Jira's user search: a prefix of the display name (or of one of its words) or of the email."""
    query = query.lower()
    name = account.display_name.lower()
    return (
        name.startswith(query)
        or account.email.lower().startswith(query)
        or any(word.startswith(query) for word in name.split())
    )


def _assignable(ctx: Ctx) -> list[dict[str, Any]]:
    query = ctx.request.GET.get("query")
    account_id = ctx.request.GET.get("accountId")
    if (query is None) == (account_id is None):
        raise bad_request(["Provide exactly one of the 'query' and 'accountId' parameters."])
    _assignable_scope(ctx)
    start = ctx.query_int("startAt", 0)
    size = ctx.query_int("maxResults", 50, maximum=USER_PAGE_LIMIT)
    accounts = Account.objects.filter(
        siteaccess__site=ctx.site, active=True, account_type__in=ASSIGNABLE_TYPES
    ).order_by("display_name", "account_id")
    if account_id is not None:
        found = [a for a in accounts if a.account_id == account_id]
    else:
        found = [a for a in accounts if _matches(a, query or "")]
    return [user_json(a, ctx.base) for a in found[start : start + size]]


# ---------------------------------------------------------------------------------------------
# Projects
# ---------------------------------------------------------------------------------------------

PROJECT_EXPANDS = "description,lead,issueTypes,url,projectKeys,permissions,insight"


def _issue_types(site: Site, base: str) -> list[dict[str, Any]]:
    return [issue_type_json(t, base) for t in IssueType.objects.filter(site=site)]


def _insight(project: Project) -> dict[str, Any]:
    stats = project.issues.aggregate(total=Count("pk"), last=Max("updated"))
    data: dict[str, Any] = {"totalIssueCount": stats["total"]}
    if stats["last"] is not None:
        data["lastIssueUpdateTime"] = rfc3339_datetime(stats["last"])
    return data


# `expand` value → (attribute, its value). The sandbox keeps no project descriptions or URLs.
PROJECT_EXPAND: dict[str, Callable[[Project, Ctx], tuple[str, Any]]] = {
    "description": lambda p, ctx: ("description", ""),
    "lead": lambda p, ctx: ("lead", user_json(p.lead, ctx.base, with_email=False) if p.lead else None),
    "issueTypes": lambda p, ctx: ("issueTypes", _issue_types(ctx.site, ctx.base)),
    "url": lambda p, ctx: ("url", ""),
    "insight": lambda p, ctx: ("insight", _insight(p)),
}


def project_bean(project: Project, ctx: Ctx, expand: Iterable[str]) -> dict[str, Any]:
    """A Project, with the requested expansions (unknown ones are ignored, as Jira does)."""
    data = {"expand": PROJECT_EXPANDS, **project_json(project, ctx.base)}
    for name in expand:
        build = PROJECT_EXPAND.get(name)
        if build is not None:
            key, value = build(project, ctx)
            if value is not None:
                data[key] = value
    return data


# `orderBy` field → sort key. The sandbox has no categories and archives nothing, so those
# orders fall back to the key.
PROJECT_ORDER: dict[str, Callable[[Project], Any]] = {
    "key": lambda p: p.key,
    "name": lambda p: p.name.lower(),
    "owner": lambda p: p.lead.display_name.lower() if p.lead else "",
    "issueCount": lambda p: p.issue_count,
    "lastIssueUpdatedDate": lambda p: (p.last_update is not None, p.last_update or 0),
    "category": lambda p: p.key,
    "archivedDate": lambda p: p.key,
    "deletedDate": lambda p: p.key,
}
PROJECT_ACTIONS = ("view", "browse", "edit", "create")


def _order(projects: list[Project], order_by: str) -> list[Project]:
    field_name = order_by.lstrip("+-")
    key = PROJECT_ORDER.get(field_name)
    if key is None:
        raise bad_request([f"The value '{order_by}' is invalid for the parameter 'orderBy'."])
    return sorted(projects, key=lambda p: (key(p), p.key), reverse=order_by.startswith("-"))


def _project_filters(ctx: Ctx) -> list[Project]:
    projects = Project.objects.filter(site=ctx.site).select_related("lead")
    keys = [k.upper() for k in ctx.query_list("keys")]
    ids = ctx.query_list("id")
    if any(not i.isdigit() for i in ids):
        raise bad_request([f"The value '{','.join(ids)}' is invalid for the parameter 'id'."])
    if keys or ids:
        projects = projects.filter(key__in=keys) | projects.filter(project_id__in=ids)
    query = ctx.request.GET.get("query", "").strip().lower()
    type_keys = ctx.query_list("typeKey")
    statuses = ctx.query_list("status")
    if (type_keys and "software" not in type_keys) or (statuses and "live" not in statuses):
        return []  # every sandbox project is a live software project
    found = projects.annotate(issue_count=Count("issues"), last_update=Max("issues__updated"))
    return [p for p in found if not query or query in p.key.lower() or query in p.name.lower()]


def _project_search(ctx: Ctx) -> dict[str, Any]:
    action = ctx.request.GET.get("action", "view")
    if action not in PROJECT_ACTIONS:
        raise bad_request([f"The value '{action}' is invalid for the parameter 'action'."])
    # The sandbox grants these project permissions to everyone with site access (only Delete
    # issues and the admin ones vary: permissions.py), so `action` never narrows the list.
    start = ctx.query_int("startAt", 0)
    size = ctx.query_int("maxResults", 50, maximum=PROJECT_PAGE_LIMIT)
    projects = _order(_project_filters(ctx), ctx.request.GET.get("orderBy", "key") or "key")
    expand = ctx.query_list("expand")
    return page_bean(ctx, projects, start, size, lambda p: project_bean(p, ctx, expand))


def _project(ctx: Ctx, project: str) -> dict[str, Any]:
    found = find_project(ctx.site, project)
    # GET project expands these by default; `expand` adds the rest.
    expand = {"description", "lead", "issueTypes", *ctx.query_list("expand")}
    data = project_bean(found, ctx, expand)
    data.update({"components": [], "versions": [], "assigneeType": "UNASSIGNED", "roles": {}})
    return data


def _project_statuses(ctx: Ctx, project: str) -> list[dict[str, Any]]:
    find_project(ctx.site, project)
    # The site has one workflow: every issue type of every project uses all its statuses.
    statuses = [status_json(s, ctx.base) for s in Status.objects.filter(site=ctx.site)]
    return [
        {
            "self": f"{ctx.base}{API}/issuetype/{t.type_id}",
            "id": t.type_id,
            "name": t.name,
            "subtask": t.subtask,
            "statuses": statuses,
        }
        for t in IssueType.objects.filter(site=ctx.site)
    ]


# ---------------------------------------------------------------------------------------------
# Create metadata
# ---------------------------------------------------------------------------------------------


def _createmeta_page(ctx: Ctx) -> tuple[int, int]:
    start = ctx.query_int("startAt", 0)
    size = ctx.query_int("maxResults", 50)
    if size > CREATEMETA_LIMIT:
        raise bad_request([f"Parameter 'maxResults' must not exceed the limit '{CREATEMETA_LIMIT}'"])
    return start, size


def _createmeta_types(ctx: Ctx, project: str) -> dict[str, Any]:
    find_project(ctx.site, project)
    start, size = _createmeta_page(ctx)
    types = list(IssueType.objects.filter(site=ctx.site))
    return {
        "startAt": start,
        "maxResults": size,
        "total": len(types),
        "issueTypes": [issue_type_json(t, ctx.base) for t in types[start : start + size]],
    }


def scheme_priorities(project: Project) -> list[Priority]:
    """The project's priority scheme, in order: the site's custom priorities, or the default five."""
    return list(
        Priority.objects.filter(site_id=project.site_id, custom=project.custom_priorities).order_by(
            "sequence"
        )
    )


@dataclass
class MetaContext:
    """What a createmeta field list needs, looked up once."""

    ctx: Ctx
    project: Project
    issue_type: IssueType
    priorities: list[Priority]


def _options(row: Field, meta: MetaContext) -> list[dict[str, Any]]:
    return [option_json(o, meta.ctx.base) for o in FieldOption.objects.filter(field=row, disabled=False)]


# The kind of a field's values (`schema.items` for arrays, else `schema.type`) → its allowedValues.
ALLOWED_VALUES: dict[str, Callable[[Field, MetaContext], list[dict[str, Any]]]] = {
    "option": _options,
    "priority": lambda row, meta: [priority_json(p, meta.ctx.base) for p in meta.priorities],
    "issuetype": lambda row, meta: [issue_type_json(meta.issue_type, meta.ctx.base)],
    "project": lambda row, meta: [project_json(meta.project, meta.ctx.base)],
}


def _default_priority(meta: MetaContext) -> dict[str, Any] | None:
    scheme = meta.priorities
    default = next((p for p in scheme if p.is_default), scheme[len(scheme) // 2] if scheme else None)
    return priority_json(default, meta.ctx.base) if default else None


# Field id → its default value on the create screen (Jira fills the scheme's default priority).
DEFAULT_VALUES: dict[str, Callable[[MetaContext], dict[str, Any] | None]] = {
    "priority": _default_priority,
}


def _autocomplete_url(row: Field, meta: MetaContext) -> str | None:
    """Where Jira's create screen looks up values of user and label fields."""
    schema = row.schema or {}
    kind = str(schema.get("items") or schema.get("type"))
    base, project = meta.ctx.base, meta.project
    if row.field_id == "assignee":
        return f"{base}{API}/user/assignable/search?project={project.key}&query="
    if kind == "user":
        return (
            f"{base}/rest/api/1.0/users/picker?fieldName={row.field_id}&fieldConfigId="
            f"&projectId={project.project_id}&showAvatar=true&query="
        )
    if kind == "string" and schema.get("type") == "array":
        return f"{base}/rest/api/1.0/labels/suggest?query="
    return None


def field_create_metadata(row: Field, required: bool, meta: MetaContext) -> dict[str, Any]:
    """FieldCreateMetadata: what a create screen says about one of its fields."""
    kind = kind_of(row)
    data: dict[str, Any] = {
        "required": required,
        "schema": row.schema,
        "name": row.name,
        "key": row.field_id,
        "fieldId": row.field_id,
        "operations": ["add", "set", "remove"] if kind is not None and kind.item else ["set"],
        "hasDefaultValue": False,
    }
    allowed = ALLOWED_VALUES.get(str(row.schema.get("items") or row.schema.get("type")))
    if allowed is not None:
        data["allowedValues"] = allowed(row, meta)
    default = DEFAULT_VALUES.get(row.field_id)
    value = default(meta) if default is not None else None
    if value is not None:
        data["hasDefaultValue"] = True
        data["defaultValue"] = value
    url = _autocomplete_url(row, meta)
    if url is not None:
        data["autoCompleteUrl"] = url
    return data


def _createmeta_fields(ctx: Ctx, project: str, type_id: str) -> dict[str, Any]:
    found = find_project(ctx.site, project)
    issue_type = IssueType.objects.filter(site=ctx.site, type_id=type_id).first()
    if issue_type is None:
        raise not_found(f"The issue type with id '{type_id}' does not exist.")
    start, size = _createmeta_page(ctx)
    meta = MetaContext(ctx, found, issue_type, scheme_priorities(found))
    rows = list(ScreenField.objects.filter(project=found).select_related("field").order_by("pk"))
    return {
        "startAt": start,
        "maxResults": size,
        "total": len(rows),
        "fields": [field_create_metadata(r.field, r.required, meta) for r in rows[start : start + size]],
    }


def _fields(ctx: Ctx) -> list[dict[str, Any]]:
    return [field_json(f) for f in Field.objects.filter(site=ctx.site)]


# ---------------------------------------------------------------------------------------------
# Priorities and priority schemes
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scheme:
    """One of the site's two priority schemes; `custom` says which priorities and projects it has."""

    scheme_id: str
    name: str
    description: str
    custom: bool


SCHEMES = (
    Scheme("1", "Default priority scheme", "The priorities every project uses unless told otherwise.", False),
    Scheme(
        "10000", "Custom priority scheme", "The site's own priorities, for the projects that opt in.", True
    ),
)


def _site_priority_json(priority: Priority, base: str) -> dict[str, Any]:
    # Outside a scheme, `isDefault` marks the site's default: the default scheme's default.
    return {**priority_json(priority, base), "isDefault": priority.is_default and not priority.custom}


def _priorities(ctx: Ctx) -> list[dict[str, Any]]:
    return [_site_priority_json(p, ctx.base) for p in Priority.objects.filter(site=ctx.site)]


def _priority_search(ctx: Ctx) -> dict[str, Any]:
    start = ctx.query_int("startAt", 0)
    size = ctx.query_int("maxResults", 50, maximum=USER_PAGE_LIMIT)
    project_ids = ctx.query_list("projectId")
    if project_ids:
        # Each project's scheme; there `isDefault` is the scheme's own default.
        schemes = set(
            Project.objects.filter(site=ctx.site, project_id__in=project_ids).values_list(
                "custom_priorities", flat=True
            )
        )
        rows = [
            priority_json(p, ctx.base) for p in Priority.objects.filter(site=ctx.site, custom__in=schemes)
        ]
    else:
        rows = _priorities(ctx)
    ids = set(ctx.query_list("id"))
    name = ctx.request.GET.get("priorityName", "").strip().lower()
    rows = [
        r
        for r in rows
        if (not ids or r["id"] in ids)
        and (not name or name in r["name"].lower())
        and (r["isDefault"] or not flag(ctx, "onlyDefault"))
    ]
    return page_bean(ctx, rows, start, size, lambda r: r)


def _scheme_rows(site: Site, scheme: Scheme) -> tuple[list[Priority], list[Project]]:
    priorities = list(Priority.objects.filter(site=site, custom=scheme.custom).order_by("sequence"))
    projects = list(Project.objects.filter(site=site, custom_priorities=scheme.custom))
    return priorities, projects


def _with_sequence(priorities: list[Priority], base: str) -> list[dict[str, Any]]:
    """PriorityWithSequence: the scheme's order (1-based, a string as Jira gives it)."""
    return [{**priority_json(p, base), "sequence": str(n)} for n, p in enumerate(priorities, start=1)]


def _project_details(project: Project, base: str) -> dict[str, Any]:
    return {
        "self": f"{base}{API}/project/{project.project_id}",
        "id": project.project_id,
        "key": project.key,
        "name": project.name,
        "avatarUrls": avatar_urls(base, "project", project.project_id),
        "projectTypeKey": "software",
        "simplified": False,
    }


def _nested_page(values: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "startAt": 0,
        "maxResults": 50,
        "total": len(values),
        "isLast": len(values) <= 50,
        "values": values[:50],
    }


def _scheme_json(site: Site, scheme: Scheme, base: str, expand: set[str]) -> dict[str, Any]:
    priorities, projects = _scheme_rows(site, scheme)
    default = next((p for p in priorities if p.is_default), None)
    data: dict[str, Any] = {
        "self": f"{base}{API}/priorityscheme/{scheme.scheme_id}",
        "id": scheme.scheme_id,
        "name": scheme.name,
        "description": scheme.description,
        "default": not scheme.custom,
    }
    if default is not None:
        data["defaultPriorityId"] = default.priority_id
    if "priorities" in expand:
        data["priorities"] = _nested_page(_with_sequence(priorities, base))
    if "projects" in expand:
        data["projects"] = _nested_page([_project_details(p, base) for p in projects])
    return data


def _site_schemes(site: Site) -> list[Scheme]:
    """The default scheme always; the custom one when the site has custom priorities or users of it."""
    has_custom = (
        Priority.objects.filter(site=site, custom=True).exists()
        or Project.objects.filter(site=site, custom_priorities=True).exists()
    )
    return [s for s in SCHEMES if not s.custom or has_custom]


def _no_connect(ctx: Ctx) -> None:
    # The spec marks priority schemes INACCESSIBLE to Connect apps.
    if ctx.identity.connect_install is not None:
        raise forbidden("Connect apps cannot access this resource.")


def _priority_schemes(ctx: Ctx) -> dict[str, Any]:
    _no_connect(ctx)
    start = ctx.query_int("startAt", 0)
    size = ctx.query_int("maxResults", 50, maximum=USER_PAGE_LIMIT)
    order_by = ctx.request.GET.get("orderBy", "+name") or "+name"
    if order_by.lstrip("+-") != "name":
        raise bad_request([f"The value '{order_by}' is invalid for the parameter 'orderBy'."])
    expand = set(ctx.query_list("expand"))
    scheme_ids = set(ctx.query_list("schemeId"))
    priority_ids = set(ctx.query_list("priorityId"))
    name = ctx.request.GET.get("schemeName", "").strip().lower()
    only_default = flag(ctx, "onlyDefault")
    schemes = [
        s
        for s in _site_schemes(ctx.site)
        if (not scheme_ids or s.scheme_id in scheme_ids)
        and (not name or name in s.name.lower())
        and (not only_default or not s.custom)
        and (
            not priority_ids
            or Priority.objects.filter(site=ctx.site, custom=s.custom, priority_id__in=priority_ids).exists()
        )
    ]
    schemes.sort(key=lambda s: s.name.lower(), reverse=order_by.startswith("-"))
    return page_bean(ctx, schemes, start, size, lambda s: _scheme_json(ctx.site, s, ctx.base, expand))


def _scheme_priorities(ctx: Ctx, scheme_id: str) -> dict[str, Any]:
    _no_connect(ctx)
    scheme = next((s for s in _site_schemes(ctx.site) if s.scheme_id == scheme_id), None)
    if scheme is None:
        raise not_found(f"The priority scheme with ID {scheme_id} could not be found.")
    start = ctx.query_int("startAt", 0)
    size = ctx.query_int("maxResults", 50, maximum=USER_PAGE_LIMIT)
    priorities, _ = _scheme_rows(ctx.site, scheme)
    return page_bean(ctx, _with_sequence(priorities, ctx.base), start, size, lambda r: r)


# ---------------------------------------------------------------------------------------------
# Statuses, status categories, attachment settings
# ---------------------------------------------------------------------------------------------

NO_CATEGORY = {"id": 1, "key": "undefined", "colorName": "medium-gray", "name": "No Category"}


def _status_categories(ctx: Ctx) -> list[dict[str, Any]]:
    undefined = {"self": f"{ctx.base}{API}/statuscategory/1", **NO_CATEGORY}
    known = sorted(CATEGORY, key=lambda key: CATEGORY[key]["id"])
    return [undefined, *(status_category_json(key, ctx.base) for key in known)]


def _statuses(ctx: Ctx) -> list[dict[str, Any]]:
    return [status_json(s, ctx.base) for s in Status.objects.filter(site=ctx.site)]


def _attachment_meta(ctx: Ctx) -> dict[str, Any]:
    return {"enabled": True, "uploadLimit": ctx.knobs.upload_limit}


def _get(handler: Callable[..., Any], scopes: tuple[str, ...], name: str) -> Callable[..., HttpResponse]:
    return endpoint({"GET": Route(handler, scopes=scopes)}, name=name)


urlpatterns = [
    path("myself", myself, name="myself"),
    path("user", _get(_user, USER, "/user"), name="user"),
    path(
        "user/assignable/search", _get(_assignable, USER, "/user/assignable/search"), name="user_assignable"
    ),
    path("project/search", _get(_project_search, READ, "/project/search"), name="project_search"),
    path(
        "project/<str:project>/statuses",
        _get(_project_statuses, READ, "/project/{projectIdOrKey}/statuses"),
        name="project_statuses",
    ),
    path("project/<str:project>", _get(_project, READ, "/project/{projectIdOrKey}"), name="project"),
    path(
        "issue/createmeta/<str:project>/issuetypes",
        _get(_createmeta_types, READ, "/issue/createmeta/{projectIdOrKey}/issuetypes"),
        name="createmeta_issuetypes",
    ),
    path(
        "issue/createmeta/<str:project>/issuetypes/<str:type_id>",
        _get(_createmeta_fields, READ, "/issue/createmeta/{projectIdOrKey}/issuetypes/{issueTypeId}"),
        name="createmeta_fields",
    ),
    path("field", _get(_fields, READ, "/field"), name="field"),
    path("priority", _get(_priorities, READ, "/priority"), name="priority"),
    path("priority/search", _get(_priority_search, CONFIG, "/priority/search"), name="priority_search"),
    path("priorityscheme", _get(_priority_schemes, CONFIG, "/priorityscheme"), name="priorityscheme"),
    path(
        "priorityscheme/<str:scheme_id>/priorities",
        _get(_scheme_priorities, CONFIG, "/priorityscheme/{schemeId}/priorities"),
        name="priorityscheme_priorities",
    ),
    path("statuscategory", _get(_status_categories, READ, "/statuscategory"), name="statuscategory"),
    path("status", _get(_statuses, READ, "/status"), name="status"),
    path("attachment/meta", _get(_attachment_meta, READ, "/attachment/meta"), name="attachment_meta"),
]
