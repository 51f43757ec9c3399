"""What every use case runs with: a session in one transaction, the vault, the policy, who
is acting, and the instant. Also the desk's errors and the audit log writer.

Tenancy is enforced here, not in the interfaces: an actor bound to a tenant sees
only that tenant's rows, and anything else answers ``not-found``. A query is limited to
the actor's tenant in one way, :meth:`Ctx.scoped` (see :mod:`certdesk.desk.tenancy`, which
also holds the statements built once).

A use case that reads a file (a ``.pfx``, a signed certificate) is :func:`staged`: the
costly reading and checking runs outside any transaction, through the desk's
:data:`Reader` (in this process for the command line, a pool of worker processes with a
time limit in ``certdesk serve``), and only the short write that stores the result takes
the database's write lock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Protocol, TypeVar

from cryptography import x509
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from certdesk import clock
from certdesk.desk.tenancy import scoped_now
from certdesk.errors import CertdeskError
from certdesk.fixes import Action, fix
from certdesk.pki import Finding
from certdesk.pki.names import PublicSuffixTest
from certdesk.store.db import Store
from certdesk.store.models import AuditEvent, Tenant
from certdesk.store.vault import Vault

T = TypeVar("T")
J = TypeVar("J")
R = TypeVar("R")
S = TypeVar("S", bound="Select[*tuple[Any, ...]]")


class NotFound(CertdeskError):
    code: ClassVar[str] = "not-found"
    http_status: ClassVar[int] = 404
    exit_code: ClassVar[int] = 1


class Forbidden(CertdeskError):
    """The actor may see the object but not do this to it (e.g. a reseller, an operator's
    action)."""

    code: ClassVar[str] = "forbidden"
    http_status: ClassVar[int] = 403
    exit_code: ClassVar[int] = 1


class Conflict(CertdeskError):
    code: ClassVar[str] = "conflict"
    http_status: ClassVar[int] = 409
    exit_code: ClassVar[int] = 1


class Duplicate(Conflict):
    code: ClassVar[str] = "duplicate"


class OwnershipNotVerified(Conflict):
    """The domain is a pending claim: nothing is installed, ordered or probed for it until
    DNS shows it is the tenant's (``certdesk.desk.claims``)."""

    code: ClassVar[str] = "ownership-not-verified"


class Refused(CertdeskError):
    """The input was read but fails the checks: ``findings`` says every reason."""

    code: ClassVar[str] = "refused"
    http_status: ClassVar[int] = 422
    exit_code: ClassVar[int] = 1

    def __init__(
        self,
        message: str,
        findings: Sequence[Finding],
        *,
        hint: str | None = None,
        field: str | None = None,
    ):
        super().__init__(message, hint=hint, field=field)
        self.findings = tuple(findings)

    def to_dict(self, hint: str | None = None) -> dict[str, Any]:
        return {**super().to_dict(hint), "findings": [f.to_json() for f in self.findings]}


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: an operator (``tenant_id`` None) sees every tenant; a reseller only its own."""

    name: str
    tenant_id: int | None = None

    @property
    def is_operator(self) -> bool:
        return self.tenant_id is None


@dataclass(frozen=True, slots=True)
class Policy:
    """The platform's rules for the checks: trust roots, limits, thresholds."""

    roots: Sequence[x509.Certificate] = ()
    is_public_suffix: PublicSuffixTest | None = None
    # The registrable part of a host name under an ICANN public suffix, or None (see
    # ``trust.registrable_domain``); None here: no public-name check (a bare policy).
    registrable_domain: Callable[[str], str | None] | None = None
    # Suffixes the operator accepts for domains though they are not public (a test or
    # lab platform: ``test``, ``example``, ``lab.internal``).
    lab_suffixes: tuple[str, ...] = ()
    expires_soon_days: int = 30
    max_upload_bytes: int = 1024 * 1024
    max_pkcs12_iterations: int = 1_000_000
    installs: bool = False  # a deploy target is configured: intake waits for the install
    # Resellers' new names are pending claims until DNS shows they are theirs (desk.claims).
    claims: bool = False
    # What a name needs to point at the platform ("set CNAME edge.platform.example"), for
    # a new claim's first message; empty when the platform's targets are not configured.
    pointing: str = ""


@dataclass
class Ctx:
    session: Session
    vault: Vault
    policy: Policy
    actor: Actor
    now: datetime

    def audit(
        self,
        action: str,
        object_type: str,
        object_id: object | None,
        tenant_id: int | None,
        **detail: Any,
    ) -> None:
        """Record who did what; ``detail`` must never hold a secret."""
        self.session.add(
            AuditEvent(
                at=self.now,
                actor=self.actor.name,
                tenant_id=tenant_id,
                action=action,
                object_type=object_type,
                object_id=None if object_id is None else str(object_id),
                detail=detail,
            )
        )

    def scoped(self, stmt: S, tenant_column: Any) -> S:
        """Limit a query to the actor's tenant (operators see all): the condition of
        :meth:`Scope.scoped <certdesk.desk.tenancy.Scope.scoped>`, its tenant bound now."""
        return scoped_now(stmt, tenant_column, self.actor)

    def visible(self, tenant_id: int) -> bool:
        return self.actor.tenant_id is None or self.actor.tenant_id == tenant_id


class Reader(Protocol):
    """Runs ``read(job)`` for ``actor`` and returns its result: a pure function over plain
    (picklable) values that reads and checks a file. It never runs in a transaction."""

    def __call__(self, actor: Actor, read: Callable[[J], R], job: J, /) -> R: ...


def read_here(actor: Actor, read: Callable[[J], R], job: J, /) -> R:
    """The reader of the command line: in this process (never under the write lock)."""
    return read(job)


@dataclass
class Desk:
    """Everything a use case needs besides its inputs; interfaces hold one of these."""

    store: Store
    vault: Vault
    policy: Policy
    now: Callable[[], datetime] = clock.now
    reader: Reader = read_here

    @contextmanager
    def context(
        self, actor: Actor, *, at: datetime | None = None, readonly: bool = False
    ) -> Iterator[Ctx]:
        with self.store.transaction(readonly=readonly) as session:
            yield Ctx(session, self.vault, self.policy, actor, at or self.now())

    def run(self, actor: Actor, use_case: Callable[..., T], /, **inputs: Any) -> T:
        """Run one use case in one transaction: all of it is stored, or none of it.

        A use case marked with :func:`reads` runs in a read-only transaction; one marked
        with :func:`staged` is given its :class:`Stages` instead of a transaction.
        """
        if getattr(use_case, STAGED, False):
            return use_case(Stages(self, actor, self.now()), **inputs)
        with self.context(actor, readonly=getattr(use_case, READS, False)) as ctx:
            return use_case(ctx, **inputs)


READS = "certdesk_reads_only"
STAGED = "certdesk_staged"
F = TypeVar("F", bound=Callable[..., Any])


def reads(use_case: F) -> F:
    """Mark a use case that only reads: it needs no write lock."""
    setattr(use_case, READS, True)
    return use_case


def staged(use_case: F) -> F:
    """Mark a use case that reads a file: it runs over :class:`Stages`, not one transaction.

    Its costly part (loading, key derivation, key checks, chain building) goes through
    :meth:`Stages.read` outside any transaction; what it looks up goes through
    :meth:`Stages.look` (read-only); what it stores through one :meth:`Stages.write`,
    which re-checks what the database decides (tenant, duplicates, URL ownership).
    """
    setattr(use_case, STAGED, True)
    return use_case


@dataclass(frozen=True, slots=True)
class Stages:
    """The steps of a :func:`staged` use case, all as one actor at one instant."""

    desk: Desk
    actor: Actor
    at: datetime

    @property
    def policy(self) -> Policy:
        return self.desk.policy

    def look(self, use_case: Callable[..., T], /, **inputs: Any) -> T:
        """``use_case(ctx, **inputs)`` in a read-only transaction (no write lock)."""
        with self.desk.context(self.actor, at=self.at, readonly=True) as ctx:
            return use_case(ctx, **inputs)

    def read(self, read: Callable[[J], R], job: J) -> R:
        """``read(job)`` through the desk's reader, outside any transaction."""
        return self.desk.reader(self.actor, read, job)

    def write(self, use_case: Callable[..., T], /, **inputs: Any) -> T:
        """``use_case(ctx, **inputs)`` in one write transaction: stored whole, or not at all."""
        with self.desk.context(self.actor, at=self.at) as ctx:
            return use_case(ctx, **inputs)


def tenant_by_name(ctx: Ctx, name: str) -> Tenant:
    """The tenant named ``name``, if the actor may see it."""
    tenant = ctx.session.scalars(select(Tenant).where(Tenant.name == name.strip())).one_or_none()
    if tenant is None or not ctx.visible(tenant.id):
        raise NotFound(f"no tenant named {name!r}", fix=fix(Action.LIST_TENANTS))
    return tenant
