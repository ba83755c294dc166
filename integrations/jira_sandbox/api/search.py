"""Search (API-NOTES §9): enhanced JQL search, approximate count, bulk fetch, and the old search's 410.

`search/jql` pages with an opaque `nextPageToken` (a signed JSON of the next offset, a digest of
the site and JQL, and the first page's moment; it expires after 7 days). Later pages leave out
issues created after that moment, so new issues do not shift the pages being walked.

Search staleness (the `search_staleness_s` knob): an issue whose `indexed_at` lies in the future is
not visible to search at all, neither matched nor returned, unless its id is in `reconcileIssues`.
This is a simplification: Jira would still show the previous, stale version of a changed issue;
the sandbox hides the issue until it is "indexed". bulkfetch reads the database, as Jira's issue
store is strongly consistent.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.core import signing
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from .. import jql, services
from ..models import Field, Issue, Site
from ..pipeline import READ, Ctx, Route, endpoint
from ..responses import bad_request, jira_json
from ..serializers import bean_columns, issue_json, wanted_fields

MAX_RESULTS = 5000
DEFAULT_MAX_RESULTS = 50
# Jira returns fewer issues per page when fields beyond `id`/`key` are asked for (API-NOTES §9.1).
MAX_RESULTS_WITH_FIELDS = 100
MAX_PROPERTIES = 5
MAX_RECONCILE = 50
MAX_BULKFETCH = 100
PAGE_SALT = "jira_sandbox.search.nextPageToken"
TOKEN_MAX_AGE = timedelta(days=7)
ID_ONLY = {"id", "key"}

UNBOUNDED = "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."
REMOVED = (
    "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
    "A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046"
)
STALE_PAGE = "The nextPageToken is invalid or has expired. Start the search again without it."


@dataclass
class Params:
    """What `search/jql` was asked, from the query string (GET) or the body (POST)."""

    jql: str = ""
    token: str | None = None
    max_results: int = DEFAULT_MAX_RESULTS
    fields: list[str] | None = None
    expand: set[str] = field(default_factory=set)
    properties: list[str] = field(default_factory=list)
    reconcile: list[int] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Reading the input
# ---------------------------------------------------------------------------------------------


def _strings(value: Any, name: str) -> list[str]:
    """A list parameter given as a JSON list or a comma-separated string."""
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(
        isinstance(v, str | int) and not isinstance(v, bool) for v in value
    ):
        raise bad_request([f"The parameter '{name}' must be a list of strings."])
    return [part.strip() for v in value for part in str(v).split(",") if part.strip()]


def _integer(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise bad_request([f"The value '{value}' is invalid for the parameter '{name}'."])
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise bad_request([f"The value '{value}' is invalid for the parameter '{name}'."]) from exc


def _checked(params: Params) -> Params:
    if not 1 <= params.max_results <= MAX_RESULTS:
        raise bad_request([f"The parameter 'maxResults' must be between 1 and {MAX_RESULTS}."])
    if len(params.properties) > MAX_PROPERTIES:
        raise bad_request([f"A maximum of {MAX_PROPERTIES} issue properties can be requested."])
    if len(params.reconcile) > MAX_RECONCILE:
        raise bad_request([f"The parameter 'reconcileIssues' accepts at most {MAX_RECONCILE} issue ids."])
    return params


def _query_params(ctx: Ctx) -> Params:
    get = ctx.request.GET
    raw_max = get.get("maxResults")
    return _checked(
        Params(
            jql=get.get("jql", ""),
            token=get.get("nextPageToken") or None,
            max_results=DEFAULT_MAX_RESULTS if raw_max in (None, "") else _integer(raw_max, "maxResults"),
            fields=ctx.query_list("fields") or None,
            expand=set(ctx.query_list("expand")),
            properties=ctx.query_list("properties"),
            reconcile=[_integer(v, "reconcileIssues") for v in ctx.query_list("reconcileIssues")],
        )
    )


def _body_params(ctx: Ctx) -> Params:
    body = ctx.body_object()
    text = body.get("jql") or ""
    if not isinstance(text, str):
        raise bad_request(["The parameter 'jql' must be a string."])
    token = body.get("nextPageToken")
    if token is not None and not isinstance(token, str):
        raise bad_request(["The parameter 'nextPageToken' must be a string."])
    raw_max = body.get("maxResults")
    return _checked(
        Params(
            jql=text,
            token=token or None,
            max_results=DEFAULT_MAX_RESULTS if raw_max is None else _integer(raw_max, "maxResults"),
            fields=_strings(body.get("fields"), "fields") or None,
            expand=set(_strings(body.get("expand"), "expand")),
            properties=_strings(body.get("properties"), "properties"),
            reconcile=[
                _integer(v, "reconcileIssues")
                for v in _strings(body.get("reconcileIssues"), "reconcileIssues")
            ],
        )
    )


def _compile(ctx: Ctx, text: str) -> tuple[Q, list[str]]:
    """The JQL as a filter and an ordering; Jira's 400 for bad or unbounded JQL."""
    try:
        if not jql.is_bounded(jql.parse(text)):
            raise bad_request([UNBOUNDED])
        return jql.issue_filter(ctx.site, text, account=ctx.account)
    except jql.JqlError as exc:
        raise bad_request([exc.message]) from exc


def searchable(site: Site, reconcile: list[int] | None = None) -> QuerySet[Issue]:
    """The site's issues the search index shows now: indexed ones, and the reconciled ids."""
    visible = Q(indexed_at__lte=timezone.now())
    if reconcile:
        visible |= Q(issue_id__in=reconcile)
    return Issue.objects.filter(site=site).filter(visible)


def _loading(
    issues: QuerySet[Issue], fields: list[str] | None, properties: list[str], default: str
) -> QuerySet[Issue]:
    """Only the columns (and people) the beans of these `fields` and `properties` show."""
    columns, people = bean_columns(_field_spec(fields), default_fields=default, properties=properties)
    issues = issues.only(*columns)
    # Never select_related() bare: with no names it follows every foreign key.
    return issues.select_related(*people) if people else issues


# ---------------------------------------------------------------------------------------------
# Issue beans
# ---------------------------------------------------------------------------------------------


def _field_spec(fields: list[str] | None) -> list[str] | None:
    # Only exclusions ("-description") mean "the navigable fields except those".
    if fields and all(f.startswith("-") for f in fields):
        return ["*navigable", *fields]
    return fields


def _bean(
    ctx: Ctx, issue: Issue, *, fields: list[str] | None, default: str, properties: list[str], expand: set[str]
) -> dict[str, Any]:
    wanted = list(issue.properties) if "*all" in properties else [p for p in properties if p[:1] != "-"]
    data = issue_json(
        issue,
        ctx.base,
        fields=_field_spec(fields),
        default_fields=default,
        properties=wanted,
        expand=expand,
    )
    if "transitions" in expand:
        from .issues import transition_json  # the issues module owns the TransitionBean shape

        data["transitions"] = [
            transition_json(t, issue, ctx.base, with_fields=False)
            for t in services.available_transitions(issue)
        ]
    return data


def _names_and_schema(site: Site, beans: list[dict[str, Any]], expand: set[str]) -> dict[str, Any]:
    """`expand=names,schema`: the display name and JsonTypeBean of every field shown."""
    if not expand & {"names", "schema"}:
        return {}
    shown = list(dict.fromkeys(fid for bean in beans for fid in bean.get("fields", {})))
    rows = {f.field_id: f for f in Field.objects.filter(site=site, field_id__in=shown)}
    extra: dict[str, Any] = {}
    if "names" in expand:
        extra["names"] = {fid: rows[fid].name for fid in shown if fid in rows}
    if "schema" in expand:
        extra["schema"] = {fid: rows[fid].schema for fid in shown if fid in rows and rows[fid].schema}
    return extra


# ---------------------------------------------------------------------------------------------
# Page tokens
# ---------------------------------------------------------------------------------------------


def _digest(site: Site, text: str) -> str:
    return hashlib.sha256(f"{site.pk}\n{text.strip()}".encode()).hexdigest()[:24]


def _make_token(site: Site, text: str, offset: int, snapshot: datetime) -> str:
    state = {"o": offset, "h": _digest(site, text), "t": int(snapshot.timestamp() * 1_000_000)}
    return signing.dumps(state, salt=PAGE_SALT, compress=True)


def _read_token(site: Site, text: str, token: str) -> tuple[int, datetime]:
    """(offset, the first page's moment) from a token; Jira's 400 for a forged, foreign or old one."""
    try:
        state = signing.loads(token, salt=PAGE_SALT, max_age=TOKEN_MAX_AGE)
        offset, digest, moment = int(state["o"]), str(state["h"]), int(state["t"])
    except (signing.BadSignature, KeyError, TypeError, ValueError) as exc:
        raise bad_request([STALE_PAGE]) from exc
    if digest != _digest(site, text) or offset < 0:
        raise bad_request([STALE_PAGE])
    return offset, datetime.fromtimestamp(moment / 1_000_000, tz=UTC)


# ---------------------------------------------------------------------------------------------
# Handlers
# ---------------------------------------------------------------------------------------------


def _page(ctx: Ctx, params: Params) -> tuple[list[Issue], str | None]:
    """One page of matching, visible issues, and the token of the next page (None on the last)."""
    q, order = _compile(ctx, params.jql)
    offset, snapshot = (0, timezone.now())
    if params.token:
        offset, snapshot = _read_token(ctx.site, params.jql, params.token)
    limit = params.max_results
    if wanted_fields(_field_spec(params.fields), default="id")[1] - ID_ONLY:
        limit = min(limit, MAX_RESULTS_WITH_FIELDS)
    found = searchable(ctx.site, params.reconcile).filter(q).filter(created__lte=snapshot).order_by(*order)
    found = _loading(found, params.fields, params.properties, "id")
    rows = list(found[offset : offset + limit + 1])
    if len(rows) <= limit:
        return rows, None
    return rows[:limit], _make_token(ctx.site, params.jql, offset + limit, snapshot)


def _search(ctx: Ctx) -> dict[str, Any]:
    params = _query_params(ctx) if ctx.request.method == "GET" else _body_params(ctx)
    if ctx.account is None:
        # Jira answers an anonymous search (or a rejected Basic token, with the fallback) with
        # an empty 200: nothing is browsable by nobody (API-NOTES §1d).
        return {"issues": [], "isLast": True}
    issues, token = _page(ctx, params)
    beans = [
        _bean(ctx, i, fields=params.fields, default="id", properties=params.properties, expand=params.expand)
        for i in issues
    ]
    result: dict[str, Any] = {"issues": beans, "isLast": token is None}
    if token is not None:
        result["nextPageToken"] = token
    result.update(_names_and_schema(ctx.site, beans, params.expand))
    return result


def _approximate_count(ctx: Ctx) -> dict[str, Any]:
    text = ctx.body_object().get("jql") or ""
    if not isinstance(text, str):
        raise bad_request(["The parameter 'jql' must be a string."])
    q, _ = _compile(ctx, text)
    return {"count": searchable(ctx.site).filter(q).count()}


def _bulkfetch(ctx: Ctx) -> dict[str, Any]:
    body = ctx.body_object()
    wanted = _strings(body.get("issueIdsOrKeys"), "issueIdsOrKeys")
    if not wanted:
        raise bad_request(["The parameter 'issueIdsOrKeys' must contain at least one issue id or key."])
    if len(wanted) > MAX_BULKFETCH:
        raise bad_request(
            [f"The parameter 'issueIdsOrKeys' accepts at most {MAX_BULKFETCH} issue ids or keys."]
        )
    properties = _strings(body.get("properties"), "properties")
    if len(properties) > MAX_PROPERTIES:
        raise bad_request([f"A maximum of {MAX_PROPERTIES} issue properties can be requested."])
    if ctx.account is None:
        return {"issues": [], "issueErrors": []}
    ids = [int(w) for w in wanted if w.isdigit()]
    keys = [w.upper() for w in wanted if not w.isdigit()]
    expand = set(_strings(body.get("expand"), "expand"))
    fields = _strings(body.get("fields"), "fields") or None
    issues = _loading(
        Issue.objects.filter(site=ctx.site)
        .filter(Q(issue_id__in=ids) | Q(key__in=keys))
        .order_by("issue_id"),
        fields,
        properties,
        "*navigable",
    )
    beans = []
    for issue in issues:
        bean = _bean(ctx, issue, fields=fields, default="*navigable", properties=properties, expand=expand)
        # BulkIssueResults has no top-level names/schema: each IssueBean carries its own.
        bean.update(_names_and_schema(ctx.site, [bean], expand))
        beans.append(bean)
    return {"issues": beans, "issueErrors": []}


def _removed(ctx: Ctx) -> HttpResponse:
    return jira_json({"errorMessages": [REMOVED], "errors": {}}, status=410)


search_jql = endpoint(
    {
        "GET": Route(_search, scopes=READ, anonymous=True),
        "POST": Route(_search, scopes=READ, anonymous=True, atomic=False),
    },
    name="/search/jql",
)
approximate_count = endpoint(
    {"POST": Route(_approximate_count, scopes=READ, atomic=False)}, name="/search/approximate-count"
)
bulkfetch = endpoint(
    {"POST": Route(_bulkfetch, scopes=READ, anonymous=True, atomic=False)}, name="/issue/bulkfetch"
)
old_search = endpoint(
    {
        "GET": Route(_removed, scopes=READ, anonymous=True),
        "POST": Route(_removed, scopes=READ, anonymous=True),
    },
    name="/search",
)


@csrf_exempt
@login_not_required
def old_search_id(request: HttpRequest, **kwargs: Any) -> HttpResponse:
    """`/search/id` is gone from Atlassian's spec altogether (removed with /search, CHANGE-2046),
    but Jira still answers it with the 410. Served through the same pipeline; this wrapper only
    hides its `routes`, so the spec-conformance listing (paths the spec has) leaves it out."""
    return old_search(request, **kwargs)


urlpatterns = [
    path("search/jql", search_jql, name="search_jql"),
    path("search/approximate-count", approximate_count, name="search_approximate_count"),
    path("search/id", old_search_id, name="search_id_removed"),
    path("search", old_search, name="search_removed"),
    path("issue/bulkfetch", bulkfetch, name="issue_bulkfetch"),
]
