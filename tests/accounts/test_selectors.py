import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.test import RequestFactory

from accounts import selectors
from accounts.models import Role
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def _request(user, session=None):  # type: ignore[no-untyped-def]
    request = RequestFactory().get("/")
    request.user = user
    request.session = session or {}
    return request


def test_current_membership_follows_the_switcher_else_the_oldest():
    first = MembershipFactory()
    second = MembershipFactory(user=first.user)
    assert selectors.membership_current(_request(first.user)) == first
    chosen = _request(first.user, {selectors.SESSION_KEY: second.organization_id})
    assert selectors.membership_current(chosen) == second


def test_a_stale_switcher_choice_falls_back_instead_of_leaking():
    mine = MembershipFactory()
    elsewhere = MembershipFactory()
    request = _request(mine.user, {selectors.SESSION_KEY: elsewhere.organization_id})
    assert selectors.membership_current(request) == mine


def test_requiring_a_manager_refuses_members():
    member = MembershipFactory(role=Role.MEMBER)
    assert selectors.membership_require_current(_request(member.user)) == member
    with pytest.raises(PermissionDenied):
        selectors.membership_require_current(_request(member.user), manage=True)
    with pytest.raises(Http404):
        selectors.membership_require_current(_request(UserFactory()))


def test_members_and_invitations_are_of_the_current_organization_only(owner):
    colleague = MembershipFactory(organization=owner.organization)
    stranger = MembershipFactory()
    assert set(selectors.organization_members(membership=owner)) == {owner, colleague}
    with pytest.raises(Http404):
        selectors.organization_member_get(membership=owner, member_id=stranger.pk)


def test_membership_get_is_a_404_for_other_organizations(owner, outsider):
    with pytest.raises(Http404):
        selectors.membership_get(user=outsider, organization_id=owner.organization_id)
    with pytest.raises(Http404):
        selectors.invitation_by_token(token="inv_unknown")
