"""Atlassian Connect's query string hash (qsh): SHA-256 of `METHOD&path&canonical-query`.

The sandbox's own implementation, written from API-NOTES §1e; the product has its own (the two
share no code, so a bug in one cannot hide in both).
"""

from __future__ import annotations

import hashlib
from urllib.parse import quote


def _encode(value: str) -> str:
    # RFC 3986, OAuth-1 style: space is %20, `*` is %2A, `~` stays.
    return quote(value, safe="~")


def canonical_request(method: str, path: str, query: list[tuple[str, str]]) -> str:
    path = path or "/"
    if len(path) > 1:
        path = path.rstrip("/") or "/"
    path = path.replace("&", "%26")
    grouped: dict[str, list[str]] = {}
    for name, value in query:
        if name == "jwt":
            continue
        grouped.setdefault(_encode(name), []).append(_encode(value))
    canonical_query = "&".join(
        f"{name}={','.join(sorted(values))}" for name, values in sorted(grouped.items())
    )
    return f"{method.upper()}&{path}&{canonical_query}"


def qsh(method: str, path: str, query: list[tuple[str, str]]) -> str:
    return hashlib.sha256(canonical_request(method, path, query).encode()).hexdigest()
