"""ACME Renewal Information (RFC 9773) against pebble behind the renewal-information proxy
(``tests.acme.ari``: Debian's pebble 2.4 offers none itself): a window already open
renews at once; a window far ahead holds the renewal past two thirds of the lifetime; a
directory without ``renewalInfo`` renews at two thirds; renewal information that fails
falls back to two thirds and is asked again after the CA's ``Retry-After`` or six hours,
never in a loop."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from certdesk import desk as d
from certdesk.acme.client import ARI_DEFAULT_WAIT, ARI_WAIT_LIMITS
from certdesk.application.compose import managed_config
from certdesk.application.jobs import ACME, RETRY_PERIOD, job_registry
from certdesk.application.managed import AcmeOutcome, due_acme_work, run_acme_unit
from certdesk.notify import OutboxMailer
from certdesk.scheduler import engine
from tests.acme.ari import AriProxy, cert_id
from tests.acme.conftest import OPERATOR, Bed, acme_bed, leaf_of

URL = "https://ari.acme.test"


@pytest.fixture
def ari_bed(tmp_path: Path, database_url: str) -> Iterator[Bed]:
    with acme_bed(tmp_path, database_url, ari=True) as made:
        yield made


def _proxy(bed: Bed) -> AriProxy:
    assert bed.ari is not None
    return bed.ari


def _status(bed: Bed) -> d.ManagedView:
    return bed.desk.run(OPERATOR, d.managed_status, url=URL)


def _issue(bed: Bed) -> tuple[datetime, AcmeOutcome, datetime]:
    """The domain added and issued now: (now, the outcome, two thirds of its lifetime)."""
    bed.add_managed(URL)
    now = bed.desk.now()
    outcome = run_acme_unit(bed.desk, URL, now, config=managed_config(bed.settings))
    assert outcome.state == "issued", outcome.message
    assert outcome.sha256 is not None
    leaf = leaf_of(bed, outcome.sha256)
    life = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    return now, outcome, leaf.not_valid_before_utc + life * 2 / 3


def _served(bed: Bed) -> str | None:
    return bed.desk.run(OPERATOR, d.show_domain, url=URL).certificate_sha256


def test_a_window_already_open_renews_at_once(ari_bed: Bed) -> None:
    bed, proxy = ari_bed, _proxy(ari_bed)
    now, first, two_thirds = _issue(bed)
    assert first.sha256 is not None
    view = _status(bed)
    # Issued: two thirds of the lifetime until the CA says otherwise, asked at the next
    # look (the instant it was stored).
    assert view.renew_at == two_thirds
    assert view.renewal_info_at is not None
    assert now <= view.renewal_info_at <= bed.desk.now()
    assert proxy.asked == []

    proxy.set_window(now - timedelta(days=2), now - timedelta(days=1))
    later = now + timedelta(minutes=1)
    assert due_acme_work(bed.desk, later) == [URL]
    renewed = run_acme_unit(bed.desk, URL, later, config=managed_config(bed.settings))

    assert renewed.state == "issued", renewed.message
    assert renewed.sha256 not in (None, first.sha256)
    # The CA was asked about the certificate it issued, by RFC 9773's identifier.
    assert proxy.asked == [cert_id(leaf_of(bed, first.sha256))]
    assert _served(bed) == renewed.sha256
    orders = bed.desk.run(OPERATOR, d.list_orders)
    assert [(o.status, o.renewal_of) for o in orders] == [
        ("fulfilled", None),
        ("fulfilled", first.sha256),
    ]
    # The new certificate's renewal information is asked for in its turn.
    asked_at = _status(bed).renewal_info_at
    assert asked_at is not None
    assert asked_at <= bed.desk.now()


def test_a_window_far_ahead_holds_the_renewal_past_two_thirds(ari_bed: Bed) -> None:
    bed, proxy = ari_bed, _proxy(ari_bed)
    now, first, two_thirds = _issue(bed)
    start, end = two_thirds + timedelta(days=100), two_thirds + timedelta(days=101)
    proxy.set_window(start, end, retry_after=7200)

    at = now + timedelta(minutes=1)
    checked = run_acme_unit(bed.desk, URL, at, config=managed_config(bed.settings))

    assert checked.state == "checked", checked.message
    view = _status(bed)
    assert view.renew_at is not None
    assert start <= view.renew_at <= end  # a time inside the CA's window
    assert view.renewal_info_at == at + timedelta(seconds=7200)  # its Retry-After
    assert (view.state, view.certificate_sha256) == ("issued", first.sha256)
    assert due_acme_work(bed.desk, at + timedelta(hours=1)) == []

    # At two thirds of the lifetime nothing is ordered: only the CA is asked again.
    past = two_thirds + timedelta(minutes=1)
    again = run_acme_unit(bed.desk, URL, past, config=managed_config(bed.settings))
    assert again.state == "checked", again.message
    assert _served(bed) == first.sha256
    assert len(bed.desk.run(OPERATOR, d.list_orders)) == 1
    assert len(proxy.asked) == 2

    # Inside the window, it renews.
    renew_at = _status(bed).renew_at
    assert renew_at is not None
    assert start <= renew_at <= end
    renewed = run_acme_unit(
        bed.desk, URL, end + timedelta(minutes=1), config=managed_config(bed.settings)
    )
    assert renewed.state == "issued", renewed.message
    assert _served(bed) == renewed.sha256 != first.sha256


def test_without_renewal_information_it_renews_at_two_thirds(ari_bed: Bed) -> None:
    bed, proxy = ari_bed, _proxy(ari_bed)
    proxy.offer = False  # the directory has no renewalInfo, as pebble's own
    now, first, two_thirds = _issue(bed)

    view = _status(bed)
    assert (view.renew_at, view.renewal_info_at) == (two_thirds, None)
    assert due_acme_work(bed.desk, now + timedelta(days=30)) == []
    renewed = run_acme_unit(
        bed.desk, URL, two_thirds + timedelta(minutes=1), config=managed_config(bed.settings)
    )
    assert renewed.state == "issued", renewed.message
    assert renewed.sha256 != first.sha256
    assert proxy.asked == []


def test_failing_renewal_information_falls_back_without_a_hot_loop(ari_bed: Bed) -> None:
    bed, proxy = ari_bed, _proxy(ari_bed)
    now, first, two_thirds = _issue(bed)
    proxy.fail(500)  # no Retry-After: asked again after six hours

    at = now + timedelta(minutes=1)
    checked = run_acme_unit(bed.desk, URL, at, config=managed_config(bed.settings))

    assert checked.state == "checked", checked.message
    assert "renewal information unavailable" in checked.message
    view = _status(bed)
    assert (view.state, view.renew_at, view.problem) == ("issued", two_thirds, None)
    assert view.renewal_info_at == at + ARI_DEFAULT_WAIT
    # Not asked again before then, however often the engine looks.
    for minutes in (2, 10, 60, 359):
        assert due_acme_work(bed.desk, now + timedelta(minutes=minutes)) == []
    assert len(proxy.asked) == 1

    # A failure with Retry-After is asked again then (at least a minute later).
    proxy.fail(503, retry_after=120)
    later = at + ARI_DEFAULT_WAIT
    assert (
        run_acme_unit(bed.desk, URL, later, config=managed_config(bed.settings)).state == "checked"
    )
    assert _status(bed).renewal_info_at == later + timedelta(seconds=120)
    proxy.fail(503, retry_after=5)
    soon = later + timedelta(seconds=120)
    assert (
        run_acme_unit(bed.desk, URL, soon, config=managed_config(bed.settings)).state == "checked"
    )
    assert _status(bed).renewal_info_at == soon + ARI_WAIT_LIMITS[0]
    assert len(proxy.asked) == 3

    # Two thirds of the lifetime still renews it.
    renewed = run_acme_unit(
        bed.desk, URL, two_thirds + timedelta(minutes=1), config=managed_config(bed.settings)
    )
    assert renewed.state == "issued", renewed.message
    assert _served(bed) == renewed.sha256 != first.sha256


def test_the_engine_asks_then_renews_when_the_window_opens(ari_bed: Bed) -> None:
    """The ``acme.issue`` job alone: a tick issues, a later tick asks the CA and leaves a
    certificate whose window is ahead, and the tick after the CA's next check renews it
    once the CA has opened the window."""
    bed, proxy = ari_bed, _proxy(ari_bed)
    registry = job_registry(bed.settings, mailer=OutboxMailer(bed.settings.outbox))
    bed.add_managed(URL)

    def tick(at: datetime) -> list[tuple[str, str]]:
        outcomes = engine.tick(bed.desk, registry, now=at)
        return [(o.unit, o.status) for o in outcomes if o.job == ACME]

    now = bed.desk.now()
    assert tick(now) == [(URL, "issued")]
    first = _served(bed)
    proxy.set_window(now + timedelta(days=400), now + timedelta(days=401))
    later = now + 2 * RETRY_PERIOD
    assert tick(later) == [(URL, "checked")]
    assert tick(later + RETRY_PERIOD) == []  # asked again only after six hours
    assert _served(bed) == first

    proxy.set_window(now - timedelta(hours=1), now + timedelta(hours=1))  # revoking early
    assert tick(later + ARI_DEFAULT_WAIT) == [(URL, "issued")]
    assert _served(bed) not in (None, first)
    assert len(proxy.asked) == 2
