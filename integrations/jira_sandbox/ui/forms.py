"""Forms of the sandbox's pages. The knobs form is built from `knobs.Knobs`, so a new knob shows
up on the page without touching this file (it only lacks a help text until one is added here)."""

from __future__ import annotations

import dataclasses
from typing import Any

from django import forms

from ..knobs import Knobs
from ..models import Account, FieldOption, Priority, Transition

# One line per knob, shown under its input.
KNOB_HELP: dict[str, str] = {
    "rate_limit": "Answer 429s like Jira's burst limit: a token bucket per endpoint and method.",
    "rate_get": "Tokens per second the GET buckets refill with.",
    "rate_post": "Tokens per second the POST buckets refill with.",
    "rate_put": "Tokens per second the PUT buckets refill with.",
    "rate_delete": "Tokens per second the DELETE buckets refill with.",
    "burst": "Bucket capacity: how many calls may come at once before the 429s start.",
    "latency_ms": "Added to every API call, in milliseconds.",
    "error_rate": "Share (0 to 1) of API calls answered 500 or 503 before doing anything.",
    "drop_rate": "Share (0 to 1) of writes that are committed, then lose their answer.",
    "drop_mode": "How a lost answer looks: a 502 from the edge, or a hung connection ending in a 504.",
    "drop_timeout_s": "How long a “timeout” drop holds the connection, in seconds.",
    "search_staleness_s": "A created or changed issue shows up in search this many seconds later.",
    "anonymous_fallback": "A wrong Basic token on a call Jira answers anonymously gets an anonymous 200.",
    "upload_limit": "Largest attachment accepted, in bytes (bigger ones get a 413).",
    "webhooks_enabled": "Send webhook deliveries at all.",
    "webhook_delay_s": "Wait this long before sending each batch of deliveries, in seconds.",
    "webhook_duplicate_rate": "Share (0 to 1) of deliveries sent twice, with the same identifier.",
    "webhook_drop_rate": "Share (0 to 1) of deliveries never sent.",
    "webhook_reorder": "Send each batch of deliveries in a shuffled order.",
    "seed": "Fixes the random draws of the rate knobs (for tests); leave empty for real randomness.",
}
# Knobs that take one of a few strings.
KNOB_CHOICES: dict[str, list[tuple[str, str]]] = {
    "drop_mode": [("502", "502 Bad Gateway"), ("timeout", "Timeout (504)")],
}


# Unit suffixes of knob names, spelled out in their labels.
KNOB_UNITS = {"_ms": " (ms)", "_s": " (s)"}


def _knob_label(name: str) -> str:
    """`drop_timeout_s` → "Drop timeout (s)"."""
    for suffix, unit in KNOB_UNITS.items():
        if name.endswith(suffix):
            return name[: -len(suffix)].replace("_", " ").capitalize() + unit
    return name.replace("_", " ").capitalize()


def _knob_field(name: str, type_name: str) -> forms.Field:
    """The form field for one knob, from its annotation (`bool`, `float`, `int`, `str`, `int | None`)."""
    optional = "None" in type_name
    base = type_name.split("|")[0].strip()
    help_text = KNOB_HELP.get(name, "")
    label = _knob_label(name)
    common: dict[str, Any] = {"label": label, "help_text": help_text, "required": not optional}
    if base == "bool":
        return forms.BooleanField(**{**common, "required": False})
    if base == "float":
        return forms.FloatField(min_value=0, **common)
    if base == "int":
        return forms.IntegerField(**common) if name == "seed" else forms.IntegerField(min_value=0, **common)
    if name in KNOB_CHOICES:
        return forms.ChoiceField(choices=KNOB_CHOICES[name], **common)
    return forms.CharField(max_length=200, **common)


class KnobsForm(forms.Form):
    """Every knob of a site; `changes()` gives what `knobs.knobs_update` takes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for spec in dataclasses.fields(Knobs):
            self.fields[spec.name] = _knob_field(spec.name, str(spec.type))

    def changes(self) -> dict[str, Any]:
        return dict(self.cleaned_data)

    def add_knob_error(self, message: str) -> None:
        """Put `knobs_update`'s refusal next to the knob it names (or above the form)."""
        named = [name for name in self.fields if f"'{name}'" in message]
        self.add_error(named[0] if named else None, message)


class ActorForm(forms.Form):
    """Who the sandbox's pages act as: the author of comments, the actor of changes and webhooks."""

    account_id = forms.ChoiceField(label="Acting as")
    next = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        people = Account.objects.filter(account_type=Account.Type.ATLASSIAN, active=True).order_by("pk")
        self.fields["account_id"].choices = [(a.account_id, f"{a.display_name} ({a.email})") for a in people]


class AdminApprovalForm(forms.Form):
    required = forms.BooleanField(required=False)


class PrioritySchemeForm(forms.Form):
    custom = forms.BooleanField(required=False)


class CommentForm(forms.Form):
    body = forms.CharField(
        label="Add a comment",
        max_length=32_767,  # Jira's limit for a comment body
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "Blank lines separate paragraphs."}),
        error_messages={"required": "Comment body can not be empty!"},
    )


class PriorityForm(forms.Form):
    priority_id = forms.ChoiceField(label="Priority")

    def __init__(self, *args: Any, priorities: list[Priority], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["priority_id"].choices = [(p.priority_id, p.name) for p in priorities]


class TransitionForm(forms.Form):
    """One transition button; `resolution_id` is sent only by transitions whose screen needs it."""

    transition_id = forms.ChoiceField()
    resolution_id = forms.ChoiceField(required=False, label="Resolution")

    def __init__(
        self, *args: Any, transitions: list[Transition], resolutions: list[FieldOption], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["transition_id"].choices = [(t.transition_id, t.name) for t in transitions]
        self.fields["resolution_id"].choices = [("", "—")] + [(r.option_id, r.value) for r in resolutions]

    def fields_payload(self) -> dict[str, Any] | None:
        """The transition's `fields` as the REST call would send them (None when nothing was picked)."""
        resolution = self.cleaned_data.get("resolution_id")
        return {"resolution": {"id": resolution}} if resolution else None
