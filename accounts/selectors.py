"""Reads of organizations and memberships, always from the point of view of one user."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest

from .models import Invitation, Membership, User
from .tokens import hash_secret

SESSION_KEY = "current_organization_id"


def memberships_for_user(*, user: User) -> QuerySet[Membership]:
    return Membership.objects.filter(user=user).select_related("organization")


def membership_get(*, user: User, organization_id: int) -> Membership:
    """The user's membership in that organization, or 404 (never 403: do not confirm it exists)."""
    try:
        return memberships_for_user(user=user).get(organization_id=organization_id)
    except (Membership.DoesNotExist, ValueError, TypeError):
        raise Http404("No such organization.") from None


def memberships_of_request(request: HttpRequest) -> list[Membership]:
    """The signed-in user's memberships, by organization name: one query per request, shared by
    the switcher and `membership_current`."""
    if not request.user.is_authenticated:
        return []
    cached = getattr(request, "_memberships", None)
    if cached is None:
        cached = list(memberships_for_user(user=request.user).order_by("organization__name"))
        request._memberships = cached  # type: ignore[attr-defined]
    return cached


def membership_current(request: HttpRequest) -> Membership | None:
    """The organization the user is working in: the one picked in the switcher, else the one
    they joined first."""
    memberships = memberships_of_request(request)
    chosen_id = request.session.get(SESSION_KEY) if memberships else None
    for membership in memberships:
        if membership.organization_id == chosen_id:
            return membership
    return min(memberships, key=lambda m: (m.created_at, m.pk), default=None)


def membership_require_current(request: HttpRequest, *, manage: bool = False) -> Membership:
    membership = membership_current(request)
    if membership is None:
        raise Http404("You are not a member of any organization yet.")
    if manage and not membership.can_manage:
        raise PermissionDenied("Only owners and admins can do this.")
    return membership


def organization_members(*, membership: Membership) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(organization_id=membership.organization_id)
        .select_related("user")
        .order_by("role", "user__email")
    )


def organization_member_get(*, membership: Membership, member_id: int) -> Membership:
    try:
        return organization_members(membership=membership).get(pk=member_id)
    except (Membership.DoesNotExist, ValueError, TypeError):
        raise Http404("No such member.") from None


def invitations_pending(*, membership: Membership) -> QuerySet[Invitation]:
    return Invitation.objects.filter(
        organization_id=membership.organization_id, accepted_at__isnull=True
    ).select_related("invited_by")


def invitation_get(*, membership: Membership, invitation_id: int) -> Invitation:
    try:
        return invitations_pending(membership=membership).get(pk=invitation_id)
    except (Invitation.DoesNotExist, ValueError, TypeError):
        raise Http404("No such invitation.") from None


def invitation_by_token(*, token: str) -> Invitation:
    """The invitation behind an emailed link; the token itself is the proof of access."""
    try:
        return Invitation.objects.select_related("organization").get(token_hash=hash_secret(token))
    except Invitation.DoesNotExist:
        raise Http404("This invitation link is not valid.") from None
