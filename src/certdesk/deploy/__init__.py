"""Installing certificates on TLS terminators, and proving them live.

Every target sits behind one :class:`Target` protocol (``plan``, ``deploy``,
``config_test``, ``reload``, ``rollback``, ``keep``, each raising :class:`DeployError`,
code ``deploy-failed``), as certbot's installers do:

- ``files``: ``HOSTNAME.pem`` + ``HOSTNAME.key`` (0600) and a manifest;
- ``nginx``: the files plus a server block per host, ``nginx -t`` then reload;
- ``haproxy``: combined PEMs and a crt-list, renewals hot-swapped through the
  runtime API, a reload only for new names;
- ``pfx``: password-protected ``HOSTNAME.pfx`` files;
- plugins, through the entry-point group ``certdesk.deploy_targets``.

:func:`prove` then checks with a real handshake that each URL serves the new leaf;
:func:`install` deploys, proves, and keeps or rolls back exactly that deploy.
Options are plain values passed in; nothing here reads the environment.
"""

from certdesk.deploy.base import (
    Action,
    DeployError,
    DeployItem,
    DeployPlan,
    DeployResult,
    HostChange,
    Target,
)
from certdesk.deploy.files import FilesTarget
from certdesk.deploy.haproxy import HAProxyTarget
from certdesk.deploy.install import Installation, install
from certdesk.deploy.nginx import NginxTarget
from certdesk.deploy.pfx import PfxTarget
from certdesk.deploy.proof import Proof, prove, prove_many
from certdesk.deploy.registry import (
    BUILTIN_TARGETS,
    ENTRY_POINT_GROUP,
    TargetFactory,
    available_targets,
    load_target,
)

__all__ = [
    "BUILTIN_TARGETS",
    "ENTRY_POINT_GROUP",
    "Action",
    "DeployError",
    "DeployItem",
    "DeployPlan",
    "DeployResult",
    "FilesTarget",
    "HAProxyTarget",
    "HostChange",
    "Installation",
    "NginxTarget",
    "PfxTarget",
    "Proof",
    "Target",
    "TargetFactory",
    "available_targets",
    "install",
    "load_target",
    "prove",
    "prove_many",
]
