"""``certdesk probe``, ``certdesk report``, ``certdesk scheduler tick|run|status``."""

from __future__ import annotations

import enum
import time
from datetime import datetime, timedelta
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from certdesk import clock
from certdesk.application.compose import probe_config, report_config
from certdesk.application.jobs import job_registry
from certdesk.application.probing import probe_and_record
from certdesk.cli.files import JsonOpt
from certdesk.cli.output import out, print_json, refusals
from certdesk.cli.progress import progress
from certdesk.cli.state import state
from certdesk.pki import iso_utc
from certdesk.reports import preview_report, render
from certdesk.reports.kinds import KIND_NAMES
from certdesk.scheduler import engine
from certdesk.scheduler.engine import Outcome
from certdesk.scheduler.reports import as_deliveries

scheduler_app = typer.Typer(
    help="The job engine: expiry reports and every other periodic job.", no_args_is_help=True
)

AtOpt = Annotated[
    str | None,
    typer.Option(
        "--at", metavar="ISO-8601", help="As of this instant instead of now.", show_default=False
    ),
]


SweepOpt = Annotated[
    bool,
    typer.Option(
        "--sweep",
        help="Also probe the monitored URLs of the probe sweep that is due "
        "(CERTDESK_PROBE_INTERVAL), as certdesk serve does.",
    ),
]


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
    with refusals(as_json), progress("probing", quiet=as_json) as ticker:
        results = probe_and_record(
            state.desk(),
            probe_config(state.settings()),
            state.actor(),
            urls=urls or [],
            allow_private=True if allow_private else None,
            started=ticker.started,
            progress=ticker.done,
        )
    if as_json:
        print_json({"probes": [r.to_json() for r in results]})
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


def report(
    kind: Annotated[
        str, typer.Argument(help=f"The report: {' or '.join(KIND_NAMES)}.", show_default=False)
    ],
    at: AtOpt = None,
    tenant: Annotated[
        str | None,
        typer.Option("--tenant", help="Only this tenant's URLs, as the reseller receives it."),
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", help="text, html, csv or json.")] = Format.text,
) -> None:
    """Preview a report (nothing is sent): the URLs it would list as of --at (default now)."""
    with refusals(fmt is Format.json):
        config = report_config(state.settings())
        moment = clock.parse_instant(at) if at else None
        result = state.desk().run(
            state.actor(), preview_report, kind=kind, config=config, at=moment, tenant=tenant
        )
    typer.echo(render(result, fmt.value), nl=fmt is not Format.csv)


def _tick(
    at: str | None, as_json: bool, *, send: bool = False, sweep: bool = False
) -> list[Outcome]:
    settings = state.settings()
    desk = state.desk()
    now = clock.now()
    moment = clock.parse_instant(at) if at else now
    jobs = job_registry(settings, sweeps=sweep)
    ahead = moment > now + timedelta(minutes=1)
    previewing = ahead and not send
    if previewing:
        outcomes = engine.preview(desk, jobs, now=moment)
    else:
        outcomes = engine.tick(desk, jobs, now=moment)
    deliveries = as_deliveries(outcomes)
    if as_json:
        print_json(
            {
                "at": iso_utc(moment),
                "preview": previewing,
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
                    for o in deliveries
                ],
                "units": [
                    {
                        "job": o.job,
                        "period": o.period,
                        "unit": o.unit,
                        "status": o.status,
                        "late": o.late,
                        "error": o.error,
                    }
                    for o in outcomes
                ],
            }
        )
    else:
        if previewing:
            out.print(
                f"preview of {iso_utc(moment)} (in the future): nothing is sent or claimed; "
                "add --send to run it"
            )
        for o in outcomes:
            late = " (late)" if o.late else ""
            error = f": {o.error}" if o.error else ""
            rows = o.detail.get("rows")
            out.print(
                f"{o.job} {o.period} → {escape(o.unit)}: {o.status}{late}"
                f"{', ' + str(rows) + ' row(s)' if rows else ''}{escape(error)}"
            )
        if not deliveries:
            out.print("no report recipients: set CERTDESK_OPERATOR_EMAILS or tenants' e-mails")
    return outcomes


@scheduler_app.command("tick")
def scheduler_tick(
    at: AtOpt = None,
    as_json: JsonOpt = False,
    send: Annotated[
        bool,
        typer.Option(
            "--send",
            help="With --at in the future: really run the jobs of that instant (send its "
            "reports, claim its periods). Without it, a future --at only previews.",
        ),
    ] = False,
    sweep: SweepOpt = False,
) -> None:
    """Run once whatever is due at --at (default now): for cron, and for tests. An --at in
    the future previews what would run and sends nothing, unless --send."""
    with refusals(as_json):
        outcomes = _tick(at, as_json, send=send, sweep=sweep)
    if any(o.status in (engine.FAILED, engine.GAVE_UP) for o in outcomes):
        raise typer.Exit(1)


@scheduler_app.command("run")
def scheduler_run(
    interval: Annotated[
        float, typer.Option("--interval", min=1.0, help="Seconds between ticks.")
    ] = 60.0,
    sweep: SweepOpt = False,
) -> None:
    """Tick every --interval seconds until stopped (Ctrl-C)."""
    with refusals(False):
        while True:
            _tick(None, False, sweep=sweep)
            time.sleep(interval)


def _when(moment: datetime | None) -> str | None:
    return iso_utc(moment) if moment is not None else None


@scheduler_app.command("status")
def scheduler_status(as_json: JsonOpt = False) -> None:
    """Each job's last run, next run and the outcomes of its units."""
    with refusals(as_json):
        jobs = job_registry(state.settings(), sweeps=True)
        desk = state.desk()
        now = clock.now()
        rows = engine.status(desk, state.actor(), jobs, now=now)
        began = engine.known_first_start(desk)
    if as_json:
        print_json(
            {
                "at": iso_utc(now),
                "first_start": _when(began),
                "jobs": [
                    {
                        "job": s.job,
                        "last_period": s.last_period,
                        "last_run": _when(s.last_run),
                        "last_success": _when(s.last_success),
                        "next_run": _when(s.next_run),
                        "units": dict(s.units),
                        "pending": s.pending,
                        "failed": s.failed,
                        "overtaken": s.overtaken,
                        "problems": [
                            {
                                "period": u.period,
                                "unit": u.unit,
                                "status": u.status,
                                "attempts": u.attempts,
                                "error": u.last_error,
                                "next_attempt": _when(u.next_attempt_at),
                                "at": iso_utc(u.at),
                            }
                            for u in s.problems
                        ],
                    }
                    for s in rows
                ],
            }
        )
        return
    table = Table(
        "job", "last period", "last run", "next run", "units", "pending", "failed", "overtaken"
    )
    for s in rows:
        units = ", ".join(f"{n} {word}" for word, n in s.units.items()) or "none yet"
        table.add_row(
            s.job,
            s.last_period or "—",
            _when(s.last_run) or "never",
            _when(s.next_run) or "—",
            units,
            str(s.pending),
            str(s.failed),
            str(s.overtaken),
        )
    out.print(table)
    out.print(f"first start: {_when(began) or 'not yet (no tick has run)'}")
    for s in rows:
        for u in s.problems:
            retry = f"; next try {iso_utc(u.next_attempt_at)}" if u.next_attempt_at else ""
            out.print(
                f"{s.job} {u.period} {escape(u.unit)}: {u.status} after {u.attempts} "
                f"attempt(s){retry}{': ' + escape(u.last_error) if u.last_error else ''}"
            )
