"""search/jql (paging, fields, reconcile and staleness, the anonymous trap), approximate-count,
bulkfetch, and the old search's 410 (API-NOTES §9, §1d)."""

from __future__ import annotations

import time
from datetime import UTC, timedelta
from typing import Any
from unittest import mock

import pytest
from django.utils import timezone

from integrations.jira_sandbox.knobs import knobs_update
from integrations.jira_sandbox.models import ApiToken, Issue, Site

from .conftest import PREFIX, JiraCaller, basic
from .test_jql import make_issue, person

pytestmark = pytest.mark.django_db

UNBOUNDED = {
    "errorMessages": [
        "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."
    ],
    "errors": {},
}
REMOVED = {
    "errorMessages": [
        "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. A full "
        "migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046"
    ],
    "errors": {},
}


def acme() -> Site:
    return Site.objects.get(name="acme")


def search(api: JiraCaller, **body: Any) -> Any:
    return api.post("/search/jql", json=body)


def ids_of(response: Any) -> list[str]:
    return [issue["id"] for issue in response.json()["issues"]]


def issue_id(key: str) -> str:
    return str(Issue.objects.get(key=key).issue_id)


# ---------------------------------------------------------------------------------------------
# search/jql
# ---------------------------------------------------------------------------------------------


def test_search_returns_ids_only_by_default_and_no_total(site_api: JiraCaller) -> None:
    response = search(site_api, jql="project = MOB")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"issues", "isLast"}  # no total, no startAt, no token on the last page
    assert body["isLast"] is True
    # Issue id descending when there is no ORDER BY.
    assert ids_of(response) == [issue_id(k) for k in ("MOB-3", "MOB-2", "MOB-1")]
    first = body["issues"][0]
    assert first["key"] == "MOB-3"
    assert not first.get("fields")


def test_get_takes_the_same_parameters(site_api: JiraCaller) -> None:
    response = site_api.get(
        "/search/jql",
        params={"jql": "project = MOB ORDER BY key", "fields": "summary,status", "maxResults": 2},
    )
    assert response.status_code == 200
    body = response.json()
    assert [i["key"] for i in body["issues"]] == ["MOB-1", "MOB-2"]
    assert body["isLast"] is False and body["nextPageToken"]
    assert set(body["issues"][0]["fields"]) == {"summary", "status"}
    assert body["issues"][0]["fields"]["summary"] == "Checkout button does nothing on iOS 18"
    following = site_api.get(
        "/search/jql",
        params={"jql": "project = MOB ORDER BY key", "maxResults": 2, "nextPageToken": body["nextPageToken"]},
    ).json()
    assert [i["key"] for i in following["issues"]] == ["MOB-3"] and following["isLast"] is True


def test_fields_selection(site_api: JiraCaller) -> None:
    def fields(spec: Any) -> dict[str, Any]:
        (issue,) = search(site_api, jql="key = MOB-1", fields=spec).json()["issues"]
        return issue["fields"]

    assert set(fields(["summary", "labels"])) == {"summary", "labels"}
    assert fields(["labels"])["labels"] == ["checkout", "ios"]
    everything = fields(["*all"])
    assert {"summary", "description", "status", "customfield_10055"} <= set(everything)
    navigable = fields(["*navigable"])
    assert "summary" in navigable and "description" not in navigable
    assert "status" not in fields(["*all", "-status"])
    only_exclusions = fields(["-summary"])  # the navigable fields except those
    assert "summary" not in only_exclusions and "status" in only_exclusions
    assert set(fields(["summary,priority"])) == {"summary", "priority"}


def test_expand_names_and_schema_describe_the_fields_shown(site_api: JiraCaller) -> None:
    body = search(
        site_api, jql="key = MOB-1", fields=["summary", "customfield_10055"], expand="names,schema"
    ).json()
    assert body["names"] == {"summary": "Summary", "customfield_10055": "Environment"}
    assert body["schema"]["customfield_10055"]["custom"].endswith(":select")


def test_properties_come_with_the_issues(site_api: JiraCaller) -> None:
    make_issue(properties={"sync": {"state": "linked"}, "other": 1})
    (issue,) = search(site_api, jql="issue.property[sync].state = linked", properties=["sync"]).json()[
        "issues"
    ]
    assert issue["properties"] == {"sync": {"state": "linked"}}
    too_many = search(site_api, jql="project = MOB", properties=["a", "b", "c", "d", "e", "f"])
    assert too_many.status_code == 400


def test_paging_through_120_issues(site_api: JiraCaller) -> None:
    made = {str(make_issue("WEB", summary=f"Paged {n}").issue_id) for n in range(120)}
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        body = search(site_api, jql='project = WEB AND summary ~ "Paged"', maxResults=50, nextPageToken=token)
        assert body.status_code == 200
        page = body.json()
        pages += 1
        seen += ids_of(body)
        if page["isLast"]:
            assert "nextPageToken" not in page
            break
        token = page["nextPageToken"]
        assert len(page["issues"]) == 50
    assert pages == 3
    assert len(seen) == len(set(seen)) == 120
    assert set(seen) == made
    assert seen == sorted(seen, key=int, reverse=True)


def test_new_issues_do_not_shift_the_pages_being_walked(site_api: JiraCaller) -> None:
    for n in range(6):
        make_issue("OPS", summary=f"Walk {n}")
    jql = 'summary ~ "Walk"'
    first = search(site_api, jql=jql, maxResults=3).json()
    make_issue("OPS", summary="Walk late")  # newest id: it would be first in id-descending order
    second = search(site_api, jql=jql, maxResults=3, nextPageToken=first["nextPageToken"]).json()
    keys = [i["key"] for i in first["issues"] + second["issues"]]
    assert len(set(keys)) == 6 and second["isLast"] is True


def test_page_tokens_are_bound_to_their_query_and_expire(site_api: JiraCaller) -> None:
    for n in range(3):
        make_issue("OPS", summary=f"Token {n}")
    first = search(site_api, jql='summary ~ "Token"', maxResults=1).json()
    token = first["nextPageToken"]
    other = search(site_api, jql="project = OPS", maxResults=1, nextPageToken=token)
    assert other.status_code == 400 and other.json()["errorMessages"]
    forged = search(site_api, jql='summary ~ "Token"', maxResults=1, nextPageToken=token[:-2] + "xx")
    assert forged.status_code == 400
    eight_days_later = time.time() + 8 * 24 * 3600
    with mock.patch("django.core.signing.time.time", return_value=eight_days_later):
        expired = search(site_api, jql='summary ~ "Token"', maxResults=1, nextPageToken=token)
    assert expired.status_code == 400
    fine = search(site_api, jql='summary ~ "Token"', maxResults=1, nextPageToken=token)
    assert fine.status_code == 200 and len(fine.json()["issues"]) == 1


def test_page_size_limits(site_api: JiraCaller) -> None:
    for bad in (0, 5001, -3):
        response = search(site_api, jql="project = MOB", maxResults=bad)
        assert response.status_code == 400, bad
        assert response.json()["errorMessages"]
    assert (
        site_api.get("/search/jql", params={"jql": "project = MOB", "maxResults": "many"}).status_code == 400
    )
    assert search(site_api, jql="project = MOB", maxResults=5000).status_code == 200
    assert search(site_api, jql="project = MOB", maxResults=1).status_code == 200


def test_fewer_issues_per_page_when_fields_are_asked_for(site_api: JiraCaller) -> None:
    for n in range(105):
        make_issue("OPS", summary=f"Wide {n}")
    narrow = search(site_api, jql='summary ~ "Wide"', maxResults=5000).json()
    assert len(narrow["issues"]) == 105 and narrow["isLast"] is True
    wide = search(site_api, jql='summary ~ "Wide"', maxResults=5000, fields=["summary"]).json()
    assert len(wide["issues"]) == 100 and wide["isLast"] is False


def test_unbounded_jql_is_refused(site_api: JiraCaller) -> None:
    for jql in ("ORDER BY key DESC", "", "  "):
        response = search(site_api, jql=jql)
        assert response.status_code == 400
        assert response.json() == UNBOUNDED
    assert site_api.get("/search/jql").json() == UNBOUNDED


def test_bad_jql_is_a_400_with_jiras_message(site_api: JiraCaller) -> None:
    response = search(site_api, jql="project = NOPE")
    assert response.status_code == 400
    assert response.json() == {
        "errorMessages": ["The value 'NOPE' does not exist for the field 'project'."],
        "errors": {},
    }
    syntax = search(site_api, jql="project x MOB").json()["errorMessages"][0]
    assert syntax.startswith("Error in the JQL Query: Expecting operator but got 'x'.")
    assert syntax.endswith("(line 1, character 9)")
    eight = "project = MOB ORDER BY key, id, created, updated, priority, status, summary, assignee"
    assert search(site_api, jql=eight).status_code == 400


def test_order_by_through_the_api(site_api: JiraCaller) -> None:
    response = search(site_api, jql="project = MOB ORDER BY priority DESC", fields=["priority"])
    assert [i["key"] for i in response.json()["issues"]] == ["MOB-2", "MOB-1", "MOB-3"]
    assert [i["fields"]["priority"]["name"] for i in response.json()["issues"]] == ["Highest", "High", "Low"]


def test_dates_use_the_callers_time_zone(site_api: JiraCaller) -> None:
    moment = timezone.now().replace(second=0, microsecond=0) - timedelta(hours=2)
    made = make_issue("OPS", summary="Zoned", updated=moment)
    jql = f'summary ~ Zoned AND updated >= "{moment.astimezone(UTC):%Y/%m/%d %H:%M}"'
    assert [i["key"] for i in search(site_api, jql=jql).json()["issues"]] == [made.key]
    alice = person("alice")
    # Read in New York, the same wall-clock time is 4 or 5 hours later: after the update.
    alice.time_zone = "America/New_York"
    alice.save(update_fields=["time_zone"])
    assert search(site_api, jql=jql).json()["issues"] == []


def test_search_through_the_gateway(gateway_api: JiraCaller) -> None:
    response = search(gateway_api, jql="project = WEB")
    assert response.status_code == 200
    assert ids_of(response) == [issue_id("WEB-1")]


def test_search_needs_the_read_scope(sandbox: Any, gateway_api: JiraCaller) -> None:
    ApiToken.objects.filter(scoped=True).update(scopes=["write:jira-work"])
    response = search(gateway_api, jql="project = WEB")
    assert response.status_code == 401
    assert response.json() == {"code": 401, "message": "Unauthorized; scope does not match"}


# ---------------------------------------------------------------------------------------------
# Staleness and reconcileIssues
# ---------------------------------------------------------------------------------------------


def test_stale_issues_are_hidden_unless_reconciled(site_api: JiraCaller) -> None:
    knobs_update(site=acme(), changes={"search_staleness_s": 60})
    created = site_api.post(
        "/issue",
        json={
            "fields": {
                "project": {"key": "WEB"},
                "issuetype": {"id": "10004"},
                "summary": "Fresh and not yet indexed",
            }
        },
    )
    assert created.status_code == 201, created.content
    fresh_id = created.json()["id"]
    assert Issue.objects.get(issue_id=int(fresh_id)).indexed_at > timezone.now()
    assert ids_of(search(site_api, jql="project = WEB")) == [issue_id("WEB-1")]
    count = site_api.post("/search/approximate-count", json={"jql": "project = WEB"}).json()
    assert count == {"count": 1}
    reconciled = search(site_api, jql="project = WEB", reconcileIssues=[int(fresh_id)])
    assert ids_of(reconciled) == [fresh_id, issue_id("WEB-1")]
    # Reconciled issues must still match the query.
    assert ids_of(search(site_api, jql="project = MOB", reconcileIssues=[int(fresh_id)])) == [
        issue_id(k) for k in ("MOB-3", "MOB-2", "MOB-1")
    ]
    by_get = site_api.get("/search/jql", params={"jql": "project = WEB", "reconcileIssues": fresh_id})
    assert fresh_id in ids_of(by_get)
    # Once the window has passed, search sees it.
    Issue.objects.filter(issue_id=int(fresh_id)).update(indexed_at=timezone.now() - timedelta(seconds=1))
    assert fresh_id in ids_of(search(site_api, jql="project = WEB"))


def test_reconcile_takes_at_most_50_ids(site_api: JiraCaller) -> None:
    response = search(site_api, jql="project = WEB", reconcileIssues=list(range(10000, 10051)))
    assert response.status_code == 400
    assert search(site_api, jql="project = WEB", reconcileIssues=list(range(10000, 10050))).status_code == 200


# ---------------------------------------------------------------------------------------------
# The anonymous trap (API-NOTES §1d)
# ---------------------------------------------------------------------------------------------


def test_wrong_token_with_the_fallback_on_is_an_empty_200(sandbox: Any) -> None:
    knobs_update(site=acme(), changes={"anonymous_fallback": True})
    c = sandbox.credentials
    wrong = JiraCaller(f"{PREFIX}/site/acme/rest/api/3", basic(c["user_email"], "not-the-token"))
    response = wrong.post("/search/jql", json={"jql": "project = MOB"})
    assert response.status_code == 200
    assert response.json() == {"issues": [], "isLast": True}
    assert response["X-Seraph-LoginReason"] == "AUTHENTICATED_FAILED"
    assert "X-AAccountId" not in response


def test_wrong_token_without_the_fallback_is_a_401(sandbox: Any) -> None:
    c = sandbox.credentials
    wrong = JiraCaller(
        f"{PREFIX}/site/acme/rest/api/3", basic(c["user_email"], "not-the-token"), check_spec=False
    )
    response = wrong.post("/search/jql", json={"jql": "project = MOB"})
    assert response.status_code == 401
    assert "X-Seraph-LoginReason" not in response


def test_no_credentials_is_an_anonymous_empty_search(sandbox: Any) -> None:
    nobody = JiraCaller(f"{PREFIX}/site/acme/rest/api/3")
    response = nobody.get("/search/jql", params={"jql": "project = MOB"})
    assert response.status_code == 200
    assert response.json() == {"issues": [], "isLast": True}
    assert "X-Seraph-LoginReason" not in response


# ---------------------------------------------------------------------------------------------
# approximate-count
# ---------------------------------------------------------------------------------------------


def test_approximate_count(site_api: JiraCaller) -> None:
    for _ in range(4):
        make_issue("OPS")
    assert site_api.post("/search/approximate-count", json={"jql": "project = OPS"}).json() == {"count": 5}
    assert site_api.post("/search/approximate-count", json={"jql": "labels = crash"}).json() == {"count": 1}
    bad = site_api.post("/search/approximate-count", json={"jql": "project = NOPE"})
    assert bad.status_code == 400
    assert bad.json()["errorMessages"] == ["The value 'NOPE' does not exist for the field 'project'."]
    unbounded = site_api.post("/search/approximate-count", json={"jql": "order by key"})
    assert unbounded.status_code == 400 and unbounded.json() == UNBOUNDED


# ---------------------------------------------------------------------------------------------
# bulkfetch
# ---------------------------------------------------------------------------------------------


def test_bulkfetch_mixes_ids_and_keys_in_ascending_id_order(site_api: JiraCaller) -> None:
    wanted = ["WEB-1", issue_id("MOB-2"), "mob-1", "NOPE-7", "99999"]
    response = site_api.post("/issue/bulkfetch", json={"issueIdsOrKeys": wanted})
    assert response.status_code == 200
    body = response.json()
    assert body["issueErrors"] == []
    assert [i["key"] for i in body["issues"]] == ["MOB-1", "MOB-2", "WEB-1"]
    assert [int(i["id"]) for i in body["issues"]] == sorted(int(i["id"]) for i in body["issues"])
    # The default is the navigable fields.
    assert "summary" in body["issues"][0]["fields"] and "description" not in body["issues"][0]["fields"]


def test_bulkfetch_fields_expand_and_properties(site_api: JiraCaller) -> None:
    made = make_issue(properties={"sync": {"state": "linked"}})
    body = site_api.post(
        "/issue/bulkfetch",
        json={
            "issueIdsOrKeys": [made.key],
            "fields": ["summary", "status"],
            "expand": ["names"],
            "properties": ["sync"],
        },
    ).json()
    (issue,) = body["issues"]
    assert set(issue["fields"]) == {"summary", "status"}
    assert issue["names"] == {"summary": "Summary", "status": "Status"}
    assert issue["properties"] == {"sync": {"state": "linked"}}


def test_bulkfetch_needs_one_to_100_ids(site_api: JiraCaller) -> None:
    assert site_api.post("/issue/bulkfetch", json={"issueIdsOrKeys": []}).status_code == 400
    assert site_api.post("/issue/bulkfetch", json={}).status_code == 400
    too_many = [str(10000 + n) for n in range(101)]
    response = site_api.post("/issue/bulkfetch", json={"issueIdsOrKeys": too_many})
    assert response.status_code == 400 and response.json()["errorMessages"]
    assert site_api.post("/issue/bulkfetch", json={"issueIdsOrKeys": too_many[:100]}).status_code == 200


def test_bulkfetch_is_strongly_consistent(site_api: JiraCaller) -> None:
    # The issue store is not the search index: a not-yet-indexed issue is fetched all the same.
    made = make_issue(indexed_at=timezone.now() + timedelta(minutes=5))
    body = site_api.post("/issue/bulkfetch", json={"issueIdsOrKeys": [made.key]}).json()
    assert [i["key"] for i in body["issues"]] == [made.key]


# ---------------------------------------------------------------------------------------------
# The old search
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/search"), ("POST", "/search"), ("GET", "/search/id"), ("POST", "/search/id")],
)
def test_old_search_is_gone(site_api: JiraCaller, method: str, path: str) -> None:
    # /search/id is no longer in Atlassian's spec at all, so there is nothing to check it against.
    caller = JiraCaller(site_api.base, site_api.authorization, check_spec=False)
    response = caller.request(method, path, json={"jql": "project = MOB"} if method == "POST" else None)
    assert response.status_code == 410
    assert response.json() == REMOVED
