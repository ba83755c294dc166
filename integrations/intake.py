"""Jira's webhook deliveries, from the request to the sync services.

The request side (`delivery_record`) only records and enqueues: one row per (site, identifier),
so a retry or a duplicate is answered 200 and dropped, and the sync work runs in the worker
(`delivery_process`), where a slow Jira call never holds up Jira's delivery.

What each event does is a table (`HANDLERS`); an event not in it is recorded as ignored.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from datetime import timedelta
from functools import partial
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from . import sync
from .jira.webhooks import Delivery, delivery_of
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


def delivery_record(
    *,
    kind: str,
    site: str,
    identifier: str,
    retry: int,
    delivery: Delivery,
    payload: dict[str, Any] | None,
    connections: Sequence[JiraConnection],
) -> WebhookDelivery | None:
    """Record a verified delivery and queue its processing (once committed); None when it is a
    repeat. EnqueueFailed (after the commit) when the queue could not be reached."""
    handled = delivery.event in HANDLERS and bool(connections)
    row = WebhookDelivery(
        site=site[:255],
        identifier=identifier,
        kind=kind,
        event=delivery.event,
        connection_ids=[c.pk for c in connections],
        payload=payload if handled else None,
        event_ms=delivery.timestamp_ms,
        retry=retry,
        outcome=WebhookDelivery.Outcome.QUEUED if handled else WebhookDelivery.Outcome.IGNORED,
        note="" if handled else ("no connection uses it" if not connections else "event not handled"),
        processed_at=None if handled else timezone.now(),
    )
    try:
        with transaction.atomic():
            row.save()
            now = timezone.now()
            # At most one write a second per connection: a burst of deliveries is not a burst
            # of updates to the same row.
            JiraConnection.objects.filter(pk__in=row.connection_ids).filter(
                Q(last_delivery_at__isnull=True) | Q(last_delivery_at__lt=now - timedelta(seconds=1))
            ).update(last_delivery_at=now)
            if handled:
                transaction.on_commit(partial(_enqueue, row.pk))
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
        logger.info("jira.webhook.ignored", extra={"event": delivery.event, "note": row.note})
    return row


class EnqueueFailed(Exception):
    """A recorded delivery could not be handed to the worker (the broker is down): answered
    503 so that Jira retries, and the retry queues the row again."""


def _enqueue(delivery_id: int) -> None:
    from . import tasks  # tasks import this module

    try:
        tasks.sync_delivery.delay(delivery_id)
    except Exception as exc:
        logger.warning(
            "jira.webhook.enqueue_failed", extra={"delivery": delivery_id, "error": type(exc).__name__}
        )
        raise EnqueueFailed from exc


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
    stale = WebhookDelivery.objects.filter(
        outcome=WebhookDelivery.Outcome.QUEUED, received_at__lt=now - STRAGGLER_AFTER
    ).values_list("pk", flat=True)[:1000]
    ids = list(stale)
    for delivery_id in ids:
        _enqueue(delivery_id)
    return len(ids)


def deliveries_purge() -> int:
    """Forget deliveries older than KEEP (a retry comes within about half an hour)."""
    deleted, _ = WebhookDelivery.objects.filter(received_at__lt=timezone.now() - KEEP).delete()
    return deleted


def connections_for_dynamic(delivery: Delivery) -> list[JiraConnection]:
    """The OAuth 2.0 connections whose registered webhooks a delivery matched."""
    if not delivery.matched_webhook_ids:
        return []
    wanted = {int(i) for i in delivery.matched_webhook_ids}
    rows = JiraConnection.objects.filter(
        Q(auth_type="oauth2") & ~Q(webhook_ids=[]), webhook_kind="dynamic"
    ).exclude(status=JiraConnection.Status.DISCONNECTED)
    found = [c for c in rows if wanted & {int(i) for i in c.webhook_ids}]
    # Webhook ids are per site: where two sites' ids collide, the issue's own URL tells them apart.
    same_site = [c for c in found if delivery.self_url.startswith(c.site_url.rstrip("/") + "/")]
    return same_site or found
