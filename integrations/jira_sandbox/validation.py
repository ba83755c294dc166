"""Jira Cloud's validation of an issue's `fields` and `update` (create, edit, transition screens).

Every value is checked by the converter its field's type selects from a table (system fields by
id, custom fields by their `schema.custom` type, then by `schema.type`), and comes out in the
form the sandbox stores: model rows for system fields, the REST v3 shape for custom fields.
Problems are collected, all of them, into one `ValidationFailed`, as Jira lists every bad field
in one ErrorCollection (API-NOTES §3.1, §11).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit

from . import metacache
from .models import Account, Field, FieldOption, IssueType, Priority, Project, Site
from .serializers import jira_datetime

ADF_REQUIRED = "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
NOT_ON_SCREEN = "Field '{id}' cannot be set. It is not on the appropriate screen, or unknown."
IN_BOTH = "Field '{id}' cannot be set in both the 'fields' and the 'update' sections."
NO_PROJECT = "Specify a valid project ID or key"
BAD_ISSUE_TYPE = "The issue type selected is invalid."
TEXT_LIMIT = 255
PROPERTY_KEY_LIMIT = 255
PROPERTY_VALUE_LIMIT = 32768  # bytes of JSON, as Jira limits entity properties

# Jira words "this required field is empty" differently for a few system fields.
REQUIRED_MESSAGES = {
    "summary": "You must specify a summary of the issue.",
    "issuetype": "Specify an issue type",
    "project": NO_PROJECT,
}

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})$")


class ValidationFailed(Exception):
    """Jira's 400 ErrorCollection (or `status`, e.g. 404 for an unknown assignee): general
    `messages` and per-field `errors`, all that were found."""

    def __init__(
        self, messages: list[str] | None = None, errors: dict[str, str] | None = None, *, status: int = 400
    ) -> None:
        self.messages = list(messages or [])
        self.errors = dict(errors or {})
        self.status = status
        super().__init__("; ".join([*self.messages, *(f"{k}: {v}" for k, v in self.errors.items())]))


class FieldError(Exception):
    """One field's message; collected into ValidationFailed.errors under the field's id."""


# ---------------------------------------------------------------------------------------------
# What a screen offers, and the lookups converters need (cached per validation)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    field: Field
    required: bool


@dataclass
class Context:
    """One validation: the site, the project (its screen and priority scheme), the caller."""

    site: Site
    project: Project
    screen: dict[str, Slot]
    actor: Account | None = None
    _options: dict[int, list[FieldOption]] = field(default_factory=dict)
    _accounts: dict[str, Account | None] = field(default_factory=dict)
    _priorities: list[Priority] | None = None

    @property
    def meta(self) -> metacache.SiteMeta:
        """The site's cached metadata (screens, options, issue types, priorities)."""
        return metacache.for_site(self.site)

    def options(self, field_row: Field) -> list[FieldOption]:
        if field_row.pk not in self._options:
            self._options[field_row.pk] = [
                o for o in self.meta.options.get(field_row.pk, []) if not o.disabled
            ]
        return self._options[field_row.pk]

    def account(self, account_id: str) -> Account | None:
        """An active account with access to the site (only those can be picked), or None."""
        if account_id not in self._accounts:
            self._accounts[account_id] = Account.objects.filter(
                account_id=account_id, active=True, siteaccess__site=self.site
            ).first()
        return self._accounts[account_id]

    def priorities(self) -> list[Priority]:
        """The project's priority scheme: the site's custom priorities, or the default five."""
        if self._priorities is None:
            custom = self.project.custom_priorities  # the project row is read fresh by every call
            self._priorities = [p for p in self.meta.priorities if p.custom == custom]
        return self._priorities


def screen_of(project: Project, site: Site | None = None) -> dict[str, Slot]:
    """The project's create/edit screen: field id → (field, required). `site` (the project's) saves
    reading the site row again."""
    meta = metacache.for_site(site if site is not None else project.site)
    return {row.field.field_id: Slot(row.field, row.required) for row in meta.screens.get(project.pk, [])}


def default_priority(ctx: Context) -> Priority | None:
    """The scheme's default priority (Jira sets it when a create leaves priority out)."""
    scheme = ctx.priorities()
    return next((p for p in scheme if p.is_default), scheme[len(scheme) // 2] if scheme else None)


# ---------------------------------------------------------------------------------------------
# Converters: a REST value (never None) → the stored value, or FieldError with Jira's message
# ---------------------------------------------------------------------------------------------

Converter = Callable[[Any, Field, Context], Any]


def is_adf(value: Any) -> bool:
    """An Atlassian Document: `{"type": "doc", "version": 1, "content": [nodes]}`."""
    return (
        isinstance(value, dict)
        and value.get("type") == "doc"
        and value.get("version") == 1
        and isinstance(value.get("content"), list)
        and all(isinstance(node, dict) and isinstance(node.get("type"), str) for node in value["content"])
    )


def _string(value: Any, field_row: Field, ctx: Context) -> str:
    if not isinstance(value, str):
        raise FieldError("Operation value must be a string")
    if len(value) > TEXT_LIMIT:
        raise FieldError(
            f"The entered text is too long. It exceeds the allowed limit of {TEXT_LIMIT} characters."
        )
    return value


def _url(value: Any, field_row: Field, ctx: Context) -> str:
    text = _string(value, field_row, ctx)
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise FieldError(f"Not a valid URL: {text}")
    return text


def _adf(value: Any, field_row: Field, ctx: Context) -> dict[str, Any]:
    if not is_adf(value):
        raise FieldError(ADF_REQUIRED)
    return value


def _number(value: Any, field_row: Field, ctx: Context) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FieldError("Operation value must be a number")
    return float(value)


def _date(value: Any, field_row: Field, ctx: Context) -> str:
    try:
        if not isinstance(value, str) or not _DATE.match(value):
            raise ValueError(value)
        date.fromisoformat(value)
    except ValueError as exc:
        raise FieldError(f"Error parsing date string: {value}") from exc
    return value


def _datetime(value: Any, field_row: Field, ctx: Context) -> str:
    try:
        if not isinstance(value, str) or not _DATETIME.match(value):
            raise ValueError(value)
        # Python 3.11 reads "+0000", "+00:00" and "Z" alike.
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise FieldError(f"Error parsing datetime string: {value}") from exc
    return str(jira_datetime(parsed))


def _option(value: Any, field_row: Field, ctx: Context) -> dict[str, str]:
    found = _pick_option(value, ctx.options(field_row), field_row.name, "value")
    return {"value": found.value, "id": found.option_id}


def _pick_option(value: Any, options: list[FieldOption], name: str, label: str) -> FieldOption:
    """`{"id": ...}` or `{"<label>": ...}` among `options` (label is "value", or "name" for resolutions)."""
    if isinstance(value, dict) and "id" in value:
        found = next((o for o in options if o.option_id == str(value["id"])), None)
        if found is None:
            raise FieldError(f"Option id '{value['id']}' is not valid")
        return found
    if isinstance(value, dict) and isinstance(value.get(label), str):
        found = next((o for o in options if o.value == value[label]), None)
        if found is None:
            raise FieldError(f"Option {label} '{value[label]}' is not valid")
        return found
    raise FieldError(f"Specify a valid 'id' or '{label}' for {name}")


def _account_of(value: Any, field_row: Field, ctx: Context) -> Account:
    # Cloud identifies users by accountId only (API-NOTES §12.4); `id` is the spec example's alias.
    account_id = value.get("accountId", value.get("id")) if isinstance(value, dict) else None
    if not isinstance(account_id, str) or not account_id:
        raise FieldError(f"Specify a valid 'accountId' for {field_row.name}")
    account = ctx.account(account_id)
    if account is None:
        raise FieldError(f"The user with account ID '{account_id}' does not exist or cannot use this site.")
    return account


def _user(value: Any, field_row: Field, ctx: Context) -> dict[str, str]:
    return {"accountId": _account_of(value, field_row, ctx).account_id}


def _label(value: Any, field_row: Field, ctx: Context) -> str:
    if not isinstance(value, str) or not value:
        raise FieldError("Operation value must be a string")
    if any(ch.isspace() for ch in value):
        raise FieldError(f"The label '{value}' contains spaces which is invalid.")
    if len(value) > TEXT_LIMIT:
        raise FieldError(f"The label '{value[:20]}…' exceeds the maximum length of {TEXT_LIMIT} characters.")
    return value


def _summary(value: Any, field_row: Field, ctx: Context) -> str:
    if not isinstance(value, str):
        raise FieldError("Operation value must be a string")
    if not value.strip():
        raise FieldError(REQUIRED_MESSAGES["summary"])
    if len(value) > TEXT_LIMIT:
        raise FieldError(f"Summary must be less than {TEXT_LIMIT} characters.")
    return value


def _priority(value: Any, field_row: Field, ctx: Context) -> Priority:
    scheme = ctx.priorities()
    if isinstance(value, dict) and "id" in value:
        found = next((p for p in scheme if p.priority_id == str(value["id"])), None)
        if found is None:
            raise FieldError("The priority selected is invalid.")
        return found
    if isinstance(value, dict) and isinstance(value.get("name"), str):
        found = next((p for p in scheme if p.name == value["name"]), None)
        if found is None:
            raise FieldError(f"Priority name '{value['name']}' is not valid")
        return found
    raise FieldError("Specify the Priority (id or name) in the object format")


def _assignee(value: Any, field_row: Field, ctx: Context) -> Account | None:
    # "-1" is Jira's "automatic": the project's default assignee, here its lead.
    if isinstance(value, dict) and "-1" in (value.get("accountId"), value.get("id")):
        return ctx.project.lead
    return _account_of(value, field_row, ctx)


def _issue_type(value: Any, field_row: Field, ctx: Context) -> IssueType:
    types = ctx.meta.issue_types
    if isinstance(value, dict) and "id" in value:
        found = next((t for t in types if t.type_id == str(value["id"])), None)
    elif isinstance(value, dict) and isinstance(value.get("name"), str):
        found = next((t for t in types if t.name == value["name"]), None)
    else:
        raise FieldError(REQUIRED_MESSAGES["issuetype"])
    if found is None:
        raise FieldError(BAD_ISSUE_TYPE)
    return found


def _resolution(value: Any, field_row: Field, ctx: Context) -> FieldOption:
    return _pick_option(value, ctx.options(field_row), field_row.name, "name")


@dataclass(frozen=True)
class Kind:
    """How one field type takes values. Arrays convert element by element (`item`) and add or
    remove elements identified by `key`; other kinds only take `set`."""

    convert: Converter
    item: Converter | None = None
    key: Callable[[Any], Hashable] = lambda stored: stored

    @property
    def operations(self) -> tuple[str, ...]:
        return ("set", "add", "remove") if self.item else ("set",)


def _array(item: Converter, key: Callable[[Any], Hashable] = lambda stored: stored) -> Kind:
    def convert(value: Any, field_row: Field, ctx: Context) -> list[Any]:
        if not isinstance(value, list):
            raise FieldError("Operation value must be an array")
        result: list[Any] = []
        seen: set[Hashable] = set()
        for element in value:
            stored = item(element, field_row, ctx)
            if key(stored) not in seen:
                seen.add(key(stored))
                result.append(stored)
        return result

    return Kind(convert, item, key)


def _option_key(stored: dict[str, str]) -> Hashable:
    return stored["id"]


def _user_key(stored: dict[str, str]) -> Hashable:
    return stored["accountId"]


# System fields by id.
SYSTEM_KINDS: dict[str, Kind] = {
    "summary": Kind(_summary),
    "description": Kind(_adf),
    "environment": Kind(_adf),
    "priority": Kind(_priority),
    "assignee": Kind(_assignee),
    "reporter": Kind(_account_of),
    "labels": _array(_label),
    "duedate": Kind(_date),
    "issuetype": Kind(_issue_type),
    "resolution": Kind(_resolution),
}

# Custom fields by the short `schema.custom` type (API-NOTES §3.1's table).
CUSTOM_KINDS: dict[str, Kind] = {
    "textfield": Kind(_string),
    "url": Kind(_url),
    "textarea": Kind(_adf),
    "float": Kind(_number),
    "datepicker": Kind(_date),
    "datetime": Kind(_datetime),
    "select": Kind(_option),
    "radiobuttons": Kind(_option),
    "multiselect": _array(_option, _option_key),
    "multicheckboxes": _array(_option, _option_key),
    "userpicker": Kind(_user),
    "multiuserpicker": _array(_user, _user_key),
    "labels": _array(_label),
}

# Anything else by `schema.type` (and `schema.items` for arrays).
SCHEMA_KINDS: dict[str, Kind] = {
    "string": Kind(_string),
    "number": Kind(_number),
    "date": Kind(_date),
    "datetime": Kind(_datetime),
    "option": Kind(_option),
    "user": Kind(_user),
    "array:option": _array(_option, _option_key),
    "array:user": _array(_user, _user_key),
    "array:string": _array(_label),
}


def kind_of(field_row: Field) -> Kind | None:
    """The converter table entry for a field, or None for a field no one can set."""
    if not field_row.custom:
        return SYSTEM_KINDS.get(field_row.field_id)
    schema_type = str(field_row.schema.get("type", ""))
    if schema_type == "array":
        schema_type = f"array:{field_row.schema.get('items', '')}"
    return CUSTOM_KINDS.get(field_row.custom_type) or SCHEMA_KINDS.get(schema_type)


def is_empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def required_message(field_row: Field) -> str:
    return REQUIRED_MESSAGES.get(field_row.field_id, f"{field_row.name} is required.")


# ---------------------------------------------------------------------------------------------
# `fields` and `update` → the values to store
# ---------------------------------------------------------------------------------------------


@dataclass
class Changes:
    """What a request sets: field id → stored value (None clears), and comment bodies to add."""

    values: dict[str, Any] = field(default_factory=dict)
    comments: list[dict[str, Any]] = field(default_factory=list)
    # The Field rows of `values`, for changelog names (custom fields show their name there).
    rows: dict[str, Field] = field(default_factory=dict)


@dataclass
class Draft:
    """A valid create: the project, the issue type and the other values."""

    project: Project
    issue_type: IssueType
    changes: Changes
    context: Context


def _check_shapes(fields: Any, update: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    if fields is None:
        fields = {}
    if update is None:
        update = {}
    messages = []
    if not isinstance(fields, dict):
        messages.append("The 'fields' section must be a JSON object.")
    if not isinstance(update, dict):
        messages.append("The 'update' section must be a JSON object.")
    if messages:
        raise ValidationFailed(messages)
    return fields, update


def _collect(
    ctx: Context,
    fields: dict[str, Any],
    update: dict[str, Any],
    current: Callable[[str], Any],
    errors: dict[str, str],
) -> Changes:
    """Convert every field of `fields` and `update` that the screen offers; record problems."""
    changes = Changes()
    for field_id in fields.keys() & update.keys():
        errors[field_id] = IN_BOTH.format(id=field_id)
    for field_id, raw in fields.items():
        kind = _settable(ctx, field_id, errors)
        if kind is None or field_id in errors:
            continue
        changes.rows[field_id] = ctx.screen[field_id].field
        try:
            changes.values[field_id] = (
                None if raw is None else kind.convert(raw, ctx.screen[field_id].field, ctx)
            )
        except FieldError as exc:
            errors[field_id] = str(exc)
    for field_id, operations in update.items():
        if field_id in errors:
            continue
        if field_id == "comment":
            _comment_operations(operations, changes, errors)
            continue
        kind = _settable(ctx, field_id, errors)
        if kind is None:
            continue
        changes.rows[field_id] = ctx.screen[field_id].field
        try:
            changes.values[field_id] = _apply_operations(
                operations, kind, ctx.screen[field_id].field, ctx, current(field_id)
            )
        except FieldError as exc:
            errors[field_id] = str(exc)
    return changes


def _settable(ctx: Context, field_id: str, errors: dict[str, str]) -> Kind | None:
    slot = ctx.screen.get(field_id)
    kind = kind_of(slot.field) if slot is not None else None
    if kind is None:
        errors[field_id] = NOT_ON_SCREEN.format(id=field_id)
    return kind


def _apply_operations(operations: Any, kind: Kind, field_row: Field, ctx: Context, current: Any) -> Any:
    """Run `[{"set": v}, {"add": v}, {"remove": v}]` in order, starting from the stored value."""
    if not isinstance(operations, list) or not all(
        isinstance(op, dict) and len(op) == 1 for op in operations
    ):
        raise FieldError("The update operations must be a list of single-operation objects.")
    value = current
    for operation in operations:
        name, operand = next(iter(operation.items()))
        if name not in kind.operations:
            raise FieldError(f"Field '{field_row.field_id}' does not support the '{name}' operation.")
        if name == "set":
            value = None if operand is None else kind.convert(operand, field_row, ctx)
            continue
        assert kind.item is not None  # only array kinds offer add and remove
        element = kind.item(operand, field_row, ctx)
        existing = list(value or [])
        keys = [kind.key(e) for e in existing]
        if name == "add":
            value = existing if kind.key(element) in keys else [*existing, element]
        else:
            value = [e for e in existing if kind.key(e) != kind.key(element)]
    return value


def _comment_operations(operations: Any, changes: Changes, errors: dict[str, str]) -> None:
    """`update.comment: [{"add": {"body": ADF}}]`: a comment added by the same request."""
    if not isinstance(operations, list):
        errors["comment"] = "The update operations must be a list of single-operation objects."
        return
    for operation in operations:
        add = operation.get("add") if isinstance(operation, dict) else None
        body = add.get("body") if isinstance(add, dict) else None
        if not isinstance(operation, dict) or set(operation) != {"add"}:
            errors["comment"] = "Field 'comment' supports the 'add' operation only."
        elif not is_adf(body):
            errors["comment"] = "Comment body can not be empty!" if body in (None, "") else ADF_REQUIRED
        else:
            changes.comments.append(body)


def _check_required(ctx: Context, changes: Changes, errors: dict[str, str], *, creating: bool) -> None:
    for field_id, slot in ctx.screen.items():
        if not slot.required or field_id in errors or field_id == "project":
            continue
        missing = field_id not in changes.values if creating else False
        if missing or (field_id in changes.values and is_empty(changes.values[field_id])):
            errors[field_id] = required_message(slot.field)


def validate_create(*, site: Site, actor: Account | None, fields: Any, update: Any = None) -> Draft:
    """Check a create request against the project's screen; raise ValidationFailed with every problem."""
    fields, update = _check_shapes(fields, update)
    project = _project(site, fields.get("project"))
    errors: dict[str, str] = {}
    if project is None:
        errors["project"] = NO_PROJECT
        if "issuetype" not in fields:
            errors["issuetype"] = REQUIRED_MESSAGES["issuetype"]
        raise ValidationFailed(errors=errors)
    ctx = Context(site=site, project=project, screen=screen_of(project, site), actor=actor)
    rest = {k: v for k, v in fields.items() if k != "project"}
    changes = _collect(ctx, rest, update, lambda field_id: [], errors)
    _check_required(ctx, changes, errors, creating=True)
    issue_type = changes.values.pop("issuetype", None)
    if issue_type is None and "issuetype" not in errors:
        errors["issuetype"] = REQUIRED_MESSAGES["issuetype"]
    if errors:
        raise ValidationFailed(errors=errors)
    return Draft(project=project, issue_type=issue_type, changes=changes, context=ctx)


def _project(site: Site, value: Any) -> Project | None:
    if not isinstance(value, dict):
        return None
    projects = metacache.for_site(site).projects.values()
    if "id" in value:
        wanted, attribute = str(value["id"]), "project_id"
    elif isinstance(value.get("key"), str):
        wanted, attribute = value["key"].upper(), "key"
    else:
        return None
    cached = next((p for p in projects if getattr(p, attribute) == wanted), None)
    if cached is None:
        return None
    # A copy: the cached row is shared by every thread. It gets the caller's Site row, which
    # the new issue's code reads (its knobs, its counters) and must not be a stale one.
    found = copy.copy(cached)
    found.site = site
    return found


def validate_edit(*, issue: Any, actor: Account | None, fields: Any, update: Any = None) -> Changes:
    """Check an edit against the issue's edit screen (the create screen without `project`)."""
    fields, update = _check_shapes(fields, update)
    screen = {k: v for k, v in screen_of(issue.project, issue.site).items() if k != "project"}
    ctx = Context(site=issue.site, project=issue.project, screen=screen, actor=actor)
    errors: dict[str, str] = {}
    changes = _collect(ctx, fields, update, lambda field_id: current_value(issue, field_id), errors)
    _check_required(ctx, changes, errors, creating=False)
    if errors:
        raise ValidationFailed(errors=errors)
    return changes


def validate_transition(
    *, issue: Any, required_field: str, actor: Account | None, fields: Any, update: Any = None
) -> Changes:
    """Check the fields of a transition against its screen (just its required field, if any)."""
    fields, update = _check_shapes(fields, update)
    screen: dict[str, Slot] = {}
    if required_field:
        row = next((f for f in metacache.for_site(issue.site).fields() if f.field_id == required_field), None)
        if row is not None:
            screen[required_field] = Slot(row, True)
    ctx = Context(site=issue.site, project=issue.project, screen=screen, actor=actor)
    errors: dict[str, str] = {}
    changes = _collect(ctx, fields, update, lambda field_id: current_value(issue, field_id), errors)
    _check_required(ctx, changes, errors, creating=True)
    if errors:
        raise ValidationFailed(errors=errors)
    return changes


# The stored value of a system field, by the model attribute that holds it.
SYSTEM_ATTRIBUTES = {
    "summary": "summary",
    "description": "description",
    "priority": "priority",
    "assignee": "assignee",
    "reporter": "reporter",
    "labels": "labels",
    "issuetype": "issue_type",
    "resolution": "resolution",
    "status": "status",
}


def current_value(issue: Any, field_id: str) -> Any:
    """What the issue holds for a field, in the stored form converters produce."""
    attribute = SYSTEM_ATTRIBUTES.get(field_id)
    if attribute is not None:
        value = getattr(issue, attribute)
        return list(value) if isinstance(value, list) else value
    value = issue.custom_fields.get(field_id)
    return list(value) if isinstance(value, list) else value


def validate_properties(properties: Any) -> dict[str, Any]:
    """`properties: [{"key", "value"}]` of a create → key → value."""
    if properties is None:
        return {}
    if not isinstance(properties, list):
        raise ValidationFailed(["The 'properties' section must be a list of {key, value} objects."])
    result: dict[str, Any] = {}
    messages: list[str] = []
    for entry in properties:
        key = entry.get("key") if isinstance(entry, dict) else None
        if not isinstance(key, str) or not key.strip() or "value" not in entry:
            messages.append("Each property needs a non-empty 'key' and a 'value'.")
        elif len(key) > PROPERTY_KEY_LIMIT:
            messages.append(f"The property key cannot be longer than {PROPERTY_KEY_LIMIT} characters.")
        elif len(_json_size(entry["value"])) > PROPERTY_VALUE_LIMIT:
            messages.append(f"The property value cannot be longer than {PROPERTY_VALUE_LIMIT} bytes.")
        else:
            result[key] = entry["value"]
    if messages:
        raise ValidationFailed(messages)
    return result


def _json_size(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
