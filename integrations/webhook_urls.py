"""Where Jira delivers webhooks, routed ahead of every page (config/urls.py includes this first):
they are the busiest URLs and the only ones with a latency budget, and Django tries patterns in
order, so behind the app's few dozen routes each delivery paid a third of a millisecond just to
be found."""

from django.urls import path

from . import webhook_views

urlpatterns = [
    # OAuth 2.0's dynamic webhooks: one URL for the app.
    path("webhooks/oauth", webhook_views.webhook_oauth, name="jira_webhook_oauth"),
    # Each connection's admin webhook, signed with that connection's secret.
    path(
        "webhooks/connection/<int:connection_id>",
        webhook_views.webhook_connection,
        name="jira_webhook_connection",
    ),
    # The legacy Connect add-on's descriptor webhooks (the descriptor names this path).
    path("connect/webhook", webhook_views.webhook_connect, name="connect_webhook"),
]
