import pytest
from django.http import Http404

from bugs import selectors, services
from tests.factories import AppFactory, CommentFactory, MembershipFactory, ReportFactory

pytestmark = pytest.mark.django_db


def test_app_by_sdk_token_finds_only_the_exact_current_token(app):
    assert selectors.app_by_sdk_token(token=app.test_token) == app
    assert selectors.app_by_sdk_token(token=app.test_token + "x") is None
    assert selectors.app_by_sdk_token(token="") is None


def test_apps_for_membership_counts_open_reports_of_that_organization_only(owner, app):
    other = AppFactory()
    ReportFactory(app=app)
    services.report_update(report=ReportFactory(app=app), actor=None, status="closed")
    ReportFactory(app=other)
    (listed,) = selectors.apps_for_membership(membership=owner)
    assert listed == app and listed.open_reports == 1


def test_app_get_is_a_404_outside_the_users_organizations(owner, app, outsider):
    assert selectors.app_get(user=owner.user, app_id=app.pk) == app
    with pytest.raises(Http404):
        selectors.app_get(user=outsider, app_id=app.pk)
    with pytest.raises(Http404):
        selectors.app_get(user=owner.user, app_id="not-a-number")


def test_a_user_in_two_organizations_sees_apps_of_both():
    first = MembershipFactory()
    second = MembershipFactory(user=first.user)
    apps = {AppFactory(organization=first.organization), AppFactory(organization=second.organization)}
    assert set(selectors.apps_for_user(user=first.user)) == apps


def test_report_get_and_its_children_are_scoped(owner, app, outsider):
    report = ReportFactory(app=app)
    comment = CommentFactory(report=report)
    assert selectors.report_get(user=owner.user, app_id=app.pk, number=report.number) == report
    assert (
        selectors.comment_get(user=owner.user, app_id=app.pk, number=report.number, comment_id=comment.pk)
        == comment
    )
    for call in (
        lambda: selectors.report_get(user=outsider, app_id=app.pk, number=report.number),
        lambda: selectors.comment_get(
            user=outsider, app_id=app.pk, number=report.number, comment_id=comment.pk
        ),
        # The right ids in the wrong combination are not a way in either.
        lambda: selectors.comment_get(
            user=owner.user, app_id=app.pk, number=report.number + 1, comment_id=comment.pk
        ),
    ):
        with pytest.raises(Http404):
            call()


def test_report_members_are_the_reports_organization(owner, app):
    MembershipFactory()  # someone elsewhere
    colleague = MembershipFactory(organization=app.organization)
    report = ReportFactory(app=app)
    assert set(selectors.report_members(report=report)) == {owner.user, colleague.user}


def test_reports_for_app_filters_by_status_newest_first(app):
    first, second = ReportFactory(app=app), ReportFactory(app=app)
    services.report_update(report=first, actor=None, status="closed")
    assert list(selectors.reports_for_app(app=app)) == [second, first]
    assert list(selectors.reports_for_app(app=app, status="closed")) == [first]
