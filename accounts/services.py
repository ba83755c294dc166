"""Writes to organizations, memberships and invitations."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from .errors import InvitationInvalid, MembershipError
from .models import Invitation, Membership, Organization, Role, User
from .tokens import hash_secret, new_secret

logger = logging.getLogger(__name__)


def _unique_slug(name: str) -> str:
    base = slugify(name)[:120] or "organization"
    slug, n = base, 1
    while Organization.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


@transaction.atomic
def organization_create(*, name: str, owner: User) -> Organization:
    """A new organization with `owner` as its first owner."""
    organization = Organization.objects.create(name=name.strip(), slug=_unique_slug(name))
    Membership.objects.create(organization=organization, user=owner, role=Role.OWNER)
    logger.info("accounts.organization.created", extra={"organization_id": organization.pk})
    return organization


def organization_create_personal(*, user: User) -> Organization:
    """Every new sign-up gets an organization of their own, so the dashboard is never empty."""
    label = user.name or user.email.split("@")[0]
    return organization_create(name=f"{label}'s organization", owner=user)


@transaction.atomic
def invitation_create(
    *, organization: Organization, email: str, role: str, invited_by: User
) -> tuple[Invitation, str]:
    """Record an invitation and email its link. Returns the invitation and the raw token."""
    email = email.strip().lower()
    if role not in Role.values:
        raise MembershipError("Choose a role: owner, admin or member.")
    if Membership.objects.filter(organization=organization, user__email__iexact=email).exists():
        raise MembershipError(f"{email} is already a member of {organization.name}.")
    inviter = Membership.objects.get(organization=organization, user=invited_by)
    if role == Role.OWNER and inviter.role != Role.OWNER:
        raise MembershipError("Only an owner can invite another owner.")
    # A new invitation to the same address replaces the older pending one.
    Invitation.objects.filter(
        organization=organization, email__iexact=email, accepted_at__isnull=True
    ).delete()
    token = new_secret("inv_")
    invitation = Invitation.objects.create(
        organization=organization,
        email=email,
        role=role,
        token_hash=hash_secret(token),
        invited_by=invited_by,
        expires_at=timezone.now() + timedelta(days=settings.INVITATION_TTL_DAYS),
    )
    link = settings.SITE_URL + reverse("invitation_accept", kwargs={"token": token})
    context = {"invitation": invitation, "link": link, "inviter": invited_by}
    transaction.on_commit(
        lambda: send_mail(
            subject=f"[Bugbridge] Join {organization.name}",
            message=render_to_string("accounts/email/invitation.txt", context),
            from_email=None,
            recipient_list=[email],
        )
    )
    logger.info(
        "accounts.invitation.created",
        extra={"organization_id": organization.pk, "invitation_id": invitation.pk},
    )
    return invitation, token


@transaction.atomic
def invitation_accept(*, invitation: Invitation, user: User) -> Membership:
    """Join the invitation's organization. The link works once, before it expires."""
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.accepted_at is not None:
        raise InvitationInvalid("This invitation has already been used.")
    if invitation.expires_at <= timezone.now():
        raise InvitationInvalid("This invitation has expired. Ask for a new one.")
    if invitation.email.lower() != user.email.lower():
        raise InvitationInvalid(
            f"This invitation was sent to {invitation.email}. "
            "Log out and sign in (or sign up) with that address to accept it."
        )
    membership, created = Membership.objects.get_or_create(
        organization=invitation.organization, user=user, defaults={"role": invitation.role}
    )
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    logger.info(
        "accounts.invitation.accepted",
        extra={"organization_id": invitation.organization_id, "joined": created},
    )
    return membership


@transaction.atomic
def invitation_revoke(*, invitation: Invitation) -> None:
    invitation.delete()


def _owners_left(organization_id: int, excluding: Membership) -> int:
    return (
        Membership.objects.filter(organization_id=organization_id, role=Role.OWNER)
        .exclude(pk=excluding.pk)
        .count()
    )


@transaction.atomic
def membership_remove(*, membership: Membership, by: Membership) -> None:
    """Remove someone from an organization (or leave it). The last owner cannot go."""
    if membership.role == Role.OWNER and by.role != Role.OWNER:
        raise MembershipError("Only an owner can remove an owner.")
    if membership.role == Role.OWNER and _owners_left(membership.organization_id, membership) == 0:
        raise MembershipError("An organization needs at least one owner: make someone else owner first.")
    membership.delete()


@transaction.atomic
def membership_change_role(*, membership: Membership, role: str, by: Membership) -> Membership:
    if role not in Role.values:
        raise MembershipError("Choose a role: owner, admin or member.")
    if by.role != Role.OWNER and Role.OWNER in (role, membership.role):
        raise MembershipError("Only an owner can grant or take away the owner role.")
    if (
        membership.role == Role.OWNER
        and role != Role.OWNER
        and _owners_left(membership.organization_id, membership) == 0
    ):
        raise MembershipError("An organization needs at least one owner: make someone else owner first.")
    membership.role = role
    membership.save(update_fields=["role"])
    return membership
