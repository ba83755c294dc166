"""Checks the requests the product's Jira client sends against Atlassian's official OpenAPI spec.

Written for the client's tests, independent of the sandbox's (which checks answers): the two share
no code, so a misreading of the spec in one cannot hide in the other.

- The spec is loaded once per process (about 0.4 s) without its own validation: the published
  file is not strictly valid (an enum whose default is '').
- Its only server is `https://your-domain.atlassian.net`, so a request sent to a gateway base
  (`…/ex/jira/{cloudId}`) or any site is re-rooted there: everything before `/rest/api/3/` goes.
- Not in the spec, so not checked: admin webhooks (`/rest/webhooks/1.0/`) and Atlassian's
  `oauth/token/accessible-resources`.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests
from django.conf import settings

SPEC_SERVER = "https://your-domain.atlassian.net"
API_MARKER = "/rest/api/3/"
# Paths the client calls that Atlassian's platform spec does not describe.
NOT_IN_SPEC = ("/rest/webhooks/1.0/", "/oauth/token/accessible-resources")


# A multipart part's name, from its Content-Disposition header.
_PART_NAME = re.compile(rb'Content-Disposition: form-data; name="([^"]*)"', re.IGNORECASE)


class RequestMismatch(AssertionError):
    """The request is not one the spec allows."""


def spec_file() -> Path:
    return Path(settings.JIRA_OPENAPI_SPEC)


def spec_skip_reason() -> str | None:
    """Why spec checks cannot run here (None when they can)."""
    if spec_file().is_file():
        return None
    return f"Atlassian's OpenAPI spec is not at {spec_file()} (set JIRA_OPENAPI_SPEC to its path)"


@cache
def _raw_spec() -> dict[str, Any]:
    with spec_file().open(encoding="utf-8") as handle:
        return json.load(handle)


@cache
def _openapi() -> Any:
    from openapi_core import Config, OpenAPI

    return OpenAPI.from_dict(_raw_spec(), config=Config(spec_validator_cls=None))


def _declared_query(method: str, path: str) -> set[str]:
    """Query parameter names the operation declares. openapi-core ignores undeclared ones, but a
    misspelt parameter (`orderby`) is silently dropped by Jira, so it is a mismatch here."""
    matches = []
    for template, item in _raw_spec()["paths"].items():
        pattern = re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, path) and method.lower() in item:
            # A literal segment beats a parameter (`/issue/bulk` over `/issue/{issueIdOrKey}`).
            matches.append((template.count("{"), item))
    if not matches:
        return set()
    item = min(matches, key=lambda match: match[0])[1]
    parameters = [*item.get("parameters", []), *item[method.lower()].get("parameters", [])]
    return {parameter.get("name") for parameter in parameters if parameter.get("in") == "query"}


def in_spec(url: str) -> bool:
    return API_MARKER in url and not any(marker in url for marker in NOT_IN_SPEC)


def rerooted(url: str) -> str:
    """The same request as if sent to the spec's server."""
    marker = url.find(API_MARKER)
    if marker < 0:
        raise RequestMismatch(f"{url} is not under {API_MARKER}")
    return SPEC_SERVER + url[marker:]


def validate_request(sent: requests.PreparedRequest) -> None:
    """Raise RequestMismatch unless method, path, query and body match the spec."""
    from openapi_core.contrib.requests import RequestsOpenAPIRequest

    if not sent.url or not in_spec(sent.url):
        raise RequestMismatch(f"{sent.method} {sent.url} is not described by the platform spec")
    copy = sent.copy()
    copy.url = rerooted(sent.url)
    multipart = (sent.headers.get("Content-Type") or "").startswith("multipart/form-data")
    try:
        if multipart:
            _validate_multipart(RequestsOpenAPIRequest(copy), sent)
        else:
            _openapi().validate_request(RequestsOpenAPIRequest(copy))
        parts = urlsplit(copy.url)
        undeclared = {name for name, _ in parse_qsl(parts.query)} - _declared_query(
            copy.method or "", parts.path
        )
        if undeclared:
            raise RequestMismatch(f"query parameters not in the spec: {sorted(undeclared)}")
    except Exception as exc:  # openapi-core raises a family of errors: every one is a mismatch
        cause = exc.__cause__ or exc
        details = getattr(cause, "schema_errors", None) or []
        reasons = "; ".join(str(getattr(error, "message", error)) for error in details)
        raise RequestMismatch(f"{sent.method} {copy.url}: {cause} {reasons}".strip()) from exc


def _validate_multipart(request: Any, sent: requests.PreparedRequest) -> None:
    """Attachments: the spec describes the form as an array of files, which no multipart decoder
    yields, so check the method, path, query and headers it declares, and the body as the spec's
    prose asks (API-NOTES §8): at least one part, every part named `file`."""
    from openapi_core.validation.request.validators import V30RequestParametersValidator

    V30RequestParametersValidator(_openapi().spec).validate(request)
    body = sent.body if isinstance(sent.body, bytes) else str(sent.body or "").encode()
    names = _PART_NAME.findall(body)
    if not names or any(name != b"file" for name in names):
        raise RequestMismatch(f"multipart parts must all be named 'file', got {names!r}")
