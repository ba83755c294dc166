"""Atlassian Connect on the wire (API-NOTES §1e): the query-string hash, signing our calls to Jira,
verifying Jira's calls to us (HS256 with the tenant's shared secret, RS256 for signed install), the
app descriptor and the `installed` payload. Pure functions: no models, no settings, no network; the
caller injects the secret lookup and the install-key fetch.

Written from the notes alone. The sandbox Jira has its own qsh code and must stay separate from this
one (a bug shared by both sides would pass every test); the tests compare the two.

Paths. Every `path` taken here is relative to a base URL, as Connect defines it: for our calls to
Jira, relative to the tenant's `baseUrl` (which drops a context path such as Confluence's `/wiki`);
for Jira's calls to us, relative to our descriptor's `baseUrl`. `relative_path()` strips a base
URL's path on a segment boundary. Paths are the wire (percent-encoded) form: Jira hashes the URL it
sends. Django's `request.path` is decoded, which is the same thing for our own ASCII-only routes.

Query. Names and values are the *decoded* ones (what `parse_qsl` or Django's `request.GET` hold);
they are percent-encoded here as the notes say. `request.GET` may be passed as is.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import jwt
import requests
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

__all__ = [
    "API_MIGRATIONS",
    "CONTEXT_QSH",
    "INSTALL_KEYS_URL",
    "SCOPES",
    "ConnectJwtAuth",
    "ConnectJwtError",
    "InstallPayload",
    "InstallPayloadError",
    "canonical_request",
    "descriptor",
    "extract_jwt",
    "is_valid_kid",
    "parse_install_payload",
    "query_string_hash",
    "relative_path",
    "sign_request",
    "verify_context_jwt",
    "verify_install_jwt",
]

QueryInput = Mapping[str, str | list[str]] | Iterable[tuple[str, str]]

# Where Atlassian publishes the RS256 keys for signed install (the caller appends `/<kid>`).
INSTALL_KEYS_URL = "https://connect-install-keys.atlassian.com"
# The fixed qsh of context JWTs (iframe page loads); they do not hash a request.
CONTEXT_QSH = "context-qsh"
SCOPES = frozenset(
    {"READ", "WRITE", "DELETE", "PROJECT_ADMIN", "ADMIN", "ACT_AS_USER", "ACCESS_EMAIL_ADDRESSES"}
)
API_MIGRATIONS = {"signed-install": True, "context-qsh": True, "gdpr": True}
LIFECYCLE_EVENTS = ("installed", "uninstalled", "enabled", "disabled")
DEFAULT_TTL_S = 180  # jira.js's default lifetime for an outbound token
DEFAULT_LEEWAY_S = 30  # clock skew between Jira and us

# A kid goes into a URL path: letters, digits, `-` and `_` only, so it cannot climb (`..`), add a
# segment (`/`), or carry a query or fragment.
_KID_RE = re.compile(r"[A-Za-z0-9_-]{1,128}")
# Module keys in a descriptor: Connect allows letters, digits and dashes.
_MODULE_KEY_RE = re.compile(r"[a-z0-9-]+")
# Far above any real clientKey; bounds what reaches the secret lookup (a database query).
_MAX_ISS_LEN = 256


class ConnectJwtError(ValueError):
    """A Connect JWT we must refuse. `reason` is a short code for logs and tests; the message never
    holds the token or a secret."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        super().__init__(f"{reason}: {detail}" if detail else reason)


class InstallPayloadError(ValueError):
    """A lifecycle body we cannot use; `field` names the offending key (never its value)."""

    def __init__(self, field_name: str, detail: str) -> None:
        self.field = field_name
        super().__init__(f"{field_name}: {detail}")


# ---------------------------------------------------------------------------------------------
# Canonical request and qsh


def _encode(value: str) -> str:
    # RFC 3986 with only the unreserved set literal: space → %20 (not +), * → %2A, ~ stays.
    # quote() keeps A-Z a-z 0-9 - . _ ~ and encodes UTF-8 bytes with upper-case hex.
    return quote(value, safe="")


def _query_items(query: QueryInput) -> list[tuple[str, str]]:
    # Django's QueryDict is a Mapping whose items() keep only the last value of a repeated name;
    # lists() has them all, and a repeated name changes the hash.
    lists = getattr(query, "lists", None)
    if callable(lists):
        return [(name, value) for name, values in lists() for value in values]
    if isinstance(query, Mapping):
        items: list[tuple[str, str]] = []
        for name, value in query.items():
            values = [value] if isinstance(value, str) else list(value)
            items.extend((name, v) for v in values)
        return items
    return [(name, value) for name, value in query]


def _canonical_path(path: str) -> str:
    # Only one trailing slash goes, as the notes say; a blank path is the root.
    if path.endswith("/"):
        path = path[:-1]
    if not path.strip():
        path = "/"
    if not path.startswith("/"):
        path = "/" + path
    # `&` separates the three parts, so one inside the path must not look like a separator.
    return path.replace("&", "%26")


def _canonical_query(query: QueryInput) -> str:
    grouped: dict[str, list[str]] = {}
    for name, value in _query_items(query):
        if name == "jwt":  # the token cannot hash itself
            continue
        grouped.setdefault(_encode(name), []).append(_encode(value))
    # Encoded strings are ASCII, so sorted() is the code-point order the notes ask for.
    return "&".join(f"{name}={','.join(sorted(values))}" for name, values in sorted(grouped.items()))


def canonical_request(method: str, path: str, query: QueryInput) -> str:
    """`METHOD&path&query` as Connect canonicalises it (API-NOTES §1e). `path` is relative to the
    base URL (see the module docstring); `query` holds decoded names and values."""
    return f"{method.upper()}&{_canonical_path(path)}&{_canonical_query(query)}"


def query_string_hash(method: str, path: str, query: QueryInput) -> str:
    """The `qsh` claim: lower-case hex SHA-256 of the canonical request. The body is not hashed."""
    return hashlib.sha256(canonical_request(method, path, query).encode("utf-8")).hexdigest()


def relative_path(path: str, base_url: str) -> str:
    """`path` with `base_url`'s path (a context path, or our app's mount point) removed.

    Raises ValueError if `path` is not under it: a request outside the base URL is not one Jira
    signed for this app (inbound), or not a call to this tenant (outbound)."""
    base_path = urlsplit(base_url).path.rstrip("/")
    if not base_path:
        return path or "/"
    if path == base_path:
        return "/"
    if not path.startswith(base_path + "/"):
        raise ValueError("path is not under the base URL")  # segment boundary: /jira ≠ /jira2
    return path[len(base_path) :]


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    # hostname is lower-cased; the port is kept as written (default-port spellings are not equated).
    return parts.scheme.lower(), (parts.netloc.rsplit("@", 1)[-1]).lower()


# ---------------------------------------------------------------------------------------------
# Outbound: app → Jira


def sign_request(
    *,
    method: str,
    url: str,
    base_url: str,
    app_key: str,
    shared_secret: str,
    now: int | None = None,
    ttl_s: int = DEFAULT_TTL_S,
) -> str:
    """The `Authorization` value (`JWT <token>`) for one call to a tenant.

    HS256 with the tenant's shared secret; claims `iss` (our app key), `iat`, `exp`, `qsh`. No
    `sub`: that is only for acting as a user. `url` must be on `base_url`'s origin and under its
    path, so a token minted with a tenant's secret is never handed to another host."""
    if not shared_secret:
        raise ValueError("no shared secret for this tenant")
    if _origin(url) != _origin(base_url):
        raise ValueError("refusing to sign a URL outside the tenant's base URL")
    parts = urlsplit(url)
    path = relative_path(parts.path, base_url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    issued = int(time.time()) if now is None else now
    claims = {
        "iss": app_key,
        "iat": issued,
        "exp": issued + ttl_s,
        "qsh": query_string_hash(method, path, query),
    }
    token = jwt.encode(claims, shared_secret, algorithm="HS256", headers={"typ": "JWT"})
    return f"JWT {token}"


class ConnectJwtAuth(requests.auth.AuthBase):
    """Signs each prepared request for one tenant; the qsh comes from the request's final method,
    path and query (after `params=` were merged into the URL)."""

    def __init__(self, app_key: str, shared_secret: str, base_url: str) -> None:
        self.app_key = app_key
        self.shared_secret = shared_secret
        self.base_url = base_url

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = sign_request(
            method=request.method or "GET",
            url=request.url or "",
            base_url=self.base_url,
            app_key=self.app_key,
            shared_secret=self.shared_secret,
        )
        return request

    def __repr__(self) -> str:  # keep the secret out of reprs that end up in logs
        return f"ConnectJwtAuth(app_key={self.app_key!r}, base_url={self.base_url!r})"


# ---------------------------------------------------------------------------------------------
# Inbound: Jira → app


def extract_jwt(authorization: str | None, query_jwt: str | None = None) -> str:
    """The token from `Authorization: JWT <token>` or, for iframe page loads, the `jwt` parameter."""
    if authorization:
        scheme, _, token = authorization.strip().partition(" ")
        if scheme == "JWT" and token.strip():
            return token.strip()
        raise ConnectJwtError("bad_authorization", "expected 'JWT <token>'")
    if query_jwt:
        return query_jwt
    raise ConnectJwtError("missing_token")


def _unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise ConnectJwtError("malformed", type(exc).__name__) from exc
    return header, claims


def _check_times(claims: Mapping[str, Any], now: int | None, leeway_s: int) -> None:
    # Done here rather than by PyJWT so that `now` is injectable and both verifiers agree.
    current = int(time.time()) if now is None else now
    exp, iat = claims.get("exp"), claims.get("iat")
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        raise ConnectJwtError("missing_claim", "exp")
    if not isinstance(iat, int | float) or isinstance(iat, bool):
        raise ConnectJwtError("missing_claim", "iat")
    if current > exp + leeway_s:
        raise ConnectJwtError("expired")
    if iat > current + leeway_s:
        raise ConnectJwtError("issued_in_future")
    nbf = claims.get("nbf")
    if isinstance(nbf, int | float) and nbf > current + leeway_s:
        raise ConnectJwtError("not_yet_valid")


def _check_qsh(
    claims: Mapping[str, Any], method: str, path: str, query: QueryInput, allow_context: bool
) -> None:
    qsh = claims.get("qsh")
    if not isinstance(qsh, str):
        raise ConnectJwtError("missing_claim", "qsh")
    # A context token sits in the browser; accepting it only where asked keeps it from being
    # replayed against webhook or lifecycle endpoints.
    if allow_context and qsh == CONTEXT_QSH:
        return
    if not hmac.compare_digest(qsh, query_string_hash(method, path, query)):
        raise ConnectJwtError("qsh_mismatch")


def verify_context_jwt(
    token: str,
    *,
    shared_secret_for: Callable[[str], str | None],
    method: str,
    path: str,
    query: QueryInput,
    now: int | None = None,
    leeway_s: int = DEFAULT_LEEWAY_S,
    allow_context_qsh: bool = False,
) -> dict[str, Any]:
    """Claims of an HS256 token Jira sent us (webhooks, lifecycle after install, page loads).

    The secret is looked up by `iss` (the tenant's clientKey). `path` is relative to our baseUrl.
    Pass `allow_context_qsh=True` only for page loads (configure page), where Jira sends the fixed
    `qsh = "context-qsh"`; elsewhere the qsh must hash this request. `aud` is not checked: the notes
    give none for these tokens. Raises ConnectJwtError."""
    header, unverified = _unverified(token)
    # Pinning the algorithm before any key is chosen refuses `none` and RS/HS confusion.
    if header.get("alg") != "HS256":
        raise ConnectJwtError("bad_algorithm", str(header.get("alg"))[:16])
    iss = unverified.get("iss")
    if not isinstance(iss, str) or not iss or len(iss) > _MAX_ISS_LEN:
        raise ConnectJwtError("missing_claim", "iss")
    secret = shared_secret_for(iss)
    if not secret:
        raise ConnectJwtError("unknown_issuer")
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False, "verify_aud": False},
        )
    except jwt.InvalidSignatureError as exc:
        raise ConnectJwtError("bad_signature") from exc
    except jwt.PyJWTError as exc:
        raise ConnectJwtError("malformed", type(exc).__name__) from exc
    _check_times(claims, now, leeway_s)
    _check_qsh(claims, method, path, query, allow_context_qsh)
    return claims


def is_valid_kid(kid: object) -> bool:
    """Whether `kid` is safe to append to the install-keys URL."""
    return isinstance(kid, str) and _KID_RE.fullmatch(kid) is not None


def verify_install_jwt(
    token: str,
    *,
    audience: str,
    client_key: str,
    fetch_public_key: Callable[[str], str],
    method: str,
    path: str,
    query: QueryInput,
    now: int | None = None,
    leeway_s: int = DEFAULT_LEEWAY_S,
) -> dict[str, Any]:
    """Claims of the RS256 token on an `installed`/`uninstalled` callback (signed install).

    `audience` is our descriptor's baseUrl; `client_key` is the body's clientKey, which `iss` must
    equal (the body itself is not signed, so this ties it to the token). `fetch_public_key(kid)`
    returns the PEM at `INSTALL_KEYS_URL/<kid>`; it is only called with a kid that passed
    `is_valid_kid`. Raises ConnectJwtError."""
    header, _ = _unverified(token)
    if header.get("alg") != "RS256":
        raise ConnectJwtError("bad_algorithm", str(header.get("alg"))[:16])
    kid = header.get("kid")
    if kid is None:
        raise ConnectJwtError("missing_kid")
    if not is_valid_kid(kid):
        raise ConnectJwtError("bad_kid")
    try:
        pem = fetch_public_key(kid)
    except Exception as exc:  # network, 404, anything: the caller sees one typed error
        raise ConnectJwtError("public_key_unavailable", type(exc).__name__) from exc
    try:
        public_key = load_pem_public_key(pem.encode("ascii") if isinstance(pem, str) else pem)
    except (ValueError, TypeError) as exc:
        raise ConnectJwtError("bad_public_key") from exc
    # Anything but an RSA key (an EC key, say) has no business verifying an RS256 token.
    if not isinstance(public_key, RSAPublicKey):
        raise ConnectJwtError("bad_public_key", "not RSA")
    try:
        claims = jwt.decode(
            token,
            public_key,
            algorithms=["RS256"],
            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False, "verify_aud": False},
        )
    except jwt.InvalidSignatureError as exc:
        raise ConnectJwtError("bad_signature") from exc
    except jwt.PyJWTError as exc:
        raise ConnectJwtError("malformed", type(exc).__name__) from exc
    aud = claims.get("aud")
    auds = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    # A trailing slash on either side is the same app.
    if audience.rstrip("/") not in {a.rstrip("/") for a in auds if isinstance(a, str)}:
        raise ConnectJwtError("bad_audience")
    if claims.get("iss") != client_key:
        raise ConnectJwtError("issuer_mismatch")
    _check_times(claims, now, leeway_s)
    _check_qsh(claims, method, path, query, allow_context=False)
    return claims


# ---------------------------------------------------------------------------------------------
# Descriptor and lifecycle payload


def descriptor(
    *,
    key: str,
    name: str,
    base_url: str,
    description: str,
    vendor: dict[str, str],
    lifecycle_paths: dict[str, str],
    webhook_path: str,
    events: list[str],
    configure_path: str,
    scopes: list[str],
) -> dict[str, Any]:
    """`atlassian-connect.json` for this app. Paths are relative to `base_url`; `lifecycle_paths`
    needs `installed` and `uninstalled` (and may add `enabled`, `disabled`)."""
    if not key or len(key) > 64:
        raise ValueError("app key must be 1-64 characters")
    unknown = set(lifecycle_paths) - set(LIFECYCLE_EVENTS)
    if unknown:
        raise ValueError(f"unknown lifecycle events: {sorted(unknown)}")
    if not {"installed", "uninstalled"} <= set(lifecycle_paths):
        raise ValueError("lifecycle needs installed and uninstalled")
    for path in [*lifecycle_paths.values(), webhook_path, configure_path]:
        if not path.startswith("/"):
            raise ValueError(f"paths are relative to baseUrl and start with '/': {path!r}")
    upper_scopes = [s.upper() for s in scopes]
    bad_scopes = set(upper_scopes) - SCOPES
    if bad_scopes:
        raise ValueError(f"unknown scopes: {sorted(bad_scopes)}")
    if len(set(events)) != len(events):
        raise ValueError("duplicate webhook events")
    page = {"url": configure_path, "name": {"value": name}}
    return {
        "key": key,
        "name": name,
        "description": description,
        "vendor": dict(vendor),
        "baseUrl": base_url.rstrip("/"),
        "apiVersion": 1,
        "authentication": {"type": "jwt"},
        "apiMigrations": dict(API_MIGRATIONS),
        "lifecycle": {
            event: lifecycle_paths[event] for event in LIFECYCLE_EVENTS if event in lifecycle_paths
        },
        "scopes": upper_scopes,
        "modules": {
            "webhooks": [{"event": event, "url": webhook_path, "excludeBody": False} for event in events],
            "configurePage": {"key": "configure", **page},
            "postInstallPage": {"key": "post-install", **page},
        },
    }


@dataclass(frozen=True)
class InstallPayload:
    """A lifecycle body. `shared_secret` is kept out of repr() so logging the payload is safe; it
    is None only on events other than `installed` that leave it out."""

    key: str
    client_key: str
    base_url: str
    display_url: str
    product_type: str
    event_type: str
    shared_secret: str | None = field(repr=False)
    server_version: str = ""
    plugins_version: str = ""
    oauth_client_id: str = ""
    description: str = ""


def _str_field(data: Mapping[str, Any], name: str, *, required: bool) -> str:
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise InstallPayloadError(name, "missing")
        return ""
    if not isinstance(value, str):
        raise InstallPayloadError(name, "not a string")
    return value


def _url_field(data: Mapping[str, Any], name: str, *, required: bool) -> str:
    value = _str_field(data, name, required=required)
    if value:
        parts = urlsplit(value)
        # We send signed calls and the tenant's data to this URL: it must be a plain web origin.
        if parts.scheme not in {"https", "http"} or not parts.hostname or parts.username or parts.password:
            raise InstallPayloadError(name, "not an http(s) URL")
    return value.rstrip("/")


def parse_install_payload(body: bytes) -> InstallPayload:
    """Parse and validate an `installed`/`uninstalled`/`enabled`/`disabled` body.

    Raises InstallPayloadError naming the field. The body is not covered by the JWT; verify the
    request with `verify_install_jwt(client_key=payload.client_key, ...)` before trusting it."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InstallPayloadError("body", "not JSON") from exc
    if not isinstance(data, dict):
        raise InstallPayloadError("body", "not a JSON object")
    event_type = _str_field(data, "eventType", required=True)
    if event_type not in LIFECYCLE_EVENTS:
        raise InstallPayloadError("eventType", "unknown lifecycle event")
    # Reinstalling issues a new secret, so an `installed` body without one is unusable.
    secret = _str_field(data, "sharedSecret", required=event_type == "installed") or None
    base_url = _url_field(data, "baseUrl", required=True)
    return InstallPayload(
        key=_str_field(data, "key", required=True),
        client_key=_str_field(data, "clientKey", required=True),
        base_url=base_url,
        display_url=_url_field(data, "displayUrl", required=False) or base_url,
        product_type=_str_field(data, "productType", required=False),
        event_type=event_type,
        shared_secret=secret,
        server_version=_str_field(data, "serverVersion", required=False),
        plugins_version=_str_field(data, "pluginsVersion", required=False),
        oauth_client_id=_str_field(data, "oauthClientId", required=False),
        description=_str_field(data, "description", required=False),
    )
