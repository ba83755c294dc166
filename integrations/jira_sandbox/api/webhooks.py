"""Webhook registration: dynamic webhooks for apps (`/rest/api/3/webhook`, API-NOTES §2.1) and
admin webhooks (`/rest/webhooks/1.0/webhook`, §2.2). Delivery lives in events.py and delivery.py.

Dynamic webhooks belong to the calling app — a 3LO app (its OAuth client) or a Connect install —
and only apps may call these endpoints; a user's token gets 403. Each app has one callback URL
per site, registrations expire after 30 days unless refreshed, and `jqlFilter` is limited to
the subset jql.webhook_filter_errors checks. Admin webhooks are for site administrators, never
expire, take any JQL, and may carry a secret (X-Hub-Signature), never shown again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.http import HttpResponse
from django.urls import path
from django.utils import timezone

from ..models import Delivery, Webhook
from ..pipeline import WEBHOOK, Ctx, Route, endpoint
from ..responses import ApiError, bad_request, error_collection, forbidden, jira_json
from ..services import allocate

DYNAMIC_TTL = timedelta(days=30)
# SPEC's enum for POST /webhook (sprint_* and jira:version_* are unverified, API-NOTES §2.1).
DYNAMIC_EVENTS = (
    "jira:issue_created",
    "jira:issue_updated",
    "jira:issue_deleted",
    "comment_created",
    "comment_updated",
    "comment_deleted",
    "issue_property_set",
    "issue_property_deleted",
)
FAILED_KEPT = timedelta(hours=72)
NOT_AN_APP = "Only Connect and OAuth 2.0 apps can use this resource."
NOT_CONNECT = "Only Connect apps can use this resource."
JQL_SECTION = "issue-related-events-section"
ADMIN_BASE = "/rest/webhooks/1.0/webhook"


def epoch_ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def _from_epoch_ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, tz=UTC)


def _valid_http_url(url: Any) -> bool:
    if not isinstance(url, str) or len(url) > 500:
        return False
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _is_string_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _id_list(ctx: Ctx) -> list[int]:
    ids = ctx.body_object().get("webhookIds")
    if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise bad_request(["The list of webhook IDs is required (webhookIds)."])
    return ids


# ---------------------------------------------------------------------------------------------
# Dynamic webhooks: /rest/api/3/webhook
# ---------------------------------------------------------------------------------------------

# Identity kind → which registrations are the caller's (and what a new one is).
_APP_OWNERS: dict[str, Callable[[Any], dict[str, Any]]] = {
    "oauth_3lo": lambda identity: {"kind": Webhook.Kind.DYNAMIC, "app": identity.app},
    "connect": lambda identity: {"kind": Webhook.Kind.CONNECT, "connect_install": identity.connect_install},
}


def _owner(ctx: Ctx) -> dict[str, Any]:
    owner = _APP_OWNERS.get(ctx.identity.kind)
    if owner is None:
        raise forbidden(NOT_AN_APP)
    return owner(ctx.identity)


def _apps_hooks(ctx: Ctx, owner: dict[str, Any]) -> Any:
    # REST-registered ones only: a Connect app's descriptor webhooks never expire and are not listed.
    return Webhook.objects.filter(site=ctx.site, expires_at__isnull=False, **owner).order_by("webhook_id")


def _callback_url(ctx: Ctx, owner: dict[str, Any], raw: Any) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise bad_request(["The webhook URL is required (url)."])
    install = owner.get("connect_install")
    url = raw.strip()
    if install is not None and url.startswith("/"):
        url = install.base_url.rstrip("/") + url
    if not _valid_http_url(url):
        raise bad_request([f"The webhook URL '{raw}' is not a valid absolute http(s) URL."])
    if install is not None and not (url + "/").startswith(install.base_url.rstrip("/") + "/"):
        raise bad_request([f"The webhook URL must use the app's base URL ({install.base_url})."])
    return url


def _entry_errors(entry: Any, conflict: str | None) -> list[str]:
    """Why one `webhooks[]` entry cannot be registered (empty when it can)."""
    if not isinstance(entry, dict):
        return ["The webhook details must be a JSON object."]
    errors: list[str] = []
    events = entry.get("events")
    if not _is_string_list(events) or not events:
        errors.append("At least one event is required (events).")
    else:
        errors += [
            f"The event '{event}' is not supported." for event in events if event not in DYNAMIC_EVENTS
        ]
    jql_text = entry.get("jqlFilter")
    if not isinstance(jql_text, str) or not jql_text.strip():
        errors.append("The JQL filter is required (jqlFilter).")
    else:
        from .. import jql  # written alongside; imported late

        errors += list(jql.webhook_filter_errors(jql_text))
    for key in ("fieldIdsFilter", "issuePropertyKeysFilter"):
        if key in entry and entry[key] is not None and not _is_string_list(entry[key]):
            errors.append(f"{key} must be a list of strings.")
    if conflict:
        errors.append(f"Only one webhook URL is allowed per app; this app already uses {conflict}.")
    return errors


def _register(ctx: Ctx) -> dict[str, Any]:
    owner = _owner(ctx)
    body = ctx.body_object()
    url = _callback_url(ctx, owner, body.get("url"))
    entries = body.get("webhooks")
    if not isinstance(entries, list):
        raise bad_request(["The list of webhooks is required (webhooks)."])
    now = timezone.now()
    in_use = set(_apps_hooks(ctx, owner).filter(expires_at__gt=now).values_list("url", flat=True))
    conflict = next(iter(sorted(in_use)), None) if in_use and url not in in_use else None
    results: list[dict[str, Any]] = []
    for entry in entries:
        errors = _entry_errors(entry, conflict)
        if errors:
            results.append({"errors": errors})
            continue
        hook = Webhook.objects.create(
            site=ctx.site,
            webhook_id=allocate(ctx.site, "next_webhook_id"),
            registered_by=ctx.account,
            url=url,
            events=list(dict.fromkeys(entry["events"])),
            jql_filter=entry["jqlFilter"].strip(),
            field_ids_filter=list(entry.get("fieldIdsFilter") or []),
            expires_at=now + DYNAMIC_TTL,
            **owner,
        )
        results.append({"createdWebhookId": hook.webhook_id})
    return {"webhookRegistrationResult": results}


def _dynamic_json(hook: Webhook) -> dict[str, Any]:
    data: dict[str, Any] = {"id": hook.webhook_id, "events": hook.events, "jqlFilter": hook.jql_filter}
    if hook.field_ids_filter:
        data["fieldIdsFilter"] = hook.field_ids_filter
    data["expirationDate"] = epoch_ms(hook.expires_at)  # REST-registered: always set
    data["url"] = hook.url
    return data


def _list(ctx: Ctx) -> dict[str, Any]:
    hooks = _apps_hooks(ctx, _owner(ctx))
    start = ctx.query_int("startAt", 0)
    max_results = ctx.query_int("maxResults", 100, minimum=1, maximum=100)
    total = hooks.count()
    page = list(hooks[start : start + max_results])
    is_last = start + len(page) >= total
    data: dict[str, Any] = {
        "isLast": is_last,
        "maxResults": max_results,
        "startAt": start,
        "total": total,
        "values": [_dynamic_json(h) for h in page],
    }
    if not is_last:
        data["nextPage"] = (
            f"{ctx.base}/rest/api/3/webhook?startAt={start + len(page)}&maxResults={max_results}"
        )
    return data


def _delete(ctx: Ctx) -> HttpResponse:
    owner = _owner(ctx)
    # Ids of other apps' registrations are silently ignored, as on Jira.
    _apps_hooks(ctx, owner).filter(webhook_id__in=_id_list(ctx)).delete()
    return HttpResponse(status=202)


def _refresh(ctx: Ctx) -> dict[str, Any]:
    owner = _owner(ctx)
    expires = timezone.now() + DYNAMIC_TTL
    _apps_hooks(ctx, owner).filter(webhook_id__in=_id_list(ctx)).update(expires_at=expires)
    return {"expirationDate": epoch_ms(expires)}


def _failed(ctx: Ctx) -> dict[str, Any]:
    if ctx.identity.kind != "connect":
        raise forbidden(NOT_CONNECT)
    max_results = ctx.query_int("maxResults", 100, minimum=1, maximum=100)
    after = ctx.query_int("after", 0)
    # Failures are kept about 72 h; `after` is in whole milliseconds, like failureTime.
    since = max(_from_epoch_ms(after + 1), timezone.now() - FAILED_KEPT)
    rows = list(
        Delivery.objects.filter(
            site=ctx.site,
            state=Delivery.State.FAILED,
            webhook__connect_install=ctx.identity.connect_install,
            next_attempt_at__gte=since,
        ).order_by("next_attempt_at", "pk")[: max_results + 200]
    )
    page = rows[:max_results]
    # Never split failures of the same millisecond across pages (the spec's rule).
    while page and len(page) < len(rows) and _failure_ms(rows[len(page)]) == _failure_ms(page[-1]):
        page.append(rows[len(page)])
    data: dict[str, Any] = {"values": [_failed_json(row) for row in page], "maxResults": max_results}
    if page:
        data["next"] = (
            f"{ctx.base}/rest/api/3/webhook/failed?after={_failure_ms(page[-1])}&maxResults={max_results}"
        )
    return data


def _failure_ms(row: Delivery) -> int:
    return epoch_ms(row.next_attempt_at)  # FAILED rows keep their failure time there (delivery.py)


def _failed_json(row: Delivery) -> dict[str, Any]:
    data: dict[str, Any] = {"id": row.identifier}
    if row.payload:
        data["body"] = row.payload
    data["url"] = row.url
    data["failureTime"] = _failure_ms(row)
    return data


webhooks = endpoint(
    {
        "GET": Route(_list, scopes=WEBHOOK),
        "POST": Route(_register, scopes=WEBHOOK),
        "DELETE": Route(_delete, scopes=WEBHOOK),
    },
    name="/webhook",
)
webhooks_refresh = endpoint({"PUT": Route(_refresh, scopes=WEBHOOK)}, name="/webhook/refresh")
webhooks_failed = endpoint({"GET": Route(_failed, scopes=WEBHOOK)}, name="/webhook/failed")

urlpatterns = [
    path("webhook", webhooks, name="webhook"),
    path("webhook/refresh", webhooks_refresh, name="webhook_refresh"),
    path("webhook/failed", webhooks_failed, name="webhook_failed"),
]


# ---------------------------------------------------------------------------------------------
# Admin webhooks: /rest/webhooks/1.0/webhook
# ---------------------------------------------------------------------------------------------


def _admin_json(ctx: Ctx, hook: Webhook) -> dict[str, Any]:
    """The registration as Jira echoes it; the secret itself never comes back, only `isSigned`."""
    data: dict[str, Any] = {
        "self": f"{ctx.base}{ADMIN_BASE}/{hook.webhook_id}",
        "name": hook.name,
        "url": hook.url,
        "excludeBody": hook.exclude_body,
        "filters": {JQL_SECTION: hook.jql_filter},
        "events": hook.events,
        "enabled": hook.enabled,
        "isSigned": bool(hook.secret),
        # The model keeps one timestamp and one user: those of the last change to the registration.
        "lastUpdated": epoch_ms(hook.created),
    }
    if hook.description:
        data["description"] = hook.description
    if hook.registered_by is not None:
        data["lastUpdatedUser"] = hook.registered_by.account_id
        data["lastUpdatedDisplayName"] = hook.registered_by.display_name
    return data


# Body key → (model attribute, validity check, message when invalid).
_ADMIN_FIELDS: dict[str, tuple[str, Callable[[Any], bool], str]] = {
    "name": ("name", lambda v: isinstance(v, str) and 0 < len(v.strip()) <= 255, "A name is required."),
    "description": ("description", lambda v: isinstance(v, str), "The description must be a string."),
    "url": ("url", _valid_http_url, "A valid absolute http(s) URL is required."),
    "events": ("events", _is_string_list, "The events must be a list of event names."),
    "excludeBody": ("exclude_body", lambda v: isinstance(v, bool), "excludeBody must be true or false."),
    "enabled": ("enabled", lambda v: isinstance(v, bool), "enabled must be true or false."),
    "secret": ("secret", lambda v: v is None or (isinstance(v, str) and len(v) <= 255), "Invalid secret."),
}
_ADMIN_REQUIRED = ("name", "url")


def _apply_admin_body(ctx: Ctx, hook: Webhook, body: dict[str, Any], *, creating: bool) -> None:
    errors: dict[str, str] = {}
    for key in _ADMIN_REQUIRED:
        if creating and key not in body:
            errors[key] = _ADMIN_FIELDS[key][2]
    for key, (attribute, valid, message) in _ADMIN_FIELDS.items():
        if key in body:
            if valid(body[key]):
                setattr(hook, attribute, body[key] if body[key] is not None else "")
            else:
                errors[key] = message
    if "filters" in body:
        filters = body["filters"]
        if isinstance(filters, dict) and isinstance(filters.get(JQL_SECTION) or "", str):
            hook.jql_filter = (filters.get(JQL_SECTION) or "").strip()
        else:
            errors["filters"] = f'filters must be an object with a "{JQL_SECTION}" JQL string.'
    if errors:
        raise ApiError(error_collection(400, [], errors))
    hook.name = hook.name.strip()
    hook.registered_by = ctx.account
    hook.created = timezone.now()


def _admin_list(ctx: Ctx) -> list[dict[str, Any]]:
    hooks = Webhook.objects.filter(site=ctx.site, kind=Webhook.Kind.ADMIN).select_related("registered_by")
    return [_admin_json(ctx, hook) for hook in hooks]


def _admin_create(ctx: Ctx) -> HttpResponse:
    body = ctx.body_object()
    hook = Webhook(site=ctx.site, kind=Webhook.Kind.ADMIN)
    _apply_admin_body(ctx, hook, body, creating=True)  # validates before an id is taken
    hook.webhook_id = allocate(ctx.site, "next_webhook_id")
    hook.save()
    return jira_json(_admin_json(ctx, hook), status=201)


def _admin_hook(ctx: Ctx, webhook_id: int) -> Webhook:
    hook = (
        Webhook.objects.select_for_update(of=("self",))
        .filter(site=ctx.site, kind=Webhook.Kind.ADMIN, webhook_id=webhook_id)
        .select_related("registered_by")
        .first()
    )
    if hook is None:
        raise ApiError(error_collection(404, [f"No webhook with id {webhook_id}."]))
    return hook


def _admin_get(ctx: Ctx, webhook_id: int) -> dict[str, Any]:
    return _admin_json(ctx, _admin_hook(ctx, webhook_id))


def _admin_update(ctx: Ctx, webhook_id: int) -> dict[str, Any]:
    hook = _admin_hook(ctx, webhook_id)
    _apply_admin_body(ctx, hook, ctx.body_object(), creating=False)
    hook.save()
    return _admin_json(ctx, hook)


def _admin_delete(ctx: Ctx, webhook_id: int) -> HttpResponse:
    _admin_hook(ctx, webhook_id).delete()
    return HttpResponse(status=204)


admin_webhooks = endpoint(
    {
        "GET": Route(_admin_list, scopes=WEBHOOK, admin=True),
        "POST": Route(_admin_create, scopes=WEBHOOK, admin=True),
    },
    name=ADMIN_BASE,
)
admin_webhook = endpoint(
    {
        "GET": Route(_admin_get, scopes=WEBHOOK, admin=True),
        "PUT": Route(_admin_update, scopes=WEBHOOK, admin=True),
        "DELETE": Route(_admin_delete, scopes=WEBHOOK, admin=True),
    },
    name=ADMIN_BASE + "/{id}",
)

admin_patterns = [
    path("webhook", admin_webhooks, name="admin_webhooks"),
    path("webhook/<int:webhook_id>", admin_webhook, name="admin_webhook"),
]
