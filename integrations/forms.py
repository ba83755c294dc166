"""The credentials an admin types in: Basic, scoped API tokens, OAuth service accounts.

Secret fields never render a value. When the connection (or draft) already holds a secret of the
same auth type, its field may be left empty to keep it; the form says when it was set instead.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from django import forms
from django.utils import timezone

from bugs.models import Priority

from .models import AuthType, JiraConnection
from .services import FinishChoices

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

    def clean_token_expires_on(self) -> Any:
        day = self.cleaned_data.get("token_expires_on")
        if day is not None and day <= timezone.localdate():
            raise forms.ValidationError(
                "This token has expired. Create a new one (id.atlassian.com → Security → API tokens, or "
                "the service account's credentials) and enter it with its new expiry date."
            )
        return day

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


class FinishForm(forms.Form):
    """The Finish step's switches: automatic forwarding (with its rule) and two-way sync."""

    auto_forward = forms.BooleanField(
        label="Send new reports to Jira automatically",
        required=False,
        help_text="Each new report becomes a Jira issue as it arrives, when it matches the rule below.",
    )
    forward_min_priority = forms.ChoiceField(label="Only reports of priority", required=False, choices=())
    forward_tags = forms.CharField(
        label="Only reports tagged with any of",
        required=False,
        max_length=500,
        help_text="Tags separated by commas. Empty: every tag.",
    )
    sync_status = forms.BooleanField(label="Status", required=False)
    sync_priority = forms.BooleanField(label="Priority", required=False)
    sync_comments = forms.BooleanField(label="Comments", required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["forward_min_priority"].choices = [
            ("", "Any priority"),
            *[(value, f"{label} or higher") for value, label in Priority.choices if value != Priority.NA],
        ]

    @staticmethod
    def initial_for(connection: JiraConnection) -> dict[str, Any]:
        """The connection's switches; a connection never finished before gets sync on."""
        first_time = connection.pk is None and not connection.configured_at
        return {
            "auto_forward": connection.auto_forward,
            "forward_min_priority": connection.forward_min_priority,
            "forward_tags": ", ".join(connection.forward_tags or []),
            "sync_status": connection.sync_status or first_time,
            "sync_priority": (connection.sync_priority or first_time) and connection.priority_two_way,
            "sync_comments": connection.sync_comments or first_time,
        }

    def clean_forward_tags(self) -> list[str]:
        seen: list[str] = []
        for tag in self.cleaned_data["forward_tags"].split(","):
            tag = tag.strip()
            if tag and tag not in seen:
                seen.append(tag[:50])
        return seen

    def choices(self) -> FinishChoices:
        data = self.cleaned_data
        return FinishChoices(
            auto_forward=data["auto_forward"],
            forward_min_priority=data["forward_min_priority"],
            forward_tags=tuple(data["forward_tags"]),
            sync_status=data["sync_status"],
            sync_priority=data["sync_priority"],
            sync_comments=data["sync_comments"],
        )


# ---------------------------------------------------------------------------------------------
# Forwarding: the "Send to Jira…" preview's edits, the bulk send, linking an existing issue
# ---------------------------------------------------------------------------------------------

# The preview's assignee choices → the link's `assignee` override (None: no override).
ASSIGNEE_OVERRIDES: dict[str, str | None] = {
    "keep": None,
    "project": "",
    "unassigned": JiraConnection.UNASSIGNED,
}


class ForwardPreviewForm(forms.Form):
    """What can be changed for one report before it is sent: its summary, its priority (ours,
    mapped to the project's as always) and who the issue goes to."""

    summary = forms.CharField(max_length=255, label="Summary", strip=True)
    priority = forms.ChoiceField(
        choices=Priority.choices,
        label="Priority",
        help_text="The report's own priority is not changed: only the issue's.",
    )
    assignee = forms.ChoiceField(label="Assignee")

    def __init__(self, *args: Any, connection: JiraConnection, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.connection = connection
        default = connection.default_assignee
        choices = []
        if default not in ("", JiraConnection.UNASSIGNED):
            name = connection.default_assignee_name or "the person chosen in Set up"
            choices.append(("keep", f"{name} (this connection's default)"))
        choices += [("project", "The project's default assignee"), ("unassigned", "Unassigned")]
        self.fields["assignee"].choices = choices  # type: ignore[attr-defined]
        self.fields["summary"].error_messages["required"] = "Write a summary: Jira needs one."

    @staticmethod
    def initial_assignee(connection: JiraConnection) -> str:
        if connection.default_assignee == JiraConnection.UNASSIGNED:
            return "unassigned"
        return "project" if not connection.default_assignee else "keep"

    def overrides(self, *, default_summary: str, report_priority: str) -> dict[str, str]:
        """Only what differs from what the report would get anyway."""
        data = self.cleaned_data
        found: dict[str, str] = {}
        if data["summary"] != default_summary:
            found["summary"] = data["summary"]
        if data["priority"] != report_priority:
            found["priority"] = data["priority"]
        if data["assignee"] != self.initial_assignee(self.connection):
            assignee = ASSIGNEE_OVERRIDES.get(data["assignee"])
            if assignee is not None:
                found["assignee"] = assignee
        return found


class BulkForwardForm(forms.Form):
    """The reports list's bulk bar, posted to "Send to Jira": the ticked rows (`ids`) or every
    report matching the list's filter."""

    all_matching = forms.BooleanField(required=False)
    filter = forms.CharField(required=False, max_length=4000)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        getlist = getattr(self.data, "getlist", lambda key: [])
        data["ids"] = [int(x) for x in getlist("ids") if str(x).isdigit()]
        if not data["ids"] and not data.get("all_matching"):
            raise forms.ValidationError("Tick the reports to send to Jira first.")
        return data


class LinkExistingForm(forms.Form):
    issue = forms.CharField(
        max_length=500,
        label="Link existing Jira issue",
        error_messages={"required": "Enter an issue key like MOB-12, or the issue's address in Jira."},
    )
