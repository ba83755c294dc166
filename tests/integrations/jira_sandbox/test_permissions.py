"""`GET /mypermissions` and the *Delete issues* permission (`SiteAccess.can_delete_issues`).

Every /rest/api/3/ answer is checked against Atlassian's spec by the JiraCaller; these tests check
behaviour, on the site URL and through the gateway.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from integrations.jira_sandbox import services
from integrations.jira_sandbox.auth import hash_token, new_token
from integrations.jira_sandbox.models import (
    Account,
    ApiToken,
    Comment,
    Delivery,
    Issue,
    Site,
    SiteAccess,
    Webhook,
)
from integrations.jira_sandbox.seed import SeedResult

from .conftest import PREFIX, JiraCaller, basic

pytestmark = pytest.mark.django_db

COMMON = [
    "BROWSE_PROJECTS",
    "CREATE_ISSUES",
    "EDIT_ISSUES",
    "DELETE_ISSUES",
    "TRANSITION_ISSUES",
    "ADD_COMMENTS",
    "ASSIGN_ISSUES",
    "ADMINISTER",
]
DELETE_FORBIDDEN = "You do not have permission to delete issues in this project."


def acme() -> Site:
    return Site.objects.get(name="acme")


def account(name: str) -> Account:
    return Account.objects.get(email=f"{name}@acme.example")


def access(name: str) -> SiteAccess:
    return SiteAccess.objects.get(site=acme(), account=account(name))


def caller_for(name: str) -> JiraCaller:
    """A seeded person on the acme site URL with a fresh classic API token."""
    raw = new_token("permtok-")
    ApiToken.objects.create(
        account=account(name),
        label=name,
        token_hash=hash_token(raw),
        expires_at=timezone.now() + timedelta(days=1),
    )
    return JiraCaller(f"{PREFIX}/site/acme/rest/api/3", basic(f"{name}@acme.example", raw))


def held(api: JiraCaller, keys: list[str], **params: str) -> dict[str, bool]:
    response = api.get("/mypermissions", params={"permissions": ",".join(keys), **params})
    assert response.status_code == 200, response.content
    return {key: value["havePermission"] for key, value in response.json()["permissions"].items()}


def new_issue(project: str = "WEB") -> Issue:
    return services.issue_create(
        site=acme(),
        actor=account("alice"),
        fields={"project": {"key": project}, "issuetype": {"id": "10004"}, "summary": "Test issue"},
    )


# ---------------------------------------------------------------------------------------------
# GET /mypermissions
# ---------------------------------------------------------------------------------------------


def test_a_site_admin_holds_every_common_permission_in_jiras_shape(site_api: JiraCaller) -> None:
    response = site_api.get("/mypermissions", params={"projectKey": "MOB", "permissions": ",".join(COMMON)})

    assert response.status_code == 200
    permissions = response.json()["permissions"]
    assert list(permissions) == COMMON
    assert permissions["DELETE_ISSUES"] == {
        "id": "16",
        "key": "DELETE_ISSUES",
        "name": "Delete Issues",
        "type": "PROJECT",
        "description": "Ability to delete issues.",
        "havePermission": True,
    }
    assert permissions["ADMINISTER"]["type"] == "GLOBAL"
    assert all(p["havePermission"] for p in permissions.values())
    assert site_api.validated == (1 if site_api.check_spec else 0)


def test_a_member_holds_the_project_permissions_but_not_administer(sandbox: SeedResult) -> None:
    carol = caller_for("carol")

    answer = held(carol, COMMON, projectKey="MOB")

    assert answer == {key: key != "ADMINISTER" for key in COMMON}
    assert held(carol, ["ADMINISTER", "ADMINISTER_PROJECTS"]) == {
        "ADMINISTER": False,
        "ADMINISTER_PROJECTS": False,
    }


def test_the_flag_withholds_delete_issues_everywhere(sandbox: SeedResult) -> None:
    SiteAccess.objects.filter(pk=access("carol").pk).update(can_delete_issues=False)
    carol = caller_for("carol")

    in_project = held(carol, ["DELETE_ISSUES", "CREATE_ISSUES"], projectKey="MOB")
    by_id = held(carol, ["DELETE_ISSUES"], projectId="10001")
    anywhere = held(carol, ["DELETE_ISSUES"])

    assert in_project == {"DELETE_ISSUES": False, "CREATE_ISSUES": True}
    assert by_id == anywhere == {"DELETE_ISSUES": False}


def test_site_admins_may_delete_whatever_the_flag_says(site_api: JiraCaller) -> None:
    SiteAccess.objects.filter(pk=access("alice").pk).update(can_delete_issues=False)

    assert held(site_api, ["DELETE_ISSUES"], projectKey="MOB") == {"DELETE_ISSUES": True}


def test_issue_and_comment_contexts(site_api: JiraCaller) -> None:
    issue = new_issue()
    comment = Comment.objects.create(
        issue=issue,
        comment_id=10500,
        author=account("alice"),
        body={"type": "doc", "version": 1, "content": []},
    )

    assert held(site_api, ["EDIT_ISSUES"], issueKey=issue.key) == {"EDIT_ISSUES": True}
    assert held(site_api, ["EDIT_ISSUES"], issueId=str(issue.issue_id)) == {"EDIT_ISSUES": True}
    assert held(site_api, ["BROWSE_PROJECTS"], commentId=str(comment.comment_id)) == {"BROWSE_PROJECTS": True}
    other_key = site_api.get("/mypermissions", params={"permissions": "EDIT_ISSUES", "commentId": "10500"})
    assert other_key.status_code == 400


def test_permissions_are_required_and_must_be_known(site_api: JiraCaller) -> None:
    missing = site_api.get("/mypermissions")
    empty = site_api.get("/mypermissions", params={"permissions": " , "})
    unknown = site_api.get("/mypermissions", params={"permissions": "DELETE_ISSUES,FLY_TO_THE_MOON"})

    assert missing.status_code == empty.status_code == 400
    assert missing.json() == {
        "errorMessages": ["The 'permissions' query parameter is required."],
        "errors": {},
    }
    assert unknown.status_code == 400
    assert unknown.json()["errorMessages"] == ["Permission key 'FLY_TO_THE_MOON' is not valid."]


def test_an_unknown_project_or_issue_is_jiras_404(site_api: JiraCaller) -> None:
    by_key = site_api.get("/mypermissions", params={"permissions": "DELETE_ISSUES", "projectKey": "NOPE"})
    by_id = site_api.get("/mypermissions", params={"permissions": "DELETE_ISSUES", "projectId": "99999"})
    issue = site_api.get("/mypermissions", params={"permissions": "EDIT_ISSUES", "issueKey": "MOB-999"})
    comment = site_api.get("/mypermissions", params={"permissions": "BROWSE_PROJECTS", "commentId": "1"})

    assert by_key.status_code == 404
    assert by_key.json() == {"errorMessages": ["No project could be found with key 'NOPE'."], "errors": {}}
    assert by_id.status_code == issue.status_code == comment.status_code == 404


def test_gateway_answers_and_needs_the_read_scope(gateway_api: JiraCaller) -> None:
    # The seeded service account is a site admin on acme.
    assert held(gateway_api, ["DELETE_ISSUES", "ADMINISTER"], projectKey="MOB") == {
        "DELETE_ISSUES": True,
        "ADMINISTER": True,
    }
    ApiToken.objects.filter(scoped=True).update(scopes=["read:jira-user"])
    # The gateway's own 401 body (`{code, message}`) is not the ErrorCollection the spec lists.
    unchecked = JiraCaller(gateway_api.base, gateway_api.authorization, check_spec=False)

    response = unchecked.get("/mypermissions", params={"permissions": "DELETE_ISSUES"})

    assert response.status_code == 401


def test_anonymous_callers_hold_nothing_and_see_no_project(sandbox: SeedResult) -> None:
    nobody = JiraCaller(f"{PREFIX}/site/acme/rest/api/3")

    assert held(nobody, COMMON) == dict.fromkeys(COMMON, False)
    hidden = nobody.get("/mypermissions", params={"permissions": "BROWSE_PROJECTS", "projectKey": "MOB"})
    assert hidden.status_code == 404


# ---------------------------------------------------------------------------------------------
# DELETE /issue/{key}
# ---------------------------------------------------------------------------------------------


def test_delete_without_the_permission_is_jiras_403_and_changes_nothing(sandbox: SeedResult) -> None:
    Webhook.objects.create(
        site=acme(),
        webhook_id=900,
        kind=Webhook.Kind.ADMIN,
        url="http://127.0.0.1:9/hook",
        events=["jira:issue_deleted"],
    )
    issue = new_issue()
    SiteAccess.objects.filter(pk=access("carol").pk).update(can_delete_issues=False)

    response = caller_for("carol").delete(f"/issue/{issue.key}")

    assert response.status_code == 403
    assert response.json() == {"errorMessages": [DELETE_FORBIDDEN], "errors": {}}
    assert Issue.objects.filter(pk=issue.pk).exists()
    assert not Delivery.objects.filter(event="jira:issue_deleted").exists()


def test_delete_with_the_permission_works_for_members_and_admins(
    sandbox: SeedResult, site_api: JiraCaller
) -> None:
    first, second = new_issue(), new_issue()
    SiteAccess.objects.filter(pk=access("alice").pk).update(can_delete_issues=False)

    assert caller_for("carol").delete(f"/issue/{first.key}").status_code == 204
    assert site_api.delete(f"/issue/{second.key}").status_code == 204
    assert not Issue.objects.filter(pk__in=[first.pk, second.pk]).exists()


def test_an_unknown_issue_is_still_a_404_for_those_who_may_not_delete(sandbox: SeedResult) -> None:
    SiteAccess.objects.filter(pk=access("carol").pk).update(can_delete_issues=False)

    assert caller_for("carol").delete("/issue/MOB-999").status_code == 404


def test_the_service_refuses_too_but_not_the_sandbox_itself(sandbox: SeedResult) -> None:
    from integrations.jira_sandbox.responses import ApiError

    issue = new_issue()
    SiteAccess.objects.filter(pk=access("carol").pk).update(can_delete_issues=False)

    with pytest.raises(ApiError) as refused:
        services.issue_delete(issue=services.find_issue(acme(), issue.key), actor=account("carol"))
    assert refused.value.response.status_code == 403
    services.issue_delete(issue=services.find_issue(acme(), issue.key), actor=None)
    assert not Issue.objects.filter(pk=issue.pk).exists()


def test_every_seeded_access_may_delete(sandbox: Any) -> None:
    assert SiteAccess.objects.exists()
    assert all(a.can_delete_issues for a in SiteAccess.objects.all())
