"""The integration's periodic tasks as django-celery-beat rows, created once, so admins can
change or pause them in the admin: beat's DatabaseScheduler rewrites any entry it finds in
CELERY_BEAT_SCHEDULE at every start, which would undo their edits."""

from django.db import migrations

# (name, task, every N seconds, what it is for). Names match the old settings entries, so a
# database where beat already made the rows keeps them (and their edits).
SCHEDULES = [
    (
        "jira-credential-expiry-reminders",
        "integrations.tasks.remind_expiring_credentials",
        60 * 60,
        "Emails admins 14 days, 3 days and on the day a Jira API token or OAuth grant expires.",
    ),
    (
        "jira-forward-due",
        "integrations.tasks.forward_due",
        60,
        "Queues reports whose next attempt at their Jira issue is due (after a lost message or a dead worker).",
    ),
    (
        "jira-fill-link-statuses",
        "integrations.tasks.fill_link_statuses",
        60,
        "Fills in the Jira status of issues just created, for the reports list.",
    ),
]


def create(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, task, seconds, description in SCHEDULES:
        interval, _ = IntervalSchedule.objects.get_or_create(every=seconds, period="seconds")
        PeriodicTask.objects.get_or_create(
            name=name, defaults={"task": task, "interval": interval, "description": description}
        )


def remove(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[name for name, *_ in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0009_reauth_notified"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create, remove)]
