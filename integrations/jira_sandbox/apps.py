from django.apps import AppConfig


class JiraSandboxConfig(AppConfig):
    """A stand-in Jira Cloud (auth server, API gateway, sites) for the demo and end-to-end tests."""

    name = "integrations.jira_sandbox"
    label = "jira_sandbox"
    verbose_name = "Sandbox Jira"

    def ready(self) -> None:
        from . import delivery

        # Webhook deliveries wait for the end of the request that caused them.
        delivery.connect_signals()
