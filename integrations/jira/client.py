"""The one HTTP client for Jira Cloud's REST API (DESIGN.md "Jira client").

It knows a base URL (a site such as https://acme.atlassian.net, or the gateway base
`{ATLASSIAN_API_URL}/ex/jira/{cloudId}`) and a `requests` auth object; nothing about connections,
models or tokens. One method per endpoint the product uses; every path is an `Endpoint` constant
that also says whether a call is safe to resend, which drives the retry policy (API-NOTES §10):

- 429, and 503 with Retry-After: wait what Jira asked (Retry-After, else X-RateLimit-Reset), else
  back off exponentially 2 s → 30 s with jitter; at most `MAX_RETRIES` retries, then
  `JiraRateLimited`. A wait longer than `MAX_WAIT_S` is not slept through (a worker must not
  block for an hourly quota reset): `JiraRateLimited` is raised at once for the caller to reschedule.
- connection errors and timeouts: retried only for idempotent calls. For a write that is not
  idempotent, a timeout or 5xx raises `JiraOutcomeUnknown`: the work may have been done.
- redirects are never followed to another host; a same-host redirect is followed for GETs only.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import requests
from django.conf import settings

from .errors import (
    JiraError,
    JiraOutcomeUnknown,
    JiraRedirected,
    JiraUnavailable,
    answered_anonymously,
    error_for,
    rate_limit_reason,
    retry_after_seconds,
)

logger = logging.getLogger(__name__)

JSON = dict[str, Any]
# (file name, content, MIME type): bytes, not a stream, so a rate-limited upload can be resent.
AttachmentUpload = tuple[str, bytes, str]

MAX_RETRIES = 4
BACKOFF_BASE_S = 2.0
BACKOFF_CAP_S = 30.0
JITTER = (0.7, 1.3)
# Longer waits (an hourly quota) are the caller's to schedule, not a worker's to sleep through.
MAX_WAIT_S = 60.0
MAX_REDIRECTS = 3
# Hard caps for the page iterators: a misbehaving server (or a huge site) cannot loop us forever.
MAX_PAGES = 200
MAX_ITEMS = 10_000
USER_AGENT = "Bugbridge (+jira-integration)"
# Failures raised before a byte of the request left: the call certainly did not happen.
NOT_SENT: tuple[type[requests.RequestException], ...] = (
    requests.ConnectTimeout,
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
    requests.exceptions.InvalidHeader,
)


@dataclass(frozen=True)
class Endpoint:
    """One Jira operation. `idempotent`: sending it twice leaves Jira as sending it once would,
    so it may be resent after a timeout. Read-only POSTs (search) are idempotent; creates are not."""

    method: str
    path: str
    idempotent: bool


API = "/rest/api/3"
MYSELF = Endpoint("GET", f"{API}/myself", True)
MY_PERMISSIONS = Endpoint("GET", f"{API}/mypermissions", True)
# Absolute, on ATLASSIAN_API_URL (not under the base URL), with the same auth.
ACCESSIBLE_RESOURCES = Endpoint("GET", "/oauth/token/accessible-resources", True)
PROJECT_SEARCH = Endpoint("GET", f"{API}/project/search", True)
CREATEMETA_ISSUE_TYPES = Endpoint("GET", f"{API}/issue/createmeta/{{project}}/issuetypes", True)
CREATEMETA_FIELDS = Endpoint("GET", f"{API}/issue/createmeta/{{project}}/issuetypes/{{issue_type}}", True)
FIELDS = Endpoint("GET", f"{API}/field", True)
PRIORITY_SEARCH = Endpoint("GET", f"{API}/priority/search", True)
PRIORITY_SCHEMES = Endpoint("GET", f"{API}/priorityscheme", True)
PRIORITY_SCHEME_PRIORITIES = Endpoint("GET", f"{API}/priorityscheme/{{scheme}}/priorities", True)
PROJECT_STATUSES = Endpoint("GET", f"{API}/project/{{project}}/statuses", True)
ASSIGNABLE_USERS = Endpoint("GET", f"{API}/user/assignable/search", True)
CREATE_ISSUE = Endpoint("POST", f"{API}/issue", False)
BULK_CREATE_ISSUES = Endpoint("POST", f"{API}/issue/bulk", False)
GET_ISSUE = Endpoint("GET", f"{API}/issue/{{issue}}", True)
# Setting fields to values is idempotent; `update` operations such as add/remove label are too.
EDIT_ISSUE = Endpoint("PUT", f"{API}/issue/{{issue}}", True)
DELETE_ISSUE = Endpoint("DELETE", f"{API}/issue/{{issue}}", True)
GET_TRANSITIONS = Endpoint("GET", f"{API}/issue/{{issue}}/transitions", True)
# A transition moves from the current status: run twice it may take a second hop, or fail.
DO_TRANSITION = Endpoint("POST", f"{API}/issue/{{issue}}/transitions", False)
GET_COMMENTS = Endpoint("GET", f"{API}/issue/{{issue}}/comment", True)
ADD_COMMENT = Endpoint("POST", f"{API}/issue/{{issue}}/comment", False)
UPDATE_COMMENT = Endpoint("PUT", f"{API}/issue/{{issue}}/comment/{{comment}}", True)
DELETE_COMMENT = Endpoint("DELETE", f"{API}/issue/{{issue}}/comment/{{comment}}", True)
SET_COMMENT_PROPERTY = Endpoint("PUT", f"{API}/comment/{{comment}}/properties/{{key}}", True)
GET_COMMENT_PROPERTY = Endpoint("GET", f"{API}/comment/{{comment}}/properties/{{key}}", True)
SET_ISSUE_PROPERTY = Endpoint("PUT", f"{API}/issue/{{issue}}/properties/{{key}}", True)
GET_ISSUE_PROPERTY = Endpoint("GET", f"{API}/issue/{{issue}}/properties/{{key}}", True)
DELETE_ISSUE_PROPERTY = Endpoint("DELETE", f"{API}/issue/{{issue}}/properties/{{key}}", True)
ADD_ATTACHMENTS = Endpoint("POST", f"{API}/issue/{{issue}}/attachments", False)
ATTACHMENT_META = Endpoint("GET", f"{API}/attachment/meta", True)
GET_ATTACHMENT = Endpoint("GET", f"{API}/attachment/{{attachment}}", True)
SEARCH_JQL = Endpoint("POST", f"{API}/search/jql", True)
BULK_FETCH = Endpoint("POST", f"{API}/issue/bulkfetch", True)
APPROXIMATE_COUNT = Endpoint("POST", f"{API}/search/approximate-count", True)
REGISTER_WEBHOOKS = Endpoint("POST", f"{API}/webhook", False)
LIST_WEBHOOKS = Endpoint("GET", f"{API}/webhook", True)
DELETE_WEBHOOKS = Endpoint("DELETE", f"{API}/webhook", True)
REFRESH_WEBHOOKS = Endpoint("PUT", f"{API}/webhook/refresh", True)
# Admin webhooks live under another prefix (API-NOTES §2.2), and only on the site URL.
ADMIN_WEBHOOKS = Endpoint("GET", "/rest/webhooks/1.0/webhook", True)
CREATE_ADMIN_WEBHOOK = Endpoint("POST", "/rest/webhooks/1.0/webhook", False)
DELETE_ADMIN_WEBHOOK = Endpoint("DELETE", "/rest/webhooks/1.0/webhook/{webhook}", True)

MAX_BULK_CREATE = 50
MAX_BULK_FETCH = 100
MAX_RECONCILE = 50
MAX_ATTACHMENTS_PER_CALL = 60


# --- pagination -------------------------------------------------------------------------------


def iter_offset_pages(
    fetch: Callable[[int, int], JSON],
    *,
    items_key: str | Sequence[str],
    page_size: int,
    max_pages: int = MAX_PAGES,
    max_items: int = MAX_ITEMS,
) -> Iterator[Any]:
    """Items of a startAt/maxResults listing, page by page, until `isLast`, `total`, an empty page
    or a cap. `items_key` may name alternatives (createmeta says `fields` or `results`)."""
    keys = (items_key,) if isinstance(items_key, str) else tuple(items_key)
    start, seen = 0, 0
    for _ in range(max_pages):
        page = fetch(start, page_size)
        items = next((page[key] for key in keys if isinstance(page.get(key), list)), [])
        for item in items:
            if seen >= max_items:
                logger.warning("jira.pagination.capped", extra={"items": seen})
                return
            seen += 1
            yield item
        # Jira may clamp maxResults (project search caps at 100): advance by what came back.
        start += len(items)
        total = page.get("total")
        if page.get("isLast") is True or not items or (isinstance(total, int) and start >= total):
            return
    logger.warning("jira.pagination.capped", extra={"pages": max_pages})


def iter_token_pages(
    fetch: Callable[[str | None], JSON],
    *,
    items_key: str,
    max_pages: int = MAX_PAGES,
    max_items: int = MAX_ITEMS,
) -> Iterator[Any]:
    """Items of a nextPageToken listing (search/jql) until the last page or a cap."""
    token: str | None = None
    seen = 0
    for _ in range(max_pages):
        page = fetch(token)
        items = page.get(items_key) if isinstance(page.get(items_key), list) else []
        for item in items:
            if seen >= max_items:
                logger.warning("jira.pagination.capped", extra={"items": seen})
                return
            seen += 1
            yield item
        next_token = page.get("nextPageToken")
        # A repeated token would loop forever on the same page.
        if (
            page.get("isLast") is True
            or not isinstance(next_token, str)
            or not next_token
            or next_token == token
        ):
            return
        token = next_token
    logger.warning("jira.pagination.capped", extra={"pages": max_pages})


def backoff_seconds(attempt: int, rng: random.Random) -> float:
    """Exponential backoff for retry `attempt` (0-based): 2, 4, 8, 16, 30 s times a 0.7 to 1.3 jitter,
    kept within 2 to 30 s. Jitter spreads workers that were limited together."""
    base = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**attempt)
    return min(BACKOFF_CAP_S, max(BACKOFF_BASE_S, base * rng.uniform(*JITTER)))


def _segment(value: str | int) -> str:
    # Path parameters are quoted whole: an issue key or property key can never add a path segment.
    return quote(str(value), safe="")


def _csv(values: Sequence[str] | None) -> str | None:
    return ",".join(values) if values else None


def _params(**values: Any) -> dict[str, Any]:
    """Query parameters without the unset ones; booleans as Jira spells them."""
    return {
        key: ("true" if value else "false") if isinstance(value, bool) else value
        for key, value in values.items()
        if value is not None
    }


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


class JiraClient:
    """Calls one Jira site, as one identity. See the module docstring for the retry policy."""

    def __init__(
        self,
        base_url: str,
        auth: requests.auth.AuthBase | None,
        *,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.session = session or requests.Session()
        self.sleep = sleep
        self.rng = rng or random.Random()
        # The caller's account id, from the X-AAccountId header of the latest answer that had it.
        self.account_id: str | None = None

    def __repr__(self) -> str:
        # Never the auth object: it may print a token.
        return f"JiraClient({self.base_url!r})"

    # --- transport ----------------------------------------------------------------------------

    def _url(self, endpoint: Endpoint, **path_params: str | int) -> str:
        path = endpoint.path.format(**{name: _segment(value) for name, value in path_params.items()})
        return f"{self.base_url}{path}"

    def _timeout(self) -> tuple[float, float]:
        return (settings.JIRA_CONNECT_TIMEOUT_S, settings.JIRA_READ_TIMEOUT_S)

    def _request(
        self,
        endpoint: Endpoint,
        *,
        url: str | None = None,
        path_params: dict[str, str | int] | None = None,
        params: dict[str, Any] | None = None,
        json: Any = None,
        files: Sequence[tuple[str, AttachmentUpload]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        """Send one call with the retry policy; return a 2xx response or raise a JiraError."""
        url = url or self._url(endpoint, **(path_params or {}))
        redirects = 0
        attempt = 0
        while True:
            response = self._send_once(
                endpoint, url, params=params, json=json, files=files, headers=headers, attempt=attempt
            )
            if response is None:  # a connection failure that may be retried
                attempt += 1
                continue
            if response.is_redirect:
                url = self._redirect_target(endpoint, url, response, redirects)
                redirects += 1
                params = None  # the Location already carries the query
                continue
            if response.status_code < 300:
                if answered_anonymously(response):
                    raise error_for(response)
                return response
            if self._should_retry(endpoint, response, attempt):
                self._wait(endpoint, response, attempt)
                attempt += 1
                continue
            raise self._failure(endpoint, response)

    def _send_once(
        self,
        endpoint: Endpoint,
        url: str,
        *,
        params: dict[str, Any] | None,
        json: Any,
        files: Sequence[tuple[str, AttachmentUpload]] | None,
        headers: dict[str, str] | None,
        attempt: int,
    ) -> requests.Response | None:
        started = time.monotonic()
        try:
            response = self.session.request(
                endpoint.method,
                url,
                params=params,
                json=json,
                files=files,
                headers={"Accept": "application/json", "User-Agent": USER_AGENT, **(headers or {})},
                auth=self.auth,
                timeout=self._timeout(),
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            self._connection_failed(endpoint, exc, attempt)
            self.sleep(backoff_seconds(attempt, self.rng))
            return None
        account_id = response.headers.get("X-AAccountId")
        if account_id:
            self.account_id = account_id
        logger.info(
            "jira.request",
            extra={
                "method": endpoint.method,
                "endpoint": endpoint.path,
                "status": response.status_code,
                "attempt": attempt,
                "elapsed_ms": round((time.monotonic() - started) * 1000),
            },
        )
        return response

    def _connection_failed(self, endpoint: Endpoint, exc: requests.RequestException, attempt: int) -> None:
        """Raise unless this failure may be retried (then the caller sleeps and tries again)."""
        kind = type(exc).__name__
        logger.warning(
            "jira.request.failed", extra={"method": endpoint.method, "endpoint": endpoint.path, "error": kind}
        )
        if isinstance(exc, NOT_SENT):
            # Nothing reached Jira: safe to report as "unavailable" even for a create. Still not
            # retried here for writes: the task layer owns their retries.
            if endpoint.idempotent and isinstance(exc, requests.ConnectTimeout) and attempt < MAX_RETRIES:
                return
            raise JiraUnavailable(status=None, messages=[f"Could not connect to Jira ({kind})."]) from exc
        if not endpoint.idempotent:
            # The request may have reached Jira and been done before the answer was lost.
            raise JiraOutcomeUnknown(status=None, messages=[f"No answer from Jira ({kind})."]) from exc
        if isinstance(exc, requests.Timeout | requests.ConnectionError) and attempt < MAX_RETRIES:
            return
        raise JiraUnavailable(status=None, messages=[f"No answer from Jira ({kind})."]) from exc

    def _redirect_target(
        self, endpoint: Endpoint, url: str, response: requests.Response, redirects: int
    ) -> str:
        target = urljoin(url, response.headers.get("Location", ""))
        same_origin = _origin(target) == _origin(url)
        if not same_origin or endpoint.method != "GET" or redirects >= MAX_REDIRECTS:
            # Another host would receive our credentials; a write cannot be replayed safely.
            host = urlsplit(target).netloc or "an unknown address"
            logger.warning(
                "jira.redirect.refused", extra={"endpoint": endpoint.path, "status": response.status_code}
            )
            raise JiraRedirected(
                status=response.status_code,
                location_host=host,
                messages=[f"Jira redirected {endpoint.method} {endpoint.path} to {host}; not followed."],
            )
        return target

    @staticmethod
    def _rate_limited(response: requests.Response) -> bool:
        # Some 503s carry Retry-After: Atlassian says treat them as a 429 (API-NOTES §10).
        return response.status_code == 429 or (
            response.status_code == 503 and bool(response.headers.get("Retry-After"))
        )

    def _should_retry(self, endpoint: Endpoint, response: requests.Response, attempt: int) -> bool:
        # A 503 without Retry-After is not retried here (Atlassian retries only 429 and 503 with
        # Retry-After): the task layer retries later, so retries do not multiply across layers.
        if attempt >= MAX_RETRIES or not self._rate_limited(response):
            return False
        # A 429 is refused at the door: Jira did not do the work, so even a create may be resent.
        # A 503 promises nothing of the sort, so only idempotent calls retry it.
        if response.status_code != 429 and not endpoint.idempotent:
            return False
        wait = retry_after_seconds(response)
        return wait is None or wait <= MAX_WAIT_S

    def _wait(self, endpoint: Endpoint, response: requests.Response, attempt: int) -> None:
        wait = retry_after_seconds(response)
        if wait is None:
            wait = backoff_seconds(attempt, self.rng)
        logger.info(
            "jira.rate_limited",
            extra={
                "endpoint": endpoint.path,
                "status": response.status_code,
                "reason": rate_limit_reason(response),
                "wait_s": round(wait, 2),
                "attempt": attempt,
            },
        )
        self.sleep(wait)

    @staticmethod
    def _failure(endpoint: Endpoint, response: requests.Response) -> JiraError:
        error = error_for(response)
        if response.status_code >= 500 and not endpoint.idempotent:
            # Even a 503 with Retry-After: nothing says Jira stopped before doing the work.
            return JiraOutcomeUnknown(status=response.status_code, messages=error.messages)
        return error

    # --- decoding -----------------------------------------------------------------------------

    @staticmethod
    def _decode(endpoint: Endpoint, response: requests.Response, expected: type) -> Any:
        """The JSON body, checked to be a dict or list. A success whose body cannot be read is
        `JiraOutcomeUnknown` for a write (it happened, but we cannot tell what it made)."""
        try:
            data = response.json()
        except ValueError:
            data = None
        if isinstance(data, expected):
            return data
        error_class = JiraUnavailable if endpoint.idempotent else JiraOutcomeUnknown
        raise error_class(
            status=response.status_code,
            messages=[f"Jira answered {endpoint.method} {endpoint.path} with an unreadable body."],
        )

    def _object(self, endpoint: Endpoint, **kwargs: Any) -> JSON:
        return self._decode(endpoint, self._request(endpoint, **kwargs), dict)

    def _list(self, endpoint: Endpoint, **kwargs: Any) -> list[Any]:
        return self._decode(endpoint, self._request(endpoint, **kwargs), list)

    def _no_content(self, endpoint: Endpoint, **kwargs: Any) -> None:
        self._request(endpoint, **kwargs)

    # --- identity -----------------------------------------------------------------------------

    def myself(self, *, expand: str | None = None) -> JSON:
        """The calling user (`accountId`, `displayName`, `timeZone`...). Needs a logged-in user,
        so it is the way to prove credentials work (an anonymous caller gets 401)."""
        return self._object(MYSELF, params=_params(expand=expand))

    def my_permissions(
        self, permissions: Sequence[str], *, project_key: str | None = None
    ) -> dict[str, bool]:
        """Whether the caller holds each permission key (`DELETE_ISSUES`, `ADMINISTER`...): in
        `project_key`, else in any project (global keys ignore the project). Jira wants at least one
        key and refuses unknown ones with a 400; a key missing from its answer counts as not held."""
        if not permissions:
            raise ValueError("ask about at least one permission")
        params = _params(projectKey=project_key, permissions=",".join(permissions))
        held = self._object(MY_PERMISSIONS, params=params).get("permissions") or {}
        return {
            key: isinstance(held.get(key), dict) and held[key].get("havePermission") is True
            for key in permissions
        }

    def accessible_resources(self) -> list[JSON]:
        """Sites this OAuth token can reach: `[{id (cloudId), url, name, scopes}]`. Lives on
        `ATLASSIAN_API_URL`, not under the base URL."""
        url = f"{settings.ATLASSIAN_API_URL.rstrip('/')}{ACCESSIBLE_RESOURCES.path}"
        return self._list(ACCESSIBLE_RESOURCES, url=url)

    # --- projects, issue types, fields ----------------------------------------------------------

    def search_projects(
        self,
        *,
        start_at: int = 0,
        max_results: int = 50,
        action: str = "create",
        query: str | None = None,
        expand: str | None = None,
    ) -> JSON:
        """One page of projects; `action=create` lists those the caller may create issues in."""
        params = _params(startAt=start_at, maxResults=max_results, action=action, query=query, expand=expand)
        return self._object(PROJECT_SEARCH, params=params)

    def iter_projects(
        self,
        *,
        action: str = "create",
        query: str | None = None,
        page_size: int = 50,
        max_items: int = MAX_ITEMS,
    ) -> Iterator[JSON]:
        """Every project (capped), following `isLast`."""
        return iter_offset_pages(
            lambda start, size: self.search_projects(
                start_at=start, max_results=size, action=action, query=query
            ),
            items_key="values",
            page_size=page_size,
            max_items=max_items,
        )

    def createmeta_issue_types(self, project: str, *, start_at: int = 0, max_results: int = 50) -> JSON:
        """One page of the issue types the caller can create in `project` (id or key)."""
        return self._object(
            CREATEMETA_ISSUE_TYPES,
            path_params={"project": project},
            params=_params(startAt=start_at, maxResults=max_results),
        )

    def iter_createmeta_issue_types(self, project: str, *, page_size: int = 50) -> Iterator[JSON]:
        return iter_offset_pages(
            lambda start, size: self.createmeta_issue_types(project, start_at=start, max_results=size),
            items_key="issueTypes",
            page_size=page_size,
        )

    def createmeta_fields(
        self, project: str, issue_type_id: str, *, start_at: int = 0, max_results: int = 50
    ) -> JSON:
        """One page of the create-screen fields for a project and issue type (`required`,
        `schema`, `allowedValues`...). The list is under `fields` (or `results`: the spec has both)."""
        return self._object(
            CREATEMETA_FIELDS,
            path_params={"project": project, "issue_type": issue_type_id},
            params=_params(startAt=start_at, maxResults=max_results),
        )

    def iter_createmeta_fields(
        self, project: str, issue_type_id: str, *, page_size: int = 50
    ) -> Iterator[JSON]:
        return iter_offset_pages(
            lambda start, size: self.createmeta_fields(
                project, issue_type_id, start_at=start, max_results=size
            ),
            items_key=("fields", "results"),
            page_size=page_size,
        )

    def fields(self) -> list[JSON]:
        """Every system and custom field the caller can see (not paged by Jira)."""
        return self._list(FIELDS)

    def search_priorities(
        self,
        *,
        project_ids: Sequence[str] | None = None,
        only_default: bool | None = None,
        start_at: int = 0,
        max_results: int = 50,
    ) -> JSON:
        """One page of priorities, optionally those of the given projects' schemes."""
        params = _params(
            startAt=start_at,
            maxResults=max_results,
            projectId=list(project_ids or []) or None,
            onlyDefault=only_default,
        )
        return self._object(PRIORITY_SEARCH, params=params)

    def iter_priorities(
        self, *, project_ids: Sequence[str] | None = None, page_size: int = 50
    ) -> Iterator[JSON]:
        return iter_offset_pages(
            lambda start, size: self.search_priorities(
                project_ids=project_ids, start_at=start, max_results=size
            ),
            items_key="values",
            page_size=page_size,
        )

    def priority_schemes(
        self, *, expand: str | None = None, start_at: int = 0, max_results: int = 50
    ) -> JSON:
        """One page of priority schemes; `expand="priorities,projects"` embeds both (paged)."""
        return self._object(
            PRIORITY_SCHEMES, params=_params(startAt=start_at, maxResults=max_results, expand=expand)
        )

    def iter_priority_schemes(self, *, expand: str | None = None, page_size: int = 50) -> Iterator[JSON]:
        return iter_offset_pages(
            lambda start, size: self.priority_schemes(expand=expand, start_at=start, max_results=size),
            items_key="values",
            page_size=page_size,
        )

    def priority_scheme_priorities(self, scheme_id: str, *, start_at: int = 0, max_results: int = 50) -> JSON:
        """One page of a scheme's priorities, in the scheme's order (`sequence`, `isDefault`)."""
        return self._object(
            PRIORITY_SCHEME_PRIORITIES,
            path_params={"scheme": scheme_id},
            params=_params(startAt=start_at, maxResults=max_results),
        )

    def project_priority_scheme(self, project_id: str) -> JSON | None:
        """The priority scheme a project uses, or None when none lists it. Jira has no filter by
        project, so this scans schemes with their (first page of) projects embedded."""
        for scheme in self.iter_priority_schemes(expand="projects"):
            projects = scheme.get("projects") if isinstance(scheme.get("projects"), dict) else {}
            values = projects.get("values") if isinstance(projects.get("values"), list) else []
            if any(isinstance(p, dict) and str(p.get("id")) == str(project_id) for p in values):
                return scheme
        return None

    def project_statuses(self, project: str) -> list[JSON]:
        """Statuses per issue type of a project (each with its `statusCategory`)."""
        return self._list(PROJECT_STATUSES, path_params={"project": project})

    def assignable_users(
        self,
        *,
        project: str | None = None,
        issue_key: str | None = None,
        query: str | None = None,
        account_id: str | None = None,
        start_at: int = 0,
        max_results: int = 50,
    ) -> list[JSON]:
        """Users who can be assigned issues in `project` (or on `issue_key`), matching exactly one
        of `query` (name/email prefix) or `account_id`. Jira often returns fewer than asked."""
        if (project is None) == (issue_key is None):
            raise ValueError("give exactly one of project or issue_key")
        if (query is None) == (account_id is None):
            raise ValueError("give exactly one of query or account_id")
        params = _params(
            project=project,
            issueKey=issue_key,
            query=query,
            accountId=account_id,
            startAt=start_at,
            maxResults=max_results,
        )
        return self._list(ASSIGNABLE_USERS, params=params)

    # --- issues -------------------------------------------------------------------------------

    def create_issue(
        self, fields: JSON, *, update: JSON | None = None, properties: list[JSON] | None = None
    ) -> JSON:
        """Create one issue: `{id, key, self}`. Not resent after a timeout or 5xx
        (`JiraOutcomeUnknown`): look the issue up before creating again."""
        body: JSON = {"fields": fields}
        if update:
            body["update"] = update
        if properties:
            body["properties"] = properties
        return self._object(CREATE_ISSUE, json=body)

    def bulk_create_issues(self, issue_updates: Sequence[JSON]) -> JSON:
        """Create up to 50 issues: `{issues, errors}`. A 201 may still carry per-issue `errors`."""
        if not 0 < len(issue_updates) <= MAX_BULK_CREATE:
            raise ValueError(f"bulk create takes 1 to {MAX_BULK_CREATE} issues")
        return self._object(BULK_CREATE_ISSUES, json={"issueUpdates": list(issue_updates)})

    def get_issue(
        self,
        issue: str,
        *,
        fields: Sequence[str] | None = None,
        expand: str | None = None,
        properties: Sequence[str] | None = None,
    ) -> JSON:
        """One issue by id or key (a moved issue's old key resolves to the new one)."""
        params = _params(fields=_csv(fields), expand=expand, properties=_csv(properties))
        return self._object(GET_ISSUE, path_params={"issue": issue}, params=params)

    def edit_issue(
        self,
        issue: str,
        *,
        fields: JSON | None = None,
        update: JSON | None = None,
        history_metadata: JSON | None = None,
        notify_users: bool = True,
    ) -> None:
        """Edit fields. `notify_users=False` keeps Jira from emailing watchers (needs admin
        rights for some callers). Jira ignores a `transition` here: use `transition_issue`."""
        body: JSON = {}
        if fields:
            body["fields"] = fields
        if update:
            body["update"] = update
        if history_metadata:
            body["historyMetadata"] = history_metadata
        params = None if notify_users else _params(notifyUsers=False)
        self._no_content(EDIT_ISSUE, path_params={"issue": issue}, params=params, json=body)

    def delete_issue(self, issue: str, *, delete_subtasks: bool = False) -> None:
        """Delete an issue (400 if it has subtasks and `delete_subtasks` is False)."""
        params = _params(deleteSubtasks=True) if delete_subtasks else None
        self._no_content(DELETE_ISSUE, path_params={"issue": issue}, params=params)

    def get_transitions(self, issue: str, *, with_fields: bool = False) -> list[JSON]:
        """Transitions available from the issue's current status (empty without the permission,
        not an error). `with_fields` adds each transition screen's fields."""
        params = _params(expand="transitions.fields") if with_fields else None
        data = self._object(GET_TRANSITIONS, path_params={"issue": issue}, params=params)
        transitions = data.get("transitions")
        return transitions if isinstance(transitions, list) else []

    def transition_issue(
        self,
        issue: str,
        transition_id: str,
        *,
        fields: JSON | None = None,
        update: JSON | None = None,
        history_metadata: JSON | None = None,
    ) -> None:
        """Move the issue through a transition (not resent on timeout or 5xx)."""
        body: JSON = {"transition": {"id": str(transition_id)}}
        if fields:
            body["fields"] = fields
        if update:
            body["update"] = update
        if history_metadata:
            body["historyMetadata"] = history_metadata
        self._no_content(DO_TRANSITION, path_params={"issue": issue}, json=body)

    # --- comments and properties --------------------------------------------------------------

    def get_comments(
        self,
        issue: str,
        *,
        start_at: int = 0,
        max_results: int = 100,
        order_by: str = "created",
        expand: str | None = None,
    ) -> JSON:
        """One page of comments: `{startAt, maxResults, total, comments}`."""
        params = _params(startAt=start_at, maxResults=max_results, orderBy=order_by, expand=expand)
        return self._object(GET_COMMENTS, path_params={"issue": issue}, params=params)

    def iter_comments(
        self, issue: str, *, page_size: int = 100, max_items: int = MAX_ITEMS
    ) -> Iterator[JSON]:
        return iter_offset_pages(
            lambda start, size: self.get_comments(issue, start_at=start, max_results=size),
            items_key="comments",
            page_size=page_size,
            max_items=max_items,
        )

    def add_comment(
        self,
        issue: str,
        body: JSON,
        *,
        visibility: JSON | None = None,
        properties: list[JSON] | None = None,
    ) -> JSON:
        """Add a comment (`body` is an ADF document); `properties` tag it at creation (echo
        suppression). Not resent on timeout or 5xx."""
        payload: JSON = {"body": body}
        if visibility:
            payload["visibility"] = visibility
        if properties:
            payload["properties"] = properties
        return self._object(ADD_COMMENT, path_params={"issue": issue}, json=payload)

    def update_comment(
        self,
        issue: str,
        comment_id: str,
        body: JSON,
        *,
        properties: list[JSON] | None = None,
        notify_users: bool = True,
    ) -> JSON:
        """Replace a comment's body (ADF)."""
        payload: JSON = {"body": body}
        if properties:
            payload["properties"] = properties
        params = None if notify_users else _params(notifyUsers=False)
        return self._object(
            UPDATE_COMMENT, path_params={"issue": issue, "comment": comment_id}, params=params, json=payload
        )

    def delete_comment(self, issue: str, comment_id: str) -> None:
        self._no_content(DELETE_COMMENT, path_params={"issue": issue, "comment": comment_id})

    def set_comment_property(self, comment_id: str, key: str, value: Any) -> None:
        """Store JSON (non-empty, ≤ 32 KB) on a comment under `key`."""
        self._no_content(SET_COMMENT_PROPERTY, path_params={"comment": comment_id, "key": key}, json=value)

    def get_comment_property(self, comment_id: str, key: str) -> JSON:
        """`{key, value}`; JiraNotFound when the comment or the property is missing."""
        return self._object(GET_COMMENT_PROPERTY, path_params={"comment": comment_id, "key": key})

    def set_issue_property(self, issue: str, key: str, value: Any) -> None:
        """Store JSON on an issue. Anyone who can edit the issue can change it: no secrets."""
        self._no_content(SET_ISSUE_PROPERTY, path_params={"issue": issue, "key": key}, json=value)

    def get_issue_property(self, issue: str, key: str) -> JSON:
        return self._object(GET_ISSUE_PROPERTY, path_params={"issue": issue, "key": key})

    def delete_issue_property(self, issue: str, key: str) -> None:
        self._no_content(DELETE_ISSUE_PROPERTY, path_params={"issue": issue, "key": key})

    # --- attachments --------------------------------------------------------------------------

    def add_attachments(self, issue: str, files: Sequence[AttachmentUpload]) -> list[JSON]:
        """Upload files in one multipart call (each part named `file`, as Jira requires).
        Not resent on timeout or 5xx."""
        if not 0 < len(files) <= MAX_ATTACHMENTS_PER_CALL:
            raise ValueError(f"attach 1 to {MAX_ATTACHMENTS_PER_CALL} files per call")
        return self._list(
            ADD_ATTACHMENTS,
            path_params={"issue": issue},
            files=[("file", upload) for upload in files],
            # Without it Jira's XSRF check blocks the upload.
            headers={"X-Atlassian-Token": "no-check"},
        )

    def attachment_meta(self) -> JSON:
        """`{enabled, uploadLimit}`: whether attachments are on and the site's size limit (bytes)."""
        return self._object(ATTACHMENT_META)

    def get_attachment(self, attachment_id: str) -> JSON:
        """An attachment's metadata (`filename`, `size`, `mimeType`, `content` URL...)."""
        return self._object(GET_ATTACHMENT, path_params={"attachment": attachment_id})

    # --- search -------------------------------------------------------------------------------

    def search_jql(
        self,
        jql: str,
        *,
        fields: Sequence[str] = ("summary", "status", "priority", "updated"),
        next_page_token: str | None = None,
        max_results: int = 100,
        expand: str | None = None,
        properties: Sequence[str] | None = None,
        reconcile_issues: Sequence[int] | None = None,
    ) -> JSON:
        """One page of an enhanced JQL search: `{issues, nextPageToken?, isLast}`. The JQL must be
        bounded; `reconcile_issues` (≤ 50 ids) forces read-after-write for issues just changed."""
        if reconcile_issues and len(reconcile_issues) > MAX_RECONCILE:
            raise ValueError(f"reconcile at most {MAX_RECONCILE} issues")
        body: JSON = {"jql": jql, "maxResults": max_results, "fields": list(fields)}
        if next_page_token:
            body["nextPageToken"] = next_page_token
        if expand:
            body["expand"] = expand
        if properties:
            body["properties"] = list(properties)
        if reconcile_issues:
            body["reconcileIssues"] = [int(issue_id) for issue_id in reconcile_issues]
        return self._object(SEARCH_JQL, json=body)

    def iter_search(
        self,
        jql: str,
        *,
        fields: Sequence[str] = ("summary", "status", "priority", "updated"),
        page_size: int = 100,
        reconcile_issues: Sequence[int] | None = None,
        max_pages: int = MAX_PAGES,
        max_items: int = MAX_ITEMS,
    ) -> Iterator[JSON]:
        """Every matching issue (capped), following nextPageToken; the same reconcile list is
        sent with every page, as Jira requires."""
        return iter_token_pages(
            lambda token: self.search_jql(
                jql,
                fields=fields,
                next_page_token=token,
                max_results=page_size,
                reconcile_issues=reconcile_issues,
            ),
            items_key="issues",
            max_pages=max_pages,
            max_items=max_items,
        )

    def bulk_fetch_issues(
        self,
        issue_ids_or_keys: Sequence[str],
        *,
        fields: Sequence[str] | None = None,
        expand: Sequence[str] | None = None,
        properties: Sequence[str] | None = None,
    ) -> JSON:
        """Up to 100 issues at once: `{issues, issueErrors}`; missing or hidden ones are just absent."""
        if not 0 < len(issue_ids_or_keys) <= MAX_BULK_FETCH:
            raise ValueError(f"bulk fetch takes 1 to {MAX_BULK_FETCH} issues")
        body: JSON = {"issueIdsOrKeys": list(issue_ids_or_keys)}
        if fields:
            body["fields"] = list(fields)
        if expand:
            body["expand"] = list(expand)
        if properties:
            body["properties"] = list(properties)
        return self._object(BULK_FETCH, json=body)

    def approximate_count(self, jql: str) -> int:
        """An estimate of how many issues match a bounded JQL (the new search has no total)."""
        data = self._object(APPROXIMATE_COUNT, json={"jql": jql})
        count = data.get("count")
        return count if isinstance(count, int) else 0

    # --- dynamic webhooks (OAuth 2.0 and Connect apps) ------------------------------------------

    def register_webhooks(self, url: str, webhooks: Sequence[JSON]) -> list[JSON]:
        """Register webhooks for the app's one callback URL. Returns `webhookRegistrationResult`
        in request order: each `{createdWebhookId}` or `{errors}` (entries fail on their own)."""
        data = self._object(REGISTER_WEBHOOKS, json={"url": url, "webhooks": list(webhooks)})
        results = data.get("webhookRegistrationResult")
        return results if isinstance(results, list) else []

    def list_webhooks(self, *, start_at: int = 0, max_results: int = 100) -> JSON:
        """One page of this app's dynamic webhooks (with `expirationDate`)."""
        return self._object(LIST_WEBHOOKS, params=_params(startAt=start_at, maxResults=max_results))

    def iter_webhooks(self, *, page_size: int = 100) -> Iterator[JSON]:
        return iter_offset_pages(
            lambda start, size: self.list_webhooks(start_at=start, max_results=size),
            items_key="values",
            page_size=page_size,
        )

    def delete_webhooks(self, webhook_ids: Sequence[int]) -> None:
        """Remove webhooks by id (ids of other apps are silently ignored by Jira)."""
        self._no_content(DELETE_WEBHOOKS, json={"webhookIds": [int(i) for i in webhook_ids]})

    def refresh_webhooks(self, webhook_ids: Sequence[int]) -> JSON:
        """Push the 30-day expiry out again: `{expirationDate}`."""
        return self._object(REFRESH_WEBHOOKS, json={"webhookIds": [int(i) for i in webhook_ids]})

    # --- admin webhooks (site URL, Jira admin) ----------------------------------------------------

    def list_admin_webhooks(self) -> list[JSON]:
        return self._list(ADMIN_WEBHOOKS)

    def create_admin_webhook(
        self,
        *,
        name: str,
        url: str,
        events: Sequence[str],
        jql: str | None = None,
        secret: str | None = None,
        exclude_body: bool = False,
    ) -> JSON:
        """Register a site webhook (needs Jira admin). With `secret`, deliveries are signed
        (`X-Hub-Signature`). Admin webhooks do not expire."""
        body: JSON = {"name": name, "url": url, "events": list(events), "excludeBody": exclude_body}
        if jql:
            body["filters"] = {"issue-related-events-section": jql}
        if secret:
            body["secret"] = secret
        return self._object(CREATE_ADMIN_WEBHOOK, json=body)

    def delete_admin_webhook(self, webhook_id: int) -> None:
        self._no_content(DELETE_ADMIN_WEBHOOK, path_params={"webhook": webhook_id})
