"""The webhook wire (integrations/jira/webhooks.py, API-NOTES §2): X-Hub-Signature by the method
its prefix names, the OAuth 2.0 bearer JWT, reading bodies defensively, and Jira's timestamps.
Pure functions: no HTTP, no database."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import string
import time
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest

from integrations.jira.webhooks import (
    JWT_LEEWAY_S,
    BodyError,
    SignatureError,
    bearer_claims,
    delivery_of,
    hs256_claims,
    hub_signature_valid,
    jira_time_ms,
    parse_object,
    read_body,
)

# Atlassian's test vector (WHDOC, API-NOTES §2.2).
VECTOR_SECRET = "It's a Secret to Everybody"
VECTOR_BODY = b"Hello World!"
VECTOR_SIGNATURE = "sha256=a4771c39fbe90f317c7824e83ddef3caae9cb3d976c214ace1f2937e133263c9"

SECRET = "ATOA-client-secret-of-the-3lo-app-" + "0123456789abcdef" * 2
BODY = b'{"webhookEvent":"jira:issue_updated","timestamp":1606480436302}'


def _hub(method: str, secret: str, body: bytes) -> str:
    return f"{method}=" + hmac.new(secret.encode(), body, getattr(hashlib, method)).hexdigest()


def _token(secret: str = SECRET, algorithm: str = "HS256", **claims: Any) -> str:
    now = int(time.time())
    payload = {"iss": "jira:1b7e3a52-cloud", "iat": now, "exp": now + 180, **claims}
    return jwt.encode({k: v for k, v in payload.items() if v is not None}, secret, algorithm=algorithm)


# ---------------------------------------------------------------------------------------------
# X-Hub-Signature
# ---------------------------------------------------------------------------------------------


def test_atlassian_s_test_vector_verifies() -> None:
    assert hub_signature_valid(VECTOR_SECRET, VECTOR_BODY, VECTOR_SIGNATURE)
    assert hub_signature_valid(VECTOR_SECRET, VECTOR_BODY, VECTOR_SIGNATURE.upper().replace("SHA", "sha"))


def test_the_vector_with_another_secret_or_body_does_not() -> None:
    assert not hub_signature_valid("It's a secret to everybody", VECTOR_BODY, VECTOR_SIGNATURE)
    assert not hub_signature_valid(VECTOR_SECRET, b"Hello World?", VECTOR_SIGNATURE)
    assert not hub_signature_valid(VECTOR_SECRET, VECTOR_BODY + b"\n", VECTOR_SIGNATURE)


def test_the_method_is_read_from_the_prefix() -> None:
    assert hub_signature_valid(SECRET, BODY, _hub("sha512", SECRET, BODY))
    assert hub_signature_valid(SECRET, BODY, _hub("sha384", SECRET, BODY))
    # The sha256 digest under a sha512 label (and the other way round) is not a signature.
    sha256_hex = _hub("sha256", SECRET, BODY).partition("=")[2]
    sha512_hex = _hub("sha512", SECRET, BODY).partition("=")[2]
    assert not hub_signature_valid(SECRET, BODY, f"sha512={sha256_hex}")
    assert not hub_signature_valid(SECRET, BODY, f"sha256={sha512_hex}")


@pytest.mark.parametrize("method", ["md5", "sha3_256", "blake2b", "none", "", "sha256 "])
def test_a_method_we_do_not_know_is_refused(method: str) -> None:
    digest = hmac.new(SECRET.encode(), BODY, hashlib.md5).hexdigest()
    assert not hub_signature_valid(SECRET, BODY, f"{method}={digest}")
    if method in hashlib.algorithms_available:
        assert not hub_signature_valid(SECRET, BODY, _hub(method, SECRET, BODY))


def test_a_tampered_body_is_refused() -> None:
    signature = _hub("sha256", SECRET, BODY)
    assert hub_signature_valid(SECRET, BODY, signature)
    tampered = BODY.replace(b"issue_updated", b"issue_deleted")
    assert not hub_signature_valid(SECRET, tampered, signature)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "sha256",
        "sha256=",
        "=abc",
        "a4771c39fbe90f317c7824e83ddef3caae9cb3d976c214ace1f2937e133263c9",
    ],
)
def test_a_missing_or_shapeless_header_is_refused(header: str | None) -> None:
    assert not hub_signature_valid(VECTOR_SECRET, VECTOR_BODY, header)


def test_no_secret_verifies_nothing() -> None:
    assert not hub_signature_valid("", BODY, _hub("sha256", "", BODY))


@pytest.mark.parametrize("junk", ["sha256=é" * 8, "sha256=\u00ff" + "0" * 63, "sha256=０" * 64, "ſha256=00"])
def test_non_ascii_in_the_header_is_a_refusal_not_an_error(junk: str) -> None:
    # Headers arrive decoded as latin-1: a comparison of non-ASCII text must not raise.
    assert not hub_signature_valid(SECRET, BODY, junk)


# ---------------------------------------------------------------------------------------------
# Bearer JWT (OAuth 2.0 dynamic webhooks)
# ---------------------------------------------------------------------------------------------


def test_a_bearer_token_signed_with_the_client_secret_gives_its_claims() -> None:
    claims = bearer_claims(f"Bearer {_token()}", SECRET)
    assert claims["iss"] == "jira:1b7e3a52-cloud"
    # Claims are undocumented: a token with none but the signature (no exp) is still good.
    assert bearer_claims(f"Bearer {_token(iss=None, iat=None, exp=None)}", SECRET) == {}
    assert bearer_claims(f"bearer  {_token()}", SECRET)["iss"]


def test_a_token_with_an_audience_is_not_refused_for_it() -> None:
    assert bearer_claims(f"Bearer {_token(aud='somebody')}", SECRET)["aud"] == "somebody"


@pytest.mark.parametrize(
    ("authorization", "why"),
    [
        (None, "no bearer token"),
        ("", "no bearer token"),
        ("Bearer", "no bearer token"),
        ("Bearer   ", "no bearer token"),
        ("Basic YWxpY2U6c2VjcmV0", "no bearer token"),
        ("Bearer not.a.jwt", "invalid token"),
        ("Bearer \u00e9\u00e9\u00e9", "invalid token"),
    ],
)
def test_a_missing_or_malformed_token_is_refused(authorization: str | None, why: str) -> None:
    with pytest.raises(SignatureError, match=why):
        bearer_claims(authorization, SECRET)


def test_a_forged_token_is_refused() -> None:
    with pytest.raises(SignatureError, match="invalid token"):
        bearer_claims(f"Bearer {_token(secret='someone-else-s-secret-' + '0123456789abcdef' * 3)}", SECRET)
    # The signature of one token on another's claims.
    good, other = _token(), _token(iss="jira:another-site")
    spliced = ".".join([*other.split(".")[:2], good.split(".")[2]])
    with pytest.raises(SignatureError, match="invalid token"):
        bearer_claims(f"Bearer {spliced}", SECRET)


def test_only_hs256_is_accepted() -> None:
    unsigned = jwt.encode({"iss": "jira:x"}, None, algorithm="none")
    with pytest.raises(SignatureError):
        bearer_claims(f"Bearer {unsigned}", SECRET)
    with pytest.raises(SignatureError):
        bearer_claims(f"Bearer {_token(algorithm='HS512')}", SECRET)


def test_an_expired_token_is_refused_beyond_the_leeway() -> None:
    now = int(time.time())
    with pytest.raises(SignatureError, match="expired"):
        bearer_claims(f"Bearer {_token(iat=now - 600, exp=now - 120)}", SECRET)
    # A sender's clock a few seconds behind is tolerated.
    assert bearer_claims(f"Bearer {_token(iat=now - 200, exp=now - 5)}", SECRET)


def test_without_a_secret_nothing_verifies() -> None:
    with pytest.raises(SignatureError, match="no secret"):
        bearer_claims(f"Bearer {_token()}", "")


# ---------------------------------------------------------------------------------------------
# The HS256 check held to PyJWT's (hs256_claims is written out for speed: see its docstring)
# ---------------------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _signed(header: Any, claims: Any, secret: str = SECRET, *, raw_claims: str | None = None) -> str:
    """A token from any header and claims (PyJWT's encode would refuse the odd ones)."""
    head = _b64(json.dumps(header).encode())
    body = _b64((raw_claims if raw_claims is not None else json.dumps(claims)).encode())
    signature = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(signature)}"


def _pyjwt(token: str) -> dict[str, Any] | None:
    try:
        return jwt.decode(
            token,
            SECRET,
            algorithms=["HS256"],
            leeway=JWT_LEEWAY_S,
            options={"verify_aud": False, "require": []},
        )
    except jwt.PyJWTError:
        return None


def _ours(token: str) -> dict[str, Any] | None:
    try:
        return hs256_claims(token, SECRET)
    except SignatureError:
        return None


def _corpus() -> dict[str, str]:
    """Named tokens: good ones, ones with odd headers or claims, and damaged spellings. Times are
    a minute or more from every boundary, so the two checks never see different clocks."""
    now = int(time.time())
    hs = {"alg": "HS256", "typ": "JWT"}
    good = _token()
    head, body, signature = good.split(".")
    tokens = {
        "good": good,
        "no claims": _token(iss=None, iat=None, exp=None),
        "audience": _token(aud="someone"),
        "float exp": _signed(hs, {"exp": now + 600.5}),
        "exp just past, within leeway": _signed(hs, {"exp": now - 10}),
        "expired": _signed(hs, {"exp": now - 120}),
        "exp not a number": _signed(hs, {"exp": "soon"}),
        "exp null": _signed(hs, {"exp": None}),
        "exp NaN": _signed(hs, {}, raw_claims='{"exp": NaN}'),
        "exp list": _signed(hs, {"exp": [now + 600]}),
        "nbf future": _signed(hs, {"nbf": now + 600}),
        "nbf within leeway": _signed(hs, {"nbf": now + 10}),
        "iat future": _signed(hs, {"iat": now + 600}),
        "iat past": _signed(hs, {"iat": now - 6000}),
        "claims an array": _signed(hs, [1, 2]),
        "claims not JSON": _signed(hs, None, raw_claims="{nope"),
        "claims deeply nested": _signed(hs, None, raw_claims='{"a":' * 5000 + "1" + "}" * 5000),
        "alg none": _signed({"alg": "none"}, {"iss": "x"}),
        "alg HS512": _signed({"alg": "HS512"}, {"iss": "x"}),
        "alg RS256": _signed({"alg": "RS256"}, {"iss": "x"}),
        "alg lowercase": _signed({"alg": "hs256"}, {"iss": "x"}),
        "alg missing": _signed({"typ": "JWT"}, {"iss": "x"}),
        "header an array": _signed(["HS256"], {"iss": "x"}),
        "kid a string": _signed({**hs, "kid": "k1"}, {"iss": "x"}),
        "kid a number": _signed({**hs, "kid": 1}, {"iss": "x"}),
        "crit unknown": _signed({**hs, "crit": ["exp"]}, {"iss": "x"}),
        "b64 false": _signed({**hs, "b64": False, "crit": ["b64"]}, {"iss": "x"}),
        "spliced signature": ".".join([*_token(iss="jira:other").split(".")[:2], signature]),
        "wrong secret": _token(secret="another-secret-" + "0123456789abcdef" * 3),
        "two segments": f"{head}.{body}",
        "four segments": f"{good}.{signature}",
        "empty signature": f"{head}.{body}.",
        "empty payload": f"{head}..{signature}",
        "padded signature": good + "=" * (-len(signature) % 4 or 4),
        "stray bits": f"{head}.{body}.{signature[:-1]}{'B' if signature[-1] == 'A' else 'A'}",
        "standard alphabet": good.replace("-", "+").replace("_", "/"),
        "inner space": f"{head}.{body[:5]} {body[5:]}.{signature}",
        "non-ASCII": f"{head}.{body}\u00e9.{signature}",
        "huge": f"{head}.{'A' * 10_000}.{signature}",
    }
    return tokens


# Where we are stricter than PyJWT, on purpose: Jira's tokens never look like these.
STRICTER = {"padded signature"}


def test_hs256_agrees_with_pyjwt_on_good_odd_and_damaged_tokens() -> None:
    for name, token in _corpus().items():
        theirs, ours = _pyjwt(token), _ours(token)
        if name in STRICTER:
            assert ours is None, name
        else:
            assert ours == theirs, f"{name}: ours {ours!r}, PyJWT {theirs!r}"
    # The corpus has both answers in it (a corpus PyJWT refuses whole would prove nothing).
    verdicts = {name: _pyjwt(token) is not None for name, token in _corpus().items()}
    assert {"good", "audience", "float exp", "nbf within leeway", "kid a string"} <= {
        n for n, v in verdicts.items() if v
    }
    assert {"expired", "alg none", "wrong secret", "stray bits"} <= {n for n, v in verdicts.items() if not v}


def test_hs256_never_accepts_what_pyjwt_refuses_under_random_damage() -> None:
    """Random edits of good tokens: any we accept, PyJWT accepts, with the same claims."""
    rng = random.Random(20261129)
    alphabet = string.ascii_letters + string.digits + "-_.=+/ "
    accepted = 0
    for _ in range(3000):
        chars = list(_token(sub=str(rng.random())))
        for _ in range(rng.randint(1, 3)):
            position = rng.randrange(len(chars))
            edit = rng.choice(("replace", "insert", "delete"))
            if edit == "replace":
                chars[position] = rng.choice(alphabet)
            elif edit == "insert":
                chars.insert(position, rng.choice(alphabet))
            else:
                del chars[position]
        token = "".join(chars)
        ours = _ours(token)
        if ours is not None:
            accepted += 1
            assert _pyjwt(token) == ours, token
    # A few edits leave a token good (a character replaced by itself): not none, not most.
    assert accepted < 300


def test_hs256_reads_time_claims_against_the_clock_it_is_given() -> None:
    token = _signed({"alg": "HS256"}, {"exp": 1_000_000, "nbf": 900_000})
    assert hs256_claims(token, SECRET, now=950_000)["exp"] == 1_000_000
    assert hs256_claims(token, SECRET, now=1_000_000 + JWT_LEEWAY_S - 1)
    with pytest.raises(SignatureError, match="expired"):
        hs256_claims(token, SECRET, now=1_000_000 + JWT_LEEWAY_S)
    with pytest.raises(SignatureError, match="invalid"):
        hs256_claims(token, SECRET, now=900_000 - JWT_LEEWAY_S - 1)


# ---------------------------------------------------------------------------------------------
# Bodies
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b"not json",
        b'{"webhookEvent": "jira:issue_updated",}',
        b"[]",
        b'[{"webhookEvent": "jira:issue_updated"}]',
        b'"a string"',
        b"42",
        b"null",
        b"\xff\xfe{\x00}",
        '{"webhookEvent": "é"}'.encode("latin-1"),
        b"[" * 100_000,
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    ],
)
def test_a_body_that_is_not_a_json_object_is_a_body_error(body: bytes) -> None:
    with pytest.raises(BodyError):
        read_body(body)


def test_an_object_without_the_expected_fields_reads_as_missing() -> None:
    found = read_body(b"{}")
    assert found.event == "" and found.timestamp_ms is None
    assert (found.issue, found.comment, found.changelog, found.user) == ({}, {}, {}, {})
    assert found.matched_webhook_ids == () and found.issue_id == "" and found.self_url == ""
    assert found.actor_account_id == ""


def test_fields_of_the_wrong_shape_read_as_missing() -> None:
    found = read_body(
        json.dumps(
            {
                "webhookEvent": {"not": "a name"},
                "timestamp": "1606480436302",
                "issue": ["99291"],
                "comment": "hello",
                "changelog": 7,
                "user": None,
                "matchedWebhookIds": "1000",
            }
        ).encode()
    )
    assert found.event == "" and found.timestamp_ms is None
    assert (found.issue, found.comment, found.changelog, found.user) == ({}, {}, {}, {})
    assert found.matched_webhook_ids == ()


@pytest.mark.parametrize(
    "timestamp", ["true", "123456789012345678901234567890", "-5", "1.5", '"1606480436302"']
)
def test_a_timestamp_out_of_range_reads_as_missing(timestamp: str) -> None:
    found = read_body(f'{{"webhookEvent": "jira:issue_updated", "timestamp": {timestamp}}}'.encode())
    assert found.timestamp_ms is None


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"])
def test_numbers_json_does_not_have_are_a_body_error(value: str) -> None:
    # Python's json reads them; a JSON column (PostgreSQL's jsonb) would not store them.
    with pytest.raises(BodyError):
        read_body(f'{{"webhookEvent": "jira:issue_updated", "timestamp": {value}}}'.encode())


def test_nul_characters_are_replaced_wherever_they_are() -> None:
    data = parse_object(b'{"a\\u0000": ["x\\u0000y", {"k": "\\u0000"}], "literal": "\\\\u0000"}')
    assert data == {"a\ufffd": ["x\ufffdy", {"k": "\ufffd"}], "literal": "\\u0000"}
    assert parse_object(b'{"plain": "text"}') == {"plain": "text"}


def test_a_full_issue_updated_body() -> None:
    body = {
        "timestamp": 1606480436302,
        "webhookEvent": "jira:issue_updated",
        "issue_event_type_name": "issue_generic",
        "user": {"accountId": "712020:alice", "displayName": "Alice"},
        "issue": {
            "id": "99291",
            "key": "JRA-20002",
            "self": "https://acme.atlassian.net/rest/api/2/issue/99291",
        },
        "changelog": {"id": "10124", "items": [{"field": "status", "fieldId": "status"}]},
        "matchedWebhookIds": [1000, "1001", "x", None, True, "²", -3, 2.5],
    }
    found = read_body(json.dumps(body).encode())
    assert found.event == "jira:issue_updated" and found.timestamp_ms == 1606480436302
    assert found.issue_id == "99291" and found.actor_account_id == "712020:alice"
    assert found.self_url == "https://acme.atlassian.net/rest/api/2/issue/99291"
    assert found.changelog["id"] == "10124"
    # Only whole non-negative numbers count as ids ("²" is a digit to str.isdigit, not a number).
    assert found.matched_webhook_ids == (1000, 1001)


def test_a_comment_event_reads_its_comment_and_trimmed_issue() -> None:
    found = delivery_of(
        {
            "webhookEvent": "comment_created",
            "timestamp": 1.7e12,
            "comment": {"id": "10001", "self": "https://acme.atlassian.net/rest/api/2/issue/1/comment/10001"},
            "issue": {"id": "1", "key": "WEB-1"},
        }
    )
    assert found.event == "comment_created" and found.timestamp_ms == 1_700_000_000_000
    assert found.comment["id"] == "10001" and found.issue_id == "1"
    assert found.self_url.endswith("/comment/10001")  # the issue has no `self` here


def test_an_event_name_is_bounded_and_clean() -> None:
    assert len(delivery_of({"webhookEvent": "x" * 500}).event) == 64
    assert "\x00" not in delivery_of({"webhookEvent": "jira:issue_updated\x00"}).event


# ---------------------------------------------------------------------------------------------
# Jira's timestamps
# ---------------------------------------------------------------------------------------------

NOON_MS = int(datetime(2026, 11, 28, 10, 0, 0, 123_000, tzinfo=UTC).timestamp() * 1000)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-28T10:00:00.123+0000", NOON_MS),
        ("2026-11-28T10:00:00.123+00:00", NOON_MS),
        ("2026-11-28T10:00:00.123Z", NOON_MS),
        ("2026-11-28T05:00:00.123-0500", NOON_MS),
        ("2026-11-28T15:30:00.123+0530", NOON_MS),
        ("2026-11-28T10:00:00+0000", NOON_MS - 123),
        (" 2026-11-28T10:00:00.123+0000 ", NOON_MS),
        # No zone: Jira always gives one, so read it as UTC rather than the server's zone.
        ("2026-11-28T10:00:00.123", NOON_MS),
    ],
)
def test_jira_times_in_their_formats(text: str, expected: int) -> None:
    assert jira_time_ms(text) == expected


@pytest.mark.parametrize(
    "value", [None, "", "yesterday", "2026-13-40T99:00:00+0000", 1606480436302, {}, "+0000"]
)
def test_an_unreadable_time_is_zero(value: Any) -> None:
    assert jira_time_ms(value) == 0
