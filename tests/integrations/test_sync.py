"""Two-way sync against the sandbox Jira over real HTTP (tasks eager): webhooks registered at
Finish, Jira's changes reaching reports, ours reaching Jira, echoes recognised, stale deliveries
dropped, reconciliation catching what webhooks missed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import transaction

from bugs import services as bug_services
from bugs.models import Activity, App, BugReport, Comment
from integrations import forwarding, reconcile, sync
from integrations.jira.auth import client_for
from integrations.jira.client import JiraClient
from integrations.jira_sandbox import comment_services, delivery
from integrations.jira_sandbox import models as sandbox
from integrations.jira_sandbox import services as sandbox_services
from integrations.jira_sandbox.knobs import knobs_update
from integrations.models import CommentLink, IssueLink, JiraConnection, SyncEvent, WebhookDelivery
from tests.factories import ReportFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _acme() -> sandbox.Site:
    return sandbox.Site.objects.get(name="acme")


def _alice() -> sandbox.Account:
    return sandbox.Account.objects.get(email="alice@acme.example")


@contextmanager
def in_jira() -> Iterator[None]:
    """A person's change in Jira: its webhooks go out (and are handled) when the block ends."""
    with delivery.collecting(), transaction.atomic():
        yield


def settle(timeout: float = 10.0) -> None:
    """Wait until the sandbox has sent every webhook our calls caused, and we have handled them
    (the sandbox sends them after its answer, from the live server's thread)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sending = sandbox.Delivery.objects.filter(state=sandbox.Delivery.State.PENDING).exists()
        if not sending and not WebhookDelivery.objects.filter(outcome="queued").exists():
            return
        time.sleep(0.05)
    raise AssertionError("webhooks still in flight")


def _issue(link: IssueLink) -> sandbox.Issue:
    return sandbox.Issue.objects.get(site=_acme(), issue_id=link.issue_id)


def _path(issue: sandbox.Issue, category: str) -> list[str]:
    """Transition ids taking the issue to a status of `category` (shortest path in the workflow)."""
    transitions = list(sandbox.Transition.objects.filter(site=issue.site).select_related("to_status"))
    queue: list[tuple[int, list[str]]] = [(issue.status_id, [])]
    seen = {issue.status_id}
    while queue:
        at, path = queue.pop(0)
        for t in transitions:
            if (t.from_status_id in (None, at)) and t.to_status_id not in seen:
                if t.to_status.category == category:
                    return [*path, t.transition_id]
                seen.add(t.to_status_id)
                queue.append((t.to_status_id, [*path, t.transition_id]))
    raise AssertionError(f"no way to {category}")


def _transition_to(issue: sandbox.Issue, category: str) -> None:
    """A person moves the issue, one transition at a time (each its own change and webhook)."""
    for transition_id in _path(issue, category):
        issue.refresh_from_db()
        with in_jira():
            sandbox_services.issue_transition(
                issue=issue, actor=_alice(), transition_id=transition_id, fields=_resolution(transition_id)
            )


def _resolution(transition_id: str) -> dict[str, Any] | None:
    found = sandbox.Transition.objects.get(site=_acme(), transition_id=transition_id)
    return {"resolution": {"id": "10000"}} if found.required_field == "resolution" else None


@pytest.fixture
def linked(app: App, connection: JiraConnection) -> IssueLink:
    """A report sent to Jira (status sync on, as the connection fixture finishes)."""
    connection.sync_comments = True
    connection.save(update_fields=["sync_comments"])
    report = ReportFactory(app=app)
    link = forwarding.forward_request(report=report)
    link.refresh_from_db()
    assert link.state == IssueLink.State.LINKED
    # The first sight of the issue sets the baseline (its creation is not a change).
    reconcile.reconcile_connection(connection_id=connection.pk)
    link.refresh_from_db()
    assert link.jira_status_id
    return link


def test_finish_registers_a_signed_admin_webhook_for_the_project(connection: JiraConnection) -> None:
    hook = sandbox.Webhook.objects.get(site=_acme(), webhook_id=int(connection.webhook_ids[0]))
    assert connection.webhook_kind == "admin" and hook.secret
    assert hook.secret == connection.secrets()["webhook_secret"]
    assert hook.jql_filter == "project = WEB" and hook.url.endswith(f"/webhooks/connection/{connection.pk}")


def test_a_status_change_in_jira_reaches_the_report_once(linked: IssueLink) -> None:
    _transition_to(_issue(linked), "done")
    linked.report.refresh_from_db()
    assert linked.report.status == "closed"
    # Three transitions in Jira (To Do → In Progress → In Review → Done): two report statuses.
    jira_activity = Activity.objects.filter(report=linked.report, origin="jira", kind="status")
    assert [a.to_value for a in jira_activity] == ["In progress", "Closed"]
    # The activity names who did it in Jira (from the issue's changelog), not "Jira".
    assert {a.actor_name for a in jira_activity} == {_alice().display_name}
    # Reconciliation sees the same state again: nothing is applied twice.
    assert reconcile.reconcile_connection(connection_id=linked.connection_id).ok
    assert jira_activity.count() == 2


def test_a_dashboard_change_transitions_the_issue_and_its_echo_is_not_applied(linked: IssueLink) -> None:
    bug_services.report_update(report=linked.report, actor=None, status="closed")
    issue = _issue(linked)
    assert issue.status.category == "done"
    linked.refresh_from_db()
    assert linked.pending == {} and linked.jira_status_id == str(issue.status.status_id)
    outbound = SyncEvent.objects.filter(link=linked, direction="out", field="status", outcome="applied")
    assert outbound.count() == 1
    # The echoes came back by webhook (one per transition): recognised, not applied, not sent again.
    settle()
    inbound = SyncEvent.objects.filter(link=linked, direction="in", field="status")
    assert list(inbound.values_list("outcome", flat=True)) == ["echo", "echo", "echo"]
    assert SyncEvent.objects.filter(link=linked, direction="in", outcome="echo").exists()
    assert not Activity.objects.filter(report=linked.report, origin="jira").exists()


def test_an_older_delivery_never_overwrites_a_newer_state(linked: IssueLink) -> None:
    _transition_to(_issue(linked), "indeterminate")
    linked.refresh_from_db()
    old = {
        "status": {"id": "999", "statusCategory": {"key": "done"}},
        "updated": "2001-01-01T00:00:00.000+0000",
    }
    assert (
        sync.issue_state_apply(link_id=linked.pk, fields=old, source="webhook", changed=frozenset({"status"}))
        == []
    )
    linked.report.refresh_from_db()
    assert linked.report.status == "in_progress"
    assert SyncEvent.objects.filter(link=linked, outcome="stale").exists()


def test_the_later_dashboard_change_wins_over_an_earlier_jira_one(linked: IssueLink) -> None:
    issue = _issue(linked)
    later = sync.now_ms() + 60_000
    IssueLink.objects.filter(pk=linked.pk).update(pending={"status": later})
    linked.report.status = "closed"
    linked.report.save()
    _transition_to(issue, "indeterminate")  # Jira's change, earlier than the pending one
    linked.report.refresh_from_db()
    assert linked.report.status == "closed"
    assert sync.link_push(link_id=linked.pk).outcome == "written"
    issue.refresh_from_db()
    assert issue.status.category == "done"


def test_comments_follow_both_ways_with_edits_and_deletions(linked: IssueLink) -> None:
    report = linked.report
    mine = bug_services.comment_create(report=report, body="Seen on **iOS 18** too", author=None)
    settle()
    jira_comment = sandbox.Comment.objects.get(issue__issue_id=linked.issue_id)
    assert "iOS 18" in str(jira_comment.body)
    assert jira_comment.properties[sync.COMMENT_PROPERTY]["comment"] == mine.pk
    assert Comment.objects.filter(report=report).count() == 1  # its echo did not come back as a copy

    settle()
    bug_services.comment_update(comment=mine, body="Seen on iOS 18.1 too")
    settle()
    jira_comment.refresh_from_db()
    assert "18.1" in str(jira_comment.body)

    with in_jira():
        theirs = comment_services.comment_add(
            issue=_issue(linked),
            author=_alice(),
            body={
                "type": "doc",
                "version": 1,
                "content": [
                    {"type": "paragraph", "content": [{"type": "text", "text": "Fixed in <b>build</b> 42"}]}
                ],
            },
        )
    brought = Comment.objects.get(report=report, origin="jira")
    assert brought.body == "Fixed in <b>build</b> 42" and brought.author_name == _alice().display_name

    with in_jira():
        comment_services.comment_delete(comment=theirs, actor=_alice())
    assert not Comment.objects.filter(pk=brought.pk).exists()

    bug_services.comment_delete(comment=mine)
    settle()
    assert not sandbox.Comment.objects.filter(issue__issue_id=linked.issue_id).exists()
    assert CommentLink.objects.filter(link=linked, deleted=True).count() == 2


def test_an_issue_deleted_in_jira_marks_the_link_and_keeps_the_report(linked: IssueLink) -> None:
    with in_jira():
        sandbox_services.issue_delete(issue=_issue(linked), actor=None)
    linked.refresh_from_db()
    assert linked.state == IssueLink.State.DELETED and linked.get_state_display() == "Deleted in Jira"
    assert App.objects.filter(reports=linked.report).exists()


def test_reconciliation_catches_a_missed_webhook_in_one_search(linked: IssueLink) -> None:
    knobs_update(site=_acme(), changes={"webhooks_enabled": False})
    _transition_to(_issue(linked), "done")
    linked.report.refresh_from_db()
    assert linked.report.status == "new"  # no webhook came
    before = sandbox.RequestLog.objects.count()
    result = reconcile.reconcile_connection(connection_id=linked.connection_id)
    assert result.ok and result.calls == 1 and result.changed == 1
    assert sandbox.RequestLog.objects.count() - before == 1
    linked.report.refresh_from_db()
    assert linked.report.status == "closed"


def test_reconciliation_brings_a_comment_whose_issue_update_came_without_it(linked: IssueLink) -> None:
    """A comment raises `comment_created` and `jira:issue_updated`; when only the second arrives,
    the link already holds the issue's newest `updated`: the pass still compares comments."""
    knobs_update(site=_acme(), changes={"webhooks_enabled": False})
    with in_jira():
        comment_services.comment_add(issue=_issue(linked), author=_alice(), body=_adf("Seen on Android"))
    fields = client_for(linked.connection).get_issue(linked.issue_id, fields=sync.SYNC_FIELDS)["fields"]
    sync.issue_state_apply(link_id=linked.pk, fields=fields, source="webhook")  # its issue_updated
    assert reconcile.reconcile_connection(connection_id=linked.connection_id).ok
    assert list(Comment.objects.filter(report=linked.report).values_list("body", flat=True)) == [
        "Seen on Android"
    ]


def test_a_later_dashboard_change_wins_though_a_later_comment_moved_the_issue(linked: IssueLink) -> None:
    """`updated` moves with any change: the field's own change decides which side is later."""
    knobs_update(site=_acme(), changes={"webhooks_enabled": False})
    _transition_to(_issue(linked), "indeterminate")  # Jira's change, missed
    IssueLink.objects.filter(pk=linked.pk).update(pending={"status": sync.now_ms()})
    BugReport.objects.filter(pk=linked.report_id).update(status="closed")  # the later, dashboard one
    knobs_update(site=_acme(), changes={"webhooks_enabled": True})
    with in_jira():  # a comment: its issue_updated shows the issue newer than the dashboard's change
        comment_services.comment_add(issue=_issue(linked), author=_alice(), body=_adf("Later"))
    linked.report.refresh_from_db()
    assert linked.report.status == "closed"
    assert sync.link_push(link_id=linked.pk).outcome == "written"
    assert _issue(linked).status.category == "done"
    linked.report.refresh_from_db()
    assert linked.report.status == "closed"


def test_a_jira_change_undone_after_the_dashboard_change_still_wins(linked: IssueLink) -> None:
    """In Progress and back to To Do after the dashboard's change: Jira holds what we knew, but
    its history says it changed later, so the report takes it and nothing is written."""
    knobs_update(site=_acme(), changes={"webhooks_enabled": False})
    IssueLink.objects.filter(pk=linked.pk).update(pending={"status": sync.now_ms() - 1})
    BugReport.objects.filter(pk=linked.report_id).update(status="closed")
    _transition_to(_issue(linked), "indeterminate")
    _transition_to(_issue(linked), "new")
    before = sandbox.RequestLog.objects.filter(method="POST", path__endswith="/transitions").count()
    assert sync.link_push(link_id=linked.pk).outcome == "nothing"
    linked.report.refresh_from_db()
    assert linked.report.status == "new"
    assert sandbox.RequestLog.objects.filter(method="POST", path__endswith="/transitions").count() == before


def test_the_first_news_of_an_issue_is_applied_when_it_is_a_change(
    app: App, connection: JiraConnection
) -> None:
    report = ReportFactory(app=app)
    link = forwarding.forward_request(report=report)
    link.refresh_from_db()
    assert not link.jira_status_id  # no baseline read yet
    _transition_to(_issue(link), "indeterminate")
    report.refresh_from_db()
    assert report.status == "in_progress"


def test_someone_moving_the_issue_during_the_walk_wins_and_nothing_fails(
    linked: IssueLink, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = JiraClient.transition_issue
    moved: list[str] = []

    def transition_after_a_person(self: JiraClient, issue: str, transition_id: str, **kwargs: Any) -> None:
        if not moved:  # between our look at the transitions and our move, a person moves it
            moved.append(transition_id)
            _transition_to(_issue(linked), "indeterminate")
        original(self, issue, transition_id, **kwargs)

    monkeypatch.setattr(JiraClient, "transition_issue", transition_after_a_person)
    bug_services.report_update(report=linked.report, actor=None, status="closed")
    settle()
    linked.refresh_from_db()
    linked.report.refresh_from_db()
    assert moved and linked.report.status == "in_progress"
    assert _issue(linked).status.category == "indeterminate"
    assert linked.sync_error == "" and linked.pending == {}
    assert not SyncEvent.objects.filter(link=linked, outcome="failed").exists()


def test_a_delivery_is_news_and_the_state_is_read_from_jira(linked: IssueLink) -> None:
    """A delivery's issue is a snapshot: one showing a field as it was before a change committed
    meanwhile, under a later `updated`, must not stand for the state."""
    knobs_update(site=_acme(), changes={"webhooks_enabled": False})
    _transition_to(_issue(linked), "indeterminate")
    linked.refresh_from_db()
    stale = _fields(linked.jira_status_id, "new", "2099-01-01T00:00:00.000+0000")  # To Do, "later"
    sync.issue_state_apply(link_id=linked.pk, fields=stale, source="webhook", changed=frozenset())
    linked.report.refresh_from_db()
    assert linked.report.status == "in_progress"


def test_a_push_queued_for_a_comment_deleted_since_writes_nothing(linked: IssueLink) -> None:
    mine = bug_services.comment_create(report=linked.report, body="Typo", author=None)
    settle()
    found = CommentLink.objects.get(link=linked, comment_pk=mine.pk)
    bug_services.comment_delete(comment=mine)
    settle()
    assert not sandbox.Comment.objects.filter(issue__issue_id=linked.issue_id).exists()
    before = sandbox.RequestLog.objects.count()
    assert sync.comment_push(comment_link_id=found.pk).outcome == "deleted"  # one queued for an edit
    assert sandbox.RequestLog.objects.count() == before
    assert SyncEvent.objects.filter(link=linked, direction="out", detail="deleted").count() == 1


def _adf(text: str) -> dict[str, Any]:
    return {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}],
    }


def test_a_failed_pass_leaves_the_watermark(linked: IssueLink) -> None:
    connection = JiraConnection.objects.get(pk=linked.connection_id)
    mark = connection.sync_watermark
    knobs_update(site=_acme(), changes={"error_rate": 1.0})
    assert not reconcile.reconcile_connection(connection_id=connection.pk).ok
    connection.refresh_from_db()
    assert connection.sync_watermark == mark


def test_the_search_is_bounded_by_the_watermark_in_the_identity_s_time_zone(
    connection: JiraConnection,
) -> None:
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    since = datetime(2026, 11, 28, 10, 0, 30, tzinfo=UTC)
    jql = reconcile.jql_since(connection, since, ZoneInfo("America/New_York"))
    assert jql == 'project = WEB AND updated >= "2026/11/28 05:00" ORDER BY updated ASC'


def _fields(status_id: str, category: str, updated: str) -> dict[str, Any]:
    return {"status": {"id": status_id, "statusCategory": {"key": category}}, "updated": updated}
