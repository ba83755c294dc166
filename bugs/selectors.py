"""Reads of apps and reports, each scoped to the organizations the user belongs to.

Another organization's row is a 404, never a 403: we do not confirm that it exists.
"""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet
from django.http import Http404

from accounts.models import Membership, User
from accounts.tokens import hash_secret

from .models import App, Attachment, BugReport, Comment


def app_by_sdk_token(*, token: str) -> App | None:
    """The app an SDK token belongs to; None when no app has it (wrong, old or rotated)."""
    if not token:
        return None
    try:
        return App.objects.get(sdk_token_hash=hash_secret(token))
    except App.DoesNotExist:
        return None


def apps_for_user(*, user: User) -> QuerySet[App]:
    return App.objects.filter(organization__memberships__user=user)


def apps_for_membership(*, membership: Membership) -> QuerySet[App]:
    return (
        App.objects.filter(organization_id=membership.organization_id)
        .annotate(
            open_reports=Count("reports", filter=~Q(reports__status="closed")),
        )
        .order_by("name")
    )


def app_get(*, user: User, app_id: int) -> App:
    try:
        return apps_for_user(user=user).select_related("organization").get(pk=app_id)
    except (App.DoesNotExist, ValueError, TypeError):
        raise Http404("No such app.") from None


def app_membership(*, user: User, app: App) -> Membership:
    """The user's membership in the app's organization (the app was already scoped to them)."""
    return Membership.objects.get(user=user, organization_id=app.organization_id)


def reports_for_app(*, app: App, status: str | None = None) -> QuerySet[BugReport]:
    reports = BugReport.objects.filter(app=app).select_related("assignee")
    if status:
        reports = reports.filter(status=status)
    return reports.order_by("-created_at", "-id")


def report_get(*, user: User, app_id: int, number: int) -> BugReport:
    try:
        return (
            BugReport.objects.filter(app__organization__memberships__user=user)
            .select_related("app", "app__organization", "assignee")
            .get(app_id=app_id, number=number)
        )
    except (BugReport.DoesNotExist, ValueError, TypeError):
        raise Http404("No such report.") from None


def report_members(*, report: BugReport) -> QuerySet[User]:
    """People a report can be assigned to: members of its organization."""
    return User.objects.filter(memberships__organization_id=report.app.organization_id).order_by("email")


def attachment_get(*, user: User, app_id: int, number: int, attachment_id: int) -> Attachment:
    try:
        return Attachment.objects.select_related("report").get(
            pk=attachment_id,
            report__app_id=app_id,
            report__number=number,
            report__app__organization__memberships__user=user,
        )
    except (Attachment.DoesNotExist, ValueError, TypeError):
        raise Http404("No such attachment.") from None


def comment_get(*, user: User, app_id: int, number: int, comment_id: int) -> Comment:
    try:
        return Comment.objects.select_related("report", "author").get(
            pk=comment_id,
            report__app_id=app_id,
            report__number=number,
            report__app__organization__memberships__user=user,
        )
    except (Comment.DoesNotExist, ValueError, TypeError):
        raise Http404("No such comment.") from None
