"""Outbound e-mail through the plugin's channel: sent to a local SMTP server (aiosmtpd),
kept as an ``email_message``, with open, click and unsubscribe tracking."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from engine.automation.jobs import InProcessRunner
from plugins.email import tokens
from plugins.email.outbound import send_tracked_email

LINK = re.compile(r'href="(http://crm\.test/public/plugins/email/click/[^"]+)"')


def _local(url: str) -> str:
    return urlsplit(url).path


def _send_welcome(ws: Any, admin: Any, inbox: Any) -> tuple[dict[str, Any], Any]:
    inquiry = admin.post(
        "inquiry", {"first_name": "Ann", "last_name": "Lee", "email": "ann@example.org", "source": "webform"}
    ).get_json()
    assert InProcessRunner(ws).tick().outbox["sent"] == 1
    [message] = inbox.messages
    return inquiry, message


def test_a_rule_e_mail_is_sent_over_smtp_with_tracked_links_a_pixel_and_an_unsubscribe_link(
    mail_ws: Any, mail_admin: Any, smtp: Any
) -> None:
    inquiry, message = _send_welcome(mail_ws, mail_admin, smtp[0])
    assert message["Subject"] == "Welcome, Ann"
    assert message["To"] == "ann@example.org"
    html = message.get_body(("html",)).get_content()
    links = LINK.findall(html)
    assert len(links) == 2  # both web links, each through the redirect
    assert "https://example.com/" not in html
    assert 'href="mailto:sales@example.com"' in html  # not a web link: left alone
    assert "/public/plugins/email/open/" in html
    unsubscribe = message["List-Unsubscribe"].strip("<>")
    assert unsubscribe.startswith("http://crm.test/public/plugins/email/unsubscribe/")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert f"Unsubscribe: {unsubscribe}" in message.get_body(("plain",)).get_content()

    [kept] = mail_admin.get("email_message").get_json()["data"]
    assert (kept["direction"], kept["to_address"], kept["subject"]) == ("outbound", "ann@example.org", "Welcome, Ann")
    assert (kept["related_entity"], kept["related_id"]) == ("inquiry", inquiry["id"])
    assert kept["links"] == ["https://example.com/offer?a=1&b=2", "https://example.com/docs"]
    timeline = mail_admin.get(f"inquiry/{inquiry['id']}/timeline").get_json()["data"]
    assert [(entry["entity"], entry["record"]["id"]) for entry in timeline] == [("email_message", kept["id"])]


def test_opens_and_clicks_are_recorded_and_a_click_redirects_only_to_a_link_of_the_message(
    mail_ws: Any, mail_admin: Any, mail_client: Any, smtp: Any
) -> None:
    _, message = _send_welcome(mail_ws, mail_admin, smtp[0])
    html = message.get_body(("html",)).get_content()
    first, second = LINK.findall(html)
    answer = mail_client.get(_local(first.replace("&amp;", "&")))
    assert answer.status_code == 302
    assert answer.headers["Location"] == "https://example.com/offer?a=1&b=2"
    assert mail_client.get(_local(second)).headers["Location"] == "https://example.com/docs"

    pixel = re.search(r'src="(http://crm\.test/public/plugins/email/open/[^"]+)"', html)
    assert pixel is not None
    opened = mail_client.get(_local(pixel.group(1)))
    assert (opened.status_code, opened.mimetype) == (200, "image/gif")

    [kept] = mail_admin.get("email_message").get_json()["data"]
    assert (kept["clicks"], kept["opens"]) == (2, 1)
    assert kept["clicked_at"] and kept["opened_at"]
    events = mail_admin.get("email_event?sort=created_at").get_json()["data"]
    assert [(e["kind"], e.get("url")) for e in events] == [
        ("click", "https://example.com/offer?a=1&b=2"),
        ("click", "https://example.com/docs"),
        ("open", None),
    ]
    # a forged signature, another message's signature or an index past the links: 404
    parts = _local(first).split("/")
    forged = "/".join([*parts[:-1], "A" * len(parts[-1])])
    assert mail_client.get(forged).status_code == 404
    past_end = _local(tokens.click_url(mail_ws, "http://crm.test", kept["id"], 7))
    assert mail_client.get(past_end).status_code == 404
    assert len(mail_admin.get("email_event").get_json()["data"]) == 3
    # the address comes from the message, never from the request
    tampered = mail_client.get(_local(first) + "?url=https://evil.example&next=https://evil.example")
    assert tampered.headers["Location"] == "https://example.com/offer?a=1&b=2"


def test_unsubscribing_sets_the_consent_field_to_no_records_an_event_and_rules_react(
    mail_ws: Any, mail_admin: Any, mail_client: Any, smtp: Any
) -> None:
    inquiry, message = _send_welcome(mail_ws, mail_admin, smtp[0])
    path = _local(message["List-Unsubscribe"].strip("<>"))
    page = mail_client.get(path)
    assert page.status_code == 200 and b'<form method="post">' in page.data
    assert mail_admin.get(f"inquiry/{inquiry['id']}").get_json()["consent_marketing"] is True  # a GET changes nothing

    done = mail_client.post(path)
    assert done.status_code == 200 and b"unsubscribed" in done.data
    assert mail_admin.get(f"inquiry/{inquiry['id']}").get_json()["consent_marketing"] is False
    assert mail_client.post(path).status_code == 200  # again: still fine, no second event
    [event] = mail_admin.get("email_event").get_json()["data"]
    assert (event["kind"], event["related_entity"], event["related_id"]) == ("unsubscribe", "inquiry", inquiry["id"])
    reactions = mail_admin.get("admin/jobs?channel=job").get_json()["data"]
    assert [r["payload"] for r in reactions] == [{"job": "log", "args": {"unsubscribed": "ann@example.org"}}]
    history = mail_admin.get(f"inquiry/{inquiry['id']}/history").get_json()["data"]
    assert history[0]["changes"] == {"consent_marketing": [True, False]}


def test_a_message_requiring_consent_is_not_sent_to_someone_who_unsubscribed(
    mail_ws: Any, mail_admin: Any, smtp: Any
) -> None:
    inquiry = mail_admin.post("inquiry", {"last_name": "Ott", "email": "ott@example.org", "consent_marketing": False})
    row = {
        "id": "00000000-0000-0000-0000-00000000000a",
        "payload": {
            "to": "ott@example.org",
            "subject": "News",
            "body": "Hi",
            "entity": "inquiry",
            "record_id": inquiry.get_json()["id"],
            "consent_required": True,
        },
    }
    result = send_tracked_email(mail_ws, row)
    assert (result.ok, result.retry) == (False, False)
    assert "unsubscribed" in str(result.error)
    assert smtp[0].messages == []


def test_a_retried_row_reuses_its_message_record_and_smtp_refusals_are_reported(
    mail_ws: Any, mail_admin: Any, smtp: Any
) -> None:
    row = {
        "id": "00000000-0000-0000-0000-00000000000b",
        "payload": {"to": "x@example.org", "subject": "S", "body": "B"},
    }
    assert send_tracked_email(mail_ws, row).ok
    assert send_tracked_email(mail_ws, row).ok
    assert len(smtp[0].messages) == 2
    assert len(mail_admin.get("email_message").get_json()["data"]) == 1
    assert send_tracked_email(mail_ws, {"id": row["id"], "payload": {"subject": "S"}}).error == (
        "the e-mail has no recipient"
    )
