"""Domains: the custom-domain URLs of a tenant's portals."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    CompoundSelect,
    Select,
    and_,
    bindparam,
    case,
    func,
    literal,
    select,
    union_all,
)

from certdesk.desk.claims import (
    ClaimMethod,
    ClaimState,
    claim_record,
    pending_claims,
    start_claim,
    verify,
)
from certdesk.desk.context import (
    Conflict,
    Ctx,
    Forbidden,
    NotFound,
    reads,
    tenant_by_name,
)
from certdesk.desk.modes import certificate_mode, set_mode
from certdesk.desk.tenancy import OPERATOR, Scope, cached
from certdesk.errors import InvalidArgument, about
from certdesk.fixes import Action, fix
from certdesk.pki import Address, DomainUrl
from certdesk.pki.urls import PUBLIC_NAME_HINT
from certdesk.store.models import Binding, CertificateRecord, Domain, Tenant
from certdesk.store.monitoring import DomainState


class Portal(enum.StrEnum):
    BSS = "bss"
    STOREFRONT = "storefront"
    OTHER = "other"


# Names that are never a public custom domain (RFC 6761 localhost, invalid, test,
# example; RFC 6762 local; RFC 7686 onion; RFC 8375 home.arpa and the rest of arpa;
# RFC 9476 alt; ICANN's 2024 private-use internal). An operator may still accept
# some for a test or lab platform: the ``lab_suffixes`` setting.
SPECIAL_USE = frozenset(
    {"localhost", "invalid", "test", "example", "local", "onion", "arpa", "alt", "internal"}
)


def _under(name: str, suffix: str) -> bool:
    return name == suffix or name.endswith("." + suffix)


def _ip_like(label: str) -> bool:
    """A label that inet_aton-style parsers read as a number: ``127``, ``0x7f``, ``017``."""
    text = label.lower()
    if text.startswith("0x"):
        return all(c in "0123456789abcdef" for c in text[2:])
    return text.isdigit()


def public_name_problem(ctx: Ctx, hostname: str) -> str | None:
    """Why ``hostname`` cannot be a custom domain, or None: it must be a public DNS name
    (two labels or more, not an address in any notation, under a public suffix and not a
    suffix itself, not a special-use name), or under one of the operator's lab suffixes."""
    labels = hostname.split(".")
    if len(labels) < 2:
        return "is a single label, not a public DNS name"
    if _ip_like(labels[-1]):
        return "reads as an IP address, not a DNS name"
    if any(_under(hostname, suffix) for suffix in ctx.policy.lab_suffixes):
        return None
    if labels[-1] in SPECIAL_USE:
        return f"is under .{labels[-1]}, a special-use name that is not public"
    registrable = ctx.policy.registrable_domain
    if registrable is not None and registrable(hostname) is None:
        return "is not under a public suffix (or is a public suffix itself)"
    return None


def _operators_only_connect_to(ctx: Ctx) -> None:
    # The connect-to address makes certdesk open connections to it: an operator's call.
    if not ctx.actor.is_operator:
        raise Forbidden("only the platform's operators set a connect-to address")


def stored_connect_to(value: str | None) -> str | None:
    """The connect-to address as a domain keeps it: ``HOST:PORT`` in its one form."""
    if value is None or not value.strip():
        return None
    return str(Address.parse(value))


def domain_url(domain: Domain) -> DomainUrl:
    """The stored domain's URL, with its connect-to address, read by the one parser."""
    return DomainUrl.parse(domain.url, connect_to=domain.connect_to)


@dataclass(frozen=True, slots=True)
class DomainView:
    id: int
    url: str
    hostname: str
    port: int
    tenant: str
    portal: str
    monitored: bool
    connect_to: str | None
    certificate_sha256: str | None
    not_after: datetime | None
    deploy_target: str | None = None
    # Where the install of the bound certificate stands (desk.installs.InstallState's
    # values; None: no certificate bound), that certificate's expiry once it is
    # installed (None while only stored), and the expiry of what the URL really
    # served at its last handshake.
    install_state: str | None = None
    installed_not_after: datetime | None = None
    served_not_after: datetime | None = None
    # Whose name it is (desk.claims): verified, or pending until the TXT record
    # ``claim_record`` holds ``claim_token`` (or the name points at the platform);
    # ``claim_message`` says what the last check found and what to set.
    claim: str = ClaimState.VERIFIED.value
    claim_token: str | None = None
    claim_message: str | None = None
    # The TXT record's name that shows the claim: ``_certdesk.<hostname>``.
    claim_record: str = field(init=False, default="")

    def __post_init__(self) -> None:
        object.__setattr__(self, "claim_record", claim_record(self.hostname))


def _active(ctx: Ctx, url: DomainUrl) -> Domain | None:
    """The owner's row of ``url``: its active verified claim (one at most), or None."""
    return ctx.session.scalars(
        select(Domain).where(
            Domain.hostname == url.hostname,
            Domain.port == url.port,
            Domain.removed_at.is_(None),
            Domain.claim == ClaimState.VERIFIED.value,
        )
    ).one_or_none()


def _tenants_claim(ctx: Ctx, url: DomainUrl, tenant_id: int) -> Domain | None:
    """``tenant_id``'s active row of ``url`` (verified or pending), or None."""
    return ctx.session.scalars(
        select(Domain).where(
            Domain.tenant_id == tenant_id,
            Domain.hostname == url.hostname,
            Domain.port == url.port,
            Domain.removed_at.is_(None),
        )
    ).one_or_none()


def find_domain(ctx: Ctx, value: str, *, tenant_id: int | None = None) -> Domain:
    """The actor's active domain for ``value``; another tenant's answers not-found.

    A reseller finds its own row (verified or a pending claim). An operator finds the
    name's owner; where nobody owns it yet, the one pending claim of it (or the claim of
    ``tenant_id``); several tenants' pending claims and no tenant named are a conflict."""
    url = DomainUrl.parse(value)
    missing = NotFound(f"no domain {url.url}", fix=fix(Action.LIST_DOMAINS, url=url.url))
    if ctx.actor.tenant_id is not None:
        own = _tenants_claim(ctx, url, ctx.actor.tenant_id)
        if own is None:
            raise missing
        return own
    if tenant_id is not None:
        row = _tenants_claim(ctx, url, tenant_id)
        if row is None:
            raise missing
        return row
    domain = _active(ctx, url)
    if domain is not None:
        return domain
    claims = pending_claims(ctx, url.hostname, url.port)
    if not claims:
        raise missing
    if len(claims) > 1:
        raise Conflict(
            f"{url.url} is claimed by {len(claims)} tenants and verified by none: "
            "name the tenant whose claim is meant, or assign the name to one of them",
            field="tenant",
        )
    return claims[0]


def claim_check(ctx: Ctx, tenant: Tenant, url: DomainUrl) -> Domain | None:
    """The tenant's active domain for ``url``, or None when the tenant may add it: a URL
    another tenant owns (a verified claim) is a ``conflict``, a name that is not public
    ``invalid-argument``. Other tenants' pending claims block nobody."""
    domain = _active(ctx, url) or _tenants_claim(ctx, url, tenant.id)
    if domain is not None:
        if domain.tenant_id != tenant.id:
            owner = ctx.session.get(Tenant, domain.tenant_id) if ctx.actor.is_operator else None
            raise Conflict(
                f"{url.url} is not available",
                fix=fix(
                    Action.DOMAIN_TAKEN, url=url.url, **({"owner": owner.name} if owner else {})
                ),
            )
        return domain
    problem = public_name_problem(ctx, url.hostname)
    if problem is not None:
        hint = PUBLIC_NAME_HINT
        if ctx.actor.is_operator:
            hint += (
                "; for a test or lab platform, list its suffix in the lab_suffixes setting "
                "(CERTDESK_LAB_SUFFIXES)"
            )
        raise InvalidArgument(f"{url.hostname} {problem}", hint=hint)
    return None


def ensure_domain(ctx: Ctx, tenant: Tenant, value: str, portal: str = "other") -> Domain:
    """The tenant's domain for ``value``, added if unknown; refused if another tenant has it."""
    url = DomainUrl.parse(value)
    domain = claim_check(ctx, tenant, url)
    if domain is not None:
        return domain
    domain = Domain(
        tenant_id=tenant.id,
        url=url.url,
        hostname=url.hostname,
        port=url.port,
        portal=Portal(portal).value,
        monitored=True,
        created_at=ctx.now,
    )
    start_claim(ctx, domain)
    ctx.session.add(domain)
    ctx.session.flush()
    ctx.audit(
        "domain.add",
        "domain",
        domain.id,
        tenant.id,
        url=url.url,
        portal=domain.portal,
        claim=domain.claim,
    )
    others = [d for d in pending_claims(ctx, url.hostname, url.port) if d.id != domain.id]
    if domain.claim == ClaimState.VERIFIED.value and others:
        # Assigned (by an operator, or with verification off): the other tenants' pending
        # claims of the name are closed, each with its message.
        verify(ctx, domain, ClaimMethod(domain.claim_method or ClaimMethod.OPERATOR.value))
    return domain


def add_domain(
    ctx: Ctx,
    *,
    url: str,
    tenant: str,
    portal: str = "other",
    connect_to: str | None = None,
    managed: str | None = None,
) -> DomainView:
    """Add a domain; ``managed="acme"`` makes its certificate platform-managed."""
    owner = tenant_by_name(ctx, tenant)
    with about("url"):
        parsed = DomainUrl.parse(url)
    mode = certificate_mode(managed) if managed is not None else None
    with about("url"):
        claimed = _tenants_claim(ctx, parsed, owner.id)
        # An operator assigns the name to the tenant that claimed it: verified now.
        assigning = (
            claimed is not None and claimed.claim == ClaimState.PENDING and ctx.actor.is_operator
        )
        if not assigning and (_active(ctx, parsed) is not None or claimed is not None):
            raise Conflict(
                f"{parsed.url} is registered already: a URL belongs to one tenant",
                fix=fix(Action.LIST_DOMAINS, url=parsed.url),
            )
    with about("connect_to"):
        if connect_to:
            _operators_only_connect_to(ctx)
        connect = stored_connect_to(connect_to)
    if claimed is not None and assigning:
        verify(ctx, claimed, ClaimMethod.OPERATOR)
        claimed.portal = Portal(portal).value
        domain = claimed
    else:
        with about("url"):
            domain = ensure_domain(ctx, owner, url, portal)
    domain.connect_to = connect
    if mode is not None:
        set_mode(ctx, domain, mode)
    return _view(ctx, domain)


def _view_columns(expiry: Any) -> tuple[Any, ...]:
    """The columns of a DomainView, in order; ``not_after`` read from ``expiry``."""
    return (
        Domain.id,
        Domain.url,
        Domain.hostname,
        Domain.port,
        Tenant.name,
        Domain.portal,
        Domain.monitored,
        Domain.connect_to,
        CertificateRecord.sha256,
        expiry,
        Domain.deploy_target,
        Binding.install_state,
        case((Binding.install_state == "installed", CertificateRecord.not_after), else_=None),
        DomainState.served_not_after,
        Domain.claim,
        Domain.claim_token,
        Domain.claim_message,
    )


def _views(scope: Scope, expiry: Any = CertificateRecord.not_after) -> Select[*tuple[Any, ...]]:
    """Active domains with their tenant's name and current certificate: one query."""
    stmt: Select[*tuple[Any, ...]] = (
        select(*_view_columns(expiry))
        .join(Tenant, Tenant.id == Domain.tenant_id)
        .outerjoin(Binding, and_(Binding.domain_id == Domain.id, Binding.unbound_at.is_(None)))
        .outerjoin(CertificateRecord, CertificateRecord.id == Binding.certificate_id)
        .outerjoin(DomainState, DomainState.domain_id == Domain.id)
        .where(Domain.removed_at.is_(None))
    )
    return scope.scoped(stmt, Domain.tenant_id)


@reads
def list_domains(
    ctx: Ctx, *, tenant: str | None = None, limit: int | None = None, offset: int = 0
) -> list[DomainView]:
    """The active domains with their tenant and current certificate, in one query.

    ``limit``/``offset`` page through them (ordered by host name and port).
    """
    params: dict[str, int] = {"offset": max(0, offset)}
    if tenant is not None:
        params["owner"] = tenant_by_name(ctx, tenant).id
    if limit is not None:
        params["limit"] = max(0, limit)
    rows = _listing.execute(ctx, (tenant is not None, limit is not None), params)
    return [DomainView(*row) for row in rows]


@cached(*((by_owner, paged) for by_owner in (False, True) for paged in (False, True)))
def _listing(scope: Scope, by_owner: bool, paged: bool) -> Select[*tuple[Any, ...]]:
    stmt = _views(scope).order_by(Domain.hostname, Domain.port).offset(_OFFSET)
    if by_owner:
        stmt = stmt.where(Domain.tenant_id == bindparam("owner"))
    return stmt.limit(_LIMIT) if paged else stmt


# 64-bit: the API takes offsets up to 2**63 - 1, past PostgreSQL's INTEGER.
_LIMIT = bindparam("limit", type_=BigInteger)
_OFFSET = bindparam("offset", type_=BigInteger)


@reads
def search_domains(
    ctx: Ctx, *, text: str, installed: bool = False, limit: int = 20
) -> list[DomainView]:
    """At most ``limit`` of the actor's active domains whose URL holds ``text`` (any case;
    ``%`` and ``_`` taken literally), by host name; ``installed``: only those with a
    certificate. For a search box, where a list of every domain would not do."""
    stmt = _views(OPERATOR).where(
        func.lower(Domain.url).contains(text.strip().lower(), autoescape=True)
    )
    if installed:
        stmt = stmt.where(CertificateRecord.id.is_not(None))
    stmt = ctx.scoped(stmt, Domain.tenant_id).order_by(Domain.hostname, Domain.port)
    return [DomainView(*row) for row in ctx.session.execute(stmt.limit(max(0, limit)))]


@dataclass(frozen=True, slots=True)
class Overview:
    """A dashboard's worth: how many domains per urgency, a page of them, the expiries to
    chart — computed by the database from each domain's indexed ``expires_at`` (the
    expiry that counts, as in the reports: served if probed, else installed)."""

    counts: dict[str, int]
    total: int  # of the urgency shown (or all)
    rows: list[DomainView]  # ``not_after`` here is the expiry that counts
    weeks: list[int]  # how many expire in each week after ``at`` (days 0–``chart_days``)


@reads
def domain_overview(
    ctx: Ctx,
    *,
    at: datetime,
    buckets: Sequence[tuple[str, timedelta]],
    show: str | None = None,
    limit: int = 100,
    offset: int = 0,
    chart_days: int = 90,
) -> Overview:
    """Domains by urgency at ``at``: ``none`` (no expiry known), ``expired``
    (``expires_at <= at``), then each ``(label, delta)`` of ``buckets`` (deltas growing)
    for ``expires_at < at + delta`` in order, else ``ok``. Rows come soonest expiry first.

    The figures come from one statement of counts of ranges of the index on the active
    domains' ``(tenant, expires_at)``, built once per shape (then only its parameters
    change, the reseller's tenant among them): the database reads each dated domain's
    index entry once, never the rows.
    """
    deltas = [delta for _, delta in buckets]
    if any(b <= a for a, b in pairwise(deltas)) or any(d <= timedelta(0) for d in deltas):
        raise ValueError("urgency buckets need growing, positive deltas")
    if chart_days < 0:
        raise ValueError("the chart cannot cover a negative number of days")
    labels = [str(label) for label, _ in buckets]  # plain words: a statement shape
    weeks = -(-chart_days // 7)
    # The urgencies and the chart's weeks are runs of segments of the expiries cut at
    # every edge of either: each dated domain's index entry is read once.
    week_edges = [timedelta(days=7 * n) for n in range(1, weeks)]
    chart_end = timedelta(days=chart_days)
    cuts = sorted(
        {(timedelta(0), True), (chart_end, True)}
        | {(delta, False) for delta in (*deltas, *week_edges)}
    )
    params: dict[str, Any] = {f"c{n}": at + offset for n, (offset, _) in enumerate(cuts)}
    segments = [0] * (len(cuts) + 1)
    none = 0
    for n, count in _segment_counts.execute(ctx, (tuple(after for _, after in cuts),), params):
        if n < 0:
            none = count
        else:
            segments[n] = count

    def between(low: tuple[timedelta, bool] | None, high: tuple[timedelta, bool] | None) -> int:
        """How many expire between two cuts (None: no bound)."""
        first = 0 if low is None else cuts.index(low) + 1
        last = len(cuts) if high is None else cuts.index(high)
        return sum(segments[first : last + 1])

    expired = (timedelta(0), True)
    edges = [expired, *((delta, False) for delta in deltas)]
    counts = {"none": none, "expired": between(None, expired)}
    counts |= {label: between(edges[n], edges[n + 1]) for n, label in enumerate(labels)}
    counts["ok"] = between(edges[-1], None)
    starts = [expired, *((edge, False) for edge in week_edges)]
    ends = [*((edge, False) for edge in week_edges), (chart_end, True)]
    chart = [between(low, high) for low, high in zip(starts, ends, strict=True)] if weeks else []
    total_all = sum(segments) + none
    edge_params = {"at": at} | {f"u{n}": at + delta for n, delta in enumerate(deltas, 1)}

    def page_of(kind: str, limit: int, offset: int) -> list[DomainView]:
        if limit <= 0:
            return []
        page = {**edge_params, "limit": limit, "offset": offset}
        rows = _overview_page.execute(ctx, (kind, tuple(labels)), page)
        return [DomainView(*row) for row in rows]

    limit, offset = max(0, limit), max(0, offset)
    if show in counts:
        page = page_of(show or "", limit, offset)
    else:  # dated ones soonest first, then those with no expiry known
        page = page_of("dated", limit, offset)
        if len(page) < limit and none:
            page += page_of("none", limit - len(page), max(0, offset - (total_all - none)))
    return Overview(
        counts={label: counts[label] for label in ("none", "expired", *labels, "ok")},
        total=counts.get(show or "", total_all),
        rows=page,
        weeks=chart,
    )


def _urgency_range(label: str, labels: Sequence[str]) -> list[ColumnElement[bool]]:
    """The expiries of an urgency (``none``, ``expired``, a bucket's label, ``ok``), with
    ``:at`` and the buckets' edges ``:u1``… bound later."""
    expires = Domain.expires_at
    at = bindparam("at", type_=expires.type)
    edge = [at, *(bindparam(f"u{n}", type_=expires.type) for n in range(1, len(labels) + 1))]
    if label == "none":
        return [expires.is_(None)]
    if label == "expired":
        return [expires <= at]
    if label == "ok":  # after the last bucket, or after ``at`` if there is none
        return [expires >= edge[-1]] if labels else [expires > at]
    n = labels.index(label) + 1
    return [expires > at if n == 1 else expires >= edge[n - 1], expires < edge[n]]


@cached(((True, False, False, True),), ((True, True),), ((False, True, False, False, True),))
def _segment_counts(scope: Scope, after: tuple[bool, ...]) -> CompoundSelect[*tuple[Any, ...]]:
    """Rows ``(n, count)`` of the actor's active domains: n=-1 those with no expiry, then
    for each segment n of the expiries between the cuts ``:c{n-1}`` and ``:c{n}`` (each a
    range of the index on ``(tenant, expires_at)``). A cut is just after its moment when
    ``after[n]`` (expired includes ``at``, the chart its last moment), else just before."""
    expires = Domain.expires_at
    cuts = len(after)
    cut = [bindparam(f"c{n}", type_=expires.type) for n in range(cuts)]

    def below(n: int) -> ColumnElement[bool]:
        return expires <= cut[n] if after[n] else expires < cut[n]

    def above(n: int) -> ColumnElement[bool]:
        return expires > cut[n] if after[n] else expires >= cut[n]

    ranges: list[tuple[int, list[ColumnElement[bool]]]] = [(-1, [expires.is_(None)])]
    ranges.append((0, [below(0)]))
    ranges += [(n, [above(n - 1), below(n)]) for n in range(1, cuts)]
    ranges.append((cuts, [above(cuts - 1)]))
    active = scope.scoped(select(Domain.id).where(Domain.removed_at.is_(None)), Domain.tenant_id)
    return union_all(
        *(
            active.with_only_columns(literal(n).label("n"), func.count().label("c")).where(
                *conditions
            )
            for n, conditions in ranges
        )
    )


@cached(
    *((kind, ("urgent", "soon")) for kind in ("none", "dated", "expired", "urgent", "soon", "ok")),
    ("dated", ()),
    ("ok", ()),
)
def _overview_page(scope: Scope, kind: str, labels: tuple[str, ...]) -> Select[*tuple[Any, ...]]:
    """A page of the domains of an urgency, or of all ``dated`` ones, soonest first (the
    undated by URL); ``not_after`` is the expiry that counts."""
    expires = Domain.expires_at
    rows = _views(scope, expiry=expires)
    if kind == "none":
        ordered = rows.where(expires.is_(None)).order_by(Domain.url)
    elif kind == "dated":
        ordered = rows.where(expires.is_not(None)).order_by(expires, Domain.url)
    else:
        ordered = rows.where(*_urgency_range(kind, labels)).order_by(expires, Domain.url)
    return ordered.limit(_LIMIT).offset(_OFFSET)


@reads
def show_domain(ctx: Ctx, *, url: str) -> DomainView:
    """One of the actor's domains, with its tenant and current certificate."""
    return _view(ctx, find_domain(ctx, url))


@reads
def count_domains(ctx: Ctx, *, tenant: str | None = None) -> int:
    params = {} if tenant is None else {"owner": tenant_by_name(ctx, tenant).id}
    return int(_counting.execute(ctx, (tenant is not None,), params).scalar() or 0)


@cached((False,), (True,))
def _counting(scope: Scope, by_owner: bool) -> Select[int]:
    stmt = select(func.count()).select_from(Domain).where(Domain.removed_at.is_(None))
    if by_owner:
        stmt = stmt.where(Domain.tenant_id == bindparam("owner"))
    return scope.scoped(stmt, Domain.tenant_id)


def current_certificates(ctx: Ctx, domain_ids: list[int]) -> dict[int, CertificateRecord]:
    """The certificate bound now to each of ``domain_ids``."""
    if not domain_ids:
        return {}
    rows = ctx.session.execute(
        select(Binding.domain_id, CertificateRecord)
        .join(CertificateRecord, CertificateRecord.id == Binding.certificate_id)
        .where(Binding.unbound_at.is_(None), Binding.domain_id.in_(domain_ids))
    )
    return dict(rows.all())


def change_domain(
    ctx: Ctx,
    *,
    url: str,
    portal: str | None = None,
    connect_to: str | None = None,
    monitored: bool | None = None,
    managed: str | None = None,
) -> DomainView:
    domain = find_domain(ctx, url)
    mode = certificate_mode(managed) if managed is not None else None
    changes: dict[str, object] = {}
    if portal is not None:
        domain.portal = changes["portal"] = Portal(portal).value
    if connect_to is not None:
        with about("connect_to"):
            _operators_only_connect_to(ctx)
            domain.connect_to = stored_connect_to(connect_to)
        changes["connect_to"] = domain.connect_to
    if monitored is not None:
        domain.monitored = changes["monitored"] = monitored
    if mode is not None:
        set_mode(ctx, domain, mode)
    ctx.audit("domain.change", "domain", domain.id, domain.tenant_id, url=domain.url, **changes)
    return _view(ctx, domain)


def remove_domain(ctx: Ctx, *, url: str) -> DomainView:
    """Retire a domain: it stops being monitored and served; its history stays."""
    domain = find_domain(ctx, url)
    view = _view(ctx, domain)
    domain.removed_at = ctx.now
    domain.monitored = False
    for binding in ctx.session.scalars(
        select(Binding).where(Binding.domain_id == domain.id, Binding.unbound_at.is_(None))
    ):
        binding.unbound_at = ctx.now
    ctx.audit("domain.remove", "domain", domain.id, domain.tenant_id, url=domain.url)
    return view


def _view(ctx: Ctx, domain: Domain, cert: CertificateRecord | None = None) -> DomainView:
    if cert is None:
        cert = current_certificates(ctx, [domain.id]).get(domain.id)
    tenant = ctx.session.get(Tenant, domain.tenant_id)
    binding = ctx.session.scalars(
        select(Binding).where(Binding.domain_id == domain.id, Binding.unbound_at.is_(None))
    ).one_or_none()
    served = ctx.session.get(DomainState, domain.id)
    installed = binding is not None and binding.install_state == "installed"
    return DomainView(
        id=domain.id,
        url=domain.url,
        hostname=domain.hostname,
        port=domain.port,
        tenant=tenant.name if tenant else "?",
        portal=domain.portal,
        monitored=domain.monitored,
        connect_to=domain.connect_to,
        certificate_sha256=cert.sha256 if cert else None,
        not_after=cert.not_after if cert else None,
        deploy_target=domain.deploy_target,
        install_state=binding.install_state if binding else None,
        installed_not_after=cert.not_after if cert and installed else None,
        served_not_after=served.served_not_after if served else None,
        claim=domain.claim,
        claim_token=domain.claim_token,
        claim_message=domain.claim_message,
    )
