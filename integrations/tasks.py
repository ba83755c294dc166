"""Background jobs of the Jira integration. Each takes ids (or nothing) and is safe to run twice."""

from __future__ import annotations

import logging

from celery import shared_task

from . import services

logger = logging.getLogger(__name__)


@shared_task
def remind_expiring_credentials() -> int:
    """Run daily by beat: tell admins before an API token or an OAuth grant stops working."""
    return services.credential_expiry_reminders()
