"""Host names as browsers compare them with certificates (RFC 6125, CA/Browser Forum).

Where RFC 6125 leaves a choice, certdesk decides as Mozilla's mozpkix (NSS
``pkixnames``) does:

- A name in a certificate (a *presented* name) is ASCII letters, digits, hyphens and
  underscores in dot-separated labels of 1 to 63 characters, 253 at most in all; no
  label starts or ends with a hyphen, the last label is not all digits, and there is
  no empty label and no trailing dot. A presented name that breaks a rule (a U-label,
  ``example.com.``, ``a..b.com``) matches nothing.
- A wildcard is only the whole leftmost label (``*.example.com``), matches exactly
  one non-empty label, needs at least two labels after it, and never stands for a
  whole public suffix (``*.co.uk``).
- A host to check (a *reference* name, ``--host``) may also hold underscores
  (internal names such as ``_dmarc.example.com``) and labels that start or end with
  a hyphen, and may end in one dot (an absolute name, which matches as without it).
  A U-label host is turned into its A-label (``xn--``) form first.
- Comparison is ASCII case-insensitive.
- When the certificate has a subjectAltName, its names decide; the subject CN is
  consulted only when there is none (and ``no-san`` warns that browsers refuse it).
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
# mozpkix's IsValidDNSID, for a reference and for a presented name.
_REFERENCE_LABEL = re.compile(r"[a-z0-9_-]{1,63}")
_PRESENTED_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")
_MAX_NAME = 253


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
    host = host.strip()
    if not host:
        raise InvalidArgument(f"no host name in {value!r}", hint="give a name like store.test.com")
    # An IPv6 address has a colon and an IPv4 one only digits and dots; anything else is a
    # name, told apart without the two failed parses ipaddress would try.
    if ":" in host or host.replace(".", "").isdigit():
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            pass
        else:
            return Host(name=str(ip), ip=ip, port=port)
    return Host(name=reference_name(host, what=value), port=port)


def reference_name(name: str, *, what: str | None = None) -> str:
    """A host to check, in the form it is compared in: lower-case A-labels, no final dot.

    Accepts what mozpkix accepts as a reference name (underscores, hyphens at either end
    of a label, one trailing dot); raises ``InvalidArgument`` otherwise.
    """
    text = name.lower()
    if not text.isascii():
        try:
            text = idna.encode(text.rstrip("."), uts46=True).decode("ascii") + (
                "." if text.endswith(".") else ""
            )
        except idna.IDNAError as exc:
            raise InvalidArgument(
                f"{what or name!r} is not a valid host name ({exc})",
                hint="give a name like store.test.com",
            ) from exc
    bare = text[:-1] if text.endswith(".") else text
    labels = bare.split(".")
    if (
        len(text) > _MAX_NAME
        or not all(_REFERENCE_LABEL.fullmatch(label) for label in labels)
        or labels[-1].isdigit()
    ):
        raise InvalidArgument(
            f"{what or name!r} is not a valid host name",
            hint="a host name is letters, digits, hyphens and underscores in dot-separated "
            "labels of up to 63 characters, the last one not only digits",
        )
    return bare


def presented_name(pattern: str) -> str | None:
    """A certificate's DNS name in comparable form, or None if mozpkix would refuse it."""
    text = pattern.lower()
    if len(text) > _MAX_NAME or not text.isascii():
        return None
    labels = text.split(".")
    if labels[0] == "*":
        if len(labels) < 3:
            return None
        rest = labels[1:]
    else:
        rest = labels
    if not all(_PRESENTED_LABEL.fullmatch(label) for label in rest) or rest[-1].isdigit():
        return None
    return text


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
    """Does the certificate name ``pattern`` cover the host ``host``?

    ``host`` is a reference name as :func:`parse_host` gives it (lower-case A-labels,
    without a final dot); one final dot is also taken, as mozpkix takes it.
    """
    norm = presented_name(pattern)
    if norm is None:
        return False
    host = host.lower()
    if host.endswith("."):
        host = host[:-1]
    if not norm.startswith("*."):
        return norm == host
    base = norm[2:]
    if not wildcard_base_allowed(base, is_public_suffix):
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
