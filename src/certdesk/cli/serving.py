"""``certdesk serve`` and ``certdesk user ...``.

Two imports stay inside the commands that use them, so that no other command pays for
them at every start: the web stack of ``serve`` (uvicorn, FastAPI, the API and the portal:
over a second), and ``certdesk.desk.accounts`` (an Argon2 hash made at import, and
zxcvbn's dictionaries: most of a second).
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from certdesk.addresses import proxy_networks
from certdesk.cli.files import JsonOpt
from certdesk.cli.inputs import read_password
from certdesk.cli.output import err, out, print_json, refusals
from certdesk.cli.state import state
from certdesk.errors import InvalidArgument
from certdesk.pki import iso_utc

user_app = typer.Typer(help="Accounts of the portal and the API.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.add_typer(user_app, name="user")


def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8080,
    trust_forwarded: Annotated[
        bool,
        typer.Option(
            "--trust-forwarded",
            help="Behind a reverse proxy on this machine: honour X-Forwarded-For/-Proto "
            "from loopback addresses (127.0.0.0/8, ::1) only.",
        ),
    ] = False,
    trusted_proxy: Annotated[
        list[str] | None,
        typer.Option(
            "--trusted-proxy",
            metavar="ADDRESS",
            help="Behind a reverse proxy elsewhere: honour X-Forwarded-For/-Proto from this "
            "address or network (repeat for several; also the trusted_proxies setting).",
        ),
    ] = None,
    no_scheduler: Annotated[
        bool,
        typer.Option("--no-scheduler", help="Do not run the report scheduler in this process."),
    ] = False,
    workers: Annotated[
        int,
        typer.Option("--workers", min=1, max=64, help="Worker processes (one per core)."),
    ] = 1,
) -> None:
    """Run the portal, the JSON API (OpenAPI at /docs) and the report scheduler.

    On first start an operator account 'admin' is made; its one-time password is printed
    (or taken from CERTDESK_ADMIN_PASSWORD).
    """
    import uvicorn  # noqa: PLC0415 - see the module docstring
    from uvicorn.config import LOGGING_CONFIG  # noqa: PLC0415 - see the module docstring

    from certdesk.application.server import first_start  # noqa: PLC0415 - see the module docstring

    with refusals(False):
        settings = state.settings()
        proxies = [*settings.trusted_proxies, *(trusted_proxy or [])]
        proxy_networks(proxies)  # a mistyped address is refused before anything is done
        desk = state.desk()
        password = first_start(desk, os.environ.get("CERTDESK_ADMIN_PASSWORD") or None)
    if password:
        err.print(
            "[bold]First start:[/] an operator account was made.\n"
            f"  user: admin\n  password: {password}\n"
            "This password is shown once. At the first login the portal asks for a new one "
            "(the API answers password-change-required until it is changed)."
        )
    err.print(f"certdesk on http://{host}:{port}/ (data: {settings.home})")
    # certdesk's own lines (each job unit's outcome, a reloaded certdesk.toml) beside
    # uvicorn's, on standard error, in every worker.
    logging = copy.deepcopy(LOGGING_CONFIG)
    logging["loggers"]["certdesk"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    network: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": "info",
        "log_config": logging,
        # certdesk reads forwarded headers itself, from the configured proxies only.
        "proxy_headers": False,
    }
    # The app (certdesk.asgi, which the command line does not import) is built from the
    # environment by uvicorn's factory, in each worker process when there are several.
    os.environ["CERTDESK_HOME"] = str(settings.home)
    os.environ["CERTDESK_TRUST_FORWARDED"] = "1" if trust_forwarded else "0"
    os.environ["CERTDESK_TRUSTED_PROXIES"] = ",".join(proxies)
    os.environ["CERTDESK_SCHEDULER"] = "0" if no_scheduler else "1"
    state.close()
    uvicorn.run("certdesk.asgi:app_from_environment", factory=True, workers=workers, **network)


@user_app.command("add")
def user_add(
    username: str,
    role: Annotated[str, typer.Option("--role", help="operator or reseller.")] = "reseller",
    tenant: Annotated[str | None, typer.Option("--tenant", help="A reseller's tenant.")] = None,
    password_file: Annotated[str | None, typer.Option("--password-file")] = None,
    password_env: Annotated[str | None, typer.Option("--password-env", metavar="VAR")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a portal/API account (password from a file or variable; 12 characters at least,
    not a common or easily guessed one)."""
    from certdesk.desk import accounts  # noqa: PLC0415 - see the module docstring

    with refusals(as_json):
        raw = read_password(Path(password_file) if password_file else None, password_env, None)
        if raw is None:
            raise InvalidArgument("give the password with --password-file or --password-env")
        view = state.desk().run(
            state.actor(),
            accounts.create_user,
            username=username,
            password=raw.decode("utf-8"),
            role=role,
            tenant=tenant,
        )
    if as_json:
        print_json(
            {"id": view.id, "username": view.username, "role": view.role, "tenant": view.tenant}
        )
    else:
        out.print(
            f"added {view.role} {escape(view.username)}"
            + (f" of {escape(view.tenant)}" if view.tenant else "")
        )


@user_app.command("list")
def user_list(as_json: JsonOpt = False) -> None:
    """List the accounts."""
    from certdesk.desk import accounts  # noqa: PLC0415 - see the module docstring

    with refusals(as_json):
        views = state.desk().run(state.actor(), accounts.list_users)
    if as_json:
        print_json(
            {
                "users": [
                    {
                        "id": v.id,
                        "username": v.username,
                        "role": v.role,
                        "tenant": v.tenant,
                        "disabled": v.disabled,
                    }
                    for v in views
                ]
            }
        )
        return
    table = Table("id", "user", "role", "tenant", "status")
    for v in views:
        table.add_row(
            str(v.id),
            escape(v.username),
            v.role,
            escape(v.tenant or "-"),
            "disabled" if v.disabled else "enabled",
        )
    out.print(table)


@user_app.command("password")
def user_password(
    username: str,
    password_file: Annotated[str | None, typer.Option("--password-file")] = None,
    password_env: Annotated[str | None, typer.Option("--password-env", metavar="VAR")] = None,
) -> None:
    """Set an account's password (its sessions end and its API tokens are revoked)."""
    from certdesk.desk import accounts  # noqa: PLC0415 - see the module docstring

    with refusals(False):
        raw = read_password(Path(password_file) if password_file else None, password_env, None)
        if raw is None:
            raise InvalidArgument("give the password with --password-file or --password-env")
        state.desk().run(
            state.actor(), accounts.set_password, username=username, password=raw.decode("utf-8")
        )
    out.print(f"password of {escape(username)} changed")


def _set_disabled(username: str, disabled: bool, as_json: bool) -> None:
    from certdesk.desk import accounts  # noqa: PLC0415 - see the module docstring

    with refusals(as_json):
        view = state.desk().run(
            state.actor(), accounts.set_disabled, username=username, disabled=disabled
        )
    if as_json:
        print_json({"username": view.username, "disabled": view.disabled})
    elif disabled:
        out.print(f"{escape(view.username)} disabled: its sessions ended, its tokens revoked")
    else:
        out.print(f"{escape(view.username)} enabled (its old tokens stay revoked)")


@user_app.command("disable")
def user_disable(username: str, as_json: JsonOpt = False) -> None:
    """Disable an account: it cannot log in; its sessions end and its tokens are revoked."""
    _set_disabled(username, True, as_json)


@user_app.command("enable")
def user_enable(username: str, as_json: JsonOpt = False) -> None:
    """Enable a disabled account again."""
    _set_disabled(username, False, as_json)


@user_app.command("tokens")
def user_tokens(username: str, as_json: JsonOpt = False) -> None:
    """List an account's API tokens (only their first characters are known)."""
    from certdesk.desk import accounts  # noqa: PLC0415 - see the module docstring

    with refusals(as_json):
        views = state.desk().run(state.actor(), accounts.tokens_of, username=username)
    if as_json:
        print_json(
            {
                "tokens": [
                    {
                        "id": v.id,
                        "name": v.name,
                        "prefix": v.prefix,
                        "created_at": iso_utc(v.created_at),
                        "last_used_at": iso_utc(v.last_used_at) if v.last_used_at else None,
                        "revoked": v.revoked,
                    }
                    for v in views
                ]
            }
        )
        return
    table = Table("id", "name", "starts with", "last used", "status")
    for v in views:
        table.add_row(
            str(v.id),
            escape(v.name),
            escape(v.prefix),
            iso_utc(v.last_used_at) if v.last_used_at else "never",
            "revoked" if v.revoked else "active",
        )
    out.print(table)


@user_app.command("revoke-token")
def user_revoke_token(username: str, token_id: int, as_json: JsonOpt = False) -> None:
    """Revoke one API token of an account (its id from 'certdesk user tokens')."""
    from certdesk.desk import accounts  # noqa: PLC0415 - see the module docstring

    with refusals(as_json):
        view = state.desk().run(
            state.actor(), accounts.revoke_token_of, username=username, token_id=token_id
        )
    if as_json:
        print_json({"id": view.id, "revoked": view.revoked})
    else:
        out.print(f"token {view.id} ({escape(view.prefix)}…) of {escape(username)} revoked")
