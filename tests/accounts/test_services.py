from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from accounts import services
from accounts.errors import InvitationInvalid, MembershipError
from accounts.models import Invitation, Membership, Organization, Role
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_organization_create_makes_the_creator_its_owner():
    user = UserFactory()
    organization = services.organization_create(name="  Acme  ", owner=user)
    assert organization.name == "Acme"
    assert Membership.objects.get(organization=organization, user=user).role == Role.OWNER


def test_organization_slugs_stay_unique():
    user = UserFactory()
    first = services.organization_create(name="Acme", owner=user)
    second = services.organization_create(name="Acme", owner=user)
    assert first.slug == "acme" and second.slug == "acme-2"


def test_invitation_is_emailed_with_a_link_whose_token_is_stored_hashed(
    owner, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        invitation, token = services.invitation_create(
            organization=owner.organization, email="New@Example.com", role=Role.ADMIN, invited_by=owner.user
        )
    assert invitation.email == "new@example.com"
    assert token not in invitation.token_hash
    (message,) = mail.outbox
    assert message.to == ["new@example.com"]
    assert f"/invites/{token}/" in message.body
    assert owner.organization.name in message.subject


def test_inviting_an_existing_member_is_refused(owner):
    other = MembershipFactory(organization=owner.organization)
    with pytest.raises(MembershipError, match="already a member"):
        services.invitation_create(
            organization=owner.organization, email=other.user.email, role=Role.MEMBER, invited_by=owner.user
        )


def test_only_an_owner_can_invite_an_owner(owner):
    admin = MembershipFactory(organization=owner.organization, role=Role.ADMIN)
    with pytest.raises(MembershipError, match="Only an owner"):
        services.invitation_create(
            organization=owner.organization, email="x@example.com", role=Role.OWNER, invited_by=admin.user
        )


def test_a_new_invitation_replaces_the_pending_one(owner):
    services.invitation_create(
        organization=owner.organization, email="x@example.com", role=Role.MEMBER, invited_by=owner.user
    )
    services.invitation_create(
        organization=owner.organization, email="x@example.com", role=Role.ADMIN, invited_by=owner.user
    )
    assert Invitation.objects.get(email="x@example.com").role == Role.ADMIN


def _invite(owner, email="guest@example.com", role=Role.MEMBER):
    return services.invitation_create(
        organization=owner.organization, email=email, role=role, invited_by=owner.user
    )[0]


def test_accepting_joins_the_organization_with_the_invited_role(owner):
    invitation = _invite(owner, role=Role.ADMIN)
    guest = UserFactory(email="guest@example.com")
    membership = services.invitation_accept(invitation=invitation, user=guest)
    assert membership.organization == owner.organization and membership.role == Role.ADMIN
    invitation.refresh_from_db()
    assert invitation.accepted_by == guest and invitation.accepted_at is not None


def test_an_invitation_works_once(owner):
    invitation = _invite(owner)
    services.invitation_accept(invitation=invitation, user=UserFactory(email="guest@example.com"))
    with pytest.raises(InvitationInvalid, match="already been used"):
        services.invitation_accept(invitation=invitation, user=UserFactory(email="GUEST2@example.com"))


def test_an_expired_invitation_is_refused(owner):
    invitation = _invite(owner)
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(InvitationInvalid, match="expired"):
        services.invitation_accept(invitation=invitation, user=UserFactory(email="guest@example.com"))
    assert not Membership.objects.filter(user__email="guest@example.com").exists()


def test_an_invitation_for_another_address_is_refused(owner):
    invitation = _invite(owner)
    with pytest.raises(InvitationInvalid, match=r"sent to guest@example\.com"):
        services.invitation_accept(invitation=invitation, user=UserFactory(email="someone@example.com"))


def test_the_last_owner_cannot_be_removed_or_demoted(owner):
    with pytest.raises(MembershipError, match="at least one owner"):
        services.membership_remove(membership=owner, by=owner)
    with pytest.raises(MembershipError, match="at least one owner"):
        services.membership_change_role(membership=owner, role=Role.MEMBER, by=owner)
    assert Organization.objects.get(pk=owner.organization_id).memberships.get().role == Role.OWNER


def test_an_admin_cannot_remove_or_promote_owners(owner):
    admin = MembershipFactory(organization=owner.organization, role=Role.ADMIN)
    member = MembershipFactory(organization=owner.organization, role=Role.MEMBER)
    with pytest.raises(MembershipError):
        services.membership_remove(membership=owner, by=admin)
    with pytest.raises(MembershipError):
        services.membership_change_role(membership=member, role=Role.OWNER, by=admin)
    services.membership_change_role(membership=member, role=Role.ADMIN, by=admin)
    assert Membership.objects.get(pk=member.pk).role == Role.ADMIN


def test_an_owner_can_hand_over_and_then_leave(owner):
    other = MembershipFactory(organization=owner.organization, role=Role.MEMBER)
    services.membership_change_role(membership=other, role=Role.OWNER, by=owner)
    services.membership_remove(membership=owner, by=owner)
    assert list(Membership.objects.filter(organization=owner.organization)) == [other]
