"""Background jobs of the bugs app. Each takes ids (or nothing) and is safe to run twice."""

import logging

from celery import shared_task

from . import services

logger = logging.getLogger(__name__)


@shared_task
def purge_expired_idempotency_keys() -> int:
    """Run hourly by beat: SDK idempotency keys are kept for IDEMPOTENCY_TTL_HOURS only."""
    deleted = services.idempotency_keys_purge()
    logger.info("bugs.idempotency.purged", extra={"deleted": deleted})
    return deleted
