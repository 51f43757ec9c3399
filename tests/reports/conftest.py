from tests.reports.certs import certs
from tests.reports.cli import certdesk_cli

__all__ = ["certdesk_cli", "certs"]
