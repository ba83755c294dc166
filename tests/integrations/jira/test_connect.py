"""Atlassian Connect wire format (integrations/jira/connect.py) against API-NOTES §1e.

Expected canonical strings are written out by hand from the notes' rules, and hashes are taken
with hashlib on those literals, so a bug in connect.py cannot hide by agreeing with itself. The
sandbox's independent qsh is a second opinion (imported inside the test only).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.http import QueryDict

from integrations.jira.connect import (
    CONTEXT_QSH,
    ConnectJwtAuth,
    ConnectJwtError,
    InstallPayloadError,
    canonical_request,
    descriptor,
    extract_jwt,
    is_valid_kid,
    parse_install_payload,
    query_string_hash,
    relative_path,
    sign_request,
    verify_context_jwt,
    verify_install_jwt,
)

SECRET = "s3cr3t-shared-secret-of-a-decent-length-0123456789"
CLIENT_KEY = "jira:4c1f6a9e-1b2c-4d5e-8f90-a1b2c3d4e5f6"
APP_BASE = "https://bugbridge.example.com/connect"
NOW = 1_764_000_000


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- the worked example ------------------------------------------------------------------------


def test_worked_example_from_api_notes() -> None:
    # GET http://host/path/to/service?zee_last=param&repeated=parameter 1&first=param&repeated=parameter 2
    query = [
        ("zee_last", "param"),
        ("repeated", "parameter 1"),
        ("first", "param"),
        ("repeated", "parameter 2"),
    ]
    expected = "GET&/path/to/service&first=param&repeated=parameter%201,parameter%202&zee_last=param"
    assert canonical_request("GET", "/path/to/service", query) == expected
    # sha256sum of the literal above, computed outside Python.
    assert (
        query_string_hash("GET", "/path/to/service", query)
        == "e52bb281606c3bd9ca16cfe96fe2df78f5d9ffa126f06befd750dfa10fa1a897"
    )


# --- canonical request table -------------------------------------------------------------------

CASES: list[tuple[str, str, str, list[tuple[str, str]], str]] = [
    ("method upper-cased", "get", "/rest/api/3/issue", [], "GET&/rest/api/3/issue&"),
    ("empty path is root", "POST", "", [], "POST&/&"),
    ("root stays", "GET", "/", [], "GET&/&"),
    ("trailing slash dropped", "GET", "/a/b/", [], "GET&/a/b&"),
    ("only one trailing slash dropped", "GET", "/a//", [], "GET&/a/&"),
    ("leading slash added", "GET", "a/b", [], "GET&/a/b&"),
    ("ampersand in path", "GET", "/a&b", [], "GET&/a%26b&"),
    ("encoded path kept", "GET", "/a%20b", [], "GET&/a%20b&"),
    ("sorted by name", "GET", "/x", [("b", "2"), ("a", "1")], "GET&/x&a=1&b=2"),
    ("upper before lower", "GET", "/x", [("b", "1"), ("B", "2"), ("a", "3")], "GET&/x&B=2&a=3&b=1"),
    ("repeated values sorted", "GET", "/x", [("r", "b"), ("r", "a")], "GET&/x&r=a,b"),
    ("jwt excluded", "GET", "/x", [("jwt", "eyJ.x.y"), ("a", "1")], "GET&/x&a=1"),
    ("only jwt", "GET", "/x", [("jwt", "eyJ.x.y")], "GET&/x&"),
    ("space is %20", "GET", "/x", [("q", "a b")], "GET&/x&q=a%20b"),
    ("plus is encoded", "GET", "/x", [("q", "a+b")], "GET&/x&q=a%2Bb"),
    ("star is %2A", "GET", "/x", [("q", "a*b")], "GET&/x&q=a%2Ab"),
    ("tilde literal", "GET", "/x", [("q", "a~b")], "GET&/x&q=a~b"),
    ("unreserved literal", "GET", "/x", [("q", "A-z.0_9")], "GET&/x&q=A-z.0_9"),
    ("unicode utf-8", "GET", "/x", [("q", "é日")], "GET&/x&q=%C3%A9%E6%97%A5"),
    (
        "reserved encoded",
        "GET",
        "/x",
        [("q", "a/b?c=d&e,f;g:h@i!'()$[]#%")],
        "GET&/x&q=a%2Fb%3Fc%3Dd%26e%2Cf%3Bg%3Ah%40i%21%27%28%29%24%5B%5D%23%25",
    ),
    ("name encoded", "GET", "/x", [("a b", "1")], "GET&/x&a%20b=1"),
    ("empty value", "GET", "/x", [("flag", "")], "GET&/x&flag="),
    # Decoded order would put a~ first (0x7E < 0xE9); encoded order puts %C3%A9 first.
    ("sort by encoded name", "GET", "/x", [("a~", "1"), ("aé", "2")], "GET&/x&a%C3%A9=2&a~=1"),
    ("sort by encoded value", "GET", "/x", [("v", "~"), ("v", "é")], "GET&/x&v=%C3%A9,~"),
    ("comma in a value is encoded", "GET", "/x", [("v", "a,b"), ("v", "c")], "GET&/x&v=a%2Cb,c"),
]


@pytest.mark.parametrize(("label", "method", "path", "query", "expected"), CASES, ids=[c[0] for c in CASES])
def test_canonical_request_table(
    label: str, method: str, path: str, query: list[tuple[str, str]], expected: str
) -> None:
    assert canonical_request(method, path, query) == expected
    assert query_string_hash(method, path, query) == _sha(expected)


# Cases where the notes leave no room for interpretation; the sandbox must agree on every one.
CROSS_CHECK = [c for c in CASES if c[0] not in {"only one trailing slash dropped", "leading slash added"}]


@pytest.mark.parametrize(
    ("label", "method", "path", "query", "expected"), CROSS_CHECK, ids=[c[0] for c in CROSS_CHECK]
)
def test_matches_sandbox_implementation(
    label: str, method: str, path: str, query: list[tuple[str, str]], expected: str
) -> None:
    from integrations.jira_sandbox.jwt_qsh import qsh as sandbox_qsh

    assert sandbox_qsh(method, path, query) == query_string_hash(method, path, query)


def test_query_as_mapping_and_querydict() -> None:
    assert canonical_request("GET", "/x", {"r": ["2", "1"], "a": "x"}) == "GET&/x&a=x&r=1,2"
    # QueryDict.items() keeps only the last value; every value must be hashed.
    assert canonical_request("GET", "/x", QueryDict("r=b&r=a&x=1&jwt=t")) == "GET&/x&r=a,b&x=1"


def test_relative_path() -> None:
    assert relative_path("/rest/api/3/myself", "https://acme.atlassian.net") == "/rest/api/3/myself"
    assert relative_path("/wiki/rest/api/space", "https://acme.atlassian.net/wiki/") == "/rest/api/space"
    assert relative_path("/connect", APP_BASE) == "/"
    with pytest.raises(ValueError):
        relative_path("/connect2/hooks", APP_BASE)  # a prefix, but not on a segment boundary
    with pytest.raises(ValueError):
        relative_path("/other", APP_BASE)


# --- outbound signing --------------------------------------------------------------------------


def test_sign_request_claims_and_header() -> None:
    value = sign_request(
        method="get",
        url="https://acme.atlassian.net/rest/api/3/issue/ABC-1?expand=names&fields=summary",
        base_url="https://acme.atlassian.net",
        app_key="com.example.bugbridge",
        shared_secret=SECRET,
        now=NOW,
    )
    scheme, token = value.split(" ", 1)
    assert scheme == "JWT"
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], options={"verify_exp": False})
    assert claims == {
        "iss": "com.example.bugbridge",
        "iat": NOW,
        "exp": NOW + 180,
        "qsh": _sha("GET&/rest/api/3/issue/ABC-1&expand=names&fields=summary"),
    }


def test_sign_request_strips_context_path_and_refuses_other_hosts() -> None:
    value = sign_request(
        method="GET",
        url="https://acme.example.com/jira/rest/api/3/myself",
        base_url="https://acme.example.com/jira",
        app_key="k",
        shared_secret=SECRET,
        now=NOW,
    )
    claims = jwt.decode(value[4:], SECRET, algorithms=["HS256"], options={"verify_exp": False})
    assert claims["qsh"] == _sha("GET&/rest/api/3/myself&")
    for url in ["https://evil.example.com/rest/api/3/myself", "http://acme.example.com/jira/x"]:
        with pytest.raises(ValueError):
            sign_request(
                method="GET",
                url=url,
                base_url="https://acme.example.com/jira",
                app_key="k",
                shared_secret=SECRET,
            )


def test_connect_jwt_auth_signs_prepared_request() -> None:
    auth = ConnectJwtAuth("com.example.bugbridge", SECRET, "https://acme.atlassian.net")
    prepared = requests.Request(
        "GET",
        "https://acme.atlassian.net/rest/api/3/search/jql",
        params={"jql": "project = ABC", "fields": ["summary", "status"]},
        auth=auth,
    ).prepare()
    scheme, token = prepared.headers["Authorization"].split(" ", 1)
    assert scheme == "JWT"
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert claims["iss"] == "com.example.bugbridge"
    assert claims["exp"] - claims["iat"] == 180
    # requests wrote the query as `jql=project+%3D+ABC`; the hash is of the decoded values.
    assert claims["qsh"] == _sha("GET&/rest/api/3/search/jql&fields=status,summary&jql=project%20%3D%20ABC")
    assert SECRET not in repr(auth)


# --- inbound HS256 -----------------------------------------------------------------------------


def _secret_for(iss: str) -> str | None:
    return SECRET if iss == CLIENT_KEY else None


def _hs_token(claims: dict[str, Any], secret: str = SECRET) -> str:
    return jwt.encode(claims, secret, algorithm="HS256")


def _claims(qsh: str, **extra: Any) -> dict[str, Any]:
    return {"iss": CLIENT_KEY, "iat": NOW, "exp": NOW + 180, "qsh": qsh, **extra}


def _verify(token: str, **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "shared_secret_for": _secret_for,
        "method": "POST",
        "path": "/webhooks/jira",
        "query": {"user_id": "abc"},
        "now": NOW + 10,
    }
    args.update(kw)
    return verify_context_jwt(token, **args)


WEBHOOK_QSH = _sha("POST&/webhooks/jira&user_id=abc")


def test_sign_verify_round_trip() -> None:
    # Jira signs its calls to us the same way we sign ours to it; the app-relative path is hashed.
    value = sign_request(
        method="POST",
        url=f"{APP_BASE}/webhooks/jira?user_id=abc",
        base_url=APP_BASE,
        app_key=CLIENT_KEY,
        shared_secret=SECRET,
        now=NOW,
    )
    claims = _verify(extract_jwt(value))
    assert claims["iss"] == CLIENT_KEY
    assert claims["qsh"] == WEBHOOK_QSH


@pytest.mark.parametrize(
    "tamper",
    [
        {"method": "PUT"},
        {"path": "/webhooks/jira/other"},
        {"query": {"user_id": "abd"}},
        {"query": {"user_id": "abc", "extra": "1"}},
    ],
)
def test_tampered_request_is_a_qsh_mismatch(tamper: dict[str, Any]) -> None:
    token = _hs_token(_claims(WEBHOOK_QSH))
    assert _verify(token)["qsh"] == WEBHOOK_QSH
    with pytest.raises(ConnectJwtError) as err:
        _verify(token, **tamper)
    assert err.value.reason == "qsh_mismatch"


def test_jwt_query_param_does_not_change_qsh() -> None:
    token = _hs_token(_claims(WEBHOOK_QSH))
    assert _verify(token, query={"user_id": "abc", "jwt": token})


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        (_claims(WEBHOOK_QSH, iat=NOW - 600, exp=NOW - 60), "expired"),
        (_claims(WEBHOOK_QSH, iat=NOW + 600, exp=NOW + 900), "issued_in_future"),
        ({"iss": CLIENT_KEY, "iat": NOW, "qsh": WEBHOOK_QSH}, "missing_claim"),
        ({"iss": CLIENT_KEY, "exp": NOW + 60, "qsh": WEBHOOK_QSH}, "missing_claim"),
        ({"iss": CLIENT_KEY, "iat": NOW, "exp": NOW + 60}, "missing_claim"),
        (_claims(WEBHOOK_QSH, iss="jira:someone-else"), "unknown_issuer"),
        ({"iat": NOW, "exp": NOW + 60, "qsh": WEBHOOK_QSH}, "missing_claim"),
    ],
)
def test_bad_claims_refused(claims: dict[str, Any], reason: str) -> None:
    with pytest.raises(ConnectJwtError) as err:
        _verify(_hs_token(claims))
    assert err.value.reason == reason


def test_expiry_leeway() -> None:
    token = _hs_token(_claims(WEBHOOK_QSH, exp=NOW))
    assert _verify(token, now=NOW + 29)
    with pytest.raises(ConnectJwtError, match="expired"):
        _verify(token, now=NOW + 31)


def test_wrong_secret_refused() -> None:
    with pytest.raises(ConnectJwtError) as err:
        _verify(_hs_token(_claims(WEBHOOK_QSH), secret="another-secret-of-a-decent-length-0123456789"))
    assert err.value.reason == "bad_signature"


def test_alg_none_refused() -> None:
    token = jwt.encode(_claims(WEBHOOK_QSH), None, algorithm="none")
    with pytest.raises(ConnectJwtError) as err:
        _verify(token)
    assert err.value.reason == "bad_algorithm"


def test_garbage_refused() -> None:
    for token in ["", "not-a-jwt", "a.b.c"]:
        with pytest.raises(ConnectJwtError) as err:
            _verify(token)
        assert err.value.reason == "malformed"


def test_context_qsh_only_where_allowed() -> None:
    token = _hs_token(_claims(CONTEXT_QSH, sub="557058:abc"))
    claims = _verify(token, method="GET", path="/configure", query={}, allow_context_qsh=True)
    assert claims["sub"] == "557058:abc"
    # A page-load token lives in the browser; it must not open a webhook endpoint.
    with pytest.raises(ConnectJwtError, match="qsh_mismatch"):
        _verify(token)


def test_extract_jwt() -> None:
    assert extract_jwt("JWT abc.def.ghi") == "abc.def.ghi"
    assert extract_jwt(None, "abc.def.ghi") == "abc.def.ghi"
    with pytest.raises(ConnectJwtError, match="bad_authorization"):
        extract_jwt("Bearer abc.def.ghi")
    with pytest.raises(ConnectJwtError, match="missing_token"):
        extract_jwt(None, None)


# --- RS256 signed install ----------------------------------------------------------------------

KID = "0e50fccb-239d-4991-a5db-dc850ba3f236"
INSTALL_QSH = _sha("POST&/lifecycle/installed&")


def _rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return _rsa()


class KeyServer:
    """Stands in for the install-keys CDN and records which kids were asked for."""

    def __init__(self, keys: dict[str, str]) -> None:
        self.keys = keys
        self.asked: list[str] = []

    def __call__(self, kid: str) -> str:
        self.asked.append(kid)
        return self.keys[kid]


def _install_token(key: rsa.RSAPrivateKey, headers: dict[str, Any] | None = None, **over: Any) -> str:
    claims = {"iss": CLIENT_KEY, "aud": [APP_BASE], "iat": NOW, "exp": NOW + 180, "qsh": INSTALL_QSH, **over}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": KID} if headers is None else headers)


def _verify_install(token: str, fetch: Callable[[str], str], **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "audience": APP_BASE,
        "client_key": CLIENT_KEY,
        "fetch_public_key": fetch,
        "method": "POST",
        "path": "/lifecycle/installed",
        "query": [],
        "now": NOW + 5,
    }
    args.update(kw)
    return verify_install_jwt(token, **args)


def test_install_jwt_accepted(rsa_key: rsa.RSAPrivateKey) -> None:
    server = KeyServer({KID: _pem(rsa_key)})
    claims = _verify_install(_install_token(rsa_key), server)
    assert claims["iss"] == CLIENT_KEY
    assert server.asked == [KID]
    # `aud` may be a plain string, and a trailing slash is the same base URL.
    assert _verify_install(_install_token(rsa_key, aud=APP_BASE + "/"), server)


@pytest.mark.parametrize(
    ("over", "kw", "reason"),
    [
        ({"aud": ["https://evil.example.com"]}, {}, "bad_audience"),
        ({"aud": None}, {}, "bad_audience"),
        ({"iss": "jira:other-tenant"}, {}, "issuer_mismatch"),
        ({}, {"path": "/lifecycle/uninstalled"}, "qsh_mismatch"),
        ({"qsh": CONTEXT_QSH}, {}, "qsh_mismatch"),
        ({"iat": NOW - 900, "exp": NOW - 600}, {}, "expired"),
    ],
)
def test_install_jwt_bad_claims(
    rsa_key: rsa.RSAPrivateKey, over: dict[str, Any], kw: dict[str, Any], reason: str
) -> None:
    server = KeyServer({KID: _pem(rsa_key)})
    with pytest.raises(ConnectJwtError) as err:
        _verify_install(_install_token(rsa_key, **over), server, **kw)
    assert err.value.reason == reason


def test_install_jwt_wrong_key(rsa_key: rsa.RSAPrivateKey) -> None:
    server = KeyServer({KID: _pem(_rsa())})
    with pytest.raises(ConnectJwtError) as err:
        _verify_install(_install_token(rsa_key), server)
    assert err.value.reason == "bad_signature"


@pytest.mark.parametrize("kid", ["../../evil", "a/b", "a.b", "x" * 129, "", "kid?x=1", "k%2F"])
def test_install_jwt_bad_kid_never_fetched(rsa_key: rsa.RSAPrivateKey, kid: object) -> None:
    server = KeyServer({KID: _pem(rsa_key)})
    with pytest.raises(ConnectJwtError) as err:
        _verify_install(_install_token(rsa_key, headers={"kid": kid}), server)
    assert err.value.reason == "bad_kid"
    assert server.asked == []
    assert not is_valid_kid(kid)


def test_install_jwt_non_string_kid_never_fetched(rsa_key: rsa.RSAPrivateKey) -> None:
    # PyJWT will not encode a non-string kid, so splice one into a real token's header.
    _, body, sig = _install_token(rsa_key).split(".")
    header = base64.urlsafe_b64encode(json.dumps({"alg": "RS256", "kid": 42}).encode()).rstrip(b"=")
    server = KeyServer({KID: _pem(rsa_key)})
    with pytest.raises(ConnectJwtError):
        _verify_install(f"{header.decode()}.{body}.{sig}", server)
    assert server.asked == []
    assert not is_valid_kid(42)


def test_install_jwt_missing_kid(rsa_key: rsa.RSAPrivateKey) -> None:
    server = KeyServer({KID: _pem(rsa_key)})
    with pytest.raises(ConnectJwtError) as err:
        _verify_install(_install_token(rsa_key, headers={}), server)
    assert err.value.reason == "missing_kid"


def _hs256_with_key(claims: dict[str, Any], key: bytes, header: dict[str, Any]) -> str:
    # Built by hand: PyJWT (rightly) will not HMAC-sign with a PEM, but an attacker can.
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    sig = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(sig)}"


def test_install_jwt_hs256_refused(rsa_key: rsa.RSAPrivateKey) -> None:
    pem = _pem(rsa_key)
    server = KeyServer({KID: pem})
    claims = {"iss": CLIENT_KEY, "aud": APP_BASE, "iat": NOW, "exp": NOW + 180, "qsh": INSTALL_QSH}
    # The classic confusion: HMAC keyed with the public key the verifier will fetch.
    forged = _hs256_with_key(claims, pem.encode(), {"alg": "HS256", "typ": "JWT", "kid": KID})
    with pytest.raises(ConnectJwtError) as err:
        _verify_install(forged, server)
    assert err.value.reason == "bad_algorithm"
    # And a tenant's shared secret cannot stand in for Atlassian's install signature.
    with pytest.raises(ConnectJwtError, match="bad_algorithm"):
        _verify_install(_hs_token(claims), server)


def test_context_jwt_refuses_rs256_and_pem_hmac(rsa_key: rsa.RSAPrivateKey) -> None:
    rs = jwt.encode(_claims(WEBHOOK_QSH), rsa_key, algorithm="RS256")
    with pytest.raises(ConnectJwtError, match="bad_algorithm"):
        _verify(rs)
    pem = _pem(rsa_key)
    forged = _hs256_with_key(_claims(WEBHOOK_QSH), pem.encode(), {"alg": "HS256", "typ": "JWT"})
    with pytest.raises(ConnectJwtError, match="bad_signature"):
        _verify(forged)


def test_install_key_fetch_failure_and_non_rsa_key(rsa_key: rsa.RSAPrivateKey) -> None:
    def down(kid: str) -> str:
        raise requests.ConnectionError("cdn down")

    with pytest.raises(ConnectJwtError, match="public_key_unavailable"):
        _verify_install(_install_token(rsa_key), down)
    ec_pem = _pem(ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(ConnectJwtError, match="bad_public_key"):
        _verify_install(_install_token(rsa_key), KeyServer({KID: ec_pem}))
    with pytest.raises(ConnectJwtError, match="bad_public_key"):
        _verify_install(_install_token(rsa_key), KeyServer({KID: "not a pem"}))


# --- descriptor --------------------------------------------------------------------------------

EVENTS = ["jira:issue_updated", "jira:issue_deleted", "comment_created"]


def _descriptor(**over: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "key": "com.example.bugbridge",
        "name": "Bugbridge",
        "base_url": APP_BASE + "/",
        "description": "Bug reports to Jira, both ways.",
        "vendor": {"name": "Example", "url": "https://example.com"},
        "lifecycle_paths": {"installed": "/lifecycle/installed", "uninstalled": "/lifecycle/uninstalled"},
        "webhook_path": "/webhooks/jira",
        "events": EVENTS,
        "configure_path": "/configure",
        "scopes": ["read", "WRITE"],
    }
    args.update(over)
    return descriptor(**args)


def test_descriptor_shape() -> None:
    d = _descriptor()
    assert d["key"] == "com.example.bugbridge"
    assert d["baseUrl"] == APP_BASE
    assert d["authentication"] == {"type": "jwt"}
    assert d["apiVersion"] == 1
    assert d["apiMigrations"] == {"signed-install": True, "context-qsh": True, "gdpr": True}
    assert d["lifecycle"] == {"installed": "/lifecycle/installed", "uninstalled": "/lifecycle/uninstalled"}
    assert d["scopes"] == ["READ", "WRITE"]
    assert d["vendor"] == {"name": "Example", "url": "https://example.com"}
    assert d["modules"]["webhooks"] == [
        {"event": event, "url": "/webhooks/jira", "excludeBody": False} for event in EVENTS
    ]
    for module in ("configurePage", "postInstallPage"):
        assert d["modules"][module]["url"] == "/configure"
        assert d["modules"][module]["key"]
    assert d["modules"]["configurePage"]["key"] != d["modules"]["postInstallPage"]["key"]
    json.dumps(d)  # serialisable as atlassian-connect.json


@pytest.mark.parametrize(
    "over",
    [
        {"key": "k" * 65},
        {"scopes": ["READ", "EVERYTHING"]},
        {"lifecycle_paths": {"installed": "/i"}},
        {"lifecycle_paths": {"installed": "/i", "uninstalled": "/u", "deleted": "/d"}},
        {"webhook_path": "https://elsewhere.example.com/hook"},
        {"events": ["comment_created", "comment_created"]},
    ],
)
def test_descriptor_rejects(over: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        _descriptor(**over)


# --- install payload ---------------------------------------------------------------------------


def _payload(**over: Any) -> bytes:
    data = {
        "key": "com.example.bugbridge",
        "clientKey": CLIENT_KEY,
        "sharedSecret": SECRET,
        "baseUrl": "https://acme.atlassian.net/",
        "displayUrl": "https://jira.acme.com",
        "productType": "jira",
        "eventType": "installed",
        "serverVersion": "100273",
        "pluginsVersion": "1001.0.0",
        "oauthClientId": "abc123",
    }
    data.update(over)
    return json.dumps({k: v for k, v in data.items() if v is not ...}).encode()


def test_parse_install_payload() -> None:
    p = parse_install_payload(_payload())
    assert (p.key, p.client_key, p.shared_secret) == ("com.example.bugbridge", CLIENT_KEY, SECRET)
    assert p.base_url == "https://acme.atlassian.net"
    assert p.display_url == "https://jira.acme.com"
    assert (p.product_type, p.event_type, p.oauth_client_id) == ("jira", "installed", "abc123")
    assert SECRET not in repr(p)
    assert SECRET not in str(p)


def test_parse_uninstalled_without_secret_and_display_url_default() -> None:
    p = parse_install_payload(_payload(eventType="uninstalled", sharedSecret=..., displayUrl=...))
    assert p.shared_secret is None
    assert p.display_url == "https://acme.atlassian.net"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"not json", "body"),
        (b"[1, 2]", "body"),
        (b"\xff\xfe", "body"),
        (_payload(sharedSecret=...), "sharedSecret"),
        (_payload(sharedSecret=""), "sharedSecret"),
        (_payload(sharedSecret=12345), "sharedSecret"),
        (_payload(clientKey=...), "clientKey"),
        (_payload(key=...), "key"),
        (_payload(eventType="exploded"), "eventType"),
        (_payload(baseUrl="javascript:alert(1)"), "baseUrl"),
        (_payload(baseUrl="https://user:pw@acme.atlassian.net"), "baseUrl"),
        (_payload(baseUrl=...), "baseUrl"),
        (_payload(displayUrl="ftp://x"), "displayUrl"),
    ],
)
def test_parse_install_payload_rejects(body: bytes, field: str) -> None:
    with pytest.raises(InstallPayloadError) as err:
        parse_install_payload(body)
    assert err.value.field == field
    assert SECRET not in str(err.value)
