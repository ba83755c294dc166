"""Sending reports to Jira from the dashboard (integrations.forward_views): the report's Jira
panel, the "Send to Jira…" preview, linking by hand, the list's bulk send and its batch page.

Sends go to the sandbox Jira on a live server with tasks run eagerly, so a send completes within
the request; the pending state is rendered from a link written directly."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Membership, Role
from bugs.models import App, BugReport
from integrations.jira import wizard
from integrations.jira_sandbox import metacache
from integrations.jira_sandbox import models as sandbox
from integrations.models import FieldMapping, ForwardBatch, IssueLink, JiraConnection
from tests.factories import MembershipFactory, ReportFactory

from ..conftest import login

pytestmark = pytest.mark.django_db(transaction=True)
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def saved(app: App) -> JiraConnection:
    """A saved connection without a Jira behind it: for pages that only read links."""
    return JiraConnection.objects.create(
        app=app,
        auth_type="basic",
        site_url="https://acme.atlassian.net",
        project_id="10000",
        project_key="WEB",
        project_name="Website",
        issue_type_id="10001",
        issue_type_name="Bug",
    )


@pytest.fixture
def member_web(app: App) -> Client:
    membership = MembershipFactory(organization=app.organization, role=Role.MEMBER)
    return login(Client(), membership.user)


def _urls(report: BugReport) -> dict[str, str]:
    args = {"app_id": report.app_id, "number": report.number}
    return {
        name: reverse(f"jira_{name}", kwargs=args) for name in ("panel", "send", "preview", "link", "unlink")
    }


def _html(response: Any) -> str:
    return response.content.decode()


def _fragment(response: Any) -> str:
    html = _html(response)
    assert "<html" not in html and "<!DOCTYPE" not in html, html[:300]
    return html


def _issues(label: str) -> list[sandbox.Issue]:
    return list(sandbox.Issue.objects.filter(site__name="acme", label_rows__name=label))


# --- the report's panel ------------------------------------------------------------------------


def test_the_report_page_offers_send_and_the_preview(web: Client, app: App, saved: JiraConnection) -> None:
    report = ReportFactory(app=app)
    urls = _urls(report)
    page = _html(web.get(reverse("report_detail", args=[app.pk, report.number])))
    assert 'id="jira-panel"' in page and f'hx-post="{urls["send"]}"' in page
    assert f'href="{urls["preview"]}"' in page and "Send to Jira…" in page
    assert (
        "Link an existing Jira issue" in page and "hx-trigger" not in page.split('id="jira-panel"')[1][:200]
    )
    # The panel on its own: a page without htmx, the fragment with it.
    assert "<html" in _html(web.get(urls["panel"])) and 'id="jira-panel"' in _html(web.get(urls["panel"]))
    fragment = _fragment(web.get(urls["panel"], **HTMX))
    assert fragment.lstrip().startswith('<section class="card jira-panel" id="jira-panel"')


def test_without_a_usable_connection_the_panel_says_so_and_admins_get_a_link(
    web: Client, member_web: Client, app: App
) -> None:
    report = ReportFactory(app=app)
    settings_url = reverse("jira_settings", args=[app.pk])
    owner_panel = _fragment(web.get(_urls(report)["panel"], **HTMX))
    assert "This app is not connected to Jira" in owner_panel and settings_url in owner_panel
    assert "Send to Jira" not in owner_panel
    member_panel = _fragment(member_web.get(_urls(report)["panel"], **HTMX))
    assert "This app is not connected to Jira" in member_panel and settings_url not in member_panel
    # Sending anyway says why, in place.
    answer = web.post(_urls(report)["send"], **HTMX)
    assert answer.status_code == 400 and "not connected to Jira" in _fragment(answer)
    assert not IssueLink.objects.exists()


def test_a_pending_link_polls_and_cannot_be_sent_twice(web: Client, app: App, saved: JiraConnection) -> None:
    report = ReportFactory(app=app)
    IssueLink.objects.create(report=report, connection=saved, label="x")
    panel = _fragment(web.get(_urls(report)["panel"], **HTMX))
    assert "Sending to Jira…" in panel and 'class="spinner"' in panel
    assert f'hx-get="{_urls(report)["panel"]}" hx-trigger="every 2s"' in panel
    assert re.search(r"<button[^>]*disabled[^>]*>Send to Jira</button>", panel)
    assert "hx-post" not in panel and "Link an existing" not in panel
    # The report page shows the same state, polling too.
    page = _html(web.get(reverse("report_detail", args=[app.pk, report.number])))
    assert "Sending to Jira…" in page and 'hx-trigger="every 2s"' in page


def test_a_paused_link_shows_the_waiting_words(web: Client, app: App, saved: JiraConnection) -> None:
    report = ReportFactory(app=app)
    words = "Waiting: the Jira connection needs attention (needs re-authentication)."
    IssueLink.objects.create(report=report, connection=saved, error_kind="paused", last_error=words)
    panel = _fragment(web.get(_urls(report)["panel"], **HTMX))
    assert words in panel and "Sending to Jira…" not in panel and 'hx-trigger="every 10s"' in panel


def test_a_failed_link_shows_why_a_retry_and_admins_the_mapping_row(
    web: Client, member_web: Client, app: App, saved: JiraConnection
) -> None:
    report = ReportFactory(app=app)
    IssueLink.objects.create(
        report=report,
        connection=saved,
        state="failed",
        error_kind="permanent",
        error_field="customfield_10052",
        last_error="Jira refused the issue: “Crash count” is required. Map a value to it in Set up.",
    )
    urls = _urls(report)
    owner_panel = _fragment(web.get(urls["panel"], **HTMX))
    assert "“Crash count” is required" in owner_panel and 'role="alert"' in owner_panel
    assert re.search(rf'hx-post="{urls["send"]}"[^>]*>.*?>Retry</button>', owner_panel, re.S)
    assert f'action="{reverse("jira_reconfigure", args=[app.pk])}#field-mapping"' in owner_panel
    assert "hx-trigger" not in owner_panel
    member_panel = _fragment(member_web.get(urls["panel"], **HTMX))
    assert "Retry" in member_panel and "#field-mapping" not in member_panel
    assert "An owner or admin of your organization can fix" in member_panel
    # With a Set up under way in the admin's session, the link goes straight to its mapping rows.
    session = web.session
    wizard.draft_save(session, app.pk, JiraConnection(app=app, site_url=saved.site_url, auth_type="basic"))
    session.save()
    panel = _fragment(web.get(urls["panel"], **HTMX))
    assert f'href="{reverse("jira_setup", args=[app.pk])}#field-mapping"' in panel


def test_send_links_the_report_once_however_often_it_is_pressed(
    web: Client, app: App, connection: JiraConnection
) -> None:
    report = ReportFactory(app=app, title="Checkout button does nothing")
    urls = _urls(report)
    first = web.post(urls["send"], **HTMX)
    second = web.post(urls["send"], **HTMX)
    assert first.status_code == second.status_code == 200
    link = IssueLink.objects.get(report=report)
    assert link.state == IssueLink.State.LINKED and len(_issues(link.label)) == 1
    panel = _fragment(second)
    assert f'<a href="{connection.site_url}/browse/{link.issue_key}" target="_blank" rel="noopener' in panel
    assert "Sent by hand" in panel and urls["unlink"] in panel and "hx-trigger" not in panel
    # Without htmx: back to the report page, where the panel shows the key.
    assert web.post(urls["send"])["Location"].endswith("#jira-panel")
    assert link.issue_key in _html(web.get(reverse("report_detail", args=[app.pk, report.number])))
    assert IssueLink.objects.count() == 1 and len(_issues(link.label)) == 1


def test_members_send_and_outsiders_get_a_404(
    member_web: Client, client: Client, app: App, connection: JiraConnection, outsider: Any
) -> None:
    report = ReportFactory(app=app)
    answer = member_web.post(_urls(report)["send"], **HTMX)
    assert answer.status_code == 200 and IssueLink.objects.get(report=report).state == "linked"
    assert reverse("jira_settings", args=[app.pk]) not in _html(answer)  # not an admin
    other = ReportFactory(app=app)
    stranger = login(Client(), outsider)
    for name, url in _urls(other).items():
        assert stranger.get(url).status_code in (404, 405), name
        assert stranger.post(url, {"issue": "WEB-1"}).status_code in (404, 405), name
    assert stranger.post(reverse("jira_send_bulk", args=[app.pk]), {"ids": [other.pk]}).status_code == 404
    assert not IssueLink.objects.filter(report=other).exists()


def test_a_refused_send_fails_in_place_and_retry_sends_it(
    web: Client, app: App, connection: JiraConnection
) -> None:
    report = ReportFactory(app=app)
    required = sandbox.ScreenField.objects.filter(
        project__site__name="acme", project__key="WEB", field__field_id="customfield_10052"
    )
    required.update(required=True)
    metacache.forget()
    panel = _fragment(web.post(_urls(report)["send"], **HTMX))
    assert "Not sent." in panel and "Crash count" in panel and ">Retry</button>" in panel
    required.update(required=False)
    metacache.forget()
    retried = _fragment(web.post(_urls(report)["send"], **HTMX))
    link = IssueLink.objects.get(report=report)
    assert link.state == "linked" and link.issue_key in retried and len(_issues(link.label)) == 1


# --- linking by hand, unlinking ----------------------------------------------------------------


def test_link_existing_shows_each_error_in_place_then_links(
    web: Client, app: App, connection: JiraConnection
) -> None:
    made = ReportFactory(app=app)
    web.post(_urls(made)["send"], **HTMX)
    key = IssueLink.objects.get(report=made).issue_key
    report = ReportFactory(app=app)
    url = _urls(report)["link"]

    for typed, words, status in (
        ("", "Enter an issue key like MOB-12", 400),
        ("not a key", "Enter an issue key like MOB-12", 400),
        (f"https://evil.example/browse/{key}", "That issue is not on", 400),
        ("WEB-9999", "Jira could not find it", 400),
    ):
        answer = web.post(url, {"issue": typed}, **HTMX)
        panel = _fragment(answer)
        assert answer.status_code == status and words in panel, (typed, panel)
        assert '<details class="jira-link-existing" open>' in panel and 'aria-invalid="true"' in panel
    assert not IssueLink.objects.filter(report=report).exists()
    # The same error without JavaScript: the panel's page, the typed value kept.
    page = web.post(url, {"issue": "not a key"})
    assert page.status_code == 400 and "<html" in _html(page) and 'value="not a key"' in _html(page)

    linked = _fragment(web.post(url, {"issue": f"{connection.site_url}/browse/{key}"}, **HTMX))
    link = IssueLink.objects.get(report=report)
    assert link.issue_key == key and link.origin == "linked" and key in linked
    assert "Linked to an existing issue" in linked and link.jira_status_name in linked


def test_link_existing_when_not_connected_says_so(web: Client, app: App) -> None:
    report = ReportFactory(app=app)
    answer = web.post(_urls(report)["link"], {"issue": "WEB-1"}, **HTMX)
    assert answer.status_code == 400 and "not connected to Jira" in _fragment(answer)


def test_unlink_asks_first_then_forgets_the_link(web: Client, app: App, saved: JiraConnection) -> None:
    report = ReportFactory(app=app)
    IssueLink.objects.create(report=report, connection=saved, state="linked", issue_key="WEB-7")
    url = _urls(report)["unlink"]
    confirm = _html(web.get(url))
    assert "Unlink #" in confirm and "WEB-7" in confirm and "stays in Jira" in confirm
    assert IssueLink.objects.filter(report=report).exists()
    answer = web.post(url, **HTMX)
    assert "Send to Jira" in _fragment(answer) and not IssueLink.objects.filter(report=report).exists()
    # Nothing left to unlink: back to the report, with why.
    assert web.post(url)["Location"].endswith("#jira-panel")


def test_a_report_being_sent_cannot_be_unlinked(web: Client, app: App, saved: JiraConnection) -> None:
    report = ReportFactory(app=app)
    IssueLink.objects.create(report=report, connection=saved)
    assert web.post(_urls(report)["unlink"]).status_code == 302
    assert IssueLink.objects.filter(report=report).exists()


# --- the preview -------------------------------------------------------------------------------


def test_the_preview_shows_the_issue_and_re_renders_with_edits(
    web: Client, app: App, saved: JiraConnection
) -> None:
    FieldMapping.objects.create(
        connection=saved,
        jira_field_id="customfield_10050",
        jira_field_name="Build",
        jira_field={
            "fieldId": "customfield_10050",
            "name": "Build",
            "schema": {
                "type": "string",
                "custom": "com.atlassian.jira.plugin.system.customfieldtypes:textfield",
            },
        },
        source="app_version",
    )
    saved.priority_names = {"major": "High", "blocker": "Highest"}
    saved.save()
    report = ReportFactory(
        app=app, title="Cart empties", description="Tap **Pay**", priority="major", app_version="4.2.0"
    )
    url = _urls(report)["preview"]
    page = _html(web.get(url))
    assert "<html" in page and "Send #" in page and "Website (WEB)" in page
    assert "Cart empties" in page and "<strong>Pay</strong>" in page  # the description, as HTML
    assert "<dt>Build</dt>" in page and "4.2.0" in page and f"bugbridge-{app.pk}-{report.number}" in page
    assert "<dd>High</dd>" in page and "The project&#x27;s default assignee" in page
    edited = _fragment(
        web.get(
            url,
            {"summary": "Cart is emptied on pay", "priority": "blocker", "assignee": "unassigned"},
            **HTMX,
        )
    )
    assert edited.lstrip().startswith('<section class="card preview-issue" id="preview-issue"')
    assert (
        "Cart is emptied on pay" in edited
        and "<dd>Highest</dd>" in edited
        and "<dd>Unassigned</dd>" in edited
    )
    # An empty summary is refused in place when sending.
    refused = web.post(url, {"summary": "", "priority": "major", "assignee": "project"})
    assert refused.status_code == 400 and "Write a summary" in _html(refused)
    assert not IssueLink.objects.exists()


def test_preview_edits_reach_the_created_issue(web: Client, app: App, connection: JiraConnection) -> None:
    report = ReportFactory(app=app, title="Original title", priority="minor")
    answer = web.post(
        _urls(report)["preview"],
        {"summary": "Edited for Jira", "priority": "blocker", "assignee": "unassigned"},
    )
    assert answer.status_code == 302 and answer["Location"].endswith("#jira-panel")
    link = IssueLink.objects.get(report=report)
    assert link.overrides == {"summary": "Edited for Jira", "priority": "blocker", "assignee": "unassigned"}
    (issue,) = _issues(link.label)
    assert issue.summary == "Edited for Jira" and issue.assignee is None
    expected = connection.priority_names.get("blocker")
    assert (issue.priority.name if issue.priority else None) == expected
    report.refresh_from_db()
    assert report.priority == "minor" and report.title == "Original title"  # the report is unchanged
    # Once sent, the preview says so and offers no second send.
    again = _html(web.get(_urls(report)["preview"]))
    assert "already in Jira as" in again and link.issue_key in again and ">Send to Jira</button>" not in again


def test_the_preview_without_a_connection_goes_back_with_why(web: Client, app: App) -> None:
    report = ReportFactory(app=app)
    answer = web.get(_urls(report)["preview"], follow=True)
    assert "This app is not connected to Jira" in _html(answer)


# --- the list and the bulk send ----------------------------------------------------------------


def test_the_list_shows_each_report_s_jira_state(web: Client, app: App, saved: JiraConnection) -> None:
    linked, sending, failed, plain = (ReportFactory(app=app) for _ in range(4))
    IssueLink.objects.create(
        report=linked, connection=saved, state="linked", issue_key="WEB-3", jira_status_name="In Progress"
    )
    IssueLink.objects.create(report=sending, connection=saved)
    IssueLink.objects.create(report=failed, connection=saved, state="failed", last_error="Refused <b>")
    page = _html(web.get(reverse("report_list", args=[app.pk])))
    assert '<th scope="col" class="col-jira">Jira</th>' in page
    row = re.search(rf'<tr id="report-{linked.pk}".*?</tr>', page, re.S).group(0)
    assert 'href="https://acme.atlassian.net/browse/WEB-3" target="_blank" rel="noopener' in row
    assert "In Progress" in row
    assert ">Sending</span>" in re.search(rf'<tr id="report-{sending.pk}".*?</tr>', page, re.S).group(0)
    failed_row = re.search(rf'<tr id="report-{failed.pk}".*?</tr>', page, re.S).group(0)
    assert ">Failed</span>" in failed_row and "Refused &lt;b&gt;" in failed_row
    plain_row = re.search(rf'<tr id="report-{plain.pk}".*?</tr>', page, re.S).group(0)
    assert f'aria-label="Send #{plain.number} to Jira"' in plain_row  # the row's own Send button
    # The bulk bar sends the same form to the integration.
    assert f'formaction="{reverse("jira_send_bulk", args=[app.pk])}"' in page
    # The htmx fragment (a filter change) has the column too.
    fragment = _fragment(web.get(reverse("report_list", args=[app.pk]), **HTMX))
    assert "WEB-3" in fragment


def test_the_bulk_and_row_buttons_need_a_usable_connection(
    web: Client, app: App, saved: JiraConnection
) -> None:
    plain = ReportFactory(app=app)
    saved.status = JiraConnection.Status.DISCONNECTED
    saved.save()
    page = _html(web.get(reverse("report_list", args=[app.pk])))
    assert "jira/send/" not in page and "Not in Jira" in page
    saved.delete()
    assert "jira/send/" not in _html(web.get(reverse("report_list", args=[app.pk])))
    assert plain.pk


def test_a_row_s_send_button_swaps_its_cell_for_the_issue(
    web: Client, app: App, connection: JiraConnection
) -> None:
    report = ReportFactory(app=app)
    cell = _fragment(web.post(_urls(report)["send"] + "?cell=1", **HTMX))
    link = IssueLink.objects.get(report=report)
    assert link.state == "linked" and f">{link.issue_key}</a>" in cell
    assert "<form" not in cell  # nothing left to press
    web.post(_urls(report)["send"] + "?cell=1", **HTMX)  # pressed again: the same issue
    assert len(_issues(link.label)) == 1


def test_bulk_send_goes_to_the_batch_page_which_shows_it_done(
    web: Client, member_web: Client, app: App, connection: JiraConnection
) -> None:
    reports = [ReportFactory(app=app) for _ in range(4)]
    web.post(_urls(reports[0])["send"], **HTMX)  # already in Jira: it keeps its issue
    answer = web.post(
        reverse("jira_send_bulk", args=[app.pk]),
        {"ids": [r.pk for r in reports], "filter": "status=new", "action": ""},
    )
    batch = ForwardBatch.objects.get()
    assert answer.status_code == 302 and answer["Location"] == reverse("jira_batch", args=[app.pk, batch.pk])
    assert batch.total == 3 and batch.links.count() == 3
    assert {link.state for link in IssueLink.objects.all()} == {"linked"} and IssueLink.objects.count() == 4
    page = web.get(answer["Location"])
    html = _html(page)
    assert "3 of 3 sent" in html and '<progress max="3" value="3"' in html and "hx-trigger" not in html
    assert "Done: every report is in Jira." in html and "already in Jira or on the way" in html
    for link in batch.links.all():
        assert link.issue_key in html
    fragment = _fragment(member_web.get(answer["Location"], **HTMX))  # a member may follow it
    assert fragment.lstrip().startswith('<section class="card batch-progress"') and "3 of 3 sent" in fragment


def test_bulk_send_lists_failures_with_their_reasons(
    web: Client, app: App, connection: JiraConnection
) -> None:
    reports = [ReportFactory(app=app, status="new") for _ in range(2)]
    sandbox.ScreenField.objects.filter(
        project__site__name="acme", project__key="WEB", field__field_id="customfield_10052"
    ).update(required=True)
    metacache.forget()
    answer = web.post(reverse("jira_send_bulk", args=[app.pk]), {"all_matching": "1", "filter": "status=new"})
    html = _html(web.get(answer["Location"]))
    assert "0 of 2 sent" in html and "2 failed" in html and "Not sent" in html
    for report in reports:
        assert f"{reverse('report_detail', args=[app.pk, report.number])}#jira-panel" in html
    assert html.count("Crash count") >= 2
    sandbox.ScreenField.objects.filter(field__field_id="customfield_10052").update(required=False)
    metacache.forget()


def test_a_batch_under_way_polls_and_reads_the_same_after_a_reload(
    web: Client, app: App, saved: JiraConnection
) -> None:
    reports = [ReportFactory(app=app) for _ in range(3)]
    batch = ForwardBatch.objects.create(app=app, total=3)
    IssueLink.objects.create(
        report=reports[0], connection=saved, batch=batch, state="linked", issue_key="WEB-1"
    )
    IssueLink.objects.create(report=reports[1], connection=saved, batch=batch)
    IssueLink.objects.create(report=reports[2], connection=saved, batch=batch)
    url = reverse("jira_batch", args=[app.pk, batch.pk])
    for _ in range(2):  # a reload shows the same
        html = _html(web.get(url))
        assert "1 of 3 sent" in html and "2 waiting" in html and '<progress max="3" value="1"' in html
        assert f'hx-get="{url}" hx-trigger="every 2s"' in html and "Sending…" in html
    IssueLink.objects.filter(batch=batch).update(state="linked", issue_key="WEB-2")
    done = _fragment(web.get(url, **HTMX))
    assert "3 of 3 sent" in done and "hx-trigger" not in done


def test_bulk_send_with_nothing_selected_goes_back_with_why(
    web: Client, app: App, saved: JiraConnection
) -> None:
    answer = web.post(reverse("jira_send_bulk", args=[app.pk]), {"filter": "status=new"}, follow=True)
    assert "Tick the reports to send to Jira first." in _html(answer)
    assert answer.redirect_chain[-1][0].endswith("?status=new") and not ForwardBatch.objects.exists()


def test_another_organization_s_batch_is_a_404(client: Client, app: App, outsider: Any) -> None:
    batch = ForwardBatch.objects.create(app=app, total=0)
    stranger = login(client, outsider)
    assert stranger.get(reverse("jira_batch", args=[app.pk, batch.pk])).status_code == 404


def test_a_batch_of_another_app_is_a_404(web: Client, app: App, owner: Membership) -> None:
    from tests.factories import AppFactory

    other = AppFactory(organization=owner.organization)
    batch = ForwardBatch.objects.create(app=other, total=0)
    assert web.get(reverse("jira_batch", args=[app.pk, batch.pk])).status_code == 404


def test_a_row_being_sent_polls_its_cell_until_it_has_its_key(
    web: Client, app: App, saved: JiraConnection
) -> None:
    report = ReportFactory(app=app)
    link = IssueLink.objects.create(report=report, connection=saved)  # a worker has it
    poll = _urls(report)["panel"] + "?cell=1"
    cell = _fragment(web.get(poll, **HTMX))
    assert ">Sending</span>" in cell and f'hx-get="{poll}"' in cell and 'hx-trigger="every 2s"' in cell
    IssueLink.objects.filter(pk=link.pk).update(state="linked", issue_key="WEB-9")
    cell = _fragment(web.get(poll, **HTMX))
    assert ">WEB-9</a>" in cell and "hx-get" not in cell


def test_the_jira_column_costs_one_query_and_none_without_a_connection(
    web: Client, app: App, saved: JiraConnection
) -> None:
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    reports = [ReportFactory(app=app) for _ in range(5)]
    for report in reports[:3]:
        IssueLink.objects.create(
            report=report, connection=saved, state="linked", issue_key=f"WEB-{report.number}"
        )
    url = reverse("report_list", args=[app.pk])
    web.get(url)  # warm the session and caches
    with CaptureQueriesContext(db) as connected:
        assert "WEB-1" in _html(web.get(url))
    IssueLink.objects.all().delete()
    saved.delete()
    with CaptureQueriesContext(db) as plain:
        web.get(url)
    assert len(connected) == len(plain) + 1
