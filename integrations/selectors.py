"""Reads of the integration, scoped to what the user may see (a row they may not see is a 404)."""

from __future__ import annotations

from django.db.models import Count
from django.http import Http404

from accounts.models import MANAGER_ROLES, User
from bugs import selectors as bug_selectors
from bugs.models import App, BugReport, ReportTag

from .models import ConnectInstallation, FieldMapping, IssueLink, JiraConnection


def app_for_jira_admin(*, user: User, app_id: int) -> App:
    """The app, when the user is an owner or admin of its organization; members get a 404, as
    for an app they cannot see: the integration's pages and secrets are not theirs to know of."""
    app = bug_selectors.app_get(user=user, app_id=app_id)
    if not bug_selectors.app_membership(user=user, app=app).can_manage:
        raise Http404("No such app.")
    return app


def connection_for_app(*, app: App) -> JiraConnection | None:
    return JiraConnection.objects.filter(app=app).select_related("connect_installation").first()


def apps_for_jira_admin(*, user: User) -> list[App]:
    """The apps whose Jira connection the user may change (owner or admin of the organization)."""
    return list(
        App.objects.filter(
            organization__memberships__user=user, organization__memberships__role__in=MANAGER_ROLES
        )
        .select_related("organization")
        .order_by("organization__name", "name")
    )


def connect_installation(*, pk: int) -> ConnectInstallation:
    """A live installation (the signed link named it); a 404 once it is uninstalled."""
    found = ConnectInstallation.objects.filter(pk=pk, uninstalled_at=None).first()
    if found is None:
        raise Http404("No such installation.")
    return found


# How many recent reports the wizard reads to learn an app's user-attribute keys and tags.
RECENT_REPORTS = 500
TAGS_SHOWN = 30


def report_attribute_samples(*, app: App) -> dict[str, list[object]]:
    """Each user-attribute key seen in the app's recent reports → the values seen (for its kind)."""
    seen: dict[str, list[object]] = {}
    recent = BugReport.objects.filter(app=app).order_by("-number").values_list("user_attributes", flat=True)
    for attributes in recent[:RECENT_REPORTS]:
        if isinstance(attributes, dict):
            for key, value in attributes.items():
                seen.setdefault(key, []).append(value)
    return seen


def report_tags(*, app: App) -> list[str]:
    """The app's most used tags, most used first (the values a tags → options map can list)."""
    rows = (
        ReportTag.objects.filter(report__app=app)
        .values("name")
        .annotate(uses=Count("id"))
        .order_by("-uses", "name")[:TAGS_SHOWN]
    )
    return [row["name"] for row in rows]


def sample_report(*, app: App) -> BugReport | None:
    """The report the wizard's test issue is made from: the app's newest."""
    return BugReport.objects.filter(app=app).order_by("-number").first()


def field_mappings(*, connection: JiraConnection) -> list[FieldMapping]:
    return list(connection.field_mappings.all())


def forwarded_count(*, connection: JiraConnection) -> int:
    """Reports that have their issue in Jira through this connection."""
    return IssueLink.objects.filter(connection=connection, state=IssueLink.State.LINKED).count()


def waiting_count(*, connection: JiraConnection) -> int:
    """Reports asked for and not in Jira yet (sending, retrying or paused)."""
    return IssueLink.objects.filter(connection=connection, state=IssueLink.State.PENDING).count()
