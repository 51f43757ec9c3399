"""The portal: server-rendered HTML pages over the same desk functions as the API."""

from certdesk.web.portal import mount

__all__ = ["mount"]
