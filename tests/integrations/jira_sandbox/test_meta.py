"""Metadata calls: projects, createmeta, fields, priorities and schemes, statuses, users, settings.

Every answer is checked against Atlassian's spec by the JiraCaller; these tests check behaviour.
"""

from __future__ import annotations

from typing import Any

import pytest

from integrations.jira_sandbox.knobs import knobs_update
from integrations.jira_sandbox.models import (
    Account,
    ApiToken,
    Field,
    IssueType,
    Priority,
    Project,
    ScreenField,
    Site,
    SiteAccess,
    Status,
)

from .conftest import JiraCaller

pytestmark = pytest.mark.django_db

CONFIG_SCOPE = "manage:jira-configuration"


def acme() -> Site:
    return Site.objects.get(name="acme")


def project_keys(body: dict[str, Any]) -> list[str]:
    return [p["key"] for p in body["values"]]


# ---------------------------------------------------------------------------------------------
# Projects
# ---------------------------------------------------------------------------------------------


def test_project_search_pages_in_key_order_until_the_last_page(site_api: JiraCaller) -> None:
    expected = sorted(Project.objects.filter(site=acme()).values_list("key", flat=True))
    first = site_api.get("/project/search", params={"maxResults": 2}).json()
    assert first["total"] == len(expected)
    assert project_keys(first) == expected[:2]
    assert first["isLast"] is False
    assert "startAt=2" in first["nextPage"]
    rest_path = first["nextPage"].split("/rest/api/3", 1)[1]
    second = site_api.get(rest_path).json()
    assert project_keys(second) == expected[2:]
    assert second["isLast"] is True
    assert "nextPage" not in second


def test_project_search_clamps_max_results_to_100(site_api: JiraCaller) -> None:
    body = site_api.get("/project/search", params={"maxResults": 500}).json()
    assert body["maxResults"] == 100
    assert body["isLast"] is True


def test_project_search_filters_by_query_keys_and_ids(site_api: JiraCaller) -> None:
    assert project_keys(site_api.get("/project/search", params={"query": "ops"}).json()) == ["OPS"]
    # The query also matches a substring of the name ("Web Dashboard").
    assert project_keys(site_api.get("/project/search", params={"query": "dashb"}).json()) == ["WEB"]
    keys = site_api.get("/project/search", params={"keys": ["WEB", "MOB"]}).json()
    assert project_keys(keys) == ["MOB", "WEB"]
    ops_id = Project.objects.get(site=acme(), key="OPS").project_id
    assert project_keys(site_api.get("/project/search", params={"id": ops_id}).json()) == ["OPS"]
    assert site_api.get("/project/search", params={"query": "nothing-like-it"}).json()["total"] == 0


def test_project_search_orders_by_name_descending_and_rejects_unknown_orders(site_api: JiraCaller) -> None:
    body = site_api.get("/project/search", params={"orderBy": "-name"}).json()
    names = [p["name"] for p in body["values"]]
    assert names == sorted(names, key=str.lower, reverse=True)
    assert site_api.get("/project/search", params={"orderBy": "shoe-size"}).status_code == 400


def test_project_search_accepts_jiras_actions_only(site_api: JiraCaller) -> None:
    created = site_api.get("/project/search", params={"action": "create"})
    assert created.status_code == 200
    assert created.json()["total"] == Project.objects.filter(site=acme()).count()
    assert site_api.get("/project/search", params={"action": "destroy"}).status_code == 400


def test_project_search_expands_lead_issue_types_and_insight(site_api: JiraCaller) -> None:
    plain = site_api.get("/project/search", params={"keys": "MOB"}).json()["values"][0]
    assert "lead" not in plain and "issueTypes" not in plain
    body = site_api.get(
        "/project/search", params={"keys": "MOB", "expand": "description,lead,issueTypes,url,insight"}
    ).json()
    project = body["values"][0]
    mob = Project.objects.get(site=acme(), key="MOB")
    assert project["lead"]["accountId"] == mob.lead.account_id
    assert [t["id"] for t in project["issueTypes"]] == list(
        IssueType.objects.filter(site=acme()).values_list("type_id", flat=True)
    )
    assert project["insight"]["totalIssueCount"] == mob.issues.count()


def test_project_by_key_or_id_and_jiras_404(site_api: JiraCaller) -> None:
    mob = Project.objects.get(site=acme(), key="MOB")
    by_key = site_api.get("/project/mob")
    assert by_key.status_code == 200
    assert by_key.json()["id"] == mob.project_id
    assert by_key.json()["lead"]["accountId"] == mob.lead.account_id
    assert site_api.get(f"/project/{mob.project_id}").json()["key"] == "MOB"
    missing = site_api.get("/project/NOPE")
    assert missing.status_code == 404
    assert missing.json()["errorMessages"] == ["No project could be found with key 'NOPE'."]


def test_project_statuses_lists_every_issue_type_with_the_workflows_statuses(site_api: JiraCaller) -> None:
    body = site_api.get("/project/WEB/statuses").json()
    site = acme()
    assert [t["id"] for t in body] == list(
        IssueType.objects.filter(site=site).values_list("type_id", flat=True)
    )
    status_ids = list(Status.objects.filter(site=site).values_list("status_id", flat=True))
    for issue_type in body:
        assert [s["id"] for s in issue_type["statuses"]] == status_ids
    done = next(s for s in body[0]["statuses"] if s["name"] == "Done")
    assert done["statusCategory"]["key"] == "done"
    assert site_api.get("/project/NOPE/statuses").status_code == 404


# ---------------------------------------------------------------------------------------------
# Create metadata
# ---------------------------------------------------------------------------------------------


def test_createmeta_issue_types_are_paged_and_capped_at_200(site_api: JiraCaller) -> None:
    all_types = site_api.get("/issue/createmeta/MOB/issuetypes").json()
    assert all_types["total"] == IssueType.objects.filter(site=acme()).count()
    assert {t["name"] for t in all_types["issueTypes"]} == {"Task", "Story", "Bug"}
    page = site_api.get("/issue/createmeta/MOB/issuetypes", params={"startAt": 1, "maxResults": 1}).json()
    assert [t["id"] for t in page["issueTypes"]] == [all_types["issueTypes"][1]["id"]]
    assert site_api.get("/issue/createmeta/MOB/issuetypes", params={"maxResults": 200}).status_code == 200
    too_many = site_api.get("/issue/createmeta/MOB/issuetypes", params={"maxResults": 201})
    assert too_many.status_code == 400
    assert too_many.json()["errorMessages"] == ["Parameter 'maxResults' must not exceed the limit '200'"]
    assert site_api.get("/issue/createmeta/NOPE/issuetypes").status_code == 404


def createmeta_fields(api: JiraCaller, project: str, type_id: str = "10004") -> dict[str, Any]:
    response = api.get(f"/issue/createmeta/{project}/issuetypes/{type_id}", params={"maxResults": 200})
    assert response.status_code == 200
    return {f["fieldId"]: f for f in response.json()["fields"]}


def test_createmeta_fields_follow_the_projects_screen(site_api: JiraCaller) -> None:
    fields = createmeta_fields(site_api, "MOB")
    screen = ScreenField.objects.filter(project__site=acme(), project__key="MOB").select_related("field")
    assert {row.field.field_id: row.required for row in screen} == {
        k: f["required"] for k, f in fields.items()
    }
    environment = fields["customfield_10055"]
    assert environment["required"] is True
    assert environment["schema"]["custom"].endswith(":select")
    assert [v["value"] for v in environment["allowedValues"]] == ["Production", "Staging", "Development"]
    assert fields["labels"]["operations"] == ["add", "set", "remove"]
    assert fields["summary"]["operations"] == ["set"]
    assert "/user/assignable/search?project=MOB" in fields["assignee"]["autoCompleteUrl"]
    assert [v["id"] for v in fields["issuetype"]["allowedValues"]] == ["10004"]
    assert fields["description"]["hasDefaultValue"] is False


def test_createmeta_priorities_follow_the_projects_priority_scheme(site_api: JiraCaller) -> None:
    default_five = createmeta_fields(site_api, "MOB")["priority"]
    assert [v["name"] for v in default_five["allowedValues"]] == [
        "Highest",
        "High",
        "Medium",
        "Low",
        "Lowest",
    ]
    assert default_five["hasDefaultValue"] is True
    assert default_five["defaultValue"]["name"] == "Medium"
    custom = createmeta_fields(site_api, "OPS")["priority"]
    expected = list(Priority.objects.filter(site=acme(), custom=True).values_list("name", flat=True))
    assert [v["name"] for v in custom["allowedValues"]] == expected
    assert (
        custom["defaultValue"]["id"]
        == Priority.objects.get(site=acme(), custom=True, is_default=True).priority_id
    )


def test_switching_a_project_to_custom_priorities_changes_its_createmeta(site_api: JiraCaller) -> None:
    Project.objects.filter(site=acme(), key="WEB").update(custom_priorities=True)
    allowed = createmeta_fields(site_api, "WEB")["priority"]["allowedValues"]
    assert {v["id"] for v in allowed} == set(
        Priority.objects.filter(site=acme(), custom=True).values_list("priority_id", flat=True)
    )


def test_createmeta_fields_are_paged_and_unknown_types_are_404(site_api: JiraCaller) -> None:
    total = ScreenField.objects.filter(project__site=acme(), project__key="WEB").count()
    page = site_api.get(
        "/issue/createmeta/WEB/issuetypes/10001", params={"startAt": 2, "maxResults": 3}
    ).json()
    assert page["total"] == total
    assert page["startAt"] == 2
    assert len(page["fields"]) == 3
    assert site_api.get("/issue/createmeta/WEB/issuetypes/99999").status_code == 404
    assert (
        site_api.get("/issue/createmeta/WEB/issuetypes/10001", params={"maxResults": 999}).status_code == 400
    )


def test_field_lists_every_system_and_custom_field(site_api: JiraCaller) -> None:
    body = site_api.get("/field").json()
    assert {f["id"] for f in body} == set(
        Field.objects.filter(site=acme()).values_list("field_id", flat=True)
    )
    select = next(f for f in body if f["id"] == "customfield_10055")
    assert select["custom"] is True
    assert select["clauseNames"][0] == "cf[10055]"
    assert next(f for f in body if f["id"] == "summary")["custom"] is False


# ---------------------------------------------------------------------------------------------
# Priorities and schemes
# ---------------------------------------------------------------------------------------------


def test_priority_lists_the_sites_priorities_with_one_default(site_api: JiraCaller) -> None:
    body = site_api.get("/priority").json()
    assert [p["id"] for p in body] == list(
        Priority.objects.filter(site=acme()).values_list("priority_id", flat=True)
    )
    assert [p["name"] for p in body if p["isDefault"]] == ["Medium"]


def test_priority_search_filters_by_project_name_and_default(site_api: JiraCaller) -> None:
    ops = Project.objects.get(site=acme(), key="OPS")
    by_project = site_api.get("/priority/search", params={"projectId": ops.project_id}).json()
    assert {p["name"] for p in by_project["values"]} == {"Show Stopper", "Normal", "Someday"}
    ops_default = site_api.get(
        "/priority/search", params={"projectId": ops.project_id, "onlyDefault": "true"}
    )
    assert [p["name"] for p in ops_default.json()["values"]] == ["Normal"]
    site_default = site_api.get("/priority/search", params={"onlyDefault": "true"}).json()
    assert [p["name"] for p in site_default["values"]] == ["Medium"]
    named = site_api.get("/priority/search", params={"priorityName": "high"}).json()
    assert [p["name"] for p in named["values"]] == ["Highest", "High"]
    paged = site_api.get("/priority/search", params={"maxResults": 3}).json()
    assert len(paged["values"]) == 3 and paged["isLast"] is False and paged["total"] == 8


def test_priority_schemes_list_both_schemes_with_their_projects(site_api: JiraCaller) -> None:
    body = site_api.get("/priorityscheme", params={"expand": "priorities,projects"}).json()
    schemes = {s["id"]: s for s in body["values"]}
    assert set(schemes) == {"1", "10000"}
    assert schemes["1"]["name"] == "Default priority scheme"
    assert [p["key"] for p in schemes["1"]["projects"]["values"]] == ["MOB", "WEB"]
    assert [p["key"] for p in schemes["10000"]["projects"]["values"]] == ["OPS"]
    assert schemes["10000"]["defaultPriorityId"] == "10001"
    assert [p["sequence"] for p in schemes["1"]["priorities"]["values"]] == ["1", "2", "3", "4", "5"]
    plain = site_api.get("/priorityscheme").json()["values"][0]
    assert "priorities" not in plain and "projects" not in plain
    reverse = site_api.get("/priorityscheme", params={"orderBy": "-name"}).json()
    assert [s["name"] for s in reverse["values"]] == ["Default priority scheme", "Custom priority scheme"]


def test_priority_scheme_priorities_are_paged_and_unknown_schemes_404(site_api: JiraCaller) -> None:
    body = site_api.get("/priorityscheme/10000/priorities", params={"maxResults": 2}).json()
    assert [p["name"] for p in body["values"]] == ["Show Stopper", "Normal"]
    assert body["total"] == 3 and body["isLast"] is False
    assert site_api.get("/priorityscheme/4242/priorities").status_code == 404


def test_priority_schemes_need_the_configuration_scope_on_the_gateway(gateway_api: JiraCaller) -> None:
    assert gateway_api.get("/priorityscheme").status_code == 200
    token = ApiToken.objects.get(scoped=True)
    token.scopes = [s for s in token.scopes if s != CONFIG_SCOPE]
    token.save()
    refused = gateway_api.get("/priorityscheme")
    assert refused.status_code == 401
    assert refused.json() == {"code": 401, "message": "Unauthorized; scope does not match"}
    # Reading priorities needs read:jira-work only.
    assert gateway_api.get("/priority").status_code == 200


# ---------------------------------------------------------------------------------------------
# Statuses, users, attachment settings
# ---------------------------------------------------------------------------------------------


def test_status_categories_and_statuses(site_api: JiraCaller) -> None:
    categories = site_api.get("/statuscategory").json()
    assert [(c["id"], c["key"]) for c in categories] == [
        (1, "undefined"),
        (2, "new"),
        (3, "done"),
        (4, "indeterminate"),
    ]
    statuses = site_api.get("/status").json()
    expected = {s.status_id: s.category for s in Status.objects.filter(site=acme())}
    assert {s["id"]: s["statusCategory"]["key"] for s in statuses} == expected


def assignable(api: JiraCaller, **params: Any) -> Any:
    return api.get("/user/assignable/search", params=params)


def test_assignable_users_match_a_prefix_of_name_or_email(site_api: JiraCaller) -> None:
    assert [u["displayName"] for u in assignable(site_api, project="MOB", query="BOB").json()] == [
        "Bob Builder"
    ]
    assert [u["displayName"] for u in assignable(site_api, project="MOB", query="carol@").json()] == [
        "Carol Tester"
    ]
    # A word of the display name counts; an inner substring does not.
    assert [u["displayName"] for u in assignable(site_api, project="MOB", query="test").json()] == [
        "Carol Tester"
    ]
    assert assignable(site_api, project="MOB", query="ester").json() == []
    everyone = assignable(site_api, project="MOB", query="").json()
    assert len(everyone) == SiteAccess.objects.filter(site=acme()).count()
    assert len(assignable(site_api, project="MOB", query="", maxResults=2).json()) == 2


def test_assignable_users_by_account_id_and_by_issue(site_api: JiraCaller) -> None:
    bob = Account.objects.get(email="bob@acme.example")
    found = assignable(site_api, issueKey="MOB-1", accountId=bob.account_id).json()
    assert [u["accountId"] for u in found] == [bob.account_id]
    assert assignable(site_api, issueKey="MOB-999", query="b").status_code == 404
    assert assignable(site_api, project="NOPE", query="b").status_code == 404


def test_assignable_users_need_exactly_one_of_query_and_account_id(site_api: JiraCaller) -> None:
    bob = Account.objects.get(email="bob@acme.example")
    assert assignable(site_api, project="MOB").status_code == 400
    assert assignable(site_api, project="MOB", query="b", accountId=bob.account_id).status_code == 400
    assert assignable(site_api, query="b").status_code == 400  # no project, no issue


def test_assignable_users_leave_out_inactive_people_and_other_sites(site_api: JiraCaller) -> None:
    Account.objects.filter(email="bob@acme.example").update(active=False)
    outsider = Account.objects.create(
        account_id="712020:outsider", email="olly@elsewhere.example", display_name="Bobby Outsider"
    )
    SiteAccess.objects.create(site=Site.objects.get(name="globex"), account=outsider)
    assert assignable(site_api, project="MOB", query="bob").json() == []


def test_user_by_account_id(site_api: JiraCaller) -> None:
    carol = Account.objects.get(email="carol@acme.example")
    body = site_api.get("/user", params={"accountId": carol.account_id}).json()
    assert body["displayName"] == "Carol Tester"
    assert body["accountType"] == "atlassian"
    assert site_api.get("/user", params={"accountId": "712020:nobody"}).status_code == 404
    assert site_api.get("/user").status_code == 400


def test_user_calls_need_the_user_scope_on_the_gateway(gateway_api: JiraCaller) -> None:
    alice = Account.objects.get(email="alice@acme.example")
    assert gateway_api.get("/user", params={"accountId": alice.account_id}).status_code == 200
    ApiToken.objects.filter(scoped=True).update(scopes=["read:jira-work"])
    assert gateway_api.get("/user", params={"accountId": alice.account_id}).status_code == 401
    assert assignable(gateway_api, project="MOB", query="a").status_code == 401


def test_attachment_meta_reports_the_sites_upload_limit(site_api: JiraCaller) -> None:
    knobs_update(site=acme(), changes={"upload_limit": 12345})
    assert site_api.get("/attachment/meta").json() == {"enabled": True, "uploadLimit": 12345}
