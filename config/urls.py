"""Top-level routes. Every page needs a login except allauth's, the SDK API and /healthz."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from bugs.api import api

urlpatterns = [
    # Jira's webhook deliveries first: the busiest URLs, found without trying the pages' routes.
    path("integrations/jira/", include("integrations.webhook_urls")),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("api/v1/", api.urls),
    path("", include("accounts.urls")),
    path("", include("bugs.urls")),
    path("", include("integrations.urls")),
]

# The stand-in Jira Cloud: with JIRA_SANDBOX off (production), none of its URLs exist.
if settings.JIRA_SANDBOX:
    urlpatterns.insert(0, path("sandbox/jira/", include("integrations.jira_sandbox.urls")))
