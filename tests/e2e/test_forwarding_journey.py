"""Sending reports to Jira in a real browser (issue 7 §1): connect the demo app to the sandbox Jira
through the wizard, send one report from its page, three from the list's bulk bar (watching the
batch page count them), and one through the preview with an edited summary.

Tasks are held instead of run eagerly, and the test runs them one by one: the pages are seen in
their pending states and then catching up by polling, as with a real worker. Screenshots go to
test-artifacts/jira/forward-*.png for people to look at."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from bugs.models import App, BugReport
from integrations import forwarding, tasks
from integrations.jira_sandbox import models as sandbox
from integrations.jira_sandbox.seed import credentials
from integrations.models import ForwardBatch, IssueLink
from tests.factories import ReportFactory

from . import test_jira_journeys as journeys

ARTIFACTS = journeys.ARTIFACTS
demo_with_jira = journeys.demo_with_jira  # the journeys' fixture, used here by its name

pytestmark = pytest.mark.browser
POLLED = 10_000  # ms: a page polls every 2 s


class HeldTasks:
    """Stands in for the `forward_link` task: what the live server enqueues waits here until the
    test runs it (in the test's thread, against the same database and sandbox)."""

    def __init__(self) -> None:
        self.link_ids: list[int] = []

    def apply_async(self, args: tuple[int], countdown: float | None = None) -> None:
        self.link_ids.append(args[0])

    def run(self, count: int | None = None) -> None:
        for _ in range(count if count is not None else len(self.link_ids)):
            link_id = self.link_ids.pop(0)
            step = forwarding.forward_link(link_id=link_id)
            if step.retry_in is not None:
                self.link_ids.append(link_id)


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch, settings: Any) -> HeldTasks:
    settings.JIRA_SEARCH_CONSISTENCY_S = 0
    found = HeldTasks()
    monkeypatch.setattr(tasks, "forward_link", found)
    return found


def _connect(page: Page, base: str, app: App) -> None:
    """Basic auth typed in, then Set up, Test and Finish (test_jira_journeys' own steps)."""
    jira = credentials()
    journeys._open_jira_page(page, base, app)
    page.get_by_label("Authentication type").select_option(label="Basic Authentication")
    page.get_by_label("Jira site").fill(f"{base}/sandbox/jira/site/acme")
    page.get_by_label("Email").fill(jira["user_email"])
    page.get_by_label("API token").fill(jira["api_token"])
    page.get_by_role("button", name="Check and continue").click()
    expect(page.get_by_role("heading", name="Signed in, not saved yet")).to_be_visible()
    journeys._set_up_and_save(page, "forward-wizard")


def _shot(page: Page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"forward-{name}.png"), full_page=True)


def test_forwarding_journey(
    page: Page, live_server: LiveServer, demo_with_jira: App, held: HeldTasks
) -> None:
    app = demo_with_jira
    base = live_server.url
    _connect(page, base, app)
    titles = ("Search ignores accents", "Push notification opens the wrong order")
    for title in titles[: max(0, 5 - BugReport.objects.filter(app=app).count())]:
        ReportFactory(app=app, title=title, priority="minor")
    one, *bulk, previewed = list(BugReport.objects.filter(app=app).order_by("number"))[:5]
    assert len(bulk) == 3

    # One report from its page: pending (polling, Send disabled), then linked by itself.
    page.goto(f"{base}/apps/{app.pk}/reports/{one.number}/")
    panel = page.locator("#jira-panel")
    expect(panel.get_by_role("button", name="Send to Jira", exact=True)).to_be_enabled()
    _shot(page, "report-panel")
    panel.get_by_role("button", name="Send to Jira", exact=True).click()
    expect(panel.get_by_text("Sending to Jira…")).to_be_visible()
    expect(panel.get_by_role("button", name="Send to Jira", exact=True)).to_be_disabled()
    panel.scroll_into_view_if_needed()
    _shot(page, "report-sending")
    held.run()
    link = IssueLink.objects.get(report=one)
    key = panel.get_by_role("link", name=re.compile(rf"^{link.issue_key}\b"))
    expect(key).to_be_visible(timeout=POLLED)
    expect(key).to_have_attribute("target", "_blank")
    expect(panel).to_contain_text("Sent by hand")
    _shot(page, "report-linked")

    # Linking by hand: a wrong reference is refused in place.
    page.goto(f"{base}/apps/{app.pk}/reports/{previewed.number}/")
    panel.get_by_text("Link an existing Jira issue").click()
    panel.get_by_label("Link existing Jira issue").fill("https://evil.example/browse/MOB-1")
    panel.get_by_role("button", name="Link", exact=True).click()
    expect(panel.get_by_role("alert")).to_contain_text("That issue is not on")
    _shot(page, "link-refused")

    # Three from the list's bulk bar: the batch page counts them as they go, and after a reload.
    page.goto(f"{base}/apps/{app.pk}/reports/")
    for report in bulk:
        page.get_by_label(f"Select #{report.number}", exact=True).check()
    page.locator("[data-bulk-bar]").get_by_role("button", name="Send to Jira").click()
    expect(page).to_have_url(re.compile(rf"/apps/{app.pk}/jira/batches/\d+/$"))
    progress = page.locator("#batch-progress")
    expect(progress).to_contain_text("0 of 3 sent")
    _shot(page, "batch-waiting")
    held.run(1)
    expect(progress).to_contain_text("1 of 3 sent", timeout=POLLED)
    expect(page.locator("progress")).to_have_attribute("value", "1")
    _shot(page, "batch-progress")
    held.run()
    expect(progress).to_contain_text("3 of 3 sent", timeout=POLLED)
    expect(progress).to_contain_text("Done: every report is in Jira.")
    page.reload()
    expect(progress).to_contain_text("3 of 3 sent")
    _shot(page, "batch-done")
    batch = ForwardBatch.objects.get()
    assert {link.state for link in batch.links.all()} == {"linked"} and batch.links.count() == 3

    # The list's Jira column shows the keys.
    page.goto(f"{base}/apps/{app.pk}/reports/")
    for report in [one, *bulk]:
        issue_key = IssueLink.objects.get(report=report).issue_key
        expect(page.locator(f"#report-{report.pk} .col-jira")).to_contain_text(issue_key)
    _shot(page, "list")

    # The preview: the issue as it will be created; an edited summary re-renders it, then Send.
    page.goto(f"{base}/apps/{app.pk}/reports/{previewed.number}/")
    panel.get_by_role("link", name="Send to Jira…").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Send #{previewed.number} to Jira")
    summary = page.locator("[data-preview-summary]")
    expect(summary).to_have_text(previewed.title)
    _shot(page, "preview")
    page.get_by_label("Summary", exact=True).fill("Edited in the preview")
    expect(summary).to_have_text("Edited in the preview")
    page.get_by_label("Priority", exact=True).select_option(label="Blocker")
    expect(page.locator("#preview-issue")).to_contain_text("Highest")
    _shot(page, "preview-edited")
    page.get_by_role("button", name="Send to Jira").click()
    expect(page).to_have_url(re.compile(rf"/reports/{previewed.number}/#jira-panel$"))
    held.run()
    link = IssueLink.objects.get(report=previewed)
    expect(panel.get_by_role("link", name=re.compile(rf"^{link.issue_key}\b"))).to_be_visible(timeout=POLLED)
    issue = sandbox.Issue.objects.get(site__name="acme", key=link.issue_key)
    assert issue.summary == "Edited in the preview" and issue.priority.name == "Highest"
    _shot(page, "preview-sent")
