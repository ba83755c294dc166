from datetime import timedelta

import pytest
from django.utils import timezone

from bugs.presenters import Options, _ago, list_rows
from tests.factories import ReportFactory

pytestmark = pytest.mark.django_db


def test_rows_escape_everything_the_sdk_sent(app):
    report = ReportFactory(
        app=app,
        title="<script>alert(1)</script>",
        tags=['"><img src=x onerror=alert(1)>'],
        device_model="<b>Pixel</b>",
        reporter_name="<i>Eve</i>",
    )
    (row,) = list_rows([report], members=[], querystring="q=%3C", csrf_token="tok", all_apps=False)
    assert "<script>" not in row and "&lt;script&gt;" in row
    assert "<img" not in row and "<b>" not in row and "<i>" not in row
    assert 'value="tok"' in row and "?q=%3C" in row


def test_rows_mark_the_current_values_and_the_app_column_only_across_apps(owner, app):
    report = ReportFactory(app=app, priority="major")
    (row,) = list_rows([report], members=[owner.user], querystring="", csrf_token="t", all_apps=True)
    assert '<option value="major" selected>' in row and '<option value="new" selected>' in row
    assert '<option value="" selected>Unassigned</option>' in row
    assert f"<td>{app.name}</td>" in row and 'name="scope" value="all"' in row
    (per_app,) = list_rows([report], members=[], querystring="", csrf_token="t", all_apps=False)
    assert f"<td>{app.name}</td>" not in per_app and "scope" not in per_app


def test_options_escape_labels():
    assert Options([("a", "<x>")]).render("a") == '<option value="a" selected>&lt;x&gt;</option>'


def test_relative_times():
    now = timezone.now()
    assert _ago(now, now) == "just now"
    assert _ago(now - timedelta(minutes=1), now) == "1 minute ago"
    assert _ago(now - timedelta(hours=5), now) == "5 hours ago"
    assert _ago(now - timedelta(days=2), now) == "2 days ago"
    old = now - timedelta(days=40)
    assert _ago(old, now) == f"{old:%-d %b %Y}"


def test_grouped_options_escape_and_group():
    from bugs.presenters import grouped_options

    html = grouped_options([("", "Choose…"), ("Status <x>", [("status:new", "New")])])
    assert html == (
        '<option value="" selected>Choose…</option>'
        '<optgroup label="Status &lt;x&gt;"><option value="status:new">New</option></optgroup>'
    )
