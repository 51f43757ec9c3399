"""Issue then intake: platform-managed certificates from an ACME CA, taken in as any other.

For a managed domain that is due (:func:`due_acme_work`), :func:`run_acme_unit` leases
it (one order per domain, across replicas), checks that its name points at the platform,
orders the certificate for a key and CSR certdesk makes (the desk's CSR order, key sealed
by the vault), answers the HTTP-01 challenge through ``certdesk serve``
(``/.well-known/acme-challenge/<token>``, read from the database by any replica), and
hands the issued chain to the same path as every signed certificate that comes back:
``complete_order`` (every check, stored, bound), then the installer (install, handshake
proof, e-mail). The domain's state moves with each step: the certificate is recorded on
it in the transaction that stores it, and it is ``issued`` in the one that records the
install. The engine calls these two functions; the operators' ``certdesk acme
issue|renew`` call :func:`run_acme_unit` with ``force``.

When the CA offers ACME Renewal Information (RFC 9773), an issued domain is also due
when its renewal information is to be asked again: the time chosen in the CA's window
replaces two thirds of the lifetime (sooner or later), and a window already open renews
at once. A CA whose renewal information fails is asked again after its ``Retry-After``
(or six hours), and the certificate renews at the time known meanwhile.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import dns.resolver
from cryptography import x509

from certdesk.acme import (
    AcmeClient,
    AcmeConfig,
    AcmeFailed,
    RenewalAdvice,
    check_pointing,
    resolver_for,
)
from certdesk.application.installer import Installer
from certdesk.desk.context import Actor, Ctx, Desk, NotFound
from certdesk.desk.managed import (
    Unit,
    account_for,
    due_units,
    managed_for_revoke,
    managed_status,
    publish_challenge,
    record_failure,
    record_issued,
    record_renewal_info,
    record_revoked,
    record_taken_in,
    record_waiting,
    save_account,
    start_order,
    take_unit,
)
from certdesk.desk.orders import CompleteResult, complete_order
from certdesk.errors import CertdeskError, InvalidArgument
from certdesk.pki import iso_utc
from certdesk.settings import Settings

log = logging.getLogger("certdesk.application.managed")

ACME_ACTOR = Actor(name="acme")  # the platform itself: an operator's reach


@dataclass(frozen=True, slots=True)
class AcmeOutcome:
    url: str
    state: str  # skipped | checked (renewal information only) | waiting-for-dns | issued | failed
    message: str
    sha256: str | None = None


def acme_config(settings: Settings) -> AcmeConfig:
    """What ordering needs from the settings; refused with the setting to give if absent."""
    if not settings.acme_directory:
        raise InvalidArgument(
            "no ACME directory is configured: platform-managed certificates cannot be issued",
            hint="set CERTDESK_ACME_DIRECTORY (and CERTDESK_ACME_EMAIL) for the platform",
        )
    if not settings.platform_targets:
        raise InvalidArgument(
            "the platform's addresses are not configured: certdesk cannot tell whether a "
            "managed domain points at the platform",
            hint="set CERTDESK_PLATFORM_TARGETS to the platform's CNAME targets and "
            "addresses, e.g. edge.platform.example,203.0.113.10",
        )
    return AcmeConfig(
        directory=settings.acme_directory,
        email=settings.acme_email,
        ca_bundle=settings.acme_ca_bundle,
        eab_kid=settings.acme_eab_kid,
        eab_hmac_key=settings.acme_eab_hmac_key,
    )


def due_acme_work(desk: Desk, now: datetime) -> list[str]:
    """The unit keys (URLs) of managed domains due at ``now``: DNS to check, a certificate
    to order, or one to renew (at two thirds of its lifetime)."""
    with desk.context(ACME_ACTOR, at=now, readonly=True) as ctx:
        return due_units(ctx)


def run_acme_unit(
    desk: Desk,
    unit: str,
    now: datetime,
    *,
    settings: Settings,
    installer: Installer | None = None,
    resolver: dns.resolver.Resolver | None = None,
    force: bool = False,
) -> AcmeOutcome:
    """Take ``unit`` (a managed domain's URL) one step further, if it is due (or ``force``)
    and no order runs for it elsewhere. Failures are recorded on the domain (with the
    CA's problem document and the next try), not raised."""
    config = acme_config(settings)
    with desk.context(ACME_ACTOR, at=now) as ctx:
        taken = take_unit(ctx, url=unit, force=force)
    if taken is None:
        return AcmeOutcome(unit, "skipped", "not due, or an order runs for it elsewhere")
    try:
        return _run(desk, taken, now, config, settings, installer, resolver)
    except AcmeFailed as exc:
        message = f"the certificate authority refused: {exc.problem.describe()}"
        problem = exc.problem.to_json()
        retry_after = exc.retry_after
    except CertdeskError as exc:
        message = exc.message
        problem = {"type": f"certdesk:{exc.code}", "detail": exc.message}
        retry_after = None
    except Exception as exc:
        log.exception("managed certificate of %s", taken.url)
        message = f"unexpected error: {exc}"
        problem = {"type": "certdesk:error", "detail": str(exc)}
        retry_after = None
    with desk.context(ACME_ACTOR, at=now) as ctx:
        record_failure(
            ctx,
            domain_id=taken.domain_id,
            message=message,
            problem=problem,
            retry_after=retry_after,
        )
    return AcmeOutcome(taken.url, "failed", message)


def _run(
    desk: Desk,
    unit: Unit,
    now: datetime,
    config: AcmeConfig,
    settings: Settings,
    installer: Installer | None,
    resolver: dns.resolver.Resolver | None,
) -> AcmeOutcome:
    client: AcmeClient | None = None
    if not unit.order_due:  # only the CA's renewal information is due
        client = _client(desk, unit, config)
        renew, message = _ask_renewal_info(desk, client, unit, now)
        if not renew:
            return AcmeOutcome(unit.url, "checked", message)
    pointing = check_pointing(
        unit.hostname,
        settings.platform_targets,
        resolver or resolver_for(settings.dns_servers),
    )
    if not pointing.ok:
        with desk.context(ACME_ACTOR, at=now) as ctx:
            record_waiting(ctx, domain_id=unit.domain_id, message=pointing.message)
        return AcmeOutcome(unit.url, "waiting-for-dns", pointing.message)
    client = client or _client(desk, unit, config)
    with desk.context(ACME_ACTOR, at=now) as ctx:
        csr_pem = start_order(ctx, unit=unit, key_kind=settings.acme_key_type)

    def publish(token: str, key_authorization: str) -> None:
        with desk.context(ACME_ACTOR, at=now) as ctx:
            publish_challenge(
                ctx, domain_id=unit.domain_id, token=token, key_authorization=key_authorization
            )

    if installer is not None:
        installer.prepare_challenges()  # the targets' port-80 routing to certdesk
    chain = client.order(csr_pem.encode("ascii"), publish)
    installing = installer is not None and installer.configured
    renewal_info = client.offers_renewal_info

    def taken_in(ctx: Ctx, result: CompleteResult) -> None:
        record_taken_in(
            ctx,
            domain_id=unit.domain_id,
            sha256=result.sha256,
            installing=installing,
            renewal_info=renewal_info,
        )

    # The same path as a signed certificate sent back for a CSR certdesk made; the
    # domain's row points at the certificate in the transaction that stores it.
    result = desk.run(ACME_ACTOR, complete_order, data=chain.encode("ascii"), then=taken_in)
    if installer is not None:
        # Recording the install makes the row ``issued`` (``settle_installs``).
        installer.after_intake(ACME_ACTOR, result.request_id)
    with desk.context(ACME_ACTOR, at=now) as ctx:
        record_issued(ctx, domain_id=unit.domain_id, sha256=result.sha256)  # nothing installed
        view = managed_status(ctx, url=unit.url)
    return AcmeOutcome(unit.url, "issued", view.message, result.sha256)


def _ask_renewal_info(
    desk: Desk, client: AcmeClient, unit: Unit, now: datetime
) -> tuple[bool, str]:
    """Ask the CA when to renew the domain's certificate (RFC 9773); whether it is due
    now, and what was learnt."""
    if unit.leaf_pem is None:
        advice = RenewalAdvice(None, None, "no certificate issued yet")
    else:
        advice = client.renewal_info(unit.leaf_pem.encode("ascii"), now)
    with desk.context(ACME_ACTOR, at=now) as ctx:
        due = record_renewal_info(
            ctx,
            domain_id=unit.domain_id,
            renew_at=advice.renew_at,
            next_check=advice.next_check,
            error=advice.error,
        )
        view = managed_status(ctx, url=unit.url)
    if advice.error is not None:
        message = f"renewal information unavailable ({advice.error}); renews at the time known"
    elif advice.renew_at is not None:
        message = "the certificate authority's renewal window says to renew"
    else:
        message = "the certificate authority gives no renewal information"
    if not due and view.renew_at is not None:
        message += f": at {iso_utc(view.renew_at)}"
    if advice.next_check is not None:
        message += f"; asked again at {iso_utc(advice.next_check)}"
    return due, message


def _client(desk: Desk, unit: Unit, config: AcmeConfig) -> AcmeClient:
    """The tenant's account at the configured CA, registered on first use."""
    with desk.context(ACME_ACTOR, readonly=True) as ctx:
        account = account_for(ctx, tenant_id=unit.tenant_id, directory=config.directory)
    client = AcmeClient(config, account.key, account.url)
    if account.url is None:
        url = client.register()
        with desk.context(ACME_ACTOR) as ctx:
            save_account(
                ctx, tenant_id=unit.tenant_id, directory=config.directory, key=account.key, url=url
            )
    return client


def revoke_managed(desk: Desk, url: str, *, settings: Settings, reason: int = 0) -> str:
    """Revoke the certificate the CA issued for managed ``url`` (an operator's act); the
    domain is then due at once for a new one. The SHA-256 of the revoked certificate."""
    config = acme_config(settings)
    with desk.context(ACME_ACTOR, readonly=True) as ctx:
        target = managed_for_revoke(ctx, url=url)
        account = account_for(ctx, tenant_id=target.tenant_id, directory=config.directory)
    if account.url is None:
        raise NotFound(
            f"no ACME account of {target.tenant} at {config.directory} issued {target.url}'s "
            "certificate",
            hint="only certificates certdesk ordered from the configured CA can be revoked",
        )
    AcmeClient(config, account.key, account.url).revoke(
        x509.load_pem_x509_certificate(target.leaf_pem.encode("ascii")), reason
    )
    with desk.context(ACME_ACTOR) as ctx:
        record_revoked(ctx, url=target.url, sha256=target.sha256)
    return target.sha256
