"""``certdesk tenant ...`` and ``certdesk domain ...``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from certdesk import desk
from certdesk.application.claims import check_claim
from certdesk.application.compose import claims_config
from certdesk.cli.output import out, print_json, refusals
from certdesk.cli.state import state
from certdesk.desk.installs import set_deploy_target
from certdesk.errors import InvalidArgument
from certdesk.pki import iso_utc

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]

tenant_app = typer.Typer(help="Tenants: the platform's resellers.", no_args_is_help=True)
domain_app = typer.Typer(
    help="Custom domains: the URLs of the tenants' portals.", no_args_is_help=True
)


def _tenant_json(t: desk.TenantView) -> dict[str, object]:
    return {"id": t.id, "name": t.name, "emails": list(t.emails), "domains": t.domains}


@tenant_app.command("add")
def tenant_add(
    name: Annotated[str, typer.Argument(help="The reseller's name.")],
    email: Annotated[
        list[str] | None,
        typer.Option("--email", help="A contact e-mail for its reports. Repeatable."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a tenant (a reseller)."""
    with refusals(as_json):
        view = state.desk().run(state.actor(), desk.add_tenant, name=name, emails=email or [])
    if as_json:
        print_json(_tenant_json(view))
    else:
        out.print(f"added tenant {escape(view.name)} (id {view.id})")


@tenant_app.command("list")
def tenant_list(as_json: JsonOpt = False) -> None:
    """List the tenants with their contact e-mails and number of domains."""
    with refusals(as_json):
        views = state.desk().run(state.actor(), desk.list_tenants)
    if as_json:
        print_json({"tenants": [_tenant_json(v) for v in views]})
        return
    table = Table("id", "name", "e-mails", "domains")
    for v in views:
        table.add_row(str(v.id), escape(v.name), escape(", ".join(v.emails)), str(v.domains))
    out.print(table)


@tenant_app.command("change")
def tenant_change(
    name: str,
    rename: Annotated[str | None, typer.Option("--rename", help="A new name.")] = None,
    email: Annotated[
        list[str] | None, typer.Option("--email", help="Replace the contact e-mails. Repeatable.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Rename a tenant or replace its contact e-mails."""
    with refusals(as_json):
        view = state.desk().run(
            state.actor(), desk.change_tenant, name=name, new_name=rename, emails=email
        )
    if as_json:
        print_json(_tenant_json(view))
    else:
        out.print(f"tenant {escape(view.name)}: e-mails {escape(', '.join(view.emails))}")


def _domain_json(d: desk.DomainView) -> dict[str, object]:
    return {
        "id": d.id,
        "url": d.url,
        "hostname": d.hostname,
        "port": d.port,
        "tenant": d.tenant,
        "portal": d.portal,
        "monitored": d.monitored,
        "connect_to": d.connect_to,
        "certificate": d.certificate_sha256,
        "not_after": iso_utc(d.not_after) if d.not_after else None,
        "install_state": d.install_state,
        "installed_not_after": iso_utc(d.installed_not_after) if d.installed_not_after else None,
        "served_not_after": iso_utc(d.served_not_after) if d.served_not_after else None,
        "claim": d.claim,
        "claim_record": d.claim_record,
        "claim_token": d.claim_token,
        "claim_message": d.claim_message,
    }


def _claim_json(c: desk.ClaimView) -> dict[str, object]:
    return {
        "url": c.url,
        "tenant": c.tenant,
        "claim": c.claim,
        "record": c.record,
        "token": c.token,
        "message": c.message,
        "method": c.method,
        "verified_at": iso_utc(c.verified_at) if c.verified_at else None,
        "next_check_at": iso_utc(c.next_check_at) if c.next_check_at else None,
        "closed_at": iso_utc(c.closed_at) if c.closed_at else None,
    }


PortalOpt = Annotated[
    desk.Portal | None, typer.Option("--portal", help="Which portal the URL serves.")
]
ConnectOpt = Annotated[
    str | None,
    typer.Option(
        "--connect-to",
        metavar="HOST:PORT",
        help="Reach the platform's own terminator here, sending the domain as SNI.",
    ),
]

ManagedOpt = Annotated[
    desk.CertificateMode | None,
    typer.Option(
        "--managed",
        help="Whose certificate: acme (the platform issues and renews it over ACME once the "
        "name points at the platform) or customer (the customer sends it).",
        show_default=False,
    ),
]


@domain_app.command("add")
def domain_add(
    url: Annotated[str, typer.Argument(help="https://name\\[:port]\\[/path] or a bare name.")],
    tenant: Annotated[str, typer.Option("--tenant", help="The tenant it belongs to.")],
    portal: PortalOpt = None,
    connect_to: ConnectOpt = None,
    managed: ManagedOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a custom-domain URL for a tenant (monitored from now on)."""
    with refusals(as_json):
        view = state.desk().run(
            state.actor(),
            desk.add_domain,
            url=url,
            tenant=tenant,
            portal=(portal or desk.Portal.OTHER).value,
            connect_to=connect_to,
            managed=managed.value if managed else None,
        )
    if as_json:
        print_json(_domain_json(view))
    else:
        out.print(f"added {escape(view.url)} for {escape(view.tenant)} ({view.portal})")
        if view.claim != "verified":
            out.print(f"ownership: {view.claim}; {escape(view.claim_message or '')}")
        if managed is desk.CertificateMode.ACME:
            out.print(MANAGED_NOTE)


@domain_app.command("list")
def domain_list(
    tenant: Annotated[str | None, typer.Option("--tenant", help="Only this tenant's.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List the domains with the certificate each has and when it expires."""
    with refusals(as_json):
        views = state.desk().run(state.actor(), desk.list_domains, tenant=tenant)
    if as_json:
        print_json({"domains": [_domain_json(v) for v in views]})
        return
    table = Table("url", "tenant", "portal", "monitored", "certificate", "install", "expires")
    for v in views:
        table.add_row(
            escape(v.url) + (f" (claim {v.claim})" if v.claim != "verified" else ""),
            escape(v.tenant),
            v.portal,
            "yes" if v.monitored else "no",
            (v.certificate_sha256 or "-")[:16],
            v.install_state or "-",
            _expires(v),
        )
    out.print(table)


def _expires(v: desk.DomainView) -> str:
    """The served expiry (last handshake), else the installed one, else the stored one's;
    beside it the bound certificate's when that one failed to install (a renewal not
    installed yet is not shown as live) or the installed one's when it differs."""
    live = v.served_not_after or v.installed_not_after or v.not_after
    text = iso_utc(live) if live else "-"
    if v.not_after is not None and v.not_after != live:
        what = "installed" if v.install_state == "installed" else "stored, not installed"
        text += f" ({what}: {iso_utc(v.not_after)})"
    return text


MANAGED_NOTE = (
    "certificate: platform-managed (acme); certdesk checks that the name points at the "
    "platform, then issues and renews it (see 'certdesk acme status URL')"
)


def _change(url: str, as_json: bool, **changes: object) -> None:
    with refusals(as_json):
        view = state.desk().run(state.actor(), desk.change_domain, url=url, **changes)
    if as_json:
        print_json(_domain_json(view))
    else:
        out.print(
            f"{escape(view.url)}: portal {view.portal}, "
            f"{'monitored' if view.monitored else 'not monitored'}"
            + (f", connect to {view.connect_to}" if view.connect_to else "")
        )
        if changes.get("managed") == desk.CertificateMode.ACME.value:
            out.print(MANAGED_NOTE)
        elif changes.get("managed") == desk.CertificateMode.CUSTOMER.value:
            out.print("certificate: the customer's (sent as a .pfx or for a CSR certdesk made)")


@domain_app.command("change")
def domain_change(
    url: str,
    portal: PortalOpt = None,
    connect_to: ConnectOpt = None,
    deploy_target: Annotated[
        str | None,
        typer.Option(
            "--deploy-target",
            help="Install this domain's certificates on this configured "
            "target ('default' for the default one).",
            show_default=False,
        ),
    ] = None,
    managed: ManagedOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Change a domain's portal, connect-to address, deploy target or certificate mode."""
    if deploy_target is not None:
        with refusals(as_json):
            settings = state.settings()
            name = None if deploy_target == "default" else deploy_target
            if name is not None and settings.deploy_target(name) is None:
                raise InvalidArgument(f"no deploy target called {name!r} is configured")
            state.desk().run(state.actor(), set_deploy_target, url=url, target=name)
    if portal is not None or connect_to is not None or managed is not None or deploy_target is None:
        _change(
            url,
            as_json,
            portal=portal.value if portal else None,
            connect_to=connect_to,
            managed=managed.value if managed else None,
        )
    elif not as_json:
        out.print(f"{escape(url)}: deploy target {deploy_target}")


@domain_app.command("verify")
def domain_verify(
    url: str,
    tenant: Annotated[
        str | None,
        typer.Option("--tenant", help="Whose claim, when several tenants claim the URL."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check a pending ownership claim in DNS now (the TXT record _certdesk.NAME with the
    claim's token, or the name pointing at the platform). To assign a name to a tenant
    directly, use 'certdesk domain add URL --tenant T'."""
    with refusals(as_json):
        view = check_claim(
            state.desk(), claims_config(state.settings()), state.actor(), url=url, tenant=tenant
        )
    if as_json:
        print_json(_claim_json(view))
        return
    out.print(f"{escape(view.url)} ({escape(view.tenant)}): {view.claim}")
    if view.message:
        out.print(escape(view.message))
    if view.claim == "pending" and view.token:
        out.print(f"TXT {view.record} {view.token}")


@domain_app.command("claims")
def domain_claims(
    tenant: Annotated[str | None, typer.Option("--tenant", help="Only this tenant's.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List the pending ownership claims, and the latest ones closed because another
    tenant verified the name first."""
    with refusals(as_json):
        views = state.desk().run(state.actor(), desk.list_claims, tenant=tenant)
    if as_json:
        print_json({"claims": [_claim_json(v) for v in views]})
        return
    table = Table("url", "tenant", "claim", "TXT record", "token", "message")
    for v in views:
        table.add_row(
            escape(v.url),
            escape(v.tenant),
            v.claim,
            v.record,
            v.token or "-",
            escape(v.message or ""),
        )
    out.print(table)


@domain_app.command("unmonitor")
def domain_unmonitor(url: str, as_json: JsonOpt = False) -> None:
    """Stop monitoring a domain (it leaves the expiry reports); its history stays."""
    _change(url, as_json, monitored=False)


@domain_app.command("monitor")
def domain_monitor(url: str, as_json: JsonOpt = False) -> None:
    """Monitor a domain again."""
    _change(url, as_json, monitored=True)


@domain_app.command("remove")
def domain_remove(url: str, as_json: JsonOpt = False) -> None:
    """Retire a domain: no longer monitored or served; its history is kept."""
    with refusals(as_json):
        view = state.desk().run(state.actor(), desk.remove_domain, url=url)
    if as_json:
        print_json(_domain_json(view))
    else:
        out.print(f"removed {escape(view.url)} (history kept)")
