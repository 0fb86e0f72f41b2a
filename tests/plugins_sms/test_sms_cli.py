"""``tessera sms send``: a message queued from the command line is logged and sent."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from engine.actor import SYSTEM
from engine.cli import main
from engine.config import load_config
from engine.workspace import Workspace
from tests.conftest import PASSWORD


@pytest.fixture
def cli_packs() -> str:
    return "testkit,sms"


def test_sms_send_queues_a_logged_message(cli_env: dict[str, str]) -> None:
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
