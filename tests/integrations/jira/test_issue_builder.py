"""The create-issue builder: every rule of `build_issue`, the description's ADF held to what Jira
accepts, its size cap, and the mapped, fixed, skipped and reserved fields. No database: reports are
dicts, SimpleNamespaces and one unsaved BugReport."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from bugs.models import BugReport
from integrations.jira.adf import adf_to_text, text_to_adf
from integrations.jira.fields import RESERVED_FIELDS, TEXTAREA_MAX, UNMAPPABLE
from integrations.jira.issue_builder import (
    CONSOLE_LINES,
    LINK_TEXT,
    NO_DETAILS,
    BuiltIssue,
    IssuePlan,
    MappedField,
    build_issue,
)
from integrations.jira.setup import PRIORITY_TABLE

CF = "com.atlassian.jira.plugin.system.customfieldtypes:"
URL = "https://bugbridge.example.com/apps/3/reports/42"
CREATED = datetime(2026, 11, 28, 14, 39, 5, tzinfo=UTC)


def report(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "app_id": 3,
        "number": 42,
        "title": "Checkout fails",
        "description": "Tapping **Pay** does nothing.",
        "reproduction_steps": ["Open the app", "  ", "Tap *Pay*"],
        "reporter_email": "ann@example.com",
        "reporter_name": "Ann",
        "device_model": "iPhone 15",
        "os_name": "iOS",
        "os_version": "18.1",
        "app_version": "2.3.1",
        "app_build": "451",
        "current_view": "CheckoutViewController",
        "locale": "en_GB",
        "tags": ["checkout", "needs triage", ""],
        "user_attributes": {"plan": "pro", "seats": 12, "beta": True, "nested": {"a": 1}},
        "console_logs": [
            {"timestamp": "2026-11-28T14:38:59Z", "level": "error", "message": "PaymentSheet: no handler"},
            "plain line",
        ],
        "priority": "major",
        "created_at": CREATED,
    }
    return {**fields, **overrides}


def bare(**overrides: Any) -> dict[str, Any]:
    """A report with nothing but a title (and what is overridden)."""
    return {"title": "Bare", **overrides}


def plan(**overrides: Any) -> IssuePlan:
    values: dict[str, Any] = {
        "project_id": "10000",
        "issue_type_id": "10004",
        "assignee": "",
        "priority_names": {str(ours): name for ours, name in PRIORITY_TABLE.items()},
    }
    return IssuePlan(**{**values, **overrides})


def build(the_report: Any = None, **plan_overrides: Any) -> BuiltIssue:
    return build_issue(report() if the_report is None else the_report, plan(**plan_overrides), report_url=URL)


def notes(built: BuiltIssue) -> dict[str, str]:
    found = dict(built.notes)
    assert len(found) == len(built.notes), "one note per field"
    return found


def jira_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def json_size(node: Any) -> int:
    return jira_len(json.dumps(node, ensure_ascii=False, separators=(",", ":")))


# --- ADF checks -----------------------------------------------------------------------------------

INLINE = {"text", "hardBreak"}
BLOCK_CHILDREN: dict[str, set[str]] = {
    "doc": {"paragraph", "heading", "bulletList", "orderedList", "codeBlock", "table"},
    "paragraph": INLINE,
    "heading": INLINE,
    "bulletList": {"listItem"},
    "orderedList": {"listItem"},
    "listItem": {"paragraph", "bulletList", "orderedList", "codeBlock"},
    "codeBlock": {"text"},
    "table": {"tableRow"},
    "tableRow": {"tableHeader", "tableCell"},
    "tableHeader": {"paragraph"},
    "tableCell": {"paragraph"},
}


def assert_valid_adf(doc: Any) -> None:
    """Structural rules Jira enforces: typed nodes, allowed children, rows of cells, cells with
    content, and no empty text nodes."""
    assert doc["type"] == "doc" and doc["version"] == 1
    stack = [doc]
    while stack:
        node = stack.pop()
        assert isinstance(node, dict) and isinstance(node.get("type"), str) and node["type"], node
        kind = node["type"]
        if kind == "text":
            assert isinstance(node["text"], str) and node["text"], node
            assert "content" not in node
            for mark in node.get("marks", []):
                assert isinstance(mark.get("type"), str)
                if mark["type"] == "link":
                    assert mark["attrs"]["href"].startswith(("https://", "http://", "mailto:"))
            continue
        if kind == "hardBreak":
            assert "content" not in node
            continue
        assert kind in BLOCK_CHILDREN, kind
        children = node.get("content")
        assert isinstance(children, list), node
        assert {child.get("type") for child in children} <= BLOCK_CHILDREN[kind], node
        if kind in {"table", "tableRow", "tableHeader", "tableCell", "bulletList", "orderedList", "listItem"}:
            assert children, f"{kind} must not be empty"
        if kind == "listItem":
            assert children[0]["type"] == "paragraph"
        if kind == "heading":
            assert node["attrs"]["level"] in range(1, 7) and children
        stack.extend(children)


def blocks(built: BuiltIssue) -> list[dict[str, Any]]:
    return built.fields["description"]["content"]


def headings(built: BuiltIssue) -> list[str]:
    return [b["content"][0]["text"] for b in blocks(built) if b["type"] == "heading"]


def section(built: BuiltIssue, title: str) -> dict[str, Any]:
    """The block right after a heading."""
    found = blocks(built)
    index = next(
        i for i, b in enumerate(found) if b["type"] == "heading" and b["content"][0]["text"] == title
    )
    return found[index + 1]


def table_rows(table: dict[str, Any]) -> list[tuple[str, str]]:
    assert table["type"] == "table"
    rows = []
    for row in table["content"]:
        assert [cell["type"] for cell in row["content"]] == ["tableHeader", "tableCell"]
        rows.append(
            tuple(adf_to_text({"type": "doc", "content": cell["content"]}) for cell in row["content"])
        )
    return rows


def console_lines(built: BuiltIssue) -> list[str]:
    block = section(built, "Console log")
    assert block["type"] == "codeBlock"
    return block["content"][0]["text"].split("\n")


# --- the fixed fields -----------------------------------------------------------------------------


def test_project_issue_type_summary_and_description_are_always_sent() -> None:
    built = build(bare(), priority_names={})
    assert built.fields["project"] == {"id": "10000"}
    assert built.fields["issuetype"] == {"id": "10004"}
    assert built.fields["summary"] == "Bare"
    assert set(built.fields) == {"project", "issuetype", "summary", "description"}
    assert built.notes == ()


def test_summary_is_the_prefix_and_the_title_on_one_line() -> None:
    built = build(report(title="Checkout\r\nfails\tbadly \x00\x07"), summary_prefix="[Bugbridge test] ")
    assert built.fields["summary"] == "[Bugbridge test] Checkout fails badly"
    assert "summary" not in notes(built)


def test_a_long_title_with_emoji_is_cut_to_255_jira_characters() -> None:
    title = "Crash " + "😀" * 200
    built = build(report(title=title), summary_prefix="[Bugbridge test] ")
    summary = built.fields["summary"]
    assert summary.startswith("[Bugbridge test] Crash 😀")
    assert summary.endswith("😀…")
    assert jira_len(summary) <= 255 and jira_len(summary) >= 253  # an emoji is two units, never split
    assert len(summary) < 255  # Python counts an emoji once: this is Jira's count at work
    assert notes(built)["summary"] == "shortened to 255 characters"


def test_a_title_of_exactly_255_is_kept() -> None:
    title = "a" * 253 + "😀"
    assert build(report(title=title)).fields["summary"] == title
    assert build(report(title=title + "b")).fields["summary"] == "a" * 253 + "…"


@pytest.mark.parametrize("title", [None, "", "  \n ", {"x": 1}, "\x00"])
def test_a_missing_title_still_gives_a_summary(title: Any) -> None:
    assert build(report(title=title)).fields["summary"] == "Untitled report"
    assert build(report(title=title), summary_prefix="[Bugbridge test] ").fields["summary"] == (
        "[Bugbridge test] Untitled report"
    )


# --- the description ------------------------------------------------------------------------------


def test_description_has_every_section_in_order() -> None:
    built = build()
    description = built.fields["description"]
    assert_valid_adf(description)
    found = blocks(built)
    # The report's own text first, as text_to_adf makes it.
    assert found[0] == text_to_adf("Tapping **Pay** does nothing.")["content"][0]
    assert headings(built) == ["Steps to reproduce", "Device and app", "User attributes", "Console log"]
    assert [b["type"] for b in found] == [
        "paragraph",
        "heading",
        "orderedList",
        "heading",
        "table",
        "heading",
        "table",
        "heading",
        "codeBlock",
        "paragraph",
    ]
    assert found[-1] == {
        "type": "paragraph",
        "content": [{"type": "text", "text": LINK_TEXT, "marks": [{"type": "link", "attrs": {"href": URL}}]}],
    }


def test_steps_are_an_ordered_list_without_blank_steps() -> None:
    steps = section(
        build(report(reproduction_steps=["Open", "", "  ", None, "Tap\r\n\nPay", 3])), "Steps to reproduce"
    )
    assert steps["type"] == "orderedList"
    items = [item["content"][0]["content"] for item in steps["content"]]
    assert items == [
        [{"type": "text", "text": "Open"}],
        [
            {"type": "text", "text": "Tap"},
            {"type": "hardBreak"},
            {"type": "hardBreak"},  # a blank line inside a step: no empty text node
            {"type": "text", "text": "Pay"},
        ],
        [{"type": "text", "text": "3"}],
    ]


def test_device_and_app_table() -> None:
    assert table_rows(section(build(), "Device and app")) == [
        ("App version", "2.3.1 (451)"),
        ("OS", "iOS 18.1"),
        ("Device", "iPhone 15"),
        ("Current view", "CheckoutViewController"),
        ("Locale", "en_GB"),
        ("Reporter", "Ann <ann@example.com>"),
    ]


def test_device_and_app_rows_that_are_blank_are_left_out() -> None:
    sparse = bare(app_build="451", os_version="18.1", reporter_email="ann@example.com", locale="  ")
    assert table_rows(section(build(sparse), "Device and app")) == [
        ("App version", "451"),
        ("OS", "18.1"),
        ("Reporter", "ann@example.com"),
    ]
    assert table_rows(section(build(bare(reporter_name="Ann")), "Device and app")) == [("Reporter", "Ann")]


def test_user_attributes_are_sorted_and_shown_as_text() -> None:
    attributes = {
        "seats": 12,
        "beta": True,
        "plan": "pro",
        "nested": {"a": 1},
        "": "x",
        "empty": " ",
        "ratio": 0.5,
    }
    rows = table_rows(section(build(report(user_attributes=attributes)), "User attributes"))
    assert rows == [("beta", "true"), ("plan", "pro"), ("ratio", "0.5"), ("seats", "12")]


def test_console_log_lines() -> None:
    logs = [
        {"timestamp": "2026-11-28T14:38:59Z", "level": "error", "message": "boom"},
        {"level": "warn", "message": "no time"},
        {"timestamp": 1732804739000, "message": "number time\n  second line"},
        {"timestamp": "t", "level": "info"},
        "a plain string",
        {},
        {"message": "   "},
        None,
        42,
    ]
    assert console_lines(build(report(console_logs=logs))) == [
        "2026-11-28T14:38:59Z error boom",
        "warn no time",
        "1732804739000 number time second line",
        "t info",
        "a plain string",
        "42",
    ]


def test_console_log_keeps_the_last_50_lines() -> None:
    logs = [{"level": "info", "message": f"line {n}"} for n in range(80)]
    lines = console_lines(build(report(console_logs=logs)))
    assert len(lines) == CONSOLE_LINES == 50
    assert lines[0] == "info line 30" and lines[-1] == "info line 79"
    # Blank entries do not take a place among the 50.
    lines = console_lines(build(report(console_logs=[*logs, *[{}] * 20])))
    assert lines[0] == "info line 30"


@pytest.mark.parametrize("logs", [None, "", {"level": "error"}, 5])
def test_console_log_that_is_not_a_list(logs: Any) -> None:
    assert "Console log" not in headings(build(report(console_logs=logs)))


def test_console_log_as_one_string_is_read_line_by_line() -> None:
    assert console_lines(build(report(console_logs="one\ntwo\n\nthree"))) == ["one", "two", "three"]


def test_empty_sections_are_left_out() -> None:
    built = build_issue(bare(), plan())
    assert blocks(built) == [{"type": "paragraph", "content": [{"type": "text", "text": NO_DETAILS}]}]
    assert_valid_adf(built.fields["description"])
    empty = bare(
        description="  \n ",
        reproduction_steps=["", " "],
        user_attributes={"x": None},
        console_logs=[{}, ""],
        device_model=" ",
        tags=[],
    )
    assert [b["type"] for b in blocks(build(empty))] == ["paragraph"]  # the link alone
    assert headings(build(bare(device_model="Pixel"))) == ["Device and app"]


@pytest.mark.parametrize("url", ["", "javascript:alert(1)", "/relative", "https://x.io/" + "a" * 3000])
def test_no_link_without_a_usable_report_url(url: str) -> None:
    built = build_issue(report(), plan(), report_url=url)
    assert all(LINK_TEXT not in adf_to_text({"type": "doc", "content": [b]}) for b in blocks(built))


def test_control_characters_and_lone_surrogates_are_stripped() -> None:
    dirty = report(
        description="bad\x00\x1b text \ud800",
        reproduction_steps=["st\x07ep"],
        device_model="Pix\x7fel",
        user_attributes={"k\x01": "v\x02"},
        console_logs=["lo\x08g"],
    )
    built = build(dirty)
    text = json.dumps(built.fields["description"], ensure_ascii=False)
    for char in ("\\u0000", "\\u001b", "\\u0007", "\\u007f", "\\u0001", "\\u0002", "\\u0008", "\\ud800"):
        assert char not in text
    assert "\ud800" not in text
    text.encode("utf-8")  # no lone surrogate left to refuse encoding
    assert "step" in text and "Pixel" in text and "log" in text


# --- the description's size -----------------------------------------------------------------------


def test_a_huge_console_log_is_cut_first_keeping_the_newest_lines() -> None:
    logs = [f"{n:03} " + "x" * 995 for n in range(50)]
    built = build(report(console_logs=logs))
    description = built.fields["description"]
    assert json_size(description) <= TEXTAREA_MAX
    lines = console_lines(built)
    assert 0 < len(lines) < 50
    assert lines[-1].startswith("049 ")
    assert lines == [line[:1000] for line in logs[-len(lines) :]]
    # The report's own text is untouched.
    assert blocks(built)[0] == text_to_adf("Tapping **Pay** does nothing.")["content"][0]
    assert notes(built)["description"] == (
        f"only the last {len(lines)} console lines were kept to stay within Jira's size limit"
    )


def test_a_huge_description_is_cut_after_the_console_log() -> None:
    built = build(report(description="word " * 20_000))
    description = built.fields["description"]
    assert_valid_adf(description)
    assert json_size(description) <= TEXTAREA_MAX
    assert "Console log" not in headings(built)
    first = blocks(built)[0]["content"][0]["text"]
    assert first.startswith("word word") and first.endswith("…")
    assert len(first) > 20_000  # cut to what fits, not to nothing
    assert blocks(built)[-1]["content"][0]["text"] == LINK_TEXT  # the link survives
    assert notes(built)["description"] == (
        "the console log was left out, the report's description was shortened "
        "to stay within Jira's size limit"
    )


def test_emoji_count_twice_against_the_size_limit() -> None:
    built = build(report(description="😀" * 20_000))
    assert json_size(built.fields["description"]) <= TEXTAREA_MAX
    assert "shortened" in notes(built)["description"]


def test_everything_at_once_still_fits() -> None:
    huge = "y" * 5_000
    monster = report(
        description="**a** _b_ `c`\n- item\n" * 3_000,
        reproduction_steps=[huge] * 200,
        user_attributes={f"key{n:03}": huge for n in range(200)},
        console_logs=[huge] * 200,
        **{name: huge for name in ("device_model", "os_name", "os_version", "app_version", "app_build")},
        **{name: huge for name in ("current_view", "locale", "reporter_name", "reporter_email")},
    )
    built = build(monster)
    description = built.fields["description"]
    assert_valid_adf(description)
    assert json_size(description) <= TEXTAREA_MAX
    # Every section keeps something: an outsized one does not empty the others.
    assert headings(built)[:3] == ["Steps to reproduce", "Device and app", "User attributes"]
    assert blocks(built)[0]["type"] == "paragraph"
    note = notes(built)["description"]
    assert "steps to reproduce were kept" in note and "user attributes were kept" in note


def test_a_description_that_fits_is_not_noted() -> None:
    assert "description" not in notes(build(report(description="z" * 20_000)))


# --- priority, assignee, labels -------------------------------------------------------------------


@pytest.mark.parametrize(("ours", "name"), [(str(k), v) for k, v in PRIORITY_TABLE.items()])
def test_priority_by_name(ours: str, name: str) -> None:
    assert build(report(priority=ours)).fields["priority"] == {"name": name}


def test_priority_is_absent_when_the_project_has_no_such_name() -> None:
    built = build(report(priority="blocker"), priority_names={"major": "P2"})
    assert "priority" not in built.fields
    assert notes(built)["priority"] == "no Jira priority is chosen for “Blocker”, so Jira's default is used"
    assert "priority" not in build(report(priority="major"), priority_names={"major": ""}).fields
    assert build(report(priority="major"), priority_names={"major": "P2"}).fields["priority"] == {
        "name": "P2"
    }
    assert "priority" not in notes(build(report(priority=None), priority_names={}))


NOT_SENT = object()


@pytest.mark.parametrize(
    ("assignee", "expected"),
    [("", NOT_SENT), ("  ", NOT_SENT), ("unassigned", None), ("5b10ac8d", {"accountId": "5b10ac8d"})],
)
def test_assignee(assignee: str, expected: Any) -> None:
    """Project default: nothing sent; unassigned: null (how create clears a field)."""
    built = build(assignee=assignee)
    if expected is NOT_SENT:
        assert "assignee" not in built.fields
    else:
        assert "assignee" in built.fields and built.fields["assignee"] == expected


def test_labels_from_tags_have_no_spaces_and_take_the_extra_labels() -> None:
    built = build(
        report(tags=["checkout", "needs triage", "", " checkout ", "a\tb"]),
        extra_labels=["bugbridge", "checkout"],
    )
    assert built.fields["labels"] == ["checkout", "needs-triage", "a-b", "bugbridge"]
    assert build(report(tags=[]), extra_labels=["from bugbridge"]).fields["labels"] == ["from-bugbridge"]


@pytest.mark.parametrize("tags", [[], None, "", ["", " "], {"a": "b"}])
def test_labels_are_absent_when_there_are_none(tags: Any) -> None:
    assert "labels" not in build(report(tags=tags)).fields


SYSTEM_LABELS = {
    "fieldId": "labels",
    "name": "Labels",
    "schema": {"type": "array", "items": "string", "system": "labels"},
}


def test_a_mapping_to_the_system_labels_field_merges_into_the_labels() -> None:
    rows = [
        MappedField(SYSTEM_LABELS, "user_attribute:plan"),
    ]
    # A text source cannot go to labels: noted, and the tags still go.
    built = build(mappings=rows, extra_labels=["bb"])
    assert built.fields["labels"] == ["checkout", "needs-triage", "bb"]
    assert notes(built)["labels"] == "User attribute: plan cannot go to a labels field"
    fixed = build(
        mappings=[MappedField(SYSTEM_LABELS, "", fixed="mobile team, checkout")], extra_labels=["bb"]
    )
    assert fixed.fields["labels"] == ["checkout", "needs-triage", "bb", "mobile-team"]
    mapped = build(report(tags=["x y"]), mappings=[MappedField(SYSTEM_LABELS, "tags")])
    assert mapped.fields["labels"] == ["x-y"]
    assert "labels" not in notes(mapped)


# --- mapped fields --------------------------------------------------------------------------------


def jf(fid: str, custom: str, name: str = "", **extra: Any) -> dict[str, Any]:
    return {"fieldId": fid, "name": name or fid, "schema": {"type": "x", "custom": CF + custom}, **extra}


SEVERITY = jf(
    "customfield_10057",
    "radiobuttons",
    "Severity",
    allowedValues=[{"id": "10110", "value": "S1"}, {"id": "10111", "value": "S2"}],
)
ENVIRONMENT = jf(
    "customfield_10055", "select", "Environment", allowedValues=[{"id": "10200", "value": "Prod"}]
)


def test_mapped_select_with_a_value_map() -> None:
    rows = [MappedField(SEVERITY, "priority", {"blocker": "10110", "major": {"id": "10111"}})]
    assert build(report(priority="major"), mappings=rows).fields["customfield_10057"] == {"id": "10111"}
    assert build(report(priority="blocker"), mappings=rows).fields["customfield_10057"] == {"id": "10110"}
    missed = build(report(priority="minor"), mappings=rows)
    assert "customfield_10057" not in missed.fields
    assert notes(missed)["customfield_10057"] == "no Jira option is chosen for “Minor”"


def test_mapped_text_fields_and_their_notes() -> None:
    rows = [
        MappedField(jf("customfield_10050", "textfield"), "app_version"),
        MappedField(jf("customfield_10051", "textarea"), "reproduction_steps"),
        MappedField(jf("customfield_10052", "textfield"), "description"),
        MappedField(jf("customfield_10053", "datetime"), "created_at"),
        MappedField(jf("customfield_10054", "url"), "dashboard_url"),
        MappedField(jf("customfield_10056", "textfield"), "current_view"),
    ]
    built = build(report(description="long " * 100, current_view=""), mappings=rows)
    assert built.fields["customfield_10050"] == "2.3.1 (451)"
    assert built.fields["customfield_10051"] == text_to_adf("1. Open the app\n2. Tap *Pay*")
    assert len(built.fields["customfield_10052"]) == 255
    assert built.fields["customfield_10053"] == "2026-11-28T14:39:05.000+0000"
    assert built.fields["customfield_10054"] == URL
    assert "customfield_10056" not in built.fields
    found = notes(built)
    assert found["customfield_10052"] == "shortened to 255 characters"
    assert found["customfield_10056"] == "the report has no value for it"
    assert "customfield_10050" not in found and "customfield_10054" not in found


def test_the_dashboard_link_needs_a_report_url() -> None:
    rows = [MappedField(jf("customfield_10054", "url"), "dashboard_url")]
    built = build_issue(report(), plan(mappings=rows))
    assert "customfield_10054" not in built.fields
    assert notes(built)["customfield_10054"] == "the report has no value for it"


def test_user_attribute_mapping_uses_its_kind() -> None:
    seats = jf("customfield_10052", "float", "Seats")
    plan_field = jf("customfield_10050", "textfield", "Plan")
    rows = [MappedField(seats, "user_attribute:seats"), MappedField(plan_field, "user_attribute:plan")]
    built = build(mappings=rows, user_attribute_kinds={"seats": "number"})
    assert built.fields["customfield_10052"] == 12
    assert built.fields["customfield_10050"] == "pro"
    # Without the kind, the attribute is text, and text never goes to a number field.
    untyped = build(mappings=rows)
    assert "customfield_10052" not in untyped.fields
    assert notes(untyped)["customfield_10052"] == "User attribute: seats cannot go to a number field"
    # A key this report lacks is a note, not an error.
    missing = build(report(user_attributes={}), mappings=rows, user_attribute_kinds={"seats": "number"})
    assert notes(missing)["customfield_10052"] == "the report has no value for it"


def test_skipped_values_are_noted_and_left_out() -> None:
    rows = [
        MappedField(jf("customfield_10061", "url"), "user_attribute:plan"),
        MappedField(jf("customfield_10058", "userpicker"), "reporter_email"),
        MappedField(jf("customfield_10059", "textfield"), "no_such_source"),
        MappedField(jf("customfield_10060", "float"), "user_attribute:plan"),
    ]
    built = build(mappings=rows, user_attribute_kinds={"plan": "url"})
    assert not {"customfield_10061", "customfield_10058", "customfield_10059", "customfield_10060"} & set(
        built.fields
    )
    found = notes(built)
    assert found["customfield_10061"] == "the value is not an http or https link"
    assert found["customfield_10058"] == UNMAPPABLE["userpicker"]
    assert found["customfield_10059"] == "Bugbridge no longer offers the report field it was mapped from"
    assert found["customfield_10060"] == "User attribute: plan cannot go to a number field"


def test_fixed_values() -> None:
    rows = [
        MappedField(ENVIRONMENT, "", fixed="10200"),
        MappedField(jf("customfield_10062", "datetime"), "", fixed="2026-11-29T10:30"),
        MappedField(jf("customfield_10063", "multiselect", allowedValues=[{"id": "1"}]), "", fixed=["1"]),
    ]
    built = build(mappings=rows)
    assert built.fields["customfield_10055"] == {"id": "10200"}
    assert built.fields["customfield_10062"] == "2026-11-29T10:30:00.000+0000"
    assert built.fields["customfield_10063"] == [{"id": "1"}]
    gone = build(mappings=[MappedField(ENVIRONMENT, "", fixed="99"), MappedField(SEVERITY, "", fixed=None)])
    assert "customfield_10055" not in gone.fields and "customfield_10057" not in gone.fields
    assert notes(gone)["customfield_10055"] == "the field does not offer that option any more: choose again"
    assert notes(gone)["customfield_10057"] == "choose an option"


@pytest.mark.parametrize("fid", sorted(RESERVED_FIELDS))
def test_mappings_to_reserved_fields_are_ignored_with_a_note(fid: str) -> None:
    target = {"fieldId": fid, "name": fid, "schema": {"type": "string", "system": fid}}
    built = build(mappings=[MappedField(target, "device"), MappedField(target, "", fixed="x")])
    assert built.fields.get(fid) != "iPhone 15" and built.fields.get(fid) != "x"
    assert notes(built)[fid].startswith("not sent from the mapping: ")
    assert RESERVED_FIELDS[fid] in notes(built)[fid]
    assert built.fields["summary"] == "Checkout fails"
    assert built.fields["project"] == {"id": "10000"}


def test_a_second_mapping_to_one_field_does_not_win() -> None:
    target = jf("customfield_10050", "textfield")
    built = build(mappings=[MappedField(target, "device"), MappedField(target, "os")])
    assert built.fields["customfield_10050"] == "iPhone 15"
    assert notes(built)["customfield_10050"] == "not sent twice: another mapping already fills this field"


def test_rows_without_a_usable_field_are_passed_over() -> None:
    rows = [MappedField({}, "device"), MappedField({"name": "no id"}, "device"), MappedField(None, "device")]  # type: ignore[arg-type]
    built = build(mappings=rows)
    assert set(built.fields) == set(build().fields)


# --- report shapes and robustness -----------------------------------------------------------------


def test_a_mapping_a_namespace_and_a_model_give_the_same_issue() -> None:
    values = report()
    model_values = {k: v for k, v in values.items() if k not in ("app_id",)}
    as_model = BugReport(**model_values)
    rows = [
        MappedField(SEVERITY, "priority", {"major": "10111"}),
        MappedField(jf("customfield_1", "textfield"), "os"),
    ]
    from_dict = build(values, mappings=rows, extra_labels=["bb"])
    assert build(SimpleNamespace(**values), mappings=rows, extra_labels=["bb"]) == from_dict
    assert build(as_model, mappings=rows, extra_labels=["bb"]) == from_dict
    assert from_dict.fields["customfield_1"] == "iOS 18.1"


ODD = [None, "", 0, -1.5, True, {"deep": {"er": [1]}}, [[["x"]]], object(), "\ud800", "x" * 100_000, 10**5000]
ODD_NAMES = [
    "title",
    "description",
    "reproduction_steps",
    "tags",
    "user_attributes",
    "console_logs",
    "priority",
    "device_model",
    "reporter_email",
]


@pytest.mark.parametrize("value", ODD, ids=lambda v: type(v).__name__)
@pytest.mark.parametrize("name", ODD_NAMES)
def test_odd_report_values_never_raise_and_give_valid_adf(name: str, value: Any) -> None:
    rows = [
        MappedField(jf("customfield_1", "textfield"), name if name != "console_logs" else "title"),
        MappedField(SEVERITY, "priority", {"major": "10111"}),
        MappedField(jf("customfield_2", "float"), "user_attribute:seats"),
    ]
    built = build(report(**{name: value}), mappings=rows, user_attribute_kinds={"seats": "number"})
    assert_valid_adf(built.fields["description"])
    assert json_size(built.fields["description"]) <= TEXTAREA_MAX
    assert 0 < jira_len(built.fields["summary"]) <= 255
    json.dumps(built.fields).encode("utf-8")  # what the client sends must serialise
    for fid, words in built.notes:
        assert isinstance(fid, str) and fid and isinstance(words, str) and words


def test_an_empty_report_still_builds() -> None:
    for empty in ({}, SimpleNamespace()):
        built = build_issue(empty, plan())
        assert built.fields["summary"] == "Untitled report"
        assert_valid_adf(built.fields["description"])
        assert set(built.fields) == {"project", "issuetype", "summary", "description"}


def test_the_checker_catches_what_jira_refuses() -> None:
    # The ADF check above must be able to fail, or the tests that lean on it prove nothing.
    bad_docs = [
        {
            "type": "doc",
            "version": 1,
            "content": [{"type": "paragraph", "content": [{"type": "text", "text": ""}]}],
        },
        {
            "type": "doc",
            "version": 1,
            "content": [{"type": "table", "content": [{"type": "tableRow", "content": []}]}],
        },
        {
            "type": "doc",
            "version": 1,
            "content": [{"type": "table", "content": [{"type": "paragraph", "content": []}]}],
        },
        {"type": "doc", "version": 1, "content": [{"content": []}]},
        {
            "type": "doc",
            "version": 1,
            "content": [{"type": "tableRow", "content": [{"type": "text", "text": "x"}]}],
        },
    ]
    for doc in bad_docs:
        with pytest.raises(AssertionError):
            assert_valid_adf(doc)
