"""certdesk.pki.checks: every finding code, on openssl-made certificates."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from certdesk.pki import (
    Bundle,
    CheckOptions,
    CheckReport,
    Severity,
    check_bundle,
    load_bundle,
    load_private_key,
    parse_host,
)
from certdesk.pki.facts import fingerprint
from tests.openssl_pki import PFX_PASSWORD, OpenSSLPKI, run_openssl

# ``selfsigned_crt`` is made (by ``openssl req -x509``) a moment after ``made_at``.
LATER = timedelta(minutes=5)


def bundle_of(pki: OpenSSLPKI, *names: str, key: str | None = None) -> Bundle:
    return Bundle(
        certificates=tuple(pki.cert(n) for n in names),
        private_key=load_private_key(getattr(pki, f"{key}_key").read_bytes()) if key else None,
        format="pem",
    )


def run(
    pki: OpenSSLPKI,
    bundle: Bundle,
    *,
    trusted: bool = True,
    hosts: tuple[str, ...] = (),
    **options: object,
) -> CheckReport:
    return check_bundle(
        bundle,
        CheckOptions(
            at=pki.made_at + LATER,
            hosts=[parse_host(h) for h in hosts],
            roots=pki.roots if trusted else [],
            **options,  # type: ignore[arg-type]
        ),
    )


def codes(report: CheckReport) -> set[str]:
    return {f.code for f in report.findings}


def test_a_good_bundle_has_no_findings(pki: OpenSSLPKI) -> None:
    report = run(
        pki,
        bundle_of(pki, "leaf", "int", "root", key="leaf"),
        hosts=("store.test.com", "https://www.test.com/x"),
    )
    assert report.findings == ()
    assert report.ok
    assert report.verification is not None
    assert report.verification.ok
    assert [fingerprint(c) for c in report.chain.path] == [
        fingerprint(pki.cert(n)) for n in ("leaf", "int", "root")
    ]
    # What a server sends: the root is left out.
    assert [fingerprint(c) for c in report.ordered_chain()] == [
        fingerprint(pki.cert(n)) for n in ("leaf", "int")
    ]


def test_the_openssl_pfx_passes(pki: OpenSSLPKI) -> None:
    bundle = load_bundle(pki.modern_pfx.read_bytes(), PFX_PASSWORD.encode())
    report = run(pki, bundle, hosts=("store.test.com",))
    assert report.findings == ()


@pytest.mark.parametrize(
    ("name", "code", "severity"),
    [
        ("expired", "expired", Severity.ERROR),
        ("notyet", "not-yet-valid", Severity.ERROR),
        ("soon", "expires-soon", Severity.WARNING),
        ("rsa1024", "weak-key", Severity.ERROR),
        ("sha1", "weak-signature", Severity.ERROR),
        ("nosan", "no-san", Severity.ERROR),
        ("clientonly", "no-server-auth", Severity.ERROR),
    ],
)
def test_leaf_findings(pki: OpenSSLPKI, name: str, code: str, severity: Severity) -> None:
    report = run(pki, bundle_of(pki, name, "int", "root", key=name))
    assert codes(report) == {code}
    (finding,) = report.findings
    assert finding.severity is severity
    assert finding.message
    assert finding.fix
    assert finding.to_json()["code"] == code
    assert report.ok is (severity is not Severity.ERROR)


def test_expired_is_relative_to_the_instant_given(pki: OpenSSLPKI) -> None:
    bundle = bundle_of(pki, "expired", "int", "root")
    earlier = check_bundle(
        bundle, CheckOptions(at=pki.made_at - timedelta(days=30), roots=pki.roots)
    )
    assert "expired" not in codes(earlier)
    later = check_bundle(
        bundle_of(pki, "leaf", "int", "root"),
        CheckOptions(at=pki.made_at + timedelta(days=400), roots=pki.roots),
    )
    assert "expired" in codes(later)


def test_expires_soon_follows_the_threshold(pki: OpenSSLPKI) -> None:
    bundle = bundle_of(pki, "soon", "int", "root")
    assert "expires-soon" not in codes(run(pki, bundle, expires_soon_days=5))
    assert "expires-soon" in codes(run(pki, bundle, expires_soon_days=11))


def test_p384_is_not_weak(pki: OpenSSLPKI) -> None:
    assert run(pki, bundle_of(pki, "p384", "int", "root", key="p384")).findings == ()


def test_key_mismatch(pki: OpenSSLPKI) -> None:
    report = run(pki, bundle_of(pki, "leaf", "int", "root", key="other"))
    assert codes(report) == {"key-mismatch"}
    assert not report.ok


@pytest.mark.parametrize("host", ["shop.test.com", "test.com", "a.store.test.com"])
def test_name_mismatch(pki: OpenSSLPKI, host: str) -> None:
    report = run(pki, bundle_of(pki, "leaf", "int", "root"), hosts=(host, "store.test.com"))
    assert codes(report) == {"name-mismatch"}
    (finding,) = report.findings
    assert finding.host == host


def test_wildcard_covers_one_level(pki: OpenSSLPKI) -> None:
    report = run(
        pki,
        bundle_of(pki, "wildcard", "int", "root"),
        hosts=("test.com", "www.test.com", "a.b.test.com"),
    )
    assert [f.host for f in report.findings if f.code == "name-mismatch"] == ["a.b.test.com"]


def test_chain_incomplete(pki: OpenSSLPKI) -> None:
    report = run(pki, bundle_of(pki, "leaf", key="leaf"))
    assert codes(report) == {"chain-incomplete"}
    assert "certdesk Test Intermediate CA" in report.findings[0].message


def test_untrusted_root(pki: OpenSSLPKI) -> None:
    report = run(pki, bundle_of(pki, "leaf", "int", "root"), trusted=False)
    assert codes(report) == {"untrusted-root"}


def test_chain_without_root_and_no_trust_is_incomplete(pki: OpenSSLPKI) -> None:
    assert codes(run(pki, bundle_of(pki, "leaf", "int"), trusted=False)) == {"chain-incomplete"}
    assert run(pki, bundle_of(pki, "leaf", "int")).findings == ()


def test_self_signed(pki: OpenSSLPKI) -> None:
    report = run(
        pki, bundle_of(pki, "selfsigned", key="selfsigned"), hosts=("selfsigned.test.com",)
    )
    assert codes(report) == {"self-signed"}


def test_self_signed_trusted_by_the_operator_is_fine(pki: OpenSSLPKI) -> None:
    bundle = bundle_of(pki, "selfsigned")
    report = check_bundle(
        bundle, CheckOptions(at=pki.made_at + LATER, roots=[pki.cert("selfsigned")])
    )
    assert report.findings == ()


def test_ca_certificate(pki: OpenSSLPKI) -> None:
    report = run(pki, bundle_of(pki, "int", "root"))
    assert "ca-certificate" in codes(report)
    assert report.leaf.common_name == "certdesk Test Intermediate CA"


def test_chain_order(pki: OpenSSLPKI) -> None:
    report = run(pki, bundle_of(pki, "root", "int", "leaf"))
    assert codes(report) == {"chain-order"}
    assert report.findings[0].severity is Severity.INFO
    assert report.ok


def test_duplicates(pki: OpenSSLPKI) -> None:
    report = run(pki, bundle_of(pki, "leaf", "int", "int", "root"))
    assert codes(report) == {"duplicate-certificates"}


def test_extra_certificates(pki: OpenSSLPKI) -> None:
    report = run(pki, bundle_of(pki, "leaf", "int", "root", "wildcard"))
    assert codes(report) == {"extra-certificates"}
    (finding,) = report.findings
    assert finding.certificate == fingerprint(pki.cert("wildcard"))
    assert finding.severity is Severity.WARNING


def test_expected_common_name(pki: OpenSSLPKI) -> None:
    bundle = bundle_of(pki, "leaf", "int", "root")
    assert run(pki, bundle, expected_common_name="STORE.test.com ").findings == ()
    assert codes(run(pki, bundle, expected_common_name="shop.test.com")) == {"common-name-mismatch"}


def test_every_problem_is_reported_at_once(pki: OpenSSLPKI) -> None:
    # An expired leaf, the wrong key, no intermediate, a stray certificate and a host it
    # does not cover: all five in one report, errors first.
    bundle = bundle_of(pki, "expired", "wildcard", key="other")
    report = check_bundle(
        bundle,
        CheckOptions(at=pki.made_at, hosts=[parse_host("shop.example.org")], roots=pki.roots),
    )
    assert report.leaf.common_name == "expired.test.com"
    assert codes(report) == {
        "expired",
        "key-mismatch",
        "name-mismatch",
        "chain-incomplete",
        "extra-certificates",
    }
    assert len(report.findings) == 5
    rank = [Severity.ERROR, Severity.WARNING, Severity.INFO].index
    severities = [f.severity for f in report.findings]
    assert severities == sorted(severities, key=rank)
    assert severities[-1] is Severity.WARNING


def test_every_leaf_problem_is_reported_at_once(pki: OpenSSLPKI) -> None:
    bundle = Bundle(
        certificates=(pki.cert("sha1"), pki.cert("clientonly"), pki.cert("root")),
        private_key=load_private_key(pki.other_key.read_bytes()),
        format="pem",
    )
    at = pki.cert("sha1").not_valid_after_utc + timedelta(days=1)
    report = check_bundle(
        bundle,
        CheckOptions(at=at, hosts=[parse_host("store.test.com")], roots=pki.roots),
    )
    assert report.leaf.common_name == "sha1.test.com"
    assert codes(report) == {
        "expired",
        "key-mismatch",
        "weak-signature",
        "name-mismatch",
        "chain-incomplete",
        "extra-certificates",
    }
    assert sum(f.code == "extra-certificates" for f in report.findings) == 2
    assert not report.ok


def test_check_needs_a_certificate(pki: OpenSSLPKI) -> None:
    key_only = load_bundle(pki.leaf_key.read_bytes())
    with pytest.raises(ValueError, match="at least one certificate"):
        check_bundle(key_only, CheckOptions(at=pki.made_at))


@pytest.mark.parametrize(
    ("chain", "twice"),
    [
        (("int",), None),
        (("int", "root"), None),
        (("int", "int"), "'certdesk Test Intermediate CA'"),
    ],
)
def test_duplicates_only_when_a_certificate_is_there_twice(
    pki: OpenSSLPKI, tmp_path: Path, chain: tuple[str, ...], twice: str | None
) -> None:
    """``info[duplicate-certificates]`` on ``openssl pkcs12 -export`` files and their PEM
    forms: leaf + intermediate and leaf + intermediate + root hold no duplicate and get no
    such finding; the intermediate twice gets it, naming the certificate and the count."""
    extra = tmp_path / "chain.pem"
    extra.write_bytes(b"".join(getattr(pki, f"{n}_crt").read_bytes() for n in chain))
    pfx = tmp_path / "bundle.pfx"
    run_openssl(
        "pkcs12", "-export", "-in", pki.leaf_crt, "-inkey", pki.leaf_key, "-certfile", extra,
        "-passout", f"pass:{PFX_PASSWORD}", "-out", pfx,
    )  # fmt: skip
    pem = pki.leaf_crt.read_bytes() + extra.read_bytes()
    for data, password in ((pfx.read_bytes(), PFX_PASSWORD.encode()), (pem, None)):
        bundle = load_bundle(data, password=password)
        assert len(bundle.certificates) == 1 + len(chain)
        report = check_bundle(bundle, CheckOptions(at=pki.made_at + LATER, roots=pki.roots))
        found = [f for f in report.findings if f.code == "duplicate-certificates"]
        if twice is None:
            assert found == []
        else:
            [finding] = found
            assert finding.severity is Severity.INFO
            assert finding.message == (
                f"the same certificate was given more than once: {twice} 2 times"
            )
