"""``certdesk acme``: the platform-managed certificates, for the platform's operators.

``issue`` and ``renew`` run now the step the engine runs by itself (the same function,
forced: DNS check, order, HTTP-01, intake, install); ``revoke`` revokes the certificate
the CA issued, and the domain gets a new one; ``status`` and ``list`` say where each stands.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from certdesk import desk
from certdesk.application.compose import managed_config
from certdesk.application.managed import AcmeOutcome, revoke_managed, run_acme_unit
from certdesk.cli.output import out, print_json, refusals
from certdesk.cli.state import state
from certdesk.pki import iso_utc

acme_app = typer.Typer(
    help="Platform-managed certificates over ACME: issue, renew, revoke, see where each stands.",
    no_args_is_help=True,
)

UrlArg = Annotated[str, typer.Argument(help="The managed domain's URL or host name.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _view_json(v: desk.ManagedView) -> dict[str, object]:
    return {
        "url": v.url,
        "tenant": v.tenant,
        "state": v.state,
        "message": v.message,
        "problem": v.problem,
        "attempts": v.attempts,
        "next_try_at": iso_utc(v.next_try_at) if v.next_try_at else None,
        "renew_at": iso_utc(v.renew_at) if v.renew_at else None,
        "renewal_info_at": iso_utc(v.renewal_info_at) if v.renewal_info_at else None,
        "certificate": v.certificate_sha256,
    }


def _step(url: str, as_json: bool) -> None:
    with refusals(as_json):
        shown = state.desk().run(state.actor(), desk.managed_status, url=url)
        outcome: AcmeOutcome = run_acme_unit(
            state.desk(),
            shown.url,
            state.desk().now(),
            config=managed_config(state.settings()),
            installer=state.installer(),
            force=True,
        )
        view = state.desk().run(state.actor(), desk.managed_status, url=url)
    if as_json:
        print_json({"outcome": outcome.state, **_view_json(view)})
    else:
        out.print(f"{escape(view.url)}: {view.state}: {escape(view.message)}")
    if outcome.state == "failed":
        raise typer.Exit(2)
    if outcome.state == "waiting-for-dns":
        raise typer.Exit(1)


@acme_app.command("issue")
def acme_issue(url: UrlArg, as_json: JsonOpt = False) -> None:
    """Check DNS and order the certificate of a managed domain now."""
    _step(url, as_json)


@acme_app.command("renew")
def acme_renew(url: UrlArg, as_json: JsonOpt = False) -> None:
    """Renew a managed domain's certificate now, whatever its age."""
    _step(url, as_json)


@acme_app.command("revoke")
def acme_revoke(
    url: UrlArg,
    reason: Annotated[
        int, typer.Option("--reason", help="RFC 5280 reason code (1: key compromise).")
    ] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Revoke the certificate the CA issued for a managed domain; a new one is ordered."""
    with refusals(as_json):
        sha256 = revoke_managed(
            state.desk(), url, config=managed_config(state.settings()), reason=reason
        )
    if as_json:
        print_json({"url": url, "revoked": sha256})
    else:
        out.print(f"revoked {sha256[:16]}… of {escape(url)}; a new certificate is ordered next")


@acme_app.command("status")
def acme_status(url: UrlArg, as_json: JsonOpt = False) -> None:
    """Where a managed domain's certificate stands, with the CA's last problem."""
    with refusals(as_json):
        view = state.desk().run(state.actor(), desk.managed_status, url=url)
    if as_json:
        print_json(_view_json(view))
        return
    out.print(f"{escape(view.url)} ({escape(view.tenant)}): {view.state}")
    out.print(escape(view.message))
    if view.problem:
        out.print(f"problem: {escape(str(view.problem.get('type')))}")
    if view.next_try_at:
        out.print(f"next try: {iso_utc(view.next_try_at)}")
    if view.renew_at:
        out.print(f"renews at: {iso_utc(view.renew_at)}")
    if view.renewal_info_at:
        out.print(f"the CA's renewal information asked again at: {iso_utc(view.renewal_info_at)}")


@acme_app.command("list")
def acme_list(
    tenant: Annotated[str | None, typer.Option("--tenant", help="Only this tenant's.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Every platform-managed domain and its state."""
    with refusals(as_json):
        views = state.desk().run(state.actor(), desk.list_managed, tenant=tenant)
    if as_json:
        print_json({"managed": [_view_json(v) for v in views]})
        return
    table = Table("url", "tenant", "state", "message")
    for v in views:
        table.add_row(escape(v.url), escape(v.tenant), v.state, escape(v.message))
    out.print(table)
