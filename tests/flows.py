"""Driving the desk's flows in tests, with inputs made by openssl (see tests/signing.py)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from certdesk import desk as d
from certdesk.desk import Actor, Desk
from certdesk.pki.csr import Subject
from tests.openssl_pki import PFX_PASSWORD, OpenSSLPKI
from tests.signing import sign_csr

LEAF_URLS = ("https://store.test.com", "https://www.test.com/shop")


def new_tenant(desk: Desk, actor: Actor, name: str = "Acme Hosting") -> int:
    return desk.run(actor, d.add_tenant, name=name, emails=[f"ops@{name.split()[0].lower()}.gr"]).id


def submit_leaf(
    desk: Desk,
    actor: Actor,
    pki: OpenSSLPKI,
    tenant: str = "Acme Hosting",
    urls: Sequence[str] = LEAF_URLS,
    pfx: Path | None = None,
) -> d.SubmitResult:
    """Submit the openssl-made ``modern.pfx`` (store.test.com, www.test.com) for ``urls``."""
    return desk.run(
        actor,
        d.submit_pfx,
        tenant=tenant,
        data=(pfx or pki.modern_pfx).read_bytes(),
        password=PFX_PASSWORD.encode(),
        common_name="store.test.com",
        urls=list(urls),
    )


def order(
    desk: Desk,
    actor: Actor,
    *,
    tenant: str = "Acme Hosting",
    cn: str = "shop.example.org",
    sans: Sequence[str] = (),
    urls: Sequence[str] = (),
    key: str = "p256",
    **subject: str,
) -> d.OrderView:
    return desk.run(
        actor,
        d.order_csr,
        tenant=tenant,
        subject=Subject(common_name=cn, **subject),
        sans=list(sans),
        urls=list(urls),
        key_kind=key,
    )


def signed(pki: OpenSSLPKI, view: d.OrderView, folder: Path, sans: Sequence[str] = ()) -> Path:
    """The test CA's certificate for the order's CSR (for its SANs, or for ``sans``)."""
    csr = folder / f"order-{view.id}.csr"
    csr.write_text(view.csr_pem)
    return sign_csr(pki, csr, folder / f"order-{view.id}.crt", list(sans or view.sans))
