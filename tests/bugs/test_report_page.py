"""The report page: Markdown-lite comments and description, console logs filtered by level (in
the browser and, without JavaScript, by the server), the activity timeline, the attachments."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from bugs import selectors, services
from bugs.demo import demo_screenshot_png
from bugs.models import Activity, Comment, CommentOrigin
from tests.factories import AppFactory, CommentFactory, MembershipFactory, ReportFactory, UserFactory

pytestmark = pytest.mark.django_db

LOGS = [
    {"timestamp": "2026-01-01T10:00:00+00:00", "level": "verbose", "message": "view did load"},
    {"timestamp": "2026-01-01T10:00:01+00:00", "level": "debug", "message": "GET /cart 200"},
    {"timestamp": "2026-01-01T10:00:02+00:00", "level": "info", "message": "tapped checkout"},
    {"timestamp": "2026-01-01T10:00:03+00:00", "level": "warning", "message": "slow frame"},
    {"timestamp": "2026-01-01T10:00:04+00:00", "level": "error", "message": "payment <failed>"},
    {"timestamp": "2026-01-01T10:00:05+00:00", "level": "error", "message": "retry failed"},
]


def page(client, report, query: str = "") -> str:
    response = client.get(reverse("report_detail", args=[report.app_id, report.number]) + query)
    assert response.status_code == 200
    return response.content.decode()


def section(html: str, start: str, end: str) -> str:
    return html[html.index(start) : html.index(end, html.index(start))]


def text_of(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def log_messages(html: str) -> list[str]:
    return [text_of(m) for m in re.findall(r'<li class="log-line[^"]*"[^>]*>(.*?)</li>', html, re.S)]


# --- console logs ------------------------------------------------------------------------------


def test_every_log_line_is_shown_with_a_count_per_level(owner_client, app):
    report = ReportFactory(app=app, console_logs=LOGS)
    html = page(owner_client, report)
    assert len(log_messages(html)) == 6
    assert "payment &lt;failed&gt;" in html  # escaped, never markup
    chips = section(html, 'class="log-filter"', "</nav>")
    assert re.search(r'data-level-all aria-current="true">All <span class="count">6</span>', chips)
    for level, count in [("verbose", 1), ("debug", 1), ("info", 1), ("warning", 1), ("error", 2)]:
        assert re.search(rf'data-level="{level}">{level} <span class="count">{count}</span>', chips)
    # Without a filter, each level's link asks for that level alone.
    assert 'href="?level=error#logs"' in chips
    assert 'data-complete="true"' in chips  # report.js may filter in place: every line is here


def test_without_javascript_the_level_links_filter_on_the_server(owner_client, app):
    report = ReportFactory(app=app, console_logs=LOGS)
    html = page(owner_client, report, "?level=error")
    messages = log_messages(html)
    assert len(messages) == 2 and all("ERROR" in m for m in messages)
    assert "tapped checkout" not in html
    chips = section(html, 'class="log-filter"', "</nav>")
    assert 'data-complete="false"' in chips
    # The chosen level is marked; clicking it again removes it from the selection.
    assert 'href="?#logs" data-level="error" aria-current="true"' in chips
    # Counts stay those of the whole log; the links add or remove a level from the selection.
    assert 'data-level="info">info <span class="count">1</span>' in chips
    assert 'href="?level=warning&amp;level=error#logs" data-level="warning"' in chips
    assert 'href="?#logs" data-level-all' in chips


def test_several_levels_other_parameters_and_unknown_levels(owner_client, app):
    report = ReportFactory(app=app, console_logs=LOGS)
    html = page(owner_client, report, "?status=new&level=warning&level=error&level=bogus")
    assert len(log_messages(html)) == 3
    chips = unescape(section(html, 'class="log-filter"', "</nav>"))
    # The report list's filter (carried in the query string) survives a level change.
    assert 'href="?status=new&level=warning#logs" data-level="error"' in chips
    assert 'href="?status=new#logs" data-level-all' in chips
    only_bogus = page(owner_client, report, "?level=bogus")
    assert len(log_messages(only_bogus)) == 6


def test_a_level_with_no_lines_says_so(owner_client, app):
    report = ReportFactory(app=app, console_logs=LOGS[:1])
    html = page(owner_client, report, "?level=error")
    assert log_messages(html) == []
    assert re.search(r"data-log-empty>No lines at the chosen levels", html)


def test_no_logs_no_section(owner_client, app):
    report = ReportFactory(app=app, console_logs=[])
    assert "Console logs" not in page(owner_client, report)


def test_report_console_logs_selector():
    report = ReportFactory.build(console_logs=[*LOGS, {"level": "fatal", "message": "x"}, "not a line"])
    logs = selectors.report_console_logs(report=report, levels=["error", "warning", "nope"])
    assert logs.selected == ("warning", "error")
    assert [line.message for line in logs.lines] == ["slow frame", "payment <failed>", "retry failed"]
    assert logs.total == 7
    counts = {option.name: option.count for option in logs.levels}
    assert counts == {"verbose": 1, "debug": 1, "info": 2, "warning": 1, "error": 2}  # fatal: info
    toggled = {option.name: option.toggled for option in logs.levels}
    assert toggled["error"] == ("warning",) and toggled["info"] == ("info", "warning", "error")
    assert logs.lines[0].clock == "10:00:03"


def test_log_lines_are_monospace_and_coloured_by_level_with_the_script_loaded(owner_client, app):
    report = ReportFactory(app=app, console_logs=LOGS)
    html = page(owner_client, report)
    assert '<ol class="code logs"' in html
    assert '<li class="log-line log-error" data-level="error">' in html
    assert re.search(r'<script src="/static/js/report\.js" defer></script>', html)


# --- timeline ----------------------------------------------------------------------------------


def test_the_timeline_merges_changes_and_comments_in_time_order(owner_client, owner, app):
    sam = UserFactory(name="Sam Carter")
    maria = UserFactory(name="María López")
    MembershipFactory(organization=app.organization, user=sam)
    report = ReportFactory(app=app, reporter_name="Ana Ruiz")
    start = report.created_at
    later = lambda minutes: start + timedelta(minutes=minutes)  # noqa: E731

    services.report_update(report=report, actor=sam, status="in_progress")
    Activity.objects.filter(report=report, kind="status").update(created_at=later(20))
    CommentFactory(report=report, author=maria, body="Seen it too", created_at=later(10))
    services.report_update(report=report, actor=None, priority="major", origin=CommentOrigin.JIRA)
    Activity.objects.filter(report=report, kind="priority").update(created_at=later(30))
    services.comment_create(
        report=report, body="From Jira", author=None, author_name="Jo Jira", origin=CommentOrigin.JIRA
    )
    Comment.objects.filter(author_name="Jo Jira").update(created_at=later(40))
    services.report_update(report=report, actor=sam, assignee=sam)
    Activity.objects.filter(report=report, kind="assignee").update(created_at=later(50))

    html = page(owner_client, report)
    items = [text_of(li) for li in re.findall(r"<li class=\"timeline-[^\"]+\">(.*?)</li>", html, re.S)]
    expected = [
        "Ana Ruiz reported it",
        "María López commented",
        "Sam Carter changed status from New to In progress",
        "Jira changed priority from NA to Major",
        "Jo Jira via Jira commented",
        "Sam Carter changed assignee from Unassigned to Sam Carter",
    ]
    assert len(items) == len(expected)
    for item, start_text in zip(items, expected, strict=True):
        assert item.startswith(start_text), (item, start_text)
    maria_comment = Comment.objects.get(author=maria)
    assert f'<a href="#comment-{maria_comment.pk}">commented</a>' in html


def test_report_timeline_takes_two_queries_however_long_the_history(django_assert_num_queries, app):
    report = ReportFactory(app=app)
    people = [UserFactory() for _ in range(3)]
    for person in people:
        MembershipFactory(organization=app.organization, user=person)
        services.report_update(report=report, actor=person, assignee=person)
        CommentFactory(report=report, author=person)
    with django_assert_num_queries(2):
        entries = selectors.report_timeline(report=report)
    assert [entry.kind for entry in entries].count("comment") == 3
    assert [entry.at for entry in entries] == sorted(entry.at for entry in entries)


def test_a_timeline_without_a_reporter_name_still_starts_with_reported(owner_client, app):
    report = ReportFactory(app=app, reporter_name="", reporter_email="")
    (entry,) = selectors.report_timeline(report=report)
    assert (entry.kind, entry.who) == ("reported", "")
    assert "Reported" in text_of(section(page(owner_client, report), 'class="timeline"', "</ol>"))


def test_the_page_query_count_does_not_grow_with_comments_and_changes(client, owner, app):
    report = ReportFactory(app=app, console_logs=LOGS)
    client.force_login(owner.user)
    url = reverse("report_detail", args=[app.pk, report.number])
    CommentFactory(report=report, author=owner.user)
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    for i in range(8):
        person = UserFactory()
        MembershipFactory(organization=app.organization, user=person)
        CommentFactory(report=report, author=person, body=f"**{i}**")
        services.report_update(report=report, actor=person, assignee=person)
    with CaptureQueriesContext(connection) as many:
        client.get(url)
    assert len(many) == len(few)


# --- markdown in comments and the description ------------------------------------------------


def test_comments_are_rendered_through_markdown_lite(owner_client, owner, app):
    report = ReportFactory(app=app)
    comment = CommentFactory(
        report=report,
        author=owner.user,
        body="**Fixed** in `4.2.1`:\n- see https://example.com/x\n\n<script>alert(1)</script>",
    )
    html = page(owner_client, report)
    body = section(html, f'id="comment-{comment.pk}"', '<form class="comment-form')
    assert "<strong>Fixed</strong> in <code>4.2.1</code>" in body
    assert '<ul><li>see <a href="https://example.com/x" rel="nofollow noopener noreferrer">' in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "<script>alert(1)" not in html


def test_the_description_from_the_sdk_is_rendered_safely(owner_client, app):
    report = ReportFactory(
        app=app,
        description='Tap **Pay**.\n<img src=x onerror=alert(1)> [x](javascript:alert(1)) [y](https://a.test/"onclick="z)',
    )
    html = page(owner_client, report)
    description = section(html, "<h2>Description</h2>", "</section>")
    assert "<strong>Pay</strong>" in description
    assert "&lt;img src=x onerror=alert(1)&gt;" in description
    assert not any(
        href.lower().startswith("javascript") for href in re.findall(r'href="([^"]*)"', description)
    )
    assert "<img" not in description
    assert 'onclick="' not in description


def test_the_comment_box_has_a_markdown_hint(owner_client, app):
    html = page(owner_client, ReportFactory(app=app))
    hint = "Markdown: **bold**, *italic*, `code`, lists, links"
    assert f'<small class="help" id="id_body_helptext">{hint}</small>' in html
    assert 'aria-describedby="id_body_helptext"' in html


def test_an_invalid_comment_rerenders_the_whole_page(owner_client, app):
    report = ReportFactory(app=app, console_logs=LOGS)
    CommentFactory(report=report, body="**kept**")
    response = owner_client.post(reverse("comment_create", args=[app.pk, report.number]), {"body": " "})
    assert response.status_code == 400
    html = response.content.decode()
    assert "<strong>kept</strong>" in html and 'class="timeline"' in html and "Console logs" in html


# --- attachments -------------------------------------------------------------------------------


def test_attachments_form_a_gallery_with_previews_and_downloads(owner_client, app):
    report = ReportFactory(app=app)
    image, log = services.attachments_add(
        report=report,
        files=[
            SimpleUploadedFile("screen.png", demo_screenshot_png("x"), content_type="image/png"),
            SimpleUploadedFile("console.txt", b"hello", content_type="text/plain"),
        ],
    )
    html = page(owner_client, report)
    gallery = section(html, 'class="gallery"', "</ul>")
    image_url = reverse("attachment_download", args=[app.pk, report.number, image.pk])
    log_url = reverse("attachment_download", args=[app.pk, report.number, log.pk])
    # The preview opens the full image (a dialog with JavaScript, the image itself without).
    assert f'<a class="gallery-preview" href="{image_url}" data-lightbox' in gallery
    assert f'<img src="{image_url}" alt="screen.png" loading="lazy">' in gallery
    assert f'<img src="{log_url}"' not in gallery
    for url in (image_url, log_url):
        assert f'href="{url}?download=1" download>' in gallery
    assert gallery.count(">Download<") == 2
    response = owner_client.get(image_url + "?download=1")
    assert response["Content-Disposition"].startswith("attachment;")


# --- previous / next in the list the report was opened from ---------------------------------


def _nav(response) -> tuple[str | None, str | None]:  # type: ignore[no-untyped-def]
    return response.context["previous_url"], response.context["next_url"]


def test_previous_and_next_follow_the_lists_filter_and_sort(owner_client, app):
    now = timezone.now()
    one = ReportFactory(app=app, priority="major", created_at=now - timedelta(hours=3))
    ReportFactory(app=app, priority="minor", created_at=now - timedelta(hours=2))  # filtered out
    three = ReportFactory(app=app, priority="major", created_at=now - timedelta(hours=1))
    url = reverse("report_detail", args=[app.pk, three.number])
    # Newest first, majors only: #3 is first, #1 follows it.
    response = owner_client.get(url, {"priority": "major"})
    assert _nav(response) == (None, reverse("report_detail", args=[app.pk, one.number]) + "?priority=major")
    assert response.context["back_url"] == reverse("report_list", args=[app.pk]) + "?priority=major"
    # Oldest first reverses the steps.
    response = owner_client.get(url, {"priority": "major", "sort": "created"})
    assert _nav(response) == (
        reverse("report_detail", args=[app.pk, one.number]) + "?priority=major&sort=created",
        None,
    )


def test_previous_and_next_across_all_apps(owner_client, owner, app):
    other = AppFactory(organization=owner.organization)
    first = ReportFactory(app=app)
    second = ReportFactory(app=other)
    response = owner_client.get(reverse("report_detail", args=[app.pk, first.number]), {"scope": "all"})
    assert _nav(response)[0] == reverse("report_detail", args=[other.pk, second.number]) + "?scope=all"
    assert response.context["back_url"] == reverse("report_list_all")


def test_a_comment_keeps_the_list_context(owner_client, app):
    report = ReportFactory(app=app)
    url = reverse("comment_create", args=[app.pk, report.number])
    response = owner_client.post(url + "?status=new", {"body": "hello"})
    assert (
        response["Location"]
        == reverse("report_detail", args=[app.pk, report.number]) + "?status=new#comments"
    )
