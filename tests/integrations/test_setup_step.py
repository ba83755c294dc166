"""The Set up step's project, issue type and default assignee, on the draft, against the sandbox
on a live server."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from bugs.models import App
from integrations.jira import wizard
from integrations.jira_sandbox import models as sandbox
from integrations.models import JiraConnection
from tests.integrations.conftest import finish_wizard

pytestmark = pytest.mark.django_db(transaction=True)


def _authenticated(web: Client, app: App, jira: dict[str, str]) -> None:
    answer = web.post(
        f"/apps/{app.pk}/settings/integrations/jira/credentials/basic/",
        {
            "basic-site_url": jira["site_url"],
            "basic-email": jira["user_email"],
            "basic-api_token": jira["api_token"],
        },
    )
    assert answer.status_code == 302


def _project(key: str) -> str:
    return str(sandbox.Project.objects.get(site__name="acme", key=key).project_id)


def test_set_up_needs_an_identity_first(web: Client, app: App) -> None:
    answer = web.get(f"/apps/{app.pk}/settings/integrations/jira/setup/", follow=True)
    assert b"Authenticate first" in answer.content


def test_choose_project_type_and_assignee_then_save(web: Client, app: App, jira: dict[str, str]) -> None:
    _authenticated(web, app, jira)
    url = f"/apps/{app.pk}/settings/integrations/jira/setup/"
    page = web.get(url).content.decode()
    assert "Web Dashboard (WEB)" in page and "Choose a project" in page

    part = web.get(url, {"project": _project("WEB"), "assignee_q": "bob"}, headers={"HX-Request": "true"})
    text = part.content.decode()
    assert text.lstrip().startswith('<form method="post"') and "Issue type" in text
    bob = sandbox.Account.objects.get(email="bob@acme.example")
    assert bob.display_name in text
    bug = next(t for t in sandbox.IssueType.objects.filter(site__name="acme") if t.name == "Bug")

    saved = web.post(
        url,
        {
            "project": _project("WEB"),
            "issue_type": bug.type_id,
            "assignee": bob.account_id,
            "assignee_q": "bob",
        },
    )
    assert saved.status_code == 302
    loaded = wizard.draft_load(web.session, app.pk, app)
    assert loaded is not None
    draft = loaded[0]
    assert (draft.project_key, draft.issue_type_name, draft.default_assignee_name) == (
        "WEB",
        "Bug",
        bob.display_name,
    )

    assert finish_wizard(web, app).status_code == 302
    connection = JiraConnection.objects.get(app=app)
    assert (connection.project_id, connection.issue_type_id) == (_project("WEB"), bug.type_id)
    assert connection.default_assignee == bob.account_id
    assert b"Web Dashboard (WEB), Bug" in web.get(f"/apps/{app.pk}/settings/integrations/jira/").content


def test_choices_jira_does_not_offer_are_refused_in_place(
    web: Client, app: App, jira: dict[str, str]
) -> None:
    _authenticated(web, app, jira)
    url = f"/apps/{app.pk}/settings/integrations/jira/setup/"
    no_project = web.post(url, {"project": "999999", "issue_type": "10004"})
    assert no_project.status_code == 400 and b"Pick a project you can create issues in." in no_project.content
    bad_type = web.post(url, {"project": _project("WEB"), "issue_type": "424242"})
    assert bad_type.status_code == 400 and b"Pick one of the issue types" in bad_type.content
    stranger = web.post(
        url,
        {"project": _project("WEB"), "issue_type": "10004", "assignee": "557058:nobody", "assignee_q": "x"},
    )
    assert stranger.status_code == 400 and b"cannot be assigned issues" in stranger.content
    loaded = wizard.draft_load(web.session, app.pk, app)
    assert loaded is not None and loaded[0].project_id == ""  # nothing half-chosen was kept


def test_priority_table_and_status_rows_default_from_categories(
    web: Client, app: App, jira: dict[str, str]
) -> None:
    _authenticated(web, app, jira)
    url = f"/apps/{app.pk}/settings/integrations/jira/setup/"
    web_page = web.get(url, {"project": _project("WEB")}).content.decode()
    assert "Blocker</td><td>Highest" in web_page and "sync both ways" in web_page
    ops_page = web.get(url, {"project": _project("OPS")}).content.decode()
    assert "uses its own priorities" in ops_page and "will not be synced" in ops_page

    statuses = list(sandbox.Status.objects.filter(site__name="acme"))
    done = next(s for s in statuses if s.category == "done")
    assert f'name="status-{done.status_id}"' in web_page
    bug = next(t for t in sandbox.IssueType.objects.filter(site__name="acme") if t.name == "Bug")
    chosen = {f"status-{done.status_id}": "in_progress"}  # the admin overrides one row
    saved = web.post(url, {"project": _project("WEB"), "issue_type": bug.type_id, "assignee": "", **chosen})
    assert saved.status_code == 302
    loaded = wizard.draft_load(web.session, app.pk, app)
    assert loaded is not None
    draft = loaded[0]
    assert draft.priority_two_way is True
    assert draft.status_map[str(done.status_id)] == "in_progress"
    new = next(s for s in statuses if s.category == "new")
    assert draft.status_map[str(new.status_id)] == "new"

    ops = web.post(url, {"project": _project("OPS"), "issue_type": bug.type_id, "assignee": ""})
    assert ops.status_code == 302 and ops["Location"].endswith("/integrations/jira/test/")
    loaded = wizard.draft_load(web.session, app.pk, app)
    assert loaded is not None and loaded[0].priority_two_way is False

    web.post(url, {"project": _project("WEB"), "issue_type": bug.type_id, "assignee": "", **chosen})
    assert finish_wizard(web, app).status_code == 302
    stored = JiraConnection.objects.get(app=app)
    assert stored.status_map == draft.status_map and stored.priority_two_way is True


def test_reconfigure_reopens_set_up_with_the_saved_values(
    web: Client, app: App, jira: dict[str, str]
) -> None:
    _authenticated(web, app, jira)
    url = f"/apps/{app.pk}/settings/integrations/jira/setup/"
    bug = next(t for t in sandbox.IssueType.objects.filter(site__name="acme") if t.name == "Bug")
    web.post(url, {"project": _project("WEB"), "issue_type": bug.type_id, "assignee": "unassigned"})
    finish_wizard(web, app)
    saved = JiraConnection.objects.get(app=app)
    assert wizard.draft_load(web.session, app.pk, app) is None

    reopened = web.post(f"/apps/{app.pk}/settings/integrations/jira/reconfigure/")
    assert reopened.status_code == 302 and reopened["Location"] == url
    page = web.get(url).content.decode()
    assert f'value="{_project("WEB")}" selected' in page and 'value="unassigned" checked' in page

    environment = sandbox.FieldOption.objects.get(
        field__site__name="acme", field__field_id="customfield_10055", value="Staging"
    )
    moved = web.post(
        url,
        {
            "project": _project("MOB"),
            "issue_type": bug.type_id,
            "assignee": "",
            "fixed-customfield_10055": environment.option_id,
        },
    )
    assert moved.status_code == 302, re.findall(r'role="alert">([^<]+)<', moved.content.decode())
    finish_wizard(web, app)
    again = JiraConnection.objects.get(app=app)
    assert again.pk == saved.pk and again.project_key == "MOB"
    # The credentials stay; only the webhook's secret is new (the webhook is registered afresh).
    kept = {k: v for k, v in again.secrets().items() if k != "webhook_secret"}
    assert kept == {k: v for k, v in saved.secrets().items() if k != "webhook_secret"}
    assert again.credentials_set_at == saved.credentials_set_at
