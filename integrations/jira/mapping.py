"""The Set up step's field mapping, checked against the project's create screen.

An admin chooses, per report field (a `fields.Source`), one Jira field of the create screen, and
for option fields which option each of our values becomes. Jira fields the screen requires that
nothing fills must be mapped or given a fixed value. What passes is kept as plain rows (the
session holds them until Finish; `FieldMapping` stores them after):

    {"field": <createmeta field>, "source": "<source key>" or "" (fixed), "value_map": {...}, "fixed": raw}

Pure: no Django, no I/O. Problems come back keyed for the row that shows them: `map:<source key>`
for a report field's row, `fixed:<field id>` for a required field's row.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import fields as f

Row = dict[str, Any]


@dataclass(frozen=True)
class Chosen:
    """What the admin chose on one report field's row (an empty field id: not sent)."""

    source_key: str
    field_id: str
    value_map: Mapping[str, str] = field(default_factory=dict)


def map_key(source_key: str) -> str:
    return f"map:{source_key}"


def fixed_key(field_id: str) -> str:
    return f"fixed:{field_id}"


def required_unfilled(
    screen: Sequence[Mapping[str, Any]], mapped_ids: Iterable[str], filled_elsewhere: Iterable[str]
) -> list[Mapping[str, Any]]:
    """Fields the create screen requires that neither a mapping nor the wizard's other choices
    (priority, assignee) fill: each needs a fixed value."""
    return f.missing_required(screen, [*mapped_ids, *filled_elsewhere], {})


def check(
    *,
    sources: Sequence[f.Source],
    screen: Sequence[Mapping[str, Any]],
    chosen: Sequence[Chosen],
    fixed: Mapping[str, object],
    filled_elsewhere: Iterable[str] = (),
) -> tuple[list[Row], dict[str, str]]:
    """The rows to keep, and the problems by row (empty: the mapping can be used)."""
    by_source = {source.key: source for source in sources}
    by_field = {f.field_id(jira_field): jira_field for jira_field in screen}
    problems: dict[str, str] = {}
    rows: list[f.MappingRow] = []
    row_keys: list[str] = []
    for choice in chosen:
        if not choice.field_id:
            continue
        source = by_source.get(choice.source_key)
        if source is None:
            problems[map_key(choice.source_key)] = "This report field is no longer offered. Reload the page."
            continue
        jira_field = by_field.get(choice.field_id)
        if jira_field is None:
            problems[map_key(source.key)] = (
                f"That Jira field is not on this issue type's create screen any more. Choose again for "
                f"“{source.label}”."
            )
            continue
        value_map = {ours: ref for ours, ref in choice.value_map.items() if ref}
        rows.append(f.MappingRow(source, jira_field, value_map or None))
        row_keys.append(source.key)
    for error in f.validate_mapping(rows):
        problems[map_key(row_keys[error.row])] = error.message
    kept: list[Row] = [
        {
            "field": dict(row.field),
            "source": row.source.key,
            "value_map": dict(row.value_map or {}),
            "fixed": None,
        }
        for index, row in enumerate(rows)
        if map_key(row_keys[index]) not in problems
    ]
    mapped = [f.field_id(row.field) for row in rows]
    for jira_field in required_unfilled(screen, mapped, filled_elsewhere):
        fid, name = f.field_id(jira_field), f.field_name(jira_field)
        if f.fixed_input(jira_field) == "none":
            problems[fixed_key(fid)] = (
                f"“{name}” is required in Jira and Bugbridge cannot fill "
                f"{f.TARGET_KIND_WORDS[f.target_kind(jira_field.get('schema'))]}. In Jira, make it "
                "optional or give it a default value, or choose another issue type."
            )
            continue
        raw = fixed.get(fid)
        result = f.fixed_value(jira_field, raw)
        if isinstance(result, f.Skip):
            problems[fixed_key(fid)] = (
                f"“{name}” is required in Jira: send a report field to it above, or give it a value here "
                f"({result.reason})."
            )
            continue
        kept.append({"field": dict(jira_field), "source": "", "value_map": {}, "fixed": raw})
    return kept, problems


def chosen_from_rows(rows: Iterable[Mapping[str, Any]]) -> tuple[dict[str, Chosen], dict[str, object]]:
    """Stored rows back into what the page shows: choices by source key, fixed values by field."""
    chosen: dict[str, Chosen] = {}
    fixed: dict[str, object] = {}
    for row in rows:
        fid = f.field_id(row.get("field") or {})
        if row.get("source"):
            chosen[row["source"]] = Chosen(row["source"], fid, dict(row.get("value_map") or {}))
        elif fid:
            fixed[fid] = row.get("fixed")
    return chosen, fixed
