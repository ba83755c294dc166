"""The sandbox's control API (knobs, admin approval, reset) and the sandbox's absence when off."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from integrations.jira_sandbox.knobs import Knobs
from integrations.jira_sandbox.models import Issue, Site

from .conftest import PREFIX, JiraCaller

pytestmark = pytest.mark.django_db

KNOBS = f"{PREFIX}/_control/sites/acme/knobs"
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def api(sandbox: Any) -> Client:
    """A script's client: CSRF enforced as for any caller, no login, no session."""
    return Client(enforce_csrf_checks=True)


def _send(client: Client, method: str, url: str, body: Any) -> Any:
    data = body if isinstance(body, str) else json.dumps(body)
    return getattr(client, method)(url, data=data, content_type="application/json")


def _stored(name: str = "acme") -> Knobs:
    return Knobs.of(Site.objects.get(name=name))


def test_get_knobs_gives_every_knob(api: Client) -> None:
    response = api.get(KNOBS)
    assert response.status_code == 200
    assert response.json() == Knobs().as_dict()


@pytest.mark.parametrize("method", ["patch", "put"])
def test_changing_knobs_stores_them_and_answers_the_result(api: Client, method: str) -> None:
    response = _send(api, method, KNOBS, {"latency_ms": 5, "error_rate": 0.25, "rate_limit": True})
    assert response.status_code == 200
    assert (response.json()["latency_ms"], response.json()["error_rate"]) == (5, 0.25)
    stored = _stored()
    assert (stored.latency_ms, stored.error_rate, stored.rate_limit) == (5, 0.25, True)
    assert _stored("globex") == Knobs()
    # A second change keeps the first.
    _send(api, method, KNOBS, {"seed": 3})
    assert (_stored().latency_ms, _stored().seed) == (5, 3)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"latency_ms": 5, "no_such_knob": 1}, "no_such_knob"),
        ({"latency_ms": 5, "rate_limit": "yes"}, "rate_limit"),
        ({"latency_ms": 5, "error_rate": 2}, "error_rate"),
        ({"latency_ms": 5, "drop_mode": "sometimes"}, "drop_mode"),
        ([{"latency_ms": 5}], "JSON object"),
        ("{not json", "not valid JSON"),
    ],
)
def test_bad_changes_are_a_400_and_change_nothing(api: Client, body: Any, needle: str) -> None:
    response = _send(api, "patch", KNOBS, body)
    assert response.status_code == 400
    assert needle in response.json()["error"]
    assert _stored() == Knobs()


def test_unknown_site_and_wrong_method(api: Client) -> None:
    response = api.get(f"{PREFIX}/_control/sites/nowhere/knobs")
    assert response.status_code == 404 and "nowhere" in response.json()["error"]
    response = _send(api, "post", KNOBS, {"latency_ms": 5})
    assert response.status_code == 405
    assert set(response["Allow"].split(", ")) == {"GET", "PUT", "PATCH"}
    assert _stored() == Knobs()


def test_knobs_set_through_the_api_shape_the_next_rest_call(api: Client, site_api: JiraCaller) -> None:
    assert site_api.get("/myself").status_code == 200
    _send(api, "patch", KNOBS, {"error_rate": 1.0, "seed": 11})
    assert site_api.get("/myself").status_code in (500, 503)
    _send(api, "patch", KNOBS, {"error_rate": 0.0})
    assert site_api.get("/myself").status_code == 200


def test_admin_approval_switch(api: Client) -> None:
    url = f"{PREFIX}/_control/sites/acme/admin-approval"
    assert api.get(url).json() == {"site": "acme", "required": False}
    response = _send(api, "post", url, {"required": True})
    assert response.status_code == 200 and response.json() == {"site": "acme", "required": True}
    assert Site.objects.get(name="acme").admin_approval_required is True
    assert Site.objects.get(name="globex").admin_approval_required is False
    for bad in ({"required": "yes"}, {}, [True]):
        refused = _send(api, "post", url, bad)
        assert refused.status_code == 400
    assert Site.objects.get(name="acme").admin_approval_required is True
    _send(api, "post", url, {"required": False})
    assert Site.objects.get(name="acme").admin_approval_required is False


def test_reset_reseeds_everything(api: Client) -> None:
    _send(api, "patch", KNOBS, {"latency_ms": 9})
    Issue.objects.filter(site__name="acme").delete()
    Site.objects.filter(name="globex").delete()
    assert api.get(f"{PREFIX}/_control/reset").status_code == 405
    response = api.post(f"{PREFIX}/_control/reset")
    assert response.status_code == 200
    assert response.json() == {"reset": True, "sites": ["acme", "globex"]}
    assert set(Site.objects.values_list("name", flat=True)) == {"acme", "globex"}
    assert Issue.objects.filter(site__name="acme").count() == 5
    assert _stored() == Knobs()


def test_pages_still_want_csrf_where_the_control_api_does_not(api: Client) -> None:
    assert api.post(f"{PREFIX}/site/acme/", {"latency_ms": "5"}).status_code == 403
    assert api.post(f"{PREFIX}/site/acme/admin-approval", {"required": "on"}).status_code == 403
    assert Site.objects.get(name="acme").admin_approval_required is False


# The sandbox's URLs, and a few of the product's, resolved in a fresh process with the sandbox off.
RESOLVE_SCRIPT = """
import json, django
django.setup()
from django.conf import settings
from django.urls import Resolver404, resolve
paths = json.loads(input())
found = {}
for path in paths:
    try:
        found[path] = resolve(path).url_name or ""
    except Resolver404:
        found[path] = None
print(json.dumps({"sandbox": settings.JIRA_SANDBOX, "found": found}))
"""
SANDBOX_PATHS = [
    f"{PREFIX}/",
    f"{PREFIX}/site/acme/",
    f"{PREFIX}/site/acme/browse/MOB-1",
    f"{PREFIX}/site/acme/deliveries",
    f"{PREFIX}/_control/sites/acme/knobs",
    f"{PREFIX}/_control/reset",
    f"{PREFIX}/site/acme/rest/api/3/myself",
    f"{PREFIX}/site/acme/_edge/tenant_info",
]


def _resolve_in_subprocess(sandbox_on: bool) -> dict[str, Any]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.test_settings",
        "JIRA_SANDBOX": "true" if sandbox_on else "false",
    }
    result = subprocess.run(
        [sys.executable, "-c", RESOLVE_SCRIPT],
        input=json.dumps([*SANDBOX_PATHS, "/healthz"]),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_with_the_sandbox_off_none_of_its_urls_exist() -> None:
    off = _resolve_in_subprocess(sandbox_on=False)
    assert off["sandbox"] is False
    assert {path: off["found"][path] for path in SANDBOX_PATHS} == dict.fromkeys(SANDBOX_PATHS)
    assert off["found"]["/healthz"] is not None
    # The same lookups find every one of them with the sandbox on (the test is not vacuous).
    on = _resolve_in_subprocess(sandbox_on=True)
    assert all(on["found"][path] is not None for path in SANDBOX_PATHS)


def test_priority_scheme_switch_changes_what_createmeta_and_create_accept(client, sandbox, site_api) -> None:  # type: ignore[no-untyped-def]
    url = "/sandbox/jira/_control/sites/acme/projects/WEB/priority-scheme"
    assert client.get(url).json() == {"project": "WEB", "custom": False}
    response = client.post(url, data={"custom": "yes"}, content_type="application/json")
    assert response.status_code == 400
    response = client.post(url, data={"custom": True}, content_type="application/json")
    assert response.json() == {"project": "WEB", "custom": True}
    meta = site_api.get("/issue/createmeta/WEB/issuetypes/10004").json()
    priority = next(f for f in meta["fields"] if f["fieldId"] == "priority")
    assert {p["name"] for p in priority["allowedValues"]} == {"Show Stopper", "Normal", "Someday"}
    refused = site_api.post(
        "/issue",
        json={
            "fields": {
                "project": {"key": "WEB"},
                "issuetype": {"id": "10004"},
                "summary": "High is not in the custom scheme",
                "priority": {"id": "2"},
            }
        },
    )
    assert refused.status_code == 400 and "priority" in refused.json()["errors"]
    assert (
        client.post(
            "/sandbox/jira/_control/sites/acme/projects/NOPE/priority-scheme",
            data={"custom": True},
            content_type="application/json",
        ).status_code
        == 404
    )


def test_priority_scheme_switch_from_the_site_page(client, sandbox) -> None:  # type: ignore[no-untyped-def]
    from integrations.jira_sandbox.models import Project

    page = client.get("/sandbox/jira/site/acme/")
    assert b"Use custom scheme" in page.content and b"Use default five" in page.content
    response = client.post("/sandbox/jira/site/acme/projects/MOB/priority-scheme", {"custom": "on"})
    assert response.status_code == 302
    assert Project.objects.get(site__name="acme", key="MOB").custom_priorities
    client.post("/sandbox/jira/site/acme/projects/MOB/priority-scheme", {"custom": ""})
    assert not Project.objects.get(site__name="acme", key="MOB").custom_priorities
