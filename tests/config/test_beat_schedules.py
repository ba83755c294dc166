"""Periodic tasks are database rows made by data migrations, so admins can edit them, and a beat
start keeps their edits (DatabaseScheduler rewrites only what CELERY_BEAT_SCHEDULE names)."""

from __future__ import annotations

import pytest
from celery import current_app
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler

import bugs.tasks  # noqa: F401  (registers the tasks by name)
import integrations.tasks  # noqa: F401

pytestmark = pytest.mark.django_db

EXPECTED = {
    "purge-expired-idempotency-keys": ("bugs.tasks.purge_expired_idempotency_keys", 3600),
    "jira-credential-expiry-reminders": ("integrations.tasks.remind_expiring_credentials", 3600),
    "jira-forward-due": ("integrations.tasks.forward_due", 60),
    "jira-fill-link-statuses": ("integrations.tasks.fill_link_statuses", 60),
    # Two-way sync: reconciliation starts at JIRA_RECONCILE_INTERVAL_S (300 by default).
    "jira-reconcile": ("integrations.tasks.reconcile_all", 300),
    "jira-refresh-webhooks": ("integrations.tasks.refresh_webhooks", 86400),
    "jira-requeue-deliveries": ("integrations.tasks.requeue_deliveries", 60),
}


def test_the_migrations_create_each_periodic_task_with_a_real_task_name() -> None:
    rows = {t.name: t for t in PeriodicTask.objects.filter(name__in=EXPECTED).select_related("interval")}
    assert set(rows) == set(EXPECTED)
    for name, (task, seconds) in EXPECTED.items():
        row = rows[name]
        assert row.task == task and row.task in current_app.tasks, name
        assert (row.interval.every, row.interval.period) == (seconds, "seconds")
        assert row.enabled and row.description


def test_a_beat_start_keeps_an_admin_s_edits(settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from django_celery_beat.models import IntervalSchedule

    row = PeriodicTask.objects.get(name="jira-forward-due")
    row.interval, _ = IntervalSchedule.objects.get_or_create(every=300, period="seconds")
    row.save()
    assert not any(name in settings.CELERY_BEAT_SCHEDULE for name in EXPECTED)
    # Beat closes stale connections between loops; the test's transaction must stay open.
    monkeypatch.setattr("django_celery_beat.schedulers.close_old_connections", lambda: None)
    DatabaseScheduler(app=current_app, lazy=True).setup_schedule()
    assert PeriodicTask.objects.get(name="jira-forward-due").interval.every == 300
