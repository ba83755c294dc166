"""The Set up step's reads from Jira (jira/setup.py), against the sandbox on a live server: through
the site URL (Basic) and through the gateway (a scoped token, where the scopes are enforced)."""

from __future__ import annotations

import pytest

from bugs.models import App
from integrations import services
from integrations.jira import setup
from integrations.jira_sandbox import models as sandbox
from integrations.models import AuthType, JiraConnection

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def basic(app: App, jira: dict[str, str]) -> JiraConnection:
    return services.jira_draft_from_credentials(
        app=app,
        auth_type=AuthType.BASIC,
        site_url=jira["site_url"],
        email=jira["user_email"],
        api_token=jira["api_token"],
    )


def _project_id(key: str) -> str:
    return str(sandbox.Project.objects.get(site__name="acme", key=key).project_id)


def test_projects_are_those_the_identity_may_create_in_and_searchable(basic: JiraConnection) -> None:
    keys = {p.detail for p in setup.projects(basic)}
    assert {"MOB", "WEB", "OPS"} <= keys
    assert [p.detail for p in setup.projects(basic, "web")] == ["WEB"]
    assert setup.projects(basic, "no such project") == []


def test_issue_types_and_the_create_screen(basic: JiraConnection) -> None:
    mob = _project_id("MOB")
    types = setup.issue_types(basic, mob)
    assert types and all(t.id and t.name for t in types)
    bug = next(t for t in types if t.name == "Bug")
    fields = {f.field_id: f for f in setup.create_fields(basic, mob, bug.id)}
    assert fields["summary"].required
    environment = fields["customfield_10055"]  # the seed's required select on MOB
    assert environment.required and environment.schema.get("custom", "").endswith(":select")
    assert {v.get("value") for v in environment.allowed_values} >= {"Production", "Staging"}


def test_assignable_people_by_name_prefix(basic: JiraConnection) -> None:
    assert setup.assignable(basic, "MOB", "") == []
    found = setup.assignable(basic, "MOB", "bob")
    assert [c.name for c in found] == [sandbox.Account.objects.get(email="bob@acme.example").display_name]


def test_priorities_say_whether_they_are_the_default_five(basic: JiraConnection) -> None:
    web, default = setup.priorities(basic, _project_id("WEB"))
    assert default and sorted(p.name for p in web) == sorted(setup.DEFAULT_PRIORITIES)
    ops, default = setup.priorities(basic, _project_id("OPS"))  # the seed's custom scheme
    assert not default and ops


def test_statuses_of_an_issue_type_come_with_their_categories(basic: JiraConnection) -> None:
    mob = _project_id("MOB")
    bug = next(t for t in setup.issue_types(basic, mob) if t.name == "Bug")
    found = setup.statuses(basic, "MOB", bug.id)
    assert {s.category for s in found} == {"new", "indeterminate", "done"}
    assert setup.statuses(basic, "MOB", "999999") == []


def test_the_same_reads_through_the_gateway(app: App, jira: dict[str, str]) -> None:
    scoped = services.jira_draft_from_credentials(
        app=app,
        auth_type=AuthType.SCOPED_TOKEN,
        site_url=jira["site_url"],
        email=jira["service_account_email"],
        api_token=jira["scoped_api_token"],
    )
    web = _project_id("WEB")
    assert "WEB" in {p.detail for p in setup.projects(scoped)}
    types = setup.issue_types(scoped, web)
    assert any(f.field_id == "summary" for f in setup.create_fields(scoped, web, types[0].id))


def test_converted_values_of_every_mappable_type_create_an_issue(basic: JiraConnection) -> None:
    """fields.py's rules and converters against a real create screen: every custom field the
    sandbox's WEB project has gets a type-compatible report value, and Jira's validation
    (the sandbox's) accepts the lot in one create."""
    from datetime import UTC, datetime
    from types import SimpleNamespace

    from integrations.jira import fields as mapping
    from integrations.jira.auth import client_for

    web = _project_id("WEB")
    bug = next(t for t in setup.issue_types(basic, web) if t.name == "Bug")
    screen = {f.field_id: f for f in setup.create_fields(basic, web, bug.id)}
    report = SimpleNamespace(
        title="Checkout crashes",
        description="Tapping **Pay** crashes the app.",
        app_version="2.3.1",
        app_build="451",
        tags=["checkout", "crash report"],
        priority="major",
        created_at=datetime(2026, 11, 28, 14, 39, tzinfo=UTC),
        reproduction_steps=["Open the cart", "Tap Pay"],
    )
    context = mapping.ReportContext(report_url=lambda r: "https://bugbridge.example/apps/1/reports/7/")
    # Report source → the WEB custom field it goes to (one per mappable kind).
    plan = {
        "app_version": "customfield_10050",  # textfield
        "reproduction_steps": "customfield_10051",  # textarea (ADF)
        "created_at": "customfield_10053",  # datepicker
        "tags": "customfield_10060",  # labels
        "dashboard_url": "customfield_10061",  # url
        "priority": "customfield_10057",  # radiobuttons, through a value map
    }
    value_maps = {"priority": {"major": {"value": "S2"}}}
    fields: dict[str, object] = {"project": {"id": web}, "issuetype": {"id": bug.id}, "summary": report.title}
    for source_key, field_id in plan.items():
        source = mapping.source_by_key(source_key)
        target = screen[field_id]
        assert source is not None and mapping.compatible(source, target.schema), (source_key, field_id)
        result = mapping.convert(
            source, source.value(report, context), target.schema, value_maps.get(source_key)
        )
        assert isinstance(result, mapping.Converted), (source_key, result)
        fields[field_id] = result.value
    # The report's date and time into the datetime field.
    when = mapping.source_by_key("created_at")
    assert when is not None
    stamped = mapping.convert(when, report.created_at, screen["customfield_10054"].schema)
    assert isinstance(stamped, mapping.Converted)
    fields["customfield_10054"] = stamped.value
    # Never offered: a user picker takes no report value.
    assert not mapping.compatible(mapping.source_by_key("title"), screen["customfield_10058"].schema)  # type: ignore[arg-type]

    client = client_for(basic)
    created = client.create_issue(fields)
    stored = client.get_issue(created["id"], fields=[*plan.values(), "customfield_10054"])["fields"]
    assert stored["customfield_10050"] == "2.3.1 (451)"
    assert stored["customfield_10053"] == "2026-11-28"
    assert sorted(stored["customfield_10060"]) == ["checkout", "crash-report"]
    assert stored["customfield_10057"]["value"] == "S2"
    assert stored["customfield_10061"] == "https://bugbridge.example/apps/1/reports/7/"
    assert stored["customfield_10051"]["type"] == "doc"


def test_priorities_come_from_the_create_screen_without_the_configuration_scope(
    app: App, jira: dict[str, str]
) -> None:
    scoped = services.jira_draft_from_credentials(
        app=app,
        auth_type=AuthType.SCOPED_TOKEN,
        site_url=jira["site_url"],
        email=jira["service_account_email"],
        api_token=jira["scoped_api_token"],
    )
    sandbox.ApiToken.objects.filter(scoped=True).update(scopes=["read:jira-work", "read:jira-user"])
    web = _project_id("WEB")
    assert setup.priorities(scoped, web) == ([], False)  # priority/search needs more: "not known"
    bug = next(t for t in setup.issue_types(scoped, web) if t.name == "Bug")
    found, default_five = setup.priorities(scoped, web, bug.id)
    assert default_five and sorted(p.name for p in found) == sorted(setup.DEFAULT_PRIORITIES)
