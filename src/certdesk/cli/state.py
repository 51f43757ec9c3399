"""The data folder the command line works on, and the desk opened on it (once, lazily)."""

from __future__ import annotations

import getpass
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from certdesk.application.compose import open_desk, open_installer
from certdesk.desk import Actor, Desk
from certdesk.settings import Settings, load_settings

if TYPE_CHECKING:
    from certdesk.application.installer import Installer


@dataclass
class State:
    home: Path | None = None
    _settings: Settings | None = None
    _desk: Desk | None = field(default=None, repr=False)

    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.home)
        return self._settings

    def desk(self) -> Desk:
        if self._desk is None:
            self._desk = open_desk(self.settings())
        return self._desk

    def installer(self) -> Installer:
        return open_installer(self.settings(), self.desk())

    def actor(self) -> Actor:
        """The command line acts as an operator of the platform."""
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = "unknown"
        return Actor(name=f"cli:{user}")

    def close(self) -> None:
        if self._desk is not None:
            self._desk.store.close()
            self._desk = None


state = State()
