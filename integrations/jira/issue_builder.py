"""The `fields` object of Jira's create-issue call (POST /rest/api/3/issue) for one report.

`build_issue(report, plan)` is the only entry point; the wizard's test issue and forwarding both
use it, so what Jira receives is decided here and nowhere else:

- summary: the plan's prefix and the title, one line, at most 255 Jira characters;
- description: one ADF document with the report's text, steps, device and app details, user
  attributes, the newest console lines and a link back, kept within Jira's size limit;
- project, issue type, priority (through the plan's names), assignee and labels;
- every mapped field, through `fields.convert` (report values) or `fields.fixed_value`.

A value that is shortened or left out gets a note keyed by its Jira field id, in plain words, for
the wizard's test step and the report's Jira panel. Nothing here raises on an odd report: reports
come from devices we do not control.

Pure: no Django, no models, no I/O. A report is a BugReport or a mapping with the same names.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from . import fields as f
from .adf import Node, text_to_adf
from .fields import _cut, _get, _http_url, as_text

SUMMARY_MAX = f.TEXTFIELD_MAX
# Jira refuses a description over 32,767 characters. The budget is measured on the document's
# compact JSON (more than its text alone), with a margin for Jira serialising it its own way.
DESCRIPTION_BUDGET = 32_000
CONSOLE_LINES = 50
# Per-item caps, so that one huge value cannot crowd out every other part of the description.
CONSOLE_LINE_MAX = 1_000
CELL_MAX = 1_000
STEP_MAX = 2_000
LINK_MAX = 2_000
UNTITLED = "Untitled report"
LINK_TEXT = "View the report in Bugbridge"
NO_DETAILS = "The report has no description."
UNASSIGNED = "unassigned"  # IssuePlan.assignee: send no one (JiraConnection.UNASSIGNED)
LABELS = "labels"
LABELS_SCHEMA = {"type": "array", "items": "string", "system": "labels"}
HEADING_LEVEL = 3


# --- the plan -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MappedField:
    """One saved mapping row: a Jira field (as createmeta gives it) filled from a report value
    (`source_key`, a `fields.Source` key) or, when `source_key` is "", from `fixed`."""

    field: Mapping[str, Any]
    source_key: str
    value_map: Mapping[str, Any] | None = None
    fixed: object = None


@dataclass(frozen=True)
class IssuePlan:
    """How a connection turns a report into an issue.

    `assignee`: "" leaves it to the project's default (nothing is sent), "unassigned" sends no
    one, anything else is an account id. `priority_names`: our priority value → the Jira priority
    name to send; a value missing here sends no priority (Jira's default applies).
    """

    project_id: str
    issue_type_id: str
    assignee: str
    priority_names: Mapping[str, str]
    mappings: Sequence[MappedField] = ()
    summary_prefix: str = ""
    extra_labels: Sequence[str] = ()
    user_attribute_kinds: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BuiltIssue:
    """The create call's `fields`, and (Jira field id, note) per value shortened or left out; at
    most one note per field id (several are joined), so `dict(notes)` loses nothing."""

    fields: dict[str, Any]
    notes: tuple[tuple[str, str], ...]


class _Notes:
    def __init__(self) -> None:
        self._by_field: dict[str, list[str]] = {}

    def add(self, field_id: str, *words: str) -> None:
        for text in words:
            if text and text not in self._by_field.setdefault(field_id, []):
                self._by_field[field_id].append(text)

    def result(self) -> tuple[tuple[str, str], ...]:
        return tuple((fid, "; ".join(words)) for fid, words in self._by_field.items() if words)


# --- ADF pieces -----------------------------------------------------------------------------------


def _inline(text: str, marks: list[Node] | None = None) -> list[Node]:
    """Plain text as inline nodes: a hardBreak per line break, and never an empty text node
    (ADF refuses them)."""
    content: list[Node] = []
    for number, line in enumerate(text.replace("\r\n", "\n").replace("\r", "\n").split("\n")):
        if number:
            content.append({"type": "hardBreak"})
        if line:
            node: Node = {"type": "text", "text": line}
            if marks:
                node["marks"] = marks
            content.append(node)
    return content


def _paragraph(text: str, marks: list[Node] | None = None) -> Node:
    return {"type": "paragraph", "content": _inline(text, marks)}


def _heading(text: str) -> Node:
    return {"type": "heading", "attrs": {"level": HEADING_LEVEL}, "content": _inline(text)}


def _table(rows: Sequence[tuple[str, str]]) -> Node:
    """A two-column table: a header cell with the name, a cell with the value, per row."""
    return {
        "type": "table",
        "attrs": {"isNumberColumnEnabled": False, "layout": "default"},
        "content": [
            {
                "type": "tableRow",
                "content": [
                    {"type": "tableHeader", "content": [_paragraph(name)]},
                    {"type": "tableCell", "content": [_paragraph(value)]},
                ],
            }
            for name, value in rows
        ],
    }


def _size(node: Node) -> int:
    """The document's compact JSON length in Jira characters (UTF-16 units)."""
    text = json.dumps(node, ensure_ascii=False, separators=(",", ":"))
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


# --- reading the report ---------------------------------------------------------------------------


def _clean(value: object, limit: int) -> str:
    return _cut(as_text(value).strip(), limit)


def _builtin(key: str) -> f.Source:
    source = f.source_by_key(key)
    if source is None:  # a renamed source key; fails at import, never on a report
        raise LookupError(key)
    return source


def _source_text(key: str) -> Callable[[Any], str]:
    source = _builtin(key)
    return lambda report: as_text(source.value(report))


def _reporter(report: Any) -> str:
    name, email = (as_text(_get(report, key)).strip() for key in ("reporter_name", "reporter_email"))
    return f"{name} <{email}>" if name and email else name or email


# The "Device and app" table: row name → how to read its value. Blank rows are left out.
DEVICE_ROWS: tuple[tuple[str, Callable[[Any], str]], ...] = (
    ("App version", _source_text("app_version")),
    ("OS", _source_text("os")),
    ("Device", _source_text("device")),
    ("Current view", _source_text("current_view")),
    ("Locale", _source_text("locale")),
    ("Reporter", _reporter),
)


def _device_rows(report: Any) -> tuple[tuple[str, str], ...]:
    rows = ((name, _clean(read(report), CELL_MAX)) for name, read in DEVICE_ROWS)
    return tuple((name, value) for name, value in rows if value)


def _attribute_rows(report: Any) -> tuple[tuple[str, str], ...]:
    attributes = _get(report, "user_attributes")
    if not isinstance(attributes, Mapping):
        return ()
    rows = ((_clean(key, CELL_MAX), _clean(value, CELL_MAX)) for key, value in attributes.items())
    return tuple(sorted((key, value) for key, value in rows if key and value))


def _steps(report: Any) -> tuple[str, ...]:
    steps = _get(report, "reproduction_steps")
    items = steps if isinstance(steps, list | tuple) else [steps]
    return tuple(text for text in (_clean(step, STEP_MAX) for step in items) if text)


def _console_line(entry: object) -> str:
    """One console entry as one line: "timestamp level message", leaving out what is missing."""
    if isinstance(entry, Mapping):
        parts = [as_text(entry.get(name)) for name in ("timestamp", "level", "message")]
    else:
        parts = [as_text(entry)]
    return _cut(" ".join(word for part in parts for word in part.split()), CONSOLE_LINE_MAX)


def _console(report: Any) -> tuple[str, ...]:
    logs = _get(report, "console_logs")
    entries = logs if isinstance(logs, list | tuple) else logs.splitlines() if isinstance(logs, str) else []
    lines = [line for line in map(_console_line, entries) if line]
    return tuple(lines[-CONSOLE_LINES:])


# --- the description ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Description:
    """What goes into the description, each part already cleaned; `doc()` lays it out."""

    text: str = ""
    steps: tuple[str, ...] = ()
    device: tuple[tuple[str, str], ...] = ()
    attributes: tuple[tuple[str, str], ...] = ()
    console: tuple[str, ...] = ()
    url: str = ""

    def doc(self) -> Node:
        content: list[Node] = list(text_to_adf(self.text)["content"]) if self.text else []
        if self.steps:
            items = [{"type": "listItem", "content": [_paragraph(step)]} for step in self.steps]
            content += [_heading("Steps to reproduce"), {"type": "orderedList", "content": items}]
        if self.device:
            content += [_heading("Device and app"), _table(self.device)]
        if self.attributes:
            content += [_heading("User attributes"), _table(self.attributes)]
        if self.console:
            code = {"type": "codeBlock", "content": [{"type": "text", "text": "\n".join(self.console)}]}
            content += [_heading("Console log"), code]
        if self.url:
            content.append(_paragraph(LINK_TEXT, [{"type": "link", "attrs": {"href": self.url}}]))
        if not content:  # an empty document may fail a required description
            content.append(_paragraph(NO_DETAILS))
        return {"type": "doc", "version": 1, "content": content}

    def fits(self) -> bool:
        return _size(self.doc()) <= DESCRIPTION_BUDGET


def _most(upper: int, fits: Callable[[int], bool]) -> int:
    """The largest n in 0..upper with fits(n) (fits grows with n), or 0."""
    low, high = 0, upper
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    return low


def _cut_to(text: str, units: int) -> str:
    return _cut(text, units) if units > len(f.ELLIPSIS) else ""


# When the description is too big, steps and user attributes beyond this share are cut first,
# before the console log and the report's own text (the 80th step matters less than what the
# user wrote, and an outsized section should not empty the others). With the caps
# above, the rest (device table, link, headings) stays well under the budget, so cutting the
# text always makes the document fit.
SECTION_BUDGET = 8_000
_SECTIONS: dict[str, str] = {
    "steps": "only the first {kept} steps to reproduce were kept",
    "attributes": "only the first {kept} user attributes were kept",
}


def _section_fits(name: str, items: tuple[Any, ...]) -> bool:
    return _size(_Description(**{name: items}).doc()) <= SECTION_BUDGET


def _section_fits_first(name: str, items: tuple[Any, ...], count: int) -> bool:
    return _section_fits(name, items[:count])


def _description(report: Any, report_url: str) -> tuple[Node, str]:
    """The description document, and a note when parts were cut to fit Jira's limit."""
    url = _http_url(report_url) or ""
    parts = _Description(
        text=_cut(as_text(_get(report, "description")).strip(), f.TEXTAREA_MAX),
        steps=_steps(report),
        device=_device_rows(report),
        attributes=_attribute_rows(report),
        console=_console(report),
        url=url if len(url) <= LINK_MAX else "",
    )
    if parts.fits():
        return parts.doc(), ""
    cuts: list[str] = []
    for name, words in _SECTIONS.items():
        items = getattr(parts, name)
        if not parts.fits() and not _section_fits(name, items):
            kept = _most(len(items), partial(_section_fits_first, name, items))
            parts = replace(parts, **{name: items[:kept]})
            cuts.append(words.format(kept=kept))
    # Then the console log (its oldest lines matter least), then the report's text.
    console = parts.console
    if console and not parts.fits():
        kept = _most(len(console), lambda n: replace(parts, console=console[len(console) - n :]).fits())
        parts = replace(parts, console=console[len(console) - kept :])
        cuts.append(
            f"only the last {kept} console lines were kept" if kept else "the console log was left out"
        )
    text = parts.text
    if text and not parts.fits():
        units = len(text.encode("utf-16-le")) // 2
        kept = _most(units, lambda n: replace(parts, text=_cut_to(text, n)).fits())
        parts = replace(parts, text=_cut_to(text, kept))
        cuts.append(
            "the report's description was shortened"
            if parts.text
            else "the report's description was left out"
        )
    return parts.doc(), (", ".join(cuts) + " to stay within Jira's size limit") if cuts else ""


# --- the other fields -----------------------------------------------------------------------------


def _summary(report: Any, prefix: str) -> tuple[str, str]:
    title = " ".join(as_text(_get(report, "title")).split()) or UNTITLED
    text = " ".join((as_text(prefix) + title).split())
    summary = _cut(text, SUMMARY_MAX)
    return summary, (f"shortened to {SUMMARY_MAX} characters" if summary != text else "")


_TAGS = _builtin("tags")


def _labels(value: object) -> list[str]:
    result = f.convert(_TAGS, value, LABELS_SCHEMA)
    return list(result.value) if isinstance(result, f.Converted) else []


def _merge(labels: list[str], more: object) -> None:
    if isinstance(more, list):
        labels.extend(label for label in more if isinstance(label, str) and label not in labels)


def _priority(report: Any, names: Mapping[str, str]) -> tuple[dict[str, str] | None, str]:
    ours = as_text(_get(report, "priority")).strip()
    name = names.get(ours) if ours else None
    if isinstance(name, str) and name.strip():
        return {"name": name}, ""
    if not ours:
        return None, ""
    label = f.PRIORITY_CHOICES.get(ours, ours)
    return None, f"no Jira priority is chosen for “{label}”, so Jira's default is used"


# `_assignee`'s answer for "send nothing" (the project default), as None means "clear it".
PROJECT_DEFAULT = object()


def _assignee(assignee: str) -> object:
    """The create value: an account, or null for "unassigned" (a null field value is how Jira
    clears a field; `{"accountId": null}` is only the assign endpoint's way and create refuses
    it), or PROJECT_DEFAULT to send nothing."""
    chosen = assignee.strip() if isinstance(assignee, str) else ""
    if not chosen:
        return PROJECT_DEFAULT
    return None if chosen == UNASSIGNED else {"accountId": chosen}


def _mapped_value(report: Any, mapped: MappedField, plan: IssuePlan, context: f.ReportContext) -> f.Result:
    if not mapped.source_key:
        return f.fixed_value(mapped.field, mapped.fixed)
    name = f.attribute_key(mapped.source_key)
    kind = plan.user_attribute_kinds.get(name, "text") if name is not None else "text"
    source = f.source_by_key(mapped.source_key, user_attribute_kind=kind)
    if source is None:
        return f.Skip("Bugbridge no longer offers the report field it was mapped from")
    try:
        value = source.value(report, context)
    except Exception:  # an odd report costs this field, not the issue
        return f.Skip("the value could not be read from the report")
    return f.convert(source, value, mapped.field.get("schema"), mapped.value_map)


# --- the issue ------------------------------------------------------------------------------------


def build_issue(report: Any, plan: IssuePlan, *, report_url: str = "") -> BuiltIssue:
    """The `fields` of the create call for this report, and notes on what was shortened or left
    out. `report_url` is the report's page in Bugbridge (absolute), or "" for none."""
    notes = _Notes()
    summary, note = _summary(report, plan.summary_prefix)
    notes.add("summary", note)
    description, note = _description(report, report_url)
    notes.add("description", note)
    built: dict[str, Any] = {
        "project": {"id": plan.project_id},
        "issuetype": {"id": plan.issue_type_id},
        "summary": summary,
        "description": description,
    }
    priority, note = _priority(report, plan.priority_names)
    notes.add("priority", note)
    if priority is not None:
        built["priority"] = priority
    assignee = _assignee(plan.assignee)
    if assignee is not PROJECT_DEFAULT:
        built["assignee"] = assignee

    labels = _labels(_get(report, "tags"))
    _merge(labels, _labels(list(plan.extra_labels)))
    context = f.ReportContext(report_url=(lambda _report: report_url) if report_url else None)
    mapped_ids: set[str] = set()
    for mapped in plan.mappings:
        fid = f.field_id(mapped.field) if isinstance(mapped.field, Mapping) else ""
        if not fid:  # a row without a usable field has nowhere to go
            continue
        if fid in f.RESERVED_FIELDS:
            notes.add(fid, f"not sent from the mapping: {f.RESERVED_FIELDS[fid]}")
            continue
        if fid in mapped_ids:  # validate_mapping refuses this; a stale row must still not win
            notes.add(fid, "not sent twice: another mapping already fills this field")
            continue
        mapped_ids.add(fid)
        result = _mapped_value(report, mapped, plan, context)
        if isinstance(result, f.Skip):
            notes.add(fid, result.reason)
            continue
        notes.add(fid, *result.notes)
        if fid == LABELS:  # the system labels field also takes the report's tags
            _merge(labels, result.value)
        else:
            built[fid] = result.value
    if labels:
        built[LABELS] = labels
    return BuiltIssue(built, notes.result())
