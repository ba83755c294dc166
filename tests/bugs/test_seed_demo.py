from io import StringIO

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.test import Client

from accounts.models import Organization, User
from bugs.management.commands.seed_demo import ADMIN_EMAIL, ADMIN_PASSWORD, demo_sdk_token
from bugs.models import App, Attachment, BugReport, Comment
from bugs.selectors import app_by_sdk_token

pytestmark = pytest.mark.django_db


def _seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", "--allow-without-debug", *args, stdout=out)
    return out.getvalue()


def test_seed_creates_a_realistic_demo_and_prints_a_working_login():
    output = _seed()
    assert f"{ADMIN_EMAIL} / {ADMIN_PASSWORD}" in output
    organization = Organization.objects.get(slug="demo")
    assert App.objects.filter(organization=organization).count() == 2
    reports = BugReport.objects.filter(app__organization=organization)
    assert reports.count() == 200
    # Spread over statuses, priorities, devices, OS and app versions, with comments and an image.
    assert set(reports.values_list("status", flat=True)) == {"new", "in_progress", "closed"}
    assert len(set(reports.values_list("priority", flat=True))) == 5
    assert reports.values("device_model").distinct().count() >= 5
    assert set(reports.values_list("os_name", flat=True)) == {"iOS", "Android"}
    assert reports.values("app_version").distinct().count() >= 3
    assert Comment.objects.filter(report__in=reports).exists()
    assert Attachment.objects.filter(report__in=reports, content_type="image/png").exists()
    client = Client()
    assert client.login(email=ADMIN_EMAIL, password=ADMIN_PASSWORD)
    for app in App.objects.all():
        assert demo_sdk_token(app.name) in output
        assert app_by_sdk_token(token=demo_sdk_token(app.name)) == app
    # The sandbox Jira is on in tests: its site and credentials come with the demo.
    assert apps.get_model("jira_sandbox", "Site").objects.filter(name="acme").exists()
    assert "Sandbox Jira:" in output


def test_seed_says_nothing_about_the_sandbox_when_it_is_off(settings):
    settings.JIRA_SANDBOX = False
    output = _seed("--reports", "5")
    assert "sandbox" not in output.lower()
    assert not apps.get_model("jira_sandbox", "Site").objects.exists()


def test_seeding_twice_adds_nothing():
    _seed("--reports", "20")
    counts = (User.objects.count(), BugReport.objects.count(), Comment.objects.count())
    output = _seed("--reports", "20")
    assert "already exists" in output
    assert (User.objects.count(), BugReport.objects.count(), Comment.objects.count()) == counts


def test_report_numbers_follow_time_in_the_demo():
    _seed("--reports", "30")
    for app in App.objects.all():
        numbers = list(
            BugReport.objects.filter(app=app).order_by("created_at").values_list("number", flat=True)
        )
        assert numbers == list(range(1, len(numbers) + 1))


def test_seed_refuses_to_run_in_production_by_accident(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG=true"):
        call_command("seed_demo", stdout=StringIO())
