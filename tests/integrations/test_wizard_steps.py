"""The wizard's Set up (field mapping), Test and Finish steps, and what Reconfigure, Disconnect and
the health card make of them: views against the sandbox Jira on a live server, over real HTTP."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest
from django.test import Client

from accounts.models import Role
from bugs.models import App, BugReport
from integrations.jira import wizard
from integrations.jira.auth import client_for
from integrations.jira.errors import JiraAuthError
from integrations.jira_sandbox import models as sandbox
from integrations.models import FieldMapping, JiraConnection

from ..conftest import login
from ..factories import MembershipFactory

pytestmark = pytest.mark.django_db(transaction=True)

ENVIRONMENT = "customfield_10055"  # a select the sandbox's MOB project requires
APP_VERSION = "customfield_10050"  # a textfield
SEVERITY = "customfield_10057"  # radio buttons
CRASH_COUNT = "customfield_10052"  # a number


def _base(app: App) -> str:
    return f"/apps/{app.pk}/settings/integrations/jira/"


def _authenticate(web: Client, app: App, jira: dict[str, str]) -> None:
    answer = web.post(
        _base(app) + "credentials/basic/",
        {
            "basic-site_url": jira["site_url"],
            "basic-email": jira["user_email"],
            "basic-api_token": jira["api_token"],
        },
    )
    assert answer.status_code == 302


def _project(key: str) -> str:
    return str(sandbox.Project.objects.get(site__name="acme", key=key).project_id)


def _bug() -> str:
    return str(
        next(t for t in sandbox.IssueType.objects.filter(site__name="acme") if t.name == "Bug").type_id
    )


def _option(field_id: str, value: str) -> str:
    return str(
        sandbox.FieldOption.objects.get(
            field__site__name="acme", field__field_id=field_id, value=value
        ).option_id
    )


def _rows(page: str) -> dict[str, int]:
    """Source key → its row index, from the page's hidden inputs."""
    return {key: int(i) for i, key in re.findall(r'name="src-(\d+)" value="([^"]+)"', page)}


def _options_of(page: str, select_id: str) -> list[str]:
    block = re.search(rf'<select id="{select_id}"[^>]*>(.*?)</select>', page, re.S)
    assert block, select_id
    return re.findall(r'<option value="([^"]*)"', block.group(1))


def _setup_post(page: str, **extra: str) -> dict[str, str]:
    """Every mapping row of the page, unsent, plus the project choices and `extra`."""
    data = {"project": _project("MOB"), "issue_type": _bug(), "assignee": ""}
    for key, index in _rows(page).items():
        data[f"src-{index}"] = key
        data[f"map-{index}"] = ""
    data.update(extra)
    return data


@pytest.fixture
def report(app: App) -> BugReport:
    return BugReport.objects.create(
        app=app,
        number=1,
        title="Checkout freezes",
        description="The pay button spins forever.",
        reproduction_steps=["Open cart", "Tap pay"],
        app_version="3.2.1",
        app_build="77",
        tags=["checkout"],
        user_attributes={"plan": "pro"},
        priority="major",
    )


@pytest.fixture
def set_up(web: Client, app: App, jira: dict[str, str], report: BugReport) -> dict[str, Any]:
    """Authenticated, and Set up done for MOB: app version → App version, priority → Severity,
    Environment fixed to Production."""
    _authenticate(web, app, jira)
    page = web.get(_base(app) + "setup/", {"project": _project("MOB"), "issue_type": _bug()}).content.decode()
    rows = _rows(page)
    data = _setup_post(
        page,
        **{
            f"map-{rows['app_version']}": APP_VERSION,
            f"map-{rows['priority']}": SEVERITY,
            f"vmk-{rows['priority']}-3": "major",
            f"vm-{rows['priority']}-3": _option(SEVERITY, "S2"),
            f"fixed-{ENVIRONMENT}": _option(ENVIRONMENT, "Production"),
        },
    )
    answer = web.post(_base(app) + "setup/", data)
    assert answer.status_code == 302 and answer["Location"].endswith("/jira/test/"), answer.content[-3000:]
    return {"rows": rows, "data": data}


def test_only_type_compatible_jira_fields_are_offered(web: Client, app: App, jira: dict[str, str]) -> None:
    _authenticate(web, app, jira)
    page = web.get(_base(app) + "setup/", {"project": _project("MOB"), "issue_type": _bug()}).content.decode()
    rows = _rows(page)
    title = _options_of(page, f"map-{rows['title']}")
    assert APP_VERSION in title and "customfield_10051" in title  # text → textfield, textarea
    assert CRASH_COUNT not in title and SEVERITY not in title and "customfield_10058" not in title
    tags = _options_of(page, f"map-{rows['tags']}")
    assert "customfield_10056" in tags and "customfield_10060" in tags  # multiselect, labels
    assert "customfield_10052" not in tags
    assert SEVERITY in _options_of(page, f"map-{rows['priority']}")
    # Reserved fields are never offered; the required select is listed for a fixed value.
    assert all("priority" not in _options_of(page, f"map-{i}") for i in rows.values())
    assert 'id="fixed-row-customfield_10055"' in page


def test_choosing_an_option_field_swaps_in_its_value_map(web: Client, app: App, jira: dict[str, str]) -> None:
    _authenticate(web, app, jira)
    url = _base(app) + "setup/"
    first = web.get(url, {"project": _project("MOB"), "issue_type": _bug()}).content.decode()
    rows = _rows(first)
    data = _setup_post(first, **{f"map-{rows['priority']}": SEVERITY})
    part = web.get(url, data, headers={"HX-Request": "true"}).content.decode()
    assert part.lstrip().startswith('<form method="post"')
    assert f'name="vm-{rows["priority"]}-0"' in part and ">Blocker<" in part
    assert _options_of(part, f"vm-{rows['priority']}-0") == [
        "",
        *[_option(SEVERITY, s) for s in ("S1", "S2", "S3", "S4")],
    ]


def test_a_required_field_must_be_mapped_or_given_a_value(
    web: Client, app: App, jira: dict[str, str]
) -> None:
    _authenticate(web, app, jira)
    url = _base(app) + "setup/"
    page = web.get(url, {"project": _project("MOB"), "issue_type": _bug()}).content.decode()
    refused = web.post(url, _setup_post(page))
    text = refused.content.decode()
    assert refused.status_code == 400
    assert "“Environment” is required in Jira" in text
    assert re.search(r'<tr id="fixed-row-customfield_10055" class="has-error">', text)
    loaded = wizard.draft_load(web.session, app.pk, app)
    assert loaded is not None and loaded[0].project_id == ""  # nothing half-configured kept

    rows = _rows(page)
    two = web.post(
        url,
        _setup_post(
            page,
            **{f"map-{rows['app_version']}": APP_VERSION, f"map-{rows['os']}": APP_VERSION},
            **{f"fixed-{ENVIRONMENT}": _option(ENVIRONMENT, "Staging")},
        ),
    )
    assert two.status_code == 400
    assert "already takes “App version”" in two.content.decode()
    # What was entered is still there.
    assert re.search(rf'<option value="{_option(ENVIRONMENT, "Staging")}" selected>', two.content.decode())


def test_back_and_reload_keep_what_set_up_saved(web: Client, app: App, set_up: dict[str, Any]) -> None:
    page = web.get(_base(app) + "setup/").content.decode()
    rows = set_up["rows"]
    assert re.search(
        rf'<select id="map-{rows["app_version"]}".*?<option value="{APP_VERSION}" selected>', page, re.S
    )
    assert re.search(rf'<option value="{_option(SEVERITY, "S2")}" selected>', page)
    assert re.search(rf'<option value="{_option(ENVIRONMENT, "Production")}" selected>', page)
    # The Authenticate page shows the draft with the steps, and nothing is saved yet.
    assert b"Continue to Set up" in web.get(_base(app)).content
    assert not JiraConnection.objects.filter(app=app).exists()


def test_test_creates_a_real_issue_with_the_mapping_applied_then_deletes_it(
    web: Client, app: App, set_up: dict[str, Any]
) -> None:
    preview = web.get(_base(app) + "test/").content.decode()
    assert "[Bugbridge test] Checkout freezes" in preview and "3.2.1 (77)" in preview
    created = web.post(_base(app) + "test/")
    assert created.status_code == 302
    page = web.get(_base(app) + "test/").content.decode()
    key = re.search(r">(MOB-\d+)</a>", page).group(1)  # type: ignore[union-attr]
    issue = sandbox.Issue.objects.get(site__name="acme", key=key)
    values = issue.custom_fields if hasattr(issue, "custom_fields") else None
    bean = client_for(wizard.draft_load(web.session, app.pk, app)[0]).get_issue(key)  # type: ignore[index]
    assert bean["fields"][APP_VERSION] == "3.2.1 (77)"
    assert bean["fields"][SEVERITY]["value"] == "S2"
    assert bean["fields"][ENVIRONMENT]["value"] == "Production"
    assert bean["fields"]["priority"]["name"] == "High"
    assert "checkout" in bean["fields"]["labels"]
    assert values is None or values  # the sandbox keeps them in its own shape

    assert f"Delete {key}" in page
    web.post(_base(app) + "test/delete/")
    assert not sandbox.Issue.objects.filter(site__name="acme", key=key).exists()
    after = web.get(_base(app) + "test/").content.decode()
    assert "The test issue is deleted" in after and f"Delete {key}" not in after


def test_delete_is_not_offered_without_the_permission(web: Client, app: App, set_up: dict[str, Any]) -> None:
    sandbox.SiteAccess.objects.filter(site__name="acme", account__email="alice@acme.example").update(
        can_delete_issues=False, is_admin=False
    )
    web.post(_base(app) + "test/")
    page = web.get(_base(app) + "test/").content.decode()
    assert "may not delete issues in MOB" in page and "test/delete/" not in page


def test_jira_s_field_errors_land_on_the_rows_that_caused_them(
    web: Client, app: App, set_up: dict[str, Any]
) -> None:
    # After Set up, a Jira admin makes "Crash count" required: the test issue is refused.
    sandbox.ScreenField.objects.filter(
        project__site__name="acme", project__key="MOB", field__field_id=CRASH_COUNT
    ).update(required=True)
    web.post(_base(app) + "test/")
    page = web.get(_base(app) + "test/").content.decode()
    assert "Jira refused the test issue" in page and "Crash count" in page
    setup_page = web.get(_base(app) + "setup/").content.decode()
    assert re.search(r'<tr id="fixed-row-customfield_10052" class="has-error">', setup_page)


def test_finish_saves_connection_switches_and_mappings_at_once(
    web: Client, app: App, set_up: dict[str, Any]
) -> None:
    page = web.get(_base(app) + "finish/").content.decode()
    revision = re.search(r'name="revision" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    assert "Mobile App (MOB), Bug" in page and "App version → App version" in page
    assert "is not a Jira administrator" not in page  # alice administers acme: a webhook, not polling
    done = web.post(
        _base(app) + "finish/",
        {
            "revision": revision,
            "auto_forward": "on",
            "forward_min_priority": "major",
            "forward_tags": "checkout, crash ,checkout",
            "sync_status": "on",
            "sync_comments": "on",
        },
    )
    assert done.status_code == 302
    connection = JiraConnection.objects.get(app=app)
    assert connection.auto_forward and connection.forward_min_priority == "major"
    assert connection.forward_tags == ["checkout", "crash"]
    assert (connection.sync_status, connection.sync_priority, connection.sync_comments) == (True, False, True)
    assert connection.configured_at is not None and connection.project_key == "MOB"
    mappings = {m.jira_field_id: m for m in FieldMapping.objects.filter(connection=connection)}
    assert set(mappings) == {APP_VERSION, SEVERITY, ENVIRONMENT}
    assert mappings[SEVERITY].value_map == {"major": _option(SEVERITY, "S2")}
    assert mappings[ENVIRONMENT].source == "" and mappings[ENVIRONMENT].fixed_value == _option(
        ENVIRONMENT, "Production"
    )
    assert wizard.draft_load(web.session, app.pk, app) is None
    card = web.get(_base(app)).content.decode()
    for words in ("Basic Authentication", "Mobile App (MOB)", "Reports forwarded", "A Jira admin webhook"):
        assert words in card


def test_a_finish_from_a_tab_showing_an_older_set_up_is_refused(
    web: Client, app: App, set_up: dict[str, Any]
) -> None:
    old_tab = web.get(_base(app) + "finish/").content.decode()
    revision = re.search(r'name="revision" value="([^"]+)"', old_tab).group(1)  # type: ignore[union-attr]
    # Another tab changes Set up in the meantime.
    assert web.post(_base(app) + "setup/", set_up["data"]).status_code == 302
    refused = web.post(_base(app) + "finish/", {"revision": revision, "sync_status": "on"})
    assert refused.status_code == 400 and "changed in another tab" in refused.content.decode()
    assert not JiraConnection.objects.filter(app=app).exists()
    fresh = re.search(r'name="revision" value="([^"]+)"', refused.content.decode()).group(1)  # type: ignore[union-attr]
    assert web.post(_base(app) + "finish/", {"revision": fresh}).status_code == 302


def test_reconfigure_reopens_the_mapping_and_can_skip_the_test(
    web: Client, app: App, set_up: dict[str, Any]
) -> None:
    page = web.get(_base(app) + "finish/").content.decode()
    revision = re.search(r'name="revision" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    web.post(_base(app) + "finish/", {"revision": revision, "sync_status": "on"})
    assert web.post(_base(app) + "reconfigure/").status_code == 302
    again = web.get(_base(app) + "setup/").content.decode()
    assert "Skip the test: go to Finish" in again
    assert re.search(rf'<option value="{_option(SEVERITY, "S2")}" selected>', again)
    rows = set_up["rows"]
    data = {
        **set_up["data"],
        f"map-{rows['app_version']}": "",
        f"map-{rows['os']}": APP_VERSION,
        "then": "finish",
    }
    answer = web.post(_base(app) + "setup/", data)
    assert answer.status_code == 302 and answer["Location"].endswith("/jira/finish/")
    page = web.get(_base(app) + "finish/").content.decode()
    assert 'name="sync_status" checked' in page or "sync_status" in page
    revision = re.search(r'name="revision" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    web.post(_base(app) + "finish/", {"revision": revision})
    connection = JiraConnection.objects.get(app=app)
    assert FieldMapping.objects.get(connection=connection, jira_field_id=APP_VERSION).source == "os"


def test_disconnect_removes_the_webhooks_bugbridge_registered(
    web: Client, app: App, set_up: dict[str, Any], jira: dict[str, str]
) -> None:
    page = web.get(_base(app) + "finish/").content.decode()
    revision = re.search(r'name="revision" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    web.post(_base(app) + "finish/", {"revision": revision})
    connection = JiraConnection.objects.get(app=app)
    client_for(connection).create_admin_webhook(
        name="Bugbridge", url=f"{jira['base']}/hooks/jira", events=["jira:issue_updated"], secret="s" * 32
    )
    registered = sandbox.Webhook.objects.get(site__name="acme", kind="admin")
    connection.webhook_kind, connection.webhook_ids = "admin", [registered.webhook_id]
    connection.save()
    assert b"removes the webhooks" in web.get(_base(app) + "disconnect/").content
    web.post(_base(app) + "disconnect/")
    assert sandbox.Webhook.objects.filter(site__name="acme", kind="admin").count() == 0
    connection.refresh_from_db()
    assert connection.status == "disconnected" and connection.webhook_ids == []


def test_calls_through_a_saved_connection_keep_its_health(
    web: Client, app: App, set_up: dict[str, Any]
) -> None:
    page = web.get(_base(app) + "finish/").content.decode()
    revision = re.search(r'name="revision" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    web.post(_base(app) + "finish/", {"revision": revision})
    connection = JiraConnection.objects.get(app=app)
    JiraConnection.objects.filter(pk=connection.pk).update(last_success_at=None)
    client_for(connection).myself()
    connection.refresh_from_db()
    assert connection.last_success_at is not None and connection.last_error == ""
    sandbox.ApiToken.objects.all().delete()  # the token is revoked in Atlassian
    with pytest.raises(JiraAuthError):
        client_for(connection).myself()
    connection.refresh_from_db()
    assert connection.last_error and connection.last_error_at is not None
    assert connection.last_error in web.get(_base(app)).content.decode()


@pytest.mark.parametrize("step", ["setup/", "test/", "test/delete/", "finish/"])
def test_members_get_a_404_on_every_step(client: Client, app: App, step: str) -> None:
    member = MembershipFactory(organization=app.organization, role=Role.MEMBER)
    web = login(client, member.user)
    assert web.get(_base(app) + step).status_code in (404, 405)
    assert web.post(_base(app) + step).status_code == 404


@pytest.mark.parametrize("step", ["test/", "finish/"])
def test_test_and_finish_need_set_up_first(web: Client, app: App, jira: dict[str, str], step: str) -> None:
    _authenticate(web, app, jira)
    answer = web.get(_base(app) + step, follow=True)
    assert b"Set up first" in answer.content


def test_test_over_htmx_answers_with_the_outcome_fragment(
    web: Client, app: App, set_up: dict[str, Any]
) -> None:
    part = web.post(_base(app) + "test/", headers={"HX-Request": "true"})
    text = part.content.decode()
    assert part.status_code == 200 and text.lstrip().startswith('<div id="test-body">')
    assert re.search(r"Created <a [^>]*>MOB-\d+</a>", text) and "<html" not in text
    # A reload shows the same outcome (it is kept with the draft).
    assert re.search(r"Created <a [^>]*>MOB-\d+</a>", web.get(_base(app) + "test/").content.decode())


def test_reloading_finish_after_saving_points_to_reconfigure(
    web: Client, app: App, set_up: dict[str, Any]
) -> None:
    page = web.get(_base(app) + "finish/").content.decode()
    revision = re.search(r'name="revision" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    assert web.post(_base(app) + "finish/", {"revision": revision}).status_code == 302
    again = web.post(_base(app) + "finish/", {"revision": revision}, follow=True)
    assert b"No change is in progress: use Reconfigure" in again.content
    assert JiraConnection.objects.filter(app=app).count() == 1


class _Ids(HTMLParser):
    """Every id of a page, and every label's `for` and aria reference, for the checks below."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.references: list[str] = []
        self.controls: list[tuple[str, str]] = []  # (tag, id) of controls no label wraps
        self.in_label = 0

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self.in_label -= 1

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "label":
            self.in_label += 1
        if found.get("id"):
            self.ids.append(str(found["id"]))
        if tag == "label" and found.get("for"):
            self.references.append(str(found["for"]))
        for name in ("aria-describedby", "aria-labelledby"):
            self.references += str(found.get(name) or "").split()
        if self.in_label:  # a control inside its label is labelled by it
            return
        if tag in ("select", "textarea") or (
            tag == "input" and found.get("type") not in ("hidden", "submit")
        ):
            self.controls.append((tag, str(found.get("id") or "")))


@pytest.mark.parametrize("step", ["setup/", "test/", "finish/", ""])
def test_each_step_page_has_unique_ids_and_labelled_controls(
    web: Client, app: App, set_up: dict[str, Any], step: str
) -> None:
    parser = _Ids()
    parser.feed(web.get(_base(app) + step).content.decode())
    duplicates = {i for i in parser.ids if parser.ids.count(i) > 1}
    assert not duplicates
    assert set(parser.references) <= set(parser.ids)
    labelled = set(parser.references)
    # Every control but the search boxes labelled by their form's aria-label has a label.
    unlabelled = [c for c in parser.controls if c[1] not in labelled and c[1] not in ("project-q",)]
    assert not unlabelled, unlabelled


def test_jira_s_errors_on_fields_without_a_row_show_above_the_form(
    web: Client, app: App, set_up: dict[str, Any]
) -> None:
    # After Set up, a Jira admin takes priority off MOB's create screen.
    sandbox.ScreenField.objects.filter(
        project__site__name="acme", project__key="MOB", field__field_id="priority"
    ).delete()
    web.post(_base(app) + "test/")
    assert "Jira refused the test issue" in web.get(_base(app) + "test/").content.decode()
    page = web.get(_base(app) + "setup/").content.decode()
    assert re.search(
        r'<div class="flash flash-warning" role="status"><p>Priority: Jira refused the test issue', page
    )


def test_finish_says_polling_when_the_identity_is_no_jira_admin(
    web: Client, app: App, set_up: dict[str, Any]
) -> None:
    sandbox.SiteAccess.objects.filter(site__name="acme", account__email="alice@acme.example").update(
        is_admin=False
    )
    page = web.get(_base(app) + "finish/").content.decode()
    assert "is not a Jira administrator" in page
    assert page.count("From Jira by periodic polling") == 3  # said under each sync switch


def test_an_unassigned_set_up_creates_an_unassigned_test_issue(
    web: Client, app: App, set_up: dict[str, Any]
) -> None:
    assert web.post(_base(app) + "setup/", {**set_up["data"], "assignee": "unassigned"}).status_code == 302
    web.post(_base(app) + "test/")
    page = web.get(_base(app) + "test/").content.decode()
    found = re.search(r">(MOB-\d+)</a>", page)
    assert found, re.findall(r'class="flash flash-error" role="alert">([^<]*)<', page)
    assert sandbox.Issue.objects.get(site__name="acme", key=found.group(1)).assignee is None
