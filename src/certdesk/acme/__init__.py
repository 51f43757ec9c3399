"""Platform-managed certificates over ACME (RFC 8555): the client (certbot's ``acme``
package and ``josepy``; the CA's renewal information, RFC 9773, when it offers it), the
CA's problem documents, and the DNS check that a domain points at the platform before
anything is ordered."""

from certdesk.acme.client import AcmeClient, AcmeConfig, RenewalAdvice
from certdesk.acme.dns import Pointing, check_pointing, resolver_for
from certdesk.acme.problems import AcmeFailed, Problem

__all__ = [
    "AcmeClient",
    "AcmeConfig",
    "AcmeFailed",
    "Pointing",
    "Problem",
    "RenewalAdvice",
    "check_pointing",
    "resolver_for",
]
