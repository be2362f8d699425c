"""Where webhooks may go: http(s) URLs to public addresses only, checked when stored and again when sent.

A webhook URL naming a loopback, private, link-local (cloud metadata at 169.254.169.254 among them),
shared, reserved or multicast address is refused, as is a name such as `localhost`. A name is
resolved when a delivery is sent, every address it resolves to must be public, and the delivery
connects to the address that was checked (never resolving again), so a DNS answer that changes
between the check and the connection (DNS rebinding) cannot point it inside. The setting
`SELLERCOLLECTION_WEBHOOK_ALLOW_PRIVATE` lifts the address rules (self-hosting, tests).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import SplitResult, urlsplit

from app.errors import InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Names that always mean this machine or a private network, whatever a resolver says.
_LOCAL_SUFFIXES = ("localhost", ".localhost", ".local", ".internal", ".home.arpa")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class UnsafeTarget(InvalidInput):
    """The webhook URL is not allowed."""


def _embedded_ipv4(ip: IPAddress) -> IPAddress:
    """The IPv4 address inside an IPv4-mapped or NAT64 IPv6 address (they reach that IPv4 host)."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip in _NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def why_not_public(ip: IPAddress) -> str | None:
    """What kind of non-public address `ip` is (loopback, private, ...), or None for a public one."""
    ip = _embedded_ipv4(ip)
    for kind, test in (
        ("loopback", ip.is_loopback),
        ("unspecified", ip.is_unspecified),
        ("link-local (cloud metadata lives here)", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
    ):
        if test:
            return kind
    return None if ip.is_global else "non-public"


def split_webhook_url(url: str) -> SplitResult:
    """The URL's parts; InvalidInput unless it is an http(s) URL with a host and a valid port."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # parsing the port raises for a bad one
    except ValueError as exc:
        raise InvalidInput(f"Not a valid URL: {exc}") from exc
    if parts.scheme not in ("http", "https"):
        raise InvalidInput("Webhook URLs must start with https:// (or http:// to a public address)")
    if not parts.hostname:
        raise InvalidInput("The webhook URL has no host")
    if any(ch.isspace() for ch in url):
        raise InvalidInput("The webhook URL must not contain spaces")
    return parts


def _literal_address(host: str) -> IPAddress | None:
    """The address a host written as one means, in the forms resolvers accept too (`127.1`, `2130706433`)."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def check_webhook_url(url: str, *, allow_private: bool) -> None:
    """InvalidInput for a URL a webhook may not use (see the module docstring); names are resolved when sent."""
    host = split_webhook_url(url).hostname or ""
    if allow_private:
        return
    if host.rstrip(".").endswith(_LOCAL_SUFFIXES):
        raise UnsafeTarget(f"Webhook URLs must reach a public address; {host!r} names this machine or a local network")
    ip = _literal_address(host)
    if ip is not None and (kind := why_not_public(ip)):
        raise UnsafeTarget(f"Webhook URLs must reach a public address; {host} is a {kind} address")


async def resolve_public(host: str, port: int, *, allow_private: bool) -> str:
    """The address to connect to for `host`: resolved now, and refused unless every address it has is public."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise UnsafeTarget(f"Cannot resolve {host!r}: {exc}") from exc
    addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))
    if not addresses:
        raise UnsafeTarget(f"{host!r} resolves to no address")
    if not allow_private:
        for ip in addresses:
            if kind := why_not_public(ip):
                raise UnsafeTarget(f"Refused: {host} resolves to {ip}, a {kind} address")
    return str(addresses[0])
