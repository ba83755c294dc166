"""Background jobs of the Jira integration. Each takes ids (or nothing) and is safe to run twice."""

from __future__ import annotations

import logging

from celery import shared_task

from . import forwarding, intake, reconcile, services, subscriptions, sync

logger = logging.getLogger(__name__)


@shared_task
def remind_expiring_credentials() -> int:
    """Run daily by beat: tell admins before an API token or an OAuth grant stops working."""
    return services.credential_expiry_reminders()


@shared_task
def forward_link(link_id: int) -> str:
    """One attempt at a report's Jira issue; schedules the next when Jira asks us to wait.
    Safe to run twice (the link is claimed, and a possible earlier create is looked up first)."""
    step = forwarding.forward_link(link_id=link_id)
    if step.retry_in is not None:
        forward_link.apply_async((link_id,), countdown=step.retry_in)
    return step.state


@shared_task
def forward_due() -> int:
    """Run every minute by beat: queue pending links whose attempt is due (a lost message or a
    killed worker never leaves a report waiting for ever)."""
    return forwarding.forward_due()


@shared_task
def fill_link_statuses() -> int:
    """Run every minute by beat: the Jira status of issues just created (the list shows it)."""
    return forwarding.link_statuses_fill_all()


# --- two-way sync ------------------------------------------------------------------------------


@shared_task
def sync_delivery(delivery_id: int) -> str:
    """Apply one recorded webhook delivery (processed once; a second run finds it done)."""
    return intake.delivery_process(delivery_id=delivery_id)


@shared_task
def sync_drain() -> int:
    """Process the webhook deliveries waiting (queued by the intake, one drain per short window);
    queues itself again while more wait."""
    done, more = intake.deliveries_drain()
    if more:
        sync_drain.delay()
    return done


@shared_task
def sync_push(link_id: int, attempt: int = 0) -> str:
    """Write a report's pending status/priority change to Jira; scheduled again while Jira is
    busy or another worker holds the link."""
    step = sync.link_push(link_id=link_id, attempt=attempt)
    if step.retry_in is not None:
        sync_push.apply_async((link_id, attempt + (step.outcome == "retry")), countdown=step.retry_in)
    return step.outcome


@shared_task
def sync_comment_push(comment_link_id: int, attempt: int = 0) -> str:
    """Create, edit or delete one comment in Jira as it is here."""
    step = sync.comment_push(comment_link_id=comment_link_id, attempt=attempt)
    if step.retry_in is not None:
        sync_comment_push.apply_async(
            (comment_link_id, attempt + (step.outcome == "retry")), countdown=step.retry_in
        )
    return step.outcome


@shared_task
def reconcile_all() -> int:
    """Run by beat every JIRA_RECONCILE_INTERVAL_S: one reconciliation pass per syncing connection."""
    due = reconcile.reconcile_due()
    for connection_id in due:
        reconcile_connection.delay(connection_id)
    return len(due)


@shared_task
def reconcile_connection(connection_id: int) -> bool:
    return reconcile.reconcile_connection(connection_id=connection_id).ok


@shared_task
def refresh_webhooks() -> int:
    """Run daily by beat: renew dynamic webhooks before they expire; forget old deliveries."""
    intake.deliveries_purge()
    return subscriptions.webhooks_refresh_due()


@shared_task
def requeue_deliveries() -> int:
    """Run every minute by beat: webhook deliveries whose task was lost are queued again."""
    return intake.deliveries_requeue()
