"""E-mail addresses and display names that go into mail headers, checked when written;
and the network addresses of trusted reverse proxies.

Every address certdesk will put in a ``To:`` or ``From:`` header — a tenant's contacts,
``CERTDESK_OPERATOR_EMAILS``, ``CERTDESK_MAIL_FROM`` — is checked with
``email-validator`` (syntax only: no DNS lookup) when it is written, so that building a
report's message can never fail on it later. A tenant's name, which appears in mails,
reports and the portal, is one line of printable text.
"""

from __future__ import annotations

import ipaddress
import unicodedata
from collections.abc import Iterable

from email_validator import EmailNotValidError, validate_email

from certdesk.errors import InvalidArgument

# The documented default sender, for a local relay: a domain without a dot, which
# email-validator (rightly, for contacts) refuses.
DEFAULT_SENDER = "certdesk@localhost"
MAX_NAME = 200


def email_address(value: str, *, what: str = "an e-mail address", field: str | None = None) -> str:
    """``value`` as a checked address (normalised: the domain in lower case); else
    ``InvalidArgument`` saying what is wrong with it.

    Reserved test domains (``*.test``, RFC 6761) are accepted, for staging platforms;
    other special-use names (``localhost``, ``.local``, ``.invalid``…) are not. ``field``:
    the input the address came from, for the error.
    """
    text = value.strip()
    try:
        checked = validate_email(text, check_deliverability=False, test_environment=True)
    except EmailNotValidError as exc:
        raise InvalidArgument(
            f"{value!r} is not usable as {what}: {exc}",
            hint="write one plain address such as ops@example.com (no name, no brackets)",
            field=field,
        ) from exc
    return checked.normalized


def sender_address(value: str) -> str:
    """The ``From:`` address of certdesk's mails (``CERTDESK_MAIL_FROM``)."""
    if value.strip() == DEFAULT_SENDER:
        return DEFAULT_SENDER
    return email_address(value, what="the sender address (CERTDESK_MAIL_FROM)")


def _bad_character(c: str) -> bool:
    # Cc: control characters (CR, LF, tab, NUL…); Zl/Zp: U+2028/U+2029, line breaks too.
    return unicodedata.category(c) in ("Cc", "Zl", "Zp")


def tenant_name(value: str, *, field: str | None = None) -> str:
    """A tenant's name: 1 to 200 printable characters on one line, not only quotes
    (``field``: the input it came from, for the error)."""
    clean = value.strip()
    if (
        not clean
        or len(clean) > MAX_NAME
        or any(_bad_character(c) for c in clean)
        or not clean.strip("\"'` ")
    ):
        raise InvalidArgument(
            f"{value!r} is not usable as a tenant name",
            hint="a tenant name is 1 to 200 printable characters on one line "
            "(no line breaks or control characters), not only quotes",
            field=field,
        )
    return clean


Networks = tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]


def proxy_networks(addresses: Iterable[str]) -> Networks:
    """The networks of the configured proxies (``10.0.0.1``, ``10.0.0.0/24``, ``::1``);
    ``InvalidArgument`` for a mistyped one."""
    networks = []
    for text in addresses:
        try:
            networks.append(ipaddress.ip_network(text.strip(), strict=False))
        except ValueError as exc:
            raise InvalidArgument(
                f"{text!r} is not a proxy address",
                hint="give IP addresses or networks, like 10.0.0.1 or 10.0.0.0/24",
            ) from exc
    return tuple(networks)
