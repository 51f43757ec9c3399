"""What the JSON API (``certdesk.api``) and the portal (``certdesk.web``) share over HTTP.

- :mod:`certdesk.http.auth`: who is calling (API token or session cookie), CSRF, the
  session cookie, failed-login limits, the client's address.
- :mod:`certdesk.http.files`: uploads read within the size limit, files to download.
- :mod:`certdesk.http.errors`: a ``CertdeskError`` (or a framework error) as JSON, with
  the HTTP status its class carries.
- :mod:`certdesk.http.threads`: the thread pools that reads and uploads wait in.
- :mod:`certdesk.http.bounds`: the bounds of ids and offsets in addresses (what the
  database can hold: a 400, not a 500).
- :mod:`certdesk.http.headers`: security headers on every answer (CSP, HSTS, no-store).

``api`` and ``web`` import from here and never from each other; ``certdesk.asgi`` builds
the one app that mounts them side by side. Nothing here imports ``api`` or ``web``.
"""
