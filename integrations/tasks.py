"""Background jobs of the Jira integration. Each takes ids (or nothing) and is safe to run twice."""

from __future__ import annotations

import logging

from celery import shared_task

from . import forwarding, services

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
