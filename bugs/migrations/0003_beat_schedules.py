"""The bugs app's periodic task as a django-celery-beat row, created once, so admins can change
or pause it in the admin (beat rewrites entries of CELERY_BEAT_SCHEDULE at every start)."""

from django.db import migrations

NAME = "purge-expired-idempotency-keys"  # the old settings entry's name: an existing row is kept


def create(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    interval, _ = IntervalSchedule.objects.get_or_create(every=60 * 60, period="seconds")
    PeriodicTask.objects.get_or_create(
        name=NAME,
        defaults={
            "task": "bugs.tasks.purge_expired_idempotency_keys",
            "interval": interval,
            "description": "Deletes SDK idempotency keys older than IDEMPOTENCY_TTL_HOURS.",
        },
    )


def remove(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("bugs", "0002_report_tags"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create, remove)]
