"""Reads of the integration, scoped to what the user may see (a row they may not see is a 404)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count
from django.http import Http404, QueryDict
from django.utils import timezone

from accounts.models import MANAGER_ROLES, User
from bugs import filters
from bugs import selectors as bug_selectors
from bugs import services as bug_services
from bugs.models import App, BugReport, ReportTag

from .models import (
    ConnectInstallation,
    FieldMapping,
    ForwardBatch,
    IssueLink,
    JiraConnection,
    SyncEvent,
    WebhookDelivery,
)


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


# ---------------------------------------------------------------------------------------------
# Forwarding: the report's Jira panel, the bulk send, a batch's progress (issue 7 §1)
# ---------------------------------------------------------------------------------------------


def report_for_member(*, user: User, app_id: int, number: int) -> BugReport:
    """A report of one of the user's organizations, whatever their role: sending a report to
    Jira is triage, which members do. Another organization's report is a 404."""
    return bug_selectors.report_get(user=user, app_id=app_id, number=number)


def app_for_member(*, user: User, app_id: int) -> App:
    return bug_selectors.app_get(user=user, app_id=app_id)


@dataclass(frozen=True)
class JiraPanel:
    """What the report's Jira panel shows. `usable`: reports can be sent now."""

    connection: JiraConnection | None
    link: IssueLink | None
    can_manage: bool

    @property
    def usable(self) -> bool:
        c = self.connection
        return c is not None and c.status != JiraConnection.Status.DISCONNECTED and bool(c.project_id)

    @property
    def paused(self) -> bool:
        link = self.link
        return (
            link is not None
            and link.state == IssueLink.State.PENDING
            and link.error_kind == IssueLink.ErrorKind.PAUSED
        )


def report_jira_panel(*, user: User, report: BugReport) -> JiraPanel:
    """The report's link (the one of the app's connection; after a reconnect to another site, the
    newest) and whether the user may change the integration's settings."""
    connection = connection_for_app(app=report.app)
    links = IssueLink.objects.filter(report=report).select_related("connection", "requested_by")
    link = None
    if connection is not None:
        link = links.filter(connection=connection).first()
    link = link or links.order_by("-updated_at").first()
    can_manage = bug_selectors.app_membership(user=user, app=report.app).can_manage
    return JiraPanel(connection=connection, link=link, can_manage=can_manage)


@dataclass(frozen=True)
class BulkSelection:
    """The reports a bulk "Send to Jira" asks for, and those it leaves (already sent or being sent)."""

    to_send: list[BugReport]
    already: int
    matched: int


def reports_for_bulk_forward(
    *, user: User, app: App, ids: list[int], all_matching: bool, filter_querystring: str
) -> BulkSelection:
    """The selected reports of the app (or every one matching the list's filter), minus those
    whose issue exists or is on its way (they keep their link; a second one is never made)."""
    triage = filters.triage_list(
        user=user, organization_id=app.organization_id, app=app, data=QueryDict(filter_querystring)
    )
    reports = triage.reports if all_matching else triage.reports.filter(pk__in=ids)
    matched = reports.count()
    if matched > bug_services.BULK_LIMIT:
        return BulkSelection(to_send=[], already=0, matched=matched)
    busy = IssueLink.objects.filter(
        report__app=app, state__in=[IssueLink.State.PENDING, IssueLink.State.LINKED]
    ).values("report_id")
    to_send = list(reports.exclude(pk__in=busy).order_by("number"))
    return BulkSelection(to_send=to_send, already=matched - len(to_send), matched=matched)


@dataclass(frozen=True)
class BatchProgress:
    """A bulk send as it stands, read from its links (so a reload shows the same)."""

    batch: ForwardBatch
    sent: list[IssueLink]
    failed: list[IssueLink]
    waiting: list[IssueLink]

    @property
    def total(self) -> int:
        return max(self.batch.total, len(self.sent) + len(self.failed) + len(self.waiting))

    @property
    def finished(self) -> int:
        return len(self.sent) + len(self.failed)

    @property
    def done(self) -> bool:
        return not self.waiting

    @property
    def paused(self) -> IssueLink | None:
        return next((w for w in self.waiting if w.error_kind == IssueLink.ErrorKind.PAUSED), None)


def batch_progress(*, user: User, app_id: int, batch_id: int) -> BatchProgress:
    """A batch of an app of the user's organizations (any member may follow it); else a 404."""
    app = bug_selectors.app_get(user=user, app_id=app_id)
    batch = ForwardBatch.objects.filter(app=app, pk=batch_id).select_related("app").first()
    if batch is None:
        raise Http404("No such batch.")
    links = list(batch.links.select_related("report", "connection").order_by("report__number"))
    by_state: dict[str, list[IssueLink]] = {}
    for link in links:
        by_state.setdefault(link.state, []).append(link)
    return BatchProgress(
        batch=batch,
        # An issue deleted in Jira since counts as sent: the batch did its part.
        sent=by_state.get(IssueLink.State.LINKED, []) + by_state.get(IssueLink.State.DELETED, []),
        failed=by_state.get(IssueLink.State.FAILED, []),
        waiting=by_state.get(IssueLink.State.PENDING, []),
    )


def waiting_count(*, connection: JiraConnection) -> int:
    """Reports asked for and not in Jira yet (sending, retrying or paused)."""
    return IssueLink.objects.filter(connection=connection, state=IssueLink.State.PENDING).count()


# --- two-way sync --------------------------------------------------------------------------------

SYNC_HISTORY_SHOWN = 10
LAG_SAMPLE = 50
LAG_SCAN = 5000
RECENT_ERRORS_SHOWN = 3


def sync_history(*, link: IssueLink) -> list[SyncEvent]:
    """The link's latest sync events, newest first (the report's panel; the link is the user's)."""
    return list(SyncEvent.objects.filter(link=link)[:SYNC_HISTORY_SHOWN])


@dataclass(frozen=True)
class SyncHealth:
    """Two-way sync as the integrations page shows it."""

    rejected_today: int
    lag_ms: int | None
    recent_errors: list[SyncEvent]


def sync_health(*, connection: JiraConnection) -> SyncHealth:
    """Refused deliveries of the last day (at this connection's own URL), the median lag of the
    latest deliveries (Jira's event time to our receipt), and the latest failed syncs."""
    since = timezone.now() - timedelta(days=1)
    mine = WebhookDelivery.objects.filter(received_at__gte=since)
    # The latest LAG_SAMPLE deliveries of this connection's (newest first), then their median.
    # Which connections a delivery concerns is a JSON list, not portably queryable: rows are read
    # newest first until enough are found, within the day and LAG_SCAN rows (a busy neighbour
    # must not push this connection's deliveries out of a fixed window).
    recent = (
        mine.filter(event_ms__isnull=False)
        .exclude(outcome=WebhookDelivery.Outcome.REJECTED)
        .order_by("-received_at")
        .values_list("connection_ids", "received_at", "event_ms")[:LAG_SCAN]
    )
    latest: list[int] = []
    for ids, received, event_ms in recent.iterator(chunk_size=500):
        if connection.pk in (ids or []):
            latest.append(max(0, int(received.timestamp() * 1000) - event_ms))
            if len(latest) == LAG_SAMPLE:
                break
    lags = sorted(latest)
    return SyncHealth(
        rejected_today=mine.filter(outcome="rejected", site__endswith=f"/{connection.pk}").count(),
        lag_ms=lags[len(lags) // 2] if lags else None,
        recent_errors=list(
            SyncEvent.objects.filter(connection=connection, outcome=SyncEvent.Outcome.FAILED)[
                :RECENT_ERRORS_SHOWN
            ]
        ),
    )
