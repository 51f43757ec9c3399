from tests.notify.smtpd import smtp
from tests.reports.certs import certs

__all__ = ["certs", "smtp"]
