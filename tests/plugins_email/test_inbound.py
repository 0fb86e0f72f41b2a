"""Inbound e-mail: ``mailbox`` records polled over IMAP (a fake IMAP4rev1 server run by the
test) create records or join their thread, with attachments in the file store."""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest

from engine.automation.jobs import InProcessRunner
from plugins.email.imap_poll import MailboxError, poll
from tests.plugins_email.fake_imap import FakeImap, Mailstore

USER, PASSWORD = "sales@example.com", "imap-Pass-1"


def mail(
    sender: str, subject: str, text: str, message_id: str, reply_to: str | None = None, attachment: bytes | None = None
) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"], msg["Message-ID"] = sender, USER, subject, message_id
    if reply_to:
        msg["In-Reply-To"], msg["References"] = reply_to, reply_to
    msg.set_content(text)
    if attachment is not None:
        msg.add_attachment(attachment, maintype="application", subtype="pdf", filename="../specs.pdf")
    return msg.as_bytes()


@pytest.fixture
def store() -> Iterator[Mailstore]:
    yield Mailstore(users={USER: PASSWORD})


@pytest.fixture
def imap(store: Mailstore) -> Iterator[FakeImap]:
    with FakeImap(store) as server:
        yield server


def add_mailbox(admin: Any, imap: FakeImap, **changes: Any) -> dict[str, Any]:
    body = {
        "name": "sales",
        "host": "127.0.0.1",
        "port": imap.port,
        "ssl": False,
        "username": USER,
        "password": PASSWORD,
        "creates": "inquiry",
        "mapping": {"email": "from.address", "last_name": "from.name", "description": "text"},
        "values": {"source": "email"},
        **changes,
    }
    response = admin.post("mailbox", body)
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())


def rows(admin: Any, entity: str) -> list[dict[str, Any]]:
    return list(admin.get(f"{entity}?sort=created_at").get_json()["data"])


def test_the_schedule_polls_a_mailbox_a_new_message_creates_a_record_with_its_attachment(
    mail_ws: Any, mail_admin: Any, store: Mailstore, imap: FakeImap
) -> None:
    mailbox = add_mailbox(mail_admin, imap)
    store.add(
        mail(
            "Bob Builder <Bob@Example.org>",
            "Need a quote",
            "Ten cranes, please.",
            "<m1@example.org>",
            attachment=b"%PDF-1.4 specs",
        )
    )
    result = InProcessRunner(mail_ws).tick()  # poll_mailboxes queues the job, the pass runs it
    assert result.scheduled == 1 and result.outbox["sent"] == 1
    [inquiry] = rows(mail_admin, "inquiry")
    assert (inquiry["email"], inquiry["last_name"], inquiry["source"]) == ("bob@example.org", "Bob Builder", "email")
    assert inquiry["description"].strip() == "Ten cranes, please."
    [message] = rows(mail_admin, "email_message")
    assert (message["direction"], message["subject"], message["message_id"]) == (
        "inbound",
        "Need a quote",
        "<m1@example.org>",
    )
    assert (message["related_entity"], message["related_id"], message["mailbox"]) == (
        "inquiry",
        inquiry["id"],
        mailbox["id"],
    )
    [attachment] = rows(mail_admin, "email_attachment")
    assert (attachment["message"], attachment["name"]) == (message["id"], "specs.pdf")  # no folders in names
    download = mail_admin.get(f"email_attachment/{attachment['id']}/files/file")
    assert (download.status_code, download.data) == (200, b"%PDF-1.4 specs")
    assert mail_admin.get(f"mailbox/{mailbox['id']}").get_json()["last_uid"] == 1
    assert store.logins == [f"password:{USER}"]


def test_replies_join_the_thread_by_in_reply_to_or_subject_reference_and_a_replay_creates_nothing(
    mail_ws: Any, mail_admin: Any, store: Mailstore, imap: FakeImap
) -> None:
    mailbox = add_mailbox(mail_admin, imap)
    store.add(mail("Bob <bob@example.org>", "Need a quote", "Ten cranes.", "<m1@example.org>"))
    assert poll(mail_ws, mailbox["id"])["created"] == 1
    [first] = rows(mail_admin, "email_message")
    store.add(
        mail("Bob <bob@example.org>", "Re: Need a quote", "Make it twelve.", "<m2@example.org>", "<m1@example.org>")
    )
    store.add(
        mail("Eve <eve@example.org>", f"Fwd: cranes [ref:{first['thread_ref']}]", "For Bob's order.", "<m3@x.org>")
    )
    store.add(mail("Cy <cy@example.org>", "Hello", "Another matter.", "<m4@example.org>"))
    counts = poll(mail_ws, mailbox["id"])
    assert (counts["appended"], counts["created"]) == (2, 1)
    inquiries = rows(mail_admin, "inquiry")
    assert [i["email"] for i in inquiries] == ["bob@example.org", "cy@example.org"]
    timeline = mail_admin.get(f"inquiry/{inquiries[0]['id']}/timeline").get_json()["data"]
    assert sorted(entry["record"]["message_id"] for entry in timeline) == [
        "<m1@example.org>",
        "<m2@example.org>",
        "<m3@x.org>",
    ]
    assert {entry["record"]["thread_ref"] for entry in timeline} == {first["thread_ref"]}

    mail_admin.patch(f"mailbox/{mailbox['id']}", {"last_uid": 0})  # read everything again
    assert poll(mail_ws, mailbox["id"])["duplicate"] == 4
    assert len(rows(mail_admin, "inquiry")) == 2 and len(rows(mail_admin, "email_message")) == 4


def test_a_mailbox_creates_records_of_any_entity_and_a_bad_message_is_skipped_whole_with_its_reason(
    mail_ws: Any, mail_admin: Any, store: Mailstore, imap: FakeImap
) -> None:
    mailbox = add_mailbox(
        mail_admin,
        imap,
        name="support",
        creates="case",
        mapping={"subject": "subject", "requester": "from.address", "description": "text"},
        values={"channel": "email"},
    )
    store.add(mail("Ann <ann@example.org>", "", "No subject at all.", "<bad@example.org>", attachment=b"x"))
    store.add(mail("Ann <ann@example.org>", "Printer on fire", "Help.", "<ok@example.org>"))
    counts = poll(mail_ws, mailbox["id"])
    assert (counts["failed"], counts["created"]) == (1, 1)
    [case] = rows(mail_admin, "case")
    assert (case["subject"], case["requester"], case["channel"]) == ("Printer on fire", "ann@example.org", "email")
    assert [m["message_id"] for m in rows(mail_admin, "email_message")] == ["<ok@example.org>"]
    assert rows(mail_admin, "email_attachment") == []  # nothing of the bad message was written
    state = mail_admin.get(f"mailbox/{mailbox['id']}").get_json()
    assert state["last_uid"] == 2 and "message 1" in state["last_error"] and "subject" in state["last_error"]


def test_a_refused_sign_in_is_recorded_and_raised_for_a_retry_without_the_password(
    mail_ws: Any, mail_admin: Any, store: Mailstore, imap: FakeImap
) -> None:
    mailbox = add_mailbox(mail_admin, imap, password="wrong-Pass-9")
    with pytest.raises(MailboxError) as raised:
        poll(mail_ws, mailbox["id"])
    assert "Invalid credentials" in str(raised.value) and "wrong-Pass-9" not in str(raised.value)
    state = mail_admin.get(f"mailbox/{mailbox['id']}")
    assert "Invalid credentials" in state.get_json()["last_error"]
    assert b"wrong-Pass-9" not in state.data  # secrets never leave the server


def test_an_answer_to_an_e_mail_the_crm_sent_joins_the_record_it_was_sent_for(
    mail_ws: Any, mail_admin: Any, smtp: Any, store: Mailstore, imap: FakeImap
) -> None:
    mailbox = add_mailbox(mail_admin, imap)
    inquiry = mail_admin.post(
        "inquiry", {"first_name": "Ann", "last_name": "Lee", "email": "ann@example.org", "source": "webform"}
    ).get_json()
    InProcessRunner(mail_ws).tick()  # the welcome e-mail goes out (and the first poll finds nothing)
    [sent] = smtp[0].messages
    store.add(
        mail(
            "Ann Lee <ann@example.org>", f"Re: {sent['Subject']}", "Yes please.", "<a1@example.org>", sent["Message-ID"]
        )
    )
    assert poll(mail_ws, mailbox["id"])["appended"] == 1
    assert [i["id"] for i in rows(mail_admin, "inquiry")] == [inquiry["id"]]
    timeline = mail_admin.get(f"inquiry/{inquiry['id']}/timeline").get_json()["data"]
    assert sorted(e["record"]["direction"] for e in timeline) == ["inbound", "outbound"]
