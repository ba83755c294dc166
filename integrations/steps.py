"""What the wizard's steps show and read back: the Set up step's mapping rows (one per report
field, one per required Jira field), parsed from a post or rebuilt from stored rows, and the
Finish step's words on how Jira's changes reach Bugbridge per auth type.

Presentation only: the checks live in `jira.mapping` (called by the services).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from bugs.models import App

from . import selectors
from .jira import fields, mapping
from .jira.adf import adf_to_text
from .models import AuthType, JiraConnection


@dataclass
class SourceRow:
    """One report field's row: where it goes, and for an option field which option each of our
    values becomes."""

    index: int
    source: fields.Source
    targets: list[tuple[str, str]]  # (field id, "Name (kind)")
    chosen: str = ""
    # Whether some offered target takes a value map (then a change re-renders the row).
    may_need_value_map: bool = False
    needs_value_map: bool = False
    values: list[tuple[int, str, str, str]] = field(default_factory=list)  # (j, ours, label, option id)
    options: list[tuple[str, str]] = field(default_factory=list)  # (option id, label)
    problem: str = ""


@dataclass
class RequiredRow:
    """A Jira field the create screen requires: filled by a mapping, or by a fixed value."""

    field_id: str
    name: str
    input: str  # fields.fixed_input: text, number, date, select, multiselect, … or none
    options: list[tuple[str, str]]
    value: Any = None
    mapped_from: str = ""
    problem: str = ""


def app_sources(app: App) -> list[fields.Source]:
    """Every report field the app can send, with a source per user-attribute key seen lately."""
    samples = selectors.report_attribute_samples(app=app)
    kinds = {key: fields.attribute_kind(values) for key, values in samples.items()}
    return fields.sources_for(samples, user_attribute_kinds=kinds)


def posted_mapping(data: Mapping[str, Any]) -> tuple[list[mapping.Chosen], dict[str, object]] | None:
    """The mapping in a Set up post (None when the post has no mapping or required-field rows,
    as on the first visit or a project change before the screen is known)."""
    indexes = sorted(
        int(key[len("src-") :]) for key in data if key.startswith("src-") and key[len("src-") :].isdigit()
    )
    if not indexes and not any(key.startswith(("fixed-", "fixedm-")) for key in data):
        return None
    chosen = []
    for i in indexes:
        value_map = {}
        for key in data:
            prefix = f"vmk-{i}-"
            if key.startswith(prefix):
                j = key[len(prefix) :]
                value_map[str(data.get(key))] = str(data.get(f"vm-{i}-{j}", ""))
        chosen.append(mapping.Chosen(str(data.get(f"src-{i}", "")), str(data.get(f"map-{i}", "")), value_map))
    fixed: dict[str, object] = {}
    for key in data:
        # One value per field; a multi-choice field posts several under `fixedm-<field id>`.
        if key.startswith("fixed-"):
            fixed[key[len("fixed-") :]] = str(data.get(key, ""))
        elif key.startswith("fixedm-"):
            fixed[key[len("fixedm-") :]] = [str(v) for v in data.getlist(key) if v]
    return chosen, fixed


def _options(jira_field: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [
        (str(v.get("id")), str(v.get("value") or v.get("name") or v.get("id")))
        for v in jira_field.get("allowedValues") or ()
        if isinstance(v, Mapping) and v.get("id")
    ]


def _values_of(source: fields.Source, tags: Sequence[str]) -> list[tuple[str, str]]:
    """Our values an option field needs a map for: the priorities, or the app's tags."""
    if source.kind == "choice":
        return list(source.choices.items())
    if source.kind == "tags":
        return [(tag, tag) for tag in tags]
    return []


def mapping_rows(
    *,
    sources: Sequence[fields.Source],
    screen: Sequence[Mapping[str, Any]],
    chosen: Mapping[str, mapping.Chosen],
    fixed: Mapping[str, object],
    problems: Mapping[str, str],
    tags: Sequence[str],
    filled_elsewhere: Sequence[str],
) -> tuple[list[SourceRow], list[RequiredRow]]:
    by_field = {fields.field_id(jf): jf for jf in screen}
    rows: list[SourceRow] = []
    for index, source in enumerate(sources):
        targets = [
            (
                fields.field_id(jf),
                f"{fields.field_name(jf)} ({fields.TARGET_KIND_WORDS[fields.target_kind(jf.get('schema'))]})",
            )
            for jf in fields.targets_for(source, screen)
        ]
        row = SourceRow(
            index=index,
            source=source,
            targets=targets,
            may_need_value_map=any(
                fields.target_kind(by_field[fid].get("schema")) in fields.NEEDS_VALUE_MAP
                for fid, _ in targets
            ),
        )
        choice = chosen.get(source.key)
        if choice is not None and (choice.field_id in by_field or choice.field_id == ""):
            row.chosen = choice.field_id
        target = by_field.get(row.chosen)
        if target is not None and fields.target_kind(target.get("schema")) in fields.NEEDS_VALUE_MAP:
            row.needs_value_map = True
            row.options = _options(target)
            picked = choice.value_map if choice is not None else {}
            ours_labels = _values_of(source, tags)
            row.values = [
                (j, ours, label, str(picked.get(ours, ""))) for j, (ours, label) in enumerate(ours_labels)
            ]
        row.problem = problems.get(mapping.map_key(source.key), "")
        rows.append(row)
    mapped = {c.field_id: c.source_key for c in chosen.values() if c.field_id}
    labels = {source.key: source.label for source in sources}
    required = []
    for jf in screen:
        fid = fields.field_id(jf)
        if jf.get("required") is not True or jf.get("hasDefaultValue") or fid in fields.ALWAYS_SET:
            continue
        if fid in filled_elsewhere:
            continue
        required.append(
            RequiredRow(
                field_id=fid,
                name=fields.field_name(jf),
                input=fields.fixed_input(jf),
                options=_options(jf),
                value=fixed.get(fid),
                mapped_from=labels.get(mapped.get(fid, ""), ""),
                problem=problems.get(mapping.fixed_key(fid), ""),
            )
        )
    return rows, required


# How changes made in Jira reach Bugbridge, per auth type (the Finish step says it per switch).
CHANGES_REACH_US: dict[str, str] = {
    AuthType.OAUTH2: (
        "Jira sends changes to Bugbridge through webhooks registered for this connection, renewed "
        "before they expire; periodic polling catches anything a webhook missed."
    ),
    AuthType.CONNECT: (
        "Jira sends changes through the add-on's webhooks; periodic polling catches anything missed."
    ),
}
ADMIN_WEBHOOK_WORDS = (
    "{who} is a Jira administrator, so Bugbridge registers a Jira webhook (signed with a secret of "
    "this connection); periodic polling catches anything it missed."
)
POLLING_WORDS = (
    "{who} is not a Jira administrator, so Bugbridge cannot register a webhook: it polls Jira "
    "periodically for changes instead, so they arrive within minutes rather than seconds."
)


def changes_channel(connection: JiraConnection, is_jira_admin: bool | None) -> str:
    """The same, in a few words for each switch."""
    if connection.auth_type in CHANGES_REACH_US or is_jira_admin:
        return "From Jira by webhook, with polling as a backstop."
    return "From Jira by periodic polling (no webhook: the identity is not a Jira admin)."


def changes_reach_us(connection: JiraConnection, is_jira_admin: bool | None) -> str:
    """Webhooks or polling, in words, for this connection's auth type and identity."""
    if connection.auth_type in CHANGES_REACH_US:
        return CHANGES_REACH_US[connection.auth_type]
    who = connection.identity_name or connection.identity_email or "This identity"
    return (ADMIN_WEBHOOK_WORDS if is_jira_admin else POLLING_WORDS).format(who=who)


def readable(jira_field: Mapping[str, Any], value: Any) -> str:
    """A create value as a person reads it: ADF as its text, options by their names."""
    names = dict(_options(jira_field))
    if isinstance(value, Mapping) and value.get("type") == "doc":
        return adf_to_text(value)
    if isinstance(value, Mapping):
        return names.get(str(value.get("id")), str(value.get("value") or value.get("id") or ""))
    if isinstance(value, list):
        return ", ".join(readable(jira_field, item) for item in value)
    return str(value)


def test_preview(rows: Sequence[Mapping[str, Any]], built: Any) -> list[tuple[str, str | None, str]]:
    """(Jira field name, the value the test issue gets or None when it is not sent, the builder's
    note on it) per mapping row."""
    notes = dict(built.notes)
    found = []
    for row in rows:
        fid = fields.field_id(row["field"])
        value = built.fields.get(fid)
        text = None if value is None else readable(row["field"], value)
        found.append((fields.field_name(row["field"]), text, notes.get(fid, "")))
    return found


def named(pairs: Any, rows: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """(field id, words) pairs with the field's name where a row knows it."""
    names = {fields.field_id(r["field"]): fields.field_name(r["field"]) for r in rows}
    items = pairs.items() if isinstance(pairs, Mapping) else pairs
    return [(names.get(str(fid), str(fid)), str(words)) for fid, words in items]


def field_summary(rows: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """(what fills it, Jira field name) per mapping row, for the Finish summary."""
    found = []
    for row in rows:
        source = fields.source_by_key(row["source"]) if row["source"] else None
        what = source.label if source is not None else "a fixed value" if not row["source"] else row["source"]
        found.append((what, fields.field_name(row["field"])))
    return found


# Within this many days of its expiry a secret's countdown turns to a warning.
EXPIRY_WARNING_DAYS = 14
# What "secret expires" says where there is no date, per auth type.
NO_EXPIRY_WORDS: dict[str, str] = {
    AuthType.OAUTH2: "renews itself",
    AuthType.OAUTH_SERVICE_ACCOUNT: "never (the client secret does not expire)",
    AuthType.SCOPED_TOKEN: "not known: enter the token's expiry date below to be reminded",
    AuthType.BASIC: "not known: enter the token's expiry date below to be reminded",
    AuthType.CONNECT: "never (the add-on's shared secret)",
}


def synced_words(connection: JiraConnection) -> str:
    """What syncs both ways, in words ("" when nothing does)."""
    kinds = [
        name
        for name, on in (
            ("status", connection.sync_status),
            ("priority", connection.sync_priority and connection.priority_two_way),
            ("comments", connection.sync_comments),
        )
        if on
    ]
    if not kinds:
        return ""
    text = ", ".join(kinds[:-1]) + (" and " if len(kinds) > 1 else "") + kinds[-1]
    return text[0].upper() + text[1:]


PRIORITY_CUSTOM_WORDS = (
    "Priority does not sync: the Jira project uses its own priorities, not Jira's default five, so "
    "they cannot be matched to Bugbridge's."
)


def _lag_words(lag_ms: int | None) -> str:
    if lag_ms is None:
        return ""
    return "under a second" if lag_ms < 1000 else f"{lag_ms / 1000:.1f} s"


def sync_card(connection: JiraConnection) -> dict[str, Any]:
    """The health card's two-way sync lines: how changes reach us, and how well they do."""
    synced = synced_words(connection)
    if not synced:
        channel, level = "Off: changes made in Jira do not come back (Reconfigure → Finish to turn it on)", ""
    elif connection.auth_type == AuthType.CONNECT:
        channel, level = "Webhooks of the add-on, with polling as a backstop", "ok"
    elif connection.webhook_kind and connection.webhook_ids:
        channel, level = "Webhooks, with polling as a backstop", "ok"
    elif connection.webhook_error:
        channel, level = connection.webhook_error, "warn"
    else:
        channel, level = (
            "Polling only: the identity may not register a Jira webhook, so changes arrive within "
            f"{max(1, settings.JIRA_RECONCILE_INTERVAL_S // 60)} minutes",
            "warn",
        )
    found = selectors.sync_health(connection=connection)
    return {
        "sync_synced": synced,
        "sync_channel": channel,
        "sync_channel_level": level,
        "sync_priority_words": PRIORITY_CUSTOM_WORDS
        if connection.project_id and not connection.priority_two_way
        else "",
        "sync_lag": _lag_words(found.lag_ms),
        "sync_rejected": found.rejected_today,
        "sync_errors": found.recent_errors,
        "reconcile_every_min": max(1, settings.JIRA_RECONCILE_INTERVAL_S // 60),
    }


WEBHOOK_WORDS: dict[str, str] = {
    "dynamic": "{n} registered by Bugbridge{until}",  # until: ", renewed before <their expiry>"
    "admin": "A Jira admin webhook, registered by Bugbridge and signed with this connection's secret",
}


def health(connection: JiraConnection) -> dict[str, Any]:
    """The health card's derived values (the rest are the connection's own fields)."""
    now = timezone.now()
    expires = connection.secret_expires_at
    if expires is None:
        level = ""
    elif expires <= now:
        level = "bad"
    else:
        level = "warn" if expires - now <= timedelta(days=EXPIRY_WARNING_DAYS) else "ok"
    if connection.auth_type == AuthType.CONNECT and connection.status != JiraConnection.Status.DISCONNECTED:
        webhooks = "The add-on's webhooks (from its descriptor)"
    elif connection.webhook_kind in WEBHOOK_WORDS and connection.webhook_ids:
        until = (
            f", renewed before {connection.webhook_expires_at:%d %b %Y}"
            if connection.webhook_expires_at
            else ""
        )
        webhooks = WEBHOOK_WORDS[connection.webhook_kind].format(n=len(connection.webhook_ids), until=until)
    else:
        webhooks = "None registered"
    return {
        **sync_card(connection),
        "now": now,
        "expiry_level": level,
        "expiry_words": NO_EXPIRY_WORDS.get(connection.auth_type, "—"),
        # OAuth 2.0's secret is the admin's consent, good for a year of refreshes.
        "expiry_label": "Sign-in expires" if connection.auth_type == AuthType.OAUTH2 else "Secret expires",
        "webhook_words": webhooks,
        "forwarded": selectors.forwarded_count(connection=connection),
        "waiting": selectors.waiting_count(connection=connection),
        "quota_paused": connection.paused_until
        if connection.paused_until and connection.paused_until > now
        else None,
    }
