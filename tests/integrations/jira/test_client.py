"""The Jira client's wire contract: what each method sends (checked against Atlassian's spec),
how answers and failures come back, and the retry, redirect and pagination policies."""

from __future__ import annotations

import base64
import json
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from responses import matchers

from integrations.jira import client as wire
from integrations.jira.client import JiraClient, backoff_seconds
from integrations.jira.errors import (
    JiraAuthError,
    JiraNotFound,
    JiraOutcomeUnknown,
    JiraRateLimited,
    JiraRedirected,
    JiraUnavailable,
    JiraValidationError,
)

from . import spec

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "jira"
SITE = "https://acme.atlassian.net"
GATEWAY = "https://api.atlassian.com/ex/jira/1324a887-45db-1bf4-1e99-ef0ff456d421"
API_URL = "https://api.atlassian.com"
EMAIL, TOKEN = "mia@example.com", "ATATT3xFfGF0-secret-token"
BASIC = "Basic " + base64.b64encode(f"{EMAIL}:{TOKEN}".encode()).decode()
ADF = {
    "type": "doc",
    "version": 1,
    "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Hi"}]}],
}
JQL = 'project = APP AND updated >= "2026/11/28 10:00" ORDER BY updated ASC'


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


@pytest.fixture(autouse=True)
def _jira_settings(settings: Any) -> None:
    settings.ATLASSIAN_API_URL = API_URL
    settings.JIRA_CONNECT_TIMEOUT_S = 1.5
    settings.JIRA_READ_TIMEOUT_S = 9.0


class FakeSleep:
    """Records waits instead of sleeping."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def sleep() -> FakeSleep:
    return FakeSleep()


def make_client(base: str = SITE, sleep: Callable[[float], None] | None = None) -> JiraClient:
    return JiraClient(
        base, requests.auth.HTTPBasicAuth(EMAIL, TOKEN), sleep=sleep or FakeSleep(), rng=random.Random(7)
    )


@pytest.fixture
def client(sleep: FakeSleep) -> JiraClient:
    return make_client(SITE, sleep)


# --- the contract table -------------------------------------------------------------------------


@dataclass
class Case:
    name: str
    call: Callable[[JiraClient], Any]
    method: str
    path: str  # after the base URL (or absolute, for accessible resources)
    fixture: str | None = None
    status: int = 200
    query: dict[str, list[str]] = field(default_factory=dict)
    body: Any = None
    result: Callable[[Any], bool] = lambda result: True


CREATE_FIELDS = {
    "project": {"id": "10000"},
    "issuetype": {"id": "10004"},
    "summary": "Crash",
    "description": ADF,
}
PROPERTY = [{"key": "com.bugbridge.report", "value": {"report": 12}}]
WEBHOOKS = [{"events": ["jira:issue_updated", "comment_created"], "jqlFilter": "project = APP"}]

CASES = [
    Case(
        "myself",
        lambda c: c.myself(),
        "GET",
        "/rest/api/3/myself",
        "myself",
        result=lambda r: r["accountId"] == "5b10ac8d82e05b22cc7d4ef5",
    ),
    Case(
        "my_permissions",
        lambda c: c.my_permissions(["DELETE_ISSUES", "CREATE_ISSUES"], project_key="APP"),
        "GET",
        "/rest/api/3/mypermissions",
        "my_permissions",
        query={"projectKey": ["APP"], "permissions": ["DELETE_ISSUES,CREATE_ISSUES"]},
        result=lambda r: r == {"DELETE_ISSUES": False, "CREATE_ISSUES": True},
    ),
    Case(
        "accessible_resources",
        lambda c: c.accessible_resources(),
        "GET",
        f"{API_URL}/oauth/token/accessible-resources",
        "accessible_resources",
        result=lambda r: r[0]["id"] == "1324a887-45db-1bf4-1e99-ef0ff456d421",
    ),
    Case(
        "search_projects",
        lambda c: c.search_projects(query="app"),
        "GET",
        "/rest/api/3/project/search",
        "search_projects__page1",
        query={"startAt": ["0"], "maxResults": ["50"], "action": ["create"], "query": ["app"]},
        result=lambda r: r["values"][0]["key"] == "APP",
    ),
    Case(
        "createmeta_issue_types",
        lambda c: c.createmeta_issue_types("APP"),
        "GET",
        "/rest/api/3/issue/createmeta/APP/issuetypes",
        "createmeta_issue_types",
        query={"startAt": ["0"], "maxResults": ["50"]},
        result=lambda r: r["issueTypes"][0]["name"] == "Bug",
    ),
    Case(
        "createmeta_fields",
        lambda c: c.createmeta_fields("APP", "10004", start_at=50, max_results=200),
        "GET",
        "/rest/api/3/issue/createmeta/APP/issuetypes/10004",
        "createmeta_fields",
        query={"startAt": ["50"], "maxResults": ["200"]},
        result=lambda r: r["fields"][0]["fieldId"] == "summary",
    ),
    Case(
        "fields",
        lambda c: c.fields(),
        "GET",
        "/rest/api/3/field",
        "fields",
        result=lambda r: r[1]["id"] == "customfield_10050",
    ),
    Case(
        "search_priorities",
        lambda c: c.search_priorities(project_ids=["10000", "10001"]),
        "GET",
        "/rest/api/3/priority/search",
        "search_priorities",
        query={"startAt": ["0"], "maxResults": ["50"], "projectId": ["10000", "10001"]},
        result=lambda r: r["values"][1]["isDefault"] is True,
    ),
    Case(
        "priority_schemes",
        lambda c: c.priority_schemes(expand="priorities,projects"),
        "GET",
        "/rest/api/3/priorityscheme",
        "priority_schemes",
        query={"startAt": ["0"], "maxResults": ["50"], "expand": ["priorities,projects"]},
        result=lambda r: r["values"][0]["default"] is True,
    ),
    Case(
        "priority_scheme_priorities",
        lambda c: c.priority_scheme_priorities("10001"),
        "GET",
        "/rest/api/3/priorityscheme/10001/priorities",
        "priority_scheme_priorities",
        query={"startAt": ["0"], "maxResults": ["50"]},
        result=lambda r: r["values"][0]["name"] == "Show Stopper",
    ),
    Case(
        "project_statuses",
        lambda c: c.project_statuses("APP"),
        "GET",
        "/rest/api/3/project/APP/statuses",
        "project_statuses",
        result=lambda r: r[0]["statuses"][1]["statusCategory"]["key"] == "done",
    ),
    Case(
        "assignable_users",
        lambda c: c.assignable_users(project="APP", query="mi"),
        "GET",
        "/rest/api/3/user/assignable/search",
        "assignable_users",
        query={"project": ["APP"], "query": ["mi"], "startAt": ["0"], "maxResults": ["50"]},
        result=lambda r: r[0]["displayName"] == "Mia Krystof",
    ),
    Case(
        "create_issue",
        lambda c: c.create_issue(CREATE_FIELDS, properties=PROPERTY),
        "POST",
        "/rest/api/3/issue",
        "create_issue",
        201,
        body={"fields": CREATE_FIELDS, "properties": PROPERTY},
        result=lambda r: r["key"] == "APP-42",
    ),
    Case(
        "bulk_create_issues",
        lambda c: c.bulk_create_issues([{"fields": CREATE_FIELDS}, {"fields": {}}]),
        "POST",
        "/rest/api/3/issue/bulk",
        "bulk_create_issues__partial",
        201,
        body={"issueUpdates": [{"fields": CREATE_FIELDS}, {"fields": {}}]},
        result=lambda r: r["errors"][0]["failedElementNumber"] == 1,
    ),
    Case(
        "get_issue",
        lambda c: c.get_issue(
            "APP-42",
            fields=["summary", "status"],
            expand="renderedFields",
            properties=["com.bugbridge.report"],
        ),
        "GET",
        "/rest/api/3/issue/APP-42",
        "get_issue",
        query={
            "fields": ["summary,status"],
            "expand": ["renderedFields"],
            "properties": ["com.bugbridge.report"],
        },
        result=lambda r: r["id"] == "10042",
    ),
    Case(
        "edit_issue",
        lambda c: c.edit_issue("APP-42", fields={"priority": {"id": "2"}}, notify_users=False),
        "PUT",
        "/rest/api/3/issue/APP-42",
        None,
        204,
        query={"notifyUsers": ["false"]},
        body={"fields": {"priority": {"id": "2"}}},
        result=lambda r: r is None,
    ),
    Case(
        "delete_issue",
        lambda c: c.delete_issue("APP-42", delete_subtasks=True),
        "DELETE",
        "/rest/api/3/issue/APP-42",
        None,
        204,
        query={"deleteSubtasks": ["true"]},
    ),
    Case(
        "get_transitions",
        lambda c: c.get_transitions("APP-42", with_fields=True),
        "GET",
        "/rest/api/3/issue/APP-42/transitions",
        "get_transitions",
        query={"expand": ["transitions.fields"]},
        result=lambda r: r[0]["to"]["statusCategory"]["key"] == "done",
    ),
    Case(
        "transition_issue",
        lambda c: c.transition_issue("APP-42", "31", update={"comment": [{"add": {"body": ADF}}]}),
        "POST",
        "/rest/api/3/issue/APP-42/transitions",
        None,
        204,
        body={"transition": {"id": "31"}, "update": {"comment": [{"add": {"body": ADF}}]}},
    ),
    Case(
        "get_comments",
        lambda c: c.get_comments("APP-42"),
        "GET",
        "/rest/api/3/issue/APP-42/comment",
        "get_comments",
        query={"startAt": ["0"], "maxResults": ["100"], "orderBy": ["created"]},
        result=lambda r: r["comments"][0]["id"] == "10100",
    ),
    Case(
        "add_comment",
        lambda c: c.add_comment("APP-42", ADF, properties=PROPERTY),
        "POST",
        "/rest/api/3/issue/APP-42/comment",
        "add_comment",
        201,
        body={"body": ADF, "properties": PROPERTY},
        result=lambda r: r["id"] == "10101",
    ),
    Case(
        "update_comment",
        lambda c: c.update_comment("APP-42", "10101", ADF, notify_users=False),
        "PUT",
        "/rest/api/3/issue/APP-42/comment/10101",
        "add_comment",
        query={"notifyUsers": ["false"]},
        body={"body": ADF},
        result=lambda r: r["id"] == "10101",
    ),
    Case(
        "delete_comment",
        lambda c: c.delete_comment("APP-42", "10101"),
        "DELETE",
        "/rest/api/3/issue/APP-42/comment/10101",
        None,
        204,
    ),
    Case(
        "set_comment_property",
        lambda c: c.set_comment_property("10101", "com.bugbridge.sync", {"origin": "bb"}),
        "PUT",
        "/rest/api/3/comment/10101/properties/com.bugbridge.sync",
        None,
        201,
        body={"origin": "bb"},
    ),
    Case(
        "get_comment_property",
        lambda c: c.get_comment_property("10101", "com.bugbridge.sync"),
        "GET",
        "/rest/api/3/comment/10101/properties/com.bugbridge.sync",
        "get_comment_property",
        result=lambda r: r["value"]["origin"] == "bugbridge",
    ),
    Case(
        "set_issue_property",
        lambda c: c.set_issue_property("APP-42", "com.bugbridge.report", {"report": 12}),
        "PUT",
        "/rest/api/3/issue/APP-42/properties/com.bugbridge.report",
        None,
        200,
        body={"report": 12},
    ),
    Case(
        "get_issue_property",
        lambda c: c.get_issue_property("APP-42", "com.bugbridge.report"),
        "GET",
        "/rest/api/3/issue/APP-42/properties/com.bugbridge.report",
        "get_issue_property",
        result=lambda r: r["value"]["report"] == 12,
    ),
    Case(
        "delete_issue_property",
        lambda c: c.delete_issue_property("APP-42", "com.bugbridge.report"),
        "DELETE",
        "/rest/api/3/issue/APP-42/properties/com.bugbridge.report",
        None,
        204,
    ),
    Case(
        "add_attachments",
        lambda c: c.add_attachments("APP-42", [("screenshot.png", b"\x89PNG\r\n", "image/png")]),
        "POST",
        "/rest/api/3/issue/APP-42/attachments",
        "add_attachments",
        result=lambda r: r[0]["filename"] == "screenshot.png",
    ),
    Case(
        "attachment_meta",
        lambda c: c.attachment_meta(),
        "GET",
        "/rest/api/3/attachment/meta",
        "attachment_meta",
        result=lambda r: r["uploadLimit"] == 10485760,
    ),
    Case(
        "get_attachment",
        lambda c: c.get_attachment("10200"),
        "GET",
        "/rest/api/3/attachment/10200",
        "get_attachment",
        result=lambda r: r["size"] == 2048,
    ),
    Case(
        "search_jql",
        lambda c: c.search_jql(JQL, fields=["summary"], reconcile_issues=[10042]),
        "POST",
        "/rest/api/3/search/jql",
        "search_jql__page1",
        body={"jql": JQL, "maxResults": 100, "fields": ["summary"], "reconcileIssues": [10042]},
        result=lambda r: r["nextPageToken"] == "CAEaAggD",
    ),
    Case(
        "bulk_fetch_issues",
        lambda c: c.bulk_fetch_issues(["10042", "APP-43"], fields=["summary"]),
        "POST",
        "/rest/api/3/issue/bulkfetch",
        "bulk_fetch",
        body={"issueIdsOrKeys": ["10042", "APP-43"], "fields": ["summary"]},
        result=lambda r: r["issues"][0]["key"] == "APP-42",
    ),
    Case(
        "approximate_count",
        lambda c: c.approximate_count(JQL),
        "POST",
        "/rest/api/3/search/approximate-count",
        "approximate_count",
        body={"jql": JQL},
        result=lambda r: r == 153,
    ),
    Case(
        "register_webhooks",
        lambda c: c.register_webhooks("https://bugbridge.example.com/hooks/jira", WEBHOOKS),
        "POST",
        "/rest/api/3/webhook",
        "register_webhooks",
        body={"url": "https://bugbridge.example.com/hooks/jira", "webhooks": WEBHOOKS},
        result=lambda r: r[0]["createdWebhookId"] == 1000 and "errors" in r[1],
    ),
    Case(
        "list_webhooks",
        lambda c: c.list_webhooks(),
        "GET",
        "/rest/api/3/webhook",
        "list_webhooks",
        query={"startAt": ["0"], "maxResults": ["100"]},
        result=lambda r: r["values"][0]["id"] == 1000,
    ),
    Case(
        "delete_webhooks",
        lambda c: c.delete_webhooks([1000, 1001]),
        "DELETE",
        "/rest/api/3/webhook",
        None,
        202,
        body={"webhookIds": [1000, 1001]},
    ),
    Case(
        "refresh_webhooks",
        lambda c: c.refresh_webhooks([1000]),
        "PUT",
        "/rest/api/3/webhook/refresh",
        "refresh_webhooks",
        body={"webhookIds": [1000]},
        result=lambda r: r["expirationDate"].startswith("2026-12"),
    ),
    Case(
        "list_admin_webhooks",
        lambda c: c.list_admin_webhooks(),
        "GET",
        "/rest/webhooks/1.0/webhook",
        "list_admin_webhooks",
        result=lambda r: r[0]["isSigned"] is True,
    ),
    Case(
        "create_admin_webhook",
        lambda c: c.create_admin_webhook(
            name="Bugbridge",
            url="https://bugbridge.example.com/hooks/jira",
            events=["jira:issue_updated"],
            jql="project = APP",
            secret="s3cret",
        ),
        "POST",
        "/rest/webhooks/1.0/webhook",
        "create_admin_webhook",
        201,
        body={
            "name": "Bugbridge",
            "url": "https://bugbridge.example.com/hooks/jira",
            "events": ["jira:issue_updated"],
            "excludeBody": False,
            "filters": {"issue-related-events-section": "project = APP"},
            "secret": "s3cret",
        },
        result=lambda r: r["self"].endswith("/7"),
    ),
    Case(
        "delete_admin_webhook",
        lambda c: c.delete_admin_webhook(7),
        "DELETE",
        "/rest/webhooks/1.0/webhook/7",
        None,
        204,
    ),
]
CASE_IDS = [case.name for case in CASES]


def url_of(case: Case, base: str = SITE) -> str:
    return case.path if case.path.startswith("https://") else base + case.path


def mock(case: Case, base: str = SITE, *, status: int | None = None, body: Any = None) -> None:
    payload = body if body is not None else (fixture(case.fixture) if case.fixture else None)
    kwargs: dict[str, Any] = {"json": payload} if payload is not None else {"body": b""}
    responses.add(case.method, url_of(case, base), status=status or case.status, **kwargs)


def sent_query(request: requests.PreparedRequest) -> dict[str, list[str]]:
    return parse_qs(urlsplit(request.url or "").query, keep_blank_values=True)


def test_every_public_method_has_a_contract_case() -> None:
    public = {
        name
        for name in vars(JiraClient)
        if not name.startswith("_") and not name.startswith("iter_") and callable(getattr(JiraClient, name))
    }
    # Helpers built on a contract-tested call, tested on their own below.
    composed = {"project_priority_scheme"}
    assert public - composed == set(CASE_IDS)


@responses.activate
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_contract(case: Case, client: JiraClient) -> None:
    mock(case)

    result = case.call(client)

    assert len(responses.calls) == 1
    sent = responses.calls[0].request
    assert sent.method == case.method
    assert (sent.url or "").split("?")[0] == url_of(case)
    assert sent_query(sent) == case.query
    assert sent.headers["Authorization"] == BASIC
    assert sent.headers["Accept"] == "application/json"
    assert sent.req_kwargs["timeout"] == (1.5, 9.0)
    if case.body is not None:
        assert sent.headers["Content-Type"] == "application/json"
        assert json.loads(sent.body) == case.body
    elif case.method in ("GET", "DELETE"):
        assert not sent.body
    assert case.result(result)


@responses.activate
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_contract_404_is_not_found(case: Case, client: JiraClient) -> None:
    mock(case, status=404, body=fixture("error__not_found"))

    with pytest.raises(JiraNotFound) as caught:
        case.call(client)

    assert caught.value.messages == ["Issue does not exist or you do not have permission to see it."]
    assert len(responses.calls) == 1


@responses.activate
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_contract_gateway_scope_is_auth_error(case: Case) -> None:
    gateway = make_client(GATEWAY)
    mock(case, GATEWAY, status=401, body=fixture("error__gateway_scope"))

    with pytest.raises(JiraAuthError) as caught:
        case.call(gateway)

    assert caught.value.reason == "missing_scope"
    assert url_of(case, GATEWAY).split("?")[0] == (responses.calls[0].request.url or "").split("?")[0]


# --- every request against Atlassian's spec -------------------------------------------------------


@responses.activate
@pytest.mark.parametrize("base", [SITE, GATEWAY], ids=["site", "gateway"])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_request_matches_official_spec(case: Case, base: str) -> None:
    reason = spec.spec_skip_reason()
    if reason:
        pytest.skip(reason)
    if not spec.in_spec(url_of(case, base)):
        pytest.skip(f"{case.path} is not in the platform spec (admin webhooks, accessible-resources)")
    mock(case, base)

    case.call(make_client(base))

    spec.validate_request(responses.calls[0].request)


def test_spec_validator_rejects_what_the_spec_forbids() -> None:
    reason = spec.spec_skip_reason()
    if reason:
        pytest.skip(reason)
    bad = [
        requests.Request("POST", f"{GATEWAY}/rest/api/3/search/jql", json={"jql": "x", "startAt": 0}),
        requests.Request("GET", f"{SITE}/rest/api/3/issue/APP-1/comment", params={"orderBy": "updated"}),
        requests.Request("DELETE", f"{SITE}/rest/api/3/webhook", json={"webhookIds": ["one"]}),
        requests.Request("GET", f"{SITE}/rest/api/3/issue/APP-1/comment", params={"orderby": "created"}),
        requests.Request("GET", f"{SITE}/rest/api/3/issue/APP-1/nope"),
        requests.Request(
            "POST", f"{SITE}/rest/api/3/issue/APP-1/attachments", files=[("upload", ("a", b"1"))]
        ),
    ]
    accepted = []
    for request in bad:
        request.auth = requests.auth.HTTPBasicAuth(EMAIL, TOKEN)
        try:
            spec.validate_request(request.prepare())
        except spec.RequestMismatch:
            continue
        accepted.append(f"{request.method} {request.url} {request.params}")
    assert accepted == []


def test_spec_absent_skips_with_a_reason_naming_the_setting(settings: Any, tmp_path: Path) -> None:
    settings.JIRA_OPENAPI_SPEC = str(tmp_path / "missing.json")

    reason = spec.spec_skip_reason()

    assert reason is not None and "JIRA_OPENAPI_SPEC" in reason


def test_gateway_urls_are_rerooted_on_the_spec_server() -> None:
    assert (
        spec.rerooted(f"{GATEWAY}/rest/api/3/myself?x=1")
        == "https://your-domain.atlassian.net/rest/api/3/myself?x=1"
    )


# --- requests the table cannot show ---------------------------------------------------------------


@responses.activate
def test_attachments_are_multipart_file_parts_with_the_xsrf_header(client: JiraClient) -> None:
    responses.add("POST", f"{SITE}/rest/api/3/issue/APP-42/attachments", json=fixture("add_attachments"))

    client.add_attachments("APP-42", [("a.png", b"PNGDATA", "image/png"), ("log.txt", b"boom", "text/plain")])

    sent = responses.calls[0].request
    assert sent.headers["X-Atlassian-Token"] == "no-check"
    assert sent.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert sent.body.count(b'Content-Disposition: form-data; name="file"; filename=') == 2
    assert b"PNGDATA" in sent.body and b'filename="log.txt"' in sent.body


@responses.activate
def test_path_parameters_cannot_escape_their_segment(client: JiraClient) -> None:
    responses.add("GET", f"{SITE}/rest/api/3/issue/..%2Fmyself", json=fixture("get_issue"))

    client.get_issue("../myself")

    assert responses.calls[0].request.url == f"{SITE}/rest/api/3/issue/..%2Fmyself"


@responses.activate
def test_account_id_is_recorded_from_the_header(client: JiraClient) -> None:
    responses.add("GET", f"{SITE}/rest/api/3/field", json=[], headers={"X-AAccountId": "557058:abc"})

    assert client.account_id is None
    client.fields()

    assert client.account_id == "557058:abc"


@responses.activate
def test_anonymous_200_is_an_auth_error_not_data(client: JiraClient) -> None:
    responses.add(
        "POST",
        f"{SITE}/rest/api/3/search/jql",
        json={"issues": [], "isLast": True},
        headers={"X-Seraph-LoginReason": "AUTHENTICATED_FAILED"},
    )

    with pytest.raises(JiraAuthError) as caught:
        client.search_jql(JQL)

    assert caught.value.reason == "anonymous"


@responses.activate
@pytest.mark.parametrize(
    ("call", "method", "path", "expected"),
    [
        (lambda c: c.fields(), "GET", "/rest/api/3/field", JiraUnavailable),
        (lambda c: c.create_issue(CREATE_FIELDS), "POST", "/rest/api/3/issue", JiraOutcomeUnknown),
    ],
    ids=["read", "create"],
)
def test_unreadable_success_body(
    call: Callable[[JiraClient], Any], method: str, path: str, expected: type, client: JiraClient
) -> None:
    responses.add(method, SITE + path, body="<html>proxy login</html>", status=200)

    with pytest.raises(expected):
        call(client)


def test_argument_limits_are_checked_before_any_call(client: JiraClient) -> None:
    with pytest.raises(ValueError):
        client.bulk_create_issues([{"fields": {}}] * 51)
    with pytest.raises(ValueError):
        client.bulk_fetch_issues([str(n) for n in range(101)])
    with pytest.raises(ValueError):
        client.assignable_users(project="APP", query="a", account_id="b")
    with pytest.raises(ValueError):
        client.search_jql(JQL, reconcile_issues=list(range(51)))
    with pytest.raises(ValueError):
        client.add_attachments("APP-1", [])


# --- retries ----------------------------------------------------------------------------------------

FIELDS_URL = f"{SITE}/rest/api/3/field"
CREATE_URL = f"{SITE}/rest/api/3/issue"
SEARCH_URL = f"{SITE}/rest/api/3/search/jql"


@responses.activate
def test_429_waits_retry_after_then_succeeds(client: JiraClient, sleep: FakeSleep) -> None:
    responses.add(
        "GET", FIELDS_URL, status=429, headers={"Retry-After": "7", "RateLimit-Reason": "jira-burst-based"}
    )
    responses.add("GET", FIELDS_URL, json=fixture("fields"))

    assert client.fields()[0]["id"] == "summary"

    assert sleep.waits == [7.0]
    assert len(responses.calls) == 2


@responses.activate
def test_429_waits_until_ratelimit_reset(client: JiraClient, sleep: FakeSleep) -> None:
    reset = (datetime.now(UTC) + timedelta(seconds=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
    responses.add("GET", FIELDS_URL, status=429, headers={"X-RateLimit-Reset": reset})
    responses.add("GET", FIELDS_URL, json=[])

    client.fields()

    assert len(sleep.waits) == 1
    assert 17.0 <= sleep.waits[0] <= 20.0


@responses.activate
def test_bare_429_backs_off_then_gives_up_with_reason(client: JiraClient, sleep: FakeSleep) -> None:
    for _ in range(6):
        responses.add("GET", FIELDS_URL, status=429, headers={"RateLimit-Reason": "jira-per-issue-on-write"})

    with pytest.raises(JiraRateLimited) as caught:
        client.fields()

    assert len(responses.calls) == 1 + wire.MAX_RETRIES == 5
    assert caught.value.reason == "per_issue_write"
    assert caught.value.retry_after is None
    assert len(sleep.waits) == 4
    for attempt, wait in enumerate(sleep.waits):
        base = min(30.0, 2.0 * 2**attempt)
        assert max(2.0, 0.7 * base) <= wait <= min(30.0, 1.3 * base)
    assert sleep.waits == sorted(sleep.waits)


@responses.activate
def test_exhausted_retries_carry_the_last_retry_after(client: JiraClient, sleep: FakeSleep) -> None:
    for _ in range(5):
        responses.add(
            "GET",
            FIELDS_URL,
            status=429,
            headers={"Retry-After": "3", "RateLimit-Reason": "jira-burst-based"},
        )

    with pytest.raises(JiraRateLimited) as caught:
        client.fields()

    assert (caught.value.retry_after, caught.value.reason) == (3.0, "burst")
    assert sleep.waits == [3.0] * 4


@responses.activate
def test_a_quota_wait_is_not_slept_through(client: JiraClient, sleep: FakeSleep) -> None:
    responses.add(
        "GET",
        FIELDS_URL,
        status=429,
        headers={"Retry-After": "1800", "RateLimit-Reason": "jira-quota-global-based"},
    )

    with pytest.raises(JiraRateLimited) as caught:
        client.fields()

    assert (caught.value.retry_after, caught.value.reason) == (1800.0, "quota")
    assert sleep.waits == []
    assert len(responses.calls) == 1


def test_backoff_bounds_and_jitter() -> None:
    rng = random.Random(1)
    for attempt, base in enumerate([2.0, 4.0, 8.0, 16.0, 30.0, 30.0]):
        waits = [backoff_seconds(attempt, rng) for _ in range(200)]
        assert all(2.0 <= wait <= 30.0 for wait in waits)
        assert all(0.7 * base - 1e-9 <= wait <= 1.3 * base + 1e-9 for wait in waits if 2.0 < wait < 30.0)
        assert len(set(waits)) > 50  # jittered, not a constant
    assert min(backoff_seconds(4, rng) for _ in range(200)) < 25.0  # jitter reaches below the cap


@responses.activate
def test_create_timeout_is_outcome_unknown_and_never_resent(client: JiraClient, sleep: FakeSleep) -> None:
    responses.add("POST", CREATE_URL, body=requests.exceptions.ReadTimeout("read timed out"))
    responses.add("POST", CREATE_URL, json=fixture("create_issue"), status=201)

    with pytest.raises(JiraOutcomeUnknown) as caught:
        client.create_issue(CREATE_FIELDS)

    assert len(responses.calls) == 1
    assert sleep.waits == []
    assert "may have been" in caught.value.user_message


@responses.activate
@pytest.mark.parametrize("status", [500, 502, 504])
def test_create_5xx_is_outcome_unknown(status: int, client: JiraClient) -> None:
    responses.add("POST", CREATE_URL, status=status, body="Bad Gateway")

    with pytest.raises(JiraOutcomeUnknown) as caught:
        client.create_issue(CREATE_FIELDS)

    assert caught.value.status == status
    assert len(responses.calls) == 1


@responses.activate
def test_create_503_with_retry_after_is_not_resent(client: JiraClient, sleep: FakeSleep) -> None:
    responses.add("POST", CREATE_URL, status=503, headers={"Retry-After": "1"})

    with pytest.raises(JiraOutcomeUnknown):
        client.create_issue(CREATE_FIELDS)

    assert len(responses.calls) == 1
    assert sleep.waits == []


@responses.activate
def test_create_429_is_retried_because_jira_did_no_work(client: JiraClient, sleep: FakeSleep) -> None:
    responses.add("POST", CREATE_URL, status=429, headers={"Retry-After": "2"})
    responses.add("POST", CREATE_URL, json=fixture("create_issue"), status=201)

    assert client.create_issue(CREATE_FIELDS)["key"] == "APP-42"

    assert sleep.waits == [2.0]
    assert len(responses.calls) == 2
    assert responses.calls[0].request.body == responses.calls[1].request.body


@responses.activate
def test_attachment_upload_429_resends_the_same_files(client: JiraClient) -> None:
    url = f"{SITE}/rest/api/3/issue/APP-42/attachments"
    responses.add("POST", url, status=429, headers={"Retry-After": "1"})
    responses.add("POST", url, json=fixture("add_attachments"))

    client.add_attachments("APP-42", [("a.png", b"PNGDATA", "image/png")])

    assert [b"PNGDATA" in call.request.body for call in responses.calls] == [True, True]


@responses.activate
def test_create_connect_timeout_is_unavailable_not_unknown(client: JiraClient) -> None:
    responses.add("POST", CREATE_URL, body=requests.exceptions.ConnectTimeout("connect timed out"))

    with pytest.raises(JiraUnavailable) as caught:
        client.create_issue(CREATE_FIELDS)

    assert not isinstance(caught.value, JiraOutcomeUnknown)
    assert len(responses.calls) == 1


@responses.activate
@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.add_comment("APP-42", ADF),
        lambda c: c.transition_issue("APP-42", "31"),
        lambda c: c.bulk_create_issues([{"fields": {}}]),
        lambda c: c.register_webhooks("https://bb.example.com/hook", WEBHOOKS),
    ],
    ids=["comment", "transition", "bulk", "webhook"],
)
def test_other_writes_are_not_resent_after_a_lost_answer(
    call: Callable[[JiraClient], Any], client: JiraClient
) -> None:
    responses.add(
        responses.POST,
        url=__import__("re").compile(rf"{SITE}/rest/api/3/.*"),
        body=requests.exceptions.ConnectionError("connection reset by peer"),
    )

    with pytest.raises(JiraOutcomeUnknown):
        call(client)

    assert len(responses.calls) == 1


@responses.activate
def test_read_timeouts_are_retried_then_unavailable(client: JiraClient, sleep: FakeSleep) -> None:
    for _ in range(5):
        responses.add("GET", FIELDS_URL, body=requests.exceptions.ReadTimeout("read timed out"))

    with pytest.raises(JiraUnavailable):
        client.fields()

    assert len(responses.calls) == 5
    assert len(sleep.waits) == 4


@responses.activate
def test_connection_error_on_a_read_is_retried(client: JiraClient, sleep: FakeSleep) -> None:
    responses.add("GET", FIELDS_URL, body=requests.exceptions.ConnectionError("reset"))
    responses.add("GET", FIELDS_URL, json=[])

    assert client.fields() == []

    assert len(sleep.waits) == 1 and 2.0 <= sleep.waits[0] <= 2.6


@responses.activate
def test_read_only_post_search_is_retried_after_a_timeout(client: JiraClient) -> None:
    responses.add("POST", SEARCH_URL, body=requests.exceptions.ReadTimeout("read timed out"))
    responses.add("POST", SEARCH_URL, json=fixture("search_jql__page2"))

    assert client.search_jql(JQL)["isLast"] is True

    assert len(responses.calls) == 2


@responses.activate
def test_503_without_retry_after_is_not_retried(client: JiraClient, sleep: FakeSleep) -> None:
    # Atlassian retries only 429 and 503-with-Retry-After; the task layer retries the rest later.
    responses.add("GET", FIELDS_URL, status=503, body="Service Unavailable")

    with pytest.raises(JiraUnavailable):
        client.fields()

    assert len(responses.calls) == 1
    assert sleep.waits == []


@responses.activate
def test_503_with_retry_after_on_a_read_is_retried(client: JiraClient, sleep: FakeSleep) -> None:
    responses.add("GET", FIELDS_URL, status=503, headers={"Retry-After": "4"})
    responses.add("GET", FIELDS_URL, json=[])

    assert client.fields() == []

    assert sleep.waits == [4.0]


# --- redirects --------------------------------------------------------------------------------------


@responses.activate
def test_redirect_to_another_host_is_refused(client: JiraClient) -> None:
    responses.add("GET", FIELDS_URL, status=302, headers={"Location": "https://evil.example.com/steal"})
    responses.add("GET", "https://evil.example.com/steal", json=[])

    with pytest.raises(JiraRedirected) as caught:
        client.fields()

    assert len(responses.calls) == 1
    assert caught.value.location_host == "evil.example.com"
    assert "site URL" in caught.value.user_message


@responses.activate
def test_same_host_get_redirect_is_followed(client: JiraClient) -> None:
    responses.add(
        "GET", f"{SITE}/rest/api/3/issue/OLD-1", status=301, headers={"Location": "/rest/api/3/issue/10042"}
    )
    responses.add("GET", f"{SITE}/rest/api/3/issue/10042", json=fixture("get_issue"))

    assert client.get_issue("OLD-1")["key"] == "APP-42"

    assert responses.calls[1].request.headers["Authorization"] == BASIC


@responses.activate
def test_redirect_loops_stop(client: JiraClient) -> None:
    responses.add("GET", FIELDS_URL, status=302, headers={"Location": FIELDS_URL})

    with pytest.raises(JiraRedirected):
        client.fields()

    assert len(responses.calls) == 1 + wire.MAX_REDIRECTS


@responses.activate
def test_a_write_is_never_redirected(client: JiraClient) -> None:
    responses.add("POST", CREATE_URL, status=307, headers={"Location": f"{SITE}/rest/api/3/issue2"})

    with pytest.raises(JiraRedirected):
        client.create_issue(CREATE_FIELDS)

    assert len(responses.calls) == 1


# --- pagination -------------------------------------------------------------------------------------


@responses.activate
def test_iter_projects_follows_pages_until_is_last(client: JiraClient) -> None:
    url = f"{SITE}/rest/api/3/project/search"
    responses.add(
        "GET",
        url,
        json=fixture("search_projects__page1"),
        match=[matchers.query_param_matcher({"startAt": "0", "maxResults": "2", "action": "create"})],
    )
    responses.add(
        "GET",
        url,
        json=fixture("search_projects__page2"),
        match=[matchers.query_param_matcher({"startAt": "2", "maxResults": "2", "action": "create"})],
    )

    keys = [project["key"] for project in client.iter_projects(page_size=2)]

    assert keys == ["APP", "WEB", "OPS"]
    assert len(responses.calls) == 2


@responses.activate
def test_iter_search_follows_tokens_and_resends_reconcile(client: JiraClient) -> None:
    responses.add("POST", SEARCH_URL, json=fixture("search_jql__page1"))
    responses.add("POST", SEARCH_URL, json=fixture("search_jql__page2"))

    ids = [issue["id"] for issue in client.iter_search(JQL, fields=["summary"], reconcile_issues=[10042])]

    assert ids == ["10042", "10043", "10044"]
    first, second = (json.loads(call.request.body) for call in responses.calls)
    assert "nextPageToken" not in first
    assert second["nextPageToken"] == "CAEaAggD"
    assert first["reconcileIssues"] == second["reconcileIssues"] == [10042]


@responses.activate
def test_iter_search_caps_items_and_pages(client: JiraClient) -> None:
    endless = {"issues": [{"id": "1"}, {"id": "2"}], "nextPageToken": "t", "isLast": False}
    responses.add("POST", SEARCH_URL, json={**endless, "nextPageToken": "a"})
    responses.add("POST", SEARCH_URL, json={**endless, "nextPageToken": "b"})
    responses.add("POST", SEARCH_URL, json={**endless, "nextPageToken": "c"})

    assert len(list(client.iter_search(JQL, max_items=3))) == 3
    responses.calls.reset()
    assert len(list(client.iter_search(JQL, max_pages=2))) == 4
    assert len(responses.calls) == 2


def test_token_pages_stop_on_a_repeated_token() -> None:
    pages = iter(
        [{"issues": [1], "nextPageToken": "same"}, {"issues": [2], "nextPageToken": "same"}, {"issues": [3]}]
    )

    assert list(wire.iter_token_pages(lambda token: next(pages), items_key="issues")) == [1, 2]


def test_offset_pages_stop_on_total_empty_page_and_cap() -> None:
    def fetch_total(start: int, size: int) -> dict[str, Any]:
        return {"values": list(range(start, min(start + size, 5))), "total": 5}

    assert list(wire.iter_offset_pages(fetch_total, items_key="values", page_size=2)) == [0, 1, 2, 3, 4]

    calls: list[int] = []

    def fetch_endless(start: int, size: int) -> dict[str, Any]:
        calls.append(start)
        return {"values": [start], "isLast": False}

    assert list(wire.iter_offset_pages(fetch_endless, items_key="values", page_size=1, max_pages=3)) == [
        0,
        1,
        2,
    ]
    assert list(wire.iter_offset_pages(lambda s, n: {"values": []}, items_key="values", page_size=5)) == []


@responses.activate
def test_createmeta_fields_iterator_reads_either_list_name(client: JiraClient) -> None:
    url = f"{SITE}/rest/api/3/issue/createmeta/APP/issuetypes/10004"
    page = fixture("createmeta_fields")
    responses.add(
        "GET", url, json={**{k: v for k, v in page.items() if k != "fields"}, "results": page["fields"]}
    )

    assert [f["fieldId"] for f in client.iter_createmeta_fields("APP", "10004")] == [
        "summary",
        "priority",
        "customfield_10050",
    ]


@responses.activate
def test_project_priority_scheme_finds_the_project(client: JiraClient) -> None:
    responses.add("GET", f"{SITE}/rest/api/3/priorityscheme", json=fixture("priority_schemes"))

    scheme = client.project_priority_scheme("10001")

    assert scheme is not None and scheme["id"] == "10001"
    assert sent_query(responses.calls[0].request)["expand"] == ["projects"]
    assert client.project_priority_scheme("99999") is None


# --- logging ----------------------------------------------------------------------------------------


@responses.activate
def test_logs_carry_events_and_never_secrets(client: JiraClient, caplog: pytest.LogCaptureFixture) -> None:
    responses.add("GET", FIELDS_URL, status=429, headers={"Retry-After": "1"})
    responses.add("GET", FIELDS_URL, json=[])
    caplog.set_level(logging.DEBUG, logger="integrations.jira")

    client.fields()

    assert {record.getMessage() for record in caplog.records} >= {"jira.request", "jira.rate_limited"}
    dumped = " ".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records)
    assert TOKEN not in dumped and BASIC not in dumped and "Authorization" not in dumped
    assert TOKEN not in repr(client)


# --- permissions ------------------------------------------------------------------------------------

MY_PERMISSIONS_URL = f"{SITE}/rest/api/3/mypermissions"


@responses.activate
def test_my_permissions_without_a_project_asks_globally(client: JiraClient) -> None:
    answer = {
        "permissions": {
            "ADMINISTER": {
                "id": "0",
                "key": "ADMINISTER",
                "name": "Administer Jira",
                "type": "GLOBAL",
                "description": "Create and administer projects, issue types, fields, workflows, and schemes.",
                "havePermission": True,
            }
        }
    }
    responses.add("GET", MY_PERMISSIONS_URL, json=answer)

    held = client.my_permissions(["ADMINISTER"])

    assert held == {"ADMINISTER": True}
    assert sent_query(responses.calls[0].request) == {"permissions": ["ADMINISTER"]}
    reason = spec.spec_skip_reason()
    if reason is None:
        spec.validate_request(responses.calls[0].request)


@responses.activate
def test_my_permissions_counts_a_key_missing_from_the_answer_as_not_held(client: JiraClient) -> None:
    responses.add("GET", MY_PERMISSIONS_URL, json={"permissions": {"EDIT_ISSUES": {"key": "EDIT_ISSUES"}}})

    held = client.my_permissions(["EDIT_ISSUES", "DELETE_ISSUES"], project_key="APP")

    assert held == {"EDIT_ISSUES": False, "DELETE_ISSUES": False}


@responses.activate
def test_my_permissions_answered_anonymously_is_an_auth_error(client: JiraClient) -> None:
    # Jira answers mypermissions to anonymous callers: a refused token must not read as "not held".
    responses.add(
        "GET",
        MY_PERMISSIONS_URL,
        json=fixture("my_permissions"),
        headers={"X-Seraph-LoginReason": "AUTHENTICATED_FAILED"},
    )

    with pytest.raises(JiraAuthError) as caught:
        client.my_permissions(["DELETE_ISSUES"], project_key="APP")

    assert caught.value.reason == "anonymous"


@responses.activate
def test_my_permissions_unknown_key_is_a_validation_error_and_none_is_refused(client: JiraClient) -> None:
    responses.add(
        "GET",
        MY_PERMISSIONS_URL,
        status=400,
        json={"errorMessages": ["Permission key 'NOPE' is not valid."], "errors": {}},
    )

    with pytest.raises(JiraValidationError):
        client.my_permissions(["NOPE"])
    with pytest.raises(ValueError):
        client.my_permissions([])
    assert len(responses.calls) == 1
