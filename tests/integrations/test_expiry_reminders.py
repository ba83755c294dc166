"""Reminders before a connection's secret expires (issue 5 §2.4: the token's expiry date drives
rotation reminders; the OAuth 2.0 grant's one-year limit too)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from accounts.models import Membership, Role
from bugs.models import App
from integrations import services, tasks
from integrations.models import AuthType, JiraConnection
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


def _connection(app: App, expires_in: timedelta | None, auth_type: str = AuthType.BASIC) -> JiraConnection:
    connection = JiraConnection(
        app=app,
        auth_type=auth_type,
        site_url="https://acme.atlassian.net",
        identity_email="alice@acme.example",
        secret_expires_at=timezone.now() + expires_in if expires_in is not None else None,
    )
    connection.set_secrets({"api_token": "ATATT3x-secret-token-value"}, entered=True)
    connection.save()
    return connection


def _run(days_later: float = 0) -> int:
    return services.credential_expiry_reminders(now=timezone.now() + timedelta(days=days_later))


def test_owners_and_admins_hear_once_per_step(
    app: App, owner: Membership, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    admin = MembershipFactory(organization=app.organization, role=Role.ADMIN)
    MembershipFactory(organization=app.organization, role=Role.MEMBER)
    _connection(app, timedelta(days=20))

    with django_capture_on_commit_callbacks(execute=True):
        assert _run() == 0  # 20 days left: nothing yet
        assert _run(7) == 1  # 13 days left: the two-week reminder
        assert _run(7.5) == 0  # same step: not again
        assert _run(18) == 1  # 2 days left
        assert _run(21) == 1  # expired
        assert _run(30) == 0
    assert len(mail.outbox) == 3
    assert sorted(mail.outbox[0].to) == sorted([owner.user.email, admin.user.email])
    assert "expires" in mail.outbox[0].subject and "has expired" in mail.outbox[2].subject
    body = mail.outbox[0].body
    assert f"/apps/{app.pk}/settings/integrations/jira/" in body and "new API token" in body
    assert "ATATT3x-secret-token-value" not in body


def test_a_late_first_run_sends_only_the_nearest_step(
    app: App, owner: Membership, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    _connection(app, timedelta(days=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert _run() == 1
        assert _run() == 0
    assert len(mail.outbox) == 1 and "expires" in mail.outbox[0].subject


def test_new_credentials_start_the_reminders_over(app: App, owner: Membership) -> None:
    connection = _connection(app, timedelta(days=2))
    assert _run() == 1
    draft = JiraConnection(app=app, auth_type=AuthType.BASIC, site_url=connection.site_url)
    draft.set_secrets({"api_token": "ATATT3x-the-new-token"}, entered=True)
    draft.secret_expires_at = timezone.now() + timedelta(days=10)
    services.jira_connection_save(app=app, draft=draft)
    assert JiraConnection.objects.get(pk=connection.pk).expiry_reminder_days is None
    assert _run() == 1  # the new token is 10 days from expiry: its two-week reminder


def test_oauth_grants_are_reminded_too_and_secrets_that_do_not_expire_never(
    app: App,
    owner: Membership,
    django_capture_on_commit_callbacks,  # type: ignore[no-untyped-def]
) -> None:
    _connection(app, None, AuthType.OAUTH_SERVICE_ACCOUNT)
    assert _run(400) == 0
    JiraConnection.objects.all().delete()
    oauth = _connection(app, timedelta(days=5), AuthType.OAUTH2)
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.remind_expiring_credentials.delay().get() == 1
    assert JiraConnection.objects.get(pk=oauth.pk).expiry_reminder_days == 14
    assert len(mail.outbox) == 1 and "Sign in with Atlassian again" in mail.outbox[0].body


def test_beat_runs_the_reminders() -> None:
    entry = PeriodicTask.objects.select_related("interval").get(name="jira-credential-expiry-reminders")
    assert entry.task == tasks.remind_expiring_credentials.name and entry.enabled
    assert entry.interval.every <= 60 * 60 and entry.interval.period == "seconds"
