"""``tessera sms send``: a message queued from the command line is logged and sent."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.actor import SYSTEM
from engine.cli import main
from engine.config import load_config
from engine.workspace import Workspace
from tests.conftest import PASSWORD, TEST_PACKS


@pytest.fixture
def env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    values = {
        "TESSERA_DATABASE_URL": database_url,
        "TESSERA_PACKS": "testkit,sms",
        "TESSERA_EXTRA_PACK_PATHS": str(TEST_PACKS),
        "TESSERA_INSTANCE_PATH": str(tmp_path / "instance"),
        "TESSERA_SECRET_KEY": "cli-test-secret-" + "z" * 32,
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)


def test_sms_send_queues_a_logged_message(env: None) -> None:
    runner = CliRunner()
    init = runner.invoke(main, ["init", "--admin-email", "boss@test.dev", "--admin-password", PASSWORD])
    assert init.exit_code == 0, init.output
    sent = runner.invoke(main, ["sms", "send", "+49 30 1234567", "Your technician is on the way"])
    assert sent.exit_code == 0, sent.output
    assert "queued SMS" in sent.output
    bad = runner.invoke(main, ["sms", "send", "call me", "Hello"])
    assert bad.exit_code == 1
    assert bad.output.startswith("error: The sms_message is not valid")
    ws = Workspace(load_config())
    try:
        (message,) = ws.records.list(SYSTEM, "sms_message", {}).data
        assert message["text"] == "Your technician is on the way"
        assert message["status"] == "queued"
    finally:
        ws.close()
