"""Two-way sync's periodic tasks as django-celery-beat rows (created once, editable in the admin;
see 0010). Reconciliation starts at JIRA_RECONCILE_INTERVAL_S."""

from django.conf import settings
from django.db import migrations

SCHEDULES = [
    (
        "jira-reconcile",
        "integrations.tasks.reconcile_all",
        None,  # settings.JIRA_RECONCILE_INTERVAL_S, read when the migration runs
        "Searches each syncing connection's project for issues changed since its last pass (catches missed webhooks).",
    ),
    (
        "jira-refresh-webhooks",
        "integrations.tasks.refresh_webhooks",
        24 * 60 * 60,
        "Renews OAuth 2.0 webhooks well before Jira lets them expire (30 days), and forgets old deliveries.",
    ),
]


def create(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, task, seconds, description in SCHEDULES:
        every = seconds or int(settings.JIRA_RECONCILE_INTERVAL_S)
        interval, _ = IntervalSchedule.objects.get_or_create(every=every, period="seconds")
        PeriodicTask.objects.get_or_create(
            name=name, defaults={"task": task, "interval": interval, "description": description}
        )


def remove(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[name for name, *_ in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0011_two_way_sync"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create, remove)]
