"""Two-way sync under chaos (issue §4), with real Celery worker processes and the sandbox Jira on
the live server: 500 random changes on both sides while the sandbox drops 10% of its webhooks,
sends 10% of them twice and shuffles each batch; then one reconciliation pass. Afterwards every
linked pair is equal, the later of two changes to a field is the one both sides hold (unless the
change in Jira was made while a push of that issue was between its read and its write: Jira has
no compare-and-set, so nothing can tell), no change was applied twice, and no write to Jira was
caused by an echo.

Every task runs in the worker processes: for the test's duration this process's Celery app
(eager elsewhere in the suite) sends to the workers' queue, so the pushes the dashboard's changes
queue, the webhooks the sandbox sends and the deliveries the live server records all go through
the broker, as in production. The changes' choices come from one seeded generator (what they
find, e.g. the comments there are, depends on how far the workers have got).
"""

from __future__ import annotations

import contextlib
import os
import random
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from amqp.exceptions import ChannelError
from django.db import transaction
from django.test import Client
from pytest_django.live_server_helper import LiveServer

from bugs import services as bug_services
from bugs.models import Activity, App, BugReport, Comment, Priority, Status
from config.celery import app as celery_app
from integrations import forwarding, reconcile, sync
from integrations.jira.setup import PRIORITY_TABLE, STATUS_BY_CATEGORY
from integrations.jira_sandbox import comment_services, delivery
from integrations.jira_sandbox import models as sandbox
from integrations.jira_sandbox import services as sandbox_services
from integrations.jira_sandbox.knobs import knobs_update
from integrations.jira_sandbox.seed import sandbox_seed
from integrations.models import CommentLink, IssueLink, JiraConnection, SyncEvent, WebhookDelivery
from tests.celery_worker import Workers, queue_workers
from tests.factories import ReportFactory
from tests.integrations.conftest import connect_basic, point_at_sandbox

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# Another seed (SYNC_CHAOS_SEED=…) draws other changes and other lost or repeated webhooks.
SEED = int(os.environ.get("SYNC_CHAOS_SEED", "4242"))
REPORTS = 30
CHANGES = 500
WORKERS = 2
CHAOS = {"webhook_drop_rate": 0.1, "webhook_duplicate_rate": 0.1, "webhook_reorder": True, "seed": SEED}
# What a change is, on either side, and how often (the same mix both ways).
KINDS = ("status", "priority", "comment", "edit", "delete")
WEIGHTS = (3, 3, 3, 2, 1)
# A pause between changes, so that they overlap the workers' pushes and deliveries.
PACE_S = 0.02
QUIET_TIMEOUT_S = 120
OURS_BY_JIRA_PRIORITY = {jira: ours for ours, jira in PRIORITY_TABLE.items()}
T = TypeVar("T")


# ---------------------------------------------------------------------------------------------
# This process's tasks, sent to the workers
# ---------------------------------------------------------------------------------------------

ROUTED = ("task_always_eager", "broker_url", "broker_transport_options", "task_default_queue")


def _fresh_producers() -> None:
    # Dropped, not closed: kombu shares its pools by broker, and the suite may use this one again.
    celery_app._pool = None
    celery_app.__dict__.pop("amqp", None)  # its queues, router and producer pool follow the conf


@contextlib.contextmanager
def tasks_to(workers: Workers) -> Iterator[None]:
    """Send this process's tasks (the test's, and the live server's threads') to the workers'
    queue instead of running them eagerly; as before afterwards."""
    saved = {key: celery_app.conf[key] for key in ROUTED}
    celery_app.conf.update(
        task_always_eager=False,
        broker_url=workers.producer.conf.broker_url,
        broker_transport_options=dict(workers.producer.conf.broker_transport_options or {}),
        task_default_queue=workers.queue,
    )
    _fresh_producers()
    try:
        yield
    finally:
        celery_app.conf.update(saved)
        _fresh_producers()


# ---------------------------------------------------------------------------------------------
# Waiting until nothing moves
# ---------------------------------------------------------------------------------------------


def _broker_size(workers: Workers) -> int:
    with workers.producer.connection_for_write() as conn:
        try:
            return conn.default_channel.queue_declare(queue=workers.queue, passive=True).message_count
        except ChannelError:  # Redis keeps no empty list: no queue is an empty queue
            return 0


def _workers_idle(workers: Workers) -> bool:
    """No task running, reserved or waiting for its countdown in any worker (a worker busy with
    a task does not answer: not idle)."""
    inspect = workers.producer.control.inspect(timeout=2.0, limit=len(workers.processes))
    for ask in (inspect.active, inspect.reserved, inspect.scheduled):
        try:
            replies = ask() or {}
        except ValueError:  # the filesystem broker: a reply read while it was being written
            return False
        if len(replies) < len(workers.processes) or any(replies.values()):
            return False
    return True


def _still_moving(link_ids: list[int]) -> str:
    """What the database says is still on its way, in words ("" when nothing)."""
    if sandbox.Delivery.objects.filter(state=sandbox.Delivery.State.PENDING).exists():
        return "webhooks the sandbox has not sent"
    if WebhookDelivery.objects.filter(outcome=WebhookDelivery.Outcome.QUEUED).exists():
        return "deliveries not processed"
    for pending, claimed in IssueLink.objects.filter(pk__in=link_ids).values_list("pending", "claimed_until"):
        if pending or claimed:
            return "dashboard changes not written"
    comments = CommentLink.objects.filter(link_id__in=link_ids)
    if comments.filter(claimed_until__isnull=False).exists():
        return "comments being written"
    if comments.filter(origin="dashboard", jira_comment_id="", deleted=False, comment__isnull=False).exists():
        return "comments not created in Jira"
    return ""


def wait_quiet(workers: Workers, link_ids: list[int]) -> float:
    """Wait until the links, the sandbox, the broker and the workers have nothing left to do
    (twice in a row, half a second apart); returns the seconds waited."""
    began = time.monotonic()
    calm, why = 0, "not looked yet"
    while time.monotonic() < began + QUIET_TIMEOUT_S:
        for process in workers.processes:
            workers.assert_alive(process)
        why = _still_moving(link_ids)
        if not why and _broker_size(workers):
            why = "messages in the broker"
        if not why and not _workers_idle(workers):
            why = "tasks in the workers"
        calm = 0 if why else calm + 1
        if calm == 2:
            return time.monotonic() - began
        time.sleep(0.5)
    logs = "\n".join(workers.log(n) for n in range(len(workers.processes)))
    raise AssertionError(f"not quiet within {QUIET_TIMEOUT_S} s: {why}\n{logs}")


# ---------------------------------------------------------------------------------------------
# Changes, on either side
# ---------------------------------------------------------------------------------------------


def _adf(text: str) -> dict[str, Any]:
    paragraph = {"type": "paragraph", "content": [{"type": "text", "text": text}]}
    return {"type": "doc", "version": 1, "content": [paragraph]}


@dataclass(frozen=True)
class Last:
    """The last change made to a field of a pair: its side, the report value it means, and when
    it was being made (from, until: epoch seconds)."""

    side: str
    value: str
    began: float
    ended: float


class Chaos:
    """Random changes to linked pairs, from the dashboard (the services a view calls) and from
    Jira (the sandbox's services, as alice, one request's worth of webhooks each). Every text
    written is unique, so a comment brought over twice shows."""

    def __init__(self, rng: random.Random, links: list[IssueLink]) -> None:
        self.rng = rng
        self.links = links
        self.site = sandbox.Site.objects.get(name="acme")
        self.alice = sandbox.Account.objects.get(email="alice@acme.example")
        self.priorities = sorted(PRIORITY_TABLE.values())
        self.made: Counter[tuple[int, str]] = Counter()  # (link, "side kind") → changes
        self.last: dict[tuple[int, str], Last] = {}  # (link, field) → its last change
        self.log: list[tuple[float, int, str]] = []  # (when, link, what), for a failure's story

    def pick(self, items: Sequence[T]) -> T:
        """One of `items`, drawing one number whatever their count (the draws stay in step)."""
        return items[int(self.rng.random() * len(items))]

    def step(self, number: int) -> None:
        link = self.pick(self.links)
        side = self.pick(("dashboard", "jira"))
        kind = self.rng.choices(KINDS, WEIGHTS)[0]
        began = time.time()
        done, value = (self._dashboard if side == "dashboard" else self._jira)(link, kind, number)
        self.made[(link.pk, f"{side} {done}")] += 1
        if value:
            self.last[(link.pk, done)] = Last(side, value, began, time.time())
        self.log.append((time.time(), link.pk, f"CHANGE #{number} {side} {done} {value}"))

    def _dashboard(self, link: IssueLink, kind: str, number: int) -> tuple[str, str]:
        comments = list(Comment.objects.filter(report_id=link.report_id).order_by("pk"))
        if kind in ("status", "priority"):
            # As a view must (bugs.services.report_update saves every field of the row it is
            # given): the row locked while it changes, so a change from Jira is not overwritten.
            with transaction.atomic():
                report = BugReport.objects.select_for_update().get(pk=link.report_id)
                values = Status.values if kind == "status" else Priority.values
                wanted = self.pick([v for v in values if v != getattr(report, kind)])
                bug_services.report_update(report=report, actor=None, **{kind: wanted})
            return kind, wanted
        if kind == "edit" and comments:
            bug_services.comment_update(comment=self.pick(comments), body=f"edited in Bugbridge {number}")
            return kind, ""
        if kind == "delete" and comments:
            bug_services.comment_delete(comment=self.pick(comments))
            return kind, ""
        bug_services.comment_create(
            report=BugReport.objects.get(pk=link.report_id),
            body=f"written in Bugbridge {number}",
            author=None,
        )
        return "comment", ""

    def _jira(self, link: IssueLink, kind: str, number: int) -> tuple[str, str]:
        with delivery.collecting(), transaction.atomic():
            # The site's row, then the issue's, as every sandbox mutation locks them (and no
            # stronger: rows that point at them are written meanwhile).
            sandbox.Site.objects.select_for_update(no_key=True).get(pk=self.site.pk)
            return self._jira_change(link, kind, number)

    def _jira_change(self, link: IssueLink, kind: str, number: int) -> tuple[str, str]:
        issue = sandbox.Issue.objects.select_for_update(no_key=True).get(
            site=self.site, issue_id=link.issue_id
        )
        comments = list(sandbox.Comment.objects.filter(issue=issue).order_by("pk"))
        if kind == "status":
            transition = self.pick(sandbox_services.available_transitions(issue))
            needs = {"resolution": {"id": "10000"}} if transition.required_field == "resolution" else None
            sandbox_services.issue_transition(
                issue=issue, actor=self.alice, transition_id=transition.transition_id, fields=needs
            )
            return kind, STATUS_BY_CATEGORY[transition.to_status.category]
        if kind == "priority":
            wanted = self.pick([n for n in self.priorities if n != issue.priority.name])
            sandbox_services.issue_edit(issue=issue, actor=self.alice, fields={"priority": {"name": wanted}})
            return kind, OURS_BY_JIRA_PRIORITY[wanted]
        if kind == "edit" and comments:
            comment_services.comment_edit(
                comment=self.pick(comments), author=self.alice, body=_adf(f"edited in Jira {number}")
            )
            return kind, ""
        if kind == "delete" and comments:
            comment_services.comment_delete(comment=self.pick(comments), actor=self.alice)
            return kind, ""
        comment_services.comment_add(issue=issue, author=self.alice, body=_adf(f"written in Jira {number}"))
        return "comment", ""


# ---------------------------------------------------------------------------------------------
# Reading both sides afterwards
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def connection(owner_client: Client, app: App, live_server: LiveServer, settings: Any) -> JiraConnection:
    """Basic auth on acme's WEB project through the wizard; status, priority and comments sync."""
    point_at_sandbox(settings, live_server.url)
    sandbox_seed()
    found = connect_basic(owner_client, app, f"{live_server.url}/sandbox/jira/site/acme")
    assert found.priority_two_way, "WEB uses Jira's default five priorities"
    found.sync_priority = found.sync_comments = True
    found.save(update_fields=["sync_priority", "sync_comments"])
    return found


def _linked_reports(app: App, count: int) -> list[IssueLink]:
    """Reports sent to Jira (eagerly, before the chaos); no baseline is read: the first news of
    each issue is its first sight."""
    links = []
    for _ in range(count):
        link = forwarding.forward_request(report=ReportFactory(app=app))
        link.refresh_from_db()
        assert link.state == IssueLink.State.LINKED
        links.append(link)
    return links


@dataclass(frozen=True)
class Side:
    """One side of a pair: status and priority as report values, and the comments' texts."""

    status: str | None
    priority: str | None
    texts: list[str]


def _ours(link: IssueLink) -> Side:
    report = BugReport.objects.get(pk=link.report_id)
    texts = Comment.objects.filter(report=report).values_list("body", flat=True)
    return Side(report.status, report.priority, sorted(texts))


def _theirs(connection: JiraConnection, link: IssueLink) -> Side:
    issue = sandbox.Issue.objects.select_related("status", "priority").get(
        site__name="acme", issue_id=link.issue_id
    )
    status = {"id": issue.status.status_id, "statusCategory": {"key": issue.status.category}}
    return Side(
        sync.report_status_for(connection, status),
        sync.report_priority_for(connection, {"name": issue.priority.name}),
        sorted(sync.comment_text(c.body) for c in sandbox.Comment.objects.filter(issue=issue)),
    )


def _comment_links_match(link: IssueLink) -> bool:
    """One live comment link per comment on each side, and none for a comment gone."""
    live = CommentLink.objects.filter(link=link, deleted=False)
    report_side = set(Comment.objects.filter(report_id=link.report_id).values_list("pk", flat=True))
    jira_side = {
        str(i)
        for i in sandbox.Comment.objects.filter(
            issue__site__name="acme", issue__issue_id=link.issue_id
        ).values_list("comment_id", flat=True)
    }
    by_comment = Counter(live.values_list("comment_pk", flat=True))
    by_jira = Counter(live.values_list("jira_comment_id", flat=True))
    return (
        set(by_comment) == report_side
        and set(by_jira) == jira_side
        and max([*by_comment.values(), *by_jira.values(), 1]) == 1
    )


def _our_requests(link: IssueLink, since: int) -> list[tuple[float, str, str]]:
    """Bugbridge's calls about one issue (the test's Jira-side changes go through the sandbox's
    services, not its API): (when, method, path after /rest/api/3/)."""
    rows = sandbox.RequestLog.objects.filter(
        pk__gt=since, site__name="acme", path__contains=f"/issue/{link.issue_id}"
    ).order_by("pk")
    return [(r.created.timestamp(), r.method, r.path.rsplit("/api/3/", 1)[-1]) for r in rows]


def _writes(requests: list[tuple[float, str, str]]) -> Counter[str]:
    kinds: Counter[str] = Counter()
    for _, method, path in requests:
        if method == "GET":
            continue
        if path.endswith("/transitions"):
            kinds["transition"] += 1
        elif "/comment" in path:
            kinds[f"comment {method}"] += 1
        elif method == "PUT":
            kinds["issue edit"] += 1
        else:
            kinds[f"other {method} {path}"] += 1
    return kinds


def _write_spans(requests: list[tuple[float, str, str]]) -> list[tuple[float, float]]:
    """When pushes were between their read and their last write of the issue. Jira has no
    compare-and-set: a person's change landing there is overwritten by the older dashboard change
    (the read cannot see it, nor can a transition or an edit refuse it)."""
    spans, began, wrote = [], None, 0.0
    for at, method, path in requests:
        if method == "GET" and "expand=changelog" in path:
            began, wrote = at, 0.0
        elif began is not None and ((path.endswith("/transitions") and method == "POST") or method == "PUT"):
            wrote = at
        elif began is not None and method == "GET" and "/comment" not in path and "/transitions" not in path:
            if wrote:
                spans.append((began, wrote))
            began = None
    return spans


def _story(link: IssueLink, chaos: Chaos) -> str:
    """What happened to one pair, in time order: the changes made, the report's activity, the
    sync events, Jira's changelog and Bugbridge's calls (for a failure's message)."""
    lines = [(when, what) for when, pk, what in chaos.log if pk == link.pk]
    for a in Activity.objects.filter(report_id=link.report_id):
        lines.append(
            (a.created_at.timestamp(), f"activity {a.origin} {a.kind} {a.from_value} -> {a.to_value}")
        )
    for e in SyncEvent.objects.filter(link=link):
        what = f"event {e.direction} {e.source} {e.field} {e.outcome} {e.from_value!r} -> {e.to_value!r}"
        what += f" {e.detail}"
        lines.append((e.created_at.timestamp(), what))
    for c in sandbox.ChangelogEntry.objects.filter(issue__site__name="acme", issue__issue_id=link.issue_id):
        items = ", ".join(f"{i['fieldId']} {i['fromString']} -> {i['toString']}" for i in c.items)
        lines.append((c.created.timestamp(), f"jira changelog {c.changelog_id}: {items}"))
    for at, method, path in _our_requests(link, 0):
        lines.append((at, f"request {method} {path}"))
    return "\n".join(f"  {when:.3f} {what}" for when, what in sorted(lines))


# ---------------------------------------------------------------------------------------------
# The test
# ---------------------------------------------------------------------------------------------


def test_random_changes_on_both_sides_survive_lost_repeated_and_reordered_webhooks(
    tmp_path: Path, app: App, connection: JiraConnection
) -> None:
    links = _linked_reports(app, REPORTS)
    ids = [link.pk for link in links]
    acme = sandbox.Site.objects.get(name="acme")
    knobs_update(site=acme, changes=CHAOS)
    first_log = sandbox.RequestLog.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    chaos = Chaos(random.Random(SEED), links)

    with queue_workers(tmp_path) as workers:
        # The test's own polls for the workers' replies (the filesystem broker polls every second).
        workers.producer.conf.broker_transport_options = {
            **(workers.producer.conf.broker_transport_options or {}),
            "polling_interval": 0.05,
        }
        for _ in range(WORKERS):
            workers.start()
        with tasks_to(workers):
            began = time.monotonic()
            for number in range(CHANGES):
                chaos.step(number)
                time.sleep(PACE_S)
            changed_s = time.monotonic() - began
            settled_s = wait_quiet(workers, ids)
            result = reconcile.reconcile_connection(connection_id=connection.pk)
            reconciled_s = wait_quiet(workers, ids)
        total_s = time.monotonic() - began

    made = Counter()
    for (_, what), n in chaos.made.items():
        made[what] += n
    events = Counter()
    per_link: Counter[tuple[int, str]] = Counter()
    for link_id, direction, field, outcome, detail in SyncEvent.objects.filter(link_id__in=ids).values_list(
        "link_id", "direction", "field", "outcome", "detail"
    ):
        events[f"{direction} {field} {outcome}"] += 1
        if outcome == "applied":
            kind = f"comment {detail or 'created'}" if field == "comment" else field
            per_link[(link_id, f"{direction} {kind}")] += 1
    deliveries = sandbox.Delivery.objects.filter(site=acme)
    requests = {link.pk: _our_requests(link, first_log) for link in links}
    writes = {pk: _writes(rows) for pk, rows in requests.items()}
    unequal = [(link, _ours(link), _theirs(connection, link)) for link in links]
    unequal = [(link, ours, theirs) for link, ours, theirs in unequal if ours != theirs]
    finals = {link.pk: _ours(link) for link in links}
    lost, overwritten = [], []
    for (pk, field), last in chaos.last.items():
        if getattr(finals[pk], field) == last.value:
            continue
        spans = _write_spans(requests[pk])
        racing = last.side == "jira" and any(a <= last.ended and last.began <= b for a, b in spans)
        (overwritten if racing else lost).append((pk, field, last, getattr(finals[pk], field)))
    print(
        f"\nsync chaos: {REPORTS} linked reports, {CHANGES} changes, {WORKERS} worker processes, {CHAOS}"
        f"\n  changes made: {dict(sorted(made.items()))}"
        f"\n  webhooks: {deliveries.count()} sent, "
        f"{deliveries.filter(state=sandbox.Delivery.State.DROPPED).count()} dropped, "
        f"{sum(deliveries.values_list('duplicates', flat=True))} duplicated, all in shuffled batches; "
        f"{WebhookDelivery.objects.count()} recorded once each"
        f"\n  reconciliation: {result}"
        f"\n  Bugbridge's writes to Jira: {dict(sum(writes.values(), Counter()))}"
        f"\n  sync events: {dict(sorted(events.items()))}"
        f"\n  echoes recognised: {sum(n for k, n in events.items() if k.endswith(' echo'))}"
        f"\n  last change of a field: {len(chaos.last)}, lost {len(lost)}, overwritten by a push "
        f"writing at that moment {len(overwritten)}"
        f"\n  time: changes {changed_s:.1f} s, quiet {settled_s:.1f} s later, reconciliation and quiet "
        f"{reconciled_s:.1f} s, total {total_s:.1f} s"
    )
    if os.environ.get("SYNC_CHAOS_STORIES"):
        for pk, field, last, final in overwritten:
            link = IssueLink.objects.get(pk=pk)
            print(f"{link.issue_key} {field}: {last} overwritten, {final} held\n{_story(link, chaos)}")
    assert deliveries.filter(state=sandbox.Delivery.State.DROPPED).exists(), "nothing was dropped"
    assert sum(deliveries.values_list("duplicates", flat=True)), "nothing was sent twice"
    assert result.ok
    failed = list(WebhookDelivery.objects.filter(outcome=WebhookDelivery.Outcome.FAILED).values_list("note"))
    assert not failed, f"deliveries failed: {failed}"

    # 1. Every linked pair equal; and the later change of a field is the one both hold.
    stories = "\n".join(f"{link.issue_key}:\n{_story(link, chaos)}" for link, *_ in unequal[:3])
    assert not unequal, (
        f"{len(unequal)} pairs differ: {[(pair.issue_key, o, t) for pair, o, t in unequal[:5]]}\n{stories}"
    )
    assert not IssueLink.objects.filter(pk__in=ids).exclude(sync_error="").exists()
    stories = "\n".join(_story(IssueLink.objects.get(pk=pk), chaos) for pk, *_ in lost[:3])
    assert not lost, f"later changes lost (link, field, last change, final): {lost}\n{stories}"

    # 2. No change applied twice: no more applied from Jira than Jira made, per pair and kind;
    # no comment twice on either side, each with one link.
    for link in links:
        made_in_jira = {kind: chaos.made[(link.pk, f"jira {kind}")] for kind in KINDS}
        bounds = {
            "status applied": (per_link[(link.pk, "in status")], made_in_jira["status"]),
            "priority applied": (per_link[(link.pk, "in priority")], made_in_jira["priority"]),
            "comments brought": (per_link[(link.pk, "in comment created")], made_in_jira["comment"]),
            "edits brought": (per_link[(link.pk, "in comment edited")], made_in_jira["edit"]),
            "deletions brought": (per_link[(link.pk, "in comment deleted")], made_in_jira["delete"]),
        }
        for kind in ("status", "priority"):
            activity = Activity.objects.filter(report_id=link.report_id, kind=kind, origin="jira")
            bounds[f"{kind} activity from Jira"] = (activity.count(), made_in_jira[kind])
        over = {name: pair for name, pair in bounds.items() if pair[0] > pair[1]}
        assert not over, f"{link.issue_key}: applied more than Jira changed {over}\n{_story(link, chaos)}"
        texts = _ours(link).texts
        assert len(texts) == len(set(texts)), f"{link.issue_key}: a comment twice {texts}"
        assert _comment_links_match(link), f"{link.issue_key}: comment links\n{_story(link, chaos)}"

    # 3. No write to Jira caused by an echo: no more writes than dashboard changes, per pair.
    for link in links:
        wrote = writes[link.pk]
        did = {kind: chaos.made[(link.pk, f"dashboard {kind}")] for kind in KINDS}
        bounds = {
            "status writes": (per_link[(link.pk, "out status")], did["status"]),
            "priority writes": (per_link[(link.pk, "out priority")], did["priority"]),
            "transitions": (wrote["transition"], sync.MAX_HOPS * did["status"]),
            "issue edits": (wrote["issue edit"], did["priority"]),
            "comments created": (wrote["comment POST"], did["comment"]),
            "comments edited": (wrote["comment PUT"], did["edit"]),
            "comments deleted": (wrote["comment DELETE"], did["delete"]),
        }
        over = {name: pair for name, pair in bounds.items() if pair[0] > pair[1]}
        assert not over, f"{link.issue_key}: more writes than changes {over}\n{_story(link, chaos)}"
