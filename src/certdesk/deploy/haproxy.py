"""The ``haproxy`` target: a crt-list, hot updates through the runtime API.

Each host gets ``HOSTNAME.pem`` in ``folder``: leaf, chain and key in one file (mode
0600), the form HAProxy loads without extra settings. ``crt_list`` lists them, one
line per host with its name as the SNI filter; the configuration binds it::

    global
        stats socket /run/haproxy/admin.sock mode 600 level admin
    frontend https
        bind :443 ssl crt /etc/haproxy/default.pem crt-list /var/lib/certdesk/haproxy/crt-list

A renewal of a host the running HAProxy already serves is swapped in place through
the runtime API (``set ssl cert FILE`` with the new PEM, then ``commit ssl cert
FILE``): no reload, no handshake lost. A new host needs a reload: ``haproxy -c``
first, then ``reload_command`` or SIGUSR2 to the master process whose pid is in
``pid_file`` (master-worker mode, ``-W``), then certdesk waits until the new worker
answers on the socket with every certificate of the crt-list loaded.

With ``http_listen`` (bind values, e.g. ``[":80"]``) and ``acme_http`` (where ``certdesk
serve`` answers, e.g. ``127.0.0.1:8080``), the target also writes ``http_config``
(``FOLDER/certdesk-http.cfg``): a plain-HTTP frontend that passes
``/.well-known/acme-challenge/`` to certdesk (ACME HTTP-01, for every name, before any
certificate of that name is installed) and redirects everything else to https. HAProxy
must load it: start it with ``-f CONFIG -f FOLDER/certdesk-http.cfg`` (Debian: add ``-f
…`` to ``EXTRAOPTS`` in ``/etc/default/haproxy``); the deploy checks, after the reload,
that the frontend is there. Without the options, a file written before is emptied (not
removed: HAProxy's command line still names it).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from certdesk.deploy._command import run
from certdesk.deploy._fileset import PRIVATE_FILE, PUBLIC_FILE, Write
from certdesk.deploy._folder import FolderTarget, Manifest
from certdesk.deploy._options import Options
from certdesk.deploy.base import DeployError, DeployItem, DeployPlan, DeployResult, file_stem
from certdesk.errors import InvalidArgument
from certdesk.pki.export import key_to_pem, to_pem

HAPROXY = "/usr/sbin/haproxy"
_INSTALL = "HAProxy (Debian package haproxy)"
HTTP_FILE = "certdesk-http.cfg"
CHALLENGE_PATH = "/.well-known/acme-challenge/"
_NO_ROUTING = (
    "# Written by certdesk: no port-80 routing of ACME challenges (the deploy target's\n"
    "# http_listen and acme_http are not set).\n"
)


class HAProxyTarget(FolderTarget):
    """Combined PEM files and a crt-list; hot updates for renewals, reloads for new names."""

    def __init__(
        self,
        folder: Path,
        *,
        socket_path: Path,
        config: Path,
        crt_list: Path | None = None,
        haproxy: str = HAPROXY,
        pid_file: Path | None = None,
        reload_command: Sequence[str] | None = None,
        address: tuple[str, int] | None = None,
        ssl_options: str = "",
        http_listen: Sequence[str] = (),
        acme_http: tuple[str, int] | None = None,
        http_config: Path | None = None,
        timeout: float = 10.0,
        name: str = "haproxy",
    ) -> None:
        super().__init__(folder, name=name)
        self.socket_path = Path(socket_path)
        self.config = Path(config).absolute()
        self.crt_list = Path(crt_list).absolute() if crt_list else self.folder / "crt-list"
        self.haproxy = haproxy
        self.pid_file = pid_file
        self.reload_command = tuple(reload_command) if reload_command else None
        self._address = address
        self.ssl_options = ssl_options.strip()
        self.timeout = timeout
        self._reload_sent = False  # by the deploy going live now: a reload was asked for
        self._swapped: list[Path] = []  # by the deploy going live now: committed hot swaps
        if any(c.isspace() or c in "\"'#\\" for c in str(self.folder)):
            raise InvalidArgument(
                f"the haproxy folder {str(self.folder)!r} has spaces or quotes",
                hint="HAProxy's crt-list and runtime API take paths without them",
            )
        if self.ssl_options and not (
            self.ssl_options.startswith("[") and self.ssl_options.endswith("]")
        ):
            raise InvalidArgument(
                "the haproxy ssl_options must be in brackets, e.g. '[alpn h2,http/1.1]'"
            )
        self.http_listen = tuple(v.strip() for v in http_listen)
        self.acme_http = acme_http
        self.http_config = Path(http_config).absolute() if http_config else self.folder / HTTP_FILE
        if any(not v or "\n" in v or "#" in v for v in self.http_listen):
            raise InvalidArgument(
                "the haproxy http_listen option must be one or more bind values like ':80'",
                field="http_listen",
            )
        if bool(self.http_listen) != (acme_http is not None):
            raise InvalidArgument(
                "the haproxy options http_listen and acme_http go together: where port 80 "
                "is listened on, and where certdesk answers ACME challenges",
                hint='set both (e.g. http_listen = [":80"] and acme_http = '
                '"127.0.0.1:8080", the address certdesk\'s server listens on), or neither',
            )
        if acme_http is not None and any(c.isspace() or c in "#/" for c in acme_http[0]):
            raise InvalidArgument(
                f"the haproxy acme_http host {acme_http[0]!r} is not a host name or address",
                field="acme_http",
            )

    @classmethod
    def from_options(cls, options: Mapping[str, Any] | None) -> HAProxyTarget:
        """Options: ``folder``, ``socket`` (runtime API), ``config`` (required);
        ``crt_list`` (``FOLDER/crt-list``), ``haproxy`` (binary), ``pid_file`` (master
        pid) or ``reload_command`` (list), ``address`` (``host:port`` for the proof),
        ``ssl_options`` (``[alpn h2,http/1.1]``), ``http_listen`` (bind values, e.g.
        ``[":80"]``) with ``acme_http`` (``host:port`` of certdesk serve) and
        ``http_config`` (``FOLDER/certdesk-http.cfg``) for the port-80 routing of ACME
        challenges, ``timeout``."""
        opts = Options("haproxy", options)
        target = cls(
            opts.path("folder"),
            socket_path=opts.path("socket"),
            config=opts.path("config"),
            crt_list=opts.optional_path("crt_list"),
            haproxy=opts.text("haproxy", HAPROXY),
            pid_file=opts.optional_path("pid_file"),
            reload_command=opts.command("reload_command"),
            address=opts.address("address"),
            ssl_options=opts.text("ssl_options", ""),
            http_listen=opts.words("http_listen", ()),
            acme_http=opts.address("acme_http"),
            http_config=opts.optional_path("http_config"),
            timeout=opts.number("timeout", 10.0),
        )
        opts.done()
        return target

    @property
    def address(self) -> tuple[str, int] | None:
        return self._address

    def cert_path(self, hostname: str) -> Path:
        return self.folder / f"{file_stem(hostname)}.pem"

    def paths(self, hostname: str) -> tuple[Path, ...]:
        return (self.cert_path(hostname),)

    def _render(self, item: DeployItem) -> list[Write]:
        data = to_pem(item.chain) + key_to_pem(item.key)
        return [Write(self.cert_path(item.hostname), data, PRIVATE_FILE)]

    def crt_list_line(self, hostname: str) -> str:
        """The crt-list line of one host: its PEM, ``ssl_options``, its name as SNI filter."""
        options = f" {self.ssl_options}" if self.ssl_options else ""
        return f"{self.cert_path(hostname)}{options} {hostname}"

    def _shared_writes(self, manifest: Manifest) -> list[Write]:
        lines = [self.crt_list_line(host) + "\n" for host in sorted(manifest)]
        return [Write(self.crt_list, "".join(lines).encode(), PUBLIC_FILE)]

    def _reconfigured(self, item: DeployItem) -> bool:
        """The host's line in the crt-list on disk is not the one rendered now (a changed
        ``ssl_options`` or ``crt_list``, or a line edited by hand)."""
        try:
            lines = self.crt_list.read_text().splitlines()
        except FileNotFoundError:
            return True
        except OSError as exc:
            raise DeployError(
                f"the haproxy target cannot read its crt-list {self.crt_list}",
                target=self.name,
                reason=str(exc),
                hint="give certdesk read access to it",
            ) from exc
        return self.crt_list_line(item.hostname) not in lines

    @property
    def http_frontend(self) -> str:
        """The name of the generated port-80 frontend (the target's name in it)."""
        return "certdesk-http-" + re.sub(r"[^A-Za-z0-9_.-]", "-", self.name)

    def http_section(self) -> str | None:
        """The generated port-80 frontend and certdesk's backend; None without
        ``http_listen``."""
        if self.acme_http is None:
            return None
        host, port = self.acme_http
        backend = self.http_frontend.replace("certdesk-http-", "certdesk-acme-", 1)
        lines = [
            f"# Generated by certdesk ({self.name} deploy target): ACME HTTP-01 challenges go",
            "# to certdesk serve, everything else is redirected to https. The next deploy",
            "# overwrites this file.",
            f"frontend {self.http_frontend}",
            "    mode http",
            *(f"    bind {value}" for value in self.http_listen),
            "    timeout client 30s",
            f"    acl certdesk_acme path_beg {CHALLENGE_PATH}",
            "    http-request redirect scheme https code 301 unless certdesk_acme",
            f"    default_backend {backend}",
            "",
            f"backend {backend}",
            "    mode http",
            "    timeout connect 5s",
            "    timeout server 30s",
            f"    server certdesk {host}:{port}",
        ]
        return "\n".join(lines) + "\n"

    def _target_writes(self) -> list[Write]:
        section = self.http_section()
        if section is not None:
            return [Write(self.http_config, section.encode(), PUBLIC_FILE)]
        if self.http_config.exists():
            return [Write(self.http_config, _NO_ROUTING.encode(), PUBLIC_FILE)]
        return []

    # --- the runtime API ------------------------------------------------------------

    def ask(self, command: str, payload: str | None = None) -> str:
        """Send one command (with an optional ``<<`` payload) to the runtime API."""
        text = command + (f" <<\n{payload.rstrip()}\n\n" if payload is not None else "\n")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.settimeout(self.timeout)
                conn.connect(str(self.socket_path))
                conn.sendall(text.encode())
                chunks = []
                while chunk := conn.recv(65536):
                    chunks.append(chunk)
        except OSError as exc:
            raise DeployError(
                f"the haproxy target cannot reach HAProxy's runtime API at {self.socket_path}",
                target=self.name,
                reason=str(exc),
                hint="is HAProxy running with 'stats socket PATH level admin' in global?",
            ) from exc
        return b"".join(chunks).decode("utf-8", "replace").strip()

    def loaded(self) -> set[str]:
        """The certificate files the running HAProxy has loaded (``show ssl cert``)."""
        answer = self.ask("show ssl cert")
        return {
            line.strip().lstrip("*")
            for line in answer.splitlines()
            if line.strip() and not line.startswith("#")
        }

    def hot_update(self, path: Path) -> None:
        """Swap the certificate HAProxy serves from ``path`` for what the file holds now."""
        payload = path.read_text()
        answer = self.ask(f"set ssl cert {path}", payload)
        if "Transaction created" not in answer and "Transaction updated" not in answer:
            with contextlib.suppress(DeployError):
                self.ask(f"abort ssl cert {path}")
            raise DeployError(
                f"HAProxy refused the new certificate {path.name}: {answer}",
                target=self.name,
                reason=answer,
            )
        answer = self.ask(f"commit ssl cert {path}")
        if "Success!" not in answer:
            with contextlib.suppress(DeployError):
                self.ask(f"abort ssl cert {path}")
            raise DeployError(
                f"HAProxy could not commit {path.name}: {answer}", target=self.name, reason=answer
            )

    # --- the protocol ---------------------------------------------------------------

    def config_test(self) -> None:
        """``haproxy -c -f CONFIG [-f HTTP_CONFIG]``; HAProxy's message in the
        DeployError when it fails."""
        extra = ["-f", str(self.http_config)] if self.http_config.is_file() else []
        run(
            [self.haproxy, "-c", "-f", str(self.config), *extra],
            target=self.name,
            doing="check the HAProxy configuration",
            install=_INSTALL,
            timeout=self.timeout,
        )

    def worker_pid(self) -> int | None:
        """The pid of the worker process answering on the runtime socket (``show info``)."""
        for line in self.ask("show info").splitlines():
            key, _, value = line.partition(":")
            if key == "Pid" and value.strip().isdigit():
                return int(value)
        return None

    def reload(self) -> None:
        """Reload HAProxy, then wait until a new worker answers with every certificate of
        the crt-list loaded (so that a reload right after is not lost in this one)."""
        try:
            before = self.worker_pid()
        except DeployError:
            before = None
        if self.reload_command is not None:
            self._reload_sent = True  # the command may have reloaded before it failed
            run(
                self.reload_command,
                target=self.name,
                doing="reload HAProxy",
                install=_INSTALL,
                timeout=self.timeout,
            )
        elif self.pid_file is not None:
            try:
                pid = int(self.pid_file.read_text().split()[0])
                os.kill(pid, signal.SIGUSR2)
                self._reload_sent = True
            except (OSError, ValueError, IndexError) as exc:
                raise DeployError(
                    f"the haproxy target cannot signal the master process in {self.pid_file}",
                    target=self.name,
                    reason=str(exc),
                    hint="run HAProxy in master-worker mode (-W) with -p PIDFILE",
                ) from exc
        else:
            raise DeployError(
                "the haproxy target does not know how to reload HAProxy",
                target=self.name,
                hint="give the option pid_file (master-worker mode) or reload_command",
            )
        self._wait_loaded(before)

    def _check_http_loaded(self) -> None:
        """With port-80 routing: the running HAProxy has the generated frontend."""
        if self.acme_http is None:
            return
        names = {line.split(",", 1)[0] for line in self.ask("show stat").splitlines()}
        if self.http_frontend not in names:
            raise DeployError(
                f"HAProxy did not load the port-80 routing of ACME challenges in "
                f"{self.http_config}",
                target=self.name,
                reason=f"no frontend {self.http_frontend} after the reload",
                hint=f"start HAProxy with -f {self.http_config} after -f {self.config} "
                "(Debian: in EXTRAOPTS of /etc/default/haproxy)",
            )

    def _wait_loaded(self, old_worker: int | None) -> None:
        wanted = {str(self.cert_path(host)) for host in self.read_manifest()}
        deadline = time.monotonic() + self.timeout
        seen: set[str] | None = None
        while True:
            with contextlib.suppress(DeployError):
                worker = self.worker_pid()
                seen = {p for p in self.loaded() if Path(p).parent == self.folder}
                if seen == wanted and (old_worker is None or worker != old_worker):
                    return
            if time.monotonic() > deadline:
                raise DeployError(
                    "HAProxy did not load the new certificates after the reload",
                    target=self.name,
                    reason=f"loaded {sorted(seen or ())}, expected {sorted(wanted)}"
                    f" from a worker other than {old_worker}",
                    hint="see HAProxy's log for why the new worker did not start",
                )
            time.sleep(0.05)

    def _go_live(self, plan: DeployPlan, written: tuple[Path, ...]) -> DeployResult:
        self._reload_sent = False
        self._swapped = []
        loaded = self.loaded()
        pems = [p for p in written if p.parent == self.folder and p.suffix == ".pem"]
        done = tuple(map(str, written))
        configs = [p for p in written if p != self.manifest_path and p not in pems]
        if configs or any(str(p) not in loaded for p in pems):
            self.config_test()
            self.reload()
            if self.http_config in written:
                self._check_http_loaded()
            return DeployResult(plan=plan, written=done, reloaded=True)
        hosts = {str(self.cert_path(h.hostname)): h.hostname for h in plan.hosts}
        for path in pems:
            self.hot_update(path)
            self._swapped.append(path)
        return DeployResult(
            plan=plan, written=done, hot_updated=tuple(hosts.get(str(p), p.stem) for p in pems)
        )

    def _undo_live(self, restored: tuple[Path, ...]) -> None:
        """Undo what the failed ``_go_live`` made live: a reload it asked for (reload
        the restored files), or the hot swaps it committed (swap the restored ones in)."""
        if self._reload_sent:
            self.config_test()
            self.reload()
            return
        for path in self._swapped:
            if path in restored and path.is_file():
                self.hot_update(path)

    def _revert_live(self, restored: tuple[Path, ...]) -> None:
        loaded = self.loaded()
        pems = [p for p in restored if p.parent == self.folder and p.suffix == ".pem"]
        configs = [p for p in restored if p != self.manifest_path and p not in pems]
        if configs or any(not p.is_file() or str(p) not in loaded for p in pems):
            self.config_test()
            self.reload()
            return
        for path in pems:
            self.hot_update(path)
