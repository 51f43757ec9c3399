"""A custom domain's URL and a connect-to address: parsed and normalised once.

Desk, deploy and monitor take a custom-domain URL as a :class:`DomainUrl` and a
``HOST:PORT`` address (the platform's own terminator for a domain) as an
:class:`Address`; both are read here, on top of :func:`~certdesk.pki.names.parse_host`,
and written back in one form:

- a :class:`DomainUrl` is ``https://host[:port][/path]``: https only, the host in
  lower-case A-label form (a name typed in Unicode is turned into its ``xn--`` form),
  port 443 unless given (and then not written), the path without its final ``/``; no
  wildcard, and no IP address unless the caller allows one (a probe of an address);
  the identity of a domain is its host and port;
- an :class:`Address` is ``host:port`` with the port required, an IPv6 address in
  brackets (``[2001:db8::1]:443``).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from certdesk.errors import InvalidArgument
from certdesk.pki.names import parse_host, to_alabel

PUBLIC_NAME_HINT = "a custom domain is a public DNS name, like shop.example.com"
_NAME_HINT = "give the custom domain the certificate is for"


def _port_checked(port: int, what: str) -> int:
    if not 0 < port < 65536:
        raise InvalidArgument(
            f"the port {port} of {what!r} is out of range", hint="a port is 1 to 65535"
        )
    return port


def _netloc(host: str, port: int | None) -> str:
    name = f"[{host}]" if ":" in host else host  # an IPv6 address
    return name if port is None else f"{name}:{port}"


@dataclass(frozen=True, slots=True)
class Address:
    """Where to connect: ``host`` a lower-case A-label name or an IP address, ``port``."""

    host: str
    port: int

    def __post_init__(self) -> None:
        _port_checked(self.port, str(self))

    @classmethod
    def parse(cls, value: str) -> Address:
        """Read ``HOST:PORT`` (``[v6]:PORT`` for IPv6); the port is required."""
        host = parse_host(value.strip())
        if host.port is None:
            raise InvalidArgument(
                f"the address to connect to, {value!r}, needs a port, like 10.0.0.5:443",
                field="connect_to",
            )
        return cls(host.name, host.port)

    @property
    def pair(self) -> tuple[str, int]:
        """``(host, port)`` as sockets take it (no brackets)."""
        return self.host, self.port

    def __str__(self) -> str:
        return _netloc(self.host, self.port)


@dataclass(frozen=True, slots=True)
class DomainUrl:
    """A custom-domain URL: ``https://hostname[:port]path``, optionally reached through
    ``connect_to`` (the platform's own terminator) instead of the host's own address."""

    hostname: str
    port: int = 443
    path: str = ""
    connect_to: Address | None = None

    def __post_init__(self) -> None:
        _port_checked(self.port, self.url)

    @classmethod
    def parse(
        cls, value: str, *, connect_to: str | None = None, allow_ip: bool = False
    ) -> DomainUrl:
        """Read a URL or bare host name (``host[:port][/path]``) into its one form.

        ``connect_to`` is read as an :class:`Address` (empty or None: none). An IP
        address as host is refused unless ``allow_ip`` (a probe of an address).
        """
        text = value.strip()
        if not text:
            raise InvalidArgument("an empty URL was given")
        if "://" in text:
            scheme = text.split("://", 1)[0].lower()
            if scheme != "https":
                raise InvalidArgument(
                    f"{value!r} is not an https:// URL", hint="custom domains are served over https"
                )
        if "*" in text:
            raise InvalidArgument(f"{value!r} is a wildcard; give each URL the certificate serves")
        try:
            host = parse_host(text)
        except InvalidArgument as exc:  # its hint speaks of --host; this is a custom domain
            raise InvalidArgument(exc.message, hint=PUBLIC_NAME_HINT) from exc
        if host.ip is not None and not allow_ip:
            raise InvalidArgument(
                f"{value!r} is an IP address; a custom domain is a name", hint=_NAME_HINT
            )
        if "://" not in text:
            text = "https:" + text if text.startswith("//") else "https://" + text
        try:
            path = urlsplit(text).path.rstrip("/")
        except ValueError as exc:  # e.g. brackets around something that is no address
            raise InvalidArgument(
                f"{value!r} is not a URL certdesk can read", hint=PUBLIC_NAME_HINT
            ) from exc
        address = Address.parse(connect_to) if connect_to and connect_to.strip() else None
        return cls(host.name, _port_checked(host.port or 443, value), path, address)

    @property
    def url(self) -> str:
        """The URL in its one written form (port 443 left out)."""
        return (
            f"https://{_netloc(self.hostname, None if self.port == 443 else self.port)}{self.path}"
        )

    @property
    def ip(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
        try:
            return ipaddress.ip_address(self.hostname)
        except ValueError:
            return None

    @property
    def address(self) -> Address:
        """Where the URL's server is reached: ``connect_to`` if set, else its host and port."""
        return self.connect_to or Address(self.hostname, self.port)

    def __str__(self) -> str:
        return self.url


def install_name(value: str) -> str:
    """A host name as deploy targets use it (in file names): lower-case A-label, a
    wildcard ``*.`` kept, no IP address, nothing that is not a name."""
    text = value.strip().rstrip(".").lower()
    if not text or "/" in text or ":" in text:
        raise InvalidArgument(
            f"{value!r} is not a host name", hint="give a name like store.test.com"
        )
    name = to_alabel(text, what=value, wildcard=True)
    if parse_host(name.removeprefix("*.")).ip is not None:
        raise InvalidArgument(
            f"{value!r} is an IP address; deploy targets serve host names", hint=_NAME_HINT
        )
    return name
