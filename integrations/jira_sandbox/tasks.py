"""The sandbox Jira's background jobs: webhook deliveries. Each takes ids and is safe to run twice."""

from __future__ import annotations

import logging

from celery import shared_task

from . import delivery

logger = logging.getLogger(__name__)


@shared_task
def deliver(delivery_ids: list[int]) -> int:
    """Attempt these deliveries (PENDING and due ones only); returns how many were delivered."""
    return delivery.deliver_batch([int(pk) for pk in delivery_ids])


@shared_task
def deliver_due() -> int:
    """Sweeper (for beat, e.g. every minute): send PENDING deliveries whose task was lost."""
    ids = delivery.due_stragglers()
    if ids:
        logger.info("jira_sandbox.webhook.stragglers", extra={"count": len(ids)})
    return delivery.deliver_batch(ids) if ids else 0
