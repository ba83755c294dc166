"""Top-level routes. Every page needs a login except allauth's, the SDK API and /healthz."""

from django.contrib import admin
from django.urls import include, path

from bugs.api import api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("api/v1/", api.urls),
    path("", include("accounts.urls")),
    path("", include("bugs.urls")),
    path("", include("integrations.urls")),
]
