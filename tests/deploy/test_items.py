"""What a deploy item accepts: host names only, a key that fits, a fingerprint that fits."""

from __future__ import annotations

import pytest

from certdesk.deploy import DeployItem
from certdesk.errors import InvalidArgument, KeyMismatch
from tests.deploy.conftest import STORE, Certs


def test_an_item_from_a_url(certs: Certs) -> None:
    item = certs.store.item("https://Store.Test.COM:8443/shop")
    assert (item.hostname, item.port, item.url) == (STORE, 8443, "https://Store.Test.COM:8443/shop")
    assert item.sha256 == certs.store.sha256
    assert item.leaf.serial_number == certs.store.certificates()[0].serial_number
    assert "key" not in repr(item).replace("keyUsage", "")


def test_refusals(certs: Certs) -> None:
    chain, key = certs.store.certificates(), certs.store.private_key()
    with pytest.raises(KeyMismatch):
        DeployItem.for_url(STORE, chain, certs.store2.private_key())
    with pytest.raises(InvalidArgument, match="IP address"):
        DeployItem.for_url("https://192.0.2.1/", chain, key)
    with pytest.raises(InvalidArgument):
        DeployItem(hostname="../etc/passwd", url=STORE, chain=chain, key=key)
    with pytest.raises(InvalidArgument):
        DeployItem(hostname="a b.test.com", url=STORE, chain=chain, key=key)
    with pytest.raises(InvalidArgument, match="fingerprint"):
        DeployItem(hostname=STORE, url=STORE, chain=chain, key=key, sha256="00" * 32)
    with pytest.raises(InvalidArgument):
        DeployItem(hostname=STORE, url=STORE, chain=(), key=key)
    with pytest.raises(InvalidArgument):
        DeployItem(hostname=STORE, url=STORE, chain=chain, key=key, port=0)


def test_names_are_normalised(certs: Certs) -> None:
    chain, key = certs.wildcard.certificates(), certs.wildcard.private_key()
    item = DeployItem(hostname="*.TEST.com.", url="https://shop.test.com", chain=chain, key=key)
    assert item.hostname == "*.test.com"
    idn = DeployItem(hostname="bücher.test.com", url="x", chain=chain, key=key)
    assert idn.hostname == "xn--bcher-kva.test.com"
