"""The Celery app: configured from Django settings (CELERY_*), tasks found in each app's tasks.py."""

import os

from celery import Celery
from kombu.transport import TRANSPORT_ALIASES

# `filesystem://` (the embedded default) with messages written whole: see config/broker.py.
TRANSPORT_ALIASES["filesystem"] = "config.broker:Transport"

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("bugbridge")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
