"""The endpoints Jira delivers webhooks to, one per way of signing (API-NOTES §2).

Each answers fast: check the signature, record the delivery, queue it; the sync work happens in
the worker. A missing, forged or expired signature is a 401 (and recorded); a body that is not
a JSON object a 400; an event we do not handle a 202 that says so. Never a 500 for what Jira
sends: Jira would retry it for half an hour. The one 5xx is a 503 when the queue cannot be
reached: the delivery is recorded, and Jira's retry (a duplicate) queues it again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from . import intake, services
from .jira.webhooks import (
    BodyError,
    Delivery,
    SignatureError,
    bearer_claims,
    delivery_of,
    hub_signature_valid,
    parse_object,
)
from .models import JiraConnection

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Verified:
    """Who a delivery comes from: the site (the dedupe key's first half) and its connections."""

    site: str
    connection_ids: list[int]


def _verify_oauth(request: HttpRequest, body: bytes, delivery: Delivery) -> Verified:
    claims = bearer_claims(request.META.get("HTTP_AUTHORIZATION"), settings.ATLASSIAN_OAUTH_CLIENT_SECRET)
    hooks = intake.connections_for_dynamic(delivery)
    site = hooks[0].site if hooks else str(claims.get("iss") or "oauth")
    return Verified(site, [h.connection_id for h in hooks])


def _verify_connection(request: HttpRequest, body: bytes, delivery: Delivery, connection_id: int) -> Verified:
    header = request.META.get("HTTP_X_HUB_SIGNATURE")
    for fresh in (False, True):
        found = intake.webhook_secret(connection_id, fresh=fresh)
        if found is None:
            raise SignatureError("no such connection")
        if hub_signature_valid(found[0], body, header):
            return Verified(found[1], [connection_id])
    raise SignatureError("X-Hub-Signature missing or wrong")


def _verify_connect(request: HttpRequest, body: bytes, delivery: Delivery) -> Verified:
    try:
        installation = services.connect_verify_request(
            authorization=request.headers.get("Authorization"),
            query_jwt=None,
            method="POST",
            path=request.path,
            query=request.GET,
            page=False,
        )
    except ValueError as exc:  # ConnectJwtError, or a path outside SITE_URL's
        raise SignatureError(str(exc) or "invalid Connect JWT") from exc
    connections = list(
        JiraConnection.objects.filter(connect_installation=installation, status=JiraConnection.Status.ACTIVE)
    )
    return Verified(installation.client_key, [c.pk for c in connections])


# X-Atlassian-Webhook-Retry is stored in a small integer column.
RETRY_MAX = 32767


def _retry_of(header: str | None) -> int:
    text = (header or "").strip()
    return min(int(text), RETRY_MAX) if text.isascii() and text.isdigit() and len(text) < 12 else 0


def _receive(
    request: HttpRequest, kind: str, verify: Callable[[HttpRequest, bytes, Delivery], Verified]
) -> HttpResponse:
    body = request.body
    # Headers are read from META, not request.headers: building that mapping of every header
    # costs the intake more than the few it reads.
    meta = request.META
    try:
        data: dict[str, Any] | None = parse_object(body)
    except BodyError:
        data = None
    delivery = delivery_of(data) if data is not None else None
    try:
        # The signature first: an unsigned caller learns nothing about the body's fate.
        verified = verify(request, body, delivery or delivery_of({}))
    except SignatureError as exc:
        intake.delivery_reject(kind=kind, site=request.path, reason=str(exc))
        return JsonResponse({"error": "The request is not signed by Jira for Bugbridge."}, status=401)
    if delivery is None:
        return JsonResponse({"error": "The body is not a JSON object."}, status=400)
    try:
        row = intake.delivery_record(
            kind=kind,
            site=verified.site,
            identifier=intake.identifier_of(meta.get("HTTP_X_ATLASSIAN_WEBHOOK_IDENTIFIER"), body),
            retry=_retry_of(meta.get("HTTP_X_ATLASSIAN_WEBHOOK_RETRY")),
            delivery=delivery,
            payload=data,
            connection_ids=verified.connection_ids,
        )
    except intake.EnqueueFailed:
        # Recorded but not queued: Jira retries a 503, and its retry queues the row again.
        return JsonResponse({"error": "Try again later."}, status=503)
    if row is None:
        return JsonResponse({"status": "duplicate"}, status=200)
    return JsonResponse({"status": row.outcome}, status=202)


@csrf_exempt
@login_not_required
@require_POST
def webhook_oauth(request: HttpRequest) -> HttpResponse:
    """Dynamic webhooks registered by OAuth 2.0 connections (the app's one callback URL)."""
    return _receive(request, "dynamic", _verify_oauth)


@csrf_exempt
@login_not_required
@require_POST
def webhook_connection(request: HttpRequest, connection_id: int) -> HttpResponse:
    """The admin webhook a Basic, scoped-token or service-account connection registered."""
    return _receive(request, "admin", lambda r, b, d: _verify_connection(r, b, d, connection_id))


@csrf_exempt
@login_not_required
@require_POST
def webhook_connect(request: HttpRequest) -> HttpResponse:
    """The Connect add-on's descriptor webhooks, signed with the installation's shared secret."""
    return _receive(request, "connect", _verify_connect)
