"""The credentials an admin types in: Basic, scoped API tokens, OAuth service accounts.

Secret fields never render a value. When the connection (or draft) already holds a secret of the
same auth type, its field may be left empty to keep it; the form says when it was set instead.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from django import forms
from django.utils import timezone

from .models import AuthType, JiraConnection

SITE_HELP = "Your Jira Cloud address, like https://your-team.atlassian.net"
EXPIRY_HELP = (
    "Atlassian shows it when you create the token (at most a year ahead). This page then counts down to it."
)


class CredentialsForm(forms.Form):
    """Fields every typed-in auth type has; subclasses add theirs. `stored` is the connection
    whose secrets an empty secret field keeps (None: every secret is required)."""

    auth_type: AuthType
    secret_fields: tuple[str, ...] = ()

    site_url = forms.CharField(label="Jira site", max_length=2048, help_text=SITE_HELP)

    def __init__(self, *args: Any, stored: JiraConnection | None = None, **kwargs: Any) -> None:
        if stored is not None and stored.auth_type == self.auth_type:
            kwargs.setdefault("initial", {}).update(
                {"site_url": stored.site_url, "email": stored.identity_email}
            )
        super().__init__(*args, **kwargs)
        self.stored = stored if stored is not None and stored.auth_type == self.auth_type else None
        self.prefix = str(self.auth_type)
        for name in self.secret_fields:
            field = self.fields[name]
            if self.stored is not None and self.stored.secrets().get(name):
                field.required = False
                when = self.stored.credentials_set_at
                field.help_text = (
                    f"Set on {when:%-d %b %Y}. " if when else "Set. "
                ) + "Leave empty to keep it."

    def secrets(self) -> dict[str, str]:
        """The secret values to use: typed in, or kept from the stored connection."""
        kept = self.stored.secrets() if self.stored is not None else {}
        return {name: self.cleaned_data.get(name) or str(kept.get(name, "")) for name in self.secret_fields}


class TokenForm(CredentialsForm):
    secret_fields = ("api_token",)

    email = forms.EmailField(label="Email")
    api_token = forms.CharField(
        label="API token", widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"})
    )
    token_expires_on = forms.DateField(
        label="Token expires on",
        required=False,
        help_text=EXPIRY_HELP,
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def expires_at(self) -> datetime | None:
        day = self.cleaned_data.get("token_expires_on")
        if day is None:
            return (
                self.stored.secret_expires_at
                if self.stored is not None and not self.cleaned_data.get("api_token")
                else None
            )
        return timezone.make_aware(datetime.combine(day, time(0, 0)))


class BasicForm(TokenForm):
    auth_type = AuthType.BASIC


class ScopedTokenForm(TokenForm):
    auth_type = AuthType.SCOPED_TOKEN


class ServiceAccountForm(CredentialsForm):
    auth_type = AuthType.OAUTH_SERVICE_ACCOUNT
    secret_fields = ("client_secret",)

    client_id = forms.CharField(label="Client ID", max_length=255)
    client_secret = forms.CharField(
        label="Client secret", widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"})
    )

    def __init__(self, *args: Any, stored: JiraConnection | None = None, **kwargs: Any) -> None:
        super().__init__(*args, stored=stored, **kwargs)
        if self.stored is not None and not self.is_bound:
            self.initial["client_id"] = self.stored.secrets().get("client_id", "")

    def secrets(self) -> dict[str, str]:
        return {**super().secrets(), "client_id": self.cleaned_data["client_id"].strip()}


# Auth type → its form, in the order the page offers them (after OAuth 2.0).
CREDENTIAL_FORMS: dict[str, type[CredentialsForm]] = {
    AuthType.OAUTH_SERVICE_ACCOUNT: ServiceAccountForm,
    AuthType.SCOPED_TOKEN: ScopedTokenForm,
    AuthType.BASIC: BasicForm,
}
