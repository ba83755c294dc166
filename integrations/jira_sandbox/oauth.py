"""The auth server (auth.atlassian.com) and the gateway's OAuth endpoints (api.atlassian.com).

auth/authorize                     3LO: sign in, pick a site, consent; redirect with a code
auth/oauth/token                   authorization_code, refresh_token (rotating), client_credentials
api/oauth/token/accessible-resources   the sites a bearer token reaches
api/oauth/token                    the same token endpoint, for the `api.atlassian.com` form (HARDIS)

Rules from API-NOTES §1a/§1b: 1-hour access tokens; refresh tokens rotate, a rotated one may be
reused for 10 minutes (two workers racing, §12.5), and a later reuse revokes the whole grant
family; refresh tokens also die after 90 days unused and 365 days after consent. Every token is
random and stored hashed. The sandbox signs its people in with its own session key, never as a
Bugbridge user.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.hashers import check_password
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import render
from django.urls import path
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from .auth import hash_token, new_token
from .models import AccessToken, Account, AuthCode, Grant, OAuthApp, RefreshToken, Site
from .responses import gateway_error, jira_json, token_error

logger = logging.getLogger(__name__)

ACCESS_TOKEN_LIFETIME = timedelta(hours=1)
CLIENT_CREDENTIALS_LIFETIME = timedelta(minutes=60)
AUTH_CODE_LIFETIME = timedelta(minutes=10)
REFRESH_REUSE_LEEWAY = timedelta(minutes=10)
REFRESH_INACTIVITY_LIMIT = timedelta(days=90)
REFRESH_ABSOLUTE_LIMIT = timedelta(days=365)

AUDIENCE = "api.atlassian.com"
OFFLINE_ACCESS = "offline_access"
# The sandbox person signed in on the authorize page (a sandbox Account pk); not Django's login.
SESSION_ACCOUNT_KEY = "jira_sandbox_oauth_account"
SITE_AVATAR_URL = "https://site-admin-avatar-cdn.prod.public.atl-paas.net/avatars/240/rocket.png"

CODE_PREFIX = "sbxcode-"
ACCESS_PREFIX = "sbxat-"
REFRESH_PREFIX = "sbxrt-"

SIGN_IN_FAILED = "Incorrect email address and / or password."
DENIED_DESCRIPTION = "User did not authorize the request"
INVALID_CODE = "Invalid authorization code"
INVALID_REFRESH = "Unknown or invalid refresh token."

# What the consent screen says each scope lets the app do.
SCOPE_WORDS = {
    "read:jira-work": "View Jira issue data",
    "write:jira-work": "Create and manage issues",
    "read:jira-user": "View user profiles",
    "manage:jira-webhook": "Manage Jira webhooks",
    "manage:jira-configuration": "Manage Jira global settings",
    "manage:jira-project": "Manage project settings",
    "read:field:jira": "View fields",
    "read:me": "View your profile",
    OFFLINE_ACCESS: "Keep the access you give it, even when you are not using the app",
}


# ---------------------------------------------------------------------------------------------
# The authorize page (3LO)
# ---------------------------------------------------------------------------------------------


class AuthorizeRefused(Exception):
    """The authorize request is broken: shown on the sandbox, never redirected."""


@dataclass(frozen=True)
class AuthorizeRequest:
    app: OAuthApp
    scopes: list[str]
    redirect_uri: str
    state: str | None
    url: str  # this authorize URL, query included, for the forms to post back to


def _authorize_request(request: HttpRequest) -> AuthorizeRequest:
    params: QueryDict = request.GET
    app = OAuthApp.objects.filter(client_id=params.get("client_id", ""), kind=OAuthApp.Kind.THREE_LO).first()
    if app is None:
        raise AuthorizeRefused("No OAuth 2.0 (3LO) app has this client_id. Check the app's settings.")
    redirect_uri = params.get("redirect_uri", "")
    if redirect_uri not in app.redirect_uris:
        raise AuthorizeRefused(
            f"The redirect_uri is not a callback URL registered for the app “{app.name}”. "
            "It must match one of the app's callback URLs exactly."
        )
    if params.get("response_type") != "code":
        raise AuthorizeRefused("Unsupported response_type: only “code” is supported.")
    if params.get("audience", AUDIENCE) != AUDIENCE:
        raise AuthorizeRefused(f"Unknown audience: it must be {AUDIENCE}.")
    scopes = list(dict.fromkeys(params.get("scope", "").split()))
    if not scopes:
        raise AuthorizeRefused("The request asks for no scope.")
    missing = [scope for scope in scopes if scope not in app.scopes]
    if missing:
        raise AuthorizeRefused(
            f"The app “{app.name}” asks for scopes that are not enabled on it: {', '.join(missing)}."
        )
    return AuthorizeRequest(app, scopes, redirect_uri, params.get("state"), request.get_full_path())


def _signed_in(request: HttpRequest) -> Account | None:
    pk = request.session.get(SESSION_ACCOUNT_KEY)
    if pk is None:
        return None
    return Account.objects.filter(pk=pk, active=True, account_type=Account.Type.ATLASSIAN).first()


def _with_params(uri: str, params: dict[str, str | None]) -> str:
    """`uri` with `params` added to its query (a registered URI may carry its own)."""
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [(name, value) for name, value in params.items() if value is not None]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _sites_of(account: Account) -> list[Site]:
    return list(account.sites.order_by("name"))


def _sign_in_page(
    request: HttpRequest, areq: AuthorizeRequest, error: str = "", email: str = ""
) -> HttpResponse:
    context = {"app": areq.app, "action_url": areq.url, "error": error, "email": email}
    return render(request, "jira_sandbox/oauth_signin.html", context)


def _consent_page(
    request: HttpRequest, areq: AuthorizeRequest, account: Account, blocked_site: Site | None = None
) -> HttpResponse:
    sites = _sites_of(account)
    if blocked_site is None and len(sites) == 1 and sites[0].admin_approval_required:
        blocked_site = sites[0]  # nothing to pick: the one site the person has is blocked
    context = {
        "app": areq.app,
        "account": account,
        "action_url": areq.url,
        "scopes": [(scope, SCOPE_WORDS.get(scope, scope)) for scope in areq.scopes],
        "sites": sites,
        "blocked_site": blocked_site,
    }
    return render(request, "jira_sandbox/oauth_consent.html", context)


def _show(request: HttpRequest, areq: AuthorizeRequest, account: Account | None) -> HttpResponse:
    return _consent_page(request, areq, account) if account else _sign_in_page(request, areq)


def _sign_in(request: HttpRequest, areq: AuthorizeRequest, account: Account | None) -> HttpResponse:
    email = request.POST.get("email", "").strip()
    found = Account.objects.filter(
        email__iexact=email, active=True, account_type=Account.Type.ATLASSIAN
    ).first()
    if (
        found is None
        or not found.password
        or not check_password(request.POST.get("password", ""), found.password)
    ):
        return _sign_in_page(request, areq, error=SIGN_IN_FAILED, email=email)
    request.session.cycle_key()  # a new session key at sign-in (no fixation)
    request.session[SESSION_ACCOUNT_KEY] = found.pk
    return HttpResponseRedirect(areq.url)


def _sign_out(request: HttpRequest, areq: AuthorizeRequest, account: Account | None) -> HttpResponse:
    request.session.pop(SESSION_ACCOUNT_KEY, None)
    return HttpResponseRedirect(areq.url)


def _cancel(request: HttpRequest, areq: AuthorizeRequest, account: Account | None) -> HttpResponse:
    params = {"error": "access_denied", "error_description": DENIED_DESCRIPTION, "state": areq.state}
    return HttpResponseRedirect(_with_params(areq.redirect_uri, params))


def _accept(request: HttpRequest, areq: AuthorizeRequest, account: Account | None) -> HttpResponse:
    if account is None:
        return _sign_in_page(request, areq)
    site = account.sites.filter(name=request.POST.get("site", "")).first()
    if site is None:
        return _consent_page(request, areq, account)
    if site.admin_approval_required:
        return _consent_page(request, areq, account, blocked_site=site)
    code = authorization_code_issue(
        app=areq.app, account=account, site=site, scopes=areq.scopes, redirect_uri=areq.redirect_uri
    )
    return HttpResponseRedirect(_with_params(areq.redirect_uri, {"code": code, "state": areq.state}))


AUTHORIZE_ACTIONS: dict[str, Callable[[HttpRequest, AuthorizeRequest, Account | None], HttpResponse]] = {
    "signin": _sign_in,
    "signout": _sign_out,
    "accept": _accept,
    "cancel": _cancel,
}


@transaction.atomic
def authorization_code_issue(
    *, app: OAuthApp, account: Account, site: Site, scopes: list[str], redirect_uri: str
) -> str:
    """One consent: a new grant family for `site`, and its single-use code (returned in the clear)."""
    grant = Grant.objects.create(app=app, account=account, scopes=scopes)
    grant.sites.set([site])
    code = new_token(CODE_PREFIX)
    AuthCode.objects.create(
        grant=grant,
        code_hash=hash_token(code),
        redirect_uri=redirect_uri,
        expires_at=timezone.now() + AUTH_CODE_LIFETIME,
    )
    logger.info("jira_sandbox.oauth.consent", extra={"app": app.pk, "account": account.pk, "site": site.name})
    return code


@never_cache
@login_not_required
@require_http_methods(["GET", "POST"])
def authorize(request: HttpRequest) -> HttpResponse:
    """`auth.atlassian.com/authorize`: checks the request, then sign-in → consent → redirect."""
    try:
        areq = _authorize_request(request)
    except AuthorizeRefused as exc:
        return render(request, "jira_sandbox/oauth_error.html", {"message": str(exc)}, status=400)
    account = _signed_in(request)
    action = AUTHORIZE_ACTIONS.get(request.POST.get("action", "")) if request.method == "POST" else None
    return (action or _show)(request, areq, account)


# ---------------------------------------------------------------------------------------------
# The token endpoint
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenAnswer:
    status: int
    body: dict[str, Any]


class TokenRefused(Exception):
    """A refusal that changed nothing (the transaction may roll back)."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(error)
        self.answer = TokenAnswer(status, {"error": error, "error_description": description})


def _unauthorized_client() -> TokenRefused:
    # Meridiona/meridian PR #218: a missing client secret on the code exchange gave exactly this.
    return TokenRefused(401, "access_denied", "Unauthorized")


def _token_params(request: HttpRequest) -> dict[str, str]:
    if request.content_type == "application/json":
        try:
            data = json.loads(request.body or b"{}")
        except (ValueError, UnicodeDecodeError) as exc:
            raise TokenRefused(400, "invalid_request", "The request body is not valid JSON.") from exc
        if not isinstance(data, dict):
            raise TokenRefused(400, "invalid_request", "The request body must be a JSON object.")
        return {str(k): v for k, v in data.items() if isinstance(v, str)}
    return request.POST.dict()


def _client(params: dict[str, str], kind: str) -> OAuthApp:
    app = OAuthApp.objects.select_related("account").filter(client_id=params.get("client_id", "")).first()
    secret = params.get("client_secret", "")
    if app is None or not secret or not hmac.compare_digest(secret.encode(), app.client_secret.encode()):
        raise _unauthorized_client()
    if app.kind != kind:
        raise TokenRefused(403, "unauthorized_client", "The client is not allowed to use this grant type.")
    return app


def _access_token(
    app: OAuthApp, account: Account, grant: Grant | None, scopes: list[str], life: timedelta
) -> str:
    raw = new_token(ACCESS_PREFIX)
    now = timezone.now()
    AccessToken.objects.create(
        app=app,
        grant=grant,
        account=account,
        token_hash=hash_token(raw),
        scopes=scopes,
        created=now,
        expires_at=now + life,
    )
    return raw


def _token_pair(grant: Grant) -> dict[str, Any]:
    """A new access token for the grant, and a new refresh token when it has offline_access."""
    body: dict[str, Any] = {
        "access_token": _access_token(grant.app, grant.account, grant, grant.scopes, ACCESS_TOKEN_LIFETIME),
        "expires_in": int(ACCESS_TOKEN_LIFETIME.total_seconds()),
        "token_type": "Bearer",
        "scope": " ".join(grant.scopes),
    }
    if OFFLINE_ACCESS in grant.scopes:
        raw = new_token(REFRESH_PREFIX)
        now = timezone.now()
        RefreshToken.objects.create(grant=grant, token_hash=hash_token(raw), created=now, last_used_at=now)
        body["refresh_token"] = raw
    return body


def _authorization_code_grant(params: dict[str, str]) -> TokenAnswer:
    app = _client(params, OAuthApp.Kind.THREE_LO)
    now = timezone.now()
    code = (
        AuthCode.objects.select_for_update()
        .select_related("grant__app", "grant__account")
        .filter(code_hash=hash_token(params.get("code", "")))
        .first()
    )
    if (
        code is None
        or code.grant.app_id != app.pk
        or code.used_at is not None
        or code.expires_at <= now
        or code.redirect_uri != params.get("redirect_uri", "")
        or code.grant.revoked_at is not None
    ):
        raise TokenRefused(403, "invalid_grant", INVALID_CODE)
    code.used_at = now
    code.save(update_fields=["used_at"])
    return TokenAnswer(200, _token_pair(code.grant))


def grant_revoke(*, grant: Grant, reason: str) -> None:
    """End a grant family: its refresh tokens and access tokens stop working at once."""
    now = timezone.now()
    grant.revoked_at = now
    grant.revoked_reason = reason[:120]
    grant.save(update_fields=["revoked_at", "revoked_reason"])
    grant.access_tokens.filter(expires_at__gt=now).update(expires_at=now)
    logger.info("jira_sandbox.oauth.grant_revoked", extra={"grant": grant.pk, "reason": reason})


def _refresh_dead(token: RefreshToken, now: datetime) -> bool:
    grant = token.grant
    return (
        grant.revoked_at is not None
        or now >= grant.created + REFRESH_ABSOLUTE_LIMIT
        or now >= token.last_used_at + REFRESH_INACTIVITY_LIMIT
    )


def _refresh_token_grant(params: dict[str, str]) -> TokenAnswer:
    app = _client(params, OAuthApp.Kind.THREE_LO)
    now = timezone.now()
    # Locked: two workers refreshing the same token take turns, the second inside the leeway.
    token = (
        RefreshToken.objects.select_for_update()
        .select_related("grant__app", "grant__account")
        .filter(token_hash=hash_token(params.get("refresh_token", "")))
        .first()
    )
    if token is None or token.grant.app_id != app.pk or _refresh_dead(token, now):
        raise TokenRefused(403, "invalid_grant", INVALID_REFRESH)
    if token.rotated_at is not None and now - token.rotated_at > REFRESH_REUSE_LEEWAY:
        # Returned, not raised: the revocation must be committed with the refusal.
        grant_revoke(grant=token.grant, reason="A rotated refresh token was reused after the leeway.")
        return TokenAnswer(403, {"error": "invalid_grant", "error_description": INVALID_REFRESH})
    token.rotated_at = token.rotated_at or now
    token.last_used_at = now
    token.save(update_fields=["rotated_at", "last_used_at"])
    return TokenAnswer(200, _token_pair(token.grant))


def _client_credentials_grant(params: dict[str, str]) -> TokenAnswer:
    app = _client(params, OAuthApp.Kind.SERVICE_ACCOUNT)
    if not app.account.active:
        raise _unauthorized_client()
    life = CLIENT_CREDENTIALS_LIFETIME
    body = {
        "access_token": _access_token(app, app.account, None, list(app.scopes), life),
        "expires_in": int(life.total_seconds()),
        "token_type": "Bearer",
        "scope": " ".join(app.scopes),
    }
    return TokenAnswer(200, body)


GRANT_TYPES: dict[str, Callable[[dict[str, str]], TokenAnswer]] = {
    "authorization_code": _authorization_code_grant,
    "refresh_token": _refresh_token_grant,
    "client_credentials": _client_credentials_grant,
}


@csrf_exempt
@login_not_required
def token(request: HttpRequest) -> HttpResponse:
    """`POST auth.atlassian.com/oauth/token` (JSON or form-encoded), answered as Atlassian does."""
    try:
        if request.method != "POST":
            raise TokenRefused(405, "invalid_request", "Use POST.")
        params = _token_params(request)
        grant_type = params.get("grant_type", "")
        handler = GRANT_TYPES.get(grant_type)
        if handler is None:
            raise TokenRefused(
                400, "unsupported_grant_type", f"Unsupported grant type: {grant_type or '(none)'}"
            )
        with transaction.atomic():
            answer = handler(params)
    except TokenRefused as exc:
        answer = exc.answer
    if answer.status == 200:
        response = jira_json(answer.body)
    else:
        response = token_error(answer.status, answer.body["error"], answer.body["error_description"])
    response["Cache-Control"] = "no-store"
    return response


# ---------------------------------------------------------------------------------------------
# The gateway: accessible-resources
# ---------------------------------------------------------------------------------------------


def _bearer(request: HttpRequest) -> AccessToken | None:
    scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        return None
    found = (
        AccessToken.objects.select_related("account", "grant")
        .filter(token_hash=hash_token(raw.strip()), expires_at__gt=timezone.now())
        .first()
    )
    if found is None or not found.account.active or (found.grant and found.grant.revoked_at):
        return None
    return found


def _resource(request: HttpRequest, site: Site, scopes: list[str]) -> dict[str, Any]:
    return {
        "id": site.cloud_id,
        "name": site.name,
        "url": request.build_absolute_uri(f"{settings.JIRA_SANDBOX_PREFIX}/site/{site.name}"),
        "scopes": scopes,
        "avatarUrl": SITE_AVATAR_URL,
    }


@csrf_exempt
@login_not_required
def accessible_resources(request: HttpRequest) -> HttpResponse:
    """The sites a token reaches: a 3LO grant's sites, or the service account's sites."""
    if request.method != "GET":
        return gateway_error(405, "Method Not Allowed")
    found = _bearer(request)
    if found is None:
        return gateway_error(401, "Unauthorized")
    sites = found.grant.sites.order_by("name") if found.grant else found.account.sites.order_by("name")
    return jira_json([_resource(request, site, list(found.scopes)) for site in sites])


auth_server_patterns = [
    path("authorize", authorize, name="authorize"),
    path("oauth/token", token, name="token"),
]

gateway_patterns = [
    path("oauth/token/accessible-resources", accessible_resources, name="accessible_resources"),
    # sfdx-hardis posts client credentials (with `audience`) here rather than to the auth server.
    path("oauth/token", token, name="gateway_token"),
]
