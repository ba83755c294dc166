import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts.models import Role
from bugs import services
from bugs.models import Activity, App, Comment
from bugs.selectors import app_by_sdk_token
from tests.factories import CommentFactory, MembershipFactory, ReportFactory

pytestmark = pytest.mark.django_db


def test_adding_an_app_shows_its_token_once(owner_client, owner):
    response = owner_client.post(reverse("app_list"), {"name": "Shop iOS", "platform": "ios"})
    assert response.status_code == 200
    token = response.context["token"]
    assert token.encode() in response.content
    assert "no-cache" in response["Cache-Control"] or "no-store" in response["Cache-Control"]
    app = App.objects.get(name="Shop iOS")
    assert app_by_sdk_token(token=token) == app
    # Never again: the settings page shows only the prefix.
    settings_page = owner_client.get(reverse("app_settings", args=[app.pk]))
    assert token.encode() not in settings_page.content
    assert app.sdk_token_prefix.encode() in settings_page.content


def test_a_duplicate_app_name_is_refused_and_the_form_kept(owner_client, app):
    response = owner_client.post(reverse("app_list"), {"name": app.name.upper(), "platform": "web"})
    assert response.status_code == 400
    assert b"already exists" in response.content
    assert App.objects.count() == 1


def test_members_cannot_add_apps_or_rotate_tokens(client, app):
    member = MembershipFactory(organization=app.organization, role=Role.MEMBER)
    client.force_login(member.user)
    assert client.get(reverse("app_list")).status_code == 200
    assert client.post(reverse("app_list"), {"name": "X", "platform": "ios"}).status_code == 403
    assert client.post(reverse("app_rotate_token", args=[app.pk])).status_code == 403
    assert app_by_sdk_token(token=app.test_token) == app


def test_rotating_asks_first_then_shows_the_new_token(owner_client, app):
    page = owner_client.get(reverse("app_rotate_token", args=[app.pk]))
    assert b"stops working immediately" in page.content
    assert app_by_sdk_token(token=app.test_token) == app
    response = owner_client.post(reverse("app_rotate_token", args=[app.pk]))
    assert app_by_sdk_token(token=app.test_token) is None
    assert app_by_sdk_token(token=response.context["token"]) == app


def test_report_page_shows_the_report(owner_client, app):
    report = ReportFactory(
        app=app,
        title="Checkout freezes",
        reproduction_steps=["Open cart", "Tap pay"],
        console_logs=[{"timestamp": "2026-01-01T00:00:00Z", "level": "error", "message": "boom <b>"}],
        user_attributes={"plan": "plus"},
    )
    response = owner_client.get(reverse("report_detail", args=[app.pk, report.number]))
    body = response.content.decode()
    assert "Checkout freezes" in body and "Tap pay" in body and "plus" in body
    assert "boom &lt;b&gt;" in body  # logs are escaped, never rendered as HTML


def test_triage_form_changes_status_and_records_who(owner_client, owner, app):
    report = ReportFactory(app=app)
    url = reverse("report_triage", args=[app.pk, report.number])
    owner_client.post(url, {"status": "closed", "priority": "major", "assignee": owner.user.pk})
    report.refresh_from_db()
    assert (report.status, report.priority, report.assignee) == ("closed", "major", owner.user)
    assert set(Activity.objects.filter(actor=owner.user).values_list("kind", flat=True)) == {
        "status",
        "priority",
        "assignee",
    }


def test_triage_refuses_an_assignee_from_elsewhere(owner_client, app):
    report = ReportFactory(app=app)
    stranger = MembershipFactory().user
    url = reverse("report_triage", args=[app.pk, report.number])
    response = owner_client.post(url, {"assignee": stranger.pk}, follow=True)
    assert b"not saved" in response.content
    report.refresh_from_db()
    assert report.assignee is None


def test_an_empty_comment_is_refused_and_nothing_typed_is_lost(owner_client, app):
    report = ReportFactory(app=app)
    response = owner_client.post(reverse("comment_create", args=[app.pk, report.number]), {"body": "   "})
    assert response.status_code == 400
    assert not Comment.objects.exists()


def test_comments_can_be_edited_and_deleted_by_their_author_only(client, owner, app):
    report = ReportFactory(app=app)
    colleague = MembershipFactory(organization=app.organization)
    mine = CommentFactory(report=report, author=owner.user, body="mine")
    theirs = CommentFactory(report=report, author=colleague.user, body="theirs")
    client.force_login(owner.user)
    edit = reverse("comment_edit", args=[app.pk, report.number, mine.pk])
    client.post(edit, {"body": "mine, edited"})
    assert Comment.objects.get(pk=mine.pk).body == "mine, edited"
    assert (
        client.post(
            reverse("comment_edit", args=[app.pk, report.number, theirs.pk]), {"body": "x"}
        ).status_code
        == 403
    )
    assert client.post(reverse("comment_delete", args=[app.pk, report.number, theirs.pk])).status_code == 403
    confirm = client.get(reverse("comment_delete", args=[app.pk, report.number, mine.pk]))
    assert b"Delete comment" in confirm.content
    client.post(reverse("comment_delete", args=[app.pk, report.number, mine.pk]))
    assert list(Comment.objects.values_list("body", flat=True)) == ["theirs"]


def test_attachments_are_served_to_members_only(client, owner, app, outsider):
    report = ReportFactory(app=app)
    (log,) = services.attachments_add(
        report=report, files=[SimpleUploadedFile("console.txt", b"hello", content_type="text/plain")]
    )
    url = reverse("attachment_download", args=[app.pk, report.number, log.pk])
    assert client.get(url).status_code == 302  # anonymous: to the login page
    client.force_login(outsider)
    assert client.get(url).status_code == 404
    client.force_login(owner.user)
    response = client.get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"hello"
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["Cache-Control"].startswith("private")
    assert response["X-Content-Type-Options"] == "nosniff"


def test_media_files_have_no_public_url(client, owner, app):
    report = ReportFactory(app=app)
    (log,) = services.attachments_add(
        report=report, files=[SimpleUploadedFile("c.txt", b"hello", content_type="text/plain")]
    )
    client.force_login(owner.user)
    assert client.get("/" + log.file.name).status_code == 404
    assert client.get(log.file.url).status_code == 404


def test_health_check_needs_no_login(client):
    assert client.get(reverse("healthz")).content == b"ok"
