import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.urls import reverse

from accounts.models import Invitation, Membership, Role
from accounts.selectors import SESSION_KEY
from tests.factories import AppFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db
PASSWORD = "a-long-unusual-passphrase-42"


def _link(message) -> str:  # type: ignore[no-untyped-def]
    return re.search(r"https?://testserver(/\S+)", message.body).group(1)


def test_dashboard_pages_need_a_login(client):
    for name in ("home", "app_list", "member_list", "organization_create"):
        response = client.get(reverse(name))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("account_login"))


def test_sign_up_verify_email_then_land_in_a_personal_organization(client):
    response = client.post(
        reverse("account_signup"),
        {"email": "Ada@Example.com", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 302
    # Verification is mandatory: until the link is followed the dashboard stays closed.
    assert client.get(reverse("home")).status_code == 302
    (message,) = mail.outbox
    assert message.to == ["ada@example.com"]
    confirm = client.post(_link(message))
    assert confirm.status_code == 302
    assert EmailAddress.objects.get(email="ada@example.com").verified
    membership = Membership.objects.get(user__email="ada@example.com")
    assert membership.role == Role.OWNER
    assert client.get(reverse("home")).status_code == 200


def test_log_in_by_email_and_log_out(client):
    user = UserFactory(email="bo@example.com")
    user.set_password(PASSWORD)
    user.save()
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    MembershipFactory(user=user)
    response = client.post(reverse("account_login"), {"login": "bo@example.com", "password": PASSWORD})
    assert response.status_code == 302
    assert client.get(reverse("home")).status_code == 200
    client.post(reverse("account_logout"))
    assert client.get(reverse("home")).status_code == 302


def test_wrong_password_is_refused_with_a_message(client):
    user = UserFactory(email="bo@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    response = client.post(reverse("account_login"), {"login": "bo@example.com", "password": "nope"})
    assert response.status_code == 200
    assert b"not correct" in response.content


def test_password_reset_sends_a_working_link(client):
    user = UserFactory(email="cy@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    client.post(reverse("account_reset_password"), {"email": "cy@example.com"})
    (message,) = mail.outbox
    form = client.get(_link(message), follow=True)
    assert form.status_code == 200
    new = "another-long-passphrase-77"
    done = client.post(
        form.redirect_chain[-1][0] if form.redirect_chain else _link(message),
        {"password1": new, "password2": new},
    )
    assert done.status_code == 302
    user.refresh_from_db()
    assert user.check_password(new)


def test_a_user_without_an_organization_is_asked_to_create_one(client):
    client.force_login(UserFactory())
    assert client.get(reverse("home"))["Location"] == reverse("organization_create")
    response = client.post(reverse("organization_create"), {"name": "Side project"})
    assert response.status_code == 302
    assert Membership.objects.get(organization__name="Side project").role == Role.OWNER


def test_the_switcher_changes_the_current_organization(client, owner):
    second = MembershipFactory(user=owner.user, organization__name="Second Org")
    AppFactory(organization=second.organization, name="Only in second")
    client.force_login(owner.user)
    assert b"Only in second" not in client.get(reverse("home")).content
    client.post(reverse("organization_switch"), {"organization_id": second.organization_id})
    assert client.session[SESSION_KEY] == second.organization_id
    assert b"Only in second" in client.get(reverse("home")).content


def test_switching_to_an_organization_you_do_not_belong_to_is_a_404(client, owner, outsider):
    client.force_login(outsider)
    response = client.post(reverse("organization_switch"), {"organization_id": owner.organization_id})
    assert response.status_code == 404


def _invite(client, **data):  # type: ignore[no-untyped-def]
    from django.test import TestCase

    # The email leaves only once the invitation is committed.
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(reverse("invitation_create"), data)


def test_owner_invites_and_the_invitee_joins_through_the_link(client, owner):
    client.force_login(owner.user)
    response = _invite(client, email="dee@example.com", role="admin")
    assert response.status_code == 302
    (message,) = mail.outbox
    link = _link(message)
    client.logout()
    # Not signed in: the link leads to the login page and back.
    response = client.get(link)
    assert response.status_code == 302 and "next=" in response["Location"]
    invitee = UserFactory(email="dee@example.com")
    client.force_login(invitee)
    assert b"Join" in client.get(link).content
    assert client.post(link).status_code == 302
    assert Membership.objects.get(user=invitee, organization=owner.organization).role == Role.ADMIN
    assert client.session[SESSION_KEY] == owner.organization_id


def test_an_invitation_for_someone_else_shows_what_to_do(client, owner):
    client.force_login(owner.user)
    _invite(client, email="dee@example.com", role="member")
    link = _link(mail.outbox[0])
    client.force_login(UserFactory(email="eve@example.com"))
    response = client.post(link)
    assert response.status_code == 400
    assert b"sent to dee@example.com" in response.content
    assert not Membership.objects.filter(
        user__email="eve@example.com", organization=owner.organization
    ).exists()


def test_an_invalid_invitation_form_keeps_what_was_typed(client, owner):
    client.force_login(owner.user)
    response = client.post(reverse("invitation_create"), {"email": "not-an-email", "role": "member"})
    assert response.status_code == 400
    assert b'value="not-an-email"' in response.content
    assert not Invitation.objects.exists()


def test_members_cannot_invite_or_remove(client, owner):
    member = MembershipFactory(organization=owner.organization, role=Role.MEMBER)
    client.force_login(member.user)
    assert client.get(reverse("member_list")).status_code == 200
    assert (
        client.post(reverse("invitation_create"), {"email": "x@example.com", "role": "member"}).status_code
        == 403
    )
    assert client.post(reverse("member_remove", args=[owner.pk])).status_code == 403


def test_removing_a_member_asks_for_confirmation_first(client, owner):
    member = MembershipFactory(organization=owner.organization)
    client.force_login(owner.user)
    page = client.get(reverse("member_remove", args=[member.pk]))
    assert page.status_code == 200 and b"Remove member" in page.content
    assert Membership.objects.filter(pk=member.pk).exists()
    client.post(reverse("member_remove", args=[member.pk]))
    assert not Membership.objects.filter(pk=member.pk).exists()


def test_revoking_an_invitation_kills_its_link(client, owner):
    client.force_login(owner.user)
    _invite(client, email="dee@example.com", role="member")
    link = _link(mail.outbox[0])
    client.post(reverse("invitation_revoke", args=[Invitation.objects.get().pk]))
    assert client.get(link).status_code == 404
