"""The refusals issue 15 found worded for the wrong reader, as a reseller meets them in
the portal: the fix names the portal's pages, never a command."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from certdesk.desk import Desk
from tests.database import unchanged
from tests.openssl_pki import OpenSSLPKI
from tests.test_hints import foreign_problems

Login = Callable[[str], tuple[httpx.Client, str]]


def test_a_pem_uploaded_as_a_pfx_is_sent_to_the_convert_page(
    login: Login, web_desk: Desk, pki: OpenSSLPKI
) -> None:
    client, csrf = login("alice")
    with unchanged(web_desk):
        answer = client.post(
            "/upload",
            data={
                "csrf_token": csrf,
                "common_name": "store.test.com",
                "urls": "https://store.test.com",
            },
            files={"file": ("store.crt", pki.leaf_crt.read_bytes())},
        )
    assert answer.status_code == 422, answer.text
    error = answer.text[answer.text.index('id="file-error"') :][:1000]
    assert "<code>unsupported-format</code>" in error
    assert "the Convert page" in error
    assert not foreign_problems(answer.text), foreign_problems(answer.text)


def test_a_pfx_sent_as_the_signed_certificate_is_sent_to_the_upload_page(
    login: Login, web_desk: Desk, pki: OpenSSLPKI
) -> None:
    client, csrf = login("alice")
    with unchanged(web_desk):
        answer = client.post(
            "/signed",
            data={"csrf_token": csrf},
            files={"file": ("store.pfx", pki.modern_pfx.read_bytes())},
        )
    assert answer.status_code == 422, answer.text
    assert "<code>unsupported-format</code>" in answer.text
    assert "Upload .pfx page" in answer.text
    assert not foreign_problems(answer.text), foreign_problems(answer.text)
