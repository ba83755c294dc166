"""Every sandbox REST call goes through one pipeline, in Jira Cloud's order:

site → knobs (latency, burst limit, injected 5xx) → credentials → scopes → the handler, in one
transaction unless it only reads (GET, or `Route(atomic=False)`) → knobs again (drop the answer
after committing) → headers (X-AAccountId) → log.

Endpoints are data: `endpoint({"GET": Route(handler, scopes=READ), ...}, name=...)` builds the
view; the same view serves the site URL and the gateway (the `mode` URL kwarg says which).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from . import auth, hotpath, metacache
from .knobs import Knobs, bucket_take, rng_for
from .models import Site, SiteAccess
from .responses import ApiError, bad_request, error_collection, gateway_error, jira_json

logger = logging.getLogger(__name__)

READ = ("read:jira-work",)
WRITE = ("write:jira-work",)
USER = ("read:jira-user",)
WEBHOOK = ("read:jira-work", "manage:jira-webhook")
CONFIG = ("manage:jira-configuration",)

# Connect apps declare coarse scopes in their descriptor; Jira checks them by HTTP method.
CONNECT_SCOPE = {"GET": "READ", "POST": "WRITE", "PUT": "WRITE", "DELETE": "DELETE"}
CONNECT_IMPLIED = {"READ": {"READ"}, "WRITE": {"READ", "WRITE"}, "DELETE": {"READ", "WRITE", "DELETE"}}


@dataclass(frozen=True)
class Route:
    handler: Callable[..., Any]
    scopes: tuple[str, ...] = READ
    # Jira answers this call to anonymous callers (an empty result, not a 401).
    anonymous: bool = False
    # Site administrators only (403 otherwise).
    admin: bool = False
    # False for read-only calls sent as POST (search): no transaction, which on SQLite would take
    # the database's write lock (IMMEDIATE) for the whole call. GET calls never get one.
    atomic: bool = True


@dataclass
class Ctx:
    """What a handler gets: the request, the site, the caller and helpers to read the input."""

    request: HttpRequest
    site: Site
    identity: auth.Identity
    mode: str  # "site" or "gateway"
    base: str  # URL up to /rest/api/3, for self links
    knobs: Knobs
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def account(self) -> Any:
        return self.identity.account

    def body(self) -> Any:
        """The JSON body, or Jira's 400 for a body that is not JSON."""
        try:
            return json.loads(self.request.body or b"null")
        except (ValueError, UnicodeDecodeError) as exc:
            raise bad_request(["Unexpected character in the request body: it is not valid JSON."]) from exc

    def body_object(self) -> dict[str, Any]:
        data = self.body()
        if not isinstance(data, dict):
            raise bad_request(["The request body must be a JSON object."])
        return data

    def query_int(self, name: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
        raw = self.request.GET.get(name)
        if raw in (None, ""):
            return default
        try:
            value = int(raw)
        except ValueError as exc:
            raise bad_request([f"The value '{raw}' is invalid for the parameter '{name}'."]) from exc
        if value < minimum:
            raise bad_request([f"The parameter '{name}' must not be less than {minimum}."])
        return min(value, maximum) if maximum is not None else value

    def query_list(self, name: str) -> list[str]:
        return [v for raw in self.request.GET.getlist(name) for v in raw.split(",") if v]


def site_base(request: HttpRequest, site: Site) -> str:
    return request.build_absolute_uri(f"{settings.JIRA_SANDBOX_PREFIX}/site/{site.name}").rstrip("/")


def gateway_base(request: HttpRequest, site: Site) -> str:
    return request.build_absolute_uri(f"{settings.JIRA_SANDBOX_PREFIX}/api/ex/jira/{site.cloud_id}").rstrip(
        "/"
    )


def _resolve_site(mode: str, kwargs: dict[str, Any]) -> Site:
    if mode == "gateway":
        site = hotpath.site_by("cloud_id", kwargs.pop("cloud_id", ""))
        if site is None:
            raise ApiError(gateway_error(404, "Not Found"))
        return site
    site = hotpath.site_by("name", kwargs.pop("site_name", ""))
    if site is None:
        raise ApiError(error_collection(404, ["Site not found."]))
    return site


def _check_scopes(route: Route, identity: auth.Identity, method: str, site: Site) -> None:
    if identity.scopes is not None and not set(route.scopes) <= identity.scopes:
        raise ApiError(gateway_error(401, "Unauthorized; scope does not match"))
    if identity.connect_install is not None:
        declared = {str(s).upper() for s in identity.connect_install.descriptor.get("scopes", ["READ"])}
        allowed = set().union(*(CONNECT_IMPLIED.get(s, {s}) for s in declared))
        if CONNECT_SCOPE.get(method, "READ") not in allowed:
            raise ApiError(error_collection(403, ["The app does not have the scope this operation needs."]))
    if (
        route.admin
        and identity.account is not None
        and not SiteAccess.objects.filter(site=site, account=identity.account, is_admin=True).exists()
    ):
        raise ApiError(error_collection(403, ["Only Jira administrators can do this."]))


def _limit(site: Site, knobs: Knobs, name: str, method: str, headers: dict[str, str]) -> None:
    result = bucket_take(site=site, knobs=knobs, endpoint=name, method=method)
    headers["X-RateLimit-Limit"] = str(result.limit)
    headers["X-RateLimit-Remaining"] = str(result.remaining)
    if not result.allowed:
        reset = datetime.fromtimestamp(result.reset_epoch, tz=UTC)
        raise ApiError(
            jira_json(
                {"errorMessages": ["Rate limit exceeded."], "errors": {}},
                status=429,
                headers={
                    **headers,
                    "Retry-After": str(result.retry_after),
                    "RateLimit-Reason": "jira-burst-based",
                    "X-RateLimit-Reset": reset.strftime("%Y-%m-%dT%H:%M:%SZ"),
                },
            )
        )


def _inject_failure(knobs: Knobs) -> None:
    rng = rng_for(knobs)
    if knobs.error_rate and rng.random() < knobs.error_rate:
        if rng.random() < 0.5:
            raise ApiError(
                jira_json(
                    {"errorMessages": ["Service unavailable."], "errors": {}}, 503, {"Retry-After": "1"}
                )
            )
        raise ApiError(error_collection(500, ["Internal server error."]))


def _drop(knobs: Knobs) -> HttpResponse | None:
    """The work is committed; the caller never learns it (a 502 from the edge, or a hung socket:
    `_hang` holds it, after the commit)."""
    if not knobs.drop_rate or rng_for(knobs).random() >= knobs.drop_rate:
        return None
    if knobs.drop_mode == "timeout":
        return HttpResponse("Gateway Timeout", status=504, content_type="text/plain")
    return HttpResponse(
        "<html><body><h1>502 Bad Gateway</h1></body></html>", status=502, content_type="text/html"
    )


def _hang(knobs: Knobs, dropped: HttpResponse) -> HttpResponse:
    if dropped.status_code == 504:
        time.sleep(knobs.drop_timeout_s)
    return dropped


def _drop_note(dropped: HttpResponse | None, response: HttpResponse) -> str:
    return f"dropped after commit (real answer {response.status_code})" if dropped is not None else ""


def endpoint(routes: dict[str, Route], *, name: str) -> Callable[..., HttpResponse]:
    """Build the view for one REST path. `name` is the path template, used for the burst buckets."""

    @csrf_exempt
    @login_not_required
    def view(request: HttpRequest, mode: str, **kwargs: Any) -> HttpResponse:
        try:
            return _serve(request, mode, kwargs)
        finally:
            metacache.bind(None)

    def _serve(request: HttpRequest, mode: str, kwargs: dict[str, Any]) -> HttpResponse:
        started = time.monotonic()
        site: Site | None = None
        identity = auth.ANONYMOUS
        headers: dict[str, str] = {}
        logged = False
        try:
            site = _resolve_site(mode, kwargs)
            metacache.bind(site)
            route = routes.get(request.method or "GET")
            if route is None:
                raise ApiError(error_collection(405, [f"Method {request.method} is not allowed here."]))
            knobs = Knobs.of(site)
            if knobs.latency_ms:
                time.sleep(knobs.latency_ms / 1000)
            if knobs.rate_limit:
                _limit(site, knobs, name, request.method or "GET", headers)
            _inject_failure(knobs)
            if mode == "gateway":
                identity = auth.authenticate_gateway(request, site)
                base = gateway_base(request, site)
            else:
                context = f"{settings.JIRA_SANDBOX_PREFIX}/site/{site.name}"
                identity = auth.authenticate_site(
                    request,
                    site,
                    context_path=context,
                    anonymous_ok=route.anonymous and knobs.anonymous_fallback,
                )
                base = site_base(request, site)
            if identity.anonymous and not route.anonymous:
                raise ApiError(
                    error_collection(
                        401, ["You are not authenticated. Authentication required to perform this operation."]
                    )
                )
            _check_scopes(route, identity, request.method or "GET", site)
            ctx = Ctx(
                request=request,
                site=site,
                identity=identity,
                mode=mode,
                base=base,
                knobs=knobs,
                headers=headers,
            )
            if route.atomic and request.method != "GET":
                with transaction.atomic():
                    response = _as_response(route.handler(ctx, **kwargs))
                    dropped = _drop(knobs)
                    # The log row joins the call's transaction: one write (on SQLite, one turn
                    # of the database's write lock) per call instead of two.
                    _log(site, request, dropped or response, identity, started, _drop_note(dropped, response))
                logged = True
            else:
                response = _as_response(route.handler(ctx, **kwargs))
                dropped = _drop(knobs) if request.method != "GET" else None
            if dropped is not None:
                if not logged:
                    _log(site, request, dropped, identity, started, _drop_note(dropped, response))
                return _hang(knobs, dropped)
        except ApiError as exc:
            response = exc.response
        for header, value in headers.items():
            response.setdefault(header, value)
        if identity.account is not None:
            response["X-AAccountId"] = identity.account.account_id
        if "AUTHENTICATED_FAILED" in identity.notes:
            response["X-Seraph-LoginReason"] = "AUTHENTICATED_FAILED"
        if not logged:
            _log(site, request, response, identity, started)
        return response

    view.routes = routes  # type: ignore[attr-defined]
    return view


def _as_response(result: Any) -> HttpResponse:
    return result if isinstance(result, HttpResponse) else jira_json(result)


def _log(
    site: Site | None,
    request: HttpRequest,
    response: HttpResponse,
    identity: auth.Identity,
    started: float,
    note: str = "",
) -> None:
    hotpath.log_request(
        site=site,
        method=request.method or "GET",
        path=request.get_full_path()[:500],
        status=response.status_code,
        auth=identity.kind,
        account_id=identity.account.account_id if identity.account else "",
        duration_ms=int((time.monotonic() - started) * 1000),
        note=note[:255],
        created=timezone.now(),
    )
