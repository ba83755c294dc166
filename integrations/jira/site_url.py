"""The Jira site URL guard: what an admin types becomes a canonical, safe site URL, or a clear error.

A site URL is user input that the server later sends requests (with credentials) to, so it is
an SSRF door: only https hosts under an Atlassian suffix (`JIRA_SITE_SUFFIXES`) are accepted, and
only when every address they resolve to is public. The sandbox Jira (`{SITE_URL}/sandbox/jira/
site/<name>`) is the one exception, and only while `JIRA_SANDBOX` is on.

Resolution is checked once, here. A client must still refuse redirects to other hosts
(`same_site`); re-checking addresses at connect time (DNS rebinding) is the transport's job.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable
from urllib.parse import SplitResult, urlsplit

from django.conf import settings

MAX_LENGTH = 2048

EXAMPLE = "https://your-team.atlassian.net"
ENTER_INSTEAD = f"Enter your Jira site's address, like {EXAMPLE}"

Resolver = Callable[[str], list[str]]

# A DNS label: letters, digits, inner hyphens (IDNA is refused separately, before this).
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
# Forms inet_aton() accepts as a number: 127, 0177, 0x7f. A real top-level domain is never one.
_NUMERIC_LABEL = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)$")
# "scheme://" or a bare "scheme:" (javascript:, mailto:, data:), but not "host:port".
_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*):", re.IGNORECASE)
# Django's <slug:…> converter, which the sandbox's site routes use.
_SANDBOX_SITE = re.compile(r"^/site/([-a-zA-Z0-9_]+)(?:/.*)?$")


class SiteUrlError(ValueError):
    """A site URL we refuse; the message is meant for the admin who typed it."""


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


def normalize_site_url(raw: str, *, resolve: Resolver | None = None) -> str:
    """The canonical form of a Jira Cloud site URL (`https://acme.atlassian.net`), or SiteUrlError.

    Accepts what admins paste (spaces around, no scheme, a board or issue link, capitals) and
    refuses anything that could point the server elsewhere. `resolve` maps a host name to its
    addresses (tests pass a fake; the default uses getaddrinfo).
    """
    text = _clean_text(raw)
    parts = _split(text)
    sandbox = _sandbox_site_url(parts)
    if sandbox is not None:
        return sandbox
    _refuse_sandbox_lookalike(parts)
    if parts.scheme != "https":
        raise SiteUrlError(
            f"Jira Cloud sites only work over https: enter the address with https://, like {EXAMPLE}."
        )
    host = _check_host(parts)
    _check_port(parts, host)
    _check_public(host, resolve or resolve_host)
    # Atlassian sites live at the root of their host: any path pasted with it (a board, an
    # issue) is not part of the site's address.
    return f"https://{host}"


def same_site(url: str, site_url: str) -> bool:
    """Whether `url` (absolute, e.g. a redirect's Location after urljoin) is on the site `site_url`.

    Same scheme, host and port, no credentials, and under the site's path (which matters for
    sandbox sites sharing one host). Anything unparseable is "not the same site".
    """
    try:
        target, site = _strict_split(url), _strict_split(site_url)
    except ValueError:
        return False
    if target is None or site is None:
        return False
    if (target.scheme, target.hostname, _effective_port(target)) != (
        site.scheme,
        site.hostname,
        _effective_port(site),
    ):
        return False
    site_path = site.path.rstrip("/")
    return not site_path or target.path == site_path or target.path.startswith(site_path + "/")


def resolve_host(host: str) -> list[str]:
    """Every address `host` resolves to (the default resolver); socket errors propagate."""
    infos = socket.getaddrinfo(host, 443, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def is_public_address(address: str) -> bool:
    """Whether an address is a public unicast one (IPv4 embedded in IPv6 is judged as IPv4)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone ("fe80::1%eth0")
    except ValueError:
        return False
    ip = _embedded_ipv4(ip) or ip
    return ip.is_global and not (
        ip.is_multicast or ip.is_reserved or ip.is_loopback or ip.is_link_local or ip.is_unspecified
    )


# ---------------------------------------------------------------------------------------------
# Steps of normalize_site_url
# ---------------------------------------------------------------------------------------------


def _clean_text(raw: str) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise SiteUrlError(f"{ENTER_INSTEAD}.")
    if len(raw) > MAX_LENGTH:
        raise SiteUrlError(f"That address is too long to be a Jira site's. {ENTER_INSTEAD}.")
    text = raw.strip()
    # urlsplit silently drops tabs and newlines, which would let "acme.atlassian.net\n.evil.com"
    # mean something other than what was shown, so anything unusual is refused before parsing.
    if any(_is_control(char) for char in text):
        raise SiteUrlError(f"The address contains invisible control characters. {ENTER_INSTEAD}.")
    if any(char.isspace() for char in text):
        raise SiteUrlError(f"The address contains spaces. {ENTER_INSTEAD}.")
    if "\\" in text:
        raise SiteUrlError(f"The address contains a backslash (\\). {ENTER_INSTEAD}.")
    return text


def _split(text: str) -> SplitResult:
    if text.startswith("//"):
        text = "https:" + text
    else:
        match = _SCHEME.match(text)
        if match is None or _looks_like_host_port(text, match):
            text = "https://" + text  # admins often paste "acme.atlassian.net"
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - parsing the port is what validates it
    except ValueError as error:
        raise SiteUrlError(f"That is not a web address we can read. {ENTER_INSTEAD}.") from error
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.netloc:
        raise SiteUrlError(f"Only web addresses (https://…) can be Jira sites. {ENTER_INSTEAD}.")
    if "@" in parts.netloc:
        raise SiteUrlError(
            f"The address contains a user name or password (the part before @). "
            f"Credentials are entered in the next step, not in the address. {ENTER_INSTEAD}."
        )
    return parts._replace(scheme=scheme)


def _looks_like_host_port(text: str, match: re.Match[str]) -> bool:
    """'acme.atlassian.net:443' parses as scheme 'acme.atlassian.net'; a digit after ':' is a port."""
    rest = text[match.end() :]
    return not rest.startswith("//") and rest[:1].isdigit()


def _check_host(parts: SplitResult) -> str:
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise SiteUrlError(f"{ENTER_INSTEAD}.")
    if not host.isascii() or any(label.startswith("xn--") for label in host.split(".")):
        raise SiteUrlError(
            f"The address uses international or look-alike characters, which Jira Cloud site "
            f"addresses never do. Type the address by hand: {EXAMPLE}."
        )
    if _is_ip_literal(host):
        raise SiteUrlError(f"Enter your Jira site's name, not a numeric IP address: for example {EXAMPLE}.")
    labels = host.split(".")
    if len(host) > 253 or not all(_LABEL.match(label) for label in labels):
        raise SiteUrlError(f"“{host}” is not a valid site name. {ENTER_INSTEAD}.")
    if not _has_jira_suffix(host):
        suffixes = " or ".join(_suffixes()) or "an Atlassian domain"
        raise SiteUrlError(
            f"“{host}” is not a Jira Cloud site: the address must end in {suffixes}. {ENTER_INSTEAD}."
        )
    return host


def _check_port(parts: SplitResult, host: str) -> None:
    if parts.port not in (None, 443):
        raise SiteUrlError(
            f"Jira Cloud sites do not use a port number (:{parts.port}). Enter https://{host} instead."
        )


def _check_public(host: str, resolve: Resolver) -> None:
    try:
        addresses = resolve(host)
    except (OSError, UnicodeError) as error:  # socket.gaierror is an OSError
        raise _not_found(host) from error
    if not addresses:
        raise _not_found(host)
    if not all(is_public_address(address) for address in addresses):
        raise SiteUrlError(
            f"{host} points to a private or local network address, so Bugbridge will not connect to "
            f"it. Check the address, or ask your network administrator. {ENTER_INSTEAD}."
        )


def _not_found(host: str) -> SiteUrlError:
    return SiteUrlError(
        f"We could not find {host}. Check the spelling (your site's address is in your browser's "
        f"address bar when you open Jira), like {EXAMPLE}."
    )


# ---------------------------------------------------------------------------------------------
# The sandbox Jira
# ---------------------------------------------------------------------------------------------


def _sandbox_root() -> SplitResult:
    """`{SITE_URL}{JIRA_SANDBOX_PREFIX}`, the way settings builds the sandbox's other URLs."""
    return urlsplit(f"{settings.SITE_URL.rstrip('/')}{settings.JIRA_SANDBOX_PREFIX}")


def _sandbox_site_url(parts: SplitResult) -> str | None:
    """The canonical sandbox site URL if `parts` is one and the sandbox is on, else None."""
    if not getattr(settings, "JIRA_SANDBOX", False):
        return None
    root = _sandbox_root()
    same_origin = (parts.scheme, parts.hostname, _effective_port(parts)) == (
        root.scheme.lower(),
        root.hostname,
        _effective_port(root),
    )
    if not same_origin or not parts.path.startswith(root.path + "/"):
        return None
    match = _SANDBOX_SITE.match(parts.path[len(root.path) :])
    if match is None:
        return None
    return f"{root.scheme.lower()}://{root.netloc.lower()}{root.path}/site/{match.group(1)}"


def _refuse_sandbox_lookalike(parts: SplitResult) -> None:
    # Not a security check (the rules after it refuse such a URL anyway), a clearer message.
    prefix = settings.JIRA_SANDBOX_PREFIX
    if not getattr(settings, "JIRA_SANDBOX", False) and (parts.path + "/").startswith(prefix + "/"):
        raise SiteUrlError(
            f"That is a sandbox Jira address, and the sandbox is turned off on this server. {ENTER_INSTEAD}."
        )


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------


def _suffixes() -> list[str]:
    # ".atlassian.net" and "atlassian.net" in settings mean the same: a label must come before.
    return ["." + s.strip().lower().lstrip(".") for s in settings.JIRA_SITE_SUFFIXES if s.strip(" .")]


def _has_jira_suffix(host: str) -> bool:
    return any(host.endswith(suffix) and len(host) > len(suffix) for suffix in _suffixes())


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        # 2130706433, 0x7f000001, 0177.1: getaddrinfo reads these as IPv4, so refuse them too.
        return bool(_NUMERIC_LABEL.match(host.rsplit(".", 1)[-1]))
    return True


def _embedded_ipv4(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, NAT64, compatible), else None."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped or ip.sixtofour:
        return ip.ipv4_mapped or ip.sixtofour
    if ip in ipaddress.IPv6Network("64:ff9b::/96") or ip in ipaddress.IPv6Network("::/96"):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _effective_port(parts: SplitResult) -> int | None:
    try:
        port = parts.port
    except ValueError:
        return None
    return port or {"https": 443, "http": 80}.get(parts.scheme.lower())


def _strict_split(url: str) -> SplitResult | None:
    """urlsplit for same_site: None for anything a browser and Python might read differently."""
    if not isinstance(url, str) or "\\" in url or any(_is_control(c) or c.isspace() for c in url):
        return None
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        return None
    return parts._replace(scheme=parts.scheme.lower())


def _is_control(char: str) -> bool:
    # C0, DEL, C1, and the invisible format characters (zero-width space, bidi overrides).
    code = ord(char)
    return (
        code < 0x20
        or 0x7F <= code < 0xA0
        or char in "\u200b\u200c\u200d\u2060\ufeff"
        or (0x202A <= code <= 0x202E or 0x2066 <= code <= 0x2069)
    )
