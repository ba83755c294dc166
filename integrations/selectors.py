"""Reads of the integration, scoped to what the user may see (a row they may not see is a 404)."""

from __future__ import annotations

from django.http import Http404

from accounts.models import MANAGER_ROLES, User
from bugs import selectors as bug_selectors
from bugs.models import App

from .models import ConnectInstallation, JiraConnection


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
