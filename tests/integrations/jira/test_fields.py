"""Field mapping: the whole rules matrix, schema → target kind, every converter on normal, empty,
odd and hostile input, the required-field check and the wizard's row validation."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from itertools import product
from types import SimpleNamespace
from typing import Any

import pytest

from bugs.models import Priority
from integrations.jira.adf import text_to_adf
from integrations.jira.fields import (
    ALWAYS_SET,
    CONVERTERS,
    PRIORITY_CHOICES,
    RULES,
    SOURCE_KINDS,
    SOURCES,
    TARGET_KINDS,
    UNMAPPABLE,
    Converted,
    MappingRow,
    ReportContext,
    Skip,
    Source,
    attribute_key,
    attribute_kind,
    compatible,
    convert,
    fixed_input,
    fixed_value,
    missing_required,
    source_by_key,
    sources_for,
    target_kind,
    targets_for,
    validate_mapping,
)

CF = "com.atlassian.jira.plugin.system.customfieldtypes:"

# One schema per target kind, shaped as the sandbox seed and API-NOTES §4.1 show them.
SCHEMAS: dict[str, dict[str, Any]] = {
    "textfield": {"type": "string", "custom": CF + "textfield", "customId": 10050},
    "textarea": {"type": "string", "custom": CF + "textarea", "customId": 10051},
    "url": {"type": "string", "custom": CF + "url", "customId": 10061},
    "float": {"type": "number", "custom": CF + "float", "customId": 10052},
    "datepicker": {"type": "date", "custom": CF + "datepicker", "customId": 10053},
    "datetime": {"type": "datetime", "custom": CF + "datetime", "customId": 10054},
    "labels": {"type": "array", "items": "string", "custom": CF + "labels", "customId": 10060},
    "select": {"type": "option", "custom": CF + "select", "customId": 10055},
    "radiobuttons": {"type": "option", "custom": CF + "radiobuttons", "customId": 10057},
    "multiselect": {"type": "array", "items": "option", "custom": CF + "multiselect", "customId": 10056},
    "multicheckboxes": {"type": "array", "items": "option", "custom": CF + "multicheckboxes"},
    "userpicker": {"type": "user", "custom": CF + "userpicker", "customId": 10058},
    "multiuserpicker": {"type": "array", "items": "user", "custom": CF + "multiuserpicker"},
    "priority": {"type": "priority", "system": "priority"},
    "unsupported": {"type": "option-with-child", "custom": CF + "cascadingselect"},
}


def src(kind: str, **extra: Any) -> Source:
    return Source(f"test_{kind}", f"Test {kind}", kind, lambda report, context: None, **extra)


PRIORITY = next(source for source in SOURCES if source.key == "priority")
TAGS = next(source for source in SOURCES if source.key == "tags")
TITLE = next(source for source in SOURCES if source.key == "title")


def jira_field(fid: str, kind: str, name: str = "", **extra: Any) -> dict[str, Any]:
    return {"fieldId": fid, "key": fid, "name": name or fid, "schema": SCHEMAS[kind], **extra}


# ---------------------------------------------------------------------------------------------
# The rules matrix: every source kind by every target kind, written out
# ---------------------------------------------------------------------------------------------

ALLOWED: dict[str, set[str]] = {
    "text": {"textfield", "textarea"},
    "long_text": {"textarea", "textfield"},
    "email": {"textfield", "textarea"},
    "url": {"url", "textfield", "textarea"},
    "number": {"float", "textfield", "textarea"},
    "date": {"datepicker", "datetime", "textfield", "textarea"},
    "tags": {"labels", "multiselect", "multicheckboxes", "textfield", "textarea"},
    "choice": {"select", "radiobuttons", "textfield", "textarea"},
}


def test_the_kinds_are_the_documented_ones() -> None:
    assert SOURCE_KINDS == ("text", "long_text", "email", "url", "number", "date", "tags", "choice")
    assert set(TARGET_KINDS) == set(SCHEMAS)
    assert set(RULES) == set(SOURCE_KINDS)


@pytest.mark.parametrize(("source_kind", "kind"), list(product(SOURCE_KINDS, TARGET_KINDS)))
def test_rules_matrix(source_kind: str, kind: str) -> None:
    assert compatible(src(source_kind), SCHEMAS[kind]) is (kind in ALLOWED[source_kind])


def test_every_allowed_target_has_a_converter_and_no_source_reaches_people_or_priority() -> None:
    reachable = set().union(*RULES.values())
    assert reachable <= set(CONVERTERS)
    assert not reachable & {"userpicker", "multiuserpicker", "priority", "unsupported"}


@pytest.mark.parametrize(("source_kind", "kind"), list(product(SOURCE_KINDS, TARGET_KINDS)))
def test_convert_refuses_what_the_rules_refuse(source_kind: str, kind: str) -> None:
    result = convert(src(source_kind), "x", SCHEMAS[kind], {"x": "1"})
    if kind not in ALLOWED[source_kind]:
        assert isinstance(result, Skip)


# ---------------------------------------------------------------------------------------------
# Schema → target kind
# ---------------------------------------------------------------------------------------------

SCHEMA_KINDS = [
    *[({"type": "string", "custom": CF + suffix}, suffix) for suffix in ("textfield", "textarea", "url")],
    ({"type": "number", "custom": CF + "float"}, "float"),
    ({"type": "date", "custom": CF + "datepicker"}, "datepicker"),
    ({"type": "datetime", "custom": CF + "datetime"}, "datetime"),
    ({"type": "array", "items": "string", "custom": CF + "labels"}, "labels"),
    ({"type": "option", "custom": CF + "select"}, "select"),
    ({"type": "option", "custom": CF + "radiobuttons"}, "radiobuttons"),
    ({"type": "array", "items": "option", "custom": CF + "multiselect"}, "multiselect"),
    ({"type": "array", "items": "option", "custom": CF + "multicheckboxes"}, "multicheckboxes"),
    ({"type": "user", "custom": CF + "userpicker"}, "userpicker"),
    ({"type": "array", "items": "user", "custom": CF + "multiuserpicker"}, "multiuserpicker"),
    # Custom types Bugbridge cannot fill.
    ({"type": "option-with-child", "custom": CF + "cascadingselect"}, "unsupported"),
    ({"type": "group", "custom": CF + "grouppicker"}, "unsupported"),
    ({"type": "array", "items": "group", "custom": CF + "multigrouppicker"}, "unsupported"),
    ({"type": "version", "custom": CF + "version"}, "unsupported"),
    ({"type": "array", "items": "version", "custom": CF + "multiversion"}, "unsupported"),
    ({"type": "project", "custom": CF + "project"}, "unsupported"),
    ({"type": "string", "custom": CF + "readonlyfield"}, "unsupported"),
    ({"type": "string", "custom": CF + "importid"}, "unsupported"),
    ({"type": "array", "items": "json", "custom": "com.pyxis.greenhopper.jira:gh-sprint"}, "unsupported"),
    # Another vendor's "textarea" is not ours: its value shape is unknown.
    ({"type": "string", "custom": "com.example.app:textarea"}, "unsupported"),
    ({"type": "string", "custom": "textarea"}, "unsupported"),
    # `custom` wins over `type` (API-NOTES §4.2: trust the real schema.custom).
    ({"type": "number", "custom": CF + "textfield"}, "textfield"),
    # System fields.
    ({"type": "string", "system": "summary"}, "textfield"),
    ({"type": "string", "system": "description"}, "textarea"),
    ({"type": "string", "system": "environment"}, "textarea"),
    ({"type": "array", "items": "string", "system": "labels"}, "labels"),
    ({"type": "date", "system": "duedate"}, "datepicker"),
    ({"type": "priority", "system": "priority"}, "priority"),
    ({"type": "user", "system": "assignee"}, "userpicker"),
    ({"type": "user", "system": "reporter"}, "userpicker"),
    ({"type": "array", "items": "component", "system": "components"}, "unsupported"),
    ({"type": "array", "items": "version", "system": "fixVersions"}, "unsupported"),
    ({"type": "issuetype", "system": "issuetype"}, "unsupported"),
    ({"type": "project", "system": "project"}, "unsupported"),
    ({"type": "datetime", "system": "created"}, "unsupported"),
    # Odd schemas.
    ({"type": "string"}, "unsupported"),
    ({}, "unsupported"),
    (None, "unsupported"),
    ("textarea", "unsupported"),
    ([CF + "textarea"], "unsupported"),
    ({"custom": 10051}, "unsupported"),
    ({"custom": None, "system": "labels"}, "labels"),
    ({"system": ["labels"]}, "unsupported"),
]


@pytest.mark.parametrize(("schema", "kind"), SCHEMA_KINDS)
def test_target_kind(schema: Any, kind: str) -> None:
    assert target_kind(schema) == kind


def test_targets_for_offers_only_compatible_fields_and_never_reserved_ones() -> None:
    fields = [
        {"fieldId": "summary", "name": "Summary", "schema": {"type": "string", "system": "summary"}},
        {
            "fieldId": "description",
            "name": "Description",
            "schema": {"type": "string", "system": "description"},
        },
        {
            "fieldId": "labels",
            "name": "Labels",
            "schema": {"type": "array", "items": "string", "system": "labels"},
        },
        jira_field("customfield_10050", "textfield"),
        jira_field("customfield_10051", "textarea"),
        jira_field("customfield_10052", "float"),
        jira_field("customfield_10056", "multiselect"),
        jira_field("customfield_10058", "userpicker"),
        {"fieldId": "customfield_1", "name": "No schema"},
    ]
    ids = lambda found: [f["fieldId"] for f in found]  # noqa: E731
    assert ids(targets_for(TITLE, fields)) == ["customfield_10050", "customfield_10051"]
    assert ids(targets_for(TAGS, fields)) == [
        "labels",
        "customfield_10050",
        "customfield_10051",
        "customfield_10056",
    ]
    assert ids(targets_for(src("number"), fields)) == [
        "customfield_10050",
        "customfield_10051",
        "customfield_10052",
    ]
    # GET /field says `id`, not `fieldId`.
    assert targets_for(TITLE, [{"id": "summary", "schema": {"type": "string", "system": "summary"}}]) == []


# ---------------------------------------------------------------------------------------------
# Sources
# ---------------------------------------------------------------------------------------------

CREATED = datetime(2026, 11, 28, 14, 39, 5, 123456, tzinfo=UTC)


def report(**overrides: Any) -> SimpleNamespace:
    fields: dict[str, Any] = {
        "app_id": 3,
        "number": 42,
        "title": "Checkout fails",
        "description": "It **fails**.",
        "reproduction_steps": ["Open the app", "  ", "Tap *Pay*", 3],
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
        "user_attributes": {"plan": "pro", "seats": 12, "beta": True},
        "status": "new",
        "priority": "major",
        "created_at": CREATED,
    }
    return SimpleNamespace(**{**fields, **overrides})


def by_key(sources: list[Source]) -> dict[str, Source]:
    return {source.key: source for source in sources}


def test_builtin_sources() -> None:
    keys = [source.key for source in SOURCES]
    assert keys == [
        "title",
        "description",
        "reproduction_steps",
        "reporter_email",
        "reporter_name",
        "app_version",
        "os",
        "device",
        "current_view",
        "locale",
        "tags",
        "priority",
        "created_at",
        "dashboard_url",
    ]
    assert all(source.kind in SOURCE_KINDS and source.label for source in SOURCES)


def test_source_values_from_a_report() -> None:
    sources = by_key(sources_for(["plan", "seats"]))
    context = ReportContext(
        report_url=lambda r: f"https://bugs.example.com/apps/{r.app_id}/reports/{r.number}/"
    )
    values = {key: source.value(report(), context) for key, source in sources.items()}
    assert values == {
        "title": "Checkout fails",
        "description": "It **fails**.",
        "reproduction_steps": "1. Open the app\n2. Tap *Pay*\n3. 3",
        "reporter_email": "ann@example.com",
        "reporter_name": "Ann",
        "app_version": "2.3.1 (451)",
        "os": "iOS 18.1",
        "device": "iPhone 15",
        "current_view": "CheckoutViewController",
        "locale": "en_GB",
        "tags": ["checkout", "needs triage"],
        "priority": "major",
        "created_at": CREATED,
        "dashboard_url": "https://bugs.example.com/apps/3/reports/42/",
        "user_attribute:plan": "pro",
        "user_attribute:seats": 12,
    }


def test_source_values_from_a_mapping_and_from_sparse_reports() -> None:
    sources = by_key(sources_for(["plan"]))
    sparse = {"os_name": "", "os_version": "14", "app_version": "2.0", "reproduction_steps": "just one"}
    assert sources["os"].value(sparse) == "14"
    assert sources["app_version"].value(sparse) == "2.0"
    assert sources["reproduction_steps"].value(sparse) == "1. just one"
    assert sources["tags"].value(sparse) == []
    assert sources["title"].value(sparse) is None
    assert sources["user_attribute:plan"].value(sparse) is None
    assert sources["user_attribute:plan"].value({"user_attributes": ["not", "a", "dict"]}) is None
    # Without a way to build the URL there is no dashboard link (and no crash).
    assert sources["dashboard_url"].value(sparse) is None


def test_sources_for_sorts_dedupes_and_drops_unusable_keys() -> None:
    keys = [
        "seats",
        "plan",
        "plan",
        "",
        "   ",
        None,
        7,
        "a:b",
        "with space",
        "<b>&\"'",
        "user_attribute:x",
        "é",
    ]
    extra = [source for source in sources_for(keys) if source.key.startswith("user_attribute:")]  # type: ignore[arg-type]
    assert [source.key for source in extra] == [
        "user_attribute:<b>&\"'",
        "user_attribute:a:b",
        "user_attribute:plan",
        "user_attribute:seats",
        "user_attribute:user_attribute:x",
        "user_attribute:with space",
        "user_attribute:é",
    ]
    assert all(source.kind == "text" for source in extra)
    assert extra[0].label == "User attribute: <b>&\"'"


@pytest.mark.parametrize("name", ["a:b", "with space", "<b>&\"'", "user_attribute:x", "é", "x" * 300])
def test_user_attribute_keys_round_trip(name: str) -> None:
    (source,) = [s for s in sources_for([name]) if s.key.startswith("user_attribute:")]
    assert attribute_key(source.key) == name
    assert source.value({"user_attributes": {name: "v", "other": "w"}}) == "v"
    found = source_by_key(source.key)
    assert found is not None and found.key == source.key
    assert found.value({"user_attributes": {name: "v"}}) == "v"


def test_source_by_key() -> None:
    assert source_by_key("title") is TITLE
    assert source_by_key("nope") is None
    assert source_by_key("user_attribute:") is None
    assert attribute_key("title") is None
    seats = source_by_key("user_attribute:seats", user_attribute_kind="number")
    assert seats is not None and seats.kind == "number"
    odd = source_by_key("user_attribute:seats", user_attribute_kind="bogus")
    assert odd is not None and odd.kind == "text"


def test_user_attribute_kinds() -> None:
    assert attribute_kind([1, 2.5, "3"]) == "number"
    assert attribute_kind([1, True]) == "text"
    assert attribute_kind(["https://a.example", "http://b.example/x"]) == "url"
    assert attribute_kind(["https://a.example", "javascript:alert(1)"]) == "text"
    assert attribute_kind([]) == "text"
    assert attribute_kind([float("nan")]) == "text"
    sources = by_key(
        sources_for(["seats", "site", "odd"], user_attribute_kinds={"seats": "number", "odd": "bogus"})
    )
    assert sources["user_attribute:seats"].kind == "number"
    assert sources["user_attribute:site"].kind == "text"
    assert sources["user_attribute:odd"].kind == "text"


def test_priority_choices_follow_the_model() -> None:
    assert {choice.value: choice.label for choice in Priority} == PRIORITY_CHOICES


# ---------------------------------------------------------------------------------------------
# Converters
# ---------------------------------------------------------------------------------------------


def converted(result: Converted | Skip) -> Any:
    assert isinstance(result, Converted), result
    return result.value


def skipped(result: Converted | Skip) -> str:
    assert isinstance(result, Skip), result
    return result.reason


TEXTFIELD = [
    ("Checkout fails", "Checkout fails"),
    ("  padded  ", "padded"),
    ("line one\r\nline two\n\n  three", "line one line two three"),
    ("nul\x00and\x07bell", "nulandbell"),
    (12, "12"),
    (2.5, "2.5"),
    (True, "true"),
    (["a", "b", None, ""], "a, b"),
    (date(2026, 1, 2), "2026-01-02"),
    ("<script>alert(1)</script>", "<script>alert(1)</script>"),  # Jira escapes; we send text as text
]


@pytest.mark.parametrize(("value", "expected"), TEXTFIELD)
def test_textfield(value: Any, expected: str) -> None:
    assert converted(convert(src("text"), value, SCHEMAS["textfield"])) == expected


def test_textfield_truncates_to_255_with_an_ellipsis() -> None:
    result = convert(src("long_text"), "x" * 300, SCHEMAS["textfield"])
    assert isinstance(result, Converted)
    assert result.value == "x" * 254 + "…" and len(result.value) == 255
    assert result.notes == ("shortened to 255 characters",)
    exact = convert(src("long_text"), "y" * 255, SCHEMAS["textfield"])
    assert exact == Converted("y" * 255)


def test_textfield_counts_emoji_as_jira_does() -> None:
    # 200 emoji are 400 UTF-16 units: Jira would refuse them whole.
    value = converted(convert(src("text"), "😀" * 200, SCHEMAS["textfield"]))
    assert len(value.encode("utf-16-le")) // 2 <= 255
    assert value.endswith("…") and value.startswith("😀")


def test_choice_in_a_text_field_shows_its_label() -> None:
    assert converted(convert(PRIORITY, "blocker", SCHEMAS["textfield"])) == "Blocker"
    assert converted(convert(PRIORITY, "unknown", SCHEMAS["textarea"])) == text_to_adf("unknown")


@pytest.mark.parametrize(
    "value", [None, "", "   ", "\n\n", [], {}, {"a": 1}, object(), float("nan"), ["", None]]
)
@pytest.mark.parametrize("kind", ["textfield", "textarea"])
def test_text_targets_skip_empty_and_unreadable_values(value: Any, kind: str) -> None:
    assert skipped(convert(src("long_text"), value, SCHEMAS[kind])) == "the report has no value for it"


def test_textarea_is_adf() -> None:
    steps = "1. Open the app\n2. Tap **Pay**"
    assert converted(convert(src("long_text"), steps, SCHEMAS["textarea"])) == text_to_adf(steps)
    value = converted(convert(src("text"), "plain", SCHEMAS["textarea"]))
    assert value == {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": "plain"}]}],
    }


def test_textarea_truncates_huge_text() -> None:
    result = convert(src("long_text"), "word " * 20_000, SCHEMAS["textarea"])
    assert isinstance(result, Converted)
    assert result.notes == ("shortened to 32767 characters",)
    text = result.value["content"][0]["content"][0]["text"]
    assert len(text) <= 32_767 and text.endswith("…")


URLS_OK = [
    "https://bugs.example.com/apps/3/reports/42/",
    "http://localhost:8000/x?y=1#z",
    "  https://example.com  ",
    "HTTPS://EXAMPLE.COM",
]
URLS_BAD = [
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    "javascript://example.com/%0aalert(1)",
    "data:text/html,<b>x</b>",
    "mailto:a@example.com",
    "ftp://example.com/file",
    "file:///etc/passwd",
    "//example.com/x",
    "example.com",
    "https://",
    "https://exa mple.com",
    "https://example.com/\nx",
    "java\tscript:alert(1)",
    "http://[::1",
    "https://example.com/\ud800",
    12,
    ["https://example.com"],
    {"href": "https://example.com"},
    "https://example.com/" + "a" * 300,
]


@pytest.mark.parametrize("url", URLS_OK)
def test_url_passes_http_and_https(url: str) -> None:
    assert converted(convert(src("url"), url, SCHEMAS["url"])) == url.strip()


@pytest.mark.parametrize("url", URLS_BAD)
def test_url_skips_everything_else(url: Any) -> None:
    assert skipped(convert(src("url"), url, SCHEMAS["url"]))


@pytest.mark.parametrize("value", [None, "", "  "])
def test_url_empty(value: Any) -> None:
    assert skipped(convert(src("url"), value, SCHEMAS["url"])) == "the report has no value for it"


FLOATS = [(3.5, 3.5), (12, 12), (0, 0), (-1.25, -1.25), ("42", 42.0), (" 2.5 ", 2.5), ("1e3", 1000.0)]
NOT_FLOATS = [
    True,
    False,
    "abc",
    "nan",
    "inf",
    float("inf"),
    float("nan"),
    [1],
    {"n": 1},
    Decimal("1.5"),
    "1,5",
]


@pytest.mark.parametrize(("value", "expected"), FLOATS)
def test_float(value: Any, expected: float) -> None:
    number = converted(convert(src("number"), value, SCHEMAS["float"]))
    assert number == expected and type(number) is type(expected)


@pytest.mark.parametrize("value", NOT_FLOATS)
def test_float_refuses_non_numbers(value: Any) -> None:
    assert skipped(convert(src("number"), value, SCHEMAS["float"])) == "the value is not a number"


def test_float_empty() -> None:
    assert skipped(convert(src("number"), None, SCHEMAS["float"])) == "the report has no value for it"


PARIS = timezone(timedelta(hours=1))
DATES = [
    (CREATED, "2026-11-28", "2026-11-28T14:39:05.123+0000"),
    (datetime(2026, 11, 28, 0, 30, tzinfo=PARIS), "2026-11-27", "2026-11-27T23:30:00.000+0000"),
    (datetime(2026, 11, 28, 14, 39), "2026-11-28", "2026-11-28T14:39:00.000+0000"),  # naive is UTC
    (date(2026, 2, 3), "2026-02-03", "2026-02-03T00:00:00.000+0000"),
    ("2026-11-28T14:39:00Z", "2026-11-28", "2026-11-28T14:39:00.000+0000"),
    ("2026-11-28T14:39:00.999+05:30", "2026-11-28", "2026-11-28T09:09:00.999+0000"),
    ("2026-11-28", "2026-11-28", "2026-11-28T00:00:00.000+0000"),
    (datetime(999, 1, 2, 3, 4, 5), "0999-01-02", "0999-01-02T03:04:05.000+0000"),
]


@pytest.mark.parametrize(("value", "day", "moment"), DATES)
def test_dates(value: Any, day: str, moment: str) -> None:
    assert converted(convert(src("date"), value, SCHEMAS["datepicker"])) == day
    assert converted(convert(src("date"), value, SCHEMAS["datetime"])) == moment


NOT_DATES = [
    "yesterday",
    "28/11/2026",
    "2026-13-01",
    "0001-01-01T00:30:00+01:00",  # before year 1 in UTC
    "9999-12-31T23:30:00-01:00",  # after year 9999 in UTC
    1732800000,
    True,
    [CREATED],
    {},
]


@pytest.mark.parametrize("value", NOT_DATES)
@pytest.mark.parametrize("kind", ["datepicker", "datetime"])
def test_dates_refuse_non_dates(value: Any, kind: str) -> None:
    assert skipped(convert(src("date"), value, SCHEMAS[kind])) == "the value is not a date"


def test_date_in_a_text_field_is_iso() -> None:
    assert (
        converted(convert(src("date"), CREATED, SCHEMAS["textfield"])) == "2026-11-28T14:39:05.123456+00:00"
    )


LABELS = [
    (["checkout", "ios"], ["checkout", "ios"]),
    (["needs triage", "  a  b\tc\n", "ios"], ["needs-triage", "a-b-c", "ios"]),
    (["dup", "dup", "Dup"], ["dup", "Dup"]),
    (["", "  ", None, "ok"], ["ok"]),
    (["x" * 300], ["x" * 255]),
    ("single tag", ["single-tag"]),
    ([1, True, 2.5], ["1", "true", "2.5"]),
    (["nul\x00byte"], ["nulbyte"]),
    (["a b", "a-b"], ["a-b"]),
]


@pytest.mark.parametrize(("value", "expected"), LABELS)
def test_labels_sanitised(value: Any, expected: list[str]) -> None:
    assert converted(convert(TAGS, value, SCHEMAS["labels"])) == expected


@pytest.mark.parametrize("value", [None, [], ["", " "], {}, {"a": "b"}, [{}]])
def test_labels_empty(value: Any) -> None:
    assert skipped(convert(TAGS, value, SCHEMAS["labels"])) == "the report has no value for it"


def test_tags_in_system_labels_field() -> None:
    schema = {"type": "array", "items": "string", "system": "labels"}
    assert converted(convert(TAGS, ["needs triage"], schema)) == ["needs-triage"]


PRIORITY_MAP = {
    "major": "10112",
    "blocker": {"id": "10113"},
    "minor": {"value": "S3"},
    "trivial": {"nope": "x"},
}


@pytest.mark.parametrize("kind", ["select", "radiobuttons"])
def test_select_value_map_hit(kind: str) -> None:
    assert converted(convert(PRIORITY, "major", SCHEMAS[kind], PRIORITY_MAP)) == {"id": "10112"}
    assert converted(convert(PRIORITY, "blocker", SCHEMAS[kind], PRIORITY_MAP)) == {"id": "10113"}
    assert converted(convert(PRIORITY, "minor", SCHEMAS[kind], PRIORITY_MAP)) == {"value": "S3"}


@pytest.mark.parametrize("kind", ["select", "radiobuttons"])
def test_select_value_map_miss_is_skipped_and_said(kind: str) -> None:
    assert (
        skipped(convert(PRIORITY, "na", SCHEMAS[kind], PRIORITY_MAP)) == "no Jira option is chosen for “NA”"
    )
    assert skipped(convert(PRIORITY, "trivial", SCHEMAS[kind], PRIORITY_MAP)) == (
        "no Jira option is chosen for “Trivial”"
    )
    assert skipped(convert(PRIORITY, "major", SCHEMAS[kind])) == "no Jira option is chosen for “Major”"
    assert (
        skipped(convert(PRIORITY, "major", SCHEMAS[kind], {"major": ""}))
        == "no Jira option is chosen for “Major”"
    )
    assert skipped(convert(PRIORITY, "major", SCHEMAS[kind], ["not", "a", "map"])) == (  # type: ignore[arg-type]
        "no Jira option is chosen for “Major”"
    )
    assert skipped(convert(PRIORITY, None, SCHEMAS[kind], PRIORITY_MAP)) == "the report has no value for it"
    assert (
        skipped(convert(PRIORITY, ["major"], SCHEMAS[kind], PRIORITY_MAP)) == "the report has no value for it"
    )


@pytest.mark.parametrize("kind", ["multiselect", "multicheckboxes"])
def test_multiselect_maps_each_tag(kind: str) -> None:
    value_map = {"ios": "1", "android": {"value": "Android"}, "iphone": "1"}
    result = convert(TAGS, ["ios", "android", "web", "iphone"], SCHEMAS[kind], value_map)
    assert result == Converted([{"id": "1"}, {"value": "Android"}], ("no Jira option is chosen for “web”",))
    assert converted(convert(TAGS, ["ios"], SCHEMAS[kind], value_map)) == [{"id": "1"}]
    assert skipped(convert(TAGS, ["web", "desktop"], SCHEMAS[kind], value_map)) == (
        "no Jira option is chosen for “web”, “desktop”"
    )
    assert skipped(convert(TAGS, [], SCHEMAS[kind], value_map)) == "the report has no value for it"


@pytest.mark.parametrize("kind", ["userpicker", "multiuserpicker", "priority", "unsupported"])
def test_unmappable_targets_are_skipped_with_a_reason(kind: str) -> None:
    for source_kind in SOURCE_KINDS:
        assert skipped(convert(src(source_kind), "x", SCHEMAS[kind], {"x": "1"}))


def test_incompatible_pair_is_skipped_not_raised() -> None:
    assert skipped(convert(TAGS, ["a"], SCHEMAS["float"])) == "Tags cannot go to a number field"


HOSTILE = [
    None,
    "",
    "x" * 1_000_000,
    " " * 200_000 + "x",
    "\x00\x01\x7f",
    "\ud800",  # a lone surrogate
    b"bytes",
    -0.0,
    float("inf"),
    10**400,
    10**5000,  # str() of it raises in Python 3.11
    "😀" * 300,
    {"nested": {"deep": [1, 2, 3]}},
    [[["deep"]]],
    ["a"] * 10_000,
    object(),
    SimpleNamespace(text="x"),
    CREATED,
    True,
]


@pytest.mark.parametrize("value", HOSTILE, ids=lambda v: type(v).__name__)
def test_no_converter_raises(value: Any) -> None:
    for source_kind, kind in product(SOURCE_KINDS, TARGET_KINDS):
        result = convert(src(source_kind), value, SCHEMAS[kind], {"x": "1"})
        assert isinstance(result, Converted | Skip)
        if isinstance(result, Converted) and kind == "textfield":
            assert len(result.value) <= 255
        if isinstance(result, Converted) and kind == "float":
            assert math.isfinite(result.value)


@pytest.mark.parametrize("value", HOSTILE, ids=lambda v: type(v).__name__)
def test_converters_hold_without_the_safety_net(value: Any) -> None:
    # convert() catches what a converter raises; the converters must not need it.
    for source_kind, (kind, converter) in product(SOURCE_KINDS, CONVERTERS.items()):
        result = converter(value, src(source_kind), {"x": "1"})
        assert isinstance(result, Converted | Skip), kind


def test_huge_numbers_are_not_numbers() -> None:
    assert skipped(convert(src("number"), 10**400, SCHEMAS["float"])) == "the value is not a number"
    assert converted(convert(src("number"), 2**64, SCHEMAS["float"])) == 2**64


@pytest.mark.parametrize("schema", [None, {}, "x", 5, {"custom": object()}])
def test_convert_with_odd_schemas(schema: Any) -> None:
    assert skipped(convert(TITLE, "x", schema)) == "Bugbridge cannot fill fields of this type"


# ---------------------------------------------------------------------------------------------
# Required fields
# ---------------------------------------------------------------------------------------------


def meta(fid: str, *, required: bool, default: bool = False, kind: str = "textfield") -> dict[str, Any]:
    return jira_field(fid, kind, required=required, hasDefaultValue=default)


def test_missing_required() -> None:
    fields = [
        meta("project", required=True, kind="unsupported"),
        meta("issuetype", required=True, kind="unsupported"),
        meta("summary", required=True),
        meta("description", required=True, kind="textarea"),
        meta("reporter", required=True, kind="userpicker"),
        meta("priority", required=True, kind="priority"),  # no default: needs one
        meta("assignee", required=True, default=True, kind="userpicker"),  # Jira fills it
        meta("customfield_10055", required=True, kind="select"),  # mapped
        meta("customfield_10057", required=True, kind="radiobuttons"),  # fixed default
        meta("customfield_10052", required=True, kind="float"),  # default given but empty
        meta("customfield_10053", required=True, kind="datepicker"),  # nothing
        meta("customfield_10050", required=False),
        {"fieldId": "customfield_9", "required": "yes"},  # not a real `true`
    ]
    missing = missing_required(
        fields,
        ["customfield_10055"],
        {"customfield_10057": {"id": "10200"}, "customfield_10052": None, "customfield_10060": ["x"]},
    )
    assert [f["fieldId"] for f in missing] == ["priority", "customfield_10052", "customfield_10053"]
    assert missing_required(fields, [], {"priority": {"id": "3"}, "customfield_10052": 0})[0]["fieldId"] == (
        "customfield_10055"
    )


def test_always_set_is_what_the_issue_builder_sends() -> None:
    assert frozenset({"project", "issuetype", "summary", "description", "reporter"}) == ALWAYS_SET


def test_missing_required_empty() -> None:
    assert missing_required([], [], {}) == []
    assert missing_required([meta("customfield_1", required=True)], ["customfield_1"], {}) == []
    # Defaults given as "" or [] do not count.
    assert len(missing_required([meta("customfield_1", required=True)], [], {"customfield_1": ""})) == 1
    assert len(missing_required([meta("customfield_1", required=True)], [], {"customfield_1": []})) == 1


# ---------------------------------------------------------------------------------------------
# Mapping validation
# ---------------------------------------------------------------------------------------------

SEVERITY = jira_field(
    "customfield_10057",
    "radiobuttons",
    "Severity",
    allowedValues=[{"id": "10110", "value": "S1"}, {"id": "10111", "value": "S2"}],
)
APP_VERSION_FIELD = jira_field("customfield_10050", "textfield", "App version")
STEPS_FIELD = jira_field("customfield_10051", "textarea", "Steps to reproduce")
CRASH_COUNT = jira_field("customfield_10052", "float", "Crash count")
QA_OWNER = jira_field("customfield_10058", "userpicker", "QA owner")
SOURCE = by_key(sources_for(["plan"]))


def test_a_good_mapping_has_no_errors() -> None:
    rows = [
        MappingRow(SOURCE["app_version"], APP_VERSION_FIELD),
        MappingRow(SOURCE["reproduction_steps"], STEPS_FIELD),
        MappingRow(SOURCE["priority"], SEVERITY, {"major": "10110", "minor": {"value": "S2"}}),
        # One source may feed two fields.
        MappingRow(SOURCE["tags"], {"fieldId": "labels", "name": "Labels", "schema": {"system": "labels"}}),
        MappingRow(SOURCE["tags"], jira_field("customfield_10060", "labels")),
    ]
    assert validate_mapping(rows) == []
    assert validate_mapping([]) == []


def test_one_jira_field_takes_one_source() -> None:
    rows = [
        MappingRow(SOURCE["app_version"], APP_VERSION_FIELD),
        MappingRow(SOURCE["title"], STEPS_FIELD),
        MappingRow(SOURCE["os"], APP_VERSION_FIELD),
        MappingRow(SOURCE["device"], {**APP_VERSION_FIELD, "fieldId": None, "id": "customfield_10050"}),
    ]
    errors = validate_mapping(rows)
    assert [(e.row, e.field_id) for e in errors] == [(2, "customfield_10050"), (3, "customfield_10050")]
    # Both later rows name the row that holds the field first.
    assert "already takes “App version”" in errors[1].message
    assert errors[0].message == (
        "“App version” already takes “App version”. One Jira field takes one source: "
        "remove this row or choose another field."
    )


def test_row_problems_in_plain_words() -> None:
    rows = [
        MappingRow(SOURCE["tags"], CRASH_COUNT),
        MappingRow(SOURCE["reporter_email"], QA_OWNER),
        MappingRow(
            SOURCE["title"], {"fieldId": "summary", "name": "Summary", "schema": {"system": "summary"}}
        ),
        MappingRow(SOURCE["priority"], SEVERITY),
        MappingRow(SOURCE["priority"], {**SEVERITY, "fieldId": "customfield_2"}, {"major": "99999"}),
        MappingRow(SOURCE["priority"], {**SEVERITY, "fieldId": "customfield_3"}, {"major": {"x": "y"}}),
        MappingRow(SOURCE["title"], jira_field("customfield_4", "unsupported", "Cascade")),
        MappingRow(
            SOURCE["priority"], {"fieldId": "priority", "name": "Priority", "schema": {"system": "priority"}}
        ),
    ]
    messages = [(e.row, e.message) for e in validate_mapping(rows)]
    assert messages == [
        (0, "“Tags” is a list of tags and cannot go to “Crash count”, a number field. Choose another field."),
        (
            1,
            "“QA owner” cannot be mapped: it holds Jira users, "
            "and reports carry no Jira account to put there.",
        ),
        (2, "“Summary” cannot be mapped: Bugbridge fills the summary from the report title."),
        (3, "Choose which option of “Severity” each value of “Priority” becomes."),
        (4, "The option chosen for “Major” is not offered by “Severity” any more. Choose again."),
        (5, "The option chosen for “Major” is not offered by “Severity” any more. Choose again."),
        (6, "“Cascade” cannot be mapped: Bugbridge cannot fill fields of this type."),
        (7, "“Priority” cannot be mapped: Priority is set from the priority table on this page."),
    ]


def test_value_map_is_checked_only_when_jira_lists_the_options() -> None:
    # GET /field carries no allowedValues: any well-formed option passes.
    without_options = {k: v for k, v in SEVERITY.items() if k != "allowedValues"}
    assert validate_mapping([MappingRow(SOURCE["priority"], without_options, {"major": "99999"})]) == []
    by_value = MappingRow(SOURCE["priority"], SEVERITY, {"major": {"value": "S1"}})
    assert validate_mapping([by_value]) == []


# ---------------------------------------------------------------------------------------------
# Fixed values for required fields
# ---------------------------------------------------------------------------------------------

OPTIONS = [{"id": "10200", "value": "Production"}, {"id": "10201", "value": "Staging"}]
TOO_LONG = "x" * 300

# Per target kind: the input the wizard shows, a raw value and the JSON it gives, and a raw value
# that is refused with the words it is refused with. People, priority and unsupported take none.
FIXED: dict[str, tuple[str, Any, Any, Any, str]] = {
    "textfield": ("text", "  Checkout\nteam  ", "Checkout team", {"a": 1}, "enter a value"),
    "textarea": ("textarea", "It **fails**", text_to_adf("It **fails**"), "   ", "enter a value"),
    "url": (
        "url",
        "https://status.example.com",
        "https://status.example.com",
        "ftp://x.io",
        "the value is not an http or https link",
    ),
    "float": ("number", "2.5", 2.5, "two", "the value is not a number"),
    "datepicker": ("date", "2026-11-29", "2026-11-29", "29/11/2026", "the value is not a date"),
    "datetime": (
        "datetime-local",
        "2026-11-29T10:30",
        "2026-11-29T10:30:00.000+0000",
        "soon",
        "the value is not a date",
    ),
    "labels": (
        "text",
        "mobile app, checkout,, mobile app",
        ["mobile-app", "checkout"],
        " , ",
        "enter a value",
    ),
    "select": (
        "select",
        "10201",
        {"id": "10201"},
        "99999",
        "the field does not offer that option any more: choose again",
    ),
    "radiobuttons": ("select", "10200", {"id": "10200"}, ["10200"], "choose an option"),
    "multiselect": (
        "multiselect",
        ["10201", "10200", "10201"],
        [{"id": "10201"}, {"id": "10200"}],
        ["10200", "1"],
        "the field does not offer that option any more: choose again",
    ),
    "multicheckboxes": ("multiselect", "10200", [{"id": "10200"}], [], "choose an option"),
    "userpicker": ("none", None, None, "5b10ac8d82e05b22cc7d4ef5", UNMAPPABLE["userpicker"]),
    "multiuserpicker": ("none", None, None, ["5b10ac8d82e05b22cc7d4ef5"], UNMAPPABLE["multiuserpicker"]),
    "priority": ("none", None, None, "3", UNMAPPABLE["priority"]),
    "unsupported": ("none", None, None, "x", UNMAPPABLE["unsupported"]),
}


def fixed_field(kind: str, **extra: Any) -> dict[str, Any]:
    return jira_field("customfield_10100", kind, "Environment", required=True, allowedValues=OPTIONS, **extra)


def test_the_fixed_table_covers_every_target_kind() -> None:
    assert set(FIXED) == set(TARGET_KINDS)


@pytest.mark.parametrize("kind", TARGET_KINDS)
def test_fixed_value_by_kind(kind: str) -> None:
    html_input, good, expected, bad, reason = FIXED[kind]
    jf = fixed_field(kind)
    assert fixed_input(jf) == html_input
    if html_input != "none":
        assert fixed_value(jf, good) == Converted(expected)
    assert fixed_value(jf, bad) == Skip(reason)


@pytest.mark.parametrize("kind", TARGET_KINDS)
@pytest.mark.parametrize("raw", [None, "", "   ", [], ["", "  "], {}])
def test_an_empty_fixed_value_is_refused_in_words(kind: str, raw: Any) -> None:
    html_input = FIXED[kind][0]
    expected = {"select": "choose an option", "multiselect": "choose an option", "none": UNMAPPABLE.get(kind)}
    assert skipped(fixed_value(fixed_field(kind), raw)) == expected.get(html_input, "enter a value")


def test_fixed_input_for_system_fields_and_odd_schemas() -> None:
    def system(name: str) -> dict[str, Any]:
        return {"fieldId": name, "schema": {"type": "x", "system": name}}

    assert fixed_input(system("description")) == "textarea"
    assert fixed_input(system("environment")) == "textarea"
    assert fixed_input(system("duedate")) == "date"
    assert fixed_input(system("labels")) == "text"
    assert fixed_input(system("assignee")) == "none"
    assert fixed_input(system("components")) == "none"
    for schema in (None, {}, "textfield", {"custom": "com.vendor:textfield"}):
        assert fixed_input({"fieldId": "customfield_1", "schema": schema}) == "none"
    assert fixed_input({}) == "none"


def test_a_fixed_datetime_is_read_as_utc() -> None:
    jf = fixed_field("datetime")
    assert converted(fixed_value(jf, "2026-11-29T23:59")) == "2026-11-29T23:59:00.000+0000"
    assert converted(fixed_value(jf, "2026-11-29T10:30:15")) == "2026-11-29T10:30:15.000+0000"
    # An explicit offset still counts, and a bare date is midnight UTC.
    assert converted(fixed_value(jf, "2026-11-29T10:30+01:00")) == "2026-11-29T09:30:00.000+0000"
    assert converted(fixed_value(jf, "2026-11-29")) == "2026-11-29T00:00:00.000+0000"
    assert converted(fixed_value(fixed_field("datepicker"), "2026-11-29T23:30")) == "2026-11-29"


def test_fixed_labels_from_a_string_or_a_list() -> None:
    jf = {"fieldId": "labels", "schema": {"type": "array", "items": "string", "system": "labels"}}
    assert converted(fixed_value(jf, "from bugbridge")) == ["from-bugbridge"]
    assert converted(fixed_value(jf, ["a b", "c", "a b", ""])) == ["a-b", "c"]
    assert converted(fixed_value(jf, "a,b , c")) == ["a", "b", "c"]


def test_fixed_text_is_held_to_the_converters_rules() -> None:
    result = fixed_value(fixed_field("textfield"), TOO_LONG)
    assert isinstance(result, Converted) and len(result.value) == 255 and result.value.endswith("…")
    assert result.notes == ("shortened to 255 characters",)
    assert converted(fixed_value(fixed_field("float"), 7)) == 7
    assert skipped(fixed_value(fixed_field("float"), True)) == "the value is not a number"
    assert skipped(fixed_value(fixed_field("url"), "https://x.io/" + TOO_LONG)) == (
        "the link is longer than 255 characters"
    )


def test_fixed_options_are_checked_only_when_jira_lists_them() -> None:
    for kind in ("select", "radiobuttons"):
        listed = fixed_field(kind)
        assert (
            skipped(fixed_value(listed, "10202"))
            == "the field does not offer that option any more: choose again"
        )
        # Option values are names, not ids: a name is not accepted as an id.
        assert skipped(fixed_value(listed, "Production")) == (
            "the field does not offer that option any more: choose again"
        )
        assert converted(fixed_value(listed, " 10200 ")) == {"id": "10200"}
        unlisted = {k: v for k, v in listed.items() if k != "allowedValues"}
        assert converted(fixed_value(unlisted, "77")) == {"id": "77"}
        assert skipped(fixed_value(listed, 10200)) == "choose an option"
    multi = fixed_field("multiselect")
    assert skipped(fixed_value(multi, ["10200", "10202"])) == (
        "the field does not offer that option any more: choose again"
    )
    assert converted(fixed_value(multi, ("10201", " ", None))) == [{"id": "10201"}]
    assert converted(fixed_value({**multi, "allowedValues": "odd"}, ["5"])) == [{"id": "5"}]


@pytest.mark.parametrize("value", HOSTILE, ids=lambda v: type(v).__name__)
@pytest.mark.parametrize("kind", TARGET_KINDS)
def test_fixed_value_never_raises(value: Any, kind: str) -> None:
    result = fixed_value(fixed_field(kind), value)
    assert isinstance(result, Converted | Skip)
    if isinstance(result, Skip):
        assert result.reason


def test_fixed_value_with_an_odd_field() -> None:
    assert fixed_value({}, "x") == Skip(UNMAPPABLE["unsupported"])
    assert fixed_value(
        {"schema": {"custom": CF + "select"}, "allowedValues": [None, {"id": 5}]}, "5"
    ) == Skip("the field does not offer that option any more: choose again")
