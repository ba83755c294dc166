"""Every REST route the sandbox serves exists, with that method, in Atlassian's official spec.

The answers themselves are checked on every call by the JiraCaller (conftest.py); this file
checks the other direction: the sandbox invents no paths or methods Jira Cloud does not have.
"""

from __future__ import annotations

import json
import re
from functools import cache

import pytest
from django.urls import URLPattern

from integrations.jira_sandbox.urls import rest_api_3

from .spec import spec_path

pytestmark = pytest.mark.usefixtures("spec")


@cache
def _spec_operations() -> dict[str, set[str]]:
    with spec_path().open() as handle:
        paths = json.load(handle)["paths"]
    return {re.sub(r"\{[^}]+\}", "{}", p): {m.upper() for m in ops} for p, ops in paths.items()}


def _routes() -> list[tuple[str, str]]:
    found = []
    for pattern in rest_api_3:
        assert isinstance(pattern, URLPattern)
        template = "/rest/api/3/" + re.sub(r"<(?:\w+:)?\w+>", "{}", str(pattern.pattern))
        for method in getattr(pattern.callback, "routes", {}):
            found.append((method, template))
    return found


def test_the_sandbox_serves_many_routes() -> None:
    assert len(_routes()) >= 10


@pytest.mark.parametrize(("method", "template"), _routes())
def test_route_exists_in_the_official_spec(method: str, template: str) -> None:
    operations = _spec_operations()
    assert template in operations, f"{template} is not a path of Jira Cloud's REST API v3"
    assert method in operations[template], f"Jira Cloud has no {method} {template}"
