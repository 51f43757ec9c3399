"""Does a domain point at the platform? Asked of DNS (``dnspython``) before any order.

The platform's targets are host names (CNAME targets, such as ``edge.platform.example``)
and addresses (``203.0.113.10``). A domain points at the platform when its CNAME chain
passes through one of the names, or when one of its addresses is one of the platform's.
What was found and what to set are said in one sentence, for the reseller:
"store.example.com has CNAME shop.oldhost.net; set CNAME edge.platform.example".

The same resolver reads the TXT record that shows a tenant's ownership claim of a domain
(:func:`check_txt`: ``_certdesk.<name>`` holding the claim's token; ``desk.claims``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

import dns.exception
import dns.nameserver
import dns.rdatatype
import dns.resolver

MAX_CNAMES = 8


@dataclass(frozen=True, slots=True)
class Pointing:
    ok: bool
    found: str  # what DNS holds, e.g. "CNAME shop.oldhost.net" or "A 198.51.100.7"
    message: str  # for the reseller: what was found and what to set


def _is_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def resolver_for(servers: Sequence[str], timeout: float = 5.0) -> dns.resolver.Resolver:
    """A resolver asking ``servers`` ("ADDRESS" or "ADDRESS:PORT"), else the system's."""
    resolver = dns.resolver.Resolver(configure=not servers)
    if servers:
        nameservers: list[str | dns.nameserver.Nameserver] = []
        for server in servers:
            host, port = server, 53
            if server.count(":") == 1 or server.startswith("["):  # v4:port or [v6]:port
                host, _, number = server.rpartition(":")
                port = int(number)
            nameservers.append(dns.nameserver.Do53Nameserver(host.strip("[]"), port))
        resolver.nameservers = nameservers
    resolver.lifetime = timeout
    resolver.timeout = timeout
    return resolver


def _cname(resolver: dns.resolver.Resolver, name: str) -> str | None:
    try:
        answer = resolver.resolve(name, "CNAME", raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN:
        return None
    for record in answer:
        return str(record.target).rstrip(".").lower()
    return None


def _addresses(resolver: dns.resolver.Resolver, name: str) -> list[str]:
    found: list[str] = []
    for kind in ("A", "AAAA"):
        try:
            answer = resolver.resolve(name, kind, raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN:
            return []
        found += [record.address for record in answer if record.rdtype in _ADDRESS_TYPES]
    return found


_ADDRESS_TYPES = (dns.rdatatype.A, dns.rdatatype.AAAA)


def wanted_record(targets: Sequence[str]) -> str:
    """What to set for a name to point at the platform: "set CNAME edge.platform.example"
    (its first name), else "set A 203.0.113.10"; empty when no target is configured."""
    return _wanted(targets) if targets else ""


def _wanted(targets: Sequence[str]) -> str:
    names = [t for t in targets if not _is_address(t)]
    if names:
        return f"set CNAME {names[0]}"
    v4 = [t for t in targets if ":" not in t]
    kind = "A" if v4 else "AAAA"
    return f"set {kind} {(v4 or list(targets))[0]}"


def check_pointing(
    hostname: str, targets: Sequence[str], resolver: dns.resolver.Resolver
) -> Pointing:
    """Whether ``hostname`` points at one of ``targets``, and if not, what to change."""
    names = {t.rstrip(".").lower() for t in targets if not _is_address(t)}
    addresses = {ipaddress.ip_address(t) for t in targets if _is_address(t)}
    want = _wanted(targets)
    try:
        chain: list[str] = []
        current = hostname
        for _ in range(MAX_CNAMES):
            target = _cname(resolver, current)
            if target is None:
                break
            chain.append(target)
            if target in names:
                return Pointing(True, f"CNAME {target}", f"{hostname} points at the platform")
            current = target
        found_addresses = _addresses(resolver, hostname)
    except dns.exception.DNSException as exc:
        reason = str(exc) or type(exc).__name__
        return Pointing(
            False,
            "no answer",
            f"{hostname} could not be looked up in DNS ({reason}); {want}, and certdesk "
            "looks again by itself",
        )
    if any(ipaddress.ip_address(a) in addresses for a in found_addresses):
        return Pointing(
            True, "A " + ", ".join(found_addresses), f"{hostname} points at the platform"
        )
    if chain:
        found = f"CNAME {chain[0]}"
    elif found_addresses:
        kind = "AAAA" if ":" in found_addresses[0] else "A"
        found = f"{kind} " + ", ".join(found_addresses)
    else:
        found = "no address record"
    return Pointing(False, found, f"{hostname} has {found}; {want}")


@dataclass(frozen=True, slots=True)
class TxtCheck:
    ok: bool  # one of the record's strings is the value looked for
    found: str  # what the record holds, for the reader: '"a", "b"', "no TXT record"…


def check_txt(name: str, value: str, resolver: dns.resolver.Resolver) -> TxtCheck:
    """Whether the TXT record ``name`` holds ``value`` (one of its strings, whole)."""
    try:
        answer = resolver.resolve(name, "TXT", raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN:
        return TxtCheck(False, "no TXT record")
    except dns.exception.DNSException as exc:
        return TxtCheck(False, f"no answer: {str(exc) or type(exc).__name__}")
    strings = [
        b"".join(record.strings).decode("utf-8", "replace")
        for record in answer
        if record.rdtype == dns.rdatatype.TXT
    ]
    if not strings:
        return TxtCheck(False, "no TXT record")
    if value in strings:
        return TxtCheck(True, f'"{value}"')
    shown = ", ".join(f'"{s[:80]}"' for s in strings[:3])
    return TxtCheck(False, f"other values: {shown}")
