"""The overview page: counts, the triage queue, the trend chart, isolation, and its query budget."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role
from bugs import selectors
from tests.factories import AppFactory, MembershipFactory, ReportFactory

pytestmark = pytest.mark.django_db


def _panel(response, app):  # type: ignore[no-untyped-def]
    (panel,) = [p for p in response.context["panels"] if p["overview"].app == app]
    return panel


def _counts(labelled) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return {c.value: c.count for c in labelled}


def test_counts_by_status_and_priority_link_to_the_filtered_list(owner_client, app):
    ReportFactory(app=app, priority="blocker")
    ReportFactory(app=app, priority="blocker", status="in_progress")
    ReportFactory(app=app, priority="minor", status="closed")
    ReportFactory(app=app)
    response = owner_client.get(reverse("home"))
    overview = _panel(response, app)["overview"]
    assert _counts(overview.statuses) == {"new": 2, "in_progress": 1, "closed": 1}
    assert _counts(overview.priorities) == {"blocker": 2, "major": 0, "minor": 1, "trivial": 0, "na": 1}
    assert overview.priorities[0].value == "blocker"  # most urgent first
    assert (overview.open_reports, overview.total) == (3, 4)
    body = response.content.decode()
    list_url = reverse("report_list", args=[app.pk])
    for param in ("status=new", "status=in_progress", "status=closed", "priority=blocker", "priority=na"):
        assert f'href="{list_url}?{param}"' in body
    assert "<strong>3</strong> open reports · 4 in all" in body


def test_the_triage_queue_is_new_reports_most_urgent_then_newest_five_at_most(owner_client, app):
    now = timezone.now()

    def report(title: str, priority: str, hours_ago: int, status: str = "new"):  # type: ignore[no-untyped-def]
        created_at = now - timedelta(hours=hours_ago)
        return ReportFactory(app=app, title=title, priority=priority, status=status, created_at=created_at)

    report("old blocker", "blocker", 50)
    report("minor", "minor", 1)
    report("new blocker", "blocker", 2)
    report("na", "na", 0)
    report("major", "major", 30)
    report("trivial", "trivial", 3)
    report("closed blocker", "blocker", 0, status="closed")
    report("busy blocker", "blocker", 0, status="in_progress")
    response = owner_client.get(reverse("home"))
    queue = _panel(response, app)["overview"].triage_queue
    assert [r.title for r in queue] == ["new blocker", "old blocker", "major", "minor", "trivial"]
    body = response.content.decode()
    for r in queue:
        assert f'href="{reverse("report_detail", args=[app.pk, r.number])}"' in body
    assert f'href="{reverse("report_list", args=[app.pk])}?status=new">All 6 new reports' in body


def test_every_app_gets_its_own_queue_from_one_query(owner):
    first, second = AppFactory(organization=owner.organization), AppFactory(organization=owner.organization)
    for i in range(7):
        ReportFactory(app=first, title=f"first {i}")
    ReportFactory(app=second, title="second only", priority="major")
    with CaptureQueriesContext(connection) as queries:
        queues = selectors.triage_queues_by_app(membership=owner)
    assert len(queries) == 1
    assert [r.title for r in queues[first.pk]] == [f"first {i}" for i in (6, 5, 4, 3, 2)]
    assert [r.title for r in queues[second.pk]] == ["second only"]


def test_an_empty_queue_says_so(owner_client, app):
    ReportFactory(app=app, status="closed")
    body = owner_client.get(reverse("home")).content.decode()
    assert "Nothing waiting" in body


def test_the_chart_counts_the_last_30_utc_days_with_zeros(owner, app):
    today = date(2025, 11, 30)

    def at(day: date, hour: int = 12) -> datetime:
        return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)

    ReportFactory(app=app, created_at=at(today, 0))  # today, first second
    ReportFactory(app=app, created_at=at(today, 23))
    ReportFactory(app=app, created_at=at(today - timedelta(days=29)))  # first day of the window
    ReportFactory(app=app, created_at=at(today - timedelta(days=30)))  # just outside
    ReportFactory(app=app, created_at=at(today - timedelta(days=31)))
    ReportFactory(app=app, created_at=at(today + timedelta(days=1), 0))  # tomorrow (clock skew)
    (overview,) = selectors.app_overviews(membership=owner, today=today)
    days = overview.new_per_day
    assert len(days) == 30
    assert days[0] == (today - timedelta(days=29), 1)
    assert days[-1] == (today, 2)
    assert sum(count for _, count in days) == 3
    assert [count for _, count in days[1:-1]] == [0] * 28


def test_the_page_draws_an_accessible_chart_of_the_last_30_days(owner_client, app):
    ReportFactory(app=app, created_at=timezone.now())
    ReportFactory(app=app, created_at=timezone.now() - timedelta(days=31))
    response = owner_client.get(reverse("home"))
    chart = _panel(response, app)["chart"]
    assert len(chart.bars) == 30
    assert chart.total == 1 and chart.bars[-1].count == 1
    today = timezone.now().astimezone(UTC).date()
    summary = f"New reports per day, last 30 days: 1 in all, peak 1 on {today.day} {today:%b}"
    assert chart.summary == summary
    body = response.content.decode()
    assert f'role="img" aria-label="{summary}"' in body
    assert f"<title>{summary}</title>" in body
    assert body.count('class="chart-bar"') == 30


def test_user_text_is_escaped(owner_client, owner):
    app = AppFactory(organization=owner.organization, name="<i>App</i>")
    ReportFactory(app=app, title="<script>alert(1)</script>")
    body = owner_client.get(reverse("home")).content.decode()
    assert "<script>alert(1)" not in body and "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "<i>App</i>" not in body and "&lt;i&gt;App&lt;/i&gt;" in body


def test_another_organizations_apps_and_reports_never_appear(owner_client, owner, app):
    ReportFactory(app=app, title="Ours")
    other_app = AppFactory(name="Their app")
    ReportFactory(app=other_app, title="Their report", priority="blocker")
    ReportFactory(app=other_app, title="Their other report", created_at=timezone.now())
    response = owner_client.get(reverse("home"))
    body = response.content.decode()
    assert "Their app" not in body and "Their report" not in body and "Their other report" not in body
    (panel,) = response.context["panels"]
    assert panel["overview"].app == app and panel["overview"].total == 1
    assert panel["chart"].total == 1
    # The reads themselves are scoped, not just the page.
    assert other_app.pk not in selectors.report_counts_by_app(membership=owner)
    assert other_app.pk not in selectors.triage_queues_by_app(membership=owner)
    today = timezone.now().astimezone(UTC).date()
    per_day = selectors.new_reports_per_day_by_app(membership=owner, first_day=today, last_day=today)
    assert other_app.pk not in per_day


def test_a_user_in_two_organizations_sees_the_current_one_only(owner_client, owner, app):
    second = MembershipFactory(user=owner.user)
    ReportFactory(app=AppFactory(organization=second.organization, name="Second org app"))
    body = owner_client.get(reverse("home")).content.decode()
    assert app.name in body and "Second org app" not in body


def test_empty_state_for_an_owner_and_for_a_member(client, owner):
    client.force_login(owner.user)
    body = client.get(reverse("home")).content.decode()
    assert "No apps yet" in body and f'href="{reverse("app_list")}"' in body
    member = MembershipFactory(organization=owner.organization, role=Role.MEMBER)
    client.force_login(member.user)
    body = client.get(reverse("home")).content.decode()
    assert "No apps yet" in body and "has not added an app yet" in body


def test_app_overviews_takes_four_queries_or_one_without_apps(owner):
    with CaptureQueriesContext(connection) as queries:
        assert selectors.app_overviews(membership=owner) == []
    assert len(queries) == 1
    app = AppFactory(organization=owner.organization)
    ReportFactory(app=app)
    with CaptureQueriesContext(connection) as queries:
        selectors.app_overviews(membership=owner)
    assert len(queries) == 4


def _fill(app, n: int) -> None:  # type: ignore[no-untyped-def]
    priorities = ["na", "trivial", "minor", "major", "blocker"]
    statuses = ["new", "new", "in_progress", "closed"]
    now = timezone.now()
    for i in range(n):
        ReportFactory(
            app=app,
            priority=priorities[i % 5],
            status=statuses[i % 4],
            created_at=now - timedelta(days=i % 35, hours=i),
        )


def test_the_number_of_queries_does_not_grow_with_apps_or_reports(
    owner_client, owner, django_assert_num_queries
):
    first = AppFactory(organization=owner.organization)
    _fill(first, 2)
    with CaptureQueriesContext(connection) as baseline:
        assert owner_client.get(reverse("home")).status_code == 200
    for _ in range(2):
        _fill(AppFactory(organization=owner.organization), 40)
    _fill(first, 40)
    with django_assert_num_queries(len(baseline)):
        response = owner_client.get(reverse("home"))
    assert len(response.context["panels"]) == 3
    assert all(len(p["overview"].triage_queue) == 5 for p in response.context["panels"])
