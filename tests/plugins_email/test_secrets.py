"""The e-mail plugin keeps its credentials to itself: the SMTP password, IMAP passwords and
OAuth2 client secrets, refresh and access tokens appear in no log line (DEBUG included) and
no API answer, whether the sign-in works or is refused. Against a local SMTP server that
requires AUTH, the fake IMAP server and the fake token endpoint."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from engine.app import create_app
from engine.automation.jobs import InProcessRunner
from engine.workspace import Workspace
from plugins.email.imap_poll import MailboxError, poll
from tests.conftest import sign_in
from tests.plugins_email.conftest import Inbox, TokenEndpoint, free_port, mail_workspace
from tests.plugins_email.fake_imap import FakeImap, Mailstore
from tests.plugins_email.test_inbound import PASSWORD, USER, add_mailbox, mail

SMTP_USER, SMTP_PASSWORD = "crm@example.com", "smtp-Pass-7"
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
SECRETS = (SMTP_PASSWORD, PASSWORD, "wrong-Pass-9", "client-Secret-1", "rt-1", "rt-2", "at-1")


class Accounts:
    """aiosmtpd authenticator: the one SMTP account the server knows (changed by the test)."""

    def __init__(self) -> None:
        self.password = SMTP_PASSWORD
        self.logins: list[str] = []

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        login, password = auth_data.login.decode(), auth_data.password.decode()
        ok = (login, password) == (SMTP_USER, self.password)
        if ok:
            self.logins.append(login)
        return AuthResult(success=ok, handled=False)  # handled=False: the server answers 535


@pytest.fixture
def smtp_auth() -> Iterator[tuple[Inbox, Accounts, int]]:
    inbox, accounts, port = Inbox(), Accounts(), free_port()
    controller = Controller(
        inbox, hostname="127.0.0.1", port=port, authenticator=accounts, auth_require_tls=False, auth_required=True
    )
    controller.start()
    yield inbox, accounts, port
    controller.stop()


@pytest.fixture
def ws(database_url: str, tmp_path: Path, smtp_auth: tuple[Inbox, Accounts, int]) -> Iterator[Workspace]:
    workspace = mail_workspace(database_url, tmp_path, smtp_auth[2], smtp_user=SMTP_USER, smtp_password=SMTP_PASSWORD)
    yield workspace
    workspace.close()


@pytest.fixture
def admin(ws: Workspace) -> Any:
    return sign_in(create_app(ws.config, ws).test_client(), "admin@test.dev")


def tessera_log(caplog: Any) -> str:
    """What Tessera (and the libraries it calls) logged; the fake servers' own logs left out."""
    return "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("mail.log"))


def leaks(admin: Any, *paths: str) -> list[str]:
    text = "\n".join(admin.get(path).get_data(as_text=True) for path in paths)
    return [secret for secret in SECRETS if secret in text]


def test_the_smtp_password_signs_in_and_shows_nowhere_even_when_refused(ws, admin, smtp_auth, caplog):
    caplog.set_level(logging.DEBUG)
    inbox, accounts, _port = smtp_auth
    runner = InProcessRunner(ws)
    admin.post("inquiry", {"first_name": "Ann", "last_name": "Lee", "email": "ann@example.org", "source": "webform"})
    assert runner.tick().outbox["sent"] == 1
    assert (len(inbox.messages), accounts.logins) == (1, [SMTP_USER])

    accounts.password = "rotated-on-the-server"  # our password is refused now
    admin.post("inquiry", {"first_name": "Bo", "last_name": "Ng", "email": "bo@example.org", "source": "webform"})
    refused = runner.tick().outbox
    assert refused.get("failed", 0) == 1 and len(inbox.messages) == 1  # 535: not retried
    [kept] = [m for m in admin.get("email_message").get_json()["data"] if m["to_address"] == "bo@example.org"]
    assert leaks(admin, "email_message", f"email_message/{kept['id']}") == []
    assert SMTP_PASSWORD not in tessera_log(caplog)


def test_imap_passwords_and_oauth_tokens_show_in_no_log_and_no_answer(ws, admin, caplog):
    caplog.set_level(logging.DEBUG)
    store = Mailstore(users={USER: PASSWORD}, tokens={(USER, "at-1")})
    store.add(mail("Bob <bob@example.org>", "Quote", "Hi.", "<o1@example.org>"))
    endpoint = TokenEndpoint(refresh_token="rt-1", access_token="at-1", rotated="rt-2")
    try:
        with FakeImap(store) as imap:
            by_password = add_mailbox(admin, imap)
            assert poll(ws, by_password["id"])["created"] == 1
            refused = add_mailbox(admin, imap, name="refused", password="wrong-Pass-9")
            with pytest.raises(MailboxError) as raised:
                poll(ws, refused["id"])
            by_token = add_mailbox(
                admin,
                imap,
                name="oauth",
                password=None,
                auth="xoauth2",
                oauth_provider="custom",
                oauth_token_url=endpoint.url,
                oauth_client_id="client-1",
                oauth_client_secret="client-Secret-1",
                oauth_refresh_token="rt-1",
            )
            poll(ws, by_token["id"])
        assert store.logins == [f"password:{USER}", f"xoauth2:{USER}"]
    finally:
        endpoint.close()
    assert not any(secret in str(raised.value) for secret in SECRETS)
    assert "Invalid credentials" in admin.get(f"mailbox/{refused['id']}").get_json()["last_error"]
    paths = ["mailbox", *(f"mailbox/{m['id']}" for m in (by_password, refused, by_token)), "email_message"]
    assert leaks(admin, *paths) == []
    assert [s for s in SECRETS if s in tessera_log(caplog)] == []
