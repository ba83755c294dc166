from datetime import timedelta
from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from accounts.tokens import hash_secret
from bugs import services, signals, tasks
from bugs.errors import AttachmentRejected, NotAMember
from bugs.models import Activity, App, Attachment, BugReport, Comment, IdempotencyKey
from bugs.selectors import app_by_sdk_token
from tests.factories import AppFactory, MembershipFactory, ReportFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_app_token_is_returned_once_and_stored_only_as_a_hash(owner):
    app, token = services.app_create(organization=owner.organization, name="Shop", platform="android")
    stored = App.objects.get(pk=app.pk)
    assert stored.sdk_token_hash == hash_secret(token)
    assert token not in (stored.sdk_token_hash, stored.sdk_token_prefix)
    assert token.startswith(stored.sdk_token_prefix)
    assert app_by_sdk_token(token=token) == app


def test_rotating_the_token_stops_the_old_one_at_once(app):
    old = app.test_token
    new = services.app_rotate_token(app=app)
    assert new != old
    assert app_by_sdk_token(token=old) is None
    assert app_by_sdk_token(token=new) == app


def test_reports_are_numbered_per_app():
    first_app, second_app = AppFactory(), AppFactory()
    numbers = [ReportFactory(app=first_app).number for _ in range(3)]
    assert numbers == [1, 2, 3]
    assert ReportFactory(app=second_app).number == 1
    assert App.objects.get(pk=first_app.pk).report_counter == 3


def test_report_creation_fires_the_signal_after_commit(app, django_capture_on_commit_callbacks):
    received = []
    handler = mock.Mock(side_effect=lambda **kw: received.append(kw["report"].pk))
    signals.report_created.connect(handler)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            report = services.report_create(app=app, fields={"title": "Crash"})
            assert received == []  # nothing is announced before the commit
        assert received == [report.pk]
    finally:
        signals.report_created.disconnect(handler)
    assert not Activity.objects.filter(report=report).exists()  # a creation is not a change


def test_unknown_fields_are_refused_before_anything_is_saved(app):
    with pytest.raises(ValueError, match="Unknown report fields"):
        services.report_create(app=app, fields={"title": "x", "number": 7})
    assert not BugReport.objects.exists()


def test_update_records_one_activity_per_real_change(owner, app):
    report = ReportFactory(app=app)
    activities = services.report_update(
        report=report, actor=owner.user, status="in_progress", priority="blocker", assignee=owner.user
    )
    assert [(a.kind, a.from_value, a.to_value) for a in activities] == [
        ("status", "New", "In progress"),
        ("priority", "NA", "Blocker"),
        ("assignee", "Unassigned", owner.user.display_name),
    ]
    report.refresh_from_db()
    assert (report.status, report.priority, report.priority_rank, report.assignee) == (
        "in_progress",
        "blocker",
        4,
        owner.user,
    )
    # The same values again change nothing.
    assert services.report_update(report=report, actor=owner.user, status="in_progress") == []


def test_an_update_writes_only_what_it_changed(owner, app):
    """Two people (or a person and Jira sync) change different fields of the same report from
    copies read before either wrote: both changes stay, and so does a title edited meanwhile."""
    report = ReportFactory(app=app, status="new", priority="na", title="Crash on launch")
    mine, theirs = BugReport.objects.get(pk=report.pk), BugReport.objects.get(pk=report.pk)
    BugReport.objects.filter(pk=report.pk).update(title="Crash on launch (iOS 18)")
    before = BugReport.objects.get(pk=report.pk).updated_at
    services.report_update(report=mine, actor=owner.user, status="in_progress")
    services.report_update(report=theirs, actor=None, priority="blocker", origin="jira")
    report.refresh_from_db()
    assert (report.status, report.priority, report.priority_rank, report.title) == (
        "in_progress",
        "blocker",
        4,
        "Crash on launch (iOS 18)",
    )
    assert report.updated_at > before


def test_only_members_can_be_assigned(app):
    report = ReportFactory(app=app)
    with pytest.raises(NotAMember):
        services.report_update(report=report, actor=None, assignee=UserFactory())
    assert BugReport.objects.get(pk=report.pk).assignee is None


def test_bad_status_is_refused(app):
    with pytest.raises(ValueError):
        services.report_update(report=ReportFactory(app=app), actor=None, status="wontfix")


def test_comments_can_be_created_edited_and_deleted(owner, app):
    report = ReportFactory(app=app)
    comment = services.comment_create(report=report, body="  First look  ", author=owner.user)
    assert comment.body == "First look" and comment.origin == "dashboard"
    services.comment_update(comment=comment, body="Second look")
    assert Comment.objects.get(pk=comment.pk).body == "Second look"
    services.comment_delete(comment=comment)
    assert not Comment.objects.exists()


def _png() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(out, format="PNG")
    return out.getvalue()


def test_attachments_are_all_saved_or_none(app, settings):
    report = ReportFactory(app=app)
    good = SimpleUploadedFile("shot.png", _png(), content_type="image/png")
    fake = SimpleUploadedFile("fake.png", b"not an image", content_type="image/png")
    with pytest.raises(AttachmentRejected) as caught:
        services.attachments_add(report=report, files=[good, fake])
    assert caught.value.status == 415
    assert not Attachment.objects.exists()


def test_attachment_files_are_removed_when_saving_rows_fails(app, tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path)
    report = ReportFactory(app=app)
    files = [SimpleUploadedFile(f"{i}.txt", b"line\n", content_type="text/plain") for i in range(2)]
    with (
        mock.patch.object(Attachment, "save", side_effect=[None, RuntimeError("disk full")]),
        pytest.raises(RuntimeError),
    ):
        services.attachments_add(report=report, files=files)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_attachment_kind_and_size_come_from_the_checked_file(app):
    report = ReportFactory(app=app)
    (attachment,) = services.attachments_add(
        report=report, files=[SimpleUploadedFile("s.png", _png(), content_type="image/png")]
    )
    assert (attachment.kind, attachment.content_type, attachment.original_name) == (
        "screenshot",
        "image/png",
        "s.png",
    )
    assert attachment.size == len(_png()) and attachment.file.name.endswith(".png")
    assert "s.png" not in attachment.file.name  # stored under a random name


def test_oversized_attachment_is_a_413(app, settings):
    settings.ATTACHMENT_MAX_BYTES = 10
    with pytest.raises(AttachmentRejected) as caught:
        services.attachments_add(
            report=ReportFactory(app=app),
            files=[SimpleUploadedFile("big.txt", b"x" * 11, content_type="text/plain")],
        )
    assert caught.value.status == 413 and "limit" in str(caught.value)


def test_purge_task_forgets_only_expired_idempotency_keys(app):
    old_report, new_report = ReportFactory(app=app), ReportFactory(app=app)
    old = IdempotencyKey.objects.create(app=app, key="old", request_hash="h", report=old_report)
    IdempotencyKey.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=25))
    IdempotencyKey.objects.create(app=app, key="new", request_hash="h", report=new_report)
    assert tasks.purge_expired_idempotency_keys.delay().get() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]


def test_assignee_of_another_organization_is_refused_even_if_member_elsewhere(app):
    stranger = MembershipFactory().user
    with pytest.raises(NotAMember):
        services.report_update(report=ReportFactory(app=app), actor=None, assignee=stranger)
