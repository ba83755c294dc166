from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    """The Jira Cloud integration. It subscribes to `bugs.signals`; `bugs` never imports it."""

    name = "integrations"
    verbose_name = "Integrations"

    def ready(self) -> None:
        from . import receivers  # noqa: F401  (connects the signal receivers)
