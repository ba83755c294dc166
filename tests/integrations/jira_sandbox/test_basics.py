"""The sandbox's mount, its site identity, and the credential rules of sites and the gateway."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.jira_sandbox.models import ApiToken, Site

from .conftest import PREFIX, JiraCaller, basic

pytestmark = pytest.mark.django_db


def test_myself_on_the_site_with_a_classic_token(site_api: JiraCaller) -> None:
    response = site_api.get("/myself")
    assert response.status_code == 200
    body = response.json()
    assert body["emailAddress"] == "alice@acme.example"
    assert response["X-AAccountId"] == body["accountId"]


def test_tenant_info_needs_no_credentials(sandbox, client) -> None:  # type: ignore[no-untyped-def]
    response = client.get(f"{PREFIX}/site/acme/_edge/tenant_info")
    assert response.json() == {"cloudId": Site.objects.get(name="acme").cloud_id}
    assert client.get(f"{PREFIX}/site/nowhere/_edge/tenant_info").status_code == 404


def test_wrong_and_expired_tokens_get_jiras_401_body(sandbox) -> None:  # type: ignore[no-untyped-def]
    c = sandbox.credentials
    wrong = JiraCaller(f"{PREFIX}/site/acme/rest/api/3", basic(c["user_email"], "not-the-token"))
    response = wrong.get("/myself")
    assert response.status_code == 401
    assert response.json() == {
        "message": "Client must be authenticated to access this resource.",
        "status-code": 401,
    }
    ApiToken.objects.filter(scoped=False).update(expires_at=timezone.now() - timedelta(seconds=1))
    expired = JiraCaller(f"{PREFIX}/site/acme/rest/api/3", basic(c["user_email"], c["api_token"]))
    assert expired.get("/myself").status_code == 401


def test_scoped_token_works_on_the_gateway_only(sandbox, gateway_api: JiraCaller) -> None:  # type: ignore[no-untyped-def]
    assert gateway_api.get("/myself").status_code == 200
    c = sandbox.credentials
    on_site = JiraCaller(
        f"{PREFIX}/site/acme/rest/api/3", basic(c["service_account_email"], c["scoped_api_token"])
    )
    assert on_site.get("/myself").status_code == 401


def test_classic_token_is_refused_by_the_gateway(sandbox) -> None:  # type: ignore[no-untyped-def]
    c = sandbox.credentials
    cloud_id = Site.objects.get(name="acme").cloud_id
    caller = JiraCaller(f"{PREFIX}/api/ex/jira/{cloud_id}/rest/api/3", basic(c["user_email"], c["api_token"]))
    response = caller.get("/myself")
    assert response.status_code == 401
    assert response.json() == {"code": 401, "message": "Unauthorized"}


def test_scope_missing_is_the_gateways_401(sandbox, gateway_api: JiraCaller) -> None:  # type: ignore[no-untyped-def]
    ApiToken.objects.filter(scoped=True).update(scopes=["read:jira-work"])
    response = gateway_api.get("/myself")
    assert response.status_code == 401
    assert response.json() == {"code": 401, "message": "Unauthorized; scope does not match"}
