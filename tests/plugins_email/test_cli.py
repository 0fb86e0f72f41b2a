"""``tessera email poll``: read the mailboxes now, one summary line each."""

from __future__ import annotations

import os
from typing import Any

import pytest
from click.testing import CliRunner

from engine.cli import main
from tests.plugins_email.fake_imap import FakeImap, Mailstore
from tests.plugins_email.test_inbound import PASSWORD, USER, add_mailbox, mail, rows


@pytest.fixture
def cli_env(mail_ws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The command line opens the test's workspace (same database, packs and secret key)."""
    config = mail_ws.config
    values = {
        "TESSERA_DATABASE_URL": config.database_url,
        "TESSERA_PACKS": ",".join(config.packs),
        "TESSERA_EXTRA_PACK_PATHS": os.pathsep.join(str(p) for p in config.extra_pack_paths),
        "TESSERA_INSTANCE_PATH": str(config.instance_path),
        "TESSERA_SECRET_KEY": str(config.secret_key),
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("TESSERA_REDIS_URL", raising=False)


def test_email_poll_reads_every_active_mailbox_and_names_the_failures(
    mail_ws: Any, mail_admin: Any, cli_env: None
) -> None:
    store = Mailstore(users={USER: PASSWORD})
    store.add(mail("Bob <bob@example.org>", "Quote", "Hi.", "<c1@example.org>"))
    with FakeImap(store) as imap:
        add_mailbox(mail_admin, imap)
        add_mailbox(mail_admin, imap, name="old", password="wrong-Pass-1")
        add_mailbox(mail_admin, imap, name="off", active=False)
        result = CliRunner().invoke(main, ["email", "poll"])
        assert result.exit_code == 1
        assert "sales: 1 created, 0 appended, 0 duplicate, 0 failed" in result.output
        assert "error: mailbox 'old':" in result.output and "wrong-Pass-1" not in result.output
        again = CliRunner().invoke(main, ["email", "poll", "sales"])
        assert again.exit_code == 0 and "sales: 0 created" in again.output
        missing = CliRunner().invoke(main, ["email", "poll", "off"])
        assert missing.exit_code == 1 and "error: there is no active mailbox 'off'" in missing.output
    assert len(rows(mail_admin, "inquiry")) == 1
