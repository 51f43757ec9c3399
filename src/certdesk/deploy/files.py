"""The ``files`` target: ``HOSTNAME.pem`` (leaf + chain) and ``HOSTNAME.key`` per host.

The layout nginx, HAProxy (with ``ssl-load-extra-del-ext``), Caddy and Traefik file
providers read. Certificates are mode 0644, keys 0600 (temporary files too); every
file is replaced atomically; ``manifest.json`` lists the hosts with their
fingerprints, expiry, URLs and files. A wildcard ``*.example.com`` is written as
``_wildcard.example.com.pem``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from certdesk.deploy._fileset import PRIVATE_FILE, PUBLIC_FILE, Write
from certdesk.deploy._folder import FolderTarget
from certdesk.deploy._options import Options
from certdesk.deploy.base import DeployItem, file_stem
from certdesk.pki.export import key_to_pem, to_pem


class FilesTarget(FolderTarget):
    """Certificates and keys as PEM files in ``folder``; nothing to reload."""

    def __init__(self, folder: Path, *, name: str = "files") -> None:
        super().__init__(folder, name=name)

    @classmethod
    def from_options(cls, options: Mapping[str, Any] | None) -> FilesTarget:
        """Options: ``folder`` (required)."""
        opts = Options("files", options)
        target = cls(opts.path("folder"))
        opts.done()
        return target

    def cert_path(self, hostname: str) -> Path:
        return self.folder / f"{file_stem(hostname)}.pem"

    def key_path(self, hostname: str) -> Path:
        return self.folder / f"{file_stem(hostname)}.key"

    def paths(self, hostname: str) -> tuple[Path, ...]:
        return (self.cert_path(hostname), self.key_path(hostname))

    def _render(self, item: DeployItem) -> list[Write]:
        return [
            Write(self.cert_path(item.hostname), to_pem(item.chain), PUBLIC_FILE),
            Write(self.key_path(item.hostname), key_to_pem(item.key), PRIVATE_FILE),
        ]
