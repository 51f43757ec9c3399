"""Bad input for each flow: each refusal has its stable code, and leaves every table — row
counts, rows and the whole audit log — exactly as it was."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from certdesk import desk as d
from certdesk.application.compose import open_desk
from certdesk.desk import Actor, Desk
from certdesk.errors import CertdeskError
from certdesk.fixes import Action
from certdesk.pki.csr import Subject
from certdesk.settings import Settings
from tests.database import LAB_SUFFIXES, clone, require_cluster, unchanged
from tests.der_rewrite import rewrite_integers
from tests.flows import new_tenant, order, signed, submit_leaf
from tests.openssl_pki import PFX_PASSWORD, OpenSSLPKI
from tests.signing import make_pfx, with_chain


@dataclass
class Scene:
    desk: Desk
    operator: Actor
    pki: OpenSSLPKI
    folder: Path
    acme: int
    beta: int
    pending: d.OrderView
    pending_crt: Path  # the test CA's certificate for ``pending`` (leaf + intermediate)
    done_crt: Path  # the certificate of an order already fulfilled


@dataclass
class Template:
    settings: Settings
    acme: int
    beta: int
    pending: d.OrderView
    pending_crt: Path
    done_crt: Path


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def template(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, pki: OpenSSLPKI
) -> Template:
    """Two tenants; Acme has the .pfx on two URLs, a fulfilled order and a pending one.

    Built once per backend; each test works on a copy of it (``clone``)."""
    folder = tmp_path_factory.mktemp("refusals")
    if request.param == "sqlite":
        url = f"sqlite:///{folder / 'scene.db'}"
    else:
        cluster = require_cluster(request)
        url = cluster.url(cluster.create_database())
    settings = Settings(
        home=folder / "home", database_url=url, ca_bundle=pki.root_crt, lab_suffixes=LAB_SUFFIXES
    )
    desk = open_desk(settings)
    operator = Actor("test")
    try:
        acme = new_tenant(desk, operator, "Acme Hosting")
        beta = new_tenant(desk, operator, "Beta Cloud")
        desk.run(operator, d.add_domain, url="https://beta.example.net", tenant="Beta Cloud")
        submit_leaf(desk, operator, pki)
        done = order(desk, operator, cn="done.example.org", urls=["https://done.example.org"])
        done_crt = with_chain(pki, signed(pki, done, folder), folder / "done-chain.pem")
        desk.run(operator, d.complete_order, data=done_crt.read_bytes())
        pending = order(desk, operator, cn="shop.example.org", sans=["www.shop.example.org"])
        pending_crt = with_chain(pki, signed(pki, pending, folder), folder / "shop-chain.pem")
    finally:
        desk.store.close()
    return Template(settings, acme, beta, pending, pending_crt, done_crt)


@pytest.fixture
def scene(
    template: Template, request: pytest.FixtureRequest, pki: OpenSSLPKI, tmp_path: Path
) -> Iterator[Scene]:
    desk = open_desk(clone(template.settings, request, tmp_path / "home"))
    try:
        yield Scene(
            desk,
            Actor("test"),
            pki,
            tmp_path,
            template.acme,
            template.beta,
            template.pending,
            template.pending_crt,
            template.done_crt,
        )
    finally:
        desk.store.close()


def _submit(s: Scene, **changes: Any) -> Any:
    inputs: dict[str, Any] = {
        "tenant": "Acme Hosting",
        "data": s.pki.modern_pfx.read_bytes(),
        "password": PFX_PASSWORD.encode(),
        "common_name": "store.test.com",
        "urls": ["https://store.test.com"],
    }
    inputs.update(changes)
    return s.desk.run(s.operator, d.submit_pfx, **inputs)


def _complete(s: Scene, data: bytes, actor: Actor | None = None) -> Any:
    return s.desk.run(actor or s.operator, d.complete_order, data=data)


def _order(s: Scene, cn: str, **subject: Any) -> Any:
    urls = subject.pop("urls", [])
    key = subject.pop("key", "p256")
    return s.desk.run(
        s.operator,
        d.order_csr,
        tenant="Acme Hosting",
        subject=Subject(common_name=cn, **subject),
        urls=urls,
        key_kind=key,
    )


def _oversize(data: bytes) -> bytes:
    return data + b"\x00" * (1024 * 1024 + 1 - len(data))


def _expired_pfx(s: Scene) -> bytes:
    path = make_pfx(
        s.pki.expired_crt, s.pki.expired_key, s.folder / "expired.pfx", PFX_PASSWORD, s.pki.int_crt
    )
    return path.read_bytes()


def _selfsigned_pfx(s: Scene) -> bytes:
    path = make_pfx(s.pki.selfsigned_crt, s.pki.selfsigned_key, s.folder / "self.pfx", PFX_PASSWORD)
    return path.read_bytes()


# name: (what to do, the error code, the finding codes a refusal must list)
CASES: dict[str, tuple[Callable[[Scene], Any], str, set[str]]] = {
    # Flow 1: submit a .pfx
    "submit: wrong password": (lambda s: _submit(s, password=b"not-it"), "wrong-password", set()),
    "submit: no password": (lambda s: _submit(s, password=None), "wrong-password", set()),
    "submit: truncated pfx": (
        lambda s: _submit(s, data=s.pki.modern_pfx.read_bytes()[:700]),
        "malformed",
        set(),
    ),
    "submit: URL not covered": (
        lambda s: _submit(s, urls=["https://store.test.com", "https://shop.other.org"]),
        "refused",
        {"name-mismatch"},
    ),
    "submit: a .crt": (
        lambda s: _submit(s, data=s.pki.fullchain_pem.read_bytes(), password=None),
        "unsupported-format",
        set(),
    ),
    "submit: duplicate": (
        lambda s: _submit(s, urls=["https://store.test.com", "https://www.test.com/shop"]),
        "duplicate",
        set(),
    ),
    "submit: expired": (
        lambda s: _submit(
            s,
            data=_expired_pfx(s),
            common_name="expired.test.com",
            urls=["https://expired.test.com"],
        ),
        "refused",
        {"expired"},
    ),
    "submit: common name not the one given": (
        lambda s: _submit(s, common_name="www.test.com", urls=["https://www.test.com"]),
        "refused",
        {"common-name-mismatch"},
    ),
    "submit: untrusted (self-signed)": (
        lambda s: _submit(
            s,
            data=_selfsigned_pfx(s),
            common_name="selfsigned.test.com",
            urls=["https://selfsigned.test.com"],
        ),
        "refused",
        {"self-signed"},
    ),
    "submit: pfx asking for 2^31-1 iterations": (
        # openssl writes 2,048 iterations; the hostile copy asks for 2,147,483,647.
        lambda s: _submit(s, data=rewrite_integers(s.pki.modern_pfx.read_bytes(), 2048, 2**31 - 1)),
        "too-costly",
        set(),
    ),
    "submit: oversize upload": (
        lambda s: _submit(s, data=_oversize(s.pki.modern_pfx.read_bytes())),
        "too-large",
        set(),
    ),
    "submit: URL of another tenant": (
        lambda s: _submit(s, tenant="Beta Cloud", urls=["https://store.test.com"]),
        "conflict",
        set(),
    ),
    "submit: unknown tenant": (lambda s: _submit(s, tenant="Nobody"), "not-found", set()),
    "submit: no URL": (lambda s: _submit(s, urls=[]), "invalid-argument", set()),
    # Flow 2: order a CSR
    "order: invalid country": (
        lambda s: _order(s, "shop2.example.org", country="UK"),
        "invalid-subject",
        set(),
    ),
    "order: CN with a space": (lambda s: _order(s, "a b"), "invalid-subject", set()),
    "order: CN two wildcards": (lambda s: _order(s, "*.*.example.com"), "invalid-subject", set()),
    "order: CN over 64 characters": (
        lambda s: _order(s, "a" * 60 + ".example.org"),
        "invalid-subject",
        set(),
    ),
    "order: control character": (
        lambda s: _order(s, "shop2.example.org", organization="Acme\x07"),
        "invalid-subject",
        set(),
    ),
    "order: wildcard for a public suffix": (
        lambda s: _order(s, "*.co.uk"),
        "invalid-subject",
        set(),
    ),
    "order: URL its names do not cover": (
        lambda s: _order(s, "shop2.example.org", urls=["https://elsewhere.example.org"]),
        "invalid-argument",
        set(),
    ),
    "order: unknown key type": (
        lambda s: _order(s, "shop2.example.org", key="dsa1024"),
        "invalid-argument",
        set(),
    ),
    # Flow 3: the signed certificate comes back
    "complete: key matches no order": (
        lambda s: _complete(s, s.pki.fullchain_pem.read_bytes()),
        "refused",
        {"no-matching-order"},
    ),
    "complete: another tenant's order": (
        lambda s: _complete(s, s.pending_crt.read_bytes(), Actor("beta-user", s.beta)),
        "refused",
        {"no-matching-order"},
    ),
    "complete: already fulfilled": (
        lambda s: _complete(s, s.done_crt.read_bytes()),
        "duplicate",
        set(),
    ),
    "complete: a .pfx": (
        lambda s: _complete(s, s.pki.nopass_pfx.read_bytes()),
        "unsupported-format",
        set(),
    ),
    "complete: certificate without a requested name": (
        lambda s: _complete(
            s,
            with_chain(
                s.pki,
                signed(s.pki, s.pending, s.folder, sans=["shop.example.org"]),
                s.folder / "short.pem",
            ).read_bytes(),
        ),
        "refused",
        {"name-mismatch"},
    ),
    "complete: oversize upload": (
        lambda s: _complete(s, _oversize(s.pending_crt.read_bytes())),
        "too-large",
        set(),
    ),
    "complete: garbage": (lambda s: _complete(s, b"hello, world\n" * 10), None, set()),  # type: ignore[dict-item]
    # Flow 4: renewal; flow 5: export
    "renew: URL without a certificate": (
        lambda s: s.desk.run(s.operator, d.renew, url="https://beta.example.net"),
        "not-found",
        set(),
    ),
    "renew: unknown URL": (
        lambda s: s.desk.run(s.operator, d.renew, url="https://nowhere.example.org"),
        "not-found",
        set(),
    ),
    "export: unknown format": (
        lambda s: s.desk.run(s.operator, d.export_certificate, url="store.test.com", to="jks"),
        "invalid-argument",
        set(),
    ),
    "export: URL without a certificate": (
        lambda s: s.desk.run(s.operator, d.export_certificate, url="beta.example.net", to="pem"),
        "not-found",
        set(),
    ),
    # Flow 6: tenants and domains
    "tenant: name taken": (
        lambda s: s.desk.run(s.operator, d.add_tenant, name="Acme Hosting"),
        "conflict",
        set(),
    ),
    "tenant: bad e-mail": (
        lambda s: s.desk.run(s.operator, d.add_tenant, name="Gamma", emails=["not an address"]),
        "invalid-argument",
        set(),
    ),
    "domain: registered already": (
        lambda s: s.desk.run(
            s.operator, d.add_domain, url="store.test.com/other", tenant="Beta Cloud"
        ),
        "conflict",
        set(),
    ),
    "domain: not https": (
        lambda s: s.desk.run(
            s.operator, d.add_domain, url="http://plain.example.org", tenant="Acme Hosting"
        ),
        "invalid-argument",
        set(),
    ),
    "domain: connect-to without a port": (
        lambda s: s.desk.run(
            s.operator,
            d.add_domain,
            url="https://new.example.org",
            tenant="Acme Hosting",
            connect_to="10.0.0.5",
        ),
        "invalid-argument",
        set(),
    ),
    "domain: remove unknown": (
        lambda s: s.desk.run(s.operator, d.remove_domain, url="https://nowhere.example.org"),
        "not-found",
        set(),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_refusal_changes_nothing(scene: Scene, case: str) -> None:
    action, code, findings = CASES[case]
    with unchanged(scene.desk), pytest.raises(CertdeskError) as caught:
        action(scene)
    error = caught.value
    if code is not None:
        assert error.code == code, f"{case}: {error.code}: {error.message}"
    else:  # garbage: one of the input codes, never a crash
        assert error.code in {"malformed", "unsupported-format", "no-certificate"}
    assert error.message.strip()
    got = {f.code for f in getattr(error, "findings", ())}
    assert findings <= got, f"{case}: findings {got}"
    if findings:
        assert all(f.message and f.fix for f in error.findings)  # type: ignore[attr-defined]


def test_a_crt_is_refused_with_the_convert_hint(scene: Scene) -> None:
    with unchanged(scene.desk), pytest.raises(CertdeskError) as caught:
        _submit(scene, data=scene.pki.leaf_crt.read_bytes(), password=None)
    assert caught.value.code == "unsupported-format"
    assert caught.value.fix is not None
    assert caught.value.fix.action is Action.CONVERT_TO_PFX
    assert caught.value.field == "file"
    assert ".pfx" in caught.value.message


def test_every_finding_is_listed_at_once(scene: Scene) -> None:
    """An expired certificate on a URL it does not cover: both reasons in one refusal."""
    with unchanged(scene.desk), pytest.raises(d.Refused) as caught:
        _submit(
            scene,
            data=_expired_pfx(scene),
            common_name="expired.test.com",
            urls=["https://expired.test.com", "https://store.test.com"],
        )
    codes = {f.code for f in caught.value.findings}
    assert {"expired", "name-mismatch"} <= codes


def test_a_leaf_alone_with_an_unknown_intermediate_is_refused(
    desk: Desk, operator: Actor, pki: OpenSSLPKI, tmp_path: Path
) -> None:
    new_tenant(desk, operator)
    view = order(desk, operator, cn="alone.example.org")
    crt = signed(pki, view, tmp_path)
    with unchanged(desk), pytest.raises(d.Refused) as caught:
        desk.run(operator, d.complete_order, data=crt.read_bytes())
    assert "chain-incomplete" in {f.code for f in caught.value.findings}
    # With its chain the same certificate is taken.
    result = desk.run(
        operator, d.complete_order, data=with_chain(pki, crt, tmp_path / "c.pem").read_bytes()
    )
    assert result.order_id == view.id
