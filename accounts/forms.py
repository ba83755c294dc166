from django import forms

from .models import Role


class OrganizationForm(forms.Form):
    name = forms.CharField(max_length=120, label="Organization name")


class InvitationForm(forms.Form):
    email = forms.EmailField(label="Email address")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)
