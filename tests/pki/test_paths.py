"""Path building as browsers do it, on openssl-made cross-signed and alternative chains.

Every verdict is cross-checked with ``openssl verify``, an independent implementation:
an accepted bundle's path, as certdesk writes it, verifies with ``openssl verify
-CAfile ROOTS -untrusted PATH``; a refused bundle is refused by ``openssl verify
-untrusted BUNDLE`` too. (OpenSSL 3.0 itself does not backtrack: given an intermediate
from an unknown root first, it stops there. Browsers and certdesk try the next one.)
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from certdesk.pki import Bundle, CheckOptions, CheckReport, check_bundle
from certdesk.pki.facts import fingerprint
from tests.openssl_chains import ISSUING_CN, Chains, openssl_verify


def check(
    chains: Chains, names: list[str], roots: list[str], known: list[str] | None = None
) -> CheckReport:
    bundle = Bundle(certificates=tuple(chains.certs(*names)), private_key=None, format="pem")
    return check_bundle(
        bundle,
        CheckOptions(
            at=chains.made_at + timedelta(minutes=5),
            roots=chains.certs(*roots),
            intermediates=chains.certs(*(known or [])),
        ),
    )


def codes(report: CheckReport) -> set[str]:
    return {f.code for f in report.findings}


def fps(chains: Chains, *names: str) -> list[str]:
    return [fingerprint(c) for c in chains.certs(*names)]


def path_of(report: CheckReport) -> list[str]:
    return [fingerprint(c) for c in report.chain.path]


def served_of(report: CheckReport) -> list[str]:
    return [fingerprint(c) for c in report.ordered_chain()]


def agrees_with_openssl(
    chains: Chains, report: CheckReport, names: list[str], roots: list[str]
) -> bool:
    leaf, *rest = names
    if report.ok:
        served = [chains.name_of(c) for c in report.ordered_chain()]
        assert served[0] == leaf
        return openssl_verify(chains, leaf, trusted=roots, untrusted=served[1:])
    return not openssl_verify(chains, leaf, trusted=roots, untrusted=rest)


# --- Let's Encrypt, 2021: X1 cross-signed by the expired DST Root CA X3 ----------------

LE_BUNDLE = ["le_leaf", "r3", "x1_cross"]


@pytest.mark.parametrize("roots", [["x1"], ["x1", "dst"], ["dst", "x1"]])
@pytest.mark.parametrize("bundle", [LE_BUNDLE, [*LE_BUNDLE, "dst"]])
def test_lets_encrypt_2021_bundle_is_accepted(
    chains: Chains, roots: list[str], bundle: list[str]
) -> None:
    report = check(chains, bundle, roots)
    assert report.findings == ()
    assert path_of(report) == fps(chains, "le_leaf", "r3", "x1")
    assert served_of(report) == fps(chains, "le_leaf", "r3")
    assert agrees_with_openssl(chains, report, bundle, roots)


def test_lets_encrypt_bundle_under_the_expired_root_alone_names_it(chains: Chains) -> None:
    report = check(chains, LE_BUNDLE, ["dst"])
    assert codes(report) == {"chain-invalid"}
    (finding,) = report.findings
    assert finding.certificate == fingerprint(chains.cert("dst"))
    assert "DST Root CA X3" in finding.message
    assert "expired" in finding.message
    assert agrees_with_openssl(chains, report, LE_BUNDLE, ["dst"])


# --- Sectigo: USERTrust cross-signed by AAA Certificate Services / AddTrust ------------

AAA_BUNDLE = ["shop_leaf", "sectigo_dv", "usertrust_by_aaa", "aaa"]
ADDTRUST_BUNDLE = ["shop_leaf", "sectigo_dv", "usertrust_by_addtrust", "addtrust"]


@pytest.mark.parametrize(
    ("bundle", "roots", "path"),
    [
        (AAA_BUNDLE, ["usertrust"], ["shop_leaf", "sectigo_dv", "usertrust"]),
        (AAA_BUNDLE, ["aaa"], ["shop_leaf", "sectigo_dv", "usertrust_by_aaa", "aaa"]),
        (ADDTRUST_BUNDLE, ["usertrust"], ["shop_leaf", "sectigo_dv", "usertrust"]),
        (ADDTRUST_BUNDLE, ["addtrust", "usertrust"], ["shop_leaf", "sectigo_dv", "usertrust"]),
    ],
)
def test_sectigo_bundle_with_a_cross_signed_root_is_accepted(
    chains: Chains, bundle: list[str], roots: list[str], path: list[str]
) -> None:
    report = check(chains, bundle, roots)
    assert report.findings == ()
    assert path_of(report) == fps(chains, *path)
    assert served_of(report) == fps(chains, *path[:-1])
    assert agrees_with_openssl(chains, report, bundle, roots)


def test_addtrust_path_alone_fails_and_names_the_expired_certificate(chains: Chains) -> None:
    report = check(chains, ADDTRUST_BUNDLE, ["addtrust"])
    assert codes(report) == {"chain-invalid"}
    faulty = {f.certificate for f in report.findings}
    assert faulty <= set(fps(chains, "usertrust_by_addtrust", "addtrust"))
    assert all("expired" in f.message for f in report.findings)
    assert agrees_with_openssl(chains, report, ADDTRUST_BUNDLE, ["addtrust"])


# --- two intermediates with one subject -------------------------------------------------


@pytest.mark.parametrize("bad", ["issuing_wrongkey", "issuing_expired", "issuing_otherissuer"])
@pytest.mark.parametrize("bad_first", [True, False])
def test_the_good_intermediate_of_two_is_used(chains: Chains, bad: str, bad_first: bool) -> None:
    pair = [bad, "issuing_good"] if bad_first else ["issuing_good", bad]
    bundle = ["example_leaf", *pair]
    report = check(chains, bundle, ["example_root"])
    assert report.ok, report.findings
    assert path_of(report) == fps(chains, "example_leaf", "issuing_good", "example_root")
    assert served_of(report) == fps(chains, "example_leaf", "issuing_good")
    assert "chain-order" not in codes(report)
    if bad == "issuing_wrongkey":
        # Another key: it issued nothing here, so it is an extra certificate.
        (extra,) = report.findings
        assert extra.code == "extra-certificates"
        assert extra.certificate == fingerprint(chains.cert(bad))
    else:
        # The same name and key as the good one: an alternative, not an extra.
        assert report.findings == ()
    assert agrees_with_openssl(chains, report, bundle, ["example_root"])


def test_order_is_judged_against_the_path_found(chains: Chains) -> None:
    report = check(chains, ["issuing_expired", "issuing_good", "example_leaf"], ["example_root"])
    assert codes(report) == {"chain-order"}
    assert report.ok
    assert served_of(report) == fps(chains, "example_leaf", "issuing_good")


def test_unrelated_certificate_is_extra_even_between_path_certificates(chains: Chains) -> None:
    report = check(chains, ["example_leaf", "r3", "issuing_good"], ["example_root"])
    assert codes(report) == {"extra-certificates"}
    (extra,) = report.findings
    assert extra.certificate == fingerprint(chains.cert("r3"))
    assert "'R3'" in extra.message


# --- no path ----------------------------------------------------------------------------


def test_missing_intermediate_is_chain_incomplete(chains: Chains) -> None:
    report = check(chains, ["example_leaf"], ["example_root"])
    assert codes(report) == {"chain-incomplete"}
    assert ISSUING_CN in report.findings[0].message
    assert agrees_with_openssl(chains, report, ["example_leaf"], ["example_root"])


def test_a_wrong_key_intermediate_does_not_complete_the_chain(chains: Chains) -> None:
    bundle = ["example_leaf", "issuing_wrongkey"]
    report = check(chains, bundle, ["example_root"])
    assert codes(report) == {"chain-incomplete", "extra-certificates"}
    assert agrees_with_openssl(chains, report, bundle, ["example_root"])


def test_known_intermediates_complete_a_leaf_alone(chains: Chains) -> None:
    report = check(
        chains, ["example_leaf"], ["example_root"], known=["issuing_expired", "issuing_good"]
    )
    assert report.ok
    assert codes(report) == {"chain-completed"}
    assert ISSUING_CN in report.findings[0].message
    assert served_of(report) == fps(chains, "example_leaf", "issuing_good")


def test_known_intermediates_that_do_not_fit_leave_it_incomplete(chains: Chains) -> None:
    report = check(chains, ["example_leaf"], ["example_root"], known=["issuing_wrongkey", "r3"])
    assert codes(report) == {"chain-incomplete"}


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        ("issuing_expired", "expired on"),
        ("issuing_nokeycertsign", "keyCertSign"),
    ],
)
def test_every_path_failing_is_chain_invalid_naming_the_certificate(
    chains: Chains, bad: str, words: str
) -> None:
    bundle = ["example_leaf", bad]
    report = check(chains, bundle, ["example_root"])
    assert codes(report) == {"chain-invalid"}
    (finding,) = report.findings
    assert finding.certificate == fingerprint(chains.cert(bad))
    assert words in finding.message
    assert ISSUING_CN in finding.message
    assert "current intermediate" not in finding.fix or bad == "issuing_expired"
    assert agrees_with_openssl(chains, report, bundle, ["example_root"])


def test_two_failing_paths_report_the_best_one(chains: Chains) -> None:
    bundle = ["example_leaf", "issuing_nokeycertsign", "issuing_expired"]
    report = check(chains, bundle, ["example_root"])
    assert codes(report) == {"chain-invalid"}
    (finding,) = report.findings  # one path, one reason: not one finding per path
    assert finding.certificate in set(fps(chains, "issuing_nokeycertsign", "issuing_expired"))
    assert agrees_with_openssl(chains, report, bundle, ["example_root"])


def test_a_path_to_an_unknown_root_is_untrusted_root(chains: Chains) -> None:
    bundle = ["example_leaf", "issuing_otherissuer", "unknown_root"]
    report = check(chains, bundle, ["example_root"])
    assert codes(report) == {"untrusted-root"}
    assert report.findings[0].certificate == fingerprint(chains.cert("unknown_root"))
    assert agrees_with_openssl(chains, report, bundle, ["example_root"])


# --- trust anchors given by the operator ------------------------------------------------


def test_a_private_root_without_key_usage_is_a_trust_anchor(chains: Chains) -> None:
    root = chains.cert("private_root")  # made by openssl req -x509, without keyUsage
    assert not any(e.oid.dotted_string == "2.5.29.15" for e in root.extensions)
    report = check(chains, ["private_leaf"], ["private_root"])
    assert report.findings == ()
    assert served_of(report) == fps(chains, "private_leaf")
    assert agrees_with_openssl(chains, report, ["private_leaf"], ["private_root"])


def test_an_intermediate_without_key_usage_is_accepted_as_browsers_do(chains: Chains) -> None:
    bundle = ["private_int_leaf", "private_int"]
    report = check(chains, bundle, ["private_root"])
    assert report.findings == ()
    assert agrees_with_openssl(chains, report, bundle, ["private_root"])


def test_an_intermediate_in_the_trust_store_anchors_a_path(chains: Chains) -> None:
    # As `openssl verify -partial_chain`: a trusted certificate is an anchor, self-signed
    # or not. The intermediate is still sent (clients may not trust it themselves).
    report = check(chains, ["example_leaf"], ["issuing_good"])
    assert report.findings == ()
    assert served_of(report) == fps(chains, "example_leaf", "issuing_good")
    assert openssl_verify(
        chains, "example_leaf", trusted=["issuing_good"], untrusted=[], partial=True
    )
    assert not openssl_verify(chains, "example_leaf", trusted=["issuing_good"], untrusted=[])
