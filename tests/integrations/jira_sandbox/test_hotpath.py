"""What the sandbox's fast paths must keep equal to the ORM code they replace (issue 4, §9):
the hand-written lookups (hotpath.py), the search's column selection (`bean_columns`), and the
per-process metadata cache that JQL and create validation now read instead of the tables."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from integrations.jira_sandbox import hotpath, metacache
from integrations.jira_sandbox.auth import hash_token
from integrations.jira_sandbox.models import Issue, Project, RequestLog, Site
from integrations.jira_sandbox.serializers import bean_columns, issue_json

from .conftest import JiraCaller
from .test_jql import make_issue, person

pytestmark = pytest.mark.django_db

BASE = "http://testserver/sandbox/jira/site/acme"


def site(name: str = "acme") -> Site:
    return Site.objects.get(name=name)


# ---------------------------------------------------------------------------------------------
# hotpath.py
# ---------------------------------------------------------------------------------------------


def test_site_lookup_by_name_or_cloud_id(sandbox: Any) -> None:
    acme = site()
    by_name = hotpath.site_by("name", "acme")
    by_cloud = hotpath.site_by("cloud_id", acme.cloud_id)
    assert by_name is not None and by_cloud is not None
    assert by_name.pk == by_cloud.pk == acme.pk
    assert by_name.knobs == acme.knobs and by_name.meta_stamp == acme.meta_stamp
    assert hotpath.site_by("name", "initech") is None
    with pytest.raises(ValueError):
        hotpath.site_by("title", "Acme")


def test_api_token_matches_the_email_in_any_case_and_loads_the_account(sandbox: Any) -> None:
    credentials = sandbox.credentials
    token_hash = hash_token(credentials["api_token"])
    found = hotpath.api_token(token_hash, credentials["user_email"].upper(), site())
    assert found is not None
    with CaptureQueriesContext(connection) as queries:
        assert found.account.email == credentials["user_email"]
    assert len(queries) == 0
    assert found.expires_at > timezone.now() and found.revoked is False and found.scoped is False

    assert hotpath.api_token(token_hash, "bob@acme.example", site()) is None
    assert hotpath.api_token(hash_token("not-a-token"), credentials["user_email"], site()) is None


def test_api_token_says_whether_the_account_has_the_site(sandbox: Any) -> None:
    credentials = sandbox.credentials
    token_hash = hash_token(credentials["scoped_api_token"])
    email = credentials["service_account_email"]
    on_acme = hotpath.api_token(token_hash, email, site("acme"))
    on_globex = hotpath.api_token(token_hash, email, site("globex"))
    no_site = hotpath.api_token(token_hash, email, None)
    assert on_acme is not None and on_globex is not None and no_site is not None
    assert bool(on_acme.site_access) is True  # the service account has acme only
    assert bool(on_globex.site_access) is False
    assert no_site.site_access is None


def test_log_request_writes_every_column(sandbox: Any) -> None:
    moment = timezone.now() - timedelta(minutes=3)
    hotpath.log_request(
        site=site(),
        method="PUT",
        path="/sandbox/jira/site/acme/rest/api/3/issue/10001",
        status=204,
        auth="basic",
        account_id="712020:abc",
        duration_ms=12,
        note="dropped after commit",
        created=moment,
    )
    hotpath.log_request(
        site=None,
        method="GET",
        path="/x",
        status=404,
        auth="anonymous",
        account_id="",
        duration_ms=0,
        note="",
        created=moment,
    )
    first, second = RequestLog.objects.order_by("id")[:2]
    assert (first.site_id, first.method, first.path, first.status) == (
        site().pk,
        "PUT",
        "/sandbox/jira/site/acme/rest/api/3/issue/10001",
        204,
    )
    assert (first.auth, first.account_id, first.duration_ms, first.note) == (
        "basic",
        "712020:abc",
        12,
        "dropped after commit",
    )
    assert first.created == moment
    assert second.site_id is None and second.status == 404


# ---------------------------------------------------------------------------------------------
# Search loads only the columns its beans show
# ---------------------------------------------------------------------------------------------

FIELD_SPECS: list[tuple[Any, str, list[str]]] = [
    (None, "id", []),
    (None, "*navigable", []),
    (["summary", "status"], "id", []),
    (["assignee", "reporter", "labels"], "id", []),
    (["customfield_10055"], "id", []),
    (["*navigable", "-summary"], "id", []),
    (["created", "updated", "resolutiondate", "statuscategorychangedate"], "id", ["triage"]),
    (["*all", "-comment", "-attachment"], "id", ["triage", "missing"]),
    ("id", "id", []),
]


@pytest.mark.parametrize(("fields", "default", "properties"), FIELD_SPECS)
def test_a_bean_from_the_selected_columns_equals_one_from_the_whole_row(
    sandbox: Any, fields: Any, default: str, properties: list[str]
) -> None:
    made = make_issue(
        "MOB",
        summary="Checkout crashes",
        labels=["ios", "crash"],
        assignee=person("bob"),
        properties={"triage": {"score": 3}},
    )
    Issue.objects.filter(pk=made.pk).update(
        description={"type": "doc", "version": 1, "content": []},
        custom_fields={"customfield_10055": {"value": "Production", "id": "10100"}},
        resolution_date=timezone.now(),
    )
    metacache.bind(site())
    try:
        whole = Issue.objects.select_related("assignee", "reporter").get(pk=made.pk)
        expected = issue_json(whole, BASE, fields=fields, default_fields=default, properties=properties)
        columns, people = bean_columns(fields, default_fields=default, properties=properties)
        loaded = Issue.objects.only(*columns)
        if people:
            loaded = loaded.select_related(*people)
        issue = loaded.get(pk=made.pk)
        with CaptureQueriesContext(connection) as queries:
            shown = issue_json(issue, BASE, fields=fields, default_fields=default, properties=properties)
    finally:
        metacache.bind(None)
    assert shown == expected
    assert [q["sql"] for q in queries] == []  # nothing deferred was read back


def test_a_search_page_costs_the_same_queries_for_3_or_40_issues(site_api: JiraCaller) -> None:
    body = {"jql": "project = WEB ORDER BY created DESC", "fields": ["summary", "status", "assignee"]}

    def counted() -> int:
        with CaptureQueriesContext(connection) as queries:
            response = site_api.post("/search/jql", json=body)
        assert response.status_code == 200
        return len(queries)

    counted()  # loads the site's metadata into this process's cache
    for _ in range(2):
        make_issue("WEB", assignee=person("carol"))
    few = counted()
    for _ in range(38):
        make_issue("WEB", assignee=person("bob"))
    assert counted() == few


# ---------------------------------------------------------------------------------------------
# The metadata cache read by JQL and by create validation
# ---------------------------------------------------------------------------------------------


def test_jql_sees_a_renamed_project_at_once(site_api: JiraCaller) -> None:
    make_issue("WEB", summary="On the web")
    body = {"jql": 'project = "Web Portal"', "fields": ["summary"]}
    before = site_api.post("/search/jql", json=body)
    assert before.status_code == 400  # no such project yet

    web = Project.objects.get(site=site(), key="WEB")
    web.name = "Web Portal"
    web.save()

    after = site_api.post("/search/jql", json=body)
    assert after.status_code == 200
    shown = sorted(i["fields"]["summary"] for i in after.json()["issues"])
    assert "On the web" in shown
    assert shown == sorted(Issue.objects.filter(project=web).values_list("summary", flat=True))


def test_creating_an_issue_leaves_the_shared_cached_project_untouched(site_api: JiraCaller) -> None:
    meta = metacache.for_site(site())
    cached = next(p for p in meta.projects.values() if p.key == "WEB")
    before = dict(cached._state.fields_cache)

    response = site_api.post(
        "/issue",
        json={"fields": {"project": {"key": "web"}, "issuetype": {"id": "10004"}, "summary": "Cache"}},
    )
    assert response.status_code == 201
    assert metacache.for_site(site()) is meta  # same stamp: the same cached rows
    assert cached._state.fields_cache == before  # no Site row attached to the shared copy
    assert Issue.objects.get(key=response.json()["key"]).project_id == cached.pk


def test_a_search_joins_only_the_people_it_shows(site_api: JiraCaller) -> None:
    make_issue("WEB", assignee=person("bob"))

    def issue_select(fields: list[str]) -> str:
        with CaptureQueriesContext(connection) as queries:
            response = site_api.post("/search/jql", json={"jql": "project = WEB", "fields": fields})
        assert response.status_code == 200
        return next(q["sql"] for q in queries if 'FROM "jira_sandbox_issue"' in q["sql"])

    plain = issue_select(["summary", "status"])
    assert " JOIN " not in plain  # status, type, project come from the metadata cache
    assert '"description"' not in plain and '"custom_fields"' not in plain
    people = issue_select(["assignee"])
    assert people.count(" JOIN ") == 1 and "jira_sandbox_account" in people
