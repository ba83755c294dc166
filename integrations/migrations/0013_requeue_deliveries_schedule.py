"""A beat row (editable in the admin) that queues again webhook deliveries whose task was lost."""

from django.db import migrations

NAME = "jira-requeue-deliveries"


def create(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    interval, _ = IntervalSchedule.objects.get_or_create(every=60, period="seconds")
    PeriodicTask.objects.get_or_create(
        name=NAME,
        defaults={
            "task": "integrations.tasks.requeue_deliveries",
            "interval": interval,
            "description": "Queues again Jira webhook deliveries still waiting two minutes after they came.",
        },
    )


def remove(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("integrations", "0012_sync_beat_schedules")]

    operations = [migrations.RunPython(create, remove)]
