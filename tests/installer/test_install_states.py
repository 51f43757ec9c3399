"""Install states on a real nginx: stored → installing → installed, or install-failed with
the reason and the next try; retries (what the job engine calls) with backoff while
nginx is down, installed once it is up again; the operators e-mailed once."""

from __future__ import annotations

import email
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, timedelta
from pathlib import Path

import pytest

from certdesk import clock
from certdesk import desk as d
from certdesk.application.compose import install_config, open_desk, probe_config
from certdesk.application.installer import (
    Installer,
    due_install_retries,
    retry_install,
)
from certdesk.application.probing import probe_and_record
from certdesk.desk import Actor, Desk
from certdesk.desk.installs import (
    ALERT_AFTER,
    FIRST_RETRY,
    LONGEST_RETRY,
    STALE_INSTALLING,
    InstallState,
    begin_install,
    install_state,
    install_work,
    retry_delay,
)
from certdesk.notify import OutboxMailer
from certdesk.pki import iso_utc
from certdesk.reports.model import Report
from certdesk.reports.render import to_text
from certdesk.reports.select import select_rows
from certdesk.reports.windows import Window
from certdesk.settings import Settings
from tests.database import LAB_SUFFIXES
from tests.deploy.servers import (
    NGINX,
    Nginx,
    settled_sha256,
    start_nginx,
    stop,
)
from tests.edge import edge_settings
from tests.flows import new_tenant, submit_leaf
from tests.monitor.conftest import TLSServer, server_context
from tests.openssl_pki import PFX_PASSWORD, OpenSSLPKI, openssl_fingerprint, run_openssl

OPERATOR = Actor(name="test")
URL = "https://store.test.com"


@pytest.fixture
def setup(tmp_path: Path, pki: OpenSSLPKI, nginx: Nginx) -> Iterator[tuple[Desk, Installer]]:
    settings = replace(edge_settings(tmp_path, pki, nginx), operator_emails=("noc@platform.gr",))
    desk = open_desk(settings)
    new_tenant(desk, OPERATOR)
    try:
        yield desk, Installer(desk, install_config(settings), OutboxMailer(settings.outbox))
    finally:
        desk.store.close()


def _state(desk: Desk, url: str = URL):  # type: ignore[no-untyped-def]
    with desk.context(OPERATOR) as ctx:
        return install_state(ctx, url=url)


def test_the_backoff_doubles_from_five_minutes_up_to_six_hours() -> None:
    delays = [retry_delay(n) for n in range(1, 10)]
    assert delays[:4] == [FIRST_RETRY, FIRST_RETRY * 2, FIRST_RETRY * 4, FIRST_RETRY * 8]
    assert delays[-1] == LONGEST_RETRY == timedelta(hours=6)
    assert delays == sorted(delays)


def test_a_stored_certificate_is_installed_once_proven(
    setup: tuple[Desk, Installer], pki: OpenSSLPKI, nginx: Nginx
) -> None:
    desk, installer = setup
    result = submit_leaf(desk, OPERATOR, pki, urls=[URL])
    assert _state(desk).state is InstallState.STORED
    [outcome] = installer.after_intake(OPERATOR, result.request_id)
    assert (outcome.ok, outcome.state) == (True, "installed")
    assert not outcome.stored_not_installed
    state = _state(desk)
    assert (state.state, state.reason, state.next_try_at) == (InstallState.INSTALLED, None, None)


def test_a_target_down_fails_is_retried_with_backoff_and_installed_once_up(
    setup: tuple[Desk, Installer], pki: OpenSSLPKI, nginx: Nginx, tmp_path: Path
) -> None:
    desk, installer = setup
    result = submit_leaf(desk, OPERATOR, pki, urls=[URL])
    assert nginx.proc is not None
    stop(nginx.proc)  # the terminator is down: its reload fails

    start = clock.now()
    [outcome] = installer.install(OPERATOR, request_id=result.request_id, at=start)
    assert not outcome.ok
    assert outcome.state == "install-failed"
    assert outcome.next_try_at == start + FIRST_RETRY
    assert outcome.summary().startswith("stored; not installed: install on edge failed")
    assert "; next try at " in outcome.summary()
    state = _state(desk)
    assert (state.state, state.attempts) == (InstallState.FAILED, 1)
    assert state.reason == outcome.message
    # The listing does not pretend: stored, not installed, nothing served by it.
    [view] = desk.run(OPERATOR, d.list_domains)
    assert view.install_state == "install-failed"
    assert view.not_after is not None
    assert (view.installed_not_after, view.served_not_after) == (None, None)

    # Not due before its time; due at it, and tried again: still down, the delay doubles.
    assert due_install_retries(desk, start + FIRST_RETRY - timedelta(seconds=1)) == []
    at = start + FIRST_RETRY
    for attempt in range(2, ALERT_AFTER + 2):
        assert due_install_retries(desk, at) == [URL]
        retried = retry_install(desk, installer, URL, at)
        assert (retried.ok, retried.state) == (False, "install-failed")
        assert _state(desk).attempts == attempt
        assert retried.next_try_at == at + retry_delay(attempt)
        at = retried.next_try_at
    # The operators were told once, after ALERT_AFTER failures in a row, not again after.
    mails = [
        email.message_from_bytes(p.read_bytes())
        for p in sorted((tmp_path / "home" / "outbox").glob("*.eml"))
    ]
    failing = [m for m in mails if "keep failing" in m["Subject"]]
    assert len(failing) == 1
    assert failing[0]["To"] == "noc@platform.gr"
    body = failing[0].get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert URL in body
    assert f"{ALERT_AFTER} failures in a row" in body

    # nginx up again: the next retry installs it, proven by a handshake.
    start_nginx(nginx)
    assert due_install_retries(desk, at) == [URL]
    done = retry_install(desk, installer, URL, at)
    assert (done.ok, done.state) == (True, "installed"), done.message
    leaf = openssl_fingerprint(pki.leaf_crt)
    assert settled_sha256(nginx.address, "store.test.com", leaf) == leaf
    state = _state(desk)
    assert (state.state, state.attempts, state.next_try_at) == (InstallState.INSTALLED, 0, None)
    [view] = desk.run(OPERATOR, d.list_domains)
    assert view.install_state == "installed"
    # Installed, and served as the proof's handshake saw it.
    assert view.installed_not_after == view.served_not_after == view.not_after
    assert desk.run(OPERATOR, d.show_domain, url=URL) == view
    assert due_install_retries(desk, at + LONGEST_RETRY) == []
    # A unit no longer failed is not deployed again.
    again = retry_install(desk, installer, URL, at + LONGEST_RETRY)
    assert again.message == "not retried: installed"


def test_reports_show_the_served_expiry_and_the_installed_one_beside_it(
    setup: tuple[Desk, Installer], pki: OpenSSLPKI, nginx: Nginx, tmp_path: Path
) -> None:
    """certdesk installed and proved its certificate; then the terminator was changed by
    hand and serves another one: the report's date is the served one, the installed one
    is shown beside it, and the domain listing tells both."""
    desk, installer = setup
    result = submit_leaf(desk, OPERATOR, pki, urls=[URL])
    [outcome] = installer.after_intake(OPERATOR, result.request_id)
    assert outcome.ok
    for path in nginx.include_dir.iterdir():  # someone removes certdesk's server block
        path.unlink()
    subprocess.run(
        [str(NGINX), "-c", str(nginx.conf), "-s", "reload"], check=True, capture_output=True
    )
    default = openssl_fingerprint(pki.selfsigned_crt)
    assert settled_sha256(nginx.address, "store.test.com", default) == default
    desk.run(OPERATOR, d.change_domain, url=URL, connect_to=f"127.0.0.1:{nginx.port}")
    [probe] = probe_and_record(
        desk,
        probe_config(edge_settings(tmp_path, pki, nginx)),
        OPERATOR,
        urls=[URL],
        allow_private=True,
    )
    assert probe.leaf is not None
    assert probe.leaf.sha256 == default

    [view] = desk.run(OPERATOR, d.list_domains)
    assert view.install_state == "installed"
    assert view.served_not_after == probe.leaf.not_after
    assert view.installed_not_after is not None
    assert view.installed_not_after != view.served_not_after
    now = clock.now()
    everything = Window(now - timedelta(days=36500), now + timedelta(days=36500), True)
    with desk.context(OPERATOR) as ctx:
        [row] = select_rows(ctx, now, everything)
    assert (row.source, row.not_after) == ("served", probe.leaf.not_after)
    assert row.installed_not_after == view.installed_not_after
    report = Report(
        kind="daily", title="Daily", at=now, tz=UTC, audience="operators", expired=(),
        expiring=(row,),
        window_text="soon",
    )  # fmt: skip
    assert f"served (installed: {iso_utc(view.installed_not_after)})" in to_text(report)


def test_an_install_left_installing_by_a_stopped_process_is_retried(
    setup: tuple[Desk, Installer], pki: OpenSSLPKI, nginx: Nginx
) -> None:
    desk, installer = setup
    result = submit_leaf(desk, OPERATOR, pki, urls=[URL])
    start = clock.now()
    with desk.context(OPERATOR, at=start) as ctx:  # a process began, then was killed
        begin_install(ctx, work=install_work(ctx, request_id=result.request_id))
    assert _state(desk).state is InstallState.INSTALLING
    assert due_install_retries(desk, start + STALE_INSTALLING - timedelta(seconds=1)) == []
    later = start + STALE_INSTALLING
    assert due_install_retries(desk, later) == [URL]
    done = retry_install(desk, installer, URL, later)
    assert (done.ok, done.state) == (True, "installed"), done.message
    assert due_install_retries(desk, later + LONGEST_RETRY) == []


def test_a_handshake_that_shows_the_stored_certificate_served_proves_it_installed(
    tmp_path: Path, pki: OpenSSLPKI
) -> None:
    """No deploy target: certdesk stores, someone installs it by hand; the next probe
    that sees it served makes it ``installed``."""
    settings = Settings(
        home=tmp_path / "home",
        database_url=f"sqlite:///{tmp_path}/plain.db",
        ca_bundle=pki.root_crt,
        lab_suffixes=LAB_SUFFIXES,
    )
    desk = open_desk(settings)
    server = TLSServer(server_context(pki.leaf_crt, pki.leaf_key, pki.int_crt, folder=tmp_path))
    try:
        new_tenant(desk, OPERATOR)
        submit_leaf(desk, OPERATOR, pki, urls=[URL])
        assert _state(desk).state is InstallState.STORED
        desk.run(OPERATOR, d.change_domain, url=URL, connect_to=f"127.0.0.1:{server.port}")
        [probe] = probe_and_record(
            desk, probe_config(settings), OPERATOR, urls=[URL], allow_private=True
        )
        assert probe.ok, probe.message
        state = _state(desk)
        assert (state.state, state.reason, state.next_try_at) == (
            InstallState.INSTALLED,
            None,
            None,
        )
    finally:
        server.close()
        desk.store.close()


def test_a_renewal_that_failed_to_install_does_not_count_as_live(
    tmp_path: Path, pki: OpenSSLPKI
) -> None:
    """A files target (no address: nothing probes it): the first certificate installs;
    the next one's install fails; the expiry that counts stays the installed one's."""
    folder = tmp_path / "certs"
    settings = Settings(
        home=tmp_path / "home",
        database_url=f"sqlite:///{tmp_path}/files.db",
        ca_bundle=pki.root_crt,
        lab_suffixes=LAB_SUFFIXES,
        deploy_targets=(("disk", "files", (("folder", str(folder)),)),),
        deploy_default="disk",
    )
    desk = open_desk(settings)
    url = "https://soon.test.com"
    try:
        new_tenant(desk, OPERATOR)
        installer = Installer(desk, install_config(settings), None)
        first = _submit(
            desk, _pfx(pki, tmp_path, pki.wildcard_crt, pki.wildcard_key), "*.test.com", url
        )
        [done] = installer.after_intake(OPERATOR, first.request_id)
        assert (done.ok, done.state) == (True, "installed")

        folder.rename(tmp_path / "moved")
        folder.write_text("not a folder any more")  # the target cannot write
        second = _submit(
            desk, _pfx(pki, tmp_path, pki.soon_crt, pki.soon_key), "soon.test.com", url
        )
        assert second.not_after != first.not_after
        [failed] = installer.after_intake(OPERATOR, second.request_id)
        assert (failed.ok, failed.state) == (False, "install-failed")
        [view] = desk.run(OPERATOR, d.list_domains)
        assert view.not_after == second.not_after  # the stored (bound) certificate's
        assert view.installed_not_after is None
        now = clock.now()
        with desk.context(OPERATOR) as ctx:
            [row] = select_rows(ctx, now, Window(now, now + timedelta(days=36500), True))
        assert (row.not_after, row.source) == (first.not_after, "installed")

        folder.unlink()
        (tmp_path / "moved").rename(folder)  # the target can write again: retried
        [retried] = installer.install(OPERATOR, urls=[url])
        assert (retried.ok, retried.state) == (True, "installed"), retried.message
        with desk.context(OPERATOR) as ctx:
            [row] = select_rows(ctx, now, Window(now, now + timedelta(days=36500), True))
        assert row.not_after == second.not_after
    finally:
        desk.store.close()


def _submit(desk: Desk, pfx: Path, common_name: str, url: str) -> d.SubmitResult:
    return desk.run(
        OPERATOR,
        d.submit_pfx,
        tenant="Acme Hosting",
        data=pfx.read_bytes(),
        password=PFX_PASSWORD.encode(),
        common_name=common_name,
        urls=[url],
    )


def _pfx(pki: OpenSSLPKI, folder: Path, crt: Path, key: Path) -> Path:
    """``crt``, its key and the intermediate in a .pfx, by openssl."""
    out = folder / f"{crt.stem}.pfx"
    run_openssl(
        "pkcs12", "-export", "-in", crt, "-inkey", key, "-certfile", pki.int_crt,
        "-out", out, "-passout", f"pass:{PFX_PASSWORD}",
    )  # fmt: skip
    return out
