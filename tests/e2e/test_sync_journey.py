"""Two-way sync in a real browser (issue 8): connect the demo app to the sandbox Jira through the
wizard (every sync switch on, as Finish offers the first time), send a report, change its status
here and see the Jira issue move; change it in Jira, comment there, and see the report page
follow; then the integrations page's sync health. Tasks run eagerly in the live server; the
sandbox's webhooks arrive over HTTP. Screenshots: test-artifacts/jira/sync-*.png."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.db import transaction
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from bugs.models import App, BugReport
from integrations.jira_sandbox import comment_services, delivery
from integrations.jira_sandbox import models as sandbox
from integrations.jira_sandbox import services as sandbox_services
from integrations.models import IssueLink, JiraConnection, WebhookDelivery
from tests.factories import ReportFactory

from . import test_forwarding_journey as forwarding_journey
from . import test_jira_journeys as journeys

ARTIFACTS = journeys.ARTIFACTS
demo_with_jira = journeys.demo_with_jira  # the journeys' fixture, used here by its name

pytestmark = pytest.mark.browser


def _shot(page: Page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"sync-{name}.png"), full_page=True)


def _settle(timeout: float = 15.0) -> None:
    """Until the sandbox has sent the webhooks our calls caused and we have handled them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sending = sandbox.Delivery.objects.filter(state=sandbox.Delivery.State.PENDING).exists()
        if not sending and not WebhookDelivery.objects.filter(outcome="queued").exists():
            return
        time.sleep(0.1)
    raise AssertionError("webhooks still in flight")


def _in_jira_to_done(issue: sandbox.Issue, alice: sandbox.Account) -> None:
    """Alice walks the issue to Done in Jira, one transition (and webhook) at a time."""
    for _ in range(4):
        issue.refresh_from_db()
        if issue.status.category == "done":
            return
        options = sandbox_services.available_transitions(issue)
        chosen = next((t for t in options if t.to_status.category == "done"), None) or next(
            t
            for t in options
            if t.to_status.category == "indeterminate" and t.to_status_id != issue.status_id
        )
        fields: dict[str, Any] | None = (
            {"resolution": {"id": "10000"}} if chosen.required_field == "resolution" else None
        )
        with delivery.collecting(), transaction.atomic():
            sandbox_services.issue_transition(
                issue=issue, actor=alice, transition_id=chosen.transition_id, fields=fields
            )
    raise AssertionError("the issue did not reach Done")


def test_sync_journey(page: Page, live_server: LiveServer, demo_with_jira: App, settings: Any) -> None:
    settings.JIRA_SEARCH_CONSISTENCY_S = 0
    app = demo_with_jira
    base = live_server.url
    forwarding_journey._connect(page, base, app)
    connection = JiraConnection.objects.get(app=app)
    assert (connection.sync_status, connection.sync_comments) == (True, True)
    assert connection.webhook_kind == "admin"  # alice is a Jira admin: a signed webhook
    _shot(page, "integrations-before")

    report = ReportFactory(app=app, title="Checkout button does nothing", priority="minor")
    page.goto(f"{base}/apps/{app.pk}/reports/{report.number}/")
    panel = page.locator("#jira-panel")
    panel.get_by_role("button", name="Send to Jira", exact=True).click()
    expect(panel).to_contain_text("sync both ways", timeout=10_000)
    link = IssueLink.objects.get(report=report)
    expect(panel.get_by_role("link", name=link.issue_key, exact=False)).to_be_visible()

    # Here → Jira: the triage form's status moves the issue (a transition, by its category).
    page.get_by_label("Status").select_option(label="In progress")
    page.get_by_role("button", name="Save").first.click()
    _settle()
    issue = sandbox.Issue.objects.get(site__name="acme", issue_id=link.issue_id)
    assert issue.status.category == "indeterminate"

    # Jira → here: alice closes it and comments; the page shows both, marked as from Jira.
    alice = sandbox.Account.objects.get(email="alice@acme.example")
    _in_jira_to_done(issue, alice)
    with delivery.collecting(), transaction.atomic():
        comment_services.comment_add(
            issue=issue,
            author=alice,
            body={
                "type": "doc",
                "version": 1,
                "content": [
                    {"type": "paragraph", "content": [{"type": "text", "text": "Fixed in build 42."}]}
                ],
            },
        )
    _settle()
    report.refresh_from_db()
    assert report.status == "closed"
    page.reload()
    expect(page.locator("#comments")).to_contain_text("Fixed in build 42.")
    expect(page.locator("#comments")).to_contain_text("from Jira")
    expect(page.locator(".timeline")).to_contain_text("via Jira")
    expect(page.locator(".timeline")).to_contain_text(f"{alice.display_name} via Jira changed status")
    panel.get_by_text("Sync history").click()
    expect(panel.locator(".sync-history")).to_contain_text("To Jira: status")
    expect(panel.locator(".sync-history")).to_contain_text("From Jira: status")
    _shot(page, "report")

    # The integrations page: how changes come back, and how recently.
    page.goto(f"{base}/apps/{app.pk}/settings/integrations/jira/")
    health = page.locator(".health")
    expect(health).to_contain_text("Webhooks, with polling as a backstop")
    expect(health).to_contain_text("Status, priority and comments")
    expect(health).not_to_contain_text("Last webhook delivery none yet")
    _shot(page, "integrations")
    assert BugReport.objects.filter(pk=report.pk, status="closed").exists()
