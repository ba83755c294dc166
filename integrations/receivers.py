"""What the integration does when `bugs` says something happened (bugs never imports us)."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from bugs.models import BugReport
from bugs.signals import report_created

from . import forwarding


@receiver(report_created, dispatch_uid="integrations.forward_new_report")
def forward_new_report(sender: Any, report: BugReport, **kwargs: Any) -> None:
    """Automatic forwarding: sent when the app's connection says so and the report matches."""
    forwarding.forward_if_automatic(report=report)
