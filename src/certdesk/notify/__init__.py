"""Notifications: building messages (``message``) apart from sending them (``mailers``)."""

from certdesk.notify.mailers import Mailer, OutboxMailer, SendError, SmtpMailer, mailer_for
from certdesk.notify.message import message_id, report_message

__all__ = [
    "Mailer",
    "OutboxMailer",
    "SendError",
    "SmtpMailer",
    "mailer_for",
    "message_id",
    "report_message",
]
