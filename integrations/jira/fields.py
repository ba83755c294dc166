"""Field mapping: which report values may go to which Jira fields, and the JSON each field takes.

Four tables carry the variation, each in one place:

- `SOURCES` (plus one source per user-attribute key): what a report can send, with a kind.
- `CUSTOM_KINDS` / `SYSTEM_KINDS`: a Jira field's `schema` → a target kind (API-NOTES §4.1, §4.2).
- `RULES`: source kind → the target kinds it may go to. The wizard offers only those fields.
- `CONVERTERS`: target kind → the function producing the exact create/edit value (API-NOTES §3.1).

Decisions (the why):

- Long text may go to a single-line text field, cut to 255 characters with "…": admins often
  have only a textfield for "Steps" and a shortened copy beats no copy; the note says so.
- Plain text never goes to a URL field (it is rarely a URL, and Jira rejects the issue when it is
  not); url sources do, and a value that is not http(s) is skipped rather than sent.
- Options (select, radio buttons, multi-select, checkboxes) always go through a value map that
  an admin fills: option names are localised and renamed, so nothing is matched by name.
- People fields (user pickers) and the system priority field are never mapped: reports carry no
  Jira account, and priority has its own table in the wizard.
- Bugbridge sets project, issue type, summary (title) and description itself, and Jira makes the
  calling account the reporter when none is sent: those never count as missing required fields.
  Priority and assignee are chosen elsewhere in the wizard but may end up unset ("unassigned",
  custom priorities whose names do not match), so a required one still needs a default.

Pure: no Django, no models, no I/O. A report is any object (or mapping) with BugReport's names.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import singledispatch
from typing import Any
from urllib.parse import urlsplit

from .adf import text_to_adf

# --- kinds ----------------------------------------------------------------------------------------

SOURCE_KINDS = ("text", "long_text", "email", "url", "number", "date", "tags", "choice")
TARGET_KINDS = (
    "textfield",
    "textarea",
    "url",
    "float",
    "datepicker",
    "datetime",
    "labels",
    "select",
    "radiobuttons",
    "multiselect",
    "multicheckboxes",
    "userpicker",
    "multiuserpicker",
    "priority",
    "unsupported",
)

# THE RULES TABLE: the only place that says what may go where.
RULES: dict[str, frozenset[str]] = {
    "text": frozenset({"textfield", "textarea"}),
    "long_text": frozenset({"textarea", "textfield"}),
    "email": frozenset({"textfield", "textarea"}),
    "url": frozenset({"url", "textfield", "textarea"}),
    "number": frozenset({"float", "textfield", "textarea"}),
    "date": frozenset({"datepicker", "datetime", "textfield", "textarea"}),
    "tags": frozenset({"labels", "multiselect", "multicheckboxes", "textfield", "textarea"}),
    "choice": frozenset({"select", "radiobuttons", "textfield", "textarea"}),
}

# Target kinds whose values are Jira options, chosen per value by the admin.
NEEDS_VALUE_MAP = frozenset({"select", "radiobuttons", "multiselect", "multicheckboxes"})

CUSTOM_PREFIX = "com.atlassian.jira.plugin.system.customfieldtypes:"
# `schema.custom` suffix → target kind. Everything else (cascadingselect, grouppicker, version,
# project, readonlyfield, other vendors' types) is "unsupported".
CUSTOM_KINDS: dict[str, str] = {
    "textfield": "textfield",
    "textarea": "textarea",
    "url": "url",
    "float": "float",
    "datepicker": "datepicker",
    "datetime": "datetime",
    "labels": "labels",
    "select": "select",
    "radiobuttons": "radiobuttons",
    "multiselect": "multiselect",
    "multicheckboxes": "multicheckboxes",
    "userpicker": "userpicker",
    "multiuserpicker": "multiuserpicker",
}
# `schema.system` → target kind; description and environment are ADF in v3, like a textarea.
SYSTEM_KINDS: dict[str, str] = {
    "summary": "textfield",
    "description": "textarea",
    "environment": "textarea",
    "labels": "labels",
    "duedate": "datepicker",
    "priority": "priority",
    "assignee": "userpicker",
    "reporter": "userpicker",
}

# Fields the wizard fills elsewhere: never offered as a mapping target. Value: why, for the row.
RESERVED_FIELDS: dict[str, str] = {
    "project": "The project is chosen above.",
    "issuetype": "The issue type is chosen above.",
    "summary": "Bugbridge fills the summary from the report title.",
    "description": "Bugbridge fills the description from the report.",
    "priority": "Priority is set from the priority table on this page.",
    "assignee": "The assignee is chosen above.",
    "reporter": "Jira makes the connected account the reporter.",
}
# Required fields that are set on every create (or by Jira itself), so never "missing".
ALWAYS_SET = frozenset({"project", "issuetype", "summary", "description", "reporter"})

# Words for the wizard's messages.
SOURCE_KIND_WORDS: dict[str, str] = {
    "text": "text",
    "long_text": "long text",
    "email": "an email address",
    "url": "a link",
    "number": "a number",
    "date": "a date",
    "tags": "a list of tags",
    "choice": "a choice",
}
TARGET_KIND_WORDS: dict[str, str] = {
    "textfield": "a single-line text field",
    "textarea": "a paragraph field",
    "url": "a URL field",
    "float": "a number field",
    "datepicker": "a date field",
    "datetime": "a date-time field",
    "labels": "a labels field",
    "select": "a single-choice field",
    "radiobuttons": "a radio-button field",
    "multiselect": "a multi-choice field",
    "multicheckboxes": "a checkbox field",
    "userpicker": "a people field",
    "multiuserpicker": "a people field",
    "priority": "the priority field",
    "unsupported": "a field type Bugbridge cannot fill",
}
# Target kinds no source may use, and why (shown instead of a plain "incompatible").
UNMAPPABLE: dict[str, str] = {
    "userpicker": "it holds Jira users, and reports carry no Jira account to put there",
    "multiuserpicker": "it holds Jira users, and reports carry no Jira account to put there",
    "priority": "priority is set from the priority table on this page",
    "unsupported": "Bugbridge cannot fill fields of this type",
}

TEXTFIELD_MAX = 255  # Jira's single-line text limit
TEXTAREA_MAX = 32_767  # Jira's limit for paragraph fields and the description
LABEL_MAX = 255
URL_MAX = 255  # the URL field is stored like a single-line text
ELLIPSIS = "…"
USER_ATTRIBUTE_PREFIX = "user_attribute:"

# Our priority values and their labels (bugs.models.Priority; a test keeps the two in step).
PRIORITY_CHOICES: dict[str, str] = {
    "na": "NA",
    "trivial": "Trivial",
    "minor": "Minor",
    "major": "Major",
    "blocker": "Blocker",
}

JsonValue = Any
OptionRef = str | Mapping[str, str]  # an option id, or {"id": …} / {"value": …}


# --- sources --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportContext:
    """What reading a report needs beyond the report: the dashboard URL is site URL + path,
    which only the Django layer can build (`SITE_URL + reverse("report_detail", …)`)."""

    report_url: Callable[[Any], str] | None = None


Reader = Callable[[Any, ReportContext], Any]


@dataclass(frozen=True)
class Source:
    """A value a report can send to Jira: key (stored in the mapping), UI label, kind, reader."""

    key: str
    label: str
    kind: str
    read: Reader = field(compare=False, repr=False)
    # Our value → its label, for choice sources (a choice written into a text field).
    choices: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    def value(self, report: Any, context: ReportContext | None = None) -> Any:
        return self.read(report, context or ReportContext())


def _get(report: Any, name: str) -> Any:
    if isinstance(report, Mapping):
        return report.get(name)
    return getattr(report, name, None)


def _attr(name: str) -> Reader:
    return lambda report, context: _get(report, name)


def _joined(*names: str, template: str = "{} {}") -> Reader:
    """Two report fields in one value; either may be blank."""

    def read(report: Any, context: ReportContext) -> str:
        first, second = (as_text(_get(report, name)).strip() for name in names)
        return template.format(first, second) if first and second else first or second

    return read


def _steps(report: Any, context: ReportContext) -> str:
    steps = _get(report, "reproduction_steps")
    items = steps if isinstance(steps, list | tuple) else [steps]
    lines = [text for text in (as_text(step).strip() for step in items) if text]
    # Numbered lines: text_to_adf turns them into an ordered list in a paragraph field.
    return "\n".join(f"{number}. {line}" for number, line in enumerate(lines, 1))


def _tags(report: Any, context: ReportContext) -> list[str]:
    tags = _get(report, "tags")
    items = tags if isinstance(tags, list | tuple) else [tags]
    return [text for text in (as_text(tag).strip() for tag in items) if text]


def _dashboard_url(report: Any, context: ReportContext) -> str | None:
    return context.report_url(report) if context.report_url else None


def _user_attribute(key: str) -> Reader:
    def read(report: Any, context: ReportContext) -> Any:
        attributes = _get(report, "user_attributes")
        return attributes.get(key) if isinstance(attributes, Mapping) else None

    return read


SOURCES: tuple[Source, ...] = (
    Source("title", "Title", "text", _attr("title")),
    Source("description", "Description", "long_text", _attr("description")),
    Source("reproduction_steps", "Reproduction steps", "long_text", _steps),
    Source("reporter_email", "Reporter email", "email", _attr("reporter_email")),
    Source("reporter_name", "Reporter name", "text", _attr("reporter_name")),
    Source("app_version", "App version", "text", _joined("app_version", "app_build", template="{} ({})")),
    Source("os", "OS", "text", _joined("os_name", "os_version")),
    Source("device", "Device", "text", _attr("device_model")),
    Source("current_view", "Current view", "text", _attr("current_view")),
    Source("locale", "Locale", "text", _attr("locale")),
    Source("tags", "Tags", "tags", _tags),
    Source("priority", "Priority", "choice", _attr("priority"), choices=PRIORITY_CHOICES),
    Source("created_at", "Reported at", "date", _attr("created_at")),
    Source("dashboard_url", "Dashboard link", "url", _dashboard_url),
)


def user_attribute_source(key: str, kind: str = "text") -> Source:
    """The source for one user-attribute key. The key follows the prefix as it is (no escaping
    needed): `attribute_key` splits on the prefix only, so ":" or spaces in a key round-trip."""
    return Source(USER_ATTRIBUTE_PREFIX + key, f"User attribute: {key}", kind, _user_attribute(key))


def attribute_key(source_key: str) -> str | None:
    """The user-attribute key inside a source key, or None for a built-in source."""
    if source_key.startswith(USER_ATTRIBUTE_PREFIX):
        return source_key[len(USER_ATTRIBUTE_PREFIX) :]
    return None


def attribute_kind(values: Iterable[object]) -> str:
    """The kind for a user attribute from values seen in reports: number or url when every
    value is one, else text (a mix would make the narrower kind fail on some reports)."""
    seen = list(values)
    if seen and all(_finite_number(value) is not None for value in seen):
        return "number"
    if seen and all(_http_url(value) is not None for value in seen):
        return "url"
    return "text"


def sources_for(
    user_attribute_keys: Iterable[object], *, user_attribute_kinds: Mapping[str, str] | None = None
) -> list[Source]:
    """Every source of an app: the built-in ones, then one per user-attribute key (sorted,
    deduplicated; blank and non-string keys dropped, since no label could show them)."""
    kinds = user_attribute_kinds or {}
    keys = sorted({key for key in user_attribute_keys if isinstance(key, str) and key.strip()})
    extra = [user_attribute_source(key, _known_kind(kinds.get(key))) for key in keys]
    return [*SOURCES, *extra]


def _known_kind(kind: object) -> str:
    return kind if isinstance(kind, str) and kind in RULES else "text"


def source_by_key(key: str, *, user_attribute_kind: str = "text") -> Source | None:
    """A stored mapping's source key → its Source (a user attribute need not have been seen lately)."""
    name = attribute_key(key)
    if name is not None:
        return user_attribute_source(name, _known_kind(user_attribute_kind)) if name.strip() else None
    return next((source for source in SOURCES if source.key == key), None)


# --- target kinds ---------------------------------------------------------------------------------


def target_kind(schema: object) -> str:
    """A Jira field's `schema` → one of TARGET_KINDS. `custom` decides for custom fields (trust it
    over `type`, API-NOTES §4.2), `system` for system fields, anything else is unsupported."""
    if not isinstance(schema, Mapping):
        return "unsupported"
    custom = schema.get("custom")
    if isinstance(custom, str):
        # Other vendors' types (Jira Software's sprint, Marketplace apps) are not ours to fill.
        if not custom.startswith(CUSTOM_PREFIX):
            return "unsupported"
        return CUSTOM_KINDS.get(custom.removeprefix(CUSTOM_PREFIX), "unsupported")
    system = schema.get("system")
    return SYSTEM_KINDS.get(system, "unsupported") if isinstance(system, str) else "unsupported"


def field_id(jira_field: Mapping[str, Any]) -> str:
    """createmeta says `fieldId`, GET /field says `id`."""
    for name in ("fieldId", "id", "key"):
        value = jira_field.get(name)
        if isinstance(value, str) and value:
            return value
    return ""


def field_name(jira_field: Mapping[str, Any]) -> str:
    name = jira_field.get("name")
    return name if isinstance(name, str) and name else field_id(jira_field)


def compatible(source: Source, field_schema: object) -> bool:
    return target_kind(field_schema) in RULES.get(source.kind, frozenset())


def targets_for(source: Source, fields: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The Jira fields this source may be mapped to, in Jira's order (reserved fields left out)."""
    return [
        jira_field
        for jira_field in fields
        if field_id(jira_field) not in RESERVED_FIELDS and compatible(source, jira_field.get("schema"))
    ]


# --- value helpers --------------------------------------------------------------------------------

# Control characters are invisible; lone surrogates cannot be encoded for Jira at all.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
# Beyond a double's range an int is no number Jira can hold (and str() of one may refuse).
_INT_BITS = 1023
_WHITESPACE = re.compile(r"\s+")


@singledispatch
def as_text(value: object) -> str:
    """Any report value as text; structures we do not expect (dicts, objects) give nothing
    rather than a Python repr in someone's Jira issue."""
    return ""


@as_text.register
def _(value: str) -> str:
    return _CONTROL.sub("", value)


@as_text.register
def _(value: bool) -> str:
    return "true" if value else "false"


@as_text.register
def _(value: int) -> str:
    return str(value) if value.bit_length() <= _INT_BITS else ""


@as_text.register
def _(value: float) -> str:
    return str(value) if math.isfinite(value) else ""


@as_text.register
def _(value: datetime) -> str:
    return value.isoformat()


@as_text.register
def _(value: date) -> str:
    return value.isoformat()


@as_text.register(list)
@as_text.register(tuple)
def _(value: Sequence[object]) -> str:
    return ", ".join(text for text in (as_text(item).strip() for item in value) if text)


def _source_text(value: object, source: Source) -> str:
    # A choice shows its label ("Major"), not its stored value ("major").
    if isinstance(value, str) and value in source.choices:
        return source.choices[value]
    return as_text(value)


def _cut(text: str, limit: int) -> str:
    """At most `limit` Jira characters, ending in "…" when shortened. Jira counts Java chars
    (UTF-16 units), so an emoji counts twice."""
    if len(text.encode("utf-16-le")) // 2 <= limit:
        return text
    budget, units = limit - len(ELLIPSIS), 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > budget:
            return text[:index].rstrip() + ELLIPSIS
    return text


def _finite_number(value: object) -> float | int | None:
    if isinstance(value, bool):  # True is an int to Python, not a number to anyone else
        return None
    if isinstance(value, int):
        return value if value.bit_length() <= _INT_BITS else None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _http_url(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    url = value.strip()
    # Any whitespace or control character inside means the URL a browser sees may differ.
    if not url or re.search(r"[\s\x00-\x1f\x7f\ud800-\udfff]", url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme.lower() in ("http", "https") and parts.hostname else None


def _moment(value: object) -> datetime | None:
    """A report date (datetime, date or ISO string) in UTC; naive means UTC already."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, tzinfo=UTC)
    if not isinstance(value, datetime):
        return None
    try:
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    except OverflowError:  # year 1 or 9999 pushed past the calendar by its offset
        return None


def _option(ref: object) -> dict[str, str] | None:
    """A value-map entry → Jira's option object; ids are preferred (names are localised)."""
    if isinstance(ref, str):
        return {"id": ref} if ref.strip() else None
    if isinstance(ref, Mapping):
        for name in ("id", "value"):
            if isinstance(ref.get(name), str) and ref[name].strip():
                return {name: ref[name]}
    return None


# --- converters -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Converted:
    """The JSON for the field, and notes on what was changed or dropped (for the test step)."""

    value: JsonValue
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Skip:
    """Nothing is sent for this field; `reason` says why, in plain words."""

    reason: str


Result = Converted | Skip
Converter = Callable[[object, Source, Mapping[str, OptionRef] | None], Result]

EMPTY = "the report has no value for it"


def _to_textfield(value: object, source: Source, value_map: Mapping[str, OptionRef] | None) -> Result:
    # Single line: line breaks become spaces rather than vanishing into one run-on word.
    text = " ".join(line.strip() for line in _source_text(value, source).splitlines() if line.strip())
    if not text:
        return Skip(EMPTY)
    cut = _cut(text, TEXTFIELD_MAX)
    notes = (f"shortened to {TEXTFIELD_MAX} characters",) if cut != text else ()
    return Converted(cut, notes)


def _to_textarea(value: object, source: Source, value_map: Mapping[str, OptionRef] | None) -> Result:
    text = _source_text(value, source).strip()
    if not text:
        return Skip(EMPTY)
    cut = _cut(text, TEXTAREA_MAX)
    notes = (f"shortened to {TEXTAREA_MAX} characters",) if cut != text else ()
    return Converted(text_to_adf(cut), notes)


def _to_url(value: object, source: Source, value_map: Mapping[str, OptionRef] | None) -> Result:
    if value is None or (isinstance(value, str) and not value.strip()):
        return Skip(EMPTY)
    url = _http_url(value)
    if url is None:
        return Skip("the value is not an http or https link")
    if len(url) > URL_MAX:  # a shortened URL would lead somewhere else
        return Skip(f"the link is longer than {URL_MAX} characters")
    return Converted(url)


def _to_float(value: object, source: Source, value_map: Mapping[str, OptionRef] | None) -> Result:
    if value is None or value == "":
        return Skip(EMPTY)
    number = _finite_number(value)
    return Skip("the value is not a number") if number is None else Converted(number)


def _to_datepicker(value: object, source: Source, value_map: Mapping[str, OptionRef] | None) -> Result:
    if value is None or value == "":
        return Skip(EMPTY)
    moment = _moment(value)
    # The calendar day in UTC, as stored; Jira wants YYYY-MM-DD, never a locale format.
    return Skip("the value is not a date") if moment is None else Converted(moment.date().isoformat())


def _to_datetime(value: object, source: Source, value_map: Mapping[str, OptionRef] | None) -> Result:
    if value is None or value == "":
        return Skip(EMPTY)
    moment = _moment(value)
    if moment is None:
        return Skip("the value is not a date")
    # Jira's own form: milliseconds and a colon-less offset, "2026-11-28T14:39:00.000+0000".
    # isoformat, not strftime: %Y does not pad years before 1000 on glibc.
    return Converted(moment.replace(tzinfo=None).isoformat(timespec="milliseconds") + "+0000")


def _items(value: object) -> list[str]:
    items = value if isinstance(value, list | tuple) else [value]
    return [text for text in (as_text(item).strip() for item in items if item is not None) if text]


def _to_labels(value: object, source: Source, value_map: Mapping[str, OptionRef] | None) -> Result:
    labels: list[str] = []
    for item in _items(value):
        # Jira labels cannot contain spaces.
        label = _WHITESPACE.sub("-", item)[:LABEL_MAX]
        if label not in labels:
            labels.append(label)
    return Converted(labels) if labels else Skip(EMPTY)


def _mapped_options(
    items: list[str], source: Source, value_map: Mapping[str, OptionRef] | None
) -> tuple[list[dict[str, str]], list[str]]:
    """Options for the values the map knows, and the labels of those it does not."""
    options: list[dict[str, str]] = []
    unmapped: list[str] = []
    lookup = value_map if isinstance(value_map, Mapping) else {}
    for item in items:
        option = _option(lookup.get(item))
        if option is None:
            unmapped.append(source.choices.get(item, item))
        elif option not in options:
            options.append(option)
    return options, unmapped


def _no_option(labels: list[str]) -> str:
    return "no Jira option is chosen for " + ", ".join(f"“{label}”" for label in labels)


def _to_option(value: object, source: Source, value_map: Mapping[str, OptionRef] | None) -> Result:
    text = as_text(value).strip() if not isinstance(value, list | tuple) else ""
    if not text:
        return Skip(EMPTY)
    options, unmapped = _mapped_options([text], source, value_map)
    return Converted(options[0]) if options else Skip(_no_option(unmapped))


def _to_options(value: object, source: Source, value_map: Mapping[str, OptionRef] | None) -> Result:
    items = _items(value)
    if not items:
        return Skip(EMPTY)
    options, unmapped = _mapped_options(items, source, value_map)
    if not options:
        return Skip(_no_option(unmapped))
    return Converted(options, (_no_option(unmapped),) if unmapped else ())


# Target kind → converter. Kinds missing here (people, priority, unsupported) are never filled.
CONVERTERS: dict[str, Converter] = {
    "textfield": _to_textfield,
    "textarea": _to_textarea,
    "url": _to_url,
    "float": _to_float,
    "datepicker": _to_datepicker,
    "datetime": _to_datetime,
    "labels": _to_labels,
    "select": _to_option,
    "radiobuttons": _to_option,
    "multiselect": _to_options,
    "multicheckboxes": _to_options,
}


def convert(
    source: Source, value: object, field_schema: object, value_map: Mapping[str, OptionRef] | None = None
) -> Result:
    """A report value → the JSON Jira's create/edit API takes for this field, or Skip(reason).

    Never raises: reports come from devices we do not control, and one odd value must cost one
    field, not the whole issue.
    """
    kind = target_kind(field_schema)
    if kind in UNMAPPABLE:
        return Skip(UNMAPPABLE[kind])
    if kind not in RULES.get(source.kind, frozenset()):
        return Skip(f"{source.label} cannot go to {TARGET_KIND_WORDS[kind]}")
    try:
        return CONVERTERS[kind](value, source, value_map)
    except Exception:  # a bug in a converter must still not fail the create; the tests hunt it
        return Skip("the value could not be converted")


# --- required fields and mapping checks -----------------------------------------------------------


def _given(value: object) -> bool:
    return value is not None and value != "" and value != [] and value != {}


def missing_required(
    fields: Iterable[Mapping[str, Any]], mapped_field_ids: Iterable[str], defaults: Mapping[str, Any]
) -> list[Mapping[str, Any]]:
    """Createmeta fields that the create screen requires, that Jira has no default for, and that
    neither a mapping nor a fixed default fills (ALWAYS_SET excepted), in Jira's order.

    A mapped field still counts as filled when a report lacks the value: the test step shows it.
    """
    filled = ALWAYS_SET | set(mapped_field_ids) | {key for key, value in defaults.items() if _given(value)}
    return [
        jira_field
        for jira_field in fields
        if jira_field.get("required") is True
        and not jira_field.get("hasDefaultValue")
        and field_id(jira_field) not in filled
    ]


@dataclass(frozen=True)
class MappingRow:
    """One row of the wizard: a source, the Jira field (createmeta dict), and for option fields
    our value → the Jira option (an id, or {"id": …} / {"value": …})."""

    source: Source
    field: Mapping[str, Any]
    value_map: Mapping[str, OptionRef] | None = None


@dataclass(frozen=True)
class MappingError:
    row: int  # index in the rows given, so the wizard shows the message on that row
    field_id: str
    message: str


def _allowed_options(jira_field: Mapping[str, Any]) -> list[dict[str, str]] | None:
    allowed = jira_field.get("allowedValues")
    if not isinstance(allowed, list):
        return None  # GET /field gives no options: nothing to check against
    options: list[dict[str, str]] = []
    for entry in allowed:
        if isinstance(entry, Mapping):
            options += [{name: entry[name]} for name in ("id", "value") if isinstance(entry.get(name), str)]
    return options


def _row_problem(row: MappingRow) -> str | None:
    """What is wrong with one row on its own, in words, or None."""
    fid, name, source = field_id(row.field), field_name(row.field), row.source
    kind = target_kind(row.field.get("schema"))
    if fid in RESERVED_FIELDS:
        return f"“{name}” cannot be mapped: {RESERVED_FIELDS[fid]}"
    if kind in UNMAPPABLE:
        return f"“{name}” cannot be mapped: {UNMAPPABLE[kind]}."
    if not compatible(source, row.field.get("schema")):
        return (
            f"“{source.label}” is {SOURCE_KIND_WORDS.get(source.kind, 'a value')} and cannot go to "
            f"“{name}”, {TARGET_KIND_WORDS[kind]}. Choose another field."
        )
    if kind in NEEDS_VALUE_MAP:
        return _value_map_problem(row, name)
    return None


def _value_map_problem(row: MappingRow, name: str) -> str | None:
    value_map = row.value_map if isinstance(row.value_map, Mapping) else {}
    if not value_map:
        return f"Choose which option of “{name}” each value of “{row.source.label}” becomes."
    allowed = _allowed_options(row.field)
    for ours, ref in value_map.items():
        option = _option(ref)
        if option is None or (allowed is not None and option not in allowed):
            label = row.source.choices.get(ours, ours)
            return f"The option chosen for “{label}” is not offered by “{name}” any more. Choose again."
    return None


def validate_mapping(mappings: Sequence[MappingRow]) -> list[MappingError]:
    """Every problem of the wizard's rows: one Jira field taking two sources, a field that cannot
    take its source, a reserved or people field, an option field without a usable value map."""
    errors: list[MappingError] = []
    first_row: dict[str, int] = {}
    for index, row in enumerate(mappings):
        fid = field_id(row.field)
        if fid in first_row:
            earlier = mappings[first_row[fid]].source.label
            message = (
                f"“{field_name(row.field)}” already takes “{earlier}”. One Jira field takes one source: "
                "remove this row or choose another field."
            )
            errors.append(MappingError(index, fid, message))
            continue
        first_row[fid] = index
        problem = _row_problem(row)
        if problem:
            errors.append(MappingError(index, fid, problem))
    return errors


# --- fixed values ---------------------------------------------------------------------------------
#
# A field the create screen requires, that no report value fills, can be given one value for every
# issue. The wizard posts what the admin typed or picked; these turn it into the field's create
# JSON. The free-form kinds reuse the converters through a synthetic source, so a fixed value is
# held to exactly the rules a report value is.

# Target kind → the source kind a typed value is read as.
FIXED_SOURCE_KINDS: dict[str, str] = {
    "textfield": "text",
    "textarea": "long_text",
    "url": "url",
    "float": "number",
    "datepicker": "date",
    "datetime": "date",  # a datetime-local value has no offset: _moment reads it as UTC
    "labels": "tags",
}
# Target kind → the HTML input the wizard shows; kinds missing here take no fixed value.
FIXED_INPUTS: dict[str, str] = {
    "textfield": "text",
    "textarea": "textarea",
    "url": "url",
    "float": "number",
    "datepicker": "date",
    "datetime": "datetime-local",
    "labels": "text",  # comma-separated
    "select": "select",
    "radiobuttons": "select",
    "multiselect": "multiselect",
    "multicheckboxes": "multiselect",
}
ENTER_A_VALUE = "enter a value"
CHOOSE_AN_OPTION = "choose an option"
OPTION_GONE = "the field does not offer that option any more: choose again"


def fixed_input(jira_field: Mapping[str, Any]) -> str:
    """The HTML input kind for a fixed value of this field, or "none" when it cannot take one."""
    return FIXED_INPUTS.get(target_kind(jira_field.get("schema")), "none")


def _fixed_ids(raw: object) -> list[str]:
    items = raw if isinstance(raw, list | tuple) else [raw]
    ids: list[str] = []
    for item in items:
        text = item.strip() if isinstance(item, str) else ""
        if text and text not in ids:
            ids.append(text)
    return ids


def _allowed_ids(jira_field: Mapping[str, Any]) -> set[str] | None:
    allowed = _allowed_options(jira_field)
    return None if allowed is None else {option["id"] for option in allowed if "id" in option}


def _fixed_options(jira_field: Mapping[str, Any], raw: object, *, many: bool) -> Result:
    if not many and not isinstance(raw, str):
        return Skip(CHOOSE_AN_OPTION)
    ids = _fixed_ids(raw)
    if not ids:
        return Skip(CHOOSE_AN_OPTION)
    allowed = _allowed_ids(jira_field)
    if allowed is not None and any(option_id not in allowed for option_id in ids):
        return Skip(OPTION_GONE)
    options = [{"id": option_id} for option_id in ids]
    return Converted(options if many else options[0])


def _blank(raw: object) -> bool:
    if isinstance(raw, str):
        return not raw.strip()
    if isinstance(raw, list | tuple):
        return all(_blank(item) for item in raw)
    return not _given(raw)


def _fixed_free(kind: str, raw: object) -> Result:
    if kind == "labels" and isinstance(raw, str):
        raw = raw.split(",")
    if _blank(raw):
        return Skip(ENTER_A_VALUE)
    source = Source("fixed", "A fixed value", FIXED_SOURCE_KINDS[kind], lambda report, context: raw)
    result = CONVERTERS[kind](raw, source, None)
    # The converters speak of "the report"; here the admin typed the value.
    return Skip(ENTER_A_VALUE) if isinstance(result, Skip) and result.reason == EMPTY else result


def fixed_value(jira_field: Mapping[str, Any], raw: object) -> Result:
    """What the wizard posted as a field's fixed value → the JSON the create API takes for it, or
    Skip(reason) in words for the field's row. Option ids must be among the field's
    `allowedValues` when createmeta lists them. Never raises."""
    try:
        kind = target_kind(jira_field.get("schema"))
        if kind in FIXED_SOURCE_KINDS:
            return _fixed_free(kind, raw)
        if kind in ("select", "radiobuttons"):
            return _fixed_options(jira_field, raw, many=False)
        if kind in ("multiselect", "multicheckboxes"):
            return _fixed_options(jira_field, raw, many=True)
        return Skip(UNMAPPABLE.get(kind, UNMAPPABLE["unsupported"]))
    except Exception:  # a form can post anything; one odd value must not break the step
        return Skip("the value could not be used")
