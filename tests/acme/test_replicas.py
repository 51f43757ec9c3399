"""Two replicas of certdesk on one database race for the same managed domain: exactly one
orders (one order per domain at a time), the other leaves it alone."""

from __future__ import annotations

import threading
from datetime import timedelta

from certdesk import desk as d
from certdesk.application.compose import managed_config, open_desk
from certdesk.application.managed import AcmeOutcome, run_acme_unit
from tests.acme.conftest import OPERATOR, Bed

URL = "https://race.acme.test"


def test_two_replicas_racing_for_one_renewal_order_once(bed: Bed) -> None:
    bed.add_managed(URL)
    first = run_acme_unit(bed.desk, URL, bed.desk.now(), config=managed_config(bed.settings))
    assert first.state == "issued", first.message
    renew_at = bed.desk.run(OPERATOR, d.managed_status, url=URL).renew_at
    assert renew_at is not None
    at = renew_at + timedelta(minutes=1)

    other = open_desk(bed.settings)  # a second replica: its own engine and connections
    outcomes: list[AcmeOutcome] = []
    start = threading.Barrier(2)

    def replica(which: d.Desk) -> None:
        start.wait()
        outcomes.append(run_acme_unit(which, URL, at, config=managed_config(bed.settings)))

    try:
        threads = [threading.Thread(target=replica, args=(x,)) for x in (bed.desk, other)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
    finally:
        other.store.close()

    assert sorted(o.state for o in outcomes) == ["issued", "skipped"]
    # One renewal order, one new certificate.
    orders = bed.desk.run(OPERATOR, d.list_orders)
    assert [(o.status, o.renewal_of) for o in orders] == [
        ("fulfilled", None),
        ("fulfilled", first.sha256),
    ]
