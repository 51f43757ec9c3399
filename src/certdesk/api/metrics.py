"""``/metrics`` in the Prometheus text format: expiry per URL, probe outcomes, deliveries."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from sqlalchemy import and_, func, select

from certdesk.desk.context import Desk, Forbidden
from certdesk.http.auth import principal
from certdesk.store.models import Binding, CertificateRecord, Domain, Tenant
from certdesk.store.monitoring import DomainState, ReportDelivery

router = APIRouter()


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    """For Prometheus: operators, or an operator's API token."""
    who = principal(request)
    if not who.actor.is_operator:
        raise Forbidden("metrics are for the platform's operators")
    desk: Desk = request.app.state.desk
    lines = [
        "# HELP certdesk_certificate_expiry_timestamp_seconds When the certificate that "
        "counts for a URL expires (served if probed, else installed).",
        "# TYPE certdesk_certificate_expiry_timestamp_seconds gauge",
    ]
    probe_lines = [
        "# HELP certdesk_probe_success Whether the latest probe of a URL succeeded.",
        "# TYPE certdesk_probe_success gauge",
    ]
    drift_lines = [
        "# HELP certdesk_certificate_drift Whether a URL serves another certificate than "
        "the one certdesk installed.",
        "# TYPE certdesk_certificate_drift gauge",
    ]
    with desk.context(who.actor) as ctx:
        rows = ctx.session.execute(
            select(
                Domain.url,
                Tenant.name,
                DomainState.served_not_after,
                CertificateRecord.not_after,
                DomainState.last_ok,
                DomainState.served_drift,
            )
            .join(Tenant, Tenant.id == Domain.tenant_id)
            .outerjoin(DomainState, DomainState.domain_id == Domain.id)
            .outerjoin(Binding, and_(Binding.domain_id == Domain.id, Binding.unbound_at.is_(None)))
            .outerjoin(CertificateRecord, CertificateRecord.id == Binding.certificate_id)
            .where(Domain.removed_at.is_(None), Domain.monitored.is_(True))
            .order_by(Domain.url)
        )
        for url, tenant, served, installed, ok, drift in rows:
            labels = f'url="{_label(url)}",tenant="{_label(tenant)}"'
            expiry = served or installed
            if expiry is not None:
                source = "served" if served is not None else "installed"
                lines.append(
                    f"certdesk_certificate_expiry_timestamp_seconds{{{labels},"
                    f'source="{source}"}} {int(expiry.timestamp())}'
                )
            if ok is not None:
                probe_lines.append(f"certdesk_probe_success{{{labels}}} {int(bool(ok))}")
            if drift is not None:
                drift_lines.append(f"certdesk_certificate_drift{{{labels}}} {int(bool(drift))}")
        deliveries = ctx.session.execute(
            select(ReportDelivery.kind, ReportDelivery.status, func.count(ReportDelivery.id))
            .group_by(ReportDelivery.kind, ReportDelivery.status)
            .order_by(ReportDelivery.kind, ReportDelivery.status)
        )
        report_lines = [
            "# HELP certdesk_report_deliveries Report deliveries by kind and status.",
            "# TYPE certdesk_report_deliveries gauge",
        ] + [f'certdesk_report_deliveries{{kind="{k}",status="{s}"}} {n}' for k, s, n in deliveries]
    body = "\n".join(lines + probe_lines + drift_lines + report_lines) + "\n"
    return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")
