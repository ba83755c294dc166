"""Jira connections in the Django admin: secrets never shown, never editable there."""

from __future__ import annotations

from django.contrib import admin

from .models import ConnectInstallation, JiraConnection


@admin.register(JiraConnection)
class JiraConnectionAdmin(admin.ModelAdmin):
    list_display = ("app", "auth_type", "site_url", "status", "secret_expires_at", "last_success_at")
    list_filter = ("auth_type", "status")
    search_fields = ("app__name", "site_url", "identity_email")
    # `credentials` is left out of the form altogether: the admin shows only that it is set.
    exclude = ("credentials", "refresh_lease_until")
    readonly_fields = ("credentials_state", "credentials_set_at", "access_expires_at", "created_at")

    @admin.display(description="Credentials")
    def credentials_state(self, obj: JiraConnection) -> str:
        if not obj.credentials:
            return "not set"
        when = obj.credentials_set_at
        return f"set on {when:%Y-%m-%d}" if when else "set"


@admin.register(ConnectInstallation)
class ConnectInstallationAdmin(admin.ModelAdmin):
    list_display = ("base_url", "client_key", "installed_at", "uninstalled_at")
    search_fields = ("base_url", "client_key")
    exclude = ("shared_secret",)
    readonly_fields = ("shared_secret_state",)

    @admin.display(description="Shared secret")
    def shared_secret_state(self, obj: ConnectInstallation) -> str:
        return "set (hidden)" if obj.shared_secret else "not set"
