"""A saved connection's health as its Jira calls go: when one last succeeded, and the last error
that says something about the connection itself (not about one report's data).

Writes are conditional single-row UPDATEs, so a busy connection does not write on every call:
a success is recorded at most once a minute, and only an error that differs from the one shown
(or is older than a minute) is written again.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import DatabaseError
from django.db.models import Q
from django.utils import timezone

from .jira.errors import JiraError, JiraNotFound, JiraRateLimited, JiraValidationError
from .models import JiraConnection

logger = logging.getLogger(__name__)

# How stale "last successful call" may be before a success is written again.
SUCCESS_RESOLUTION = timedelta(minutes=1)
# Errors about one issue's data or one missing issue, not about the connection.
NOT_CONNECTION_ERRORS: tuple[type[JiraError], ...] = (JiraValidationError, JiraNotFound)
ERROR_LENGTH = 500


def _to_top_of_hour(now: datetime) -> float:
    """Seconds to the next UTC hour: when Jira's points quota resets (API-NOTES §10), for a quota
    429 that says nothing else."""
    return ((now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)) - now).total_seconds()


def record_success(connection_id: int) -> None:
    now = timezone.now()
    try:
        JiraConnection.objects.filter(pk=connection_id).filter(
            Q(last_success_at__isnull=True) | Q(last_success_at__lt=now - SUCCESS_RESOLUTION)
        ).update(last_success_at=now)
    except DatabaseError:  # health is a side note: never fail the call it describes
        logger.warning("jira.health.unrecorded", extra={"connection": connection_id})


def check_not_paused(connection_id: int) -> None:
    """Raise instead of calling while Jira's hourly quota is spent (every call would be refused
    until the reset, and each refusal counts against us)."""
    until = JiraConnection.objects.filter(pk=connection_id).values_list("paused_until", flat=True).first()
    if until is not None and until > timezone.now():
        raise JiraRateLimited(
            status=None, retry_after=(until - timezone.now()).total_seconds(), reason="quota"
        )


def record_failure(connection_id: int, error: JiraError) -> None:
    if isinstance(error, NOT_CONNECTION_ERRORS):
        return
    now = timezone.now()
    if isinstance(error, JiraRateLimited) and error.reason == "quota" and error.status is not None:
        # The hourly quota: pause every call of this connection until Jira's reset.
        wait = error.retry_after if error.retry_after else _to_top_of_hour(now)
        JiraConnection.objects.filter(pk=connection_id).update(paused_until=now + timedelta(seconds=wait))
        logger.warning("jira.connection.quota_pause", extra={"connection": connection_id, "wait_s": wait})
    words = error.user_message[:ERROR_LENGTH]
    try:
        stale = Q(last_error_at__isnull=True) | Q(last_error_at__lt=now - SUCCESS_RESOLUTION)
        JiraConnection.objects.filter(pk=connection_id).filter(~Q(last_error=words) | stale).update(
            last_error=words, last_error_at=now
        )
    except DatabaseError:
        logger.warning("jira.health.unrecorded", extra={"connection": connection_id})
