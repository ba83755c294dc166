"""Forwarding reports to Jira (integrations.forwarding): exactly one issue per report, against the
sandbox Jira on a live server, with tasks run eagerly (the real-worker proof is in tests/e2e)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail
from django.test import Client

from bugs.models import App, BugReport
from integrations import forwarding, services
from integrations.jira.auth import client_for
from integrations.jira_sandbox import metacache
from integrations.jira_sandbox import models as sandbox
from integrations.jira_sandbox.knobs import knobs_update
from integrations.models import IssueLink, JiraConnection
from tests.factories import ReportFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _acme() -> sandbox.Site:
    return sandbox.Site.objects.get(name="acme")


def _issues_labelled(label: str) -> int:
    return sandbox.Issue.objects.filter(site__name="acme", label_rows__name=label).count()


def test_a_report_goes_to_jira_once_with_its_label_and_property(app: App, connection: JiraConnection) -> None:
    report = ReportFactory(app=app, tags=["checkout"], priority="major")
    link = forwarding.forward_request(report=report)
    link.refresh_from_db()
    assert link.state == IssueLink.State.LINKED and link.issue_key.startswith("WEB-")
    assert link.label == f"bugbridge-{app.pk}-{report.number}"
    issue = client_for(connection).get_issue(link.issue_key, properties=[forwarding.PROPERTY_KEY])
    assert link.label in issue["fields"]["labels"] and "checkout" in issue["fields"]["labels"]
    assert issue["properties"][forwarding.PROPERTY_KEY]["report"] == report.pk
    # Asking again (a double click, a bulk send racing it) changes nothing.
    assert forwarding.forward_request(report=report).pk == link.pk
    assert _issues_labelled(link.label) == 1


def test_a_dropped_answer_is_settled_by_looking_the_issue_up(app: App, connection: JiraConnection) -> None:
    report = ReportFactory(app=app)
    knobs_update(site=_acme(), changes={"drop_rate": 1.0})  # Jira creates it, the answer is lost
    link = IssueLink.objects.create(
        report=report, connection=connection, label=forwarding.report_label(report)
    )
    step = forwarding.forward_link(link_id=link.pk)
    link.refresh_from_db()
    assert step.retry_in is not None and link.state == IssueLink.State.PENDING
    assert link.create_started_at is not None and _issues_labelled(link.label) == 1
    knobs_update(site=_acme(), changes={"drop_rate": 0.0})
    forwarding.forward_link(link_id=link.pk)
    link.refresh_from_db()
    assert link.state == IssueLink.State.LINKED and _issues_labelled(link.label) == 1
    assert sandbox.Issue.objects.get(site__name="acme", key=link.issue_key)


def test_a_lagging_search_is_waited_for_before_creating_again(
    app: App, connection: JiraConnection, settings: Any
) -> None:
    settings.JIRA_SEARCH_CONSISTENCY_S = 60
    report = ReportFactory(app=app)
    knobs_update(site=_acme(), changes={"drop_rate": 1.0, "search_staleness_s": 30.0})
    link = IssueLink.objects.create(
        report=report, connection=connection, label=forwarding.report_label(report)
    )
    forwarding.forward_link(link_id=link.pk)
    knobs_update(site=_acme(), changes={"drop_rate": 0.0})
    step = forwarding.forward_link(link_id=link.pk)  # search does not show it yet
    assert step.retry_in is not None and step.retry_in <= forwarding.LOOKUP_EVERY_S
    assert _issues_labelled(link.label) == 1  # and nothing was created again


def test_a_second_worker_never_talks_to_jira_for_a_claimed_link(app: App, connection: JiraConnection) -> None:
    report = ReportFactory(app=app)
    link = IssueLink.objects.create(
        report=report, connection=connection, label=forwarding.report_label(report)
    )
    assert forwarding._claim(link.pk)  # a worker holds it (and may be creating it now)
    step = forwarding.forward_link(link_id=link.pk)
    assert step.retry_in is not None and step.retry_in > 60
    assert _issues_labelled(link.label) == 0


def test_a_refusal_fails_the_link_with_words_and_retry_sends_again(
    app: App, connection: JiraConnection
) -> None:
    report = ReportFactory(app=app)
    sandbox.ScreenField.objects.filter(
        project__site__name="acme", project__key="WEB", field__field_id="customfield_10052"
    ).update(required=True)
    link = forwarding.forward_request(report=report)
    link.refresh_from_db()
    assert link.state == IssueLink.State.FAILED and link.error_kind == IssueLink.ErrorKind.PERMANENT
    assert link.error_field == "customfield_10052" and "Crash count" in link.last_error
    sandbox.ScreenField.objects.filter(field__field_id="customfield_10052").update(required=False)
    metacache.forget()  # the sandbox caches its screens per process, as its admin pages do on save
    forwarding.forward_request(report=report)  # Retry
    link.refresh_from_db()
    assert link.state == IssueLink.State.LINKED, link.last_error
    assert link.state == IssueLink.State.LINKED and _issues_labelled(link.label) == 1


def test_a_revoked_token_pauses_the_queue_emails_once_and_resumes_after_reauth(
    web: Client, app: App, connection: JiraConnection, jira: dict[str, str]
) -> None:
    token = sandbox.ApiToken.objects.get(scoped=False)
    token_hash = token.token_hash
    token.delete()  # revoked in Atlassian
    reports = [ReportFactory(app=app) for _ in range(3)]
    mail.outbox.clear()
    for report in reports:
        forwarding.forward_request(report=report)
    connection.refresh_from_db()
    assert connection.status == JiraConnection.Status.NEEDS_REAUTH
    links = IssueLink.objects.filter(report__in=reports)
    assert {link.state for link in links} == {IssueLink.State.PENDING}
    assert {link.error_kind for link in links} == {IssueLink.ErrorKind.PAUSED}
    assert len(mail.outbox) == 1 and "connect again" in mail.outbox[0].subject.lower()

    sandbox.ApiToken.objects.create(
        account=sandbox.Account.objects.get(email=jira["user_email"]),
        label="again",
        token_hash=token_hash,
        expires_at=token.expires_at,
    )
    draft = services.jira_draft_from_credentials(
        app=app,
        auth_type="basic",
        site_url=jira["site_url"],
        email=jira["user_email"],
        api_token=jira["api_token"],
    )
    for name in ("project_id", "project_key", "project_name", "issue_type_id", "issue_type_name"):
        setattr(draft, name, getattr(connection, name))
    services.jira_connection_save(app=app, draft=draft)
    assert {link.state for link in IssueLink.objects.filter(report__in=reports)} == {IssueLink.State.LINKED}
    assert len(mail.outbox) == 1


def test_automatic_forwarding_follows_the_rule(app: App, connection: JiraConnection) -> None:
    JiraConnection.objects.filter(pk=connection.pk).update(
        auto_forward=True, forward_min_priority="major", forward_tags=["checkout", "crash"]
    )
    sent = ReportFactory(app=app, priority="blocker", tags=["crash"])
    low = ReportFactory(app=app, priority="minor", tags=["crash"])
    untagged = ReportFactory(app=app, priority="blocker", tags=["ui"])
    assert IssueLink.objects.get(report=sent).state == IssueLink.State.LINKED
    assert not IssueLink.objects.filter(report__in=[low, untagged]).exists()


def test_attachments_go_up_in_one_call_within_the_site_s_limit(app: App, connection: JiraConnection) -> None:
    from django.core.files.base import ContentFile

    from bugs.models import Attachment

    report = ReportFactory(app=app)
    for name, size in (("small.txt", 10), ("big.bin", 2048)):
        Attachment.objects.create(
            report=report,
            kind="file",
            file=ContentFile(b"x" * size, name=name),
            original_name=name,
            content_type="application/octet-stream",
            size=size,
        )
    knobs_update(site=_acme(), changes={"upload_limit": 1024})
    link = forwarding.forward_request(report=report)
    link.refresh_from_db()
    assert link.attachments_done and "big.bin" in link.attachments_note
    names = list(
        sandbox.Attachment.objects.filter(issue__key=link.issue_key).values_list("filename", flat=True)
    )
    assert names == ["small.txt"]


def test_link_existing_checks_the_site_and_unlink_forgets(app: App, connection: JiraConnection) -> None:
    report = ReportFactory(app=app)
    other = ReportFactory(app=app)
    made = forwarding.forward_request(report=other)
    made.refresh_from_db()
    with pytest.raises(forwarding.NotConnected):
        forwarding.link_existing(
            report=report, user=None, key_or_url=f"https://evil.example/browse/{made.issue_key}"
        )
    link = forwarding.link_existing(
        report=report, user=None, key_or_url=f"{connection.site_url}/browse/{made.issue_key}"
    )
    assert link.state == IssueLink.State.LINKED and link.jira_status_name
    forwarding.unlink(report=report)
    assert not IssueLink.objects.filter(report=report).exists()
    assert BugReport.objects.filter(pk=report.pk).exists()


def test_a_connection_marked_by_a_refused_refresh_pauses_and_emails_once(
    app: App, connection: JiraConnection
) -> None:
    """A refused OAuth refresh marks the connection itself (not through forwarding): the waiting
    reports pause, and the admins still get their one email."""
    JiraConnection.objects.filter(pk=connection.pk).update(status=JiraConnection.Status.NEEDS_REAUTH)
    mail.outbox.clear()
    reports = [ReportFactory(app=app) for _ in range(2)]
    for report in reports:
        forwarding.forward_request(report=report)
    assert len(mail.outbox) == 1
    links = IssueLink.objects.filter(report__in=reports)
    assert {(link.state, link.error_kind) for link in links} == {
        (IssueLink.State.PENDING, IssueLink.ErrorKind.PAUSED)
    }


def test_new_issues_get_their_jira_status_in_one_search(app: App, connection: JiraConnection) -> None:
    reports = [ReportFactory(app=app) for _ in range(3)]
    for report in reports:
        forwarding.forward_request(report=report)
    before = sandbox.RequestLog.objects.count()
    assert forwarding.link_statuses_fill_all() == 3
    assert sandbox.RequestLog.objects.count() - before == 1  # one search for all three
    links = IssueLink.objects.filter(report__in=reports)
    assert {(link.jira_status_name, link.jira_status_category) for link in links} == {("To Do", "new")}
    assert forwarding.link_statuses_fill_all() == 0  # nothing left to ask
