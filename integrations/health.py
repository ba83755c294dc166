"""A saved connection's health as its Jira calls go: when one last succeeded, and the last error
that says something about the connection itself (not about one report's data).

Writes are conditional single-row UPDATEs, so a busy connection does not write on every call:
a success is recorded at most once a minute, and only an error that differs from the one shown
(or is older than a minute) is written again.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import DatabaseError
from django.db.models import Q
from django.utils import timezone

from .jira.errors import JiraError, JiraNotFound, JiraValidationError
from .models import JiraConnection

logger = logging.getLogger(__name__)

# How stale "last successful call" may be before a success is written again.
SUCCESS_RESOLUTION = timedelta(minutes=1)
# Errors about one issue's data or one missing issue, not about the connection.
NOT_CONNECTION_ERRORS: tuple[type[JiraError], ...] = (JiraValidationError, JiraNotFound)
ERROR_LENGTH = 500


def record_success(connection_id: int) -> None:
    now = timezone.now()
    try:
        JiraConnection.objects.filter(pk=connection_id).filter(
            Q(last_success_at__isnull=True) | Q(last_success_at__lt=now - SUCCESS_RESOLUTION)
        ).update(last_success_at=now)
    except DatabaseError:  # health is a side note: never fail the call it describes
        logger.warning("jira.health.unrecorded", extra={"connection": connection_id})


def record_failure(connection_id: int, error: JiraError) -> None:
    if isinstance(error, NOT_CONNECTION_ERRORS):
        return
    now = timezone.now()
    words = error.user_message[:ERROR_LENGTH]
    try:
        stale = Q(last_error_at__isnull=True) | Q(last_error_at__lt=now - SUCCESS_RESOLUTION)
        JiraConnection.objects.filter(pk=connection_id).filter(~Q(last_error=words) | stale).update(
            last_error=words, last_error_at=now
        )
    except DatabaseError:
        logger.warning("jira.health.unrecorded", extra={"connection": connection_id})
