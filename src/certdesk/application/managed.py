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
from certdesk.errors import CertdeskError
from certdesk.pki import iso_utc

log = logging.getLogger("certdesk.application.managed")

ACME_ACTOR = Actor(name="acme")  # the platform itself: an operator's reach


@dataclass(frozen=True, slots=True)
class AcmeOutcome:
    url: str
    state: str  # skipped | checked (renewal information only) | waiting-for-dns | issued | failed
    message: str
    sha256: str | None = None


@dataclass(frozen=True, slots=True)
class ManagedConfig:
    """What issuing takes of the settings (made by ``application.compose.managed_config``,
    which refuses, naming the setting, when one that ordering needs is missing): the CA
    and the account's contact, the platform's addresses a domain must point at, the
    resolvers that check it, and the kind of key ordered."""

    acme: AcmeConfig
    platform_targets: tuple[str, ...]
    dns_servers: tuple[str, ...]
    key_type: str


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
    config: ManagedConfig,
    installer: Installer | None = None,
    resolver: dns.resolver.Resolver | None = None,
    force: bool = False,
) -> AcmeOutcome:
    """Take ``unit`` (a managed domain's URL) one step further, if it is due (or ``force``)
    and no order runs for it elsewhere. Failures are recorded on the domain (with the
    CA's problem document and the next try), not raised."""
    with desk.context(ACME_ACTOR, at=now) as ctx:
        taken = take_unit(ctx, url=unit, force=force)
    if taken is None:
        return AcmeOutcome(unit, "skipped", "not due, or an order runs for it elsewhere")
    try:
        return _run(desk, taken, now, config, installer, resolver)
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
    config: ManagedConfig,
    installer: Installer | None,
    resolver: dns.resolver.Resolver | None,
) -> AcmeOutcome:
    client: AcmeClient | None = None
    if not unit.order_due:  # only the CA's renewal information is due
        client = _client(desk, unit, config.acme)
        renew, message = _ask_renewal_info(desk, client, unit, now)
        if not renew:
            return AcmeOutcome(unit.url, "checked", message)
    pointing = check_pointing(
        unit.hostname,
        config.platform_targets,
        resolver or resolver_for(config.dns_servers),
    )
    if not pointing.ok:
        with desk.context(ACME_ACTOR, at=now) as ctx:
            record_waiting(ctx, domain_id=unit.domain_id, message=pointing.message)
        return AcmeOutcome(unit.url, "waiting-for-dns", pointing.message)
    client = client or _client(desk, unit, config.acme)
    with desk.context(ACME_ACTOR, at=now) as ctx:
        csr_pem = start_order(ctx, unit=unit, key_kind=config.key_type)

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


def revoke_managed(desk: Desk, url: str, *, config: ManagedConfig, reason: int = 0) -> str:
    """Revoke the certificate the CA issued for managed ``url`` (an operator's act); the
    domain is then due at once for a new one. The SHA-256 of the revoked certificate."""
    acme = config.acme
    with desk.context(ACME_ACTOR, readonly=True) as ctx:
        target = managed_for_revoke(ctx, url=url)
        account = account_for(ctx, tenant_id=target.tenant_id, directory=acme.directory)
    if account.url is None:
        raise NotFound(
            f"no ACME account of {target.tenant} at {acme.directory} issued {target.url}'s "
            "certificate",
            hint="only certificates certdesk ordered from the configured CA can be revoked",
        )
    AcmeClient(acme, account.key, account.url).revoke(
        x509.load_pem_x509_certificate(target.leaf_pem.encode("ascii")), reason
    )
    with desk.context(ACME_ACTOR) as ctx:
        record_revoked(ctx, url=target.url, sha256=target.sha256)
    return target.sha256
