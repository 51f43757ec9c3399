"""An install that fails after a submission, over the API: a reseller reads a plain
sentence with the request to quote; an operator reads the target's own words."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import httpx
import pytest

from certdesk.settings import Settings
from tests.api.conftest import Api
from tests.api.test_flows import reseller, submit

__all__ = ["reseller"]  # the fixture, shared with test_flows


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    """A ``files`` target whose folder cannot be made (a file is in the way)."""
    blocker = tmp_path / "server-secret-path"
    blocker.write_text("not a folder\n")
    return dataclasses.replace(
        settings,
        deploy_targets=(("edge", "files", (("folder", str(blocker / "certs")),)),),
        deploy_default="edge",
    )


def test_a_reseller_reads_a_plain_sentence(api: Api, reseller: httpx.Client) -> None:
    answer = submit(reseller, api.pki.modern_pfx)
    assert answer.status_code == 202, answer.text  # stored, not installed
    body = answer.json()
    assert body["outcome"] == "stored-not-installed"
    (first, *_) = body["installed"]
    assert first["ok"] is False
    assert "server-secret-path" not in answer.text
    assert f"reference: request #{body['request_id']}" in first["message"]
    assert f"reference: request #{body['request_id']}" in body["message"]
    # Nor anywhere else the reseller reads: the request's timeline, the audit log.
    timeline = reseller.get(f"/api/requests/{body['request_id']}")
    assert timeline.status_code == 200
    assert "did not succeed" in timeline.text
    audit = reseller.get("/api/audit")
    assert "certificate.install-failed" in audit.text
    assert "server-secret-path" not in timeline.text + audit.text


def test_an_operator_reads_the_details(api: Api, reseller: httpx.Client) -> None:
    seen = submit(api.operator(), api.pki.modern_pfx)  # for the reseller's tenant
    assert seen.status_code == 202, seen.text
    assert "server-secret-path" in seen.json()["installed"][0]["message"]
    assert "server-secret-path" in seen.json()["message"]
