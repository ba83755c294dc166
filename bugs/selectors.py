"""Reads of apps and reports, each scoped to the organizations the user belongs to.

Another organization's row is a 404, never a 403: we do not confirm that it exists.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import NamedTuple

from django.db.models import Count, F, Prefetch, Q, QuerySet, Window
from django.db.models.functions import RowNumber, TruncDate
from django.http import Http404

from accounts.models import Membership, User
from accounts.tokens import hash_secret

from .models import App, Attachment, BugReport, Comment, CommentOrigin, Priority, Status


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
        # jira_connection: the integration's reverse relation, by name (the list asks whether the
        # app sends to Jira; joined here it costs no query).
        return apps_for_user(user=user).select_related("organization", "jira_connection").get(pk=app_id)
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


def app_has_jira(app: App | None) -> bool:
    """Whether the app has a Jira connection row at all (joined by app_get): without one, none of
    its reports can have a Jira link, and the list asks nothing more."""
    return app is None or getattr(app, "jira_connection", None) is not None


def reports_with_jira(reports: QuerySet[BugReport], *, app: App | None = None) -> QuerySet[BugReport]:
    """The reports with their Jira issue links (the integration's reverse relation, named here,
    never imported): one more query per page whatever its size, and none at all for an app
    without a Jira connection."""
    if not app_has_jira(app):
        return reports
    # One query for the links and their connection (the link model reached through the relation,
    # not imported).
    link_model = BugReport._meta.get_field("issue_links").related_model
    return reports.prefetch_related(
        Prefetch("issue_links", queryset=link_model.objects.select_related("connection"))  # type: ignore[union-attr]
    )


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


# --- report page --------------------------------------------------------------------------------
# Imported here, beside the reads that need them, so this section could be added while other
# parts of the module were being edited; they can join the import block above at any time.


@dataclass(frozen=True)
class TimelineEntry:
    """One line of a report's activity: who did what, and when."""

    at: datetime
    who: str  # "" only for a report whose reporter gave no name or email
    kind: str  # "reported", "comment", or the ActivityKind that changed
    what: str = ""  # the changed field, as words: "status"
    from_value: str = ""
    to_value: str = ""
    via_jira: bool = False  # a named person acting through Jira
    comment_id: int | None = None


def _who(user: User | None, name: str, origin: str) -> tuple[str, bool]:
    """(name to show, whether to mark it as coming through Jira)."""
    from_jira = origin == CommentOrigin.JIRA
    if user is not None:
        return user.display_name, from_jira
    if name:
        return name, from_jira
    return ("Jira", False) if from_jira else ("Someone", False)


def report_timeline(*, report: BugReport) -> list[TimelineEntry]:
    """The report's creation, its status/priority/assignee changes and its comments, oldest
    first, in two queries however long the history."""
    entries = [
        TimelineEntry(
            at=report.created_at, who=report.reporter_name or report.reporter_email, kind="reported"
        )
    ]
    for activity in report.activities.select_related("actor").order_by("created_at", "id"):
        who, via_jira = _who(activity.actor, activity.actor_name, activity.origin)
        entries.append(
            TimelineEntry(
                at=activity.created_at,
                who=who,
                kind=activity.kind,
                what=activity.get_kind_display().lower(),
                from_value=activity.from_value,
                to_value=activity.to_value,
                via_jira=via_jira,
            )
        )
    comments = report.comments.select_related("author").defer("body").order_by("created_at", "id")
    for comment in comments:
        who, via_jira = _who(comment.author, comment.author_name, comment.origin)
        entries.append(
            TimelineEntry(
                at=comment.created_at, who=who, kind="comment", via_jira=via_jira, comment_id=comment.pk
            )
        )
    # A stable sort: at the same instant, a change comes before a comment, each in id order.
    entries.sort(key=lambda entry: entry.at)
    return entries


LOG_LEVELS = ("verbose", "debug", "info", "warning", "error")


@dataclass(frozen=True)
class LogLine:
    timestamp: str  # ISO 8601, as the SDK sent it
    level: str
    message: str

    @property
    def clock(self) -> str:
        """The time of day: a report's lines span seconds, not days."""
        try:
            return f"{datetime.fromisoformat(self.timestamp):%H:%M:%S}"
        except ValueError:
            return self.timestamp


@dataclass(frozen=True)
class LogLevelOption:
    name: str
    count: int
    selected: bool
    toggled: tuple[str, ...]  # the selection once this level is clicked: what its link asks for


@dataclass(frozen=True)
class ConsoleLogs:
    lines: list[LogLine]  # the lines at the selected levels
    total: int  # lines at every level
    levels: list[LogLevelOption]
    selected: tuple[str, ...]  # empty: every level is shown


def report_console_logs(*, report: BugReport, levels: Iterable[str] = ()) -> ConsoleLogs:
    """The report's console lines at the chosen levels (none chosen: all), with a count per
    level. Unknown levels are ignored; a line with an unknown level counts as info."""
    chosen = set(levels) & set(LOG_LEVELS)
    selected = tuple(level for level in LOG_LEVELS if level in chosen)
    lines = []
    for raw in report.console_logs if isinstance(report.console_logs, list) else []:
        if not isinstance(raw, dict):
            continue
        level = raw.get("level") if raw.get("level") in LOG_LEVELS else "info"
        lines.append(LogLine(str(raw.get("timestamp", "")), level, str(raw.get("message", ""))))
    counts = {level: 0 for level in LOG_LEVELS}
    for line in lines:
        counts[line.level] += 1
    options = [
        LogLevelOption(
            name=level,
            count=counts[level],
            selected=level in chosen,
            toggled=tuple(other for other in LOG_LEVELS if (other in chosen) != (other == level)),
        )
        for level in LOG_LEVELS
    ]
    shown = [line for line in lines if line.level in chosen] if chosen else lines
    return ConsoleLogs(lines=shown, total=len(lines), levels=options, selected=selected)


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


# --- overview page ------------------------------------------------------------------------------
# These imports stay with the reads that need them so this section could be appended while the
# top of the module was being edited elsewhere; they can join the import block above at any time.


TRIAGE_QUEUE_SIZE = 5
TREND_DAYS = 30


class LabelledCount(NamedTuple):
    value: str  # the choice's value, as the report list's filter takes it
    label: str
    count: int


@dataclass(frozen=True)
class AppOverview:
    """What the overview page shows for one app."""

    app: App
    statuses: list[LabelledCount]
    priorities: list[LabelledCount]  # most urgent first
    triage_queue: list[BugReport]  # new reports, most urgent then newest first
    new_per_day: list[tuple[date, int]]  # every day of the window, oldest first, zeros included

    @property
    def total(self) -> int:
        return sum(c.count for c in self.statuses)

    @property
    def open_reports(self) -> int:
        return sum(c.count for c in self.statuses if c.value != Status.CLOSED)

    @property
    def new_reports(self) -> int:
        return next(c.count for c in self.statuses if c.value == Status.NEW)


def report_counts_by_app(*, membership: Membership) -> dict[int, dict[str, Counter[str]]]:
    """Per app of the organization: report counts by status and by priority, in one GROUP BY.
    Apps without reports are absent."""
    rows = (
        BugReport.objects.filter(app__organization_id=membership.organization_id)
        .values("app_id", "status", "priority")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts: dict[int, dict[str, Counter[str]]] = {}
    for row in rows:
        per_app = counts.setdefault(row["app_id"], {"status": Counter(), "priority": Counter()})
        per_app["status"][row["status"]] += row["n"]
        per_app["priority"][row["priority"]] += row["n"]
    return counts


def trend_window(*, today: date, days: int = TREND_DAYS) -> list[date]:
    """The last `days` days up to and including `today`, oldest first."""
    return [today - timedelta(days=offset) for offset in range(days - 1, -1, -1)]


def new_reports_per_day_by_app(
    *, membership: Membership, first_day: date, last_day: date
) -> dict[int, dict[date, int]]:
    """Reports created per app and per UTC day, first and last day included; days with none
    are absent."""
    start = datetime.combine(first_day, time.min, tzinfo=UTC)
    end = datetime.combine(last_day + timedelta(days=1), time.min, tzinfo=UTC)
    rows = (
        BugReport.objects.filter(
            app__organization_id=membership.organization_id, created_at__gte=start, created_at__lt=end
        )
        .annotate(day=TruncDate("created_at", tzinfo=UTC))
        .values("app_id", "day")
        .annotate(n=Count("id"))
        .order_by()
    )
    per_day: dict[int, dict[date, int]] = {}
    for row in rows:
        per_day.setdefault(row["app_id"], {})[row["day"]] = row["n"]
    return per_day


def triage_queues_by_app(
    *, membership: Membership, size: int = TRIAGE_QUEUE_SIZE
) -> dict[int, list[BugReport]]:
    """Per app: its first `size` new reports, most urgent first, then newest. One query for all
    apps: a row number per app, filtered (Django wraps the window in a subquery)."""
    ranked = (
        BugReport.objects.filter(app__organization_id=membership.organization_id, status=Status.NEW)
        .annotate(
            queue_position=Window(
                RowNumber(),
                partition_by=F("app_id"),
                order_by=[F("priority_rank").desc(), F("created_at").desc(), F("id").desc()],
            )
        )
        .filter(queue_position__lte=size)
        .only("id", "app_id", "number", "title", "status", "priority", "priority_rank", "created_at")
        .order_by("app_id", "queue_position")
    )
    queues: dict[int, list[BugReport]] = {}
    for report in ranked:
        queues.setdefault(report.app_id, []).append(report)
    return queues


def app_overviews(*, membership: Membership, today: date | None = None) -> list[AppOverview]:
    """Everything the overview page shows, for every app of the organization, in four queries
    however many apps and reports there are. `today` is a UTC date (default: now)."""
    today = today or datetime.now(UTC).date()
    window = trend_window(today=today)
    apps = list(App.objects.filter(organization_id=membership.organization_id).order_by("name"))
    if not apps:
        return []
    counts = report_counts_by_app(membership=membership)
    per_day = new_reports_per_day_by_app(membership=membership, first_day=window[0], last_day=window[-1])
    queues = triage_queues_by_app(membership=membership)
    overviews = []
    for app in apps:
        app_counts = counts.get(app.pk, {"status": Counter(), "priority": Counter()})
        app_days = per_day.get(app.pk, {})
        overviews.append(
            AppOverview(
                app=app,
                statuses=[LabelledCount(s.value, s.label, app_counts["status"][s.value]) for s in Status],
                priorities=[
                    LabelledCount(p.value, p.label, app_counts["priority"][p.value])
                    for p in reversed(Priority)
                ],
                triage_queue=queues.get(app.pk, []),
                new_per_day=[(day, app_days.get(day, 0)) for day in window],
            )
        )
    return overviews
