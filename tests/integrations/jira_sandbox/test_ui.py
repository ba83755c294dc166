"""The sandbox's Jira-like pages: what each shows, and that changes made there go through the
sandbox's services (Issue row, changelog, comments, webhook deliveries) like API calls do."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from integrations.jira_sandbox import delivery
from integrations.jira_sandbox.knobs import Knobs
from integrations.jira_sandbox.models import (
    Account,
    ChangelogEntry,
    Comment,
    ConnectInstall,
    Delivery,
    Issue,
    IssueType,
    Project,
    RequestLog,
    Site,
    Status,
    Webhook,
)
from integrations.jira_sandbox.ui.adf import paragraphs, text_to_adf

from .conftest import PREFIX, JiraCaller

pytestmark = pytest.mark.django_db


@pytest.fixture
def ui(sandbox: Any) -> Client:
    """A browser on the sandbox's pages, CSRF checks on as in a real browser."""
    return Client(enforce_csrf_checks=True)


def _csrf(client: Client, url: str) -> str:
    """Load the page like a browser does and take the form's CSRF token from it."""
    html = client.get(url).content.decode()
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert match, f"no CSRF token in {url}"
    return match.group(1)


def _post(client: Client, url: str, data: dict[str, Any], page: str | None = None) -> Any:
    return client.post(url, {**data, "csrfmiddlewaretoken": _csrf(client, page or url)})


def _account(key: str) -> Account:
    return Account.objects.get(email=f"{key}@acme.example")


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Delivery ids handed to Celery (nothing leaves the machine)."""
    ids: list[int] = []
    monkeypatch.setattr(delivery, "enqueue", ids.extend)
    return ids


# ---------------------------------------------------------------------------------------------
# Home: sites, acting as, reset
# ---------------------------------------------------------------------------------------------


def test_home_lists_the_sites_and_acts_as_the_first_admin(ui: Client) -> None:
    response = ui.get(f"{PREFIX}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Sandbox Jira" in html and "Bugbridge</a>" not in html
    for site in Site.objects.all():
        assert site.cloud_id in html
        assert f"http://testserver{PREFIX}/site/{site.name}" in html
        assert f'href="{PREFIX}/site/{site.name}/"' in html
    assert "Acting as" in html and "Alice Admin" in html
    assert re.search(r'<option value="[^"]+" selected>Alice Admin', html)


def test_acting_as_someone_else_is_kept_in_the_session(ui: Client) -> None:
    bob = _account("bob")
    response = _post(
        ui, f"{PREFIX}/actor", {"account_id": bob.account_id, "next": f"{PREFIX}/site/acme/"}, f"{PREFIX}/"
    )
    assert response.status_code == 302 and response["Location"] == f"{PREFIX}/site/acme/"
    assert "Acting as <a" in ui.get(f"{PREFIX}/site/acme/").content.decode()
    assert "Bob Builder</a>" in ui.get(f"{PREFIX}/site/acme/").content.decode()
    # Bob has no access to globex: there the pages act as its admin.
    assert "Alice Admin</a>" in ui.get(f"{PREFIX}/site/globex/").content.decode()


def test_acting_as_refuses_strangers_and_foreign_redirects(ui: Client) -> None:
    response = _post(
        ui, f"{PREFIX}/actor", {"account_id": "712020:nobody", "next": "https://evil.example/"}, f"{PREFIX}/"
    )
    assert response["Location"] == f"{PREFIX}/"
    assert "Alice Admin</a>" in ui.get(f"{PREFIX}/").content.decode()
    bob = _account("bob")
    response = _post(
        ui, f"{PREFIX}/actor", {"account_id": bob.account_id, "next": "https://evil.example/"}, f"{PREFIX}/"
    )
    assert response["Location"] == f"{PREFIX}/"


def test_reset_asks_first_then_reseeds(ui: Client) -> None:
    acme = Site.objects.get(name="acme")
    Issue.objects.filter(site=acme, key="MOB-1").update(summary="Changed by hand")
    Site.objects.filter(name="globex").delete()
    page = ui.get(f"{PREFIX}/reset")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Reset and re-seed the sandbox?" in html
    assert re.search(rf'<form method="post" action="{PREFIX}/reset"', html)
    # Asking changed nothing.
    assert not Site.objects.filter(name="globex").exists()
    response = _post(ui, f"{PREFIX}/reset", {})
    assert response.status_code == 302
    assert set(Site.objects.values_list("name", flat=True)) == {"acme", "globex"}
    assert Issue.objects.get(site__name="acme", key="MOB-1").summary != "Changed by hand"
    assert "reset and re-seeded" in ui.get(f"{PREFIX}/").content.decode()


def test_reset_refuses_a_post_without_csrf(ui: Client) -> None:
    assert ui.post(f"{PREFIX}/reset").status_code == 403
    assert Site.objects.count() == 2


# ---------------------------------------------------------------------------------------------
# A site: projects, knobs, admin approval, webhooks, Connect
# ---------------------------------------------------------------------------------------------


def test_site_page_shows_projects_knobs_and_empty_states(ui: Client) -> None:
    response = ui.get(f"{PREFIX}/site/acme/")
    assert response.status_code == 200
    html = response.content.decode()
    counts = {p.key: p.issues.count() for p in Project.objects.filter(site__name="acme")}
    assert counts == {"MOB": 3, "OPS": 1, "WEB": 1}
    names = dict(Project.objects.filter(site__name="acme").values_list("key", "name"))
    for key, count in counts.items():
        link = f'{PREFIX}/site/acme/projects/{key}/">{names[key]}</a></td>'
        assert re.search(re.escape(link) + rf"\s*<td>{count}</td>", html)
    for name in Knobs.names():
        assert f'name="{name}"' in html
    assert "No webhooks registered yet — apps register them through" in html
    assert "POST /rest/api/3/webhook" in html
    assert "No Connect apps installed on this site." in html
    assert f'action="{PREFIX}/connect/install"' in html and 'name="descriptor_url"' in html


def test_site_page_lists_registered_webhooks(ui: Client) -> None:
    acme = Site.objects.get(name="acme")
    Webhook.objects.create(
        site=acme,
        webhook_id=7,
        kind=Webhook.Kind.ADMIN,
        url="https://hooks.example/jira",
        events=["jira:issue_updated", "comment_created"],
        jql_filter="project = MOB",
        enabled=False,
    )
    html = ui.get(f"{PREFIX}/site/acme/").content.decode()
    assert "https://hooks.example/jira" in html
    assert "comment_created" in html and "project = MOB" in html and "Admin webhook" in html
    assert "No webhooks registered yet" not in html


def test_knobs_form_saves_every_kind_of_knob(ui: Client) -> None:
    data = {**{k: v for k, v in Knobs().as_dict().items() if v is not None and v is not False}}
    data.update(
        {"rate_limit": "on", "latency_ms": "25", "error_rate": "0.25", "drop_mode": "timeout", "seed": "7"}
    )
    response = _post(ui, f"{PREFIX}/site/acme/", data)
    assert response.status_code == 302
    knobs = Knobs.of(Site.objects.get(name="acme"))
    assert (knobs.rate_limit, knobs.latency_ms, knobs.error_rate, knobs.drop_mode, knobs.seed) == (
        True,
        25,
        0.25,
        "timeout",
        7,
    )
    assert knobs.webhooks_enabled is True
    assert "Knobs saved" in ui.get(f"{PREFIX}/site/acme/").content.decode()


@pytest.mark.parametrize(
    ("knob", "bad", "message", "shown_back"),
    [
        ("error_rate", "1.5", "share between 0 and 1", True),
        ("latency_ms", "soon", "Enter a whole number.", True),
        ("drop_mode", "sometimes", "Select a valid choice.", False),  # a select: not an option
    ],
)
def test_knobs_form_keeps_the_input_and_changes_nothing_on_bad_input(
    ui: Client, knob: str, bad: str, message: str, shown_back: bool
) -> None:
    data = {k: v for k, v in Knobs().as_dict().items() if v is not None and v is not False}
    data.update({"webhook_delay_s": "3.5", knob: bad})
    response = _post(ui, f"{PREFIX}/site/acme/", data)
    assert response.status_code == 400
    html = response.content.decode()
    block = html[html.index(f'name="{knob}"') - 600 : html.index(f'name="{knob}"') + 900]
    assert message in block, "the error is shown next to its knob"
    assert (f'value="{bad}"' in block) is shown_back
    assert 'value="3.5"' in html, "other edits are kept"
    assert Knobs.of(Site.objects.get(name="acme")) == Knobs()


def test_admin_approval_switch(ui: Client) -> None:
    response = _post(ui, f"{PREFIX}/site/acme/admin-approval", {"required": "on"}, f"{PREFIX}/site/acme/")
    assert response.status_code == 302
    assert Site.objects.get(name="acme").admin_approval_required is True
    assert not Site.objects.get(name="globex").admin_approval_required
    html = ui.get(f"{PREFIX}/site/acme/").content.decode()
    assert "Stop requiring admin approval" in html
    assert "Admin must approve" in ui.get(f"{PREFIX}/").content.decode()
    _post(ui, f"{PREFIX}/site/acme/admin-approval", {}, f"{PREFIX}/site/acme/")
    assert Site.objects.get(name="acme").admin_approval_required is False


def test_connect_installs_are_listed_and_uninstall_asks_first(ui: Client) -> None:
    acme = Site.objects.get(name="acme")
    install = ConnectInstall.objects.create(
        site=acme,
        app_key="com.example.bugbridge",
        descriptor_url="https://app.example/atlassian-connect.json",
        base_url="https://app.example",
        client_key="client-key-1",
        shared_secret="not-shown",
        account=_account("alice"),
    )
    html = ui.get(f"{PREFIX}/site/acme/").content.decode()
    assert "com.example.bugbridge" in html and "https://app.example" in html and "not-shown" not in html
    confirm_url = f"{PREFIX}/site/acme/connect/{install.pk}/uninstall"
    assert f'href="{confirm_url}"' in html
    page = ui.get(confirm_url).content.decode()
    assert "Uninstall com.example.bugbridge?" in page
    assert f'action="{PREFIX}/connect/{install.pk}/uninstall"' in page
    assert f'name="next" value="{PREFIX}/site/acme/"' in page
    ConnectInstall.objects.filter(pk=install.pk).update(uninstalled_at=timezone.now())
    assert ui.get(confirm_url).status_code == 404
    assert f'href="{confirm_url}"' not in ui.get(f"{PREFIX}/site/acme/").content.decode()


# ---------------------------------------------------------------------------------------------
# A project's issues
# ---------------------------------------------------------------------------------------------


def _bulk_issues(project: Project, count: int) -> None:
    """Rows only (a listing test): numbered after the seeded ones, created a minute apart."""
    site = project.site
    status = Status.objects.get(site=site, status_id="10000")
    issue_type = IssueType.objects.get(site=site, type_id="10001")
    start = timezone.now()
    first = project.next_issue_number
    Issue.objects.bulk_create(
        Issue(
            site=site,
            project=project,
            issue_id=50_000 + n,
            number=first + n,
            key=f"{project.key}-{first + n}",
            issue_type=issue_type,
            summary=f"Bulk issue {first + n}",
            status=status,
            created=start + timedelta(minutes=n),
        )
        for n in range(count)
    )


def test_project_page_lists_issues_newest_first_with_pages(ui: Client) -> None:
    web = Project.objects.get(site__name="acme", key="WEB")
    _bulk_issues(web, 55)
    first = ui.get(f"{PREFIX}/site/acme/projects/WEB/")
    assert first.status_code == 200
    keys = re.findall(r'browse/(WEB-\d+)">WEB-', first.content.decode())
    assert len(keys) == 50
    assert keys[0] == "WEB-56" and keys[1] == "WEB-55"
    second = ui.get(f"{PREFIX}/site/acme/projects/WEB/?page=2").content.decode()
    assert re.findall(r'browse/(WEB-\d+)">WEB-', second) == [f"WEB-{n}" for n in range(6, 0, -1)]
    assert "Page 2 of 2 (56 in all)" in second


def test_project_page_shows_status_priority_assignee_and_filters_by_category(ui: Client) -> None:
    html = ui.get(f"{PREFIX}/site/acme/projects/MOB/").content.decode()
    assert re.search(r'sj-cat-indeterminate">In Progress</span>', html)
    assert "Checkout button does nothing on iOS 18" in html
    assert "Highest" in html and "Carol Tester" in html and "Unassigned" in html
    done = ui.get(f"{PREFIX}/site/acme/projects/MOB/?category=done").content.decode()
    assert re.findall(r'browse/(MOB-\d+)">MOB-', done) == ["MOB-3"]
    assert 'aria-current="true">Done</a>' in done


def test_project_page_empty_states(ui: Client) -> None:
    html = ui.get(f"{PREFIX}/site/globex/projects/WEB/").content.decode()
    assert "No issues in WEB yet" in html
    html = ui.get(f"{PREFIX}/site/acme/projects/OPS/?category=done").content.decode()
    assert "No issues in this status category." in html


# ---------------------------------------------------------------------------------------------
# An issue: fields, transitions, priority, comments
# ---------------------------------------------------------------------------------------------


def test_issue_page_shows_fields_and_only_the_transitions_from_its_status(ui: Client) -> None:
    response = ui.get(f"{PREFIX}/site/acme/browse/MOB-1")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Checkout button does nothing on iOS 18" in html
    assert "Seeded by the sandbox." in html  # the ADF description, as text
    assert "<dt>Environment</dt>" in html and "Production" in html  # a custom field by name
    assert "checkout</span>" in html and "ios</span>" in html  # labels
    # To Do offers only "Start progress" (11) — and a priority select of the default scheme.
    assert re.findall(r'name="transition_id" value="(\d+)"', html) == ["11"]
    assert re.findall(r'<option value="(\d+)"', html[html.index('name="priority_id"') :])[:5] == [
        "1",
        "2",
        "3",
        "4",
        "5",
    ]
    assert "No comments yet." in html and "No changes since the issue was created." in html
    # The custom priority scheme on OPS.
    ops = ui.get(f"{PREFIX}/site/acme/browse/OPS-1").content.decode()
    assert "Show Stopper" in ops and ">Highest<" not in ops


def test_issue_page_escapes_everything_an_api_caller_sent(ui: Client) -> None:
    issue = Issue.objects.get(site__name="acme", key="MOB-1")
    issue.summary = "<b>bold</b> summary"
    issue.description = text_to_adf('<script>alert("x")</script>\n\nsecond <i>para</i>')
    issue.custom_fields = {**issue.custom_fields, "customfield_10050": "<img src=x onerror=alert(1)>"}
    issue.save()
    html = ui.get(f"{PREFIX}/site/acme/browse/MOB-1").content.decode()
    assert "<script>alert" not in html and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "<b>bold</b>" not in html and "&lt;i&gt;para&lt;/i&gt;" in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html


def test_transition_from_the_ui_goes_through_the_service(
    ui: Client, sent: list[int], django_capture_on_commit_callbacks: Any
) -> None:
    acme = Site.objects.get(name="acme")
    Webhook.objects.create(
        site=acme,
        webhook_id=1,
        kind=Webhook.Kind.ADMIN,
        url="https://hooks.example/j",
        events=["jira:issue_updated"],
    )
    url = f"{PREFIX}/site/acme/browse/MOB-1"
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(ui, url, {"action": "transition", "transition_id": "11"})
    assert response.status_code == 302 and response["Location"] == url
    issue = Issue.objects.get(site=acme, key="MOB-1")
    assert issue.status.name == "In Progress"
    entry = ChangelogEntry.objects.get(issue=issue)
    assert entry.author == _account("alice")
    assert [item["toString"] for item in entry.items if item["field"] == "status"] == ["In Progress"]
    # The same webhook an API transition raises, sent after the page answered.
    (row,) = Delivery.objects.filter(site=acme)
    assert row.event == "jira:issue_updated" and sent == [row.pk]
    html = ui.get(url).content.decode()
    assert re.search(r"status: <span class=\"muted\">To Do</span> → In Progress", html)
    assert re.findall(r'name="transition_id" value="(\d+)"', html) == ["21", "61"]


def test_done_needs_a_resolution_and_says_so_in_place(ui: Client) -> None:
    url = f"{PREFIX}/site/acme/browse/MOB-2"  # In Progress
    assert _post(ui, url, {"action": "transition", "transition_id": "21"}).status_code == 302
    html = ui.get(url).content.decode()
    assert 'name="resolution_id"' in html and "Won&#x27;t Do" in html
    refused = _post(ui, url, {"action": "transition", "transition_id": "31"})
    assert refused.status_code == 400
    assert "resolution" in refused.content.decode().split('id="workflow"')[1].split("</section>")[0].lower()
    assert Issue.objects.get(site__name="acme", key="MOB-2").status.name == "In Review"
    done = _post(ui, url, {"action": "transition", "transition_id": "31", "resolution_id": "10001"})
    assert done.status_code == 302
    issue = Issue.objects.get(site__name="acme", key="MOB-2")
    assert (issue.status.name, issue.resolution.value) == ("Done", "Won't Do")
    assert issue.resolution_date is not None


def test_a_transition_not_available_from_the_status_is_refused(ui: Client) -> None:
    url = f"{PREFIX}/site/acme/browse/MOB-1"  # To Do: 31 is not reachable
    response = _post(ui, url, {"action": "transition", "transition_id": "31", "resolution_id": "10000"})
    assert response.status_code == 400
    assert "That transition is not available from the current status." in response.content.decode()
    assert Issue.objects.get(site__name="acme", key="MOB-1").status.name == "To Do"
    assert not ChangelogEntry.objects.exists()


def test_priority_from_the_ui_goes_through_the_service(ui: Client) -> None:
    url = f"{PREFIX}/site/acme/browse/MOB-1"  # High
    assert _post(ui, url, {"action": "priority", "priority_id": "1"}).status_code == 302
    issue = Issue.objects.get(site__name="acme", key="MOB-1")
    assert issue.priority.name == "Highest"
    (entry,) = ChangelogEntry.objects.filter(issue=issue)
    assert [(i["fromString"], i["toString"]) for i in entry.items if i["field"] == "priority"] == [
        ("High", "Highest")
    ]
    # A priority outside the project's scheme is not offered, and refused.
    refused = _post(ui, url, {"action": "priority", "priority_id": "10000"})
    assert refused.status_code == 400
    assert Issue.objects.get(pk=issue.pk).priority.name == "Highest"


def test_comment_from_the_ui_is_adf_and_by_the_actor(
    ui: Client, sent: list[int], django_capture_on_commit_callbacks: Any
) -> None:
    acme = Site.objects.get(name="acme")
    Webhook.objects.create(
        site=acme,
        webhook_id=1,
        kind=Webhook.Kind.ADMIN,
        url="https://hooks.example/j",
        events=["comment_created"],
    )
    bob = _account("bob")
    _post(ui, f"{PREFIX}/actor", {"account_id": bob.account_id}, f"{PREFIX}/")
    url = f"{PREFIX}/site/acme/browse/MOB-1"
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(
            ui, url, {"action": "comment", "body": "First line\nsame paragraph\n\nSecond <para>"}
        )
    assert response.status_code == 302
    assert list(Delivery.objects.filter(site=acme).values_list("event", flat=True)) == ["comment_created"]
    assert len(sent) == 1
    (comment,) = Comment.objects.filter(issue__key="MOB-1", issue__site__name="acme")
    assert comment.author == bob
    assert comment.body["type"] == "doc" and [n["type"] for n in comment.body["content"]] == ["paragraph"] * 2
    assert paragraphs(comment.body) == ["First line\nsame paragraph", "Second <para>"]
    html = ui.get(url).content.decode()
    assert "Bob Builder</strong>" in html and "Second &lt;para&gt;" in html and "Comments (1)" in html


def test_an_empty_comment_is_refused_in_place(ui: Client) -> None:
    url = f"{PREFIX}/site/acme/browse/MOB-1"
    response = _post(ui, url, {"action": "comment", "body": "   "})
    assert response.status_code == 400
    assert "Comment body can not be empty!" in response.content.decode()
    assert not Comment.objects.exists()


# ---------------------------------------------------------------------------------------------
# Logs
# ---------------------------------------------------------------------------------------------


def test_deliveries_page(ui: Client) -> None:
    assert "No webhook deliveries yet" in ui.get(f"{PREFIX}/site/acme/deliveries").content.decode()
    acme = Site.objects.get(name="acme")
    hook = Webhook.objects.create(
        site=acme,
        webhook_id=3,
        kind=Webhook.Kind.DYNAMIC,
        url="https://app.example/hook",
        events=["comment_created"],
    )
    for n in range(3):
        Delivery.objects.create(
            site=acme,
            webhook=hook,
            identifier=f"ident-{n}",
            event="comment_created",
            url=hook.url,
            payload=json.dumps({"webhookEvent": "comment_created", "n": n, "x": "<b>"}),
            state=Delivery.State.FAILED if n == 2 else Delivery.State.DELIVERED,
            attempts=n + 1,
            duplicates=n,
            last_status=503 if n == 2 else 200,
        )
    html = ui.get(f"{PREFIX}/site/acme/deliveries").content.decode()
    assert html.index("ident-2") < html.index("ident-1") < html.index("ident-0")
    assert "Dynamic (OAuth 2.0 app) #3" in html and "HTTP 503" in html and "Failed" in html
    assert "&quot;webhookEvent&quot;: &quot;comment_created&quot;" in html  # indented, escaped
    assert "<details" in html


def test_requests_page_shows_api_calls(ui: Client, site_api: JiraCaller) -> None:
    assert "No requests yet" in ui.get(f"{PREFIX}/site/acme/requests").content.decode()
    site_api.get("/myself")
    site_api.get("/issue/NOPE-1")
    assert RequestLog.objects.filter(site__name="acme").count() == 2
    html = ui.get(f"{PREFIX}/site/acme/requests").content.decode()
    assert html.index("/rest/api/3/issue/NOPE-1") < html.index("/rest/api/3/myself")
    assert "Alice Admin" in html and ">404<" in html and ">200<" in html
    assert "No requests yet" in ui.get(f"{PREFIX}/site/globex/requests").content.decode()


@pytest.mark.parametrize(
    "path",
    [
        "/site/nowhere/",
        "/site/nowhere/deliveries",
        "/site/acme/projects/NOPE/",
        "/site/acme/browse/MOB-999",
        "/site/globex/browse/MOB-1",
    ],
)
def test_unknown_sites_projects_and_issues_get_the_sandbox_404(ui: Client, path: str) -> None:
    response = ui.get(PREFIX + path)
    assert response.status_code == 404
    assert "Sandbox Jira" in response.content.decode() and "Not found" in response.content.decode()


def test_adf_paragraphs_read_lists_mentions_and_breaks() -> None:
    doc = {
        "type": "doc",
        "version": 1,
        "content": [
            {"type": "heading", "attrs": {"level": 2}, "content": [{"type": "text", "text": "Steps"}]},
            {
                "type": "bulletList",
                "content": [
                    {
                        "type": "listItem",
                        "content": [{"type": "paragraph", "content": [{"type": "text", "text": "one"}]}],
                    },
                    {
                        "type": "listItem",
                        "content": [{"type": "paragraph", "content": [{"type": "text", "text": "two"}]}],
                    },
                ],
            },
            {
                "type": "paragraph",
                "content": [
                    {"type": "mention", "attrs": {"id": "1", "text": "@Bob"}},
                    {"type": "text", "text": " see"},
                    {"type": "hardBreak"},
                    {"type": "text", "text": "here"},
                ],
            },
            "not a node",
        ],
    }
    assert paragraphs(doc) == ["Steps", "one", "two", "@Bob see\nhere"]
    assert paragraphs(None) == [] and paragraphs("plain") == ["plain"]
    assert text_to_adf("a\r\n\r\n\r\nb")["content"] == [
        {"type": "paragraph", "content": [{"type": "text", "text": "a"}]},
        {"type": "paragraph", "content": [{"type": "text", "text": "b"}]},
    ]
