"""Finding a deploy target by name: the built-ins, then plugins.

A platform adds its own target by publishing, in its package's metadata, an entry
point in the group ``certdesk.deploy_targets``::

    [project.entry-points."certdesk.deploy_targets"]
    cdn = "acme_platform.certdesk_cdn:CdnTarget.from_options"

The object it names is called with the target's options (a plain dict from the
settings) and must return something that has the :class:`~certdesk.deploy.Target`
methods. A built-in name (``files``, ``nginx``, ``haproxy``, ``pfx``) cannot be
taken over by a plugin.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from certdesk.deploy.base import DeployError, Target
from certdesk.deploy.files import FilesTarget
from certdesk.deploy.haproxy import HAProxyTarget
from certdesk.deploy.nginx import NginxTarget
from certdesk.deploy.pfx import PfxTarget
from certdesk.errors import CertdeskError, InvalidArgument

ENTRY_POINT_GROUP = "certdesk.deploy_targets"

TargetFactory = Callable[[Mapping[str, Any]], Target]

BUILTIN_TARGETS: dict[str, TargetFactory] = {
    "files": FilesTarget.from_options,
    "nginx": NginxTarget.from_options,
    "haproxy": HAProxyTarget.from_options,
    "pfx": PfxTarget.from_options,
}


def _plugins() -> dict[str, EntryPoint]:
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name not in BUILTIN_TARGETS:
            found.setdefault(ep.name, ep)
    return found


def available_targets() -> list[str]:
    """The names ``load_target`` accepts: the built-ins first, then the plugins, sorted."""
    return [*BUILTIN_TARGETS, *sorted(_plugins())]


def load_target(name: str, options: Mapping[str, Any] | None = None) -> Target:
    """The target called ``name``, built from ``options``.

    Unknown names and bad options raise ``invalid-argument``; a plugin that cannot be
    imported or does not give a target raises ``deploy-failed``.
    """
    if name in BUILTIN_TARGETS:
        return BUILTIN_TARGETS[name](dict(options or {}))
    plugin = _plugins().get(name)
    if plugin is None:
        raise InvalidArgument(
            f"there is no deploy target called {name!r}",
            hint=f"choose one of: {', '.join(available_targets())}",
        )
    try:
        factory = plugin.load()
    except Exception as exc:
        raise DeployError(
            f"the deploy target plugin {name!r} ({plugin.value}) cannot be loaded: {exc}",
            target=name,
            reason=repr(exc),
            hint="check that the package providing it is installed and up to date",
        ) from exc
    try:
        target = factory(dict(options or {}))
    except CertdeskError:
        raise
    except Exception as exc:
        raise DeployError(
            f"the deploy target plugin {name!r} refused its options: {exc}",
            target=name,
            reason=repr(exc),
        ) from exc
    if not isinstance(target, Target):
        raise DeployError(
            f"the deploy target plugin {name!r} did not give a deploy target",
            target=name,
            reason=f"{plugin.value} returned {type(target).__name__}",
            hint="a target has name, address, plan, deploy, config_test, reload, rollback and keep",
        )
    return target
