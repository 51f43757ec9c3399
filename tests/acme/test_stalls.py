"""Every way a managed certificate can stall, against pebble: the name not pointing at the
platform, the challenge unreachable, the CA down. Each leaves a clear state, the CA's
problem document when there is one, and a later try: never a hot loop."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from certdesk import desk as d
from certdesk.application.compose import managed_config
from certdesk.application.managed import due_acme_work, run_acme_unit
from certdesk.desk.managed import DNS_BACKOFF, FAILURE_BACKOFF
from tests.acme.conftest import OPERATOR, Bed, acme_bed, serving
from tests.deploy.servers import free_port

URL = "https://store.acme.test"


def _add(bed: Bed) -> None:
    bed.add_managed(URL)


def _status(bed: Bed) -> d.ManagedView:
    return bed.desk.run(OPERATOR, d.managed_status, url=URL)


@pytest.fixture
def edge_bed(tmp_path: Path, database_url: str) -> Iterator[Bed]:
    """The platform is reached as CNAME edge.platform.test or at 203.0.113.10."""
    with acme_bed(
        tmp_path, database_url, platform_targets=("edge.platform.test", "203.0.113.10")
    ) as made:
        yield made


def test_a_name_pointing_elsewhere_waits_with_what_to_set_then_issues(edge_bed: Bed) -> None:
    bed = edge_bed
    bed.pebble.dns("set-cname", host="store.acme.test.", target="shop.oldhost.test.")
    _add(bed)
    now = bed.desk.now()

    outcome = run_acme_unit(bed.desk, URL, now, config=managed_config(bed.settings))

    assert outcome.state == "waiting-for-dns"
    view = _status(bed)
    assert view.state == "waiting-for-dns"
    assert (
        view.message == "store.acme.test has CNAME shop.oldhost.test; set CNAME edge.platform.test"
    )
    assert view.next_try_at == now + DNS_BACKOFF[0]
    # Nothing was ordered, and the engine does not come back before the next try.
    assert bed.desk.run(OPERATOR, d.list_orders) == []
    assert due_acme_work(bed.desk, now) == []
    assert due_acme_work(bed.desk, now + DNS_BACKOFF[0]) == [URL]
    # Still elsewhere: the wait doubles.
    later = now + DNS_BACKOFF[0]
    assert (
        run_acme_unit(bed.desk, URL, later, config=managed_config(bed.settings)).state
        == "waiting-for-dns"
    )
    assert _status(bed).next_try_at == later + 2 * DNS_BACKOFF[0]

    # The reseller sets the CNAME: the next try orders and issues.
    bed.pebble.dns("set-cname", host="store.acme.test.", target="edge.platform.test.")
    done = run_acme_unit(
        bed.desk, URL, later + 2 * DNS_BACKOFF[0], config=managed_config(bed.settings)
    )
    assert done.state == "issued", done.message
    assert _status(bed).state == "issued"


def test_an_address_elsewhere_is_named_with_the_address_to_set(edge_bed: Bed) -> None:
    bed = edge_bed
    bed.pebble.dns("add-a", host="store.acme.test.", addresses=["198.51.100.7"])
    _add(bed)
    run_acme_unit(bed.desk, URL, bed.desk.now(), config=managed_config(bed.settings))
    assert _status(bed).message == (
        "store.acme.test has A 198.51.100.7; set CNAME edge.platform.test"
    )


@pytest.fixture
def silent_bed(tmp_path: Path, database_url: str) -> Iterator[Bed]:
    """Nothing answers HTTP-01 where pebble looks (certdesk's app is not running)."""
    with acme_bed(tmp_path, database_url, serve=False) as made:
        yield made


def test_an_unreachable_challenge_fails_with_the_cas_problem_and_is_retried_later(
    silent_bed: Bed,
) -> None:
    bed = silent_bed
    _add(bed)
    now = bed.desk.now()

    outcome = run_acme_unit(bed.desk, URL, now, config=managed_config(bed.settings))

    assert outcome.state == "failed"
    view = _status(bed)
    assert view.state == "failed"
    assert view.problem is not None
    # Pebble's own words: the type, its detail, the name it is about.
    assert view.problem["type"] == "urn:ietf:params:acme:error:connection"
    assert view.problem["identifier"] == "store.acme.test"
    assert "store.acme.test" in view.problem["detail"]
    assert view.message.startswith("the certificate authority refused: ")
    assert view.next_try_at == now + FAILURE_BACKOFF[0]
    # No hot loop: not due again before the next try, and a forced-less run does nothing.
    assert due_acme_work(bed.desk, now + timedelta(minutes=1)) == []
    again = run_acme_unit(
        bed.desk, URL, now + timedelta(minutes=1), config=managed_config(bed.settings)
    )
    assert again.state == "skipped"

    # certdesk serve answers again: the next try issues, reusing the CSR already made.
    with serving(bed.desk, bed.settings, bed.http_port):
        done = run_acme_unit(
            bed.desk, URL, now + FAILURE_BACKOFF[0], config=managed_config(bed.settings)
        )
    assert done.state == "issued", done.message
    orders = bed.desk.run(OPERATOR, d.list_orders)
    assert [o.status for o in orders] == ["fulfilled"]


def test_the_ca_down_is_a_failure_with_a_later_try(tmp_path: Path, database_url: str) -> None:
    down = f"https://127.0.0.1:{free_port()}/dir"  # nothing listens there
    with acme_bed(tmp_path, database_url, acme_directory=down) as bed:
        _add(bed)
        now = bed.desk.now()
        outcome = run_acme_unit(bed.desk, URL, now, config=managed_config(bed.settings))
        assert outcome.state == "failed"
        view = _status(bed)
        assert view.problem is not None
        assert view.problem["type"] == "connection"
        assert "could not be reached" in view.message
        assert view.next_try_at == now + FAILURE_BACKOFF[0]
        # A second failure waits twice as long.
        later = now + FAILURE_BACKOFF[0]
        run_acme_unit(bed.desk, URL, later, config=managed_config(bed.settings))
        assert _status(bed).next_try_at == later + 2 * FAILURE_BACKOFF[0]
        assert _status(bed).attempts == 2
