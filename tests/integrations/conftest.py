"""Fixtures of the integration's tests: the sandbox Jira behind a live server, and a signed-in owner."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from pytest_django.live_server_helper import LiveServer

from accounts.models import Membership
from integrations.jira_sandbox.seed import credentials, sandbox_seed

from ..conftest import login


def point_at_sandbox(settings: Any, base: str) -> None:
    """The settings that name Atlassian's hosts, pointed at the sandbox behind `base` (they are
    derived from SITE_URL when the settings load, so a live server's URL must be set on each)."""
    settings.SITE_URL = base
    settings.ATLASSIAN_AUTH_URL = f"{base}/sandbox/jira/auth"
    settings.ATLASSIAN_API_URL = f"{base}/sandbox/jira/api"
    settings.JIRA_CONNECT_INSTALL_KEYS_URL = f"{base}/sandbox/jira/connect/keys"
    settings.ALLOWED_HOSTS = ["*"]


@pytest.fixture
def jira(live_server: LiveServer, settings: Any) -> Iterator[dict[str, str]]:
    """The sandbox seeded behind a live server, and the product's settings pointing at it."""
    base = live_server.url
    point_at_sandbox(settings, base)
    sandbox_seed()
    yield {**credentials(), "site_url": f"{base}/sandbox/jira/site/acme", "base": base}


@pytest.fixture
def web(client: Client, owner: Membership) -> Client:
    return login(client, owner.user)


@pytest.fixture
def connection(web: Client, app: Any, jira: dict[str, str], settings: Any) -> Any:
    """Basic auth on acme's WEB project (no required fields), set up through the wizard; tasks
    run eagerly, so an unknown outcome is looked up once (no consistency window)."""
    settings.JIRA_SEARCH_CONSISTENCY_S = 0
    return connect_basic(web, app, jira["site_url"])


def connect_basic(web: Client, app: Any, site_url: str) -> Any:
    """Basic auth with the seeded sandbox's credentials on the site at `site_url`, through the
    wizard's Authenticate step and `finish_wizard`; the saved JiraConnection."""
    from integrations.models import JiraConnection

    jira = credentials()
    answer = web.post(
        f"/apps/{app.pk}/settings/integrations/jira/credentials/basic/",
        {"basic-site_url": site_url, "basic-email": jira["user_email"], "basic-api_token": jira["api_token"]},
    )
    assert answer.status_code == 302
    assert finish_wizard(web, app).status_code == 302
    return JiraConnection.objects.get(app=app)


def finish_wizard(web: Client, app: Any, project: str = "WEB") -> Any:
    """Take the app's draft through Set up (when it has no project yet: `project`, issue type Bug,
    nothing mapped) and Finish; returns Finish's answer (a redirect when saved)."""
    import re

    from integrations.jira import wizard
    from integrations.jira_sandbox import models as sandbox

    base = f"/apps/{app.pk}/settings/integrations/jira/"
    loaded = wizard.draft_load(web.session, app.pk, app)
    if loaded is not None and not loaded[0].project_id:
        site = loaded[0].site_url.rstrip("/").rsplit("/", 1)[-1]
        found = sandbox.Project.objects.get(site__name=site, key=project)
        bug = sandbox.IssueType.objects.get(site__name=site, name="Bug")
        answer = web.post(
            base + "setup/", {"project": found.project_id, "issue_type": bug.type_id, "assignee": ""}
        )
        assert answer.status_code == 302, answer.content.decode()[-2000:]
    page = web.get(base + "finish/").content.decode()
    revision = re.search(r'name="revision" value="([^"]+)"', page)
    assert revision, page[-2000:]
    return web.post(base + "finish/", {"revision": revision.group(1), "sync_status": "on"})
