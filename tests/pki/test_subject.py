"""A CSR subject's country: said wrong once, quoted as typed; a code in any case is upper-
cased in the request (read back by ``openssl req``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from certdesk.pki.csr import Subject, SubjectInvalid, build_csr, csr_pem
from tests.openssl_pki import run_openssl


@pytest.mark.parametrize("typed", ["greece", "Greece ", "UK", "g"])
def test_a_wrong_country_is_one_problem_quoted_as_typed(typed: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(SubjectInvalid) as caught:
        build_csr(Subject(common_name="shop.example.com", country=typed), key)
    assert [p.field for p in caught.value.problems] == ["C"]
    assert repr(typed.strip()) in caught.value.message
    assert caught.value.message.count("country") == 1


def test_a_country_code_in_lower_case_is_written_upper_case(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = tmp_path / "shop.csr"
    csr.write_bytes(csr_pem(build_csr(Subject(common_name="shop.example.com", country=" gr"), key)))
    subject = run_openssl("req", "-in", csr, "-noout", "-subject", "-nameopt", "sep_multiline")
    assert "C=GR" in subject.decode()
