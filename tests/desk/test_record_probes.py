"""record_probes on SQLite and PostgreSQL: the history, each domain's latest state, the
expiry that counts, in one batch and across batches; a late result never overwrites a
newer one; a reseller's batch changes only its own domains' expiry.

The results are built from the openssl-made test PKI (what a handshake would have read)."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import select, text

from certdesk import desk as d
from certdesk.desk import Actor, Desk
from certdesk.desk.monitoring import record_probes
from certdesk.monitor import ErrorKind, ProbeResult, ProbeTarget, ServedCertificate
from certdesk.pki import describe
from certdesk.store.models import Domain
from certdesk.store.monitoring import DomainState, Probe, ServedChain
from tests.flows import new_tenant
from tests.openssl_pki import OpenSSLPKI

URL_A = "https://store.test.com"
URL_B = "https://shop.test.com"
URL_OTHER = "https://www.test.com"


def served(cert: x509.Certificate) -> ServedCertificate:
    return ServedCertificate(cert.public_bytes(Encoding.DER), describe(cert))


def seen(url: str, at: datetime, *chain: x509.Certificate) -> ProbeResult:
    """A completed handshake on ``url`` at ``at`` that read ``chain``."""
    target = ProbeTarget.from_url(url)
    return ProbeResult(
        target=target,
        started_at=at,
        ok=True,
        error=None,
        message="trusted",
        chain=tuple(served(c) for c in chain),
        trusted=True,
        covers_host=True,
    )


def refused(url: str, at: datetime) -> ProbeResult:
    return ProbeResult(
        target=ProbeTarget.from_url(url),
        started_at=at,
        ok=False,
        error=ErrorKind.REFUSED,
        message="connection refused",
    )


@pytest.fixture
def ids(desk: Desk, operator: Actor) -> dict[str, int]:
    new_tenant(desk, operator, "Acme Hosting")
    new_tenant(desk, operator, "Beta Cloud")
    out = {}
    with desk.context(operator) as ctx:
        for url, tenant in ((URL_A, "Acme Hosting"), (URL_B, "Acme Hosting"),
                            (URL_OTHER, "Beta Cloud")):  # fmt: skip
            out[url] = d.add_domain(ctx, url=url, tenant=tenant).id
    return out


def chains_served(desk: Desk) -> list[str | None]:
    """The chain each probe served (PEM, through ``served_chains``), in the probes' order."""
    with desk.context(Actor("test"), readonly=True) as ctx:
        rows = ctx.session.execute(
            select(ServedChain.chain_pem)
            .select_from(Probe)
            .outerjoin(ServedChain, ServedChain.id == Probe.chain_id)
            .order_by(Probe.id)
        )
        return [pem for (pem,) in rows]


def stored_chains(desk: Desk) -> list[tuple[str, str, datetime]]:
    """Each row of ``served_chains``: (SHA-256, PEM, first seen), in the order stored."""
    with desk.context(Actor("test"), readonly=True) as ctx:
        rows = ctx.session.execute(
            select(ServedChain.sha256, ServedChain.chain_pem, ServedChain.first_seen_at).order_by(
                ServedChain.id
            )
        )
        return [(row.sha256, row.chain_pem, row.first_seen_at) for row in rows]


def state(desk: Desk, domain_id: int) -> DomainState:
    with desk.context(Actor("test"), readonly=True) as ctx:
        found = ctx.session.get(DomainState, domain_id)
        assert found is not None
        ctx.session.expunge(found)
        return found


def expiry(desk: Desk, domain_id: int) -> tuple[datetime | None, str | None]:
    with desk.context(Actor("test"), readonly=True) as ctx:
        domain = ctx.session.get(Domain, domain_id)
        assert domain is not None
        return domain.expires_at, domain.expiry_source


def test_one_batch_then_the_next(
    desk: Desk, operator: Actor, pki: OpenSSLPKI, ids: dict[str, int]
) -> None:
    t0 = pki.made_at + timedelta(hours=1)
    leaf, wildcard, inter = pki.cert("leaf"), pki.cert("wildcard"), pki.cert("int")
    a, b = ids[URL_A], ids[URL_B]
    with desk.context(operator) as ctx:
        # A twice in one batch (served, then refused a second later); B served.
        batch = [(a, seen(URL_A, t0, leaf, inter)), (b, seen(URL_B, t0, wildcard, inter)),
                 (a, refused(URL_A, t0 + timedelta(seconds=1)))]  # fmt: skip
        assert record_probes(ctx, batch) == 3
    first = state(desk, a)
    assert first.last_probe_at == t0 + timedelta(seconds=1)
    assert first.last_ok is False
    assert first.last_error_kind == "refused"
    assert first.served_at == t0  # the last handshake that read a certificate
    assert first.served_sha256 == served(leaf).sha256
    assert first.served_not_after == leaf.not_valid_after_utc
    assert first.served_issuer == "certdesk Test Intermediate CA"
    assert expiry(desk, a) == (leaf.not_valid_after_utc, "served")
    assert expiry(desk, b) == (wildcard.not_valid_after_utc, "served")
    with desk.context(operator, readonly=True) as ctx:
        probes = list(ctx.session.scalars(select(Probe).order_by(Probe.id)))
    assert [(p.domain_id, p.ok) for p in probes] == [(a, True), (b, True), (a, False)]
    # Each served chain as PEM, as openssl wrote those certificates.
    assert chains_served(desk) == [
        (pki.leaf_crt.read_bytes() + pki.int_crt.read_bytes()).decode(),
        (pki.wildcard_crt.read_bytes() + pki.int_crt.read_bytes()).decode(),
        None,
    ]

    # The next batch: A serves the wildcard now (its state changes only in what the
    # probe found); a result for B older than B's latest is kept in the history only.
    with desk.context(operator) as ctx:
        record_probes(ctx, [(a, seen(URL_A, t0 + timedelta(hours=6), wildcard, inter)),
                            (b, refused(URL_B, t0 - timedelta(hours=1)))])  # fmt: skip
    later = state(desk, a)
    assert later.last_ok is True
    assert later.last_error_kind is None
    assert later.served_at == t0 + timedelta(hours=6)
    assert later.served_sha256 == served(wildcard).sha256
    assert expiry(desk, a) == (wildcard.not_valid_after_utc, "served")
    unchanged = state(desk, b)
    assert unchanged.last_probe_at == t0
    assert unchanged.last_ok is True
    with desk.context(operator, readonly=True) as ctx:
        assert len(list(ctx.session.scalars(select(Probe.id)))) == 5


def test_a_resellers_batch_changes_only_its_own_domains(
    desk: Desk, pki: OpenSSLPKI, ids: dict[str, int]
) -> None:
    t0 = pki.made_at + timedelta(hours=1)
    with desk.context(Actor("test"), readonly=True) as ctx:
        acme = ctx.session.scalar(select(Domain.tenant_id).where(Domain.id == ids[URL_A]))
    before = expiry(desk, ids[URL_OTHER])
    with desk.context(Actor("acme", tenant_id=acme)) as ctx:
        record_probes(ctx, [(ids[URL_A], seen(URL_A, t0, pki.cert("leaf"), pki.cert("int"))),
                            (ids[URL_OTHER], seen(URL_OTHER, t0, pki.cert("leaf")))])  # fmt: skip
    assert expiry(desk, ids[URL_A]) == (pki.cert("leaf").not_valid_after_utc, "served")
    assert expiry(desk, ids[URL_OTHER]) == before


@pytest.fixture
def domain_writes(desk: Desk) -> Callable[[], list[int]]:
    """The ids of the ``domains`` rows written since, as the database saw them (a trigger
    on updates, on SQLite and on PostgreSQL)."""
    statements = ["CREATE TABLE test_domain_writes (domain_id INTEGER)"]
    if desk.store.engine.dialect.name == "postgresql":
        statements += [
            "CREATE FUNCTION test_count_write() RETURNS trigger AS $$ BEGIN "
            "INSERT INTO test_domain_writes VALUES (NEW.id); RETURN NEW; END $$ "
            "LANGUAGE plpgsql",
            "CREATE TRIGGER test_domain_written AFTER UPDATE ON domains FOR EACH ROW "
            "EXECUTE FUNCTION test_count_write()",
        ]
    else:
        statements.append(
            "CREATE TRIGGER test_domain_written AFTER UPDATE ON domains BEGIN "
            "INSERT INTO test_domain_writes VALUES (NEW.id); END"
        )
    with desk.store.transaction() as session:
        for statement in statements:
            session.execute(text(statement))

    def written() -> list[int]:
        with desk.store.transaction() as session:
            found = [
                int(i) for i in session.scalars(text("SELECT domain_id FROM test_domain_writes"))
            ]
            session.execute(text("DELETE FROM test_domain_writes"))
        return found

    return written


def test_an_expiry_already_served_is_not_written_again(
    desk: Desk,
    operator: Actor,
    pki: OpenSSLPKI,
    ids: dict[str, int],
    domain_writes: Callable[[], list[int]],
) -> None:
    """Sweep after sweep a domain serves the same leaf: its row is not rewritten (each
    write is a new row version, and a domain row has several indexes); it is when the
    served expiry changes, and the latest result of a batch is the one kept."""
    t0 = pki.made_at + timedelta(hours=1)
    leaf, soon, inter = pki.cert("leaf"), pki.cert("soon"), pki.cert("int")
    a, b = ids[URL_A], ids[URL_B]

    def sweep(at: datetime, *batch: tuple[int, x509.Certificate]) -> None:
        with desk.context(operator) as ctx:
            record_probes(ctx, [(i, seen(URL_A if i == a else URL_B, at + timedelta(seconds=n),
                                         cert, inter))
                                for n, (i, cert) in enumerate(batch)])  # fmt: skip

    sweep(t0, (a, leaf), (b, soon))
    assert sorted(domain_writes()) == sorted([a, b])
    sweep(t0 + timedelta(hours=6), (a, leaf), (b, soon))
    assert domain_writes() == []
    assert state(desk, a).served_at == t0 + timedelta(hours=6)  # the state still moves on
    assert expiry(desk, a) == (leaf.not_valid_after_utc, "served")
    sweep(t0 + timedelta(hours=12), (a, soon), (b, soon))
    assert domain_writes() == [a]
    assert expiry(desk, a) == (soon.not_valid_after_utc, "served")
    # Two results for A in one batch: the later one counts, whichever is stored.
    sweep(t0 + timedelta(hours=18), (a, leaf), (a, soon))
    assert expiry(desk, a) == (soon.not_valid_after_utc, "served")
    sweep(t0 + timedelta(hours=24), (a, soon), (a, leaf))
    assert expiry(desk, a) == (leaf.not_valid_after_utc, "served")


def test_each_served_chain_is_stored_once(
    desk: Desk, operator: Actor, pki: OpenSSLPKI, ids: dict[str, int]
) -> None:
    """A batch over two chains stores two; the same chain in a later batch (and on another
    URL) is not stored again; a failed probe has no chain."""
    t0 = pki.made_at + timedelta(hours=1)
    leaf, wildcard, inter = pki.cert("leaf"), pki.cert("wildcard"), pki.cert("int")
    a, b, other = ids[URL_A], ids[URL_B], ids[URL_OTHER]
    leaf_pem = (pki.leaf_crt.read_bytes() + pki.int_crt.read_bytes()).decode()
    wildcard_pem = (pki.wildcard_crt.read_bytes() + pki.int_crt.read_bytes()).decode()
    with desk.context(operator) as ctx:
        # B's wildcard chain is seen a minute later, then A's a minute earlier than B's.
        record_probes(ctx, [(b, seen(URL_B, t0 + timedelta(minutes=1), wildcard, inter)),
                            (other, refused(URL_OTHER, t0)),
                            (a, seen(URL_A, t0, wildcard, inter)),
                            (other, seen(URL_OTHER, t0, leaf, inter))])  # fmt: skip
    assert sorted(stored_chains(desk)) == sorted([
        (hashlib.sha256(wildcard_pem.encode()).hexdigest(), wildcard_pem, t0),
        (hashlib.sha256(leaf_pem.encode()).hexdigest(), leaf_pem, t0),
    ])  # fmt: skip
    assert chains_served(desk) == [wildcard_pem, None, wildcard_pem, leaf_pem]
    first = stored_chains(desk)

    with desk.context(operator) as ctx:
        record_probes(ctx, [(a, seen(URL_A, t0 + timedelta(hours=6), leaf, inter)),
                            (b, seen(URL_B, t0 + timedelta(hours=6), wildcard, inter)),
                            (other, refused(URL_OTHER, t0 + timedelta(hours=6)))])  # fmt: skip
    assert stored_chains(desk) == first  # neither stored again, nor first seen later
    assert chains_served(desk)[4:] == [leaf_pem, wildcard_pem, None]
    with desk.context(operator, readonly=True) as ctx:
        ids_by_probe = list(ctx.session.scalars(select(Probe.chain_id).order_by(Probe.id)))
    assert ids_by_probe[0] == ids_by_probe[2] == ids_by_probe[5]
    assert ids_by_probe[3] == ids_by_probe[4] != ids_by_probe[0]
    assert ids_by_probe[1] is None
    assert ids_by_probe[6] is None


def test_two_processes_recording_one_new_chain_at_once_both_succeed(
    desk: Desk, operator: Actor, pki: OpenSSLPKI, ids: dict[str, int]
) -> None:
    """Two replicas sweeping at once record the same new chain in two transactions: the
    second waits for the first (PostgreSQL: on the chain's unique SHA-256; SQLite: on the
    write lock), then finds the chain stored and refers to it; neither fails."""
    t0 = pki.made_at + timedelta(hours=1)
    chain = (pki.cert("leaf"), pki.cert("int"))
    pem = (pki.leaf_crt.read_bytes() + pki.int_crt.read_bytes()).decode()
    errors: list[BaseException] = []

    def second() -> None:
        try:
            with desk.context(operator) as ctx:
                record_probes(ctx, [(ids[URL_B], seen(URL_B, t0 + timedelta(minutes=1), *chain))])
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    thread = threading.Thread(target=second)
    with desk.context(operator) as ctx:
        record_probes(ctx, [(ids[URL_A], seen(URL_A, t0, *chain))])
        thread.start()  # while the first transaction holds the new chain, uncommitted
        thread.join(timeout=1.0)
        assert thread.is_alive(), "the second transaction did not wait for the first"
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert errors == []
    assert [(p, seen_at) for _, p, seen_at in stored_chains(desk)] == [(pem, t0)]
    assert chains_served(desk) == [pem, pem]
