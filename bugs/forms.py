from django import forms

from accounts.models import User

from .models import App, Platform, Priority, Status


class AppForm(forms.Form):
    name = forms.CharField(max_length=120, label="App name")
    platform = forms.ChoiceField(choices=Platform.choices)

    def __init__(self, *args: object, organization_id: int, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.organization_id = organization_id

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if App.objects.filter(organization_id=self.organization_id, name__iexact=name).exists():
            raise forms.ValidationError("An app with this name already exists in this organization.")
        return name


class TriageForm(forms.Form):
    """Status, priority and assignee; a field left out of the POST is left unchanged."""

    status = forms.ChoiceField(choices=Status.choices, required=False)
    priority = forms.ChoiceField(choices=Priority.choices, required=False)
    assignee = forms.ModelChoiceField(queryset=User.objects.none(), required=False, empty_label="Unassigned")

    def __init__(self, *args: object, members: "forms.QuerySet[User]", **kwargs: object) -> None:  # type: ignore[name-defined]
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["assignee"].queryset = members  # type: ignore[attr-defined]


class CommentForm(forms.Form):
    body = forms.CharField(
        label="Comment",
        max_length=20_000,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "Write a comment…"}),
        help_text="Markdown: **bold**, *italic*, `code`, lists, links",
    )


class BulkTriageForm(forms.Form):
    """One change (status, priority or assignee) for the selected rows or the whole filter."""

    action = forms.ChoiceField(label="Change")
    all_matching = forms.BooleanField(required=False)
    # The "Close" button brings its own action: the dropdown may be left empty.
    use_required_attribute = False

    def __init__(self, *args: object, members: "list[User]", **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.members = {str(m.pk): m for m in members}
        self.fields["action"].choices = [  # type: ignore[attr-defined]
            ("", "Choose a change…"),
            ("Status", [(f"status:{v}", label) for v, label in Status.choices]),
            ("Priority", [(f"priority:{v}", label) for v, label in Priority.choices]),
            (
                "Assignee",
                [("assignee:none", "Unassigned")]
                + [(f"assignee:{pk}", m.display_name) for pk, m in self.members.items()],
            ),
        ]

    def clean(self) -> dict[str, object]:
        data = super().clean()
        getlist = getattr(self.data, "getlist", lambda key: [])
        data["ids"] = [int(x) for x in getlist("ids") if str(x).isdigit()]
        if not data["ids"] and not data.get("all_matching"):
            raise forms.ValidationError("Select at least one report.")
        return data

    def changes(self) -> dict[str, object]:
        field, _, value = self.cleaned_data["action"].partition(":")
        if field == "assignee":
            return {"assignee": self.members.get(value)}
        return {field: value}
