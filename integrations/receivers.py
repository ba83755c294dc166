"""What the integration does when `bugs` says something happened (bugs never imports us)."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from bugs.models import BugReport, Comment
from bugs.signals import comment_changed, report_changed, report_created

from . import forwarding, intake, sync
from .models import JiraConnection


@receiver(report_created, dispatch_uid="integrations.forward_new_report")
def forward_new_report(sender: Any, report: BugReport, **kwargs: Any) -> None:
    """Automatic forwarding: sent when the app's connection says so and the report matches."""
    forwarding.forward_if_automatic(report=report)


@receiver(report_changed, dispatch_uid="integrations.sync_report_change")
def sync_report_change(
    sender: Any, report: BugReport, changes: dict[str, Any], origin: str = "", **kwargs: Any
) -> None:
    """Two-way sync: a status or priority changed here goes to the linked Jira issue."""
    sync.report_changed(report=report, changes=changes, origin=origin)


@receiver(comment_changed, dispatch_uid="integrations.sync_comment_change")
def sync_comment_change(sender: Any, comment: Comment, action: str, origin: str = "", **kwargs: Any) -> None:
    """Two-way sync: a comment written, edited or deleted here follows in Jira."""
    sync.comment_changed(comment=comment, action=action, origin=origin)


@receiver(post_save, sender=JiraConnection, dispatch_uid="integrations.intake_forget_saved")
@receiver(post_delete, sender=JiraConnection, dispatch_uid="integrations.intake_forget_deleted")
def intake_forget(sender: Any, instance: JiraConnection, **kwargs: Any) -> None:
    """The webhook intake keeps a connection's secret and webhook ids briefly: not past a change."""
    intake.caches_forget(instance.pk)
