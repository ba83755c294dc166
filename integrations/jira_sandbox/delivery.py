"""Sending webhook deliveries as Jira Cloud does (API-NOTES §2.3): after the causing call has
answered, signed per registration kind, retried with backoff, shaped by the site's knobs.

When: `schedule(ids)` (called by events.record inside the mutation's transaction) waits for the
commit; inside a request the ids then wait for Django's `request_finished` (sent once the
response has been written), outside one they go at once. Going = the Celery task
`tasks.deliver(ids)` with `countdown = knobs.webhook_delay_s`.

How: `deliver_batch(ids)` claims each PENDING, due row (a lease on `next_attempt_at`, so a task
run twice never sends one attempt twice), POSTs the stored bytes with Jira's headers and the
kind's signature, then marks it DELIVERED, FAILED, or schedules the next retry.

For FAILED rows `next_attempt_at` keeps the moment delivery gave up (no attempt follows);
`GET /webhook/failed` reports it as `failureTime`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jwt
import requests
from django.conf import settings
from django.core.signals import request_finished, request_started
from django.db import transaction
from django.utils import timezone

from .jwt_qsh import qsh
from .knobs import Knobs, rng_for
from .models import Delivery, Site, Webhook

logger = logging.getLogger(__name__)

# Jira's retry policy (API-NOTES §2.3): these answers, connection failures and timeouts are retried.
RETRY_STATUSES = frozenset({408, 409, 425, 429})
# Five retries after the first attempt; JIRA_SANDBOX_WEBHOOK_BACKOFF (seconds) overrides, e.g. for tests.
BACKOFF_S: tuple[float, ...] = (10, 30, 60, 120, 300)
CONNECT_TIMEOUT_S = 5
READ_TIMEOUT_S = 20
# A claimed attempt owns the row this long (longer than one attempt plus a duplicate can take).
CLAIM_LEASE_S = 2 * (CONNECT_TIMEOUT_S + READ_TIMEOUT_S) + 10
# A worker may start a countdown task a moment before the row's time.
DUE_SLACK_S = 1.0
# The sweeper leaves rows alone this long past their time: their own task is probably on its way.
STRAGGLER_GRACE_S = 300
JWT_LIFETIME_S = 180
USER_AGENT = "Atlassian Webhook HTTP Client"


def backoff_schedule() -> tuple[float, ...]:
    """Seconds to wait before retry 1, 2, …; its length is the number of retries."""
    return tuple(getattr(settings, "JIRA_SANDBOX_WEBHOOK_BACKOFF", BACKOFF_S))


# ---------------------------------------------------------------------------------------------
# When: after commit, after the response
# ---------------------------------------------------------------------------------------------

# The ids committed during the current request (None outside a request or `collecting()`).
_pending: ContextVar[list[int] | None] = ContextVar("jira_sandbox_pending_deliveries", default=None)


def schedule(ids: list[int]) -> None:
    """Send these deliveries once the current transaction commits (never if it rolls back)."""
    if ids:
        transaction.on_commit(partial(_committed, list(ids)))


def _committed(ids: list[int]) -> None:
    pending = _pending.get()
    if pending is None:
        enqueue(ids)
    else:
        pending.extend(ids)


def _request_started(**_: Any) -> None:
    _pending.set([])


def _request_finished(**_: Any) -> None:
    ids = _pending.get()
    _pending.set(None)
    if ids:
        enqueue(ids)


@contextmanager
def collecting() -> Iterator[None]:
    """Hold deliveries committed inside the block and send them as one batch at its end, as a
    request does (for scripts and tests acting outside a request)."""
    token = _pending.set([])
    try:
        yield
    finally:
        ids = _pending.get() or []
        _pending.reset(token)
        if ids:
            enqueue(ids)


def connect_signals() -> None:
    """Called from the app's ready(): track requests so deliveries wait for their response."""
    request_started.connect(_request_started, dispatch_uid="jira_sandbox.delivery.started")
    request_finished.connect(_request_finished, dispatch_uid="jira_sandbox.delivery.finished")


def enqueue(ids: list[int]) -> None:
    """Hand the deliveries to Celery, one task per site (each site has its own delay knob).

    A broker failure must not break the response being closed: the rows stay PENDING and the
    sweeper (`tasks.deliver_due`) sends them later."""
    from .tasks import deliver

    by_site: dict[int, list[int]] = {}
    for pk, site_id in Delivery.objects.filter(pk__in=ids).values_list("pk", "site_id"):
        by_site.setdefault(site_id, []).append(pk)
    order = {pk: position for position, pk in enumerate(ids)}
    for site_id, site_ids in by_site.items():
        site_ids.sort(key=order.__getitem__)
        delay = _knobs_of_site(site_id).webhook_delay_s
        try:
            deliver.apply_async(args=[site_ids], countdown=delay if delay > 0 else None)
        except Exception:
            logger.exception("jira_sandbox.webhook.enqueue_failed", extra={"count": len(site_ids)})


def _knobs_of_site(site_id: int) -> Knobs:
    return Knobs.of(Site.objects.get(pk=site_id))


# ---------------------------------------------------------------------------------------------
# How: one batch, one attempt
# ---------------------------------------------------------------------------------------------


def deliver_batch(ids: list[int]) -> int:
    """Attempt every given delivery that is PENDING and due; returns how many were delivered.

    Idempotent: a delivered, failed or dropped row is never sent again, and a row another task
    has claimed is skipped. With the reorder knob each site's batch goes in a shuffled order."""
    rows = {
        row.pk: row
        for row in Delivery.objects.filter(pk__in=ids, state=Delivery.State.PENDING).select_related(
            "site", "webhook", "webhook__site", "webhook__app", "webhook__connect_install"
        )
    }
    ordered = [rows[pk] for pk in dict.fromkeys(ids) if pk in rows]
    knobs_by_site = {row.site_id: Knobs.of(row.site) for row in ordered}
    for site_id, knobs in knobs_by_site.items():
        if knobs.webhook_reorder:
            positions = [i for i, row in enumerate(ordered) if row.site_id == site_id]
            mine = [ordered[i] for i in positions]
            rng_for(knobs).shuffle(mine)
            for i, row in zip(positions, mine, strict=True):
                ordered[i] = row
    return sum(attempt(row, knobs_by_site[row.site_id]) for row in ordered)


def _claim(row: Delivery) -> bool:
    now = timezone.now()
    claimed = Delivery.objects.filter(
        pk=row.pk,
        state=Delivery.State.PENDING,
        next_attempt_at__lte=now + timedelta(seconds=DUE_SLACK_S),
    ).update(next_attempt_at=now + timedelta(seconds=CLAIM_LEASE_S))
    return claimed == 1


def attempt(row: Delivery, knobs: Knobs) -> bool:
    """One attempt (plus a knob-made duplicate); True when it was delivered."""
    if not _claim(row):
        return False
    if not knobs.webhooks_enabled:
        return _finish(row, Delivery.State.DROPPED, error="Webhook delivery is switched off for the site.")
    if row.attempts == 0 and knobs.webhook_drop_rate and rng_for(knobs).random() < knobs.webhook_drop_rate:
        return _finish(row, Delivery.State.DROPPED, error="Dropped by the webhook_drop_rate knob.")
    if row.webhook is None:
        return _finish(row, Delivery.State.FAILED, error="The webhook was deleted before delivery.")
    outcome = send(row)
    row.attempts += 1
    row.last_status = outcome.status
    row.last_error = outcome.error
    if outcome.ok:
        if knobs.webhook_duplicate_rate and rng_for(knobs).random() < knobs.webhook_duplicate_rate:
            # Jira may deliver twice; the copy is the same delivery (same identifier and headers).
            send(row, retry=row.attempts - 1)
            row.duplicates += 1
        return _finish(row, Delivery.State.DELIVERED)
    if outcome.retryable and row.attempts <= len(backoff_schedule()):
        _retry_later(row)
        return False
    return _finish(row, Delivery.State.FAILED, error=outcome.error)


def _retry_later(row: Delivery) -> None:
    from .tasks import deliver

    wait = backoff_schedule()[row.attempts - 1]
    row.next_attempt_at = timezone.now() + timedelta(seconds=wait)
    row.save(update_fields=["attempts", "last_status", "last_error", "duplicates", "next_attempt_at"])
    logger.info(
        "jira_sandbox.webhook.retry_scheduled",
        extra={"identifier": row.identifier, "attempts": row.attempts, "wait_s": wait},
    )
    try:
        deliver.apply_async(args=[[row.pk]], countdown=wait if wait > 0 else None)
    except Exception:
        logger.exception("jira_sandbox.webhook.enqueue_failed", extra={"count": 1})


def _finish(row: Delivery, state: str, *, error: str = "") -> bool:
    now = timezone.now()
    row.state = state
    row.last_error = error[:255]
    row.next_attempt_at = now  # for FAILED: the failure time (see the module docstring)
    if state == Delivery.State.DELIVERED:
        row.delivered_at = now
    row.save(
        update_fields=[
            "state",
            "attempts",
            "duplicates",
            "last_status",
            "last_error",
            "next_attempt_at",
            "delivered_at",
        ]
    )
    logger.info(
        "jira_sandbox.webhook.finished",
        extra={
            "identifier": row.identifier,
            "state": state,
            "attempts": row.attempts,
            "status": row.last_status,
        },
    )
    return state == Delivery.State.DELIVERED


@dataclass(frozen=True)
class Outcome:
    """What one POST came to: the status (None when no answer came) and whether Jira retries it."""

    status: int | None
    error: str = ""
    retryable: bool = False

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def _answer(status: int) -> Outcome:
    if 200 <= status < 300:
        return Outcome(status)
    return Outcome(status, f"HTTP {status}", status in RETRY_STATUSES or 500 <= status < 600)


def send(row: Delivery, *, retry: int | None = None) -> Outcome:
    """POST the stored body once, byte for byte as signed.

    `retry` is the X-Atlassian-Webhook-Retry value; by default the row's attempts so far (the
    header is absent on the first attempt). Errors name the exception class only: a message could
    carry the URL's credentials."""
    retry = row.attempts if retry is None else retry
    body = row.payload.encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Atlassian-Webhook-Identifier": row.identifier,
        "X-Atlassian-Webhook-Flow": row.flow,
        **({"X-Atlassian-Webhook-Retry": str(retry)} if retry else {}),
        **(sign(row.webhook, row.url, body) if row.webhook is not None else {}),
    }
    try:
        response = requests.post(
            row.url,
            data=body,
            headers=headers,
            timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S),
            allow_redirects=False,
        )
    except (requests.ConnectionError, requests.Timeout) as exc:
        return Outcome(None, type(exc).__name__, retryable=True)
    except requests.RequestException as exc:  # a malformed URL and the like: retrying cannot help
        return Outcome(None, type(exc).__name__)
    response.close()
    return _answer(response.status_code)


# ---------------------------------------------------------------------------------------------
# Signing, per registration kind
# ---------------------------------------------------------------------------------------------


def hub_signature(secret: str, body: bytes) -> str:
    """Admin webhooks: `sha256=<hex HMAC-SHA256 of the raw body>` (WebSub's X-Hub-Signature)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _path_and_query(url: str, base_url: str = "") -> tuple[str, list[tuple[str, str]]]:
    parts = urlsplit(url)
    path = parts.path or "/"
    base_path = urlsplit(base_url).path.rstrip("/") if base_url else ""
    if base_path and (path == base_path or path.startswith(base_path + "/")):
        path = path[len(base_path) :] or "/"
    return path, parse_qsl(parts.query, keep_blank_values=True)


def _claims(iss: str, url: str, base_url: str = "") -> dict[str, Any]:
    now = int(time.time())
    path, query = _path_and_query(url, base_url)
    return {"iss": iss, "iat": now, "exp": now + JWT_LIFETIME_S, "qsh": qsh("POST", path, query)}


def _sign_dynamic(hook: Webhook, url: str, body: bytes) -> dict[str, str]:
    # 3LO: a bearer JWT verifiable with the app's client secret. Atlassian does not document the
    # claims (API-NOTES §13.5); the sandbox sends iss "jira:<cloudId>", iat, exp (+180 s) and a
    # qsh of the target path, and no `aud`, so a receiver checking signature + exp only succeeds.
    if hook.app is None:
        return {}
    token = jwt.encode(_claims(f"jira:{hook.site.cloud_id}", url), hook.app.client_secret, algorithm="HS256")
    return {"Authorization": f"Bearer {token}"}


def _sign_admin(hook: Webhook, url: str, body: bytes) -> dict[str, str]:
    return {"X-Hub-Signature": hub_signature(hook.secret, body)} if hook.secret else {}


def _sign_connect(hook: Webhook, url: str, body: bytes) -> dict[str, str]:
    # Connect: HS256 with the install's shared secret, iss = clientKey, qsh of the app-relative path.
    install = hook.connect_install
    if install is None:
        return {}
    token = jwt.encode(
        _claims(install.client_key, url, install.base_url), install.shared_secret, algorithm="HS256"
    )
    return {"Authorization": f"JWT {token}"}


SIGNERS: dict[str, Callable[[Webhook, str, bytes], dict[str, str]]] = {
    Webhook.Kind.DYNAMIC: _sign_dynamic,
    Webhook.Kind.ADMIN: _sign_admin,
    Webhook.Kind.CONNECT: _sign_connect,
}


def sign(hook: Webhook, url: str, body: bytes) -> dict[str, str]:
    """The authentication headers Jira adds for this registration's kind."""
    return SIGNERS[hook.kind](hook, url, body)


# ---------------------------------------------------------------------------------------------
# Stragglers
# ---------------------------------------------------------------------------------------------


def due_stragglers(now: Any = None) -> list[int]:
    """PENDING rows well past their time (a lost task, a broker that was down, an eager run that
    skipped a not-yet-due retry): the ids the periodic sweeper sends."""
    now = now or timezone.now()
    rows = Delivery.objects.filter(
        state=Delivery.State.PENDING, next_attempt_at__lte=now - timedelta(seconds=STRAGGLER_GRACE_S)
    ).select_related("site")[:500]
    late = []
    for row in rows:
        delay = Knobs.of(row.site).webhook_delay_s
        if row.next_attempt_at <= now - timedelta(seconds=STRAGGLER_GRACE_S + delay):
            late.append(row.pk)
    return late
