"""Jira's webhook deliveries, from the request to the sync services.

The request side (`delivery_record`) only records and enqueues: one row per (site, identifier),
so a retry or a duplicate is answered 200 and dropped, and the sync work runs in the worker
(`delivery_process`), where a slow Jira call never holds up Jira's delivery.

What each event does is a table (`HANDLERS`); an event not in it is recorded as ignored.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connections, transaction
from django.db.models import QuerySet
from django.utils import timezone

from . import sync
from .encryption import CredentialsUnreadable
from .jira.webhooks import Delivery, SignatureError, delivery_of
from .models import IssueLink, JiraConnection, WebhookDelivery

logger = logging.getLogger(__name__)

# Events we register for; `jira:issue_created` comes with Connect's descriptor and admin
# webhooks but says nothing sync needs (the issues we link we created or were given).
SYNC_EVENTS = (
    "jira:issue_updated",
    "jira:issue_deleted",
    "comment_created",
    "comment_updated",
    "comment_deleted",
)
# How long rejected attempts and handled deliveries are kept (the health card reads the recent).
KEEP = timedelta(days=14)


def identifier_of(header: str | None, body: bytes) -> str:
    """X-Atlassian-Webhook-Identifier, or (a sender that omits it) a hash of the body, so the
    same bytes twice are still one delivery."""
    value = (header or "").strip()[:255]
    return value or "sha256:" + hashlib.sha256(body).hexdigest()


def delivery_reject(*, kind: str, site: str, reason: str) -> None:
    """Record a delivery whose signature did not hold (answered 401)."""
    WebhookDelivery.objects.create(
        site=site[:255],
        identifier="",
        kind=kind,
        outcome=WebhookDelivery.Outcome.REJECTED,
        note=reason[:500],
        processed_at=timezone.now(),
    )
    logger.warning("jira.webhook.rejected", extra={"kind": kind, "site": site, "reason": reason})


def payload_kept(data: dict[str, Any]) -> dict[str, Any]:
    """What is stored of a delivery's body: what the handlers read (see `delivery_of`), with the
    issue's fields cut to those sync compares (sync.SYNC_FIELDS) and the acting user to who they
    are. Jira sends the whole issue (description, reporter, project, every custom field), often
    tens of kilobytes; stored whole for 14 days it was most of the table, and most of each
    delivery's write."""
    kept = {key: data[key] for key in _KEPT_KEYS if key in data}
    issue = data.get("issue")
    if isinstance(issue, dict):
        kept["issue"] = {key: issue[key] for key in _KEPT_ISSUE_KEYS if key in issue}
        fields = issue.get("fields")
        if isinstance(fields, dict):
            kept["issue"]["fields"] = {name: fields[name] for name in sync.SYNC_FIELDS if name in fields}
    user = data.get("user")
    if isinstance(user, dict):
        kept["user"] = {key: user[key] for key in _KEPT_USER_KEYS if key in user}
    return kept


# Kept whole: the event, its time, the matched webhooks, and what changed (a comment's body is
# what comment sync copies). `issue` and `user` are cut down by payload_kept.
_KEPT_KEYS = (
    "webhookEvent",
    "timestamp",
    "matchedWebhookIds",
    "issue_event_type_name",
    "changelog",
    "comment",
)
_KEPT_ISSUE_KEYS = ("id", "key", "self")
_KEPT_USER_KEYS = ("accountId", "displayName")


@dataclass(frozen=True)
class Recorded:
    """A delivery just recorded: its row's id, and whether it was queued or ignored."""

    pk: int
    outcome: str


def delivery_record(
    *,
    kind: str,
    site: str,
    identifier: str,
    retry: int,
    delivery: Delivery,
    payload: dict[str, Any] | None,
    connection_ids: Sequence[int],
) -> Recorded | None:
    """Record a verified delivery and queue its processing (once committed); None when it is a
    repeat. EnqueueFailed (after the commit) when the queue could not be reached. Of the body,
    what sync reads is kept (`payload_kept`)."""
    handled = delivery.event in HANDLERS and bool(connection_ids)
    now = timezone.now()
    values = {
        "site": site[:255],
        "identifier": identifier,
        "kind": kind,
        "event": delivery.event,
        "connection_ids": list(connection_ids),
        "payload": payload_kept(payload) if handled and payload is not None else None,
        "event_ms": delivery.timestamp_ms,
        "retry": retry,
        "outcome": WebhookDelivery.Outcome.QUEUED if handled else WebhookDelivery.Outcome.IGNORED,
        "note": "" if handled else ("no connection uses it" if not connection_ids else "event not handled"),
        "received_at": now,
        "processed_at": None if handled else now,
    }
    try:
        # One INSERT, committed by itself in a request (autocommit): no transaction of our own to
        # open and close for it. Inside someone's transaction, a savepoint keeps a duplicate from
        # breaking it.
        inside = transaction.get_connection().in_atomic_block
        with transaction.atomic() if inside else nullcontext():
            pk = _insert(values)
        _mark_delivered(values["connection_ids"])
        if handled:
            transaction.on_commit(partial(_enqueue, pk))
    except IntegrityError:
        logger.info("jira.webhook.duplicate", extra={"site": site, "identifier": identifier})
        # The first attempt may have been recorded without reaching the queue (EnqueueFailed):
        # Jira's retry queues it again. Processing claims the row, so a second task is harmless.
        first = (
            WebhookDelivery.objects.filter(site=site[:255], identifier=identifier)
            .exclude(outcome=WebhookDelivery.Outcome.REJECTED)
            .values_list("pk", "outcome")
            .first()
        )
        if first is not None and first[1] == WebhookDelivery.Outcome.QUEUED:
            transaction.on_commit(partial(_enqueue, first[0]))
        return None
    if not handled:
        logger.info("jira.webhook.ignored", extra={"event": delivery.event, "note": values["note"]})
    return Recorded(pk, values["outcome"])


# The one INSERT of every delivery, as SQL built once per database: the ORM's per-call
# compilation of it, and then building a model instance for it, were the largest parts of the
# intake's time (the benchmark's intake/bare-view ratio); even quoting names every time showed.
_COLUMNS = ("site", "identifier", "kind", "event", "connection_ids", "payload", "event_ms", "retry")
_COLUMNS += ("outcome", "note", "received_at", "processed_at")
_JSON_COLUMNS = frozenset({"connection_ids", "payload"})
_DATETIME_COLUMNS = frozenset({"received_at", "processed_at"})
_insert_sql: dict[str, str] = {}


def _sql_for(db: Any) -> str:
    sql = _insert_sql.get(db.alias)
    if sql is None:
        quote = db.ops.quote_name
        table = quote(WebhookDelivery._meta.db_table)
        columns = ", ".join(quote(c) for c in _COLUMNS)
        marks = ", ".join(["%s"] * len(_COLUMNS))
        # Only the model's own quoted names are formatted in; every value is a parameter.
        sql = f"INSERT INTO {table} ({columns}) VALUES ({marks}) RETURNING {quote('id')}"  # noqa: S608
        _insert_sql[db.alias] = sql
    return sql


def _insert(values: dict[str, Any]) -> int:
    """Insert a row of `values` (every one of _COLUMNS) and give its id, raising IntegrityError
    for a repeat as `create()` would."""
    db = connections[WebhookDelivery.objects.db]
    if not db.features.can_return_columns_from_insert:
        return WebhookDelivery.objects.create(**values).pk
    params = []
    for name in _COLUMNS:
        value = values[name]
        if name in _JSON_COLUMNS:
            value = None if value is None else json.dumps(value, separators=(",", ":"))
        elif name in _DATETIME_COLUMNS:
            value = db.ops.adapt_datetimefield_value(value)
        params.append(value)
    with db.cursor() as cursor:
        cursor.execute(_sql_for(db), params)
        return cursor.fetchone()[0]


# When this process last wrote each connection's `last_delivery_at`: at most once a second, so a
# burst of deliveries is not a burst of updates to one row.
_marked: dict[int, float] = {}
MARK_EVERY_S = 1.0


def _mark_delivered(connection_ids: Sequence[int]) -> None:
    now = time.monotonic()
    due = [pk for pk in connection_ids if _marked.get(pk, 0.0) <= now - MARK_EVERY_S]
    if due:
        JiraConnection.objects.filter(pk__in=due).update(last_delivery_at=timezone.now())
        _marked.update(dict.fromkeys(due, now))


# Each connection's webhook secret, kept briefly in the process (decrypting and fetching it for
# every delivery is most of the intake's cost). A signature that does not verify with the kept
# secret is checked again against the row, so a new secret (Reconfigure) is never refused.
SECRET_KEPT_S = 60.0
_kept: dict[int, tuple[float, str, str]] = {}


def webhook_secret(connection_id: int, *, fresh: bool) -> tuple[str, str] | None:
    """(secret, site) of a connection that is not disconnected; None when there is none."""
    now = time.monotonic()
    hit = _kept.get(connection_id)
    if hit is not None and not fresh and hit[0] > now:
        return hit[1], hit[2]
    # Only what verifying needs (the row is wide, and its default ordering joins the app).
    found = list(
        JiraConnection.objects.filter(pk=connection_id)
        .exclude(status=JiraConnection.Status.DISCONNECTED)
        .only("pk", "credentials", "cloud_id", "site_url")
        .order_by()[:1]
    )
    if not found:
        _kept.pop(connection_id, None)
        return None
    try:
        secret = str(found[0].secrets().get("webhook_secret") or "")
    except CredentialsUnreadable as exc:
        raise SignatureError("the connection's secret cannot be read") from exc
    site = found[0].cloud_id or found[0].site_url
    _kept[connection_id] = (now + SECRET_KEPT_S, secret, site)
    return secret, site


def caches_forget(connection_id: int) -> None:
    """A connection changed in this process: what the intake keeps of it goes (other processes
    catch up within SECRET_KEPT_S / INDEX_KEPT_S, and re-read on a miss)."""
    _kept.pop(connection_id, None)
    _marked.pop(connection_id, None)
    with _index_lock:
        _index["until"] = 0.0


class EnqueueFailed(Exception):
    """A recorded delivery could not be handed to the worker (the broker is down): answered
    503 so that Jira retries, and the retry queues the row again."""


# Deliveries reach the worker in small batches: the first of a window queues one drain task, due
# when the window closes; the others of the window ride along (the drain reads every queued row).
# A burst then costs one message per window and process, not one per delivery.
DRAIN_WINDOW_S = 0.2
DRAIN_BATCH = 500
_window = {"until": 0.0}
_window_lock = threading.Lock()


def _enqueue(delivery_id: int) -> None:
    from . import tasks  # tasks import this module

    eager = _eager(tasks.sync_drain)
    now = time.monotonic()
    with _window_lock:
        if not eager and now < _window["until"]:
            return  # a drain due after this window is queued; this row committed before it runs
        _window["until"] = now + DRAIN_WINDOW_S
    try:
        tasks.sync_drain.apply_async(countdown=None if eager else DRAIN_WINDOW_S)
    except Exception as exc:
        _window["until"] = 0.0
        logger.warning(
            "jira.webhook.enqueue_failed", extra={"delivery": delivery_id, "error": type(exc).__name__}
        )
        raise EnqueueFailed from exc


def _eager(task: Any) -> bool:
    """Whether tasks run in place (tests): then every delivery drains at once, no window. Read
    from Django's settings (where the app's CELERY_ config comes from): Celery's own lookup of it
    costs more than the rest of the decision on every delivery."""
    return bool(getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False))


def queued_ids() -> QuerySet[WebhookDelivery, int]:
    """Ids of the deliveries waiting to be processed, oldest first. Ordered by id so that the
    partial index of queued rows (`webhookdelivery_queued`) answers it: among 14 days of rows,
    the model's own ordering (newest first) made databases read every row to find the few."""
    return (
        WebhookDelivery.objects.filter(outcome=WebhookDelivery.Outcome.QUEUED)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def deliveries_drain() -> tuple[int, bool]:
    """Process the queued deliveries, oldest first (at most DRAIN_BATCH); (how many, whether
    more wait)."""
    ids = list(queued_ids()[: DRAIN_BATCH + 1])
    for delivery_id in ids[:DRAIN_BATCH]:
        delivery_process(delivery_id=delivery_id)
    return min(len(ids), DRAIN_BATCH), len(ids) > DRAIN_BATCH


def delivery_process(*, delivery_id: int) -> str:
    """Apply one recorded delivery to each connection it concerns. Safe to run twice: a delivery
    is processed once (claimed by its outcome), and the sync services compare states."""
    claimed = WebhookDelivery.objects.filter(pk=delivery_id, outcome=WebhookDelivery.Outcome.QUEUED).update(
        outcome=WebhookDelivery.Outcome.APPLIED, processed_at=timezone.now()
    )
    if not claimed:
        return "done"
    row = WebhookDelivery.objects.get(pk=delivery_id)
    delivery = delivery_of(row.payload or {})
    handler = HANDLERS[row.event]
    links = IssueLink.objects.filter(
        connection_id__in=row.connection_ids,
        connection__status=JiraConnection.Status.ACTIVE,
        issue_id=delivery.issue_id,
    ).exclude(issue_id="")
    try:
        for link in links.exclude(state=IssueLink.State.PENDING):
            handler(link, delivery)
    except Exception as exc:
        WebhookDelivery.objects.filter(pk=delivery_id).update(
            outcome=WebhookDelivery.Outcome.FAILED, note=type(exc).__name__
        )
        raise
    return "applied"


def _changed_fields(delivery: Delivery) -> frozenset[str]:
    items = delivery.changelog.get("items")
    if not isinstance(items, list):
        return frozenset()
    return frozenset(str(i.get("fieldId") or i.get("field") or "") for i in items if isinstance(i, dict))


def _issue_updated(link: IssueLink, delivery: Delivery) -> None:
    if link.state != IssueLink.State.LINKED:
        return
    fields = delivery.issue.get("fields")
    if isinstance(fields, dict):
        sync.issue_state_apply(
            link_id=link.pk, fields=fields, source="webhook", changed=_changed_fields(delivery)
        )


def _issue_deleted(link: IssueLink, delivery: Delivery) -> None:
    sync.issue_deleted_apply(link_id=link.pk, source="webhook")


def _comment_upserted(link: IssueLink, delivery: Delivery) -> None:
    if link.state == IssueLink.State.LINKED and delivery.comment:
        sync.comment_upsert_apply(link_id=link.pk, comment=delivery.comment, source="webhook")


def _comment_deleted(link: IssueLink, delivery: Delivery) -> None:
    if link.state == IssueLink.State.LINKED:
        sync.comment_deleted_apply(
            link_id=link.pk, jira_comment_id=str(delivery.comment.get("id") or ""), source="webhook"
        )


HANDLERS: dict[str, Callable[[IssueLink, Delivery], None]] = {
    "jira:issue_updated": _issue_updated,
    "jira:issue_deleted": _issue_deleted,
    "comment_created": _comment_upserted,
    "comment_updated": _comment_upserted,
    "comment_deleted": _comment_deleted,
}


# A queued delivery not processed after this long lost its task (a worker killed mid-way, a
# message lost): the sweeper queues it again.
STRAGGLER_AFTER = timedelta(minutes=2)


def deliveries_requeue(*, now: Any = None) -> int:
    """Run every minute by beat: queue again deliveries still waiting well after they came."""
    now = now or timezone.now()
    ids = list(queued_ids().filter(received_at__lt=now - STRAGGLER_AFTER)[:1000])
    from . import tasks

    for delivery_id in ids:
        tasks.sync_delivery.delay(delivery_id)
    return len(ids)


def deliveries_purge() -> int:
    """Forget deliveries older than KEEP (a retry comes within about half an hour)."""
    deleted, _ = WebhookDelivery.objects.filter(received_at__lt=timezone.now() - KEEP).delete()
    return deleted


@dataclass(frozen=True)
class DynamicHook:
    """A dynamic webhook id and the connection (and its site) that registered it."""

    connection_id: int
    site_url: str
    site: str  # the dedupe key's site: cloud id, else site URL


# The index of dynamic webhook ids, kept briefly in the process (the OAuth intake would otherwise
# read every OAuth connection per delivery); an id it lacks makes it read again at once.
INDEX_KEPT_S = 60.0
_index: dict[str, Any] = {"until": 0.0, "hooks": {}}
_index_lock = threading.Lock()


def _dynamic_index(*, fresh: bool) -> dict[int, list[DynamicHook]]:
    now = time.monotonic()
    with _index_lock:
        if not fresh and _index["until"] > now:
            return _index["hooks"]
    rows = (
        JiraConnection.objects.filter(auth_type="oauth2", webhook_kind="dynamic")
        .exclude(status=JiraConnection.Status.DISCONNECTED)
        .order_by()
        .values_list("pk", "webhook_ids", "site_url", "cloud_id")
    )
    hooks: dict[int, list[DynamicHook]] = {}
    for pk, ids, site_url, cloud_id in rows:
        for webhook_id in ids or []:
            hooks.setdefault(int(webhook_id), []).append(DynamicHook(pk, site_url, cloud_id or site_url))
    with _index_lock:
        _index.update(until=now + INDEX_KEPT_S, hooks=hooks)
    return hooks


def connections_for_dynamic(delivery: Delivery) -> list[DynamicHook]:
    """The OAuth 2.0 connections whose registered webhooks a delivery matched."""
    if not delivery.matched_webhook_ids:
        return []
    wanted = {int(i) for i in delivery.matched_webhook_ids}
    hooks = _dynamic_index(fresh=False)
    if not wanted <= set(hooks):
        hooks = _dynamic_index(fresh=True)
    found = list({h.connection_id: h for i in wanted for h in hooks.get(i, [])}.values())
    # Webhook ids are per site: where two sites' ids collide, the issue's own URL tells them apart.
    same_site = [h for h in found if delivery.self_url.startswith(h.site_url.rstrip("/") + "/")]
    return same_site or found
