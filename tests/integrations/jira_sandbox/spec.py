"""Atlassian's official OpenAPI description, loaded once, to check every sandbox answer against.

The spec's only server is `https://your-domain.atlassian.net`, so a call made to the sandbox's site
or gateway URL is re-rooted there (everything before `/rest/api/3/` replaced) before validation.
The published file is not strictly valid (an enum whose default is ''), hence no spec validator.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from django.conf import settings

SPEC_SERVER = "https://your-domain.atlassian.net"


def spec_path() -> Path:
    return Path(settings.JIRA_OPENAPI_SPEC)


def spec_missing_reason() -> str | None:
    path = spec_path()
    if not path.is_file():
        return (
            f"Atlassian's OpenAPI spec is not at {path}; set JIRA_OPENAPI_SPEC to the path of "
            "jira-platform-openapi-v3.json to check the sandbox's answers against it."
        )
    return None


@cache
def openapi() -> Any:
    from openapi_core import Config, OpenAPI

    with spec_path().open() as handle:
        return OpenAPI.from_dict(json.load(handle), config=Config(spec_validator_cls=None))


class SpecMismatch(AssertionError):
    pass


def validate(method: str, url: str, status: int, body: bytes, content_type: str) -> bool:
    """Check one answer against the spec. Returns False when the spec does not describe the status
    (429, 5xx, 410: shapes API-NOTES documents from real traffic); raises SpecMismatch otherwise."""
    from openapi_core.templating.responses.exceptions import ResponseNotFound
    from openapi_core.testing import MockRequest, MockResponse
    from openapi_core.validation.response.exceptions import MissingData
    from werkzeug.datastructures import MultiDict  # openapi-core's own dependency

    parts = urlsplit(url)
    path = parts.path
    marker = path.find("/rest/api/3/")
    if marker < 0:
        raise SpecMismatch(f"{url} is not a /rest/api/3/ path")
    path = path[marker:]
    # openapi-core wants the query as a mapping (a raw string breaks werkzeug's MultiDict).
    query = MultiDict(parse_qsl(parts.query, keep_blank_values=True))
    request = MockRequest(SPEC_SERVER, method.lower(), path, args=query or None)
    response = MockResponse(
        body, status_code=status, content_type=content_type.split(";")[0] or "application/json"
    )
    try:
        openapi().validate_response(request, response)
    except ResponseNotFound:
        return False
    except MissingData:
        # The spec gives some 204s an `application/json` content with an empty schema; Jira sends
        # no body there (as HTTP requires), which openapi-core reports as missing data.
        if status == 204 and not body:
            return True
        raise SpecMismatch(f"{method} {path} → {status}: missing response data") from None
    except Exception as exc:  # openapi-core raises a family of errors; all of them are a mismatch
        detail = getattr(exc, "__cause__", None) or exc
        raise SpecMismatch(f"{method} {path} → {status}: {detail}\nbody: {body[:800]!r}") from exc
    return True
