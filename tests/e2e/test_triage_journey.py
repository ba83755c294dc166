"""A day of triage in a real browser: filter, change a status inline, bulk-close three reports,
move with j/k, open one, comment. Screenshots of the list, the report and the home page are
saved under test-artifacts/ (git-ignored) for people to look at."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from bugs.models import App, BugReport, Comment, Status

from .test_browser import IOS, demo, log_in, report_rows  # noqa: F401  (fixture)

pytestmark = pytest.mark.browser
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def test_triage_journey(page: Page, live_server: LiveServer, demo: dict[str, App]) -> None:  # noqa: F811
    ARTIFACTS.mkdir(exist_ok=True)
    app = demo[IOS]
    page.set_viewport_size({"width": 1280, "height": 900})
    log_in(page, live_server.url)
    page.screenshot(path=str(ARTIFACTS / "home.png"), full_page=True)

    # Filter: new reports only, through the filter bar (htmx swaps the table, the URL follows).
    page.goto(f"{live_server.url}/apps/{app.pk}/reports/")
    page.get_by_role("search", name="Filter reports").get_by_label("Status", exact=True).select_option("new")
    expect(page).to_have_url(f"{live_server.url}/apps/{app.pk}/reports/?status=new")
    new_count = BugReport.objects.filter(app=app, status=Status.NEW).count()
    expect(report_rows(page)).to_have_count(min(new_count, 50))

    # Inline: the first row goes to "In progress"; the server answers the row and a toast.
    first = report_rows(page).first
    number = int(first.locator("td.num").inner_text())
    first.locator("[data-status-select]").select_option("in_progress")
    expect(page.locator(".toast").last).to_contain_text(f"#{number}: status → In progress")
    expect(page.locator(f"#s-{BugReport.objects.get(app=app, number=number).pk}")).to_have_value(
        "in_progress"
    )
    assert BugReport.objects.get(app=app, number=number).status == Status.IN_PROGRESS

    # Bulk: select three other rows with the keyboard (j moves, x selects) and close them.
    page.locator("body").click(position={"x": 5, "y": 5})
    for _ in range(2):
        page.keyboard.press("j")  # rows 1, 2 (row 1 was changed inline)
    picked = []
    for _ in range(3):
        page.keyboard.press("x")
        picked.append(int(page.locator("tr.is-current td.num").inner_text()))
        page.keyboard.press("j")
    expect(page.locator("[data-selected-count]")).to_have_text("3 selected")
    page.screenshot(path=str(ARTIFACTS / "list.png"), full_page=True)
    page.get_by_role("button", name="Close", exact=True).click()
    expect(page.locator(".messages")).to_contain_text("3 reports updated.")
    assert set(BugReport.objects.filter(app=app, number__in=picked).values_list("status", flat=True)) == {
        Status.CLOSED
    }
    expect(page).to_have_url(f"{live_server.url}/apps/{app.pk}/reports/?status=new")

    # k goes back up, Enter opens the highlighted report.
    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("k")
    target = int(page.locator("tr.is-current td.num").inner_text())
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{live_server.url}/apps/{app.pk}/reports/{target}/?status=new")

    # Comment on it.
    page.get_by_label("Comment").fill("Reproduced on **iOS 18.1**: looking into it.")
    page.get_by_role("button", name="Comment", exact=True).click()
    expect(page.locator("#comments")).to_contain_text("Reproduced on")
    assert Comment.objects.filter(report__app=app, report__number=target).exists()
    page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)

    # ? shows the shortcuts.
    page.goto(f"{live_server.url}/apps/{app.pk}/reports/")
    page.keyboard.press("?")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
