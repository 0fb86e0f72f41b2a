"""OAuth2 (XOAUTH2) sign-in to IMAP mailboxes: the refresh token traded for an access token
at a (fake) token endpoint, the SASL string sent to the (fake) IMAP server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from plugins.email import oauth
from plugins.email.imap_poll import MailboxError, poll
from plugins.email.settings import find_one
from tests.plugins_email.conftest import TokenEndpoint
from tests.plugins_email.fake_imap import FakeImap, Mailstore
from tests.plugins_email.test_inbound import USER, add_mailbox, mail, rows


@pytest.fixture
def endpoint() -> Iterator[TokenEndpoint]:
    server = TokenEndpoint(refresh_token="rt-1", access_token="at-1", rotated="rt-2")
    yield server
    server.close()


def test_xoauth2_refreshes_the_token_signs_in_and_keeps_a_rotated_refresh_token(
    mail_ws: Any, mail_admin: Any, endpoint: TokenEndpoint
) -> None:
    store = Mailstore(tokens={(USER, "at-1")})
    store.add(mail("Bob <bob@example.org>", "Quote", "Hi.", "<o1@example.org>"))
    with FakeImap(store) as imap:
        mailbox = add_mailbox(
            mail_admin,
            imap,
            password=None,
            auth="xoauth2",
            oauth_provider="custom",
            oauth_token_url=endpoint.url,
            oauth_client_id="client-1",
            oauth_client_secret="client-Secret-1",
            oauth_refresh_token="rt-1",
        )
        assert poll(mail_ws, mailbox["id"])["created"] == 1
    assert store.logins == [f"xoauth2:{USER}"]
    [form] = endpoint.requests
    assert form == {
        "grant_type": "refresh_token",
        "refresh_token": "rt-1",
        "client_id": "client-1",
        "client_secret": "client-Secret-1",
    }
    kept = find_one(mail_ws, "mailbox", id=mailbox["id"]) or {}
    assert kept["oauth_refresh_token"] == "rt-2"
    shown = mail_admin.get(f"mailbox/{mailbox['id']}").data
    assert b"rt-2" not in shown and b"client-Secret-1" not in shown
    assert len(rows(mail_admin, "inquiry")) == 1


def test_a_revoked_refresh_token_is_reported_on_the_mailbox(
    mail_ws: Any, mail_admin: Any, endpoint: TokenEndpoint
) -> None:
    with FakeImap(Mailstore()) as imap:
        mailbox = add_mailbox(
            mail_admin,
            imap,
            auth="xoauth2",
            oauth_token_url=endpoint.url,
            oauth_client_id="c",
            oauth_refresh_token="old",
        )
        with pytest.raises(MailboxError, match="revoked"):
            poll(mail_ws, mailbox["id"])
    assert "400" in mail_admin.get(f"mailbox/{mailbox['id']}").get_json()["last_error"]


def test_gmail_and_microsoft_have_their_token_endpoints_and_the_sasl_string_is_xoauth2() -> None:
    assert oauth.token_url({"oauth_provider": "google"}) == "https://oauth2.googleapis.com/token"
    assert oauth.token_url({"oauth_provider": "microsoft"}).startswith("https://login.microsoftonline.com/")
    assert oauth.xoauth2_string("a@example.com", "tok") == b"user=a@example.com\x01auth=Bearer tok\x01\x01"
