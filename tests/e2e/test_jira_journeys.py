"""Connecting Jira in a real browser against the sandbox on the live server: OAuth 2.0 through
Atlassian's (the sandbox's) consent page, and Basic auth typed in, each then pointed at a project
and saved. Screenshots go under test-artifacts/jira/ (git-ignored) for people to look at."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from bugs.management.commands.seed_demo import DEMO_SLUG
from bugs.models import App
from integrations.jira_sandbox.seed import credentials
from integrations.models import AuthType, JiraConnection
from tests.integrations.conftest import point_at_sandbox

from .test_browser import IOS, log_in

pytestmark = pytest.mark.browser
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "jira"


@pytest.fixture
def demo_with_jira(transactional_db: None, live_server: LiveServer, settings: Any) -> Iterator[App]:
    """The demo organization and the sandbox Jira, with the product's Atlassian URLs pointing at
    the live server (the sandbox registers its OAuth callback from SITE_URL when seeded)."""
    point_at_sandbox(settings, live_server.url)
    call_command("seed_demo", "--allow-without-debug", "--reports", "5", stdout=io.StringIO())
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    yield App.objects.get(organization__slug=DEMO_SLUG, name=IOS)


def _open_jira_page(page: Page, base: str, app: App) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})
    log_in(page, base)
    page.goto(f"{base}/apps/{app.pk}/settings/")
    page.get_by_role("link", name="Jira Cloud").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Jira Cloud")


def _set_up_and_save(page: Page, name: str) -> None:
    """Set up (project, a mapping, the required field), Test (create, then delete the test issue)
    and Finish (switches), then the health card."""
    page.get_by_role("link", name="Continue to Set up").click()
    page.get_by_label("Project", exact=True).select_option(label="Mobile App (MOB)")
    expect(page.get_by_label("Issue type")).to_have_value(re.compile(r"\d+"))
    _settled(page)
    page.get_by_label("App version", exact=True).select_option(label="App version (a single-line text field)")
    page.get_by_label("Priority", exact=True).select_option(label="Severity (a radio-button field)")
    page.get_by_label("Blocker", exact=True).select_option(label="S1")  # its value map, swapped in
    _settled(page)
    page.get_by_role("button", name="Continue to Test").click()
    # Environment is required on MOB's create screen and nothing fills it yet: refused in place.
    expect(page.get_by_role("alert").first).to_contain_text("“Environment” is required in Jira")
    page.get_by_label("Environment", exact=True).select_option(label="Production")
    page.screenshot(path=str(ARTIFACTS / f"{name}-setup.png"), full_page=True)
    page.get_by_role("button", name="Continue to Test").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Test")
    page.get_by_role("button", name="Create the test issue").click()
    created = page.get_by_role("heading", name=re.compile(r"Created MOB-\d+"))
    expect(created).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / f"{name}-test.png"), full_page=True)
    page.get_by_role("button", name=re.compile(r"Delete MOB-\d+")).click()
    expect(page.get_by_role("heading", name="The test issue is deleted")).to_be_visible()
    page.get_by_role("link", name="Continue to Finish").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Finish")
    page.get_by_label("Send new reports to Jira automatically").check()
    page.get_by_label("Only reports of priority").select_option(label="Major or higher")
    page.screenshot(path=str(ARTIFACTS / f"{name}-finish.png"), full_page=True)
    page.get_by_role("button", name="Finish and save").click()
    expect(page.locator(".messages")).to_contain_text("Jira Cloud is set up")
    expect(page.locator(".health")).to_contain_text("Mobile App (MOB), Bug")
    page.screenshot(path=str(ARTIFACTS / f"{name}-connected.png"), full_page=True)
    connection = JiraConnection.objects.get(app=page_app(page))
    assert connection.auto_forward and connection.forward_min_priority == "major"
    assert set(connection.field_mappings.values_list("jira_field_id", flat=True)) == {
        "customfield_10050",
        "customfield_10057",
        "customfield_10055",
    }


def _settled(page: Page) -> None:
    """Wait until htmx has swapped and settled (it wires up new content during the settle, so a
    change fired on a just-swapped control could go unseen on a loaded machine)."""
    expect(page.locator(".htmx-request, .htmx-swapping, .htmx-settling, .htmx-added")).to_have_count(0)


def page_app(page: Page) -> App:
    """The app whose Jira page the browser is on."""
    found = re.search(r"/apps/(\d+)/", page.url)
    assert found, page.url
    return App.objects.get(pk=int(found.group(1)))


def test_oauth2_journey(page: Page, live_server: LiveServer, demo_with_jira: App) -> None:
    app = demo_with_jira
    jira = credentials()
    _open_jira_page(page, live_server.url, app)
    expect(page.get_by_label("Authentication type")).to_have_value("oauth2")
    page.get_by_role("button", name="Sign in with Atlassian").click()

    # Atlassian's consent page (the sandbox's): sign in as Alice, allow the app on acme.
    expect(page).to_have_url(re.compile(r"/sandbox/jira/auth/authorize\?"))
    page.get_by_label("Email").fill(jira["user_email"])
    page.get_by_label("Password").fill(jira["user_password"])
    page.get_by_role("button", name="Log in").click()
    page.get_by_label("Use app on").select_option("acme")
    page.screenshot(path=str(ARTIFACTS / "oauth2-consent.png"), full_page=True)
    page.get_by_role("button", name="Accept").click()

    expect(page.get_by_role("heading", name="Signed in, not saved yet")).to_be_visible()
    _set_up_and_save(page, "oauth2")
    connection = JiraConnection.objects.get(app=app)
    assert connection.auth_type == AuthType.OAUTH2 and connection.project_key == "MOB"


def test_basic_journey(page: Page, live_server: LiveServer, demo_with_jira: App) -> None:
    app = demo_with_jira
    jira = credentials()
    _open_jira_page(page, live_server.url, app)
    page.get_by_label("Authentication type").select_option(label="Basic Authentication")
    expect(page.get_by_label("API token")).to_be_visible()  # swapped in by htmx
    expect(page).to_have_url(re.compile(r"\?type=basic$"))
    page.get_by_label("Jira site").fill(f"{live_server.url}/sandbox/jira/site/acme")
    page.get_by_label("Email").fill(jira["user_email"])
    page.get_by_label("API token").fill("ATATT3x-wrong-token")
    page.get_by_role("button", name="Check and continue").click()
    expect(page.get_by_role("alert").first).to_contain_text("Jira did not accept these credentials")
    page.screenshot(path=str(ARTIFACTS / "basic-refused.png"), full_page=True)

    page.get_by_label("API token").fill(jira["api_token"])
    page.get_by_role("button", name="Check and continue").click()
    expect(page.get_by_role("heading", name="Signed in, not saved yet")).to_be_visible()
    _set_up_and_save(page, "basic")
    connection = JiraConnection.objects.get(app=app)
    assert connection.auth_type == AuthType.BASIC and connection.identity_email == jira["user_email"]


@pytest.mark.parametrize(
    ("label", "value", "fill"),
    [
        (
            "OAuth service accounts",
            "oauth_service_account",
            {"Client ID": "sa_client_id", "Client secret": "sa_client_secret"},
        ),
        (
            "Service accounts with scoped API Tokens",
            "scoped_token",
            {"Email": "service_account_email", "API token": "scoped_api_token"},
        ),
    ],
)
def test_service_account_journeys(
    page: Page, live_server: LiveServer, demo_with_jira: App, label: str, value: str, fill: dict[str, str]
) -> None:
    app = demo_with_jira
    jira = credentials()
    _open_jira_page(page, live_server.url, app)
    page.get_by_label("Authentication type").select_option(label=label)
    expect(page).to_have_url(re.compile(rf"\?type={value}$"))
    page.get_by_label("Jira site").fill(f"{live_server.url}/sandbox/jira/site/acme")
    for field, key in fill.items():
        page.get_by_label(field, exact=True).fill(jira[key])
    page.get_by_role("button", name="Check and continue").click()
    expect(page.get_by_role("heading", name="Signed in, not saved yet")).to_be_visible()
    _set_up_and_save(page, value)
    connection = JiraConnection.objects.get(app=app)
    assert connection.auth_type == value and connection.cloud_id


def test_connect_add_on_journey(page: Page, live_server: LiveServer, demo_with_jira: App) -> None:
    app = demo_with_jira
    base = live_server.url
    _open_jira_page(page, base, app)
    page.get_by_label("Authentication type").select_option(label="Bugbridge Add-on (Legacy)")
    descriptor = page.get_by_label("Add-on descriptor address").input_value()
    expect(page.get_by_text("Waiting for the add-on to be linked")).to_be_visible()

    # A Jira admin, in another tab: install the add-on on the sandbox site, open its Configure page.
    jira_tab = page.context.new_page()
    jira_tab.goto(f"{base}/sandbox/jira/site/acme/")
    jira_tab.locator("#descriptor-url").fill(descriptor)
    jira_tab.get_by_role("button", name="Install app").click()
    expect(jira_tab.get_by_text("Installed", exact=True).first).to_be_visible()
    with page.context.expect_page() as configure:
        jira_tab.get_by_role("link", name="Configure").first.click()
    configure_page = configure.value
    with page.context.expect_page() as linking:
        configure_page.get_by_role("link", name="Open Bugbridge to link this site").click()
    link_page = linking.value
    link_page.get_by_label("App").select_option(str(app.pk))
    link_page.get_by_role("button", name="Link to this app").click()

    # Back in the first tab, the page noticed by itself.
    expect(page.get_by_role("heading", name="Signed in, not saved yet")).to_be_visible(timeout=15_000)
    page.screenshot(path=str(ARTIFACTS / "connect-linked.png"), full_page=True)
    _set_up_and_save(page, "connect")
    connection = JiraConnection.objects.get(app=app)
    assert connection.auth_type == AuthType.CONNECT and connection.connect_installation is not None
    expect(page.get_by_text("Waiting for the add-on to be linked")).to_have_count(0)  # no poll once saved
