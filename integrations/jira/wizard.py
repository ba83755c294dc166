"""What the Jira wizard keeps in the session until the admin saves: one draft connection per app,
and the OAuth `state` values of sign-ins under way.

A draft is an unsaved `JiraConnection`. Its secrets are stored in the session encrypted (the
session row itself is only signed), and it never reaches a form or a page. A draft made by
Reconfigure carries the saved row's id: its credentials are the row's, renewed through the row.

An OAuth `state` is random, bound to this session and to one draft, good once, for 10 minutes
(API-NOTES §1a: "required for security"). A sign-in the browser never came back from (the admin
was stopped on Atlassian's "Your site admin must authorize this app" page) shows as a pending
state on the wizard, which then explains the site admin's path.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.sessions.backends.base import SessionBase
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from ..encryption import decrypt, encrypt
from ..models import JiraConnection

DRAFTS = "jira_drafts"
STATES = "jira_oauth_states"
STATE_TTL = timedelta(minutes=10)
# The model's fields by attribute name: a draft's values go back through their own types.
_FIELDS = {field.attname: field for field in JiraConnection._meta.concrete_fields}


@dataclass(frozen=True)
class PendingSignIn:
    """An OAuth sign-in sent to Atlassian that has not come back (yet)."""

    state: str
    draft_id: str
    started_at: datetime


# ---------------------------------------------------------------------------------------------
# Drafts
# ---------------------------------------------------------------------------------------------


def draft_save(
    session: SessionBase, app_id: int, connection: JiraConnection, *, extra: dict[str, Any] | None = None
) -> str:
    """Keep this unsaved connection as the app's draft; its id (new unless `extra` keeps one)."""
    drafts = dict(session.get(DRAFTS, {}))
    previous = drafts.get(str(app_id), {})
    stored: dict[str, Any] = {name: _plain(getattr(connection, name)) for name in JiraConnection.CARRIED}
    stored["credentials"] = encrypt(connection.credentials) if connection.credentials else ""
    # A Reconfigure draft is the saved row's pending changes: it keeps the row's id, so its token
    # renewals go through the row (one refresh token family, never forked by the session copy).
    stored["connection_id"] = connection.pk
    stored["id"] = (extra or {}).get("id") or previous.get("id") or secrets.token_urlsafe(12)
    stored["extra"] = {k: v for k, v in (extra or {}).items() if k != "id"}
    drafts[str(app_id)] = stored
    session[DRAFTS] = drafts
    return str(stored["id"])


def draft_load(
    session: SessionBase, app_id: int, app: Any
) -> tuple[JiraConnection, str, dict[str, Any]] | None:
    """The app's draft as an unsaved connection, its id and its extra data (None without one)."""
    stored = session.get(DRAFTS, {}).get(str(app_id))
    if not stored:
        return None
    connection = JiraConnection(app=app)
    for name in JiraConnection.CARRIED:
        field, value = _FIELDS[name], stored.get(name)
        # None is the field's own empty value ("" for text, {} for the status map, None for dates).
        setattr(connection, name, field.get_default() if value is None else field.to_python(value))
    connection.credentials = decrypt(stored["credentials"]) if stored.get("credentials") else ""
    if stored.get("connection_id"):
        connection.pk = int(stored["connection_id"])
    return connection, str(stored["id"]), dict(stored.get("extra") or {})


def draft_new_id(session: SessionBase, app_id: int) -> str:
    """The id of the app's draft, starting an empty one when there is none."""
    stored = session.get(DRAFTS, {}).get(str(app_id))
    if stored:
        return str(stored["id"])
    drafts = dict(session.get(DRAFTS, {}))
    drafts[str(app_id)] = {"id": secrets.token_urlsafe(12), "credentials": "", "extra": {}}
    session[DRAFTS] = drafts
    return str(drafts[str(app_id)]["id"])


def draft_discard(session: SessionBase, app_id: int) -> None:
    drafts = dict(session.get(DRAFTS, {}))
    if drafts.pop(str(app_id), None) is not None:
        session[DRAFTS] = drafts


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


# ---------------------------------------------------------------------------------------------
# OAuth states
# ---------------------------------------------------------------------------------------------


def state_issue(session: SessionBase, app_id: int, draft_id: str) -> str:
    """A new single-use state for a sign-in of this app's draft (expired ones are dropped)."""
    states = _live_states(session)
    state = secrets.token_urlsafe(32)
    states[state] = {"app": app_id, "draft": draft_id, "at": timezone.now().isoformat()}
    session[STATES] = states
    return state


def state_take(session: SessionBase, state: str) -> tuple[int, str] | None:
    """(app id, draft id) for a state issued to this session, spent by this call; None for an
    unknown, used or expired one."""
    states = _live_states(session)
    found = states.pop(state, None) if state else None
    session[STATES] = states
    if found is None:
        return None
    return int(found["app"]), str(found["draft"])


def pending_sign_in(session: SessionBase, app_id: int) -> PendingSignIn | None:
    """The newest sign-in of this app still waiting for Atlassian's redirect."""
    waiting = [
        PendingSignIn(state=state, draft_id=str(entry["draft"]), started_at=_at(entry))
        for state, entry in _live_states(session).items()
        if entry.get("app") == app_id
    ]
    return max(waiting, key=lambda p: p.started_at) if waiting else None


def _live_states(session: SessionBase) -> dict[str, dict[str, Any]]:
    oldest = timezone.now() - STATE_TTL
    return {state: entry for state, entry in dict(session.get(STATES, {})).items() if _at(entry) > oldest}


def _at(entry: dict[str, Any]) -> datetime:
    parsed = parse_datetime(str(entry.get("at", "")))
    return parsed if parsed is not None else timezone.now() - STATE_TTL * 2


# ---------------------------------------------------------------------------------------------
# The steps' state beside the draft: mapping rows, test outcome, revision
# ---------------------------------------------------------------------------------------------

# Set up's mapping rows (jira.mapping's shape), kept until Finish.
MAPPINGS = "mappings"
# The Test step's outcome (services.jira_draft_test), cleared when Set up changes.
TEST = "test"
# Bumped by every Set up save, and carried by the Finish form: a Finish posted from a tab that
# showed an older Set up is refused instead of saving what the admin did not see.
REVISION = "revision"


def draft_extra_update(session: SessionBase, app_id: int, **changes: Any) -> None:
    """Change some of the draft's extra data, keeping the rest (no-op without a draft)."""
    drafts = dict(session.get(DRAFTS, {}))
    stored = drafts.get(str(app_id))
    if not stored:
        return
    drafts[str(app_id)] = {**stored, "extra": {**dict(stored.get("extra") or {}), **changes}}
    session[DRAFTS] = drafts
