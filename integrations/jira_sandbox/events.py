"""Jira events → webhook deliveries. Called by every mutation (API and the sandbox's own UI),
inside the mutation's transaction; deliveries are sent after the causing call has answered.

Interface:
- issue_created(issue, actor)
- issue_updated(issue, actor, changelog=None, *, event_type_name="issue_generic", comment=None)
- issue_deleted(issue, actor)          call BEFORE the issue row is deleted
- comment_created(comment, actor)
- comment_updated(comment, actor)
- comment_deleted(comment, actor)      call BEFORE the comment row is deleted

Each call finds the registrations the event matches (site, enabled, not expired, event, JQL
filter, fieldIdsFilter), builds Jira's v2-style payload once (API-NOTES §2.4) and records one
`Delivery` per target in the caller's transaction; `delivery.schedule` sends them after commit.
Nothing is built when nothing matches, so a site without webhooks pays one query per event.

REST-registered webhooks of one app share its single callback URL, so, as on Jira, one event
makes ONE delivery per (app, URL) listing every matched registration in `matchedWebhookIds`; the
delivery row points at the lowest-numbered of them (it carries the app's signing secret).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from . import delivery, metacache
from .models import Account, ChangelogEntry, Comment, Delivery, Issue, Site, Webhook
from .serializers import comment_json, issue_json, user_json

logger = logging.getLogger(__name__)

PRIMARY = "Primary"
SECONDARY = "Secondary"  # fallout of another event, e.g. the comments of a deleted issue

# The trimmed issue of comment events (API-NOTES §2.4).
COMMENT_ISSUE_FIELDS = ("summary", "issuetype", "project", "assignee", "priority", "status")
# GET issue's `*all` minus what webhook bodies leave out.
ISSUE_FIELDS_EXCLUDED = ("-comment", "-attachment")


# ---------------------------------------------------------------------------------------------
# The interface the mutations call
# ---------------------------------------------------------------------------------------------


def issue_created(issue: Issue, actor: Account | None) -> None:
    """`jira:issue_created` for a new issue (no changelog)."""
    _issue_event("jira:issue_created", issue, actor, type_name="issue_created")


def issue_updated(
    issue: Issue,
    actor: Account | None,
    changelog: ChangelogEntry | None = None,
    *,
    event_type_name: str = "issue_generic",
    comment: Comment | None = None,
) -> None:
    """`jira:issue_updated`: a field change (with its changelog) or a comment (`issue_commented`,
    carrying `comment`), which Jira raises in addition to the comment event."""
    _issue_event(
        "jira:issue_updated", issue, actor, type_name=event_type_name, changelog=changelog, comment=comment
    )


def issue_deleted(issue: Issue, actor: Account | None) -> None:
    """`jira:issue_deleted` with the issue as it stood, then its comments' `comment_deleted`
    as Secondary-flow fallout. Call before deleting the row: filters are evaluated on it."""
    _issue_event("jira:issue_deleted", issue, actor, type_name="issue_deleted")
    targets = matching_webhooks(issue.site, "comment_deleted", issue)
    if targets:
        for comment in issue.comments.select_related("author", "update_author"):
            _comment_event("comment_deleted", comment, targets=targets, flow=SECONDARY)


def comment_created(comment: Comment, actor: Account | None) -> None:
    """`comment_created` (the caller also raises `issue_updated(..., event_type_name="issue_commented")`)."""
    _comment_event("comment_created", comment)


def comment_updated(comment: Comment, actor: Account | None) -> None:
    """`comment_updated`."""
    _comment_event("comment_updated", comment)


def comment_deleted(comment: Comment, actor: Account | None) -> None:
    """`comment_deleted`; call before deleting the row."""
    _comment_event("comment_deleted", comment)


# ---------------------------------------------------------------------------------------------
# Matching
# ---------------------------------------------------------------------------------------------


def matching_webhooks(
    site: Site, event: str, issue: Issue, changelog: ChangelogEntry | None = None
) -> list[Webhook]:
    """The site's registrations this event reaches: enabled, not expired, subscribed to the event,
    changelog touching a `fieldIdsFilter` field (issue updates only), and the JQL filter."""
    if not metacache.has_webhooks(site):
        return []  # known per site and metadata stamp: a site without registrations pays no query
    candidates = (
        Webhook.objects.filter(site=site, enabled=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()))
        .select_related("app", "connect_install")
    )
    return [
        hook
        for hook in candidates
        if event in (hook.events or [])
        and _install_live(hook)
        and _fields_match(hook, event, changelog)
        and _jql_match(hook, issue)
    ]


def _install_live(hook: Webhook) -> bool:
    install = hook.connect_install
    return hook.kind != Webhook.Kind.CONNECT or (install is not None and install.uninstalled_at is None)


def _fields_match(hook: Webhook, event: str, changelog: ChangelogEntry | None) -> bool:
    # The filter narrows jira:issue_updated only; an update without a changelog (a comment) touches
    # no field, so a filtered registration does not hear it.
    if event != "jira:issue_updated" or not hook.field_ids_filter:
        return True
    touched = {item.get("fieldId") or item.get("field") for item in (changelog.items if changelog else [])}
    return bool(touched & set(hook.field_ids_filter))


def _jql_match(hook: Webhook, issue: Issue) -> bool:
    text = (hook.jql_filter or "").strip()
    if not text:
        return True
    from . import jql  # written alongside; imported late so events stays importable on its own

    try:
        return bool(jql.matches(issue, text))
    except Exception:  # a broken stored filter must not break the mutation that raised the event
        logger.warning(
            "jira_sandbox.webhook.filter_failed", extra={"webhook_id": hook.webhook_id, "site": issue.site_id}
        )
        return False


def is_rest_registered(hook: Webhook) -> bool:
    """Registered through `POST /rest/api/3/webhook` (3LO or Connect): those expire and their
    payloads list `matchedWebhookIds`; admin and descriptor webhooks do neither."""
    return hook.kind == Webhook.Kind.DYNAMIC or (
        hook.kind == Webhook.Kind.CONNECT and hook.expires_at is not None
    )


# ---------------------------------------------------------------------------------------------
# Payloads (v2 representation: /rest/api/2 links, plain-text bodies)
# ---------------------------------------------------------------------------------------------


def site_url(site: Site) -> str:
    """The site's public base, as Jira puts it in webhook `self` links."""
    return f"{settings.SITE_URL}{settings.JIRA_SANDBOX_PREFIX}/site/{site.name}"


def epoch_ms() -> int:
    return int(time.time() * 1000)


def actor_json(actor: Account, base: str) -> dict[str, Any]:
    """The acting user as webhooks show it: no email, locale, groups or application roles."""
    return v2(user_json(actor, base, with_email=False), base)


def issue_payload(issue: Issue, base: str) -> dict[str, Any]:
    """The issue as GET issue gives it (no expand), in the v2 representation."""
    data = issue_json(issue, base, fields=["*all", *ISSUE_FIELDS_EXCLUDED])
    data.pop("expand", None)
    return v2(data, base)


def trimmed_issue_payload(issue: Issue, base: str) -> dict[str, Any]:
    """The issue of comment events: id, key, self and a handful of fields."""
    data = issue_json(issue, base, fields=list(COMMENT_ISSUE_FIELDS))
    return v2({"id": data["id"], "key": data["key"], "self": data["self"], "fields": data["fields"]}, base)


def comment_payload(comment: Comment, base: str) -> dict[str, Any]:
    return v2(comment_json(comment, base), base)


def v2(value: Any, base: str) -> Any:
    """Rewrite a v3 structure as v2: ADF documents become plain text, `/rest/api/3/` links `/2/`."""
    v3_prefix, v2_prefix = f"{base}/rest/api/3/", f"{base}/rest/api/2/"
    if isinstance(value, dict):
        if value.get("type") == "doc" and isinstance(value.get("content"), list):
            return adf_to_text(value)
        return {key: v2(item, base) for key, item in value.items()}
    if isinstance(value, list):
        return [v2(item, base) for item in value]
    if isinstance(value, str) and value.startswith(v3_prefix):
        return v2_prefix + value[len(v3_prefix) :]
    return value


# ADF node → how it reads as text: block nodes end a line, inline nodes give their text.
_INLINE_TEXT: dict[str, Callable[[dict[str, Any]], str]] = {
    "text": lambda node: str(node.get("text", "")),
    "hardBreak": lambda node: "\n",
    "mention": lambda node: str(node.get("attrs", {}).get("text", "")),
    "emoji": lambda node: str(
        node.get("attrs", {}).get("text") or node.get("attrs", {}).get("shortName", "")
    ),
    "inlineCard": lambda node: str(node.get("attrs", {}).get("url", "")),
    "date": lambda node: str(node.get("attrs", {}).get("timestamp", "")),
    "status": lambda node: str(node.get("attrs", {}).get("text", "")),
}
_LIST_MARK = {"bulletList": "* ", "orderedList": "# "}


def adf_to_text(document: dict[str, Any]) -> str:
    """Flatten an ADF document to the plain text a v2 body shows: blocks separated by a blank
    line, list items on their own lines (wiki-style `*` / `#` marks)."""
    return "\n\n".join(block for block in (_block_text(n) for n in document.get("content", [])) if block)


def _block_text(node: dict[str, Any], mark: str = "") -> str:
    kind = node.get("type", "")
    if kind in _INLINE_TEXT:
        return _INLINE_TEXT[kind](node)
    children = node.get("content", []) or []
    if kind in _LIST_MARK:
        return "\n".join(_block_text(item, _LIST_MARK[kind]) for item in children)
    if kind == "listItem":
        return "\n".join(mark + _block_text(child) for child in children)
    if kind == "paragraph" or kind == "heading" or kind == "codeBlock":
        return "".join(_block_text(child) for child in children)
    return "\n".join(text for text in (_block_text(child) for child in children) if text)


# ---------------------------------------------------------------------------------------------
# Events → deliveries
# ---------------------------------------------------------------------------------------------


def _issue_event(
    event: str,
    issue: Issue,
    actor: Account | None,
    *,
    type_name: str,
    changelog: ChangelogEntry | None = None,
    comment: Comment | None = None,
) -> None:
    targets = matching_webhooks(issue.site, event, issue, changelog)
    if not targets:
        return
    base = site_url(issue.site)
    payload: dict[str, Any] = {
        "timestamp": epoch_ms(),
        "webhookEvent": event,
        "issue_event_type_name": type_name,
    }
    if actor is not None:
        payload["user"] = actor_json(actor, base)
    payload["issue"] = issue_payload(issue, base)
    if changelog is not None:
        payload["changelog"] = {"id": str(changelog.changelog_id), "items": changelog.items}
    if comment is not None:
        payload["comment"] = comment_payload(comment, base)
    record(issue.site, event, payload, targets, context={"issue": issue, "comment": comment})


def _comment_event(
    event: str, comment: Comment, *, targets: list[Webhook] | None = None, flow: str = PRIMARY
) -> None:
    issue = comment.issue
    if targets is None:
        targets = matching_webhooks(issue.site, event, issue)
    if not targets:
        return
    base = site_url(issue.site)
    payload = {
        "timestamp": epoch_ms(),
        "webhookEvent": event,
        "comment": comment_payload(comment, base),
        "issue": trimmed_issue_payload(issue, base),
    }
    record(issue.site, event, payload, targets, flow=flow, context={"issue": issue, "comment": comment})


# Admin webhook URLs may carry variables Jira fills in per event (`…/hook/${issue.key}`).
_URL_VARIABLES: dict[str, Callable[[dict[str, Any]], Any]] = {
    "${issue.id}": lambda c: c["issue"].issue_id if c.get("issue") else None,
    "${issue.key}": lambda c: c["issue"].key if c.get("issue") else None,
    "${project.id}": lambda c: c["issue"].project.project_id if c.get("issue") else None,
    "${project.key}": lambda c: c["issue"].project.key if c.get("issue") else None,
    "${comment.id}": lambda c: c["comment"].comment_id if c.get("comment") else None,
}


def target_url(hook: Webhook, context: dict[str, Any]) -> str:
    """Where this registration's delivery goes: Connect URLs are relative to the app's baseUrl."""
    url = hook.url
    if hook.kind == Webhook.Kind.CONNECT and url.startswith("/") and hook.connect_install is not None:
        url = hook.connect_install.base_url.rstrip("/") + url
    for variable, value_of in _URL_VARIABLES.items():
        if variable in url:
            value = value_of(context)
            url = url.replace(variable, "" if value is None else str(value))
    return url


def _groups(targets: Iterable[Webhook]) -> list[list[Webhook]]:
    """One delivery per admin/descriptor registration; one per (app, URL) for REST-registered ones."""
    grouped: dict[tuple[Any, ...], list[Webhook]] = {}
    for hook in sorted(targets, key=lambda h: h.webhook_id):
        key: tuple[Any, ...] = (
            (hook.kind, hook.app_id, hook.connect_install_id, hook.url)
            if is_rest_registered(hook)
            else ("single", hook.pk)
        )
        grouped.setdefault(key, []).append(hook)
    return list(grouped.values())


def new_identifier() -> str:
    """X-Atlassian-Webhook-Identifier: fresh per delivery, kept across retries and duplicates."""
    return str(uuid.uuid4())


def record(
    site: Site,
    event: str,
    payload: dict[str, Any],
    targets: list[Webhook],
    *,
    flow: str = PRIMARY,
    context: dict[str, Any] | None = None,
) -> list[int]:
    """Store one Delivery per target group (in the caller's transaction) and schedule the sending."""
    ids = []
    for group in _groups(targets):
        hook = group[0]
        body = dict(payload)
        if is_rest_registered(hook):
            body["matchedWebhookIds"] = [h.webhook_id for h in group]
        row = Delivery.objects.create(
            site=site,
            webhook=hook,
            identifier=new_identifier(),
            event=event,
            flow=flow,
            url=target_url(hook, context or {}),
            # The bytes that will be sent (and signed): compact JSON, or nothing for excludeBody.
            payload="" if hook.exclude_body else json.dumps(body, separators=(",", ":")),
        )
        ids.append(row.pk)
    delivery.schedule(ids)
    return ids
