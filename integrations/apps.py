from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    """The Jira Cloud integration. It subscribes to `bugs.signals`; `bugs` never imports it."""

    name = "integrations"
    verbose_name = "Integrations"
