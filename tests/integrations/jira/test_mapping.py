"""The Set up step's mapping check (`integrations.jira.mapping`): pure, against createmeta-shaped
fields like the sandbox's MOB project."""

from __future__ import annotations

from typing import Any

from integrations.jira import fields, mapping
from integrations.jira.mapping import Chosen

CF = "com.atlassian.jira.plugin.system.customfieldtypes:"


def _field(
    fid: str, name: str, custom: str, *, required: bool = False, options: tuple[str, ...] = ()
) -> dict:
    found: dict[str, Any] = {
        "fieldId": fid,
        "name": name,
        "required": required,
        "hasDefaultValue": False,
        "schema": {"type": "string", "custom": CF + custom},
    }
    if options:
        found["allowedValues"] = [{"id": str(100 + i), "value": v} for i, v in enumerate(options)]
    return found


SCREEN = [
    {
        "fieldId": "summary",
        "name": "Summary",
        "required": True,
        "schema": {"type": "string", "system": "summary"},
    },
    {"fieldId": "priority", "name": "Priority", "required": False, "schema": {"system": "priority"}},
    _field("customfield_1", "App version", "textfield"),
    _field("customfield_2", "Steps", "textarea"),
    _field("customfield_3", "Crash count", "float"),
    _field("customfield_4", "Environment", "select", required=True, options=("Production", "Staging")),
    _field("customfield_5", "Severity", "radiobuttons", options=("S1", "S2")),
    {
        "fieldId": "customfield_6",
        "name": "QA owner",
        "required": False,
        "schema": {"type": "user", "custom": CF + "userpicker"},
    },
]
SOURCES = fields.sources_for(["plan"])


def _check(chosen: list[Chosen], fixed: dict[str, object] | None = None, **kwargs: Any) -> tuple[list, dict]:
    return mapping.check(sources=SOURCES, screen=SCREEN, chosen=chosen, fixed=fixed or {}, **kwargs)


def test_a_good_mapping_keeps_its_rows_and_a_fixed_value_for_the_required_field() -> None:
    rows, problems = _check(
        [
            Chosen("app_version", "customfield_1"),
            Chosen("reproduction_steps", "customfield_2"),
            Chosen("priority", "customfield_5", {"major": "100", "blocker": "101", "minor": ""}),
            Chosen("title", ""),  # not sent
        ],
        {"customfield_4": "100"},
    )
    assert problems == {}
    assert [(fields.field_id(r["field"]), r["source"]) for r in rows] == [
        ("customfield_1", "app_version"),
        ("customfield_2", "reproduction_steps"),
        ("customfield_5", "priority"),
        ("customfield_4", ""),
    ]
    assert rows[2]["value_map"] == {"major": "100", "blocker": "101"}  # the empty choice is dropped
    assert rows[3]["fixed"] == "100"


def test_a_required_field_nothing_fills_is_a_problem_on_its_row() -> None:
    rows, problems = _check([Chosen("app_version", "customfield_1")])
    assert set(problems) == {"fixed:customfield_4"}
    assert "“Environment” is required in Jira" in problems["fixed:customfield_4"]
    assert [r["source"] for r in rows] == ["app_version"]


def test_mapping_a_source_to_the_required_field_fills_it() -> None:
    _, problems = _check([Chosen("priority", "customfield_4", {"na": "100", "major": "101"})])
    assert problems == {}


def test_a_fixed_value_jira_does_not_offer_is_refused() -> None:
    _, problems = _check([], {"customfield_4": "999"})
    assert set(problems) == {"fixed:customfield_4"}


def test_one_jira_field_takes_one_source() -> None:
    rows, problems = _check(
        [Chosen("app_version", "customfield_1"), Chosen("device", "customfield_1")], {"customfield_4": "100"}
    )
    assert set(problems) == {"map:device"}
    assert "already takes “App version”" in problems["map:device"]
    assert [r["source"] for r in rows if r["source"]] == ["app_version"]


def test_incompatible_people_and_reserved_targets_are_refused_on_their_rows() -> None:
    _, problems = _check(
        [
            Chosen("title", "customfield_3"),  # text → number
            Chosen("description", "customfield_6"),  # → people field
            Chosen("device", "priority"),  # reserved
            Chosen("locale", "customfield_404"),  # not on the screen
            Chosen("no_such_source", "customfield_2"),
        ],
        {"customfield_4": "100"},
    )
    assert set(problems) == {"map:title", "map:description", "map:device", "map:locale", "map:no_such_source"}
    assert "cannot go to" in problems["map:title"]
    assert "not on this issue type's create screen" in problems["map:locale"]


def test_an_option_field_needs_its_value_map() -> None:
    _, problems = _check([Chosen("priority", "customfield_5", {})], {"customfield_4": "100"})
    assert "Choose which option" in problems["map:priority"]


def test_user_attributes_map_like_any_source() -> None:
    rows, problems = _check([Chosen("user_attribute:plan", "customfield_1")], {"customfield_4": "101"})
    assert problems == {} and rows[0]["source"] == "user_attribute:plan"


def test_filled_elsewhere_excuses_a_required_priority() -> None:
    screen = [*SCREEN[:1], {**SCREEN[1], "required": True}, *SCREEN[2:]]
    _, problems = mapping.check(
        sources=SOURCES,
        screen=screen,
        chosen=[],
        fixed={"customfield_4": "100"},
        filled_elsewhere=["priority"],
    )
    assert problems == {}
    _, problems = mapping.check(sources=SOURCES, screen=screen, chosen=[], fixed={"customfield_4": "100"})
    assert set(problems) == {"fixed:priority"}


def test_stored_rows_come_back_as_the_page_s_choices() -> None:
    rows, _ = _check(
        [Chosen("priority", "customfield_5", {"major": "100"}), Chosen("os", "customfield_1")],
        {"customfield_4": "101"},
    )
    chosen, fixed = mapping.chosen_from_rows(rows)
    assert chosen == {
        "priority": Chosen("priority", "customfield_5", {"major": "100"}),
        "os": Chosen("os", "customfield_1", {}),
    }
    assert fixed == {"customfield_4": "101"}
