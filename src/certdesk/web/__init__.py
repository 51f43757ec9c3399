"""The portal: server-rendered HTML pages over the same desk functions as the API."""

from certdesk.web.portal import error_page, mount

__all__ = ["error_page", "mount"]
