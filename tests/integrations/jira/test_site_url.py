"""The site URL guard: admins' pastes normalize; anything that could reach elsewhere is refused."""

from __future__ import annotations

import socket

import pytest

from integrations.jira import site_url
from integrations.jira.site_url import SiteUrlError, is_public_address, normalize_site_url, same_site

PUBLIC = "104.192.141.1"  # an address in Atlassian's public range


def public(host: str) -> list[str]:
    return [PUBLIC]


def resolving_to(*addresses: str):  # type: ignore[no-untyped-def]
    def resolve(host: str) -> list[str]:
        return list(addresses)

    return resolve


def never_called(host: str) -> list[str]:
    raise AssertionError(f"resolved {host}: name checks should have refused it first")


@pytest.fixture(autouse=True)
def _real_site_settings(settings) -> None:  # type: ignore[no-untyped-def]
    # Pin the settings this module reads, so the tables do not depend on the environment.
    settings.JIRA_SITE_SUFFIXES = [".atlassian.net", ".jira.com"]
    settings.SITE_URL = "http://127.0.0.1:8000"
    settings.JIRA_SANDBOX_PREFIX = "/sandbox/jira"
    settings.JIRA_SANDBOX = False


# ---------------------------------------------------------------------------------------------
# Good inputs
# ---------------------------------------------------------------------------------------------

GOOD = [
    ("https://acme.atlassian.net", "https://acme.atlassian.net"),
    ("https://acme.atlassian.net/", "https://acme.atlassian.net"),
    ("  https://acme.atlassian.net  ", "https://acme.atlassian.net"),
    ("acme.atlassian.net", "https://acme.atlassian.net"),
    ("//acme.atlassian.net", "https://acme.atlassian.net"),
    ("HTTPS://ACME.Atlassian.NET", "https://acme.atlassian.net"),
    ("https://acme.atlassian.net/jira/software/projects/X/boards/1", "https://acme.atlassian.net"),
    ("https://acme.atlassian.net/browse/KEY-1", "https://acme.atlassian.net"),
    ("acme.atlassian.net/browse/KEY-1?focusedCommentId=10#comment", "https://acme.atlassian.net"),
    ("https://acme.atlassian.net:443/", "https://acme.atlassian.net"),
    ("acme.atlassian.net:443", "https://acme.atlassian.net"),
    ("https://acme.atlassian.net./", "https://acme.atlassian.net"),
    ("https://my-team-2.atlassian.net", "https://my-team-2.atlassian.net"),
    ("https://legacy.jira.com/secure/Dashboard.jspa", "https://legacy.jira.com"),
]


@pytest.mark.parametrize(("raw", "expected"), GOOD)
def test_good_inputs_normalize(raw: str, expected: str) -> None:
    assert normalize_site_url(raw, resolve=public) == expected


def test_normalized_form_is_a_fixed_point() -> None:
    for _, expected in GOOD:
        assert normalize_site_url(expected, resolve=public) == expected


def test_resolver_receives_the_lowercased_host() -> None:
    seen: list[str] = []

    def resolve(host: str) -> list[str]:
        seen.append(host)
        return [PUBLIC, "2401:1d80::1"]

    normalize_site_url("https://ACME.atlassian.net/browse/X-1", resolve=resolve)
    assert seen == ["acme.atlassian.net"]


def test_suffixes_come_from_settings(settings) -> None:  # type: ignore[no-untyped-def]
    settings.JIRA_SITE_SUFFIXES = ["example-jira.test"]  # no leading dot: still needs a label
    assert normalize_site_url("https://acme.example-jira.test", resolve=public) == (
        "https://acme.example-jira.test"
    )
    with pytest.raises(SiteUrlError):
        normalize_site_url("https://acme.atlassian.net", resolve=public)
    with pytest.raises(SiteUrlError):
        normalize_site_url("https://example-jira.test", resolve=public)


# ---------------------------------------------------------------------------------------------
# Hostile and wrong inputs
# ---------------------------------------------------------------------------------------------

# (input, a word the message must contain); all are refused before any DNS lookup.
HOSTILE = [
    ("https://acme.atlassian.net@evil.com", "user name or password"),
    ("https://user:pass@acme.atlassian.net", "user name or password"),
    ("https://evil.com#.atlassian.net", "not a Jira Cloud site"),
    ("https://evil.com/?x=.atlassian.net", "not a Jira Cloud site"),
    ("https://evil.com/.atlassian.net", "not a Jira Cloud site"),
    ("https://acme.atlassian.net.evil.com", "not a Jira Cloud site"),
    ("https://evilatlassian.net", "not a Jira Cloud site"),
    ("https://atlassian.net", "not a Jira Cloud site"),
    ("https://.atlassian.net", "not a valid site name"),
    ("https://acme..atlassian.net", "not a valid site name"),
    ("https://-acme.atlassian.net", "not a valid site name"),
    ("https://acme_x.atlassian.net", "not a valid site name"),
    ("https://acme.atlassian.net%2eevil.com", "not a valid site name"),
    ("http://acme.atlassian.net", "https"),
    ("ftp://acme.atlassian.net", "Only web addresses"),
    ("file:///etc/passwd", "Only web addresses"),
    ("javascript:alert(1)", "Only web addresses"),
    ("data:text/html,<script>alert(1)</script>", "Only web addresses"),
    ("https://127.0.0.1", "IP address"),
    ("https://10.0.0.5", "IP address"),
    ("https://169.254.169.254/latest/meta-data/", "IP address"),
    ("https://[::1]", "IP address"),
    ("https://[::ffff:127.0.0.1]", "IP address"),
    ("https://2130706433", "IP address"),
    ("https://0x7f000001", "IP address"),
    ("https://0177.0.0.1", "IP address"),
    ("https://127.1", "IP address"),
    ("https://acme.atlassian.net:8443", "port"),
    ("https://acme.atlassian.net:80", "port"),
    ("https://acme.atlassian.net:99999", "not a web address we can read"),
    ("https://[::1", "not a web address we can read"),
    ("https://xn--acm-7ka.atlassian.net", "look-alike"),  # punycode
    ("https://acme.xn--atlassan-k9a.net", "look-alike"),
    ("https://\u0430cme.atlassian.net", "look-alike"),  # Cyrillic "a"
    ("https://acme.atlassian.net\\@evil.com", "backslash"),
    ("https:\\\\evil.com\\.atlassian.net", "backslash"),
    ("https://acme.atlassian.net\n.evil.com", "control characters"),
    ("https://acme.atlas\tsian.net", "control characters"),
    ("https://acme.atlassian.net\x00.evil.com", "control characters"),
    ("https://acme\u200b.atlassian.net", "control characters"),
    ("https://acme.atlassian.net\u202e", "control characters"),
    ("https://acme atlassian.net", "spaces"),
    ("https://acme.atlassian.net/" + "a" * 2048, "too long"),
    ("", "Enter your Jira site's address"),
    ("   ", "Enter your Jira site's address"),
    ("https://", "Only web addresses"),
    ("https:acme.atlassian.net", "Only web addresses"),
    ("https://:443", "Enter your Jira site's address"),
]


@pytest.mark.parametrize(("raw", "why"), HOSTILE)
def test_hostile_inputs_are_refused_before_resolving(raw: str, why: str) -> None:
    with pytest.raises(SiteUrlError) as caught:
        normalize_site_url(raw, resolve=never_called)
    assert why in str(caught.value)


def test_hostile_table_is_big_enough() -> None:
    assert len(HOSTILE) >= 30


@pytest.mark.parametrize(
    "addresses",
    [
        ["10.0.0.5"],
        ["169.254.169.254"],  # cloud metadata
        ["::ffff:127.0.0.1"],
        ["127.0.0.1"],
        ["::1"],
        ["0.0.0.0"],  # noqa: S104 - an address resolved to, not one bound
        ["192.168.1.10"],
        ["172.16.0.1"],
        ["100.64.0.1"],  # carrier-grade NAT
        ["fe80::1%eth0"],
        ["fd00::1"],
        ["224.0.0.1"],
        ["240.0.0.1"],
        ["2002:7f00:1::"],  # 6to4 wrapping 127.0.0.1
        ["64:ff9b::a00:5"],  # NAT64 wrapping 10.0.0.5
        [PUBLIC, "10.0.0.5"],  # one private address among public ones is enough
        ["not-an-address"],
    ],
)
def test_a_suffix_host_resolving_to_a_non_public_address_is_refused(addresses: list[str]) -> None:
    with pytest.raises(SiteUrlError, match="private or local network"):
        normalize_site_url("https://acme.atlassian.net", resolve=resolving_to(*addresses))


@pytest.mark.parametrize("error", [socket.gaierror(-2, "Name or service not known"), OSError("timeout")])
def test_a_host_that_does_not_resolve_has_its_own_message(error: OSError) -> None:
    def resolve(host: str) -> list[str]:
        raise error

    with pytest.raises(SiteUrlError, match=r"could not find acme-typo\.atlassian\.net\. Check the spelling"):
        normalize_site_url("acme-typo.atlassian.net", resolve=resolve)


def test_no_addresses_is_not_found() -> None:
    with pytest.raises(SiteUrlError, match="could not find"):
        normalize_site_url("https://acme.atlassian.net", resolve=resolving_to())


def test_the_default_resolver_uses_getaddrinfo(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def fake_getaddrinfo(host: str, port: int, **kwargs: object) -> list[tuple]:
        calls.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", 443))]

    monkeypatch.setattr(site_url.socket, "getaddrinfo", fake_getaddrinfo)
    with pytest.raises(SiteUrlError, match="private"):
        normalize_site_url("https://acme.atlassian.net")
    assert calls == ["acme.atlassian.net"]


def test_every_message_says_what_to_enter() -> None:
    for raw, _ in HOSTILE:
        with pytest.raises(SiteUrlError) as caught:
            normalize_site_url(raw, resolve=never_called)
        message = str(caught.value)
        assert "atlassian.net" in message, message
        assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("104.192.141.1", True),
        ("2401:1d80::1", True),
        ("::ffff:8.8.8.8", True),
        ("10.0.0.5", False),
        ("::ffff:10.0.0.5", False),
        ("ff02::1", False),
        ("::", False),
    ],
)
def test_is_public_address(address: str, expected: bool) -> None:
    assert is_public_address(address) is expected


# ---------------------------------------------------------------------------------------------
# The sandbox
# ---------------------------------------------------------------------------------------------

SANDBOX_URL = "http://127.0.0.1:8000/sandbox/jira/site/acme"


def test_the_sandbox_is_refused_while_off() -> None:
    with pytest.raises(SiteUrlError, match="sandbox is turned off"):
        normalize_site_url(SANDBOX_URL, resolve=never_called)


@pytest.mark.parametrize(
    "raw",
    [
        SANDBOX_URL,
        SANDBOX_URL + "/",
        " " + SANDBOX_URL.upper().replace("/SANDBOX/JIRA/SITE/ACME", "/sandbox/jira/site/acme") + " ",
        SANDBOX_URL + "/browse/KEY-1?x=1#y",
        SANDBOX_URL + "/rest/api/3/myself",
    ],
)
def test_the_sandbox_is_accepted_while_on(settings, raw: str) -> None:  # type: ignore[no-untyped-def]
    settings.JIRA_SANDBOX = True
    # Its host is loopback: the sandbox is exempt from the address check, and not resolved at all.
    assert normalize_site_url(raw, resolve=never_called) == SANDBOX_URL


@pytest.mark.parametrize(
    "raw",
    [
        "http://127.0.0.1:8001/sandbox/jira/site/acme",  # another port
        "https://127.0.0.1:8000/sandbox/jira/site/acme",  # another scheme
        "http://localhost:8000/sandbox/jira/site/acme",  # another host name
        "http://127.0.0.1:8000/sandbox/jira/api/ex/jira/x",  # not a site
        "http://127.0.0.1:8000/sandbox/jira/site/",
        "http://127.0.0.1:8000/sandbox/jira/site/a%2fb",
        "http://127.0.0.1:8000/sandbox/jiraX/site/acme",
        "http://127.0.0.1:8000/admin/",
        "http://user@127.0.0.1:8000/sandbox/jira/site/acme",
    ],
)
def test_only_the_sandbox_itself_is_exempt(settings, raw: str) -> None:  # type: ignore[no-untyped-def]
    settings.JIRA_SANDBOX = True
    with pytest.raises(SiteUrlError):
        normalize_site_url(raw, resolve=public)


def test_the_sandbox_follows_site_url(settings) -> None:  # type: ignore[no-untyped-def]
    settings.JIRA_SANDBOX = True
    settings.SITE_URL = "https://bugbridge.example.com"
    assert (
        normalize_site_url("https://BugBridge.example.com/sandbox/jira/site/demo", resolve=never_called)
        == "https://bugbridge.example.com/sandbox/jira/site/demo"
    )
    with pytest.raises(SiteUrlError):
        normalize_site_url(SANDBOX_URL, resolve=never_called)


def test_atlassian_sites_still_work_while_the_sandbox_is_on(settings) -> None:  # type: ignore[no-untyped-def]
    settings.JIRA_SANDBOX = True
    assert normalize_site_url("acme.atlassian.net", resolve=public) == "https://acme.atlassian.net"
    with pytest.raises(SiteUrlError):
        normalize_site_url("https://acme.atlassian.net", resolve=resolving_to("127.0.0.1"))


# ---------------------------------------------------------------------------------------------
# same_site
# ---------------------------------------------------------------------------------------------

SITE = "https://acme.atlassian.net"


@pytest.mark.parametrize(
    ("url", "site", "expected"),
    [
        (SITE + "/rest/api/3/myself", SITE, True),
        (SITE, SITE, True),
        ("https://ACME.atlassian.net:443/rest/api/3/issue/1", SITE, True),
        ("https://other.atlassian.net/rest/api/3/myself", SITE, False),
        ("http://acme.atlassian.net/rest/api/3/myself", SITE, False),
        ("https://acme.atlassian.net:8443/", SITE, False),
        ("https://acme.atlassian.net.evil.com/", SITE, False),
        ("https://acme.atlassian.net@evil.com/", SITE, False),
        ("https://evil.com@acme.atlassian.net/", SITE, False),
        ("https://acme.atlassian.net\\@evil.com/", SITE, False),
        ("https://acme.atlassian.net\n/", SITE, False),
        ("/rest/api/3/myself", SITE, False),  # relative: urljoin it first
        ("javascript:alert(1)", SITE, False),
        ("https://[::1", SITE, False),
        ("", SITE, False),
        (SANDBOX_URL + "/rest/api/3/myself", SANDBOX_URL, True),
        (SANDBOX_URL, SANDBOX_URL, True),
        ("http://127.0.0.1:8000/sandbox/jira/site/acme2/rest", SANDBOX_URL, False),
        ("http://127.0.0.1:8000/sandbox/jira/site/other/rest", SANDBOX_URL, False),
        ("http://127.0.0.1:8000/admin/", SANDBOX_URL, False),
    ],
)
def test_same_site(url: str, site: str, expected: bool) -> None:
    assert same_site(url, site) is expected
