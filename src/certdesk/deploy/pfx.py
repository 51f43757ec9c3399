"""The ``pfx`` target: ``HOSTNAME.pfx`` per host, for Windows/IIS-style terminators.

Each file holds the key, the leaf and its chain, encrypted with the password from the
settings as ``openssl pkcs12 -export`` does in OpenSSL 3 (PBES2, AES-256-CBC,
PBKDF2-HMAC-SHA256, SHA-256 MAC); ``legacy`` writes 3DES/SHA-1 for Windows Server
2016 and older. Files are mode 0600. The password is never written anywhere else.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from certdesk.deploy._fileset import PRIVATE_FILE, Write
from certdesk.deploy._folder import FolderTarget
from certdesk.deploy._options import Options
from certdesk.deploy.base import DeployItem, file_stem
from certdesk.errors import InvalidArgument
from certdesk.pki.export import to_pfx


class PfxTarget(FolderTarget):
    """Password-protected ``.pfx`` files in ``folder``; nothing to reload."""

    def __init__(
        self, folder: Path, *, password: bytes | str, legacy: bool = False, name: str = "pfx"
    ) -> None:
        super().__init__(folder, name=name)
        secret = password.encode("utf-8") if isinstance(password, str) else password
        if not secret:
            raise InvalidArgument(
                "the pfx deploy target needs a password",
                hint="set the pfx target's password in the settings",
            )
        self._password = secret
        self.legacy = legacy

    @classmethod
    def from_options(cls, options: Mapping[str, Any] | None) -> PfxTarget:
        """Options: ``folder`` and ``password`` (required), ``legacy`` (false)."""
        opts = Options("pfx", options)
        target = cls(
            opts.path("folder"), password=opts.secret("password"), legacy=opts.flag("legacy", False)
        )
        opts.done()
        return target

    def pfx_path(self, hostname: str) -> Path:
        return self.folder / f"{file_stem(hostname)}.pfx"

    def paths(self, hostname: str) -> tuple[Path, ...]:
        return (self.pfx_path(hostname),)

    def _render(self, item: DeployItem) -> list[Write]:
        data = to_pfx(
            item.key,
            item.chain[0],
            item.chain[1:],
            password=self._password,
            legacy=self.legacy,
            friendly_name=item.hostname,
        )
        return [Write(self.pfx_path(item.hostname), data, PRIVATE_FILE)]
