"""certdesk: the whole life of the TLS certificates behind a platform's custom domains."""

from certdesk.errors import CertdeskError

__version__ = "0.1.0"

__all__ = ["CertdeskError", "__version__"]
