"""Platform-managed certificates over ACME (RFC 8555): the client (certbot's ``acme``
package and ``josepy``; the CA's renewal information, RFC 9773, when it offers it), the
CA's problem documents, the DNS check that a domain points at the platform before
anything is ordered, and the TXT record that shows a tenant's claim of a domain."""

from certdesk.acme.client import AcmeClient, AcmeConfig, RenewalAdvice
from certdesk.acme.dns import (
    Pointing,
    TxtCheck,
    check_pointing,
    check_txt,
    resolver_for,
    wanted_record,
)
from certdesk.acme.problems import AcmeFailed, Problem

__all__ = [
    "AcmeClient",
    "AcmeConfig",
    "AcmeFailed",
    "Pointing",
    "Problem",
    "RenewalAdvice",
    "TxtCheck",
    "check_pointing",
    "check_txt",
    "resolver_for",
    "wanted_record",
]
