"""Where webhooks may go: http(s) URLs to public addresses only, checked when stored and again when sent.

A URL is read the way the sender reads it (httpx.URL), so what is checked is what is sent to. It
must be `http` or `https`, at most 2,048 characters, without a user name or password, with a port
in range and a host that encodes (IDNA, through the stdlib codec: every label 1-63 characters,
punycode labels that decode). One that does not is refused when it is stored, and a stored one
that does not (an older row) fails its try instead of stopping the worker.

A webhook URL naming a loopback, private, link-local (cloud metadata at 169.254.169.254 among them),
shared (CGNAT), benchmarking, documentation, reserved or multicast address is refused, as are
IPv4-mapped IPv6 addresses, Teredo, 6to4 and NAT64 addresses wrapping a refused IPv4 one, and a
name such as `localhost`. A name is resolved when a delivery is sent, every address it resolves to
must be public, and the delivery connects to the address that was checked (never resolving again),
so a DNS answer that changes between the check and the connection (DNS rebinding) cannot point it
inside. The setting `SELLERCOLLECTION_WEBHOOK_ALLOW_PRIVATE` lifts the address rules (self-hosting,
tests), not the others.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import unicodedata
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from app.errors import InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH = 2048
_DEFAULT_PORTS = {"http": 80, "https": 443}
# What a host name may hold once httpx has IDNA-encoded it (underscores occur in real DNS names).
_HOST_CHARACTERS = re.compile(r"[a-z0-9_.-]+")
# Names that always mean this machine or a private network, whatever a resolver says.
_LOCAL_SUFFIXES = ("localhost", ".localhost", ".local", ".internal", ".home.arpa")


def _networks(*cidrs: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(cidr) for cidr in cidrs)


# Spelled out rather than left to `ipaddress`'s is_private / is_global, whose lists change between
# Python versions (3.11 calls 2002::/16 and 192.0.0.9 global). Anything else not global is refused too.
_REFUSED = (
    ("loopback", _networks("127.0.0.0/8", "::1/128")),
    ("unspecified", _networks("0.0.0.0/8", "::/128")),
    ("link-local (cloud metadata lives here)", _networks("169.254.0.0/16", "fe80::/10")),
    ("private", _networks("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")),
    ("shared (CGNAT)", _networks("100.64.0.0/10")),
    ("IETF protocol assignment", _networks("192.0.0.0/24")),
    ("benchmarking", _networks("198.18.0.0/15", "2001:2::/48")),
    ("documentation", _networks("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")),
    ("Teredo", _networks("2001::/32")),
    ("multicast", _networks("224.0.0.0/4", "ff00::/8")),
    ("reserved", _networks("240.0.0.0/4", "192.88.99.0/24", "100::/64", "64:ff9b:1::/48", "fec0::/10")),
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class UnsafeTarget(InvalidInput):
    """The webhook URL is not allowed."""


@dataclass(frozen=True)
class WebhookTarget:
    """A webhook URL as it is sent to: the parsed URL, its host in ASCII (IDNA) form, and its port."""

    url: httpx.URL
    host: str
    port: int


def why_not_public(ip: IPAddress) -> str | None:
    """What kind of non-public address `ip` is (loopback, private, ...), or None for a public one."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return "IPv4-mapped IPv6"
        # NAT64 and 6to4 addresses reach the IPv4 address inside them.
        inner = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) if ip in _NAT64 else ip.sixtofour
        if inner is not None:
            kind = why_not_public(inner)
            return kind if kind is None or ip in _NAT64 else f"6to4 wrapping a {kind}"
    for kind, networks in _REFUSED:
        if any(ip in network for network in networks):
            return kind
    return None if ip.is_global else "non-public"


def _ascii_host(raw: str) -> str:
    """The host as sent (lowercase, IDNA), checked with the stdlib codec; InvalidInput when it does not encode."""
    if "%" in raw:  # a percent-encoded name, or an IPv6 zone (fe80::1%25eth0): meaningless to a receiver
        raise InvalidInput(f"The webhook URL's host {raw!r} is not a valid host name or address")
    if _literal_ip(raw) is not None or ":" in raw:
        return raw  # an address, not a name (IPv6 ones are checked as addresses)
    if not _HOST_CHARACTERS.fullmatch(raw) or len(raw.rstrip(".")) > 253:
        raise InvalidInput(f"The webhook URL's host {raw!r} is not a valid host name")
    try:
        raw.encode("idna")  # every label 1-63 characters
        raw.encode("ascii").decode("idna")  # punycode (xn--) labels decode
    except UnicodeError as exc:
        raise InvalidInput(f"The webhook URL's host {raw!r} does not encode as a host name (IDNA): {exc}") from exc
    return raw


def parse_webhook_url(url: str) -> WebhookTarget:
    """The URL as the sender reads it; InvalidInput unless it is a well-formed http(s) URL (no address rules)."""
    if len(url) > MAX_URL_LENGTH:
        raise InvalidInput(f"The webhook URL must be at most {MAX_URL_LENGTH} characters")
    if any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in url):
        raise InvalidInput("The webhook URL must not contain spaces or control characters")
    try:
        parsed = httpx.URL(url)
        authority = urlsplit(url).netloc
        host = parsed.host  # decodes punycode labels: raises for one that does not decode
    except (httpx.InvalidURL, ValueError) as exc:  # UnicodeError (IDNA) is a ValueError
        raise InvalidInput(f"Not a valid URL: {exc}") from exc
    if parsed.scheme not in _DEFAULT_PORTS:
        raise InvalidInput("Webhook URLs must start with https:// (or http:// to a public address)")
    if parsed.userinfo or "@" in authority:
        raise InvalidInput("The webhook URL must not hold a user name or password (user:pass@); use its path or query")
    if not host:
        raise InvalidInput("The webhook URL has no host")
    port = _DEFAULT_PORTS[parsed.scheme] if parsed.port is None else parsed.port
    if not 0 < port < 65536:
        raise InvalidInput(f"Not a valid URL: port {port} is out of range")
    return WebhookTarget(parsed, _ascii_host(parsed.raw_host.decode("ascii")), port)


def _literal_ip(host: str) -> IPAddress | None:
    """The address a host written as one means, in the forms resolvers accept too (`127.1`, `2130706433`)."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def check_webhook_url(url: str, *, allow_private: bool) -> WebhookTarget:
    """The target, or InvalidInput for a URL a webhook may not use (see the module docstring).

    Names are resolved only when sent.
    """
    target = parse_webhook_url(url)
    if allow_private:
        return target
    host = target.host
    if host.rstrip(".").endswith(_LOCAL_SUFFIXES):
        raise UnsafeTarget(f"Webhook URLs must reach a public address; {host!r} names this machine or a local network")
    ip = _literal_ip(host)
    if ip is None and ":" in host:
        raise InvalidInput(f"Not a valid URL: {host!r} is not an IPv6 address")
    if ip is not None and (kind := why_not_public(ip)):
        raise UnsafeTarget(f"Webhook URLs must reach a public address; {host} is a {kind} address")
    return target


async def resolve_public(host: str, port: int, *, allow_private: bool) -> str:
    """The address to connect to for `host`: resolved now, and refused unless every address it has is public."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise UnsafeTarget(f"Cannot resolve {host!r}: {exc}") from exc
    addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))
    if not addresses:
        raise UnsafeTarget(f"{host!r} resolves to no address")
    if not allow_private:
        for ip in addresses:
            if kind := why_not_public(ip):
                raise UnsafeTarget(f"Refused: {host} resolves to {ip}, a {kind} address")
    return str(addresses[0])
