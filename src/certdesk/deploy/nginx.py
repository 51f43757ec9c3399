"""The ``nginx`` target: the files, plus one generated server block per custom domain.

Each host gets ``HOSTNAME.conf`` in ``include_dir`` (which the main configuration
includes, e.g. ``include /etc/nginx/certdesk/*.conf;`` inside ``http {}``)::

    server {
        listen 443 ssl;
        server_name store.example.com;
        ssl_certificate "/var/lib/certdesk/certs/store.example.com.pem";
        ssl_certificate_key "/var/lib/certdesk/certs/store.example.com.key";
        <server_extra>
    }

With ``http_listen`` (e.g. ``["80"]``) and ``acme_http`` (where ``certdesk serve``
answers, e.g. ``127.0.0.1:8080``), the target also writes ``_certdesk-http.conf`` in
``include_dir``: one plain-HTTP server on those listen values that passes
``/.well-known/acme-challenge/`` to certdesk (ACME HTTP-01, for every name, before any
certificate of that name is installed) and redirects everything else to https::

    server {
        listen 80;
        location ^~ /.well-known/acme-challenge/ {
            proxy_pass http://127.0.0.1:8080;
            proxy_set_header Host $host;
        }
        location / { return 301 https://$host$request_uri; }
    }

Every deploy writes it when it differs (a deploy of no host, ``deploy([])``, writes
only it), and removes it when the options no longer ask for it.

A deploy writes the files, runs ``nginx -t -c CONF``; if the test fails it puts the
previous files and blocks back and raises :class:`DeployError` with nginx's own
message, and nginx keeps serving what it served. Otherwise ``nginx -s reload -c
CONF``: nginx re-reads its configuration and certificates without dropping
connections (the switch is asynchronous: the proof waits for it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from certdesk.deploy._command import run
from certdesk.deploy._fileset import PUBLIC_FILE, Write
from certdesk.deploy._options import Options
from certdesk.deploy.base import DeployItem, DeployPlan, DeployResult, file_stem
from certdesk.deploy.files import FilesTarget
from certdesk.errors import InvalidArgument

NGINX = "/usr/sbin/nginx"
HTTP_FILE = "_certdesk-http.conf"  # no host's file: host names never start with "_"
CHALLENGE_PATH = "/.well-known/acme-challenge/"

_UNSAFE = set('"\\$\n\r;{}#')


def _check_path(path: Path, what: str) -> None:
    if _UNSAFE & set(str(path)) or not str(path).isprintable():
        raise InvalidArgument(
            f"the nginx {what} {str(path)!r} has characters nginx would read as syntax",
            hint="use a path without quotes, backslashes, $, ;, {, }, # or newlines",
        )


class NginxTarget(FilesTarget):
    """Certificates in ``folder``, server blocks in ``include_dir``, tested and reloaded."""

    def __init__(
        self,
        folder: Path,
        *,
        include_dir: Path,
        conf: Path,
        nginx: str = NGINX,
        listen: Sequence[str] = ("443 ssl",),
        server_extra: str = "",
        address: tuple[str, int] | None = None,
        http_listen: Sequence[str] = (),
        acme_http: tuple[str, int] | None = None,
        prefix: Path | None = None,
        timeout: float = 30.0,
        name: str = "nginx",
    ) -> None:
        super().__init__(folder, name=name)
        self.include_dir = Path(include_dir).absolute()
        self.conf = Path(conf).absolute()
        self.nginx = nginx
        self.listen = tuple(listen)
        self.server_extra = server_extra
        self._address = address
        self.prefix = prefix
        self.timeout = timeout
        for path, what in ((self.folder, "folder"), (self.include_dir, "include folder")):
            _check_path(path, what)
        if not self.listen or any(_UNSAFE & set(v) or not v.strip() for v in self.listen):
            raise InvalidArgument(
                "the nginx listen option must be one or more values like '443 ssl'"
            )
        self.http_listen = tuple(http_listen)
        self.acme_http = acme_http
        if any(_UNSAFE & set(v) or not v.strip() for v in self.http_listen):
            raise InvalidArgument(
                "the nginx http_listen option must be one or more values like '80'",
                field="http_listen",
            )
        if bool(self.http_listen) != (acme_http is not None):
            raise InvalidArgument(
                "the nginx options http_listen and acme_http go together: where port 80 "
                "is listened on, and where certdesk answers ACME challenges",
                hint='set both (e.g. http_listen = ["80"] and acme_http = '
                '"127.0.0.1:8080", the address certdesk\'s server listens on), or neither',
            )
        if acme_http is not None and (_UNSAFE | set(" /")) & set(acme_http[0]):
            raise InvalidArgument(
                f"the nginx acme_http host {acme_http[0]!r} is not a host name or address",
                field="acme_http",
            )

    @classmethod
    def from_options(cls, options: Mapping[str, Any] | None) -> NginxTarget:
        """Options: ``folder``, ``include_dir``, ``conf`` (required); ``nginx`` (binary),
        ``listen`` (list, ``["443 ssl"]``), ``server_extra`` (directives added to each
        block), ``address`` (``host:port`` for the proof), ``http_listen`` (list, e.g.
        ``["80"]``) with ``acme_http`` (``host:port`` of certdesk serve) for the port-80
        routing of ACME challenges, ``prefix``, ``timeout``."""
        opts = Options("nginx", options)
        target = cls(
            opts.path("folder"),
            include_dir=opts.path("include_dir"),
            conf=opts.path("conf"),
            nginx=opts.text("nginx", NGINX),
            listen=opts.words("listen", ("443 ssl",)),
            server_extra=opts.text("server_extra", ""),
            address=opts.address("address"),
            http_listen=opts.words("http_listen", ()),
            acme_http=opts.address("acme_http"),
            prefix=opts.optional_path("prefix"),
            timeout=opts.number("timeout", 30.0),
        )
        opts.done()
        return target

    @property
    def address(self) -> tuple[str, int] | None:
        return self._address

    def block_path(self, hostname: str) -> Path:
        return self.include_dir / f"{file_stem(hostname)}.conf"

    def paths(self, hostname: str) -> tuple[Path, ...]:
        return (*super().paths(hostname), self.block_path(hostname))

    def server_block(self, hostname: str) -> str:
        """The generated server block of one host."""
        lines = [
            f"# Generated by certdesk for {hostname}; the next deploy overwrites this file.",
            "server {",
            *(f"    listen {value};" for value in self.listen),
            f"    server_name {hostname};",
            f'    ssl_certificate "{self.cert_path(hostname)}";',
            f'    ssl_certificate_key "{self.key_path(hostname)}";',
            *(f"    {line}" for line in self.server_extra.splitlines() if line.strip()),
            "}",
        ]
        return "\n".join(lines) + "\n"

    def _config_writes(self, item: DeployItem) -> list[Write]:
        """The server block: a changed ``listen`` or ``server_extra`` is a reconfigure."""
        block = self.server_block(item.hostname).encode()
        return [Write(self.block_path(item.hostname), block, PUBLIC_FILE)]

    def _render(self, item: DeployItem) -> list[Write]:
        return [*super()._render(item), *self._config_writes(item)]

    @property
    def http_path(self) -> Path:
        return self.include_dir / HTTP_FILE

    def http_block(self) -> str | None:
        """The generated port-80 server (ACME challenges to certdesk, the rest to https);
        None without ``http_listen``."""
        if self.acme_http is None:
            return None
        host, port = self.acme_http
        upstream = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        lines = [
            f"# Generated by certdesk ({self.name} deploy target): ACME HTTP-01 challenges go",
            "# to certdesk serve, everything else is redirected to https. The next deploy",
            "# overwrites this file.",
            "server {",
            *(f"    listen {value};" for value in self.http_listen),
            f"    location ^~ {CHALLENGE_PATH} {{",
            f"        proxy_pass http://{upstream};",
            "        proxy_set_header Host $host;",
            "        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
            "    }",
            "    location / {",
            "        return 301 https://$host$request_uri;",
            "    }",
            "}",
        ]
        return "\n".join(lines) + "\n"

    def _target_writes(self) -> list[Write]:
        block = self.http_block()
        return [Write(self.http_path, None if block is None else block.encode(), PUBLIC_FILE)]

    def _argv(self, *args: str) -> list[str]:
        prefix = ["-p", f"{self.prefix}/"] if self.prefix is not None else []
        return [self.nginx, *prefix, *args, "-c", str(self.conf)]

    def config_test(self) -> None:
        """``nginx -t -q -c CONF``; nginx's message in the DeployError when it fails."""
        run(
            self._argv("-t", "-q"),
            target=self.name,
            doing="test the nginx configuration",
            install="nginx (Debian package nginx)",
            timeout=self.timeout,
        )

    def reload(self) -> None:
        """``nginx -s reload -c CONF``: signal the running master to re-read everything."""
        run(
            self._argv("-s", "reload"),
            target=self.name,
            doing="reload nginx",
            install="nginx (Debian package nginx)",
            timeout=self.timeout,
        )

    def _go_live(self, plan: DeployPlan, written: tuple[Path, ...]) -> DeployResult:
        self.config_test()
        self.reload()
        return DeployResult(plan=plan, written=tuple(map(str, written)), reloaded=True)

    def _revert_live(self, restored: tuple[Path, ...]) -> None:
        """Reload the restored files (after a failed deploy nginx never saw the new ones)."""
        self.config_test()
        self.reload()
