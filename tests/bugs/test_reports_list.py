"""The triage list: filters in the URL, sorts, keyset pages, htmx fragments, inline and bulk triage."""

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role
from bugs import services
from bugs.filters import paginate
from bugs.models import Activity, BugReport
from tests.factories import AppFactory, MembershipFactory, ReportFactory

pytestmark = pytest.mark.django_db


def _numbers(response) -> list[int]:  # type: ignore[no-untyped-def]
    return [r.number for r in response.context["page"].rows]


@pytest.fixture
def list_url(app):  # type: ignore[no-untyped-def]
    return reverse("report_list", args=[app.pk])


def test_full_page_versus_htmx_fragment(owner_client, app, list_url):
    ReportFactory(app=app, title="Fragment me")
    full = owner_client.get(list_url)
    assert b"<html" in full.content and b'id="results"' in full.content and b"Filter reports" in full.content
    fragment = owner_client.get(list_url, headers={"HX-Request": "true"})
    assert b"Fragment me" in fragment.content
    assert b"<html" not in fragment.content and b"Filter reports" not in fragment.content
    assert fragment.content.lstrip().startswith(b'<section class="card" id="results">')


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "closed"}, [2]),
        ({"priority": "blocker"}, [3]),
        ({"tag": "Crash"}, [1, 3]),
        ({"version": "5.0.0"}, [3]),
        ({"os": "Android"}, [2]),
        ({"q": "checkout"}, [1]),
        ({"q": "zed@example"}, [2]),
        ({"assignee": "none"}, [1, 3]),
        ({"status": "new", "priority": "blocker"}, [3]),
    ],
)
def test_filters(owner_client, owner, app, list_url, params, expected):
    ReportFactory(app=app, title="Checkout freezes", tags=["crash"])
    second = ReportFactory(app=app, title="Map", os_name="Android", reporter_email="zed@example.com")
    ReportFactory(app=app, title="Login", priority="blocker", app_version="5.0.0", tags=["crash", "ui"])
    services.report_update(report=second, actor=None, status="closed", assignee=owner.user)
    response = owner_client.get(list_url, params)
    assert sorted(_numbers(response)) == expected


def test_filter_by_assignee_and_created_range(owner_client, owner, app, list_url):
    old = ReportFactory(app=app, created_at=timezone.now() - timedelta(days=10))
    new = ReportFactory(app=app)
    services.report_update(report=new, actor=None, assignee=owner.user)
    assert _numbers(owner_client.get(list_url, {"assignee": owner.user.pk})) == [new.number]
    day = (timezone.now() - timedelta(days=10)).date().isoformat()
    assert _numbers(owner_client.get(list_url, {"created_from": day, "created_to": day})) == [old.number]


def test_bad_filter_values_are_ignored_with_a_message_not_an_error(owner_client, app, list_url):
    ReportFactory(app=app)
    response = owner_client.get(list_url, {"status": "bogus", "created_from": "yesterday", "sort": "x"})
    assert response.status_code == 200
    assert _numbers(response) == [1]
    assert b"Some filters were ignored" in response.content


@pytest.mark.parametrize(
    ("sort", "expected"),
    [("-created", [3, 2, 1]), ("created", [1, 2, 3]), ("-priority", [2, 3, 1]), ("-updated", [1, 3, 2])],
)
def test_sorts(owner_client, app, list_url, sort, expected):
    now = timezone.now()
    first = ReportFactory(app=app, created_at=now - timedelta(hours=3))
    ReportFactory(app=app, created_at=now - timedelta(hours=2), priority="blocker")
    ReportFactory(app=app, created_at=now - timedelta(hours=1), priority="minor")
    services.comment_create(report=first, body="bumps updated_at", author=None)
    assert _numbers(owner_client.get(list_url, {"sort": sort})) == expected


def test_keyset_pages_walk_forward_and_back_without_gaps_or_repeats(app):
    now = timezone.now()
    # Equal timestamps on purpose: the id breaks ties, so no row is skipped or shown twice.
    for i in range(23):
        ReportFactory(app=app, created_at=now - timedelta(minutes=i // 2), priority=["na", "major"][i % 2])
    for sort in ("-created", "created", "-priority", "-updated"):
        reports = BugReport.objects.filter(app=app)
        seen, pages, cursor = [], [], ""
        while True:
            page = paginate(reports, sort_key=sort, after=cursor, size=5)
            pages.append(page)
            seen += [r.pk for r in page.rows]
            if not page.next_cursor:
                break
            cursor = page.next_cursor
        assert len(seen) == len(set(seen)) == 23
        # Back from the last page to the first, page by page.
        back = pages[-1]
        for expected in reversed(pages[:-1]):
            back = paginate(reports, sort_key=sort, before=back.prev_cursor, size=5)
            assert [r.pk for r in back.rows] == [r.pk for r in expected.rows]
        assert back.prev_cursor is None


def test_a_tampered_cursor_means_page_one(owner_client, app, list_url):
    ReportFactory(app=app)
    for cursor in ("garbage", "W10", "WyJ4IiwgMV0"):
        response = owner_client.get(list_url, {"after": cursor})
        assert response.status_code == 200 and _numbers(response) == [1]


def test_pager_links_keep_the_filter(owner_client, app, list_url):
    for _ in range(55):
        ReportFactory(app=app, priority="major")
    response = owner_client.get(list_url, {"priority": "major"})
    nxt = response.context["page"].next_cursor
    assert f"priority=major&amp;after={nxt}".encode() in response.content
    second = owner_client.get(list_url, {"priority": "major", "after": nxt})
    assert _numbers(second) == [5, 4, 3, 2, 1]


def test_the_query_count_does_not_grow_with_the_data(
    owner_client, app, list_url, django_assert_max_num_queries
):
    for _ in range(5):
        ReportFactory(app=app)
    with django_assert_max_num_queries(10) as small:
        owner_client.get(list_url, {"status": "new", "priority": "na"})
    for _ in range(60):
        ReportFactory(app=app, tags=["x"])
    MembershipFactory(organization=app.organization)
    with django_assert_max_num_queries(10) as large:
        owner_client.get(list_url, {"status": "new", "priority": "na"})
    assert len(large.captured_queries) == len(small.captured_queries)


def test_organization_list_covers_every_app_of_the_current_organization_only(owner_client, owner, app):
    other_app = AppFactory(organization=owner.organization, name="Second")
    ReportFactory(app=app, title="From first")
    ReportFactory(app=other_app, title="From second")
    ReportFactory(app=AppFactory(), title="Elsewhere")
    response = owner_client.get(reverse("report_list_all"))
    titles = {r.title for r in response.context["page"].rows}
    assert titles == {"From first", "From second"}
    only_second = owner_client.get(reverse("report_list_all"), {"app": other_app.pk})
    assert {r.title for r in only_second.context["page"].rows} == {"From second"}


def test_report_links_carry_the_filter_for_previous_and_next(owner_client, app, list_url):
    ReportFactory(app=app)
    response = owner_client.get(list_url, {"status": "new", "sort": "-priority"})
    link = reverse("report_detail", args=[app.pk, 1])
    assert f'href="{link}?status=new&amp;sort=-priority"'.encode() in response.content


def test_empty_states_say_what_to_do(owner_client, app, list_url):
    empty = owner_client.get(list_url)
    assert b"No reports yet" in empty.content and b"Authorization: Bearer" in empty.content
    ReportFactory(app=app)
    no_match = owner_client.get(list_url, {"status": "closed"})
    assert b"No reports match these filters" in no_match.content and b"Clear the filters" in no_match.content


def test_inline_change_answers_the_updated_row_and_a_toast(owner_client, app, list_url):
    report = ReportFactory(app=app)
    url = reverse("report_triage", args=[app.pk, report.number])
    response = owner_client.post(
        url,
        {"status": "closed"},
        headers={
            "HX-Request": "true",
            "HX-Current-URL": f"http://testserver{list_url}?priority=na&after=abc",
        },
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith(f'<tr id="report-{report.pk}"')
    assert '<option value="closed" selected>' in body
    assert "?priority=na" in body and "after=abc" not in body
    assert "closed" in response["HX-Trigger"].lower()
    assert BugReport.objects.get(pk=report.pk).status == "closed"


def test_a_refused_inline_change_keeps_the_old_value_and_says_why(owner_client, app):
    report = ReportFactory(app=app)
    url = reverse("report_triage", args=[app.pk, report.number])
    response = owner_client.post(url, {"status": "bogus"}, headers={"HX-Request": "true"})
    assert response.status_code == 400
    assert "not saved" in response["HX-Trigger"]
    assert '<option value="new" selected>' in response.content.decode()


def test_bulk_change_of_selected_rows(owner_client, owner, app, list_url):
    reports = [ReportFactory(app=app) for _ in range(4)]
    response = owner_client.post(
        reverse("reports_bulk"),
        {
            "ids": [r.pk for r in reports[:3]],
            "action": "status:closed",
            "app_id": app.pk,
            "filter": "priority=na",
        },
    )
    assert response.status_code == 302 and response["Location"].endswith(f"{list_url}?priority=na")
    assert list(
        BugReport.objects.filter(status="closed").order_by("number").values_list("number", flat=True)
    ) == [1, 2, 3]
    assert Activity.objects.filter(kind="status", actor=owner.user).count() == 3


def test_bulk_change_of_everything_matching_the_filter(owner_client, owner, app):
    for priority in ("major", "major", "minor"):
        ReportFactory(app=app, priority=priority)
    ReportFactory(app=AppFactory(), priority="major")  # another organization: never touched
    owner_client.post(
        reverse("reports_bulk"),
        {"all_matching": "1", "action": f"assignee:{owner.user.pk}", "filter": "priority=major"},
    )
    assert BugReport.objects.filter(assignee=owner.user).count() == 2


def test_bulk_refuses_ids_of_another_organization(owner_client, app):
    foreign = ReportFactory(app=AppFactory())
    owner_client.post(reverse("reports_bulk"), {"ids": [foreign.pk], "action": "status:closed"})
    assert BugReport.objects.get(pk=foreign.pk).status == "new"


def test_bulk_refuses_too_many_at_once(owner_client, app, settings, monkeypatch):
    monkeypatch.setattr(services, "BULK_LIMIT", 2)
    for _ in range(3):
        ReportFactory(app=app)
    response = owner_client.post(
        reverse("reports_bulk"),
        {"all_matching": "1", "action": "status:closed", "app_id": app.pk},
        follow=True,
    )
    assert b"at most 2 can be changed" in response.content
    assert not BugReport.objects.filter(status="closed").exists()


def test_members_can_triage_from_the_list(client, app):
    member = MembershipFactory(organization=app.organization, role=Role.MEMBER)
    report = ReportFactory(app=app)
    client.force_login(member.user)
    client.post(reverse("reports_bulk"), {"ids": [report.pk], "action": "priority:blocker", "app_id": app.pk})
    assert BugReport.objects.get(pk=report.pk).priority == "blocker"


def test_back_link_of_bulk_keeps_filter(owner_client, app):
    ReportFactory(app=app)
    response = owner_client.post(reverse("reports_bulk"), {"action": "status:closed", "filter": "q=x"})
    assert parse_qs(urlsplit(response["Location"]).query) == {"q": ["x"]}
