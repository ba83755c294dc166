"""Organization pages: switcher, creation, members and invitations. Views are glue."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import selectors, services
from .errors import AccountsError
from .forms import InvitationForm, OrganizationForm, RoleForm


@require_POST
def organization_switch(request: HttpRequest) -> HttpResponse:
    membership = selectors.membership_get(
        user=request.user, organization_id=request.POST.get("organization_id")
    )
    request.session[selectors.SESSION_KEY] = membership.organization_id
    nxt = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(nxt, {request.get_host()}):
        nxt = reverse("home")
    return redirect(nxt)


@require_http_methods(["GET", "POST"])
def organization_create(request: HttpRequest) -> HttpResponse:
    form = OrganizationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        organization = services.organization_create(name=form.cleaned_data["name"], owner=request.user)
        request.session[selectors.SESSION_KEY] = organization.pk
        messages.success(request, f"{organization.name} is ready. Add your first app.")
        return redirect("app_list")
    return render(request, "accounts/organization_form.html", {"form": form})


@require_GET
def member_list(request: HttpRequest) -> HttpResponse:
    membership = selectors.membership_require_current(request)
    return render(request, "accounts/member_list.html", _members_context(membership))


def _members_context(membership, invite_form=None) -> dict:  # type: ignore[no-untyped-def]
    return {
        "membership": membership,
        "members": selectors.organization_members(membership=membership),
        "invitations": selectors.invitations_pending(membership=membership),
        "invite_form": invite_form or InvitationForm(),
        "role_form": RoleForm(),
    }


@require_POST
def invitation_create(request: HttpRequest) -> HttpResponse:
    membership = selectors.membership_require_current(request, manage=True)
    form = InvitationForm(request.POST)
    if form.is_valid():
        try:
            services.invitation_create(
                organization=membership.organization, invited_by=request.user, **form.cleaned_data
            )
        except AccountsError as error:
            form.add_error("email", str(error))
        else:
            messages.success(request, f"Invitation sent to {form.cleaned_data['email']}.")
            return redirect("member_list")
    context = _members_context(membership, invite_form=form)
    return render(request, "accounts/member_list.html", context, status=400)


@require_POST
def invitation_revoke(request: HttpRequest, invitation_id: int) -> HttpResponse:
    membership = selectors.membership_require_current(request, manage=True)
    invitation = selectors.invitation_get(membership=membership, invitation_id=invitation_id)
    services.invitation_revoke(invitation=invitation)
    messages.success(request, f"The invitation to {invitation.email} was revoked.")
    return redirect("member_list")


@require_http_methods(["GET", "POST"])
def member_remove(request: HttpRequest, member_id: int) -> HttpResponse:
    membership = selectors.membership_require_current(request, manage=True)
    target = selectors.organization_member_get(membership=membership, member_id=member_id)
    if request.method == "POST":
        try:
            services.membership_remove(membership=target, by=membership)
        except AccountsError as error:
            messages.error(request, str(error))
        else:
            messages.success(request, f"{target.user} was removed from {target.organization}.")
        return redirect("member_list")
    return render(
        request,
        "confirm.html",
        {
            "title": f"Remove {target.user}?",
            "body": f"{target.user} will lose access to {target.organization} and its reports.",
            "action": "Remove member",
            "cancel_url": reverse("member_list"),
        },
    )


@require_POST
def member_change_role(request: HttpRequest, member_id: int) -> HttpResponse:
    membership = selectors.membership_require_current(request, manage=True)
    target = selectors.organization_member_get(membership=membership, member_id=member_id)
    form = RoleForm(request.POST)
    if form.is_valid():
        try:
            services.membership_change_role(membership=target, role=form.cleaned_data["role"], by=membership)
        except AccountsError as error:
            messages.error(request, str(error))
        else:
            messages.success(request, f"{target.user} is now {target.get_role_display().lower()}.")
    return redirect("member_list")


@require_http_methods(["GET", "POST"])
def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    invitation = selectors.invitation_by_token(token=token)
    error = None
    if request.method == "POST":
        try:
            membership = services.invitation_accept(invitation=invitation, user=request.user)
        except AccountsError as exc:
            error = str(exc)
        else:
            request.session[selectors.SESSION_KEY] = membership.organization_id
            messages.success(request, f"Welcome to {membership.organization}.")
            return redirect("home")
    return render(
        request,
        "accounts/invitation_accept.html",
        {"invitation": invitation, "error": error},
        status=400 if error else 200,
    )
