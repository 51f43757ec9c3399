"""The application: what composes the layers below into running certdesk.

- ``compose``: settings → a ``Desk`` (store, vault, trust policy), the installer, and the
  vault's crash-safe master-key rotation;
- ``installer``: after an intake, deploy → prove by handshake → keep or roll back → record
  → notify;
- ``probing``: probe URLs and record what they serve;
- ``on_demand``: the workers of ``certdesk serve`` that run the queued "probe now" and
  "install now" requests (``desk.work_requests``), each under a lease another process
  takes over;
- ``readpool``: the processes that read uploaded files, away from the event loop;
- ``server``: the portal, the API and the scheduler in one process (``certdesk serve``).

Interfaces (``cli``, ``api``, ``web``, ``asgi``) import from here; nothing here imports an
interface but ``server``, the process of ``certdesk serve``, which builds the one app from
``certdesk.asgi`` (recorded in the ``layers`` contract of ``pyproject.toml``).
"""
