"""The realism knobs the pipeline applies to every REST call: burst limit, latency, injected
failures, answers dropped after the work was committed, and the request log."""

from __future__ import annotations

import time

import pytest

from integrations.jira_sandbox.knobs import KnobError, Knobs, knobs_update
from integrations.jira_sandbox.models import Issue, RequestLog, Site

from .conftest import JiraCaller

pytestmark = pytest.mark.django_db


def _acme() -> Site:
    return Site.objects.get(name="acme")


def test_burst_limit_answers_429_with_jiras_headers(site_api: JiraCaller) -> None:
    knobs_update(site=_acme(), changes={"rate_limit": True, "burst": 2, "rate_get": 0.01})
    assert site_api.get("/myself").status_code == 200
    second = site_api.get("/myself")
    assert second.status_code == 200
    assert second["X-RateLimit-Limit"] == "2"
    limited = site_api.get("/myself")
    assert limited.status_code == 429
    assert int(limited["Retry-After"]) >= 1
    assert limited["RateLimit-Reason"] == "jira-burst-based"
    assert limited["X-RateLimit-Reset"].endswith("Z")
    assert limited["X-RateLimit-Remaining"] == "0"
    # Buckets are per endpoint and method: another endpoint still has its tokens.
    assert site_api.get("/field").status_code == 200


def test_burst_limit_refills_at_its_rate(site_api: JiraCaller) -> None:
    knobs_update(site=_acme(), changes={"rate_limit": True, "burst": 1, "rate_get": 20})
    assert site_api.get("/myself").status_code == 200
    assert site_api.get("/myself").status_code == 429
    time.sleep(0.12)  # 20 tokens a second: one is back after 50 ms
    assert site_api.get("/myself").status_code == 200


def test_rate_limit_off_by_default(site_api: JiraCaller) -> None:
    assert not Knobs.of(_acme()).rate_limit
    for _ in range(5):
        response = site_api.get("/myself")
        assert response.status_code == 200
        assert "X-RateLimit-Limit" not in response


def test_latency_is_added_before_the_answer(site_api: JiraCaller) -> None:
    knobs_update(site=_acme(), changes={"latency_ms": 150})
    started = time.monotonic()
    assert site_api.get("/myself").status_code == 200
    assert time.monotonic() - started >= 0.15


def test_injected_failures_are_500_or_503_and_do_no_work(site_api: JiraCaller) -> None:
    knobs_update(site=_acme(), changes={"error_rate": 1.0, "seed": 7})
    statuses = set()
    before = Issue.objects.count()
    for _ in range(12):
        response = site_api.post(
            "/issue",
            json={
                "fields": {
                    "project": {"key": "WEB"},
                    "issuetype": {"id": "10004"},
                    "summary": "Never created",
                }
            },
        )
        statuses.add(response.status_code)
        if response.status_code == 503:
            assert response["Retry-After"] == "1"
    assert statuses == {500, 503}
    assert Issue.objects.count() == before


def test_drop_after_commit_does_the_work_and_answers_502(site_api: JiraCaller) -> None:
    knobs_update(site=_acme(), changes={"drop_rate": 1.0})
    response = site_api.post(
        "/issue",
        json={
            "fields": {
                "project": {"key": "WEB"},
                "issuetype": {"id": "10004"},
                "summary": "Created, answer lost",
            }
        },
    )
    assert response.status_code == 502
    assert Issue.objects.filter(summary="Created, answer lost").count() == 1
    log = RequestLog.objects.filter(method="POST").first()
    assert log is not None and log.status == 502 and "dropped after commit" in log.note
    # Reads are never dropped: the caller can always look the outcome up.
    assert site_api.get("/myself").status_code == 200


def test_drop_as_a_timeout_holds_the_connection_then_504(site_api: JiraCaller) -> None:
    knobs_update(site=_acme(), changes={"drop_rate": 1.0, "drop_mode": "timeout", "drop_timeout_s": 0.2})
    started = time.monotonic()
    response = site_api.post(
        "/issue",
        json={"fields": {"project": {"key": "WEB"}, "issuetype": {"id": "10004"}, "summary": "Timed out"}},
    )
    assert response.status_code == 504
    assert time.monotonic() - started >= 0.2
    assert Issue.objects.filter(summary="Timed out").exists()


def test_request_log_records_calls_without_credentials(site_api: JiraCaller) -> None:
    site_api.get("/myself")
    entry = RequestLog.objects.first()
    assert entry is not None
    assert (entry.method, entry.status, entry.auth) == ("GET", 200, "basic")
    assert entry.path.endswith("/rest/api/3/myself")
    token = site_api.authorization or ""
    assert token.split(" ", 1)[1] not in f"{entry.path}{entry.note}"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"nope": 1}, "Unknown knob 'nope'"),
        ({"rate_limit": "yes"}, "takes true or false"),
        ({"latency_ms": "slow"}, "takes a int"),
        ({"error_rate": 1.5}, "share between 0 and 1"),
        ({"drop_mode": "explode"}, "'502' or 'timeout'"),
    ],
)
def test_bad_knob_changes_are_refused_and_change_nothing(sandbox, changes, message) -> None:  # type: ignore[no-untyped-def]
    site = _acme()
    before = Knobs.of(site)
    with pytest.raises(KnobError, match=message):
        knobs_update(site=site, changes={"latency_ms": 5, **changes})
    site.refresh_from_db()
    assert Knobs.of(site) == before
