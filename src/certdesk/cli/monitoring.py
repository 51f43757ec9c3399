"""``certdesk probe``, ``certdesk report``, ``certdesk scheduler tick|run``."""

from __future__ import annotations

import enum
import time
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from certdesk import clock
from certdesk.cli.files import JsonOpt
from certdesk.cli.output import out, print_json, refusals
from certdesk.cli.progress import progress
from certdesk.cli.state import state
from certdesk.pki import iso_utc

scheduler_app = typer.Typer(help="The periodic jobs: expiry reports.", no_args_is_help=True)

AtOpt = Annotated[
    str | None,
    typer.Option(
        "--at", metavar="ISO-8601", help="As of this instant instead of now.", show_default=False
    ),
]


class Kind(enum.StrEnum):
    daily = "daily"
    monthly = "monthly"


class Format(enum.StrEnum):
    text = "text"
    html = "html"
    csv = "csv"
    json = "json"


def register(app: typer.Typer) -> None:
    app.command("probe")(probe)
    app.command("report")(report)
    app.add_typer(scheduler_app, name="scheduler")


def probe(
    urls: Annotated[
        list[str] | None,
        typer.Argument(help="URLs to probe (default: every monitored domain).", show_default=False),
    ] = None,
    allow_private: Annotated[
        bool,
        typer.Option(
            "--allow-private",
            help="Also probe private, loopback and link-local addresses "
            "(also: CERTDESK_PROBE_ALLOW_PRIVATE=true).",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Connect to each URL (sending its name as SNI), record what it serves, show it."""
    from certdesk.application.probing import probe_and_record

    with refusals(as_json), progress("probing", quiet=as_json) as ticker:
        results = probe_and_record(
            state.desk(),
            state.settings(),
            state.actor(),
            urls=urls or [],
            allow_private=True if allow_private else None,
            started=ticker.started,
            progress=ticker.done,
        )
    if as_json:
        print_json({"probes": [_probe_json(r) for r in results]})
    else:
        table = Table("url", "result", "certificate", "expires", "issuer", "drift")
        for r in results:
            leaf = r.chain[0] if r.chain else None
            table.add_row(
                escape(r.target.url),
                "[green]ok[/]" if r.ok else f"[red]{escape(str(r.error))}[/]: {escape(r.message)}",
                leaf.sha256[:16] if leaf else "-",
                iso_utc(leaf.not_after) if leaf else "-",
                escape(leaf.info.issuer_common_name or leaf.issuer) if leaf else "-",
                "[red]yes[/]" if r.drift else ("no" if r.drift is not None else "-"),
            )
        out.print(table)
    if any(not r.ok for r in results):
        raise typer.Exit(1)


def _probe_json(r: Any) -> dict[str, Any]:
    leaf = r.chain[0] if r.chain else None
    return {
        "url": r.target.url,
        "at": iso_utc(r.started_at),
        "ok": r.ok,
        "error": str(r.error) if r.error else None,
        "message": r.message,
        "sha256": leaf.sha256 if leaf else None,
        "not_after": iso_utc(leaf.not_after) if leaf else None,
        "issuer": leaf.issuer if leaf else None,
        "trusted": r.trusted,
        "covers_host": r.covers_host,
        "drift": r.drift,
        "chain": [c.sha256 for c in r.chain],
    }


def report(
    kind: Annotated[Kind, typer.Argument(help="daily or monthly.")],
    at: AtOpt = None,
    tenant: Annotated[
        str | None,
        typer.Option("--tenant", help="Only this tenant's URLs, as the reseller receives it."),
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", help="text, html, csv or json.")] = Format.text,
) -> None:
    """Preview a report (nothing is sent): the URLs it would list as of --at (default now)."""
    from certdesk.reports import preview_report, render
    from certdesk.scheduler.reports import report_config

    with refusals(fmt is Format.json):
        config = report_config(state.settings())
        moment = clock.parse_instant(at) if at else None
        result = state.desk().run(
            state.actor(), preview_report, kind=kind.value, config=config, at=moment, tenant=tenant
        )
    typer.echo(render(result, fmt.value), nl=fmt is not Format.csv)


def _tick(at: str | None, as_json: bool) -> list[Any]:
    from certdesk.notify import mailer_for
    from certdesk.scheduler import report_config, tick

    settings = state.settings()
    moment = clock.parse_instant(at) if at else clock.now()
    mailer = mailer_for(settings.smtp_url, settings.outbox)
    outcomes = tick(state.desk(), report_config(settings), mailer, now=moment)
    if as_json:
        print_json(
            {
                "at": iso_utc(moment),
                "deliveries": [
                    {
                        "kind": o.kind,
                        "period": o.period,
                        "recipient": o.recipient,
                        "status": o.status,
                        "late": o.late,
                        "rows": o.rows,
                        "error": o.error,
                    }
                    for o in outcomes
                ],
            }
        )
    else:
        for o in outcomes:
            late = " (late)" if o.late else ""
            error = f": {o.error}" if o.error else ""
            out.print(
                f"{o.kind} {o.period} → {escape(o.recipient)}: {o.status}{late}"
                f"{', ' + str(o.rows) + ' row(s)' if o.rows else ''}{escape(error)}"
            )
        if not outcomes:
            out.print("no recipients: set CERTDESK_OPERATOR_EMAILS or tenants' e-mails")
    return outcomes


@scheduler_app.command("tick")
def scheduler_tick(at: AtOpt = None, as_json: JsonOpt = False) -> None:
    """Run once whatever is due at --at (default now): for cron, and for tests."""
    with refusals(as_json):
        outcomes = _tick(at, as_json)
    if any(o.status in ("failed", "gave-up") for o in outcomes):
        raise typer.Exit(1)


@scheduler_app.command("run")
def scheduler_run(
    interval: Annotated[
        float, typer.Option("--interval", min=1.0, help="Seconds between ticks.")
    ] = 60.0,
) -> None:
    """Tick every --interval seconds until stopped (Ctrl-C)."""
    with refusals(False):
        while True:
            _tick(None, False)
            time.sleep(interval)
