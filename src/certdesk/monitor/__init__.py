"""certdesk's TLS prober: what each monitored URL really serves.

Probes run on asyncio with OpenSSL (through cryptography's bindings) on non-blocking
sockets (see ``handshake``), complete the handshake without verifying, and judge what
was served with :mod:`certdesk.pki`: trust against the given roots, the host name,
drift from the expected leaf. Private, loopback and link-local addresses are refused
unless ``allow_private`` is given. The pure ``pki`` layer never imports this package.
"""

from certdesk.monitor.prober import Clock, Progress, probe_all, probe_many
from certdesk.pki.probes import ErrorKind, ProbeResult, ProbeTarget, ServedCertificate

__all__ = [
    "Clock",
    "ErrorKind",
    "ProbeResult",
    "ProbeTarget",
    "Progress",
    "ServedCertificate",
    "probe_all",
    "probe_many",
]
