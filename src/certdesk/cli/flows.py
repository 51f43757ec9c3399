"""``submit``, ``csr ...``, ``renew``, ``export``, ``requests``, ``audit``, ``vault rotate``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from certdesk import desk
from certdesk.application.compose import rotate_vault
from certdesk.application.installer import InstallOutcome
from certdesk.cli.files import FileArg, JsonOpt, PasswordEnv, PasswordFile, PasswordLiteral
from certdesk.cli.inputs import read_input, read_password, write_output
from certdesk.cli.output import out, print_json, refusals
from certdesk.cli.progress import progress
from certdesk.cli.state import state
from certdesk.errors import InvalidArgument
from certdesk.pki import Finding, iso_utc
from certdesk.pki.csr import KeyKind, Subject

csr_app = typer.Typer(
    help="Certificate signing requests certdesk makes, and their return.", no_args_is_help=True
)
vault_app = typer.Typer(help="The key vault that encrypts private keys.", no_args_is_help=True)

OutPasswordFile = Annotated[
    Path | None,
    typer.Option(
        "--out-password-file",
        help="Password for the exported file (trailing newline ignored).",
        show_default=False,
    ),
]
OutPasswordEnv = Annotated[
    str | None,
    typer.Option(
        "--out-password-env",
        metavar="VAR",
        help="Password for the exported file, from an environment variable.",
        show_default=False,
    ),
]
OutOpt = Annotated[Path, typer.Option("--out", help="The file to write.", show_default=False)]
ForceOpt = Annotated[bool, typer.Option("--force", help="Replace --out if it exists.")]


def _print_findings(findings: tuple[Finding, ...]) -> None:
    for f in findings:
        out.print(f"  {f.severity.value}{escape(f'[{f.code}]')}: {escape(f.message)}")


def install_json(o: InstallOutcome) -> dict[str, Any]:
    return {
        "url": o.url,
        "target": o.target,
        "ok": o.ok,
        "sha256": o.sha256,
        "action": o.action or None,
        "message": o.message,
        "install_state": o.state or None,
        "next_try_at": iso_utc(o.next_try_at) if o.next_try_at else None,
    }


# Exit code of an intake whose certificate was stored but could not be installed: not a
# refusal (1), not unusable input (2); the install is retried on its own.
STORED_NOT_INSTALLED = 3


def intake_exit(outcomes: list[InstallOutcome]) -> None:
    """Exit 3 when what an intake stored is not installed; 1 when an install that stands
    could not be proven; else carry on (exit 0)."""
    if any(o.stored_not_installed for o in outcomes):
        raise typer.Exit(STORED_NOT_INSTALLED)
    if any(not o.ok for o in outcomes):
        raise typer.Exit(1)


# What a dry run would do on each host, by the plan's action.
WOULD = {
    "add": "would install",
    "replace": "would install (replacing the one there)",
    "unchanged": "would leave as it is (already installed)",
    "reconfigure": "would install again (the target's options changed)",
    "reinstall": "would install again (forced)",
}


def print_installs(outcomes: list[InstallOutcome], *, dry_run: bool = False) -> None:
    if dry_run:
        for o in outcomes:
            plan = WOULD.get(o.action, "would install")
            out.print(f"  [cyan]{plan}[/] {escape(o.url)} on {escape(o.target)}")
        if outcomes:
            out.print("dry run: nothing was changed")
        return
    for o in outcomes:
        if o.stored_not_installed:
            out.print(f"  [yellow]{escape(o.summary())}[/] ({escape(o.url)} on {escape(o.target)})")
            continue
        # A failed proof of a certificate installed already leaves it installed: unproven.
        failed = "[red]not proven[/]" if o.action == "unchanged" else "[red]not installed[/]"
        state_text = "[green]installed[/]" if o.ok else failed
        action = f" ({o.action})" if o.action else ""
        out.print(
            f"  {state_text}{action} {escape(o.url)} on {escape(o.target)}: {escape(o.message)}"
        )


def register(app: typer.Typer) -> None:
    app.command("submit")(submit)
    app.command("renew")(renew)
    app.command("export")(export)
    app.command("requests")(requests)
    app.command("audit")(audit)
    app.command("deploy")(deploy)
    app.add_typer(csr_app, name="csr")
    app.add_typer(vault_app, name="vault")


def submit(
    file: FileArg,
    common_name: Annotated[
        str,
        typer.Option(
            "--common-name",
            help="The certificate's common name, e.g. *.test.com or store.test.com.",
        ),
    ],
    url: Annotated[
        list[str], typer.Option("--url", help="A URL to use the certificate on. Repeatable.")
    ],
    tenant: Annotated[str, typer.Option("--tenant", help="The tenant it is for.")],
    portal: Annotated[
        desk.Portal, typer.Option("--portal", help="Portal of URLs not yet registered.")
    ] = desk.Portal.OTHER,
    password_file: PasswordFile = None,
    password_env: PasswordEnv = None,
    password: PasswordLiteral = None,
    as_json: JsonOpt = False,
) -> None:
    """Submit a customer's .pfx: check it against its URLs, store it (key encrypted), bind it.

    Prints the stored certificate's SHA-256 fingerprint. Exit 1 with every finding when
    refused, 2 when the file cannot be read, 3 when it is stored but could not be
    installed (retried on its own; the reason and the next try are printed).
    """
    with refusals(as_json):
        pw = read_password(password_file, password_env, password)
        data = read_input(file, max_bytes=state.settings().max_upload_bytes)
        result = state.desk().run(
            state.actor(),
            desk.submit_pfx,
            tenant=tenant,
            data=data,
            password=pw,
            common_name=common_name,
            urls=url,
            portal=portal.value,
        )
        del pw
        installed = state.installer().after_intake(state.actor(), result.request_id)
    if as_json:
        print_json(
            {
                "sha256": result.sha256,
                "request": result.request_id,
                "urls": list(result.urls),
                "not_after": iso_utc(result.not_after),
                "findings": [f.to_json() for f in result.findings],
                "installed": [install_json(o) for o in installed],
            }
        )
    else:
        out.print(result.sha256)
        _print_findings(result.findings)
        print_installs(installed)
    intake_exit(installed)


def _order_json(o: desk.OrderView) -> dict[str, Any]:
    return {
        "id": o.id,
        "tenant": o.tenant,
        "common_name": o.common_name,
        "sans": list(o.sans),
        "urls": list(o.urls),
        "key": o.key_kind,
        "status": o.status,
        "created_at": iso_utc(o.created_at),
        "renewal_of": o.renewal_of,
        "certificate": o.certificate,
    }


@csr_app.command("new")
def csr_new(
    tenant: Annotated[str, typer.Option("--tenant", help="The tenant it is for.")],
    cn: Annotated[
        str, typer.Option("--cn", help="Common name: the FQDN, e.g. store.test.com or *.test.com.")
    ],
    out_path: OutOpt,
    org: Annotated[str | None, typer.Option("--org", help="Organization (O).")] = None,
    unit: Annotated[str | None, typer.Option("--unit", help="Organizational unit (OU).")] = None,
    locality: Annotated[str | None, typer.Option("--locality", help="City (L).")] = None,
    region: Annotated[str | None, typer.Option("--state", help="State/region (ST).")] = None,
    country: Annotated[
        str | None, typer.Option("--country", help="ISO 3166 two-letter code (C), e.g. GR.")
    ] = None,
    san: Annotated[
        list[str] | None, typer.Option("--san", help="An extra name. Repeatable.")
    ] = None,
    url: Annotated[
        list[str] | None,
        typer.Option("--url", help="A URL the certificate will serve. Repeatable."),
    ] = None,
    key: Annotated[KeyKind, typer.Option("--key", help="Key type.")] = KeyKind.RSA2048,
    force: ForceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Make a key (kept, encrypted) and a CSR; write the .csr for the certificate authority."""
    with refusals(as_json):
        if out_path.exists() and not force:
            write_output(out_path, b"", secret=False, force=False)  # raises: exists
        subject = Subject(
            common_name=cn,
            organization=org,
            unit=unit,
            locality=locality,
            state=region,
            country=country,
        )
        view = state.desk().run(
            state.actor(),
            desk.order_csr,
            tenant=tenant,
            subject=subject,
            sans=san or [],
            urls=url or [],
            key_kind=key.value,
        )
        write_output(out_path, view.csr_pem.encode("ascii"), secret=False, force=force)
    if as_json:
        print_json({**_order_json(view), "csr": str(out_path)})
    else:
        out.print(
            f"CSR order {view.id} for {escape(view.common_name)} "
            f"({escape(', '.join(view.sans))}): wrote {escape(str(out_path))}"
        )


@csr_app.command("list")
def csr_list(
    tenant: Annotated[str | None, typer.Option("--tenant")] = None,
    status: Annotated[
        desk.OrderStatus | None, typer.Option("--status", help="Only the orders in this status.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """List CSR orders."""
    with refusals(as_json):
        views = state.desk().run(state.actor(), desk.list_orders, tenant=tenant, status=status)
    if as_json:
        print_json({"orders": [_order_json(v) for v in views]})
        return
    table = Table("id", "tenant", "common name", "key", "status", "created", "urls")
    for v in views:
        table.add_row(
            str(v.id),
            escape(v.tenant),
            escape(v.common_name),
            v.key_kind,
            v.status,
            iso_utc(v.created_at),
            escape(", ".join(v.urls)),
        )
    out.print(table)


@csr_app.command("show")
def csr_show(
    order_id: Annotated[int, typer.Argument(metavar="ID")],
    out_path: Annotated[Path | None, typer.Option("--out", help="Write the .csr again.")] = None,
    force: ForceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Show a CSR order; --out writes its .csr again."""
    with refusals(as_json):
        view = state.desk().run(state.actor(), desk.show_order, order_id=order_id)
        if out_path is not None:
            write_output(out_path, view.csr_pem.encode("ascii"), secret=False, force=force)
    if as_json:
        print_json({**_order_json(view), "csr_pem": view.csr_pem})
    else:
        out.print(f"order {view.id}: {escape(view.common_name)}, {view.status}")
        out.print(view.csr_pem, end="")


@csr_app.command("complete")
def csr_complete(file: FileArg, as_json: JsonOpt = False) -> None:
    """Take the signed certificate back (.crt/.pem/.cer, PEM or DER, chain or .p7b).

    The waiting order is found by the certificate's public key. Prints the fingerprint.
    """
    with refusals(as_json):
        data = read_input(file, max_bytes=state.settings().max_upload_bytes)
        result = state.desk().run(state.actor(), desk.complete_order, data=data)
        installed = state.installer().after_intake(state.actor(), result.request_id)
    if as_json:
        print_json(
            {
                "sha256": result.sha256,
                "order": result.order_id,
                "request": result.request_id,
                "urls": list(result.urls),
                "not_after": iso_utc(result.not_after),
                "replaced": list(result.replaced),
                "findings": [f.to_json() for f in result.findings],
                "installed": [install_json(o) for o in installed],
            }
        )
    else:
        out.print(result.sha256)
        _print_findings(result.findings)
        print_installs(installed)
    intake_exit(installed)


@csr_app.command("cancel")
def csr_cancel(
    order_id: Annotated[int, typer.Argument(metavar="ID")], as_json: JsonOpt = False
) -> None:
    """Cancel a pending CSR order."""
    with refusals(as_json):
        view = state.desk().run(state.actor(), desk.cancel_order, order_id=order_id)
    if as_json:
        print_json(_order_json(view))
    else:
        out.print(f"cancelled CSR order {view.id}")


def renew(
    url: Annotated[str, typer.Argument(help="A URL whose certificate to renew.")],
    out_path: OutOpt,
    key: Annotated[
        KeyKind | None,
        typer.Option("--key", help="Key type (default: as the current certificate's)."),
    ] = None,
    force: ForceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Make a renewal CSR pre-filled from the certificate on URL (with a new key)."""
    with refusals(as_json):
        if out_path.exists() and not force:
            write_output(out_path, b"", secret=False, force=False)
        view = state.desk().run(
            state.actor(), desk.renew, url=url, key_kind=key.value if key else None
        )
        write_output(out_path, view.csr_pem.encode("ascii"), secret=False, force=force)
    if as_json:
        print_json({**_order_json(view), "csr": str(out_path)})
    else:
        out.print(
            f"renewal CSR order {view.id} for {escape(view.common_name)}: "
            f"wrote {escape(str(out_path))}"
        )


def export(
    url: Annotated[str, typer.Argument(help="The URL whose certificate to export.")],
    to: Annotated[str, typer.Option("--to", help="pfx or pem.")],
    out_path: OutOpt,
    out_password_file: OutPasswordFile = None,
    out_password_env: OutPasswordEnv = None,
    legacy: Annotated[
        bool, typer.Option("--legacy", help="3DES/SHA-1 .pfx for old Windows.")
    ] = False,
    with_key: Annotated[
        bool,
        typer.Option("--with-key", help="PEM: add the private key (a .pfx always has it)."),
    ] = False,
    clear_key: Annotated[
        bool,
        typer.Option(
            "--clear-key", help="PEM with --with-key: write the key unencrypted (audited)."
        ),
    ] = False,
    force: ForceOpt = False,
) -> None:
    """Export the certificate on URL with its chain, for its owner (audited). A .pfx has
    the key and needs --out-password-file/-env; a PEM has the key only with --with-key,
    encrypted under the password unless --clear-key."""
    with refusals(False):
        pw = read_password(out_password_file, out_password_env, None, option="--out-password")
        if out_path.exists() and not force:
            write_output(out_path, b"", secret=True, force=False)
        result = state.desk().run(
            state.actor(),
            desk.export_certificate,
            url=url,
            to=to,
            password=pw,
            legacy=legacy,
            include_key=with_key,
            clear_key=clear_key,
        )
        write_output(out_path, result.data, secret=to == "pfx" or with_key, force=force)
    out.print(f"wrote {escape(str(out_path))} ({to}) for certificate {result.sha256}")


def requests(
    tenant: Annotated[str | None, typer.Option("--tenant")] = None,
    status: Annotated[
        desk.RequestStatus | None,
        typer.Option("--status", help="Only the requests in this status."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """The requests (tickets) and where each stands, with its timeline."""
    with refusals(as_json):
        views = state.desk().run(state.actor(), desk.list_requests, tenant=tenant, status=status)
    if as_json:
        print_json(
            {
                "requests": [
                    {
                        "id": v.id,
                        "tenant": v.tenant,
                        "kind": v.kind,
                        "status": v.status,
                        "summary": v.summary,
                        "created_by": v.created_by,
                        "created_at": iso_utc(v.created_at),
                        "updated_at": iso_utc(v.updated_at),
                        "timeline": [
                            {"at": iso_utc(at), "status": s, "message": m}
                            for at, s, m in v.timeline
                        ],
                    }
                    for v in views
                ]
            }
        )
        return
    table = Table("id", "tenant", "kind", "status", "updated", "summary")
    for v in views:
        table.add_row(
            str(v.id), escape(v.tenant), v.kind, v.status, iso_utc(v.updated_at), escape(v.summary)
        )
    out.print(table)


def audit(
    tenant: Annotated[str | None, typer.Option("--tenant")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 100,
    as_json: JsonOpt = False,
) -> None:
    """Who did what, newest first. Never shows a secret."""
    with refusals(as_json):
        views = state.desk().run(state.actor(), desk.list_audit, tenant=tenant, limit=limit)
    if as_json:
        print_json(
            {
                "events": [
                    {
                        "id": v.id,
                        "at": iso_utc(v.at),
                        "actor": v.actor,
                        "tenant": v.tenant,
                        "action": v.action,
                        "object_type": v.object_type,
                        "object_id": v.object_id,
                        "detail": v.detail,
                    }
                    for v in views
                ]
            }
        )
        return
    table = Table("at", "actor", "tenant", "action", "object")
    for v in views:
        table.add_row(
            iso_utc(v.at),
            escape(v.actor),
            escape(v.tenant or "-"),
            v.action,
            escape(f"{v.object_type} {v.object_id or ''}"),
        )
    out.print(table)


@vault_app.command("rotate")
def vault_rotate(
    new_key_env: Annotated[
        str | None,
        typer.Option(
            "--new-key-env",
            metavar="VAR",
            help="When the master key comes from CERTDESK_MASTER_KEY: the variable holding the "
            "new key (base64 of 32 bytes). Set CERTDESK_MASTER_KEY to it afterwards.",
        ),
    ] = None,
) -> None:
    """Make a new master key and re-encrypt every stored private key's data key with it."""
    with refusals(False):
        settings = state.settings()
        new_master = None
        if settings.master_key is not None:
            if new_key_env is None or not os.environ.get(new_key_env):
                raise InvalidArgument(
                    "the master key comes from CERTDESK_MASTER_KEY: give the new one with "
                    "--new-key-env VAR",
                    hint="afterwards set CERTDESK_MASTER_KEY to the new key everywhere "
                    "certdesk runs",
                )
            new_master = os.environ[new_key_env]
        result = rotate_vault(settings, state.desk(), state.actor(), new_master)
    out.print(
        f"master key rotated: {result.old_key_id} → {result.new_key_id}, "
        f"{result.keys} key(s) re-encrypted"
    )


def deploy(
    urls: Annotated[
        list[str] | None, typer.Argument(help="URLs to install (or --all).", show_default=False)
    ] = None,
    every: Annotated[bool, typer.Option("--all", help="Every domain with a certificate.")] = False,
    target: Annotated[
        str | None,
        typer.Option(
            "--target",
            help="A configured deploy target (default: the domain's, else the default).",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would change; change nothing.")
    ] = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="Install again and reload even where nothing changed."),
    ] = False,
    configure: Annotated[
        bool,
        typer.Option(
            "--configure",
            help="Apply only the targets' own configuration (the port-80 routing of ACME "
            "challenges: http_listen, acme_http), no certificate: every target, or --target.",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Install the certificates bound to URLs on their TLS terminators, and prove it.

    After the deploy, each URL is probed through the terminator with its name as SNI;
    only a served new certificate completes the request. A deploy whose proof fails is
    rolled back (that deploy only); one that changed nothing is left as it was. A changed
    target option (e.g. nginx's listen) is applied ("reconfigure").
    """
    if configure:
        _configure_targets(urls, every, target, dry_run=dry_run, force=force, as_json=as_json)
        return
    with refusals(as_json), progress("deploying", quiet=as_json) as ticker:
        if bool(urls) == every:
            raise InvalidArgument("give URLs or --all (not both)")
        outcomes = state.installer().install(
            state.actor(),
            urls=urls or [],
            every=every,
            target=target,
            dry_run=dry_run,
            force=force,
            started=ticker.started,
            progress=ticker.done,
        )
    if as_json:
        print_json({"dry_run": dry_run, "installed": [install_json(o) for o in outcomes]})
    else:
        if not outcomes:
            out.print("nothing to install: no certificate is bound to those domains")
        print_installs(outcomes, dry_run=dry_run)
    if any(not o.ok for o in outcomes):
        raise typer.Exit(1)


def _configure_targets(
    urls: list[str] | None,
    every: bool,
    target: str | None,
    *,
    dry_run: bool,
    force: bool,
    as_json: bool,
) -> None:
    """``deploy --configure``: each target's own configuration written and made live."""
    with refusals(as_json):
        if urls or every or dry_run or force:
            raise InvalidArgument(
                "--configure applies the targets' own configuration and installs no "
                "certificate: give it alone, or with --target NAME"
            )
        if not state.settings().deploy_targets:
            raise InvalidArgument(
                "no deploy target is configured",
                hint="add one under [deploy.targets] in certdesk.toml",
            )
        applied = state.installer().apply_targets([target] if target else None)
    if as_json:
        print_json(
            {
                "configured": [
                    {
                        "target": a.target,
                        "ok": a.ok,
                        "written": list(a.written),
                        "reloaded": a.reloaded,
                        "message": a.message,
                    }
                    for a in applied
                ]
            }
        )
    else:
        for a in applied:
            text = "[green]ok[/]" if a.ok else "[red]failed[/]"
            out.print(f"  {text} {escape(a.target)}: {escape(a.message)}")
    if any(not a.ok for a in applied):
        raise typer.Exit(1)
