"""Where a probe connects: one resolution, then a check that the address is public.

A monitor that connects wherever a customer's DNS points can be aimed at the
platform's own private network. Every address a probe would use, the resolved one
or a ``connect_to`` one, must be globally routable unless ``allow_private`` is
set; the address checked is the address connected to (no second lookup).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class AddressRefused(Exception):
    """The address is not one a probe may reach (internal to the monitor)."""


class ResolveFailed(Exception):
    """The name does not resolve (internal to the monitor)."""


def literal_ip(host: str) -> IPAddress | None:
    """``host`` as an IP address when it is one (``[v6]`` too), else None."""
    text = host.strip("[]")
    # An IPv6 address has a colon and an IPv4 one only digits and dots: a name is told
    # apart without the two failed parses ipaddress would try (a probe asks twice).
    if ":" not in text and not text.replace(".", "").isdigit():
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def why_blocked(ip: IPAddress) -> str | None:
    """Why ``ip`` may not be probed without ``allow_private``, or None when it may."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_private:
        return "a private address"
    if not ip.is_global:
        return "an address that is not globally routable"
    return None


async def resolve(
    loop: asyncio.AbstractEventLoop, host: str, port: int, *, allow_private: bool
) -> tuple[socket.AddressFamily, tuple[str, int]]:
    """The family and address to connect to for ``host:port``.

    An IP literal is used as it is; a name is resolved once and its first address
    is used. Raises :class:`ResolveFailed` or :class:`AddressRefused`.
    """
    ip = literal_ip(host)
    if ip is None:
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise ResolveFailed(f"{host} does not resolve: {_gai_text(exc)}") from exc
        if not infos:
            raise ResolveFailed(f"{host} resolves to no address")
        ip = ipaddress.ip_address(infos[0][4][0])
    if not allow_private:
        reason = why_blocked(ip)
        if reason is not None:
            # A resolved address is not shown: the message reaches resellers, and the
            # platform's private addresses are not theirs to map.
            what = f"{host} resolves to" if host.strip("[]") != str(ip) else f"{ip} is"
            raise AddressRefused(f"{what} {reason}; probes do not reach those")
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    return family, (str(ip), port)


def _gai_text(exc: Exception) -> str:
    if isinstance(exc, socket.gaierror) and len(exc.args) > 1:
        return str(exc.args[1])
    return str(exc)
