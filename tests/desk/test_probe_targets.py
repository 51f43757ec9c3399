"""probe_targets on SQLite and PostgreSQL: a sweep's targets (one query of plain rows,
the URL from its stored parts) are those the one URL parser makes of each domain, with
the bound certificate's fingerprint expected, only the actor's own domains for a
reseller, and the shards of a sweep split them without overlap."""

from __future__ import annotations

from certdesk import desk as d
from certdesk.desk import Actor, Desk
from certdesk.desk.domains import current_certificates, domain_url, find_domain
from certdesk.desk.monitoring import probe_targets
from certdesk.monitor import ProbeTarget
from tests.flows import new_tenant, submit_leaf
from tests.openssl_pki import OpenSSLPKI, openssl_fingerprint

OTHERS = {
    "https://shop.test.com:8443/eu": "127.0.0.1:9443",  # a port, a path, a connect-to
    "https://api.test.com": "[::1]:443",  # an IPv6 connect-to address
    "https://plain.test.com": None,
}


def _reference(desk: Desk, actor: Actor, urls: list[str]) -> list[ProbeTarget]:
    """What the one parser makes of each domain: ProbeTarget.for_url(domain_url(…))."""
    with desk.context(actor, readonly=True) as ctx:
        domains = [find_domain(ctx, url) for url in urls]
        current = current_certificates(ctx, [x.id for x in domains])
        return [
            ProbeTarget.for_url(domain_url(x), current[x.id].sha256 if x.id in current else None)
            for x in domains
        ]


def test_the_targets_of_a_sweep_are_those_the_url_parser_makes(
    desk: Desk, operator: Actor, pki: OpenSSLPKI
) -> None:
    acme = new_tenant(desk, operator, "Acme Hosting")
    new_tenant(desk, operator, "Beta Cloud")
    submit_leaf(desk, operator, pki)  # store.test.com and www.test.com/shop: bound
    for url, connect_to in OTHERS.items():
        desk.run(operator, d.add_domain, url=url, tenant="Beta Cloud", connect_to=connect_to)
    desk.run(operator, d.add_domain, url="https://gone.test.com", tenant="Beta Cloud")
    desk.run(operator, d.change_domain, url="https://gone.test.com", monitored=False)

    with desk.context(operator, readonly=True) as ctx:
        swept = {t.target.url: t.target for t in probe_targets(ctx)}
    every = ["https://store.test.com", "https://www.test.com/shop", *OTHERS]
    assert sorted(swept) == sorted(every)  # the unmonitored one is not swept
    assert [swept[url] for url in every] == _reference(desk, operator, every)
    leaf = openssl_fingerprint(pki.leaf_crt)
    assert swept["https://store.test.com"].expected_sha256 == leaf
    assert swept["https://shop.test.com:8443/eu"].connect_to == ("127.0.0.1", 9443)
    assert swept["https://api.test.com"].connect_to == ("::1", 443)

    reseller = Actor("acme", tenant_id=acme)
    with desk.context(reseller, readonly=True) as ctx:
        own = [t.target.url for t in probe_targets(ctx)]
    assert sorted(own) == ["https://store.test.com", "https://www.test.com/shop"]

    with desk.context(operator, readonly=True) as ctx:
        shards = [[t.target.url for t in probe_targets(ctx, shard=(k, 3))] for k in range(3)]
    assert sorted(url for shard in shards for url in shard) == sorted(every)
