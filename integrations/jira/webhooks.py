"""Jira's webhook deliveries on the wire (API-NOTES §2): checking their signatures and reading
their bodies. No models here: the intake view decides which secret applies and what to record.

Three ways a delivery proves where it comes from:
- admin webhooks with a secret: `X-Hub-Signature: <method>=<hex HMAC of the raw body>`; the
  method is read from the header (Atlassian may move on from sha256), never assumed;
- OAuth 2.0 dynamic webhooks: `Authorization: Bearer <JWT>` signed HS256 with the app's client
  secret; its claims are undocumented, so only the signature and `exp` (when present) count;
- Connect: a JWT signed with the installation's shared secret (checked in `jira/connect.py`).
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import json
import math
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# HMAC methods a signature may name: hashlib's names for the WebSub ones in use.
HUB_METHODS = {"sha256": "sha256", "sha384": "sha384", "sha512": "sha512", "sha1": "sha1"}
# Tolerance for the sender's clock on `exp`.
JWT_LEEWAY_S = 30


class SignatureError(Exception):
    """The delivery is not signed, or not by whom it claims (answered 401 and recorded)."""


def hub_signature_valid(secret: str, body: bytes, header: str | None) -> bool:
    """Whether `X-Hub-Signature` is the HMAC of `body` under `secret`, by the method the header
    names, compared in constant time."""
    if not secret or not header or "=" not in header:
        return False
    method, _, given = header.strip().partition("=")
    algorithm = HUB_METHODS.get(method.strip().lower())
    if algorithm is None:
        return False
    expected = hmac.new(secret.encode(), body, getattr(hashlib, algorithm)).hexdigest()
    # As bytes: headers arrive decoded as latin-1, and compare_digest refuses non-ASCII text.
    return hmac.compare_digest(expected.encode(), given.strip().lower().encode("utf-8", "replace"))


def bearer_claims(authorization: str | None, secret: str) -> dict[str, Any]:
    """The claims of an `Authorization: Bearer <JWT>` signed HS256 with `secret`; SignatureError
    when it is missing, forged or expired."""
    if not secret:
        raise SignatureError("no secret to check the signature with")
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() not in {"bearer", "jwt"} or not token.strip():
        raise SignatureError("no bearer token")
    return hs256_claims(token.strip(), secret)


# A JWT is three base64url segments without padding (RFC 7515 §2, §7.1).
_SEGMENT = re.compile(rb"[A-Za-z0-9_-]+")
# Larger than any token Jira sends (a few hundred bytes); bounds the work done before the HMAC.
TOKEN_MAX = 8192
# Claims that are times, in seconds since the epoch (RFC 7519 §4.1).
_TIME_CLAIMS = ("exp", "nbf", "iat")


_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
_DECODER = json.JSONDecoder()


def _segment(raw: bytes) -> bytes:
    """One segment decoded; only the canonical spelling of its bytes is accepted (no padding, no
    characters outside the alphabet, no stray bits), so a token has one signed form."""
    if len(raw) % 4 == 1 or not _SEGMENT.fullmatch(raw):
        raise SignatureError("invalid token")
    standard = raw.translate(_TO_STANDARD) + b"=" * (-len(raw) % 4)
    decoded = binascii.a2b_base64(standard)
    if binascii.b2a_base64(decoded, newline=False) != standard:
        raise SignatureError("invalid token")
    return decoded


def _object(data: bytes) -> dict[str, Any]:
    try:
        value = _DECODER.decode(data.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise SignatureError("invalid token") from exc
    if not isinstance(value, dict):
        raise SignatureError("invalid token")
    return value


def hs256_claims(
    token: str, secret: str, *, now: float | None = None, leeway: float = JWT_LEEWAY_S
) -> dict[str, Any]:
    """The claims of a compact JWT signed HS256 with `secret` (RFC 7519), checked as PyJWT's
    `decode(algorithms=["HS256"])` checks them, or more strictly; SignatureError otherwise.

    Written out rather than PyJWT because the OAuth intake verifies one per delivery, and PyJWT
    spends ~0.1 ms on each (a Python loop over every character, a try at loading the secret as
    a public key): a fifth of the intake's budget over a bare view. The algorithm is fixed here,
    never read from the token (the header must say HS256, or the token is refused); the HMAC
    covers the segments exactly as received and is compared in constant time; time claims must
    be numbers. `tests/integrations/jira/test_webhooks.py` holds it to PyJWT on a corpus of good,
    tampered and odd tokens."""
    raw = token.encode("ascii", "replace")
    if len(raw) > TOKEN_MAX or raw.count(b".") != 2:
        raise SignatureError("invalid token")
    header_segment, payload_segment, signature_segment = raw.split(b".")
    header = _object(_segment(header_segment))
    if header.get("alg") != "HS256" or "crit" in header or not isinstance(header.get("kid", ""), str):
        raise SignatureError("invalid token")  # no critical extension is understood here
    expected = hmac.new(
        secret.encode(), raw[: len(header_segment) + 1 + len(payload_segment)], hashlib.sha256
    )
    if not hmac.compare_digest(expected.digest(), _segment(signature_segment)):
        raise SignatureError("invalid token")
    claims = _object(_segment(payload_segment))
    moment = time.time() if now is None else now
    for name in _TIME_CLAIMS:
        if name not in claims:
            continue
        value = claims[name]
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise SignatureError("invalid token")
        if name == "exp" and int(value) <= moment - leeway:
            raise SignatureError("expired token")
        if name != "exp" and int(value) > moment + leeway:
            raise SignatureError("invalid token")  # not valid yet
    return claims


@dataclass(frozen=True)
class Delivery:
    """What a delivery's body says, read defensively: every attribute may be missing."""

    event: str
    timestamp_ms: int | None
    issue: dict[str, Any]
    comment: dict[str, Any]
    changelog: dict[str, Any]
    user: dict[str, Any]
    matched_webhook_ids: tuple[int, ...]

    @property
    def issue_id(self) -> str:
        return str(self.issue.get("id") or "")

    @property
    def actor_account_id(self) -> str:
        return str(self.user.get("accountId") or "")

    @property
    def self_url(self) -> str:
        value = self.issue.get("self") or self.comment.get("self") or ""
        return value if isinstance(value, str) else ""


class BodyError(ValueError):
    """The body is not a JSON object (answered 400: Jira does not retry it)."""


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400: a database's JSON column would refuse it
        raise ValueError("number out of range")
    return value


def _without_nul(value: Any) -> Any:
    # PostgreSQL cannot store U+0000 in text or jsonb; nothing Jira means by it is lost.
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    return value


# One decoder for every body (json.loads with hooks would build one per call).
_STRICT = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite)


def parse_object(body: bytes) -> dict[str, Any]:
    """A delivery's body as a JSON object (strict JSON: no NaN or Infinity, no U+0000);
    BodyError when it is not UTF-8, not JSON, nested too deep, or not an object."""
    try:
        text = body.decode("utf-8")
        data = _STRICT.decode(text) if text else None
        if isinstance(data, dict) and "\\u0000" in text:
            data = _without_nul(data)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # deep nesting: RecursionError
        raise BodyError("not JSON") from exc
    if not isinstance(data, dict):
        raise BodyError("not a JSON object")
    return data


def read_body(body: bytes) -> Delivery:
    """Parse a delivery's body; BodyError when it is not JSON or not an object."""
    return delivery_of(parse_object(body))


# What fits the BigIntegerField the timestamp is stored in (and any id Jira could give).
_INT_MAX = 2**63 - 1


def _whole(value: Any) -> int | None:
    """A non-negative whole number that fits 64 bits, from a JSON number or a string of ASCII
    digits; None for anything else (NaN, Infinity, booleans, "²", 1e400...)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        value = int(value) if math.isfinite(value) and value.is_integer() else None
    elif isinstance(value, str):
        text = value.strip()
        value = int(text) if text.isascii() and text.isdigit() and len(text) < 20 else None
    return value if isinstance(value, int) and 0 <= value <= _INT_MAX else None


def _event_name(value: Any) -> str:
    return "".join(c for c in value[:64] if c.isprintable()) if isinstance(value, str) else ""


def delivery_of(data: dict[str, Any]) -> Delivery:
    """A parsed body as a Delivery (anything of the wrong shape reads as missing)."""
    matched = data.get("matchedWebhookIds")
    ids: tuple[int, ...] = ()
    if isinstance(matched, list):
        ids = tuple(i for i in (_whole(m) for m in matched if not isinstance(m, float)) if i is not None)
    return Delivery(
        event=_event_name(data.get("webhookEvent")),
        timestamp_ms=_whole(data.get("timestamp")) if not isinstance(data.get("timestamp"), str) else None,
        issue=_dict(data.get("issue")),
        comment=_dict(data.get("comment")),
        changelog=_dict(data.get("changelog")),
        user=_dict(data.get("user")),
        matched_webhook_ids=ids,
    )


def jira_time_ms(value: Any) -> int:
    """Jira's `2026-11-28T10:00:00.123+0000` (or ISO with a colon) as epoch ms; 0 if unreadable."""
    if not isinstance(value, str) or not value:
        return 0
    text = value.strip()
    if len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit():
        text = f"{text[:-2]}:{text[-2:]}"
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return 0
    # Jira always gives a zone; without one, UTC (never the server's own zone).
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp() * 1000)
