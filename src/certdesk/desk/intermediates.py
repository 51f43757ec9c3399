"""Intermediates certdesk has already seen: candidates that complete a chain sent without
them.

Many customers' ``.pfx`` files hold the leaf alone, and many signed certificates come
back without their chain. Browsers fill the gap from intermediates they have cached;
certdesk does the same from the chains it has stored. The answer is plain
certificates, handed to :func:`certdesk.pki.check_bundle` as
``CheckOptions.intermediates``: pki stays pure, and the path builder uses one only when
it verifiably issued a certificate on the path.

The look-up is not limited to the actor's tenant, on purpose: what it returns are CA
certificates, public by nature, and one is used only when the uploaded certificate is
signed by its key; no leaf, key, domain or name of another tenant is ever returned.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography import x509
from sqlalchemy import select

from certdesk.desk.context import Ctx, reads
from certdesk.desk.records import name_sha256
from certdesk.pki import fingerprint, load_certificates
from certdesk.store.models import CertificateRecord

# Stored chains read per look-up: the newest ones whose leaf has a wanted issuer.
MAX_CHAINS = 20


@reads
def known_intermediates(
    ctx: Ctx, *, certificates: Sequence[x509.Certificate]
) -> tuple[x509.Certificate, ...]:
    """The CA certificates of stored chains whose leaf was issued by the issuer of one of
    ``certificates`` (the chain above that issuer comes with it), newest first."""
    wanted = sorted({name_sha256(c.issuer) for c in certificates if c.issuer != c.subject})
    if not wanted:
        return ()
    chains = ctx.session.scalars(
        select(CertificateRecord.chain_pem)
        .where(CertificateRecord.issuer_sha256.in_(wanted))
        .order_by(CertificateRecord.created_at.desc(), CertificateRecord.id.desc())
        .limit(MAX_CHAINS)
    ).all()
    seen = {fingerprint(c) for c in certificates}
    out: list[x509.Certificate] = []
    for pem in dict.fromkeys(chains):
        for cert in load_certificates(pem.encode("ascii"))[1:]:
            fp = fingerprint(cert)
            if fp not in seen:
                seen.add(fp)
                out.append(cert)
    return tuple(out)
