"""Comments, comment properties and issue properties, through the REST API and the services."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from integrations.jira_sandbox import comment_services
from integrations.jira_sandbox.knobs import knobs_update
from integrations.jira_sandbox.models import Account, ApiToken, Comment, Delivery, Issue, Site, Webhook
from integrations.jira_sandbox.validation import ADF_REQUIRED, ValidationFailed

from .conftest import JiraCaller

pytestmark = pytest.mark.django_db

COMMENT_EVENTS = ["comment_created", "comment_updated", "comment_deleted", "jira:issue_updated"]


def adf(text: str) -> dict[str, Any]:
    return {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}],
    }


def acme() -> Site:
    return Site.objects.get(name="acme")


def listen(events: list[str] = COMMENT_EVENTS) -> Webhook:
    """An admin webhook on every issue of acme, so the events a change raises leave Delivery rows."""
    site = acme()
    hook = Webhook.objects.create(
        site=site,
        webhook_id=site.next_webhook_id,
        kind=Webhook.Kind.ADMIN,
        url="https://hooks.example/j",
        events=events,
    )
    Site.objects.filter(pk=site.pk).update(next_webhook_id=site.next_webhook_id + 1)
    return hook


def deliveries() -> list[tuple[str, dict[str, Any]]]:
    return [(d.event, json.loads(d.payload)) for d in Delivery.objects.order_by("id")]


def add(api: JiraCaller, key: str, text: str, **extra: Any) -> Any:
    return api.post(f"/issue/{key}/comment", json={"body": adf(text), **extra})


# ---------------------------------------------------------------------------------------------
# Adding and listing
# ---------------------------------------------------------------------------------------------


def test_adding_a_comment_answers_201_with_the_comment(site_api: JiraCaller) -> None:
    site = acme()
    next_id = site.next_comment_id
    response = add(site_api, "MOB-1", "Seen on 18.1 too")
    assert response.status_code == 201
    body = response.json()
    assert body["id"] == str(next_id)
    assert body["body"] == adf("Seen on 18.1 too")
    assert body["author"]["displayName"] == "Alice Admin"
    assert body["updateAuthor"]["accountId"] == body["author"]["accountId"]
    assert body["jsdPublic"] is True
    assert Site.objects.get(pk=site.pk).next_comment_id == next_id + 1
    assert Comment.objects.get(comment_id=next_id).issue.key == "MOB-1"


def test_a_comment_moves_the_issues_updated_and_search_moment(site_api: JiraCaller) -> None:
    knobs_update(site=acme(), changes={"search_staleness_s": 30})
    before = Issue.objects.get(key="MOB-2").updated
    add(site_api, "MOB-2", "bump")
    issue = Issue.objects.get(key="MOB-2")
    assert issue.updated > before
    assert issue.indexed_at == issue.updated + timedelta(seconds=30)


def test_a_comment_raises_its_event_and_issue_commented(site_api: JiraCaller) -> None:
    listen()
    comment_id = add(site_api, "MOB-1", "hello").json()["id"]
    (created, created_body), (updated, updated_body) = deliveries()
    assert created == "comment_created"
    assert created_body["comment"]["id"] == comment_id
    assert created_body["comment"]["body"] == "hello"  # webhooks carry v2 plain text
    assert updated == "jira:issue_updated"
    assert updated_body["issue_event_type_name"] == "issue_commented"
    assert updated_body["comment"]["id"] == comment_id


def test_a_comment_body_must_be_adf(site_api: JiraCaller) -> None:
    plain = site_api.post("/issue/MOB-1/comment", json={"body": "just text"})
    assert plain.status_code == 400
    assert plain.json()["errors"] == {"comment": ADF_REQUIRED}
    empty = site_api.post("/issue/MOB-1/comment", json={})
    assert empty.status_code == 400
    assert empty.json()["errors"] == {"comment": "Comment body can not be empty!"}
    assert not Comment.objects.exists()


def test_unknown_issues_are_404_for_comments(site_api: JiraCaller) -> None:
    assert add(site_api, "MOB-999", "x").status_code == 404
    response = site_api.get("/issue/MOB-999/comment")
    assert response.status_code == 404
    assert response.json()["errorMessages"] == [
        "Issue does not exist or you do not have permission to see it."
    ]


def test_listing_comments_orders_pages_and_renders(site_api: JiraCaller) -> None:
    ids = [add(site_api, "WEB-1", text).json()["id"] for text in ("one", "two <b>bold</b>", "three")]
    listed = site_api.get("/issue/WEB-1/comment").json()
    assert [c["id"] for c in listed["comments"]] == ids
    assert listed["total"] == 3 and listed["maxResults"] == 100
    newest = site_api.get("/issue/WEB-1/comment", params={"orderBy": "-created", "maxResults": 2}).json()
    assert [c["id"] for c in newest["comments"]] == ids[::-1][:2]
    second = site_api.get("/issue/WEB-1/comment", params={"startAt": 1, "maxResults": 1}).json()
    assert [c["id"] for c in second["comments"]] == [ids[1]]
    rendered = site_api.get("/issue/WEB-1/comment", params={"expand": "renderedBody"}).json()["comments"][1]
    assert rendered["renderedBody"] == "<p>two &lt;b&gt;bold&lt;/b&gt;</p>"
    assert "renderedBody" not in listed["comments"][0]
    assert site_api.get("/issue/WEB-1/comment", params={"orderBy": "updated"}).status_code == 400


def test_properties_and_visibility_are_kept_with_the_comment(site_api: JiraCaller) -> None:
    visibility = {"type": "role", "value": "Developers"}
    marker = {"key": "com.example.bugsync", "value": {"origin": "bugtracker", "extId": "c-991"}}
    created = add(site_api, "MOB-1", "synced", properties=[marker], visibility=visibility).json()
    assert created["visibility"] == visibility
    fetched = site_api.get(f"/issue/MOB-1/comment/{created['id']}").json()
    assert fetched["visibility"] == visibility
    listed = site_api.post(
        "/comment/list", json={"ids": [int(created["id"])]}, params={"expand": "properties"}
    )
    assert listed.json()["values"][0]["properties"] == [marker]
    bad = add(site_api, "MOB-1", "x", visibility={"type": "planet", "value": "Mars"})
    assert bad.status_code == 400 and "visibility" in bad.json()["errors"]


# ---------------------------------------------------------------------------------------------
# One comment: get, edit, delete
# ---------------------------------------------------------------------------------------------


def test_getting_a_comment_checks_it_belongs_to_the_issue(site_api: JiraCaller) -> None:
    comment_id = add(site_api, "MOB-1", "mine").json()["id"]
    assert site_api.get(f"/issue/MOB-1/comment/{comment_id}").json()["body"] == adf("mine")
    assert site_api.get(f"/issue/MOB-2/comment/{comment_id}").status_code == 404
    assert site_api.get("/issue/MOB-1/comment/424242").status_code == 404
    assert site_api.get("/issue/MOB-1/comment/abc").status_code == 404


def test_editing_a_comment_replaces_its_body_and_raises_events(site_api: JiraCaller, sandbox: Any) -> None:
    bob = Account.objects.get(email="bob@acme.example")
    comment = comment_services.comment_add(issue=Issue.objects.get(key="MOB-1"), author=bob, body=adf("typo"))
    listen()
    response = site_api.put(f"/issue/MOB-1/comment/{comment.comment_id}", json={"body": adf("fixed")})
    assert response.status_code == 200
    body = response.json()
    assert body["body"] == adf("fixed")
    assert body["author"]["accountId"] == bob.account_id
    assert body["updateAuthor"]["displayName"] == "Alice Admin"
    assert [(event, payload.get("issue_event_type_name")) for event, payload in deliveries()] == [
        ("comment_updated", None),
        ("jira:issue_updated", "issue_comment_edited"),
    ]
    bad = site_api.put(f"/issue/MOB-1/comment/{comment.comment_id}", json={"body": "fixed"})
    assert bad.status_code == 400
    assert Comment.objects.get(pk=comment.pk).body == adf("fixed")


def test_deleting_a_comment_answers_204_and_raises_events_first(site_api: JiraCaller) -> None:
    comment_id = add(site_api, "MOB-1", "going").json()["id"]
    listen()
    assert site_api.delete(f"/issue/MOB-1/comment/{comment_id}").status_code == 204
    assert not Comment.objects.filter(comment_id=int(comment_id)).exists()
    events = deliveries()
    assert [event for event, _ in events] == ["comment_deleted", "jira:issue_updated"]
    assert events[0][1]["comment"]["id"] == comment_id  # built while the row still existed
    assert events[1][1]["issue_event_type_name"] == "issue_comment_deleted"
    assert site_api.delete(f"/issue/MOB-1/comment/{comment_id}").status_code == 404


def test_comment_list_returns_the_sites_comments_by_id(site_api: JiraCaller) -> None:
    first = int(add(site_api, "MOB-1", "a").json()["id"])
    second = int(add(site_api, "WEB-1", "b").json()["id"])
    body = site_api.post("/comment/list", json={"ids": [second, first, 99999]}).json()
    assert [int(c["id"]) for c in body["values"]] == [first, second]
    assert body["total"] == 2 and body["isLast"] is True
    assert "properties" not in body["values"][0]
    assert site_api.post("/comment/list", json={"ids": "1,2"}).status_code == 400
    assert site_api.post("/comment/list", json={"ids": list(range(1001))}).status_code == 400


def test_the_comment_limit_is_a_413(site_api: JiraCaller, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(comment_services, "COMMENT_LIMIT", 1)
    assert add(site_api, "MOB-1", "first").status_code == 201
    assert add(site_api, "MOB-1", "second").status_code == 413


def test_comment_services_refuse_what_the_api_refuses(sandbox: Any) -> None:
    issue = Issue.objects.get(key="MOB-1")
    with pytest.raises(ValidationFailed) as refused:
        comment_services.comment_add(issue=issue, author=None, body={"type": "paragraph"})  # type: ignore[arg-type]
    assert refused.value.errors == {"comment": ADF_REQUIRED}
    with pytest.raises(ValidationFailed):
        comment_services.comment_add(
            issue=issue, author=None, body=adf("x"), properties=[{"key": "", "value": 1}]
        )
    assert not Comment.objects.exists()


def test_comments_through_the_gateway_need_the_write_scope(gateway_api: JiraCaller) -> None:
    created = add(gateway_api, "MOB-1", "from the service account")
    assert created.status_code == 201
    assert created.json()["author"]["accountType"] == "app"
    assert "/api/ex/jira/" in created.json()["self"]
    ApiToken.objects.filter(scoped=True).update(scopes=["read:jira-work"])
    assert add(gateway_api, "MOB-1", "again").status_code == 401
    assert gateway_api.get("/issue/MOB-1/comment").json()["total"] == 1


# ---------------------------------------------------------------------------------------------
# Entity properties
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def comment_path(site_api: JiraCaller) -> str:
    return f"/comment/{add(site_api, 'MOB-1', 'with properties').json()['id']}/properties"


@pytest.fixture
def issue_path(sandbox: Any) -> str:
    return "/issue/MOB-1/properties"


@pytest.mark.parametrize("which", ["comment_path", "issue_path"])
def test_property_put_get_list_delete(
    site_api: JiraCaller, which: str, request: pytest.FixtureRequest
) -> None:
    base = request.getfixturevalue(which)
    assert site_api.get(base).json() == {"keys": []}
    assert site_api.put(f"{base}/sync.state", json={"ext": "c-1"}).status_code == 201
    assert site_api.put(f"{base}/sync.state", json={"ext": "c-2"}).status_code == 200
    assert site_api.get(f"{base}/sync.state").json() == {"key": "sync.state", "value": {"ext": "c-2"}}
    keys = site_api.get(base).json()["keys"]
    assert [k["key"] for k in keys] == ["sync.state"]
    assert keys[0]["self"].endswith("/properties/sync.state")
    assert site_api.get(keys[0]["self"].split("/rest/api/3", 1)[1]).json()["key"] == "sync.state"
    assert site_api.delete(f"{base}/sync.state").status_code == 204
    missing = site_api.get(f"{base}/sync.state")
    assert missing.status_code == 404
    assert missing.json()["errorMessages"] == ["The property with key 'sync.state' does not exist."]
    assert site_api.delete(f"{base}/sync.state").status_code == 404


@pytest.mark.parametrize("which", ["comment_path", "issue_path"])
def test_property_rules(site_api: JiraCaller, which: str, request: pytest.FixtureRequest) -> None:
    base = request.getfixturevalue(which)
    assert site_api.put(f"{base}/{'k' * 256}", json=1).status_code == 400
    assert site_api.put(f"{base}/{'k' * 255}", json=1).status_code == 201
    assert site_api.put(f"{base}/big", json="x" * 32767).status_code == 400  # 32 769 characters of JSON
    assert site_api.put(f"{base}/fits", json="x" * 32766).status_code == 201
    assert site_api.put(f"{base}/empty", data="", content_type="application/json").status_code == 400
    assert site_api.put(f"{base}/broken", data="{nope", content_type="application/json").status_code == 400
    assert sorted(k["key"] for k in site_api.get(base).json()["keys"]) == sorted(["k" * 255, "fits"])


def test_issue_properties_set_at_create_are_listed(site_api: JiraCaller) -> None:
    created = site_api.post(
        "/issue",
        json={
            "fields": {"project": {"key": "WEB"}, "issuetype": {"id": "10004"}, "summary": "Has a property"},
            "properties": [{"key": "bugbridge", "value": {"bug": 12}}],
        },
    )
    assert created.status_code == 201
    key = created.json()["key"]
    assert site_api.get(f"/issue/{key}/properties/bugbridge").json()["value"] == {"bug": 12}


def test_properties_of_unknown_entities_are_404(site_api: JiraCaller) -> None:
    assert site_api.get("/issue/MOB-999/properties").status_code == 404
    assert site_api.put("/issue/MOB-999/properties/x", json=1).status_code == 404
    assert site_api.get("/comment/999999/properties").status_code == 404
    assert site_api.put("/comment/999999/properties/x", json=1).status_code == 404


def test_property_writes_need_the_write_scope_on_the_gateway(gateway_api: JiraCaller, sandbox: Any) -> None:
    assert gateway_api.put("/issue/MOB-1/properties/sa", json={"by": "sa"}).status_code == 201
    ApiToken.objects.filter(scoped=True).update(scopes=["read:jira-work"])
    assert gateway_api.put("/issue/MOB-1/properties/sa", json={"by": "again"}).status_code == 401
    assert gateway_api.get("/issue/MOB-1/properties/sa").json()["value"] == {"by": "sa"}
