"""Who is calling: the credential rules of Jira Cloud's sites and of Atlassian's API gateway.

Site URL (`/site/<name>/rest/...`): Basic with a classic API token, or a Connect JWT. A scoped
token or an OAuth bearer token there is a 401, as on Jira Cloud (API-NOTES §1c, §1a).
Gateway (`/api/ex/jira/<cloudId>/rest/...`): an OAuth bearer token (3LO or client credentials)
or Basic with a scoped API token; classic tokens are a 401 there.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime

import jwt
from django.http import HttpRequest
from django.utils import timezone

from . import hotpath
from .jwt_qsh import qsh
from .models import AccessToken, Account, ApiToken, ConnectInstall, OAuthApp, Site, SiteAccess
from .responses import ApiError, gateway_error, site_unauthenticated


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(prefix: str, nbytes: int = 32) -> str:
    return f"{prefix}{secrets.token_urlsafe(nbytes)}"


@dataclass
class Identity:
    """The authenticated caller, or `account=None` for an anonymous one."""

    kind: str  # basic | scoped_token | oauth_3lo | oauth_cc | connect | anonymous
    account: Account | None
    # OAuth scopes the credential carries; None where scopes do not apply (classic token, Connect).
    scopes: frozenset[str] | None = None
    app: OAuthApp | None = None
    connect_install: ConnectInstall | None = None
    expires_at: datetime | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def anonymous(self) -> bool:
        return self.account is None


ANONYMOUS = Identity(kind="anonymous", account=None)


def _has_site(account: Account, site: Site) -> bool:
    return SiteAccess.objects.filter(site=site, account=account).exists()


def _basic_credentials(header: str) -> tuple[str, str] | None:
    try:
        decoded = base64.b64decode(header.split(" ", 1)[1].strip(), validate=True).decode()
    except (IndexError, ValueError, binascii.Error, UnicodeDecodeError):
        return None
    email, sep, token = decoded.partition(":")
    return (email, token) if sep else None


def _api_token(header: str, site: Site | None = None) -> ApiToken | None:
    """The live token of a Basic header. With `site`, the one query also answers whether its
    account has access to the site (`token.site_access`), which `_token_has_site` reads."""
    credentials = _basic_credentials(header)
    if credentials is None:
        return None
    email, token = credentials
    found = hotpath.api_token(hash_token(token), email, site)
    if found is None or found.revoked or found.expires_at <= timezone.now() or not found.account.active:
        return None
    return found


def _token_has_site(token: ApiToken, site: Site) -> bool:
    known = getattr(token, "site_access", None)
    return bool(known) if known is not None else _has_site(token.account, site)


def authenticate_site(request: HttpRequest, site: Site, *, context_path: str, anonymous_ok: bool) -> Identity:
    """A call on the site URL. Raises ApiError(401) for a credential the site refuses.

    `anonymous_ok`: the endpoint answers anonymous callers (with the anonymous-fallback knob on,
    a bad Basic token then gets a 200 as nobody, flagged by X-Seraph-LoginReason).
    """
    header = request.headers.get("Authorization", "")
    scheme = header.split(" ", 1)[0].lower()
    if scheme == "basic":
        token = _api_token(header, site)
        if token is None or token.scoped or not _token_has_site(token, site):
            if anonymous_ok:
                return Identity(kind="anonymous", account=None, notes=["AUTHENTICATED_FAILED"])
            raise ApiError(site_unauthenticated())
        return Identity(kind="basic", account=token.account, expires_at=token.expires_at)
    if scheme == "jwt":
        return _connect_identity(request, site, header.split(" ", 1)[1].strip(), context_path)
    if scheme == "bearer":
        # OAuth tokens are only good on api.atlassian.com/ex/jira/{cloudId}.
        raise ApiError(site_unauthenticated())
    return ANONYMOUS


def _connect_identity(request: HttpRequest, site: Site, token: str, context_path: str) -> Identity:
    try:
        unverified = jwt.decode(token, options={"verify_signature": False})
        install = ConnectInstall.objects.select_related("account").get(
            site=site, app_key=str(unverified.get("iss", "")), uninstalled_at__isnull=True
        )
        claims = jwt.decode(
            token, install.shared_secret, algorithms=["HS256"], options={"require": ["exp", "iat"]}
        )
    except (jwt.PyJWTError, ConnectInstall.DoesNotExist) as exc:
        raise ApiError(site_unauthenticated()) from exc
    path = request.path[len(context_path) :] or "/"
    expected = qsh(request.method or "GET", path, list(request.GET.items()))
    if claims.get("qsh") != expected:
        raise ApiError(site_unauthenticated())
    return Identity(kind="connect", account=install.account, connect_install=install)


def authenticate_gateway(request: HttpRequest, site: Site) -> Identity:
    """A call through `/ex/jira/{cloudId}`. Anything but a valid gateway credential is a 401."""
    header = request.headers.get("Authorization", "")
    scheme = header.split(" ", 1)[0].lower()
    if scheme == "bearer":
        raw = header.split(" ", 1)[1].strip() if " " in header else ""
        token = (
            AccessToken.objects.select_related("app", "account", "grant")
            .filter(token_hash=hash_token(raw))
            .first()
        )
        if token is None or token.expires_at <= timezone.now():
            raise ApiError(gateway_error(401, "Unauthorized"))
        if token.grant is not None:
            if token.grant.revoked_at is not None or not token.grant.sites.filter(pk=site.pk).exists():
                raise ApiError(gateway_error(401, "Unauthorized"))
            kind = "oauth_3lo"
        else:
            if not _has_site(token.account, site):
                raise ApiError(gateway_error(401, "Unauthorized"))
            kind = "oauth_cc"
        return Identity(
            kind=kind,
            account=token.account,
            scopes=frozenset(token.scopes),
            app=token.app,
            expires_at=token.expires_at,
        )
    if scheme == "basic":
        api_token = _api_token(header, site)
        if api_token is None or not api_token.scoped or not _token_has_site(api_token, site):
            raise ApiError(gateway_error(401, "Unauthorized"))
        return Identity(
            kind="scoped_token",
            account=api_token.account,
            scopes=frozenset(api_token.scopes),
            expires_at=api_token.expires_at,
        )
    raise ApiError(gateway_error(401, "Unauthorized"))
