"""Fixtures for the sandbox Jira: a seeded world and clients that speak as each kind of caller.

`JiraCaller` checks every /rest/api/3/ answer against Atlassian's spec when the spec file is
there (see spec.py); the spec-conformance tests themselves skip, saying why, when it is not.
"""

from __future__ import annotations

import base64
import json as jsonlib
from typing import Any

import pytest
from django.test import Client

from integrations.jira_sandbox.seed import SeedResult, sandbox_seed

from .spec import spec_missing_reason, validate

PREFIX = "/sandbox/jira"


@pytest.fixture(autouse=True)
def _fresh_buckets() -> None:
    """Burst-limit buckets live in the cache; ids repeat across tests, so start each one empty."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def sandbox(db: Any) -> SeedResult:
    return sandbox_seed()


@pytest.fixture
def spec() -> None:
    reason = spec_missing_reason()
    if reason:
        pytest.skip(reason)


class JiraCaller:
    """Calls a sandbox REST base (site or gateway) with one credential, validating answers."""

    def __init__(self, base: str, authorization: str | None = None, *, check_spec: bool = True) -> None:
        self.base = base
        self.client = Client()
        self.authorization = authorization
        self.check_spec = check_spec and spec_missing_reason() is None
        self.validated = 0

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        data: Any = None,
        content_type: str | None = None,
    ) -> Any:
        all_headers = dict(headers or {})
        if self.authorization and "Authorization" not in all_headers:
            all_headers["Authorization"] = self.authorization
        kwargs: dict[str, Any] = {"headers": all_headers}
        url = self.base + path
        if params:
            from urllib.parse import urlencode

            url += ("&" if "?" in url else "?") + urlencode(params, doseq=True)
        if json is not None:
            kwargs["data"] = jsonlib.dumps(json)
            kwargs["content_type"] = "application/json"
        elif data is not None:
            kwargs["data"] = data
            if content_type:
                kwargs["content_type"] = content_type
        response = getattr(self.client, method.lower())(url, **kwargs)
        content_type_header = response.get("Content-Type", "")
        if (
            self.check_spec
            and "/rest/api/3/" in url
            and validate(method, url, response.status_code, response.content, content_type_header)
        ):
            self.validated += 1
        return response

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Any:
        return self.request("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> Any:
        return self.request("PUT", path, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.request("DELETE", path, **kw)


def basic(email: str, token: str) -> str:
    return "Basic " + base64.b64encode(f"{email}:{token}".encode()).decode()


@pytest.fixture
def site_api(sandbox: SeedResult) -> JiraCaller:
    """Alice on the acme site URL with her classic API token (Basic auth)."""
    c = sandbox.credentials
    return JiraCaller(f"{PREFIX}/site/acme/rest/api/3", basic(c["user_email"], c["api_token"]))


@pytest.fixture
def gateway_api(sandbox: SeedResult) -> JiraCaller:
    """The service account through the gateway with its scoped API token."""
    from integrations.jira_sandbox.models import Site

    c = sandbox.credentials
    cloud_id = Site.objects.get(name="acme").cloud_id
    return JiraCaller(
        f"{PREFIX}/api/ex/jira/{cloud_id}/rest/api/3",
        basic(c["service_account_email"], c["scoped_api_token"]),
    )
