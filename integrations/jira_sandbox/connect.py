"""Atlassian Connect (legacy): install an app from its descriptor URL, uninstall it, serve the keys.

Install (API-NOTES §1e): fetch `atlassian-connect.json`, check it, create the app's user, the
install (clientKey, a fresh sharedSecret) and its descriptor webhooks, then POST the `installed`
lifecycle to the app, signed RS256 with the sandbox's key pair ("signed install"); the app checks
it with the public key from `connect/keys/<kid>` (Atlassian's connect-install-keys CDN). When the
app does not answer 2xx, nothing is kept. Later calls from the app are HS256 JWTs with the shared
secret (verified in auth.py); webhooks to it are signed the same way (delivery.py).
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
import uuid
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import jwt
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from .jwt_qsh import qsh
from .models import Account, ConnectInstall, SigningKey, Site, SiteAccess, Webhook
from .services import allocate

logger = logging.getLogger(__name__)

FETCH_TIMEOUT = (5, 10)  # (connect, read) seconds, for the descriptor and the lifecycle calls
JWT_LIFETIME_S = 180
KEY_MAX_LENGTH = 64
URL_MAX_LENGTH = 500  # the URL columns' size
# Connect app keys: letters, digits, dots, dashes and underscores.
KEY_PATTERN = re.compile(r"^[A-Za-z0-9._-]+$")
SHARED_SECRET_BYTES = 32  # token_urlsafe(32) is 43 characters
APP_EMAIL_DOMAIN = "connect.atlassian.com"
SERVER_VERSION = "100293"
PLUGINS_VERSION = "1001.0.0-SNAPSHOT"
USER_AGENT = "Atlassian Connect (Bugbridge sandbox Jira)"


class ConnectError(Exception):
    """An install or uninstall that could not happen, in plain words for the person who asked."""


# ---------------------------------------------------------------------------------------------
# The sandbox's signing key (connect-install-keys.atlassian.com)
# ---------------------------------------------------------------------------------------------


def signing_key() -> SigningKey:
    """The RS256 key pair lifecycle calls are signed with, made on first use."""
    key = SigningKey.objects.order_by("created", "pk").first()
    if key is not None:
        return key
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return SigningKey.objects.create(
        kid=str(uuid.uuid4()),
        private_pem=private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode(),
        public_pem=private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode(),
    )


# ---------------------------------------------------------------------------------------------
# The descriptor
# ---------------------------------------------------------------------------------------------


def _fetch_descriptor(descriptor_url: str) -> dict[str, Any]:
    if urlsplit(descriptor_url).scheme not in ("http", "https"):
        raise ConnectError("The descriptor URL must start with http:// or https://.")
    if len(descriptor_url) > URL_MAX_LENGTH:
        raise ConnectError(f"The descriptor URL is too long (at most {URL_MAX_LENGTH} characters).")
    try:
        response = requests.get(
            descriptor_url,
            timeout=FETCH_TIMEOUT,
            headers={"Accept": "application/json", "User-Agent": USER_AGENT},
        )
    except requests.RequestException as exc:
        raise ConnectError(
            f"The descriptor could not be fetched from {descriptor_url}: the app did not answer."
        ) from exc
    if response.status_code != 200:
        raise ConnectError(f"Fetching the descriptor from {descriptor_url} gave HTTP {response.status_code}.")
    try:
        descriptor = response.json()
    except ValueError as exc:
        raise ConnectError(f"The descriptor at {descriptor_url} is not JSON.") from exc
    if not isinstance(descriptor, dict):
        raise ConnectError("The descriptor must be a JSON object.")
    return descriptor


def _check_descriptor(descriptor: dict[str, Any]) -> None:
    """Plain-words refusals for a descriptor Jira would not install."""
    key = descriptor.get("key")
    if not isinstance(key, str) or not key:
        raise ConnectError("The descriptor has no “key”.")
    if len(key) > KEY_MAX_LENGTH or not KEY_PATTERN.match(key):
        raise ConnectError(
            f"The app key “{key[:80]}” is not valid: at most {KEY_MAX_LENGTH} letters, digits, "
            "dots, dashes or underscores."
        )
    base_url = descriptor.get("baseUrl")
    if (
        not isinstance(base_url, str)
        or urlsplit(base_url).scheme not in ("http", "https")
        or not urlsplit(base_url).netloc
    ):
        raise ConnectError("The descriptor's “baseUrl” must be an absolute http(s) URL.")
    if len(base_url) > URL_MAX_LENGTH:
        raise ConnectError(f"The descriptor's “baseUrl” is too long (at most {URL_MAX_LENGTH} characters).")
    authentication = descriptor.get("authentication")
    if not isinstance(authentication, dict) or str(authentication.get("type", "")).lower() != "jwt":
        raise ConnectError(
            "The descriptor must declare JWT authentication: “authentication”: {“type”: “jwt”}."
        )
    lifecycle = descriptor.get("lifecycle")
    if (
        not isinstance(lifecycle, dict)
        or not isinstance(lifecycle.get("installed"), str)
        or not lifecycle["installed"]
    ):
        raise ConnectError(
            "The descriptor must declare an “installed” lifecycle URL (“lifecycle”: {“installed”: …})."
        )


def _app_url(base_url: str, relative: str) -> str:
    """A URL the descriptor gives relative to its baseUrl."""
    return base_url.rstrip("/") + "/" + relative.lstrip("/")


def configure_url(install: ConnectInstall, account_id: str = "") -> str | None:
    """The app's configure page as Jira opens it in an iframe: with a context JWT (HS256 with the
    shared secret, the fixed `qsh` "context-qsh"). None when the descriptor declares no page."""
    modules = install.descriptor.get("modules")
    page = None
    if isinstance(modules, dict):
        page = modules.get("configurePage") or modules.get("postInstallPage")
    relative = page.get("url") if isinstance(page, dict) else None
    if not isinstance(relative, str) or not relative:
        return None
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": install.client_key,
        "iat": now,
        "exp": now + JWT_LIFETIME_S,
        "qsh": "context-qsh",
    }
    if account_id:
        claims["sub"] = account_id
    token = jwt.encode(claims, install.shared_secret, algorithm="HS256")
    url = _app_url(install.base_url, relative)
    return f"{url}{'&' if '?' in url else '?'}{urlencode({'jwt': token})}"


def _webhook_modules(descriptor: dict[str, Any]) -> list[dict[str, Any]]:
    modules = descriptor.get("modules")
    hooks = modules.get("webhooks") if isinstance(modules, dict) else None
    if not isinstance(hooks, list):
        return []
    usable = [
        h
        for h in hooks
        if isinstance(h, dict) and isinstance(h.get("event"), str) and isinstance(h.get("url"), str)
    ]
    if len(usable) != len(hooks):
        raise ConnectError("Every webhook module in the descriptor needs an “event” and a “url”.")
    base_url = descriptor["baseUrl"]
    if any(len(_app_url(base_url, h["url"])) > URL_MAX_LENGTH for h in usable):
        raise ConnectError(
            f"A webhook URL in the descriptor is too long (at most {URL_MAX_LENGTH} characters)."
        )
    return usable


# ---------------------------------------------------------------------------------------------
# Lifecycle calls, signed RS256
# ---------------------------------------------------------------------------------------------


def _install_jwt(install: ConnectInstall, url: str) -> str:
    """Signed install: RS256, kid in the header, iss = clientKey, aud = the app's baseUrl."""
    key = signing_key()
    parts = urlsplit(url)
    base_path = urlsplit(install.base_url).path.rstrip("/")
    relative = parts.path[len(base_path) :] if base_path and parts.path.startswith(base_path) else parts.path
    now = int(time.time())
    claims = {
        "iss": install.client_key,
        "aud": [install.base_url],
        "iat": now,
        "exp": now + JWT_LIFETIME_S,
        "qsh": qsh("POST", relative or "/", parse_qsl(parts.query, keep_blank_values=True)),
    }
    return jwt.encode(claims, key.private_pem, algorithm="RS256", headers={"kid": key.kid})


def _lifecycle_payload(install: ConnectInstall, site_url: str, event: str) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "key": install.app_key,
        "clientKey": install.client_key,
        "sharedSecret": install.shared_secret,
        "baseUrl": site_url,
        "displayUrl": site_url,
        "productType": "jira",
        "description": f"Atlassian JIRA at {site_url}",
        "eventType": event,
        "serverVersion": SERVER_VERSION,
        "pluginsVersion": PLUGINS_VERSION,
    }
    if event != "installed":
        del payload["sharedSecret"]  # only the install hands the secret over
    return payload


def _post_lifecycle(install: ConnectInstall, site_url: str, event: str) -> str | None:
    """POST one lifecycle event to the app; the problem in plain words, or None when it took it."""
    relative = (install.descriptor.get("lifecycle") or {}).get(event)
    if not isinstance(relative, str) or not relative:
        return None
    url = _app_url(install.base_url, relative)
    body = json.dumps(_lifecycle_payload(install, site_url, event)).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Authorization": f"JWT {_install_jwt(install, url)}",
    }
    try:
        response = requests.post(
            url, data=body, headers=headers, timeout=FETCH_TIMEOUT, allow_redirects=False
        )
    except requests.RequestException:
        return f"The app did not answer the “{event}” call at {url}."
    response.close()
    if not 200 <= response.status_code < 300:
        return f"The app answered the “{event}” call at {url} with HTTP {response.status_code}."
    return None


# ---------------------------------------------------------------------------------------------
# Services
# ---------------------------------------------------------------------------------------------


def _site_url(site: Site) -> str:
    return f"{settings.SITE_URL}{settings.JIRA_SANDBOX_PREFIX}/site/{site.name}"


def _app_account(site: Site, descriptor: dict[str, Any]) -> Account:
    """The app user Jira makes for an add-on: one per app key and site, kept across reinstalls."""
    key = descriptor["key"]
    account, _ = Account.objects.get_or_create(
        email=f"{key.lower()}.{site.name}@{APP_EMAIL_DOMAIN}",
        defaults={
            "account_id": f"557058:{uuid.uuid4()}",
            "account_type": Account.Type.APP,
            "display_name": str(descriptor.get("name") or key)[:120],
        },
    )
    if not account.active:
        account.active = True
        account.save(update_fields=["active"])
    SiteAccess.objects.get_or_create(site=site, account=account)
    return account


def _sync_webhooks(install: ConnectInstall, modules: list[dict[str, Any]]) -> None:
    """The descriptor's webhooks: matching rows come back on, new ones get ids, others stay off."""
    site = install.site
    existing = {(h.url, tuple(h.events), h.jql_filter): h for h in install.webhooks.all()}
    install.webhooks.update(enabled=False)
    for module in modules:
        url = _app_url(install.base_url, module["url"])
        jql = str(module.get("filter") or "").strip()
        hook = existing.get((url, (module["event"],), jql))
        if hook is not None:
            Webhook.objects.filter(pk=hook.pk).update(
                enabled=True, exclude_body=bool(module.get("excludeBody"))
            )
            continue
        Webhook.objects.create(
            site=site,
            webhook_id=allocate(site, "next_webhook_id"),
            kind=Webhook.Kind.CONNECT,
            connect_install=install,
            registered_by=install.account,
            name=str(install.descriptor.get("name") or install.app_key)[:255],
            url=url,
            events=[module["event"]],
            jql_filter=jql,
            exclude_body=bool(module.get("excludeBody")),
        )


def connect_install(*, site: Site, descriptor_url: str, site_url: str | None = None) -> ConnectInstall:
    """Install (or reinstall) the Connect app whose descriptor is at `descriptor_url` on `site`.

    A reinstall keeps the clientKey and hands the app a NEW sharedSecret. `site_url` is the site's
    absolute URL as the app should call it (default: from SITE_URL). Raises ConnectError, and
    keeps nothing, when the descriptor is unusable or the app refuses the `installed` call.
    """
    descriptor = _fetch_descriptor(descriptor_url)
    _check_descriptor(descriptor)
    modules = _webhook_modules(descriptor)
    site_url = site_url or _site_url(site)
    signing_key()  # committed before the app fetches its public key to check the install
    install = (
        ConnectInstall.objects.filter(site=site, app_key=descriptor["key"])
        .order_by("-installed_at", "-pk")
        .first()
    ) or ConnectInstall(site=site, app_key=descriptor["key"], client_key=str(uuid.uuid4()))
    install.descriptor_url = descriptor_url
    install.descriptor = descriptor
    install.base_url = descriptor["baseUrl"]
    install.shared_secret = secrets.token_urlsafe(SHARED_SECRET_BYTES)
    install.installed_at = timezone.now()
    install.uninstalled_at = None
    # Jira tells the app before it keeps anything, and outside a transaction: the app answers
    # while we wait, and it may fetch the signing key or write to a database this sandbox shares
    # with it (SQLite's write lock would otherwise make it wait on us until the call timed out).
    problem = _post_lifecycle(install, site_url, "installed")
    if problem:
        raise ConnectError(f"{problem} The app was not installed.")
    with transaction.atomic():
        install.account = _app_account(site, descriptor)
        install.save()
        _sync_webhooks(install, modules)
    logger.info("jira_sandbox.connect.installed", extra={"site": site.name, "app_key": install.app_key})
    return install


def _uninstall(install: ConnectInstall, site_url: str | None = None) -> str | None:
    """Uninstall; the app's problem with the `uninstalled` call in plain words, or None.

    Jira uninstalls whatever the app answers: the app only hears about it.
    """
    if install.uninstalled_at is not None:
        raise ConnectError(f"The app {install.app_key} is already uninstalled from {install.site.name}.")
    problem = _post_lifecycle(install, site_url or _site_url(install.site), "uninstalled")
    with transaction.atomic():
        install.uninstalled_at = timezone.now()
        install.save(update_fields=["uninstalled_at"])
        install.webhooks.update(enabled=False)
    logger.info(
        "jira_sandbox.connect.uninstalled",
        extra={"site": install.site.name, "app_key": install.app_key, "app_answered": problem is None},
    )
    return problem


def connect_uninstall(*, install: ConnectInstall) -> None:
    """Uninstall a Connect app: the signed `uninstalled` call, then its secret and webhooks stop."""
    _uninstall(install)


# ---------------------------------------------------------------------------------------------
# Views
# ---------------------------------------------------------------------------------------------


def _back(request: HttpRequest) -> HttpResponseRedirect:
    target = request.POST.get("next") or ""
    if not target or not url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        target = reverse("jira_sandbox:home")
    return HttpResponseRedirect(target)


def _request_site_url(request: HttpRequest, site: Site) -> str:
    return request.build_absolute_uri(f"{settings.JIRA_SANDBOX_PREFIX}/site/{site.name}")


@login_not_required
@require_POST
def install_view(request: HttpRequest) -> HttpResponse:
    """The sandbox page's "Install app" form (CSRF-protected)."""
    site = Site.objects.filter(name=request.POST.get("site", "")).first()
    descriptor_url = request.POST.get("descriptor_url", "").strip()
    if site is None:
        messages.error(request, "Pick a sandbox site to install the app on.")
        return _back(request)
    try:
        install = connect_install(
            site=site, descriptor_url=descriptor_url, site_url=_request_site_url(request, site)
        )
    except ConnectError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request, f"Installed {install.app_key} on {site.name}. The app received its shared secret."
        )
    return _back(request)


@login_not_required
@require_POST
def uninstall_view(request: HttpRequest, pk: int) -> HttpResponse:
    install = ConnectInstall.objects.select_related("site").filter(pk=pk).first()
    if install is None:
        messages.error(request, "That Connect install does not exist (the sandbox may have been reset).")
        return _back(request)
    try:
        problem = _uninstall(install, _request_site_url(request, install.site))
    except ConnectError as exc:
        messages.error(request, str(exc))
        return _back(request)
    messages.success(request, f"Uninstalled {install.app_key} from {install.site.name}.")
    if problem:
        messages.warning(request, f"{problem} It is uninstalled anyway, as on Jira.")
    return _back(request)


@login_not_required
@require_GET
def configure_view(request: HttpRequest, pk: int) -> HttpResponse:
    """The sandbox page's "Configure" link: off to the app's page, signed as Jira signs it."""
    install = ConnectInstall.objects.filter(pk=pk, uninstalled_at__isnull=True).first()
    url = configure_url(install) if install is not None else None
    if url is None:
        messages.error(request, "That app is not installed, or it has no configure page.")
        return _back(request)
    return HttpResponseRedirect(url)


@login_not_required
@require_GET
def public_key(request: HttpRequest, kid: str) -> HttpResponse:
    """The PEM public key for `kid`, as connect-install-keys.atlassian.com/<kid> serves it."""
    key = SigningKey.objects.filter(kid=kid).first()
    if key is None:
        return HttpResponse("Not Found", status=404, content_type="text/plain")
    return HttpResponse(key.public_pem, content_type="text/plain")


urlpatterns = [
    path("install", install_view, name="connect_install"),
    path("<int:pk>/uninstall", uninstall_view, name="connect_uninstall"),
    path("keys/<str:kid>", public_key, name="connect_keys"),
    path("<int:pk>/configure", configure_view, name="connect_configure"),
]
