"""probe_many / probe_all against real TLS servers on loopback (see conftest.py)."""

from __future__ import annotations

import asyncio
import socket
import struct
import subprocess
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509

from certdesk.errors import InvalidArgument
from certdesk.monitor import ErrorKind, ProbeResult, ProbeTarget, probe_all, probe_many
from certdesk.monitor import prober as prober_module
from tests.deploy.servers import free_port, wait_for_port
from tests.monitor.conftest import ALERT_NAME, TLSServer
from tests.openssl_pki import OpenSSLPKI, openssl_date, openssl_fingerprint, openssl_x509


@pytest.fixture(autouse=True, scope="module")
def _now(pki: OpenSSLPKI) -> None:
    """The instant of every batch: an hour after the test PKI was made."""
    global NOW
    NOW = pki.made_at + timedelta(hours=1)


NOW = datetime.now(UTC)


def at(server: TLSServer, host: str, **kwargs: object) -> ProbeTarget:
    """``host`` on 443, reached at the test server (the platform's terminator)."""
    return ProbeTarget(
        url=f"https://{host}/", host=host, connect_to=("127.0.0.1", server.port), **kwargs
    )  # type: ignore[arg-type]


def probe(pki: OpenSSLPKI, *targets: ProbeTarget, **options: object) -> list[ProbeResult]:
    settings: dict[str, object] = {
        "roots": pki.roots,
        "now": NOW,
        "concurrency": 20,
        "timeout": 3.0,
        "allow_private": True,
    }
    settings.update(options)
    return probe_all(list(targets), **settings)  # type: ignore[arg-type]


def test_good_chain_with_intermediate(pki: OpenSSLPKI, server: TLSServer) -> None:
    [result] = probe(pki, at(server, "store.test.com"))
    assert result.ok, result.message
    assert result.error is None
    assert result.trusted is True
    assert result.covers_host is True
    assert result.drift is None
    assert result.started_at == NOW
    assert result.address == ("127.0.0.1", server.port)
    assert result.tls_version is not None
    assert result.tls_version.startswith("TLS")
    # The whole served chain: leaf then intermediate, as openssl sees those files.
    assert [c.sha256 for c in result.chain] == [
        openssl_fingerprint(pki.leaf_crt),
        openssl_fingerprint(pki.int_crt),
    ]
    leaf = result.leaf
    assert leaf is not None
    assert leaf.certificate() == pki.cert("leaf")
    assert leaf.pem == pki.leaf_crt.read_bytes()
    assert leaf.not_after == pki.cert("leaf").not_valid_after_utc
    assert "certdesk Test Intermediate CA" in leaf.issuer
    assert result.to_json()["leaf"]["sha256"] == leaf.sha256


def test_one_json_form_with_or_without_details(
    pki: OpenSSLPKI, server: TLSServer, closed_port: int
) -> None:
    """The CLI, a deploy's proof and a stored probe request write ProbeResult.to_json;
    without details it is the same form, less the handshake's details."""
    [good] = probe(pki, at(server, "store.test.com"))
    [refused] = probe(
        pki, ProbeTarget(url="r", host="x.test.com", connect_to=("127.0.0.1", closed_port))
    )
    full = good.to_json()
    assert (full["sha256"], full["leaf"]["sha256"]) == (openssl_fingerprint(pki.leaf_crt),) * 2
    assert openssl_date(openssl_x509(pki.leaf_crt, "-enddate")) == datetime.fromisoformat(
        full["not_after"]
    )
    assert [c["sha256"] for c in full["chain"]] == [openssl_fingerprint(pki.int_crt)]
    assert (full["at"], full["ok"], full["error"], full["address"]) == (
        NOW.isoformat().replace("+00:00", "Z"),
        True,
        None,
        ["127.0.0.1", server.port],
    )
    for result in (good, refused):
        data, short = result.to_json(), result.to_json(details=False)
        assert set(data) == set(full)
        assert short == {key: data[key] for key in short}
        assert set(data) - set(short) == {
            "connect_to",
            "address",
            "duration_ms",
            "tls_version",
            "cipher",
            "leaf",
            "chain",
        }
    failed = refused.to_json()
    assert (failed["ok"], failed["error"], failed["sha256"], failed["leaf"]) == (
        False,
        "refused",
        None,
        None,
    )


def test_expired_is_recorded_with_its_facts(pki: OpenSSLPKI, server: TLSServer) -> None:
    [result] = probe(pki, at(server, "expired.test.com"))
    assert not result.ok
    assert result.error is ErrorKind.UNTRUSTED
    assert "expired" in result.message
    assert result.covers_host is True
    assert result.leaf is not None
    assert result.leaf.sha256 == openssl_fingerprint(pki.expired_crt)
    assert result.leaf.not_after < NOW


def test_wrong_name(pki: OpenSSLPKI, server: TLSServer) -> None:
    # An unknown name gets the default certificate (store.test.com, www.test.com).
    [result] = probe(pki, at(server, "other.example.org"))
    assert result.error is ErrorKind.NAME_MISMATCH
    assert result.trusted is True
    assert result.covers_host is False
    assert "other.example.org" in result.message
    assert "store.test.com" in result.message


def test_self_signed(pki: OpenSSLPKI, server: TLSServer) -> None:
    [result] = probe(pki, at(server, "selfsigned.test.com"))
    assert result.error is ErrorKind.UNTRUSTED
    assert "self-signed" in result.message
    assert result.covers_host is True
    assert [c.sha256 for c in result.chain] == [openssl_fingerprint(pki.selfsigned_crt)]


def test_incomplete_chain_names_the_missing_issuer(pki: OpenSSLPKI, server: TLSServer) -> None:
    [result] = probe(pki, at(server, "www.test.com"))
    assert result.error is ErrorKind.UNTRUSTED
    assert "certdesk Test Intermediate CA" in result.message
    assert len(result.chain) == 1


def test_untrusted_without_the_roots(pki: OpenSSLPKI, server: TLSServer) -> None:
    [result] = probe(pki, at(server, "store.test.com"), roots=[])
    assert result.error is ErrorKind.UNTRUSTED
    assert result.covers_host is True


def test_refused(pki: OpenSSLPKI, closed_port: int) -> None:
    target = ProbeTarget(
        url="https://store.test.com", host="store.test.com", connect_to=("127.0.0.1", closed_port)
    )
    [result] = probe(pki, target)
    assert result.error is ErrorKind.REFUSED
    assert not result.chain
    assert result.trusted is None
    assert str(closed_port) in result.message


def test_timeout(pki: OpenSSLPKI, silent_port: int) -> None:
    target = ProbeTarget(
        url="https://store.test.com", host="store.test.com", connect_to=("127.0.0.1", silent_port)
    )
    begin = time.monotonic()
    [result] = probe(pki, target, timeout=0.3)
    assert result.error is ErrorKind.TIMEOUT
    assert "0.3 s" in result.message
    assert 0.25 < time.monotonic() - begin < 2.5


def test_timeouts_of_a_batch_and_a_batch_cancelled_from_outside(
    pki: OpenSSLPKI, silent_port: int, server: TLSServer
) -> None:
    """Each probe's own timer: the silent ones time out while the others of the batch
    complete; a batch cancelled from outside is cancelled, its probes not reported as
    timeouts."""
    silent = ProbeTarget(
        url="https://store.test.com", host="store.test.com", connect_to=("127.0.0.1", silent_port)
    )
    good = at(server, "store.test.com")
    results = probe(pki, silent, good, silent, good, timeout=0.3, concurrency=2)
    assert [r.error for r in results] == [ErrorKind.TIMEOUT, None, ErrorKind.TIMEOUT, None]

    async def cancelled() -> bool:
        batch = asyncio.ensure_future(
            # One at a time: a cancellation taken for a timeout would go on to the next.
            probe_many(
                [silent] * 2,
                roots=pki.roots,
                now=NOW,
                timeout=10,
                concurrency=1,
                allow_private=True,
            )
        )
        await asyncio.sleep(0.3)
        batch.cancel()
        try:
            await batch
        except asyncio.CancelledError:
            return True
        return False

    begin = time.monotonic()
    assert asyncio.run(cancelled()) is True
    assert time.monotonic() - begin < 5  # not after the second probe's 10 s


def test_tls_alert(pki: OpenSSLPKI, server: TLSServer) -> None:
    [result] = probe(pki, at(server, ALERT_NAME))
    assert result.error is ErrorKind.TLS_ALERT
    assert "unrecognized name" in result.message


Answer = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def _probe_tcp_server(pki: OpenSSLPKI, answer: Answer) -> ProbeResult:
    """Probe a plain TCP server on 127.0.0.1 that handles each connection with ``answer``."""

    async def run() -> list[ProbeResult]:
        raw = await asyncio.start_server(answer, "127.0.0.1", 0)
        port = raw.sockets[0].getsockname()[1]
        try:
            return await probe_many(
                [ProbeTarget(url="x", host="store.test.com", connect_to=("127.0.0.1", port))],
                roots=pki.roots,
                now=NOW,
                concurrency=1,
                timeout=3,
                allow_private=True,
            )
        finally:
            raw.close()
            await raw.wait_closed()

    [result] = asyncio.run(run())
    return result


def test_not_tls(pki: OpenSSLPKI) -> None:
    """A server that answers with plain text, not TLS."""

    async def answer(_r: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.0 400 Bad Request\r\n\r\n" * 4)
        await writer.drain()
        writer.close()

    result = _probe_tcp_server(pki, answer)
    assert result.error is ErrorKind.TLS_ERROR
    assert result.message


def test_sni_is_sent(pki: OpenSSLPKI, server: TLSServer) -> None:
    store, shop = probe(pki, at(server, "store.test.com"), at(server, "shop.test.com"))
    assert store.leaf is not None
    assert shop.leaf is not None
    assert store.leaf.sha256 == openssl_fingerprint(pki.leaf_crt)
    assert shop.leaf.sha256 == openssl_fingerprint(pki.wildcard_crt)
    assert shop.ok, shop.message
    assert {"store.test.com", "shop.test.com"} <= set(server.server_names)


def test_ip_literal_sends_no_sni(pki: OpenSSLPKI, server: TLSServer) -> None:
    target = ProbeTarget.from_url(f"https://127.0.0.1:{server.port}/")
    before = len(server.server_names)
    [result] = probe(pki, target)
    assert result.address == ("127.0.0.1", server.port)
    assert result.error is ErrorKind.NAME_MISMATCH  # the leaf has no IP address SAN
    assert server.server_names[before:] == [None]


def test_connect_to_reaches_another_address(pki: OpenSSLPKI, server: TLSServer) -> None:
    # The host's own port (443) is not what is dialled: connect_to is.
    target = ProbeTarget.from_url(
        "https://store.test.com/shop", connect_to=("127.0.0.1", server.port)
    )
    assert (target.host, target.port) == ("store.test.com", 443)
    [result] = probe(pki, target)
    assert result.ok
    assert result.address == ("127.0.0.1", server.port)


@pytest.mark.parametrize(
    ("host", "connect_to"),
    [
        ("store.test.com", ("127.0.0.1", 443)),
        ("store.test.com", ("10.1.2.3", 443)),
        ("store.test.com", ("169.254.169.254", 443)),
        ("store.test.com", ("::1", 443)),
        ("127.0.0.1", None),
        ("localhost", None),
    ],
)
def test_blocked_address(pki: OpenSSLPKI, host: str, connect_to: tuple[str, int] | None) -> None:
    target = ProbeTarget(url=f"https://{host}", host=host, connect_to=connect_to)
    [result] = probe(pki, target, allow_private=False, timeout=2)
    assert result.error is ErrorKind.BLOCKED_ADDRESS, result.message
    assert not result.chain


def test_blocked_is_checked_before_connecting(pki: OpenSSLPKI, server: TLSServer) -> None:
    before = len(server.server_names)
    [result] = probe(pki, at(server, "store.test.com"), allow_private=False)
    assert result.error is ErrorKind.BLOCKED_ADDRESS
    assert "loopback" in result.message
    assert len(server.server_names) == before


def test_blocked_name_never_shows_the_private_address(pki: OpenSSLPKI) -> None:
    # The message reaches resellers: it says what kind of address, never which one.
    [result] = probe(pki, ProbeTarget.from_url("https://localhost"), allow_private=False)
    assert result.error is ErrorKind.BLOCKED_ADDRESS
    assert "loopback" in result.message
    assert "127.0.0.1" not in result.message
    assert "::1" not in result.message


def test_dns_failure(pki: OpenSSLPKI) -> None:
    [result] = probe(pki, ProbeTarget.from_url("https://no-such-host.certdesk.invalid"), timeout=3)
    assert result.error is ErrorKind.DNS
    assert "no-such-host.certdesk.invalid" in result.message


def test_drift(pki: OpenSSLPKI, server: TLSServer) -> None:
    expected = openssl_fingerprint(pki.leaf_crt)
    colons = ":".join(expected[i : i + 2] for i in range(0, 64, 2)).upper()
    same, moved, unknown = probe(
        pki,
        at(server, "store.test.com", expected_sha256=colons),
        at(server, "shop.test.com", expected_sha256=expected),
        at(server, "store.test.com"),
    )
    assert same.drift is False
    assert same.ok
    assert moved.drift is True
    assert moved.ok
    assert "drift" in moved.message
    assert unknown.drift is None


def test_batch_keeps_order_and_goes_on(
    pki: OpenSSLPKI, server: TLSServer, closed_port: int, silent_port: int
) -> None:
    kinds = [
        (at(server, "store.test.com"), None),
        (at(server, "shop.test.com"), None),
        (at(server, "expired.test.com"), ErrorKind.UNTRUSTED),
        (at(server, "nomatch.example.net"), ErrorKind.NAME_MISMATCH),
        (at(server, ALERT_NAME), ErrorKind.TLS_ALERT),
        (
            ProbeTarget(url="r", host="store.test.com", connect_to=("127.0.0.1", closed_port)),
            ErrorKind.REFUSED,
        ),
        (
            ProbeTarget(url="t", host="store.test.com", connect_to=("127.0.0.1", silent_port)),
            ErrorKind.TIMEOUT,
        ),
    ]
    plan = [kinds[i % len(kinds)] for i in range(50)]
    seen: list[ProbeResult] = []
    results = probe(pki, *(t for t, _ in plan), timeout=0.5, concurrency=10, progress=seen.append)
    assert len(results) == 50
    assert [r.target for r in results] == [t for t, _ in plan]
    assert [r.error for r in results] == [kind for _, kind in plan]
    assert sorted(map(id, seen)) == sorted(map(id, results))


def test_clock_is_called_per_probe(pki: OpenSSLPKI, server: TLSServer) -> None:
    instants = iter([NOW, NOW + timedelta(days=400)])
    first, later = probe(
        pki,
        at(server, "store.test.com"),
        at(server, "store.test.com"),
        now=lambda: next(instants),
        concurrency=1,
    )
    assert first.started_at == NOW
    assert first.ok
    assert later.started_at == NOW + timedelta(days=400)
    assert later.error is ErrorKind.UNTRUSTED
    assert "expired" in later.message


def test_probe_many_runs_on_a_running_loop(pki: OpenSSLPKI, server: TLSServer) -> None:
    async def run() -> list[ProbeResult]:
        return await probe_many(
            [at(server, "store.test.com")] * 3,
            roots=pki.roots,
            now=NOW,
            concurrency=2,
            timeout=3,
            allow_private=True,
        )

    assert [r.ok for r in asyncio.run(run())] == [True, True, True]


def test_workers_give_the_same_results(
    pki: OpenSSLPKI, server: TLSServer, closed_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prober_module, "_MIN_PER_WORKER", 5)
    kinds = [
        at(server, "store.test.com"),
        at(server, "expired.test.com"),
        ProbeTarget(url="r", host="x.test.com", connect_to=("127.0.0.1", closed_port)),
    ]
    targets = [kinds[i % 3] for i in range(30)]
    seen: list[ProbeResult] = []
    results = probe(pki, *targets, workers=2, progress=seen.append)
    assert [r.target for r in results] == targets
    assert [r.error for r in results] == [None, ErrorKind.UNTRUSTED, ErrorKind.REFUSED] * 10
    assert len(seen) == 30


def test_empty_batch(pki: OpenSSLPKI) -> None:
    assert probe(pki) == []


@pytest.mark.parametrize(
    "options",
    [{"concurrency": 0}, {"timeout": 0}, {"workers": 0}, {"now": datetime(2030, 1, 1)}],
)
def test_bad_options(pki: OpenSSLPKI, options: dict[str, object]) -> None:
    with pytest.raises(InvalidArgument):
        probe(pki, ProbeTarget.from_url("https://store.test.com"), **options)


def test_results_are_frozen(pki: OpenSSLPKI, server: TLSServer) -> None:
    [result] = probe(pki, at(server, "store.test.com"))
    with pytest.raises(AttributeError):
        result.ok = False  # type: ignore[misc]
    assert isinstance(result.chain[0].certificate(), x509.Certificate)


def test_verdicts_follow_the_trust_store(pki: OpenSSLPKI, server: TLSServer) -> None:
    # Batch after batch on the same chain: a verdict kept for one set of roots is never
    # the answer for another (the verdict cache is per trust store).
    [trusted] = probe(pki, at(server, "store.test.com"))
    [without] = probe(pki, at(server, "store.test.com"), roots=[])
    [again] = probe(pki, at(server, "store.test.com"))
    assert trusted.ok
    assert without.error is ErrorKind.UNTRUSTED
    assert again.ok


def _probe_raw_server(pki: OpenSSLPKI, then: str) -> ProbeResult:
    """Probe a TCP server that reads the ClientHello and then closes (``fin``) or resets
    (``rst``) the connection: the handshake fails after the connection was made."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(5)  # the ClientHello's record header has arrived
        if then == "rst":
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.close()

    return _probe_tcp_server(pki, answer)


def test_server_closes_during_the_handshake(pki: OpenSSLPKI) -> None:
    result = _probe_raw_server(pki, "fin")
    assert result.error is ErrorKind.TLS_ERROR
    assert result.message == "the server closed the connection during the handshake"


def test_server_resets_during_the_handshake(pki: OpenSSLPKI) -> None:
    result = _probe_raw_server(pki, "rst")
    assert result.error is ErrorKind.TLS_ERROR
    assert result.message == "the connection failed during the handshake: ECONNRESET"


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_tls13_suites_offered_in_the_browsers_order(
    pki: OpenSSLPKI, tmp_path: Path, host: str
) -> None:
    """Against ``openssl s_server`` (which follows the client's order, as nginx does by
    default) the probe agrees on AES-128-GCM, as browsers do, and reads the chain; over
    IPv4 and IPv6."""
    port = free_port()
    log = tmp_path / "s_server.log"
    accept = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    with log.open("wb") as out:
        server = subprocess.Popen(
            ["openssl", "s_server", "-accept", accept, "-tls1_3", "-naccept", "2",
             "-cert", str(pki.leaf_crt), "-key", str(pki.leaf_key),
             "-cert_chain", str(pki.int_crt), "-quiet"],
            stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_for_port(port, server, log, host=host)  # the first of its two connections
        [result] = probe(pki, ProbeTarget(url="x", host="store.test.com", connect_to=(host, port)))
    finally:
        server.kill()
        server.wait()
        assert server.stdin is not None
        server.stdin.close()
    assert result.ok, result.message
    assert (result.tls_version, result.cipher) == ("TLSv1.3", "TLS_AES_128_GCM_SHA256")
    assert [c.sha256 for c in result.chain] == [
        openssl_fingerprint(pki.leaf_crt),
        openssl_fingerprint(pki.int_crt),
    ]
