"""The dashboard in a real browser: log in, browse the demo data, filter, triage, comment.

Each test seeds the demo organization (40 reports) into the live server's database, logs in the
way a person does, and checks what the page shows; the database is only read to know what to
expect. Debian's Chromium is launched by tests/e2e/conftest.py.
"""

from __future__ import annotations

import io
import re
import uuid

import pytest
from django.core.management import call_command
from playwright.sync_api import Locator, Page, expect
from pytest_django.live_server_helper import LiveServer

from bugs.management.commands.seed_demo import ADMIN_EMAIL, ADMIN_PASSWORD, DEMO_SLUG, demo_sdk_token
from bugs.models import App, BugReport, Status

pytestmark = pytest.mark.browser

IOS, ANDROID = "Acme Shop iOS", "Acme Shop Android"


@pytest.fixture
def demo(transactional_db: None, live_server: LiveServer) -> dict[str, App]:
    """The demo organization, seeded into the database the live server reads."""
    call_command("seed_demo", "--allow-without-debug", "--reports", "40", stdout=io.StringIO())
    return {app.name: app for app in App.objects.filter(organization__slug=DEMO_SLUG)}


def log_in(page: Page, base_url: str) -> None:
    """Open the dashboard signed out, land on the login page, sign in with the printed login."""
    page.goto(base_url + "/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))
    page.get_by_label("Email").fill(ADMIN_EMAIL)
    page.get_by_label("Password", exact=True).fill(ADMIN_PASSWORD)
    page.get_by_role("button", name=re.compile(r"^sign in$", re.IGNORECASE)).click()
    expect(page).to_have_url(base_url + "/")


def report_rows(page: Page) -> Locator:
    return page.locator("table.reports tbody tr")


def test_log_in_browse_reports_and_see_a_report_sent_through_the_sdk(
    page: Page, live_server: LiveServer, demo: dict[str, App]
) -> None:
    log_in(page, live_server.url)

    # The overview: the organization and both demo apps.
    expect(page.get_by_role("heading", level=1)).to_have_text("Acme Mobile")
    expect(page.get_by_role("heading", name=IOS)).to_be_visible()
    expect(page.get_by_role("heading", name=ANDROID)).to_be_visible()

    # An app's reports, newest first.
    app = demo[IOS]
    reports = list(BugReport.objects.filter(app=app).order_by("-created_at", "-id"))
    assert 0 < len(reports) <= 50, "the seed should fit on one page of the list"
    page.get_by_role("heading", name=IOS).click()
    expect(page).to_have_url(f"{live_server.url}/apps/{app.pk}/reports/")
    expect(page.get_by_role("heading", level=1)).to_have_text(IOS)
    expect(report_rows(page)).to_have_count(len(reports))
    expect(report_rows(page).first).to_contain_text(reports[0].title)

    # One report: its title, the device table and the comments section.
    newest = reports[0]
    report_rows(page).first.get_by_role("link", name=newest.title).click()
    expect(page).to_have_url(f"{live_server.url}/apps/{app.pk}/reports/{newest.number}/")
    expect(page.get_by_role("heading", level=1)).to_contain_text(newest.title)
    expect(page.get_by_role("heading", name="Device and app")).to_be_visible()
    device_facts = page.locator("dl.facts").first
    expect(device_facts).to_contain_text("Device")
    expect(device_facts).to_contain_text(newest.device_model or "—")
    expect(device_facts).to_contain_text(newest.os_name)
    expect(page.get_by_role("heading", name="Comments")).to_be_visible()
    expect(page.get_by_label("Comment", exact=True)).to_be_visible()

    # A report from the SDK, with the token seed_demo prints, shows up at the top of the list.
    title = f"Sent from the SDK {uuid.uuid4().hex[:8]}"
    response = page.request.post(
        f"{live_server.url}/api/v1/reports",
        data={"title": title, "device_model": "iPhone 16", "os_name": "iOS", "os_version": "18.2"},
        headers={"Authorization": f"Bearer {demo_sdk_token(IOS)}", "Idempotency-Key": str(uuid.uuid4())},
    )
    assert response.status == 201, response.text()
    number = response.json()["number"]
    page.goto(f"{live_server.url}/apps/{app.pk}/reports/")
    expect(report_rows(page)).to_have_count(len(reports) + 1)
    first = report_rows(page).first
    expect(first.get_by_role("link", name=title)).to_have_attribute(
        "href", f"/apps/{app.pk}/reports/{number}/"
    )
    expect(first).to_contain_text("iPhone 16 · iOS 18.2")


def test_status_filter_swaps_only_the_table_and_updates_the_url(
    page: Page, live_server: LiveServer, demo: dict[str, App]
) -> None:
    app = demo[IOS]
    in_progress = BugReport.objects.filter(app=app, status=Status.IN_PROGRESS).count()
    assert 0 < in_progress < BugReport.objects.filter(app=app).count(), "the seed should mix statuses"
    log_in(page, live_server.url)
    page.goto(f"{live_server.url}/apps/{app.pk}/reports/")
    # Survives an htmx swap, not a page load: proves the filter did not navigate.
    page.evaluate("window.__sameDocument = true")

    filters = page.get_by_role("search", name="Filter reports")
    filters.get_by_label("Status", exact=True).select_option(label="In progress")

    expect(page).to_have_url(f"{live_server.url}/apps/{app.pk}/reports/?status=in_progress")
    expect(report_rows(page)).to_have_count(in_progress)
    statuses = [row.locator("[data-status-select]").input_value() for row in report_rows(page).all()]
    assert statuses == [Status.IN_PROGRESS] * in_progress
    assert page.evaluate("window.__sameDocument") is True


def test_triage_changes_the_status_and_the_activity_timeline_shows_it(
    page: Page, live_server: LiveServer, demo: dict[str, App]
) -> None:
    report = BugReport.objects.filter(app=demo[ANDROID], status=Status.NEW).order_by("number").first()
    assert report is not None
    log_in(page, live_server.url)
    page.goto(f"{live_server.url}/apps/{report.app_id}/reports/{report.number}/")

    page.get_by_label("Status").select_option(label="In progress")
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.locator(".messages")).to_contain_text(f"#{report.number}: status → In progress")
    expect(page.get_by_label("Status")).to_have_value(Status.IN_PROGRESS)
    expect(page.locator(".timeline li").last).to_contain_text(
        "Demo Admin changed status from New to In progress"
    )
    report.refresh_from_db()
    assert report.status == Status.IN_PROGRESS


def test_adding_a_comment_shows_it_under_the_report(
    page: Page, live_server: LiveServer, demo: dict[str, App]
) -> None:
    report = BugReport.objects.filter(app=demo[IOS]).order_by("number").first()
    assert report is not None
    body = f"Reproduced on an iPhone 13 mini ({uuid.uuid4().hex[:6]})."
    log_in(page, live_server.url)
    page.goto(f"{live_server.url}/apps/{report.app_id}/reports/{report.number}/")

    page.get_by_label("Comment", exact=True).fill(body)
    page.get_by_role("button", name="Comment", exact=True).click()

    expect(page).to_have_url(re.compile(rf"/reports/{report.number}/#comments$"))
    comment = page.locator("#comments .comment").filter(has_text=body)
    expect(comment).to_have_count(1)
    expect(comment).to_contain_text("Demo Admin")
    expect(page.get_by_label("Comment", exact=True)).to_have_value("")
