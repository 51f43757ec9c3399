"""Host names as browsers compare them with certificates (RFC 6125, CA/Browser Forum).

- A wildcard is only the whole leftmost label (``*.example.com``), matches exactly
  one non-empty label, and never stands for a whole public suffix (``*.co.uk``).
- When the certificate has a subjectAltName, its names decide; the subject CN is
  consulted only when there is none (and ``no-san`` warns that browsers refuse it).
- Internationalised names are compared in A-label (``xn--``) form, case-insensitively.
- IP addresses match only IP address SANs.

A URL is accepted wherever a host is expected: ``https://store.test.com/shop`` means
``store.test.com``.

Whether a name is a public suffix is the caller's knowledge (the Public Suffix List
is data, read outside this pure layer): pass ``is_public_suffix``. Without it, a
wildcard still needs at least two labels after it.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import idna

from certdesk.errors import InvalidArgument

PublicSuffixTest = Callable[[str], bool]

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


@dataclass(frozen=True, slots=True)
class Host:
    """A host to check a certificate against: a DNS name in A-label form, or an IP."""

    name: str
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None = None
    port: int | None = None

    def __str__(self) -> str:
        return self.name


def parse_host(value: str) -> Host:
    """Read a host name, ``host:port``, IP address or URL into a :class:`Host`."""
    text = value.strip()
    if not text:
        raise InvalidArgument(
            "an empty host name was given", hint="give a name like store.test.com"
        )
    port: int | None = None
    if "://" in text or text.startswith("//"):
        parts = urlsplit(text if "://" in text else "https:" + text)
        host = parts.hostname or ""
        try:
            port = parts.port
        except ValueError as exc:
            raise InvalidArgument(f"the URL {value!r} has an invalid port") from exc
    else:
        host = text
        if host.startswith("["):  # [v6]:port
            closing = host.find("]")
            rest = host[closing + 1 :]
            host = host[1:closing]
            if rest.startswith(":") and rest[1:].isdigit():
                port = int(rest[1:])
        elif host.count(":") == 1:
            name, _, maybe_port = host.partition(":")
            if maybe_port.isdigit():
                host, port = name, int(maybe_port)
        host = host.split("/", 1)[0]
    host = host.strip().rstrip(".")
    if not host:
        raise InvalidArgument(f"no host name in {value!r}", hint="give a name like store.test.com")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return Host(name=str(ip), ip=ip, port=port)
    return Host(name=to_alabel(host, what=value), port=port)


def to_alabel(name: str, *, what: str | None = None, wildcard: bool = False) -> str:
    """Lower-case A-label form of a DNS name; a leading ``*.`` is kept if ``wildcard``."""
    text = name.strip().rstrip(".").lower()
    prefix = ""
    if wildcard and text.startswith("*."):
        prefix, text = "*.", text[2:]
    try:
        encoded = text if text.isascii() else idna.encode(text, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise InvalidArgument(
            f"{what or name!r} is not a valid host name ({exc})",
            hint="give a name like store.test.com",
        ) from exc
    labels = encoded.split(".")
    if not all(_LABEL.match(label) for label in labels) or len(encoded) > 253:
        raise InvalidArgument(
            f"{what or name!r} is not a valid host name",
            hint="a host name is letters, digits and hyphens in dot-separated labels",
        )
    return prefix + encoded


def normalise_pattern(pattern: str) -> str | None:
    """A certificate's DNS name in comparable form, or None if it cannot match anything."""
    text = pattern.strip().rstrip(".").lower()
    if text.startswith("*."):
        base = _safe_alabel(text[2:])
        return "*." + base if base else None
    return _safe_alabel(text)


def _safe_alabel(text: str) -> str | None:
    try:
        return text if text.isascii() else idna.encode(text, uts46=True).decode("ascii")
    except idna.IDNAError:
        return None


def wildcard_base_allowed(base: str, is_public_suffix: PublicSuffixTest | None) -> bool:
    """May ``*.base`` be a valid wildcard? Not when ``base`` is a public suffix."""
    if "." not in base:
        return False
    return not (is_public_suffix is not None and is_public_suffix(base))


def pattern_matches(
    pattern: str, host: str, is_public_suffix: PublicSuffixTest | None = None
) -> bool:
    """Does the certificate name ``pattern`` cover the A-label host name ``host``?"""
    norm = normalise_pattern(pattern)
    if norm is None:
        return False
    if not norm.startswith("*."):
        return "*" not in norm and norm == host
    base = norm[2:]
    if "*" in base or not wildcard_base_allowed(base, is_public_suffix):
        return False
    first, dot, rest = host.partition(".")
    return bool(first) and bool(dot) and rest == base


def covers(
    dns_names: Iterable[str],
    ip_addresses: Iterable[str],
    common_name: str | None,
    has_san: bool,
    host: Host,
    is_public_suffix: PublicSuffixTest | None = None,
) -> bool:
    """Does a certificate with these names cover ``host``?"""
    if host.ip is not None:
        return any(_same_ip(ip, host.ip) for ip in ip_addresses)
    if has_san:
        return any(pattern_matches(p, host.name, is_public_suffix) for p in dns_names)
    return common_name is not None and pattern_matches(common_name, host.name, is_public_suffix)


def _same_ip(text: str, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    try:
        return ipaddress.ip_address(text) == ip
    except ValueError:
        return False
